"""The admin's backend configuration (``--config FILE``, rendered by the Helm chart).

Only non-secret settings and *paths* of mounted Secrets live here: SSH keys, known_hosts and API
tokens are files the operator reads at connection time, never values in a CR or a ConfigMap.

    slurm:
      clusters:
        - {name: dgx, host: login.dgx, port: 22, user: svc, workdir: /lustre/kuberun,
           partition: batch, account: research, pythonSetup: "module load python/3.11",
           sshKeyFile: /etc/kuberun/secrets/slurm/dgx/id_ed25519,
           knownHostsFile: /etc/kuberun/secrets/slurm/dgx/known_hosts}
    lepton:
      workspaces: [{name: prod, url: https://.../api/v2/workspaces/prod, tokenFile: /etc/.../token}]
    skypilot: {endpoint: http://skypilot-api:46580, tokenFile: /etc/.../token}

Tenancy (see docs/tenancy.md): every Slurm cluster, Lepton workspace and the SkyPilot endpoint
serves only the namespaces its ``allowedNamespaces`` names (exact names or shell patterns such
as ``team-*``; ``"*"`` grants every namespace explicitly) and, with ``allowedNamespaceSelector``
(a Kubernetes label selector), the namespaces whose labels match. The default is neither: a
backend nobody was granted serves nobody. What a tenant may choose there is allow-listed too
(``allowedPartitions``, ``allowedAccounts``, ``allowedQos``, ``allowSetup``; ``allowedSecrets``,
``allowedNodeGroups``; ``allowedClusters``). A Slurm cluster may map namespaces to their own
login identity (``identities``), so tenants do not share one Unix user's files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from kuberun.resource.labelselector import LabelSelector


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


_NAMESPACES = "Namespaces that may use this backend: names or shell patterns ('team-*'); '*' = all. Empty: none."
_SELECTOR = "Namespaces whose labels match this selector may use it too (the operator reads Namespace labels)."


class NamespaceSelector(LabelSelector):
    """A grant by label; an empty selector would match every namespace, so it is refused (say '*')."""

    @model_validator(mode="after")
    def _not_empty(self) -> NamespaceSelector:
        if self.empty:
            raise ValueError("an empty allowedNamespaceSelector would grant every namespace: "
                             "write allowedNamespaces: ['*'] to mean that")
        return self


class SlurmIdentity(_Model):
    """The login identity one namespace's jobs run as (its own Unix user, files and Slurm jobs)."""

    user: str
    ssh_key_file: Path
    workdir: str | None = Field(None, description="This user's own job root; default ~/.kuberun/jobs (in its home, not shared).")


class SlurmCluster(_Model):
    name: str
    transport: Literal["ssh", "local"] = "ssh"  # local: the operator runs on the login node itself
    host: str | None = None
    port: int = 22
    user: str | None = None
    ssh_key_file: Path | None = None
    known_hosts_file: Path | None = None
    workdir: str = "~/.kuberun/jobs"
    partition: str | None = None
    account: str | None = None
    python_setup: str | None = Field(None, description="Shell lines that provide `python` with kuberun on the cluster.")
    allowed_namespaces: list[str] = Field(default_factory=list, description=_NAMESPACES)
    allowed_namespace_selector: NamespaceSelector | None = Field(None, description=_SELECTOR)
    allowed_partitions: list[str] = Field(default_factory=list, description="Partitions a task may pick besides `partition`.")
    allowed_accounts: list[str] = Field(default_factory=list, description="Accounts a task may pick besides `account`.")
    allowed_qos: list[str] = Field(default_factory=list, description="QOS values a task may pick (none by default).")
    allow_setup: bool = Field(False, description="Whether a task's `setup` shell lines may run on this cluster.")
    identities: dict[str, SlurmIdentity] = Field(default_factory=dict, description="Namespace -> own SSH identity.")


class SlurmConfig(_Model):
    clusters: list[SlurmCluster] = Field(default_factory=list)
    # One batched squeue per cluster per interval; failed polls back off up to 16x this.
    poll_interval_seconds: float = Field(2.0, gt=0, le=300)


class LeptonCodeStorage(_Model):
    """Where packaged tasks' code goes in the workspace's file storage, and how a job mounts it."""

    mount_from: str = Field(..., min_length=1, description="The volume jobs mount the storage from, as Lepton names it "
                                                           "(e.g. node-nfs:<storage name>).")
    file_system: str = Field("default", min_length=1, description="The storage API's file system (leptonai StorageAPI).")
    path: str = Field("/kuberun-code", pattern=r"^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$",
                      description="The directory packages are stored under, one sub-directory per sha256.")


class LeptonWorkspace(_Model):
    name: str
    url: str
    token_file: Path | None = None
    allowed_namespaces: list[str] = Field(default_factory=list, description=_NAMESPACES)
    allowed_namespace_selector: NamespaceSelector | None = Field(None, description=_SELECTOR)
    allowed_secrets: list[str] = Field(default_factory=list, description="Workspace secrets a task may read (secretEnv).")
    allowed_node_groups: list[str] = Field(default_factory=list, description="Node groups a task may pick.")
    allowed_reservations: list[str] = Field(default_factory=list, description="Node reservations a task may use.")
    allowed_image_pull_secrets: list[str] = Field(default_factory=list,
                                                  description="Image-pull secrets a task may name.")
    code_storage: LeptonCodeStorage | None = Field(None, description="Lets packaged tasks run here (none: they fail "
                                                                     "CodeNotDelivered).")


class LeptonConfig(_Model):
    workspaces: list[LeptonWorkspace] = Field(default_factory=list)
    poll_interval_seconds: float = Field(15.0, gt=0, description="How often running Lepton jobs are looked at.")


class SkypilotConfig(_Model):
    endpoint: str
    token_file: Path | None = None
    allowed_namespaces: list[str] = Field(default_factory=list, description=_NAMESPACES)
    allowed_namespace_selector: NamespaceSelector | None = Field(None, description=_SELECTOR)
    allowed_clusters: list[str] = Field(default_factory=list, description="Clusters a task may target (mode: cluster).")
    allowed_buckets: list[str] = Field(default_factory=list,
                                       description="Bucket URLs (patterns, e.g. 's3://team-a-*') a task may mount; "
                                                   "the SkyPilot server reads them with its own credentials.")
    poll_interval_seconds: float = Field(15.0, gt=0, description="How often the managed-jobs queue is looked at.")


class BackendConfig(_Model):
    slurm: SlurmConfig = Field(default_factory=SlurmConfig)
    lepton: LeptonConfig = Field(default_factory=LeptonConfig)
    skypilot: SkypilotConfig | None = None
    namespace_label_cache_seconds: float = Field(
        5.0, ge=0, le=300, description="How long a Namespace's labels are trusted before they are read again, for "
        "backends granted by allowedNamespaceSelector: the longest a removed label still grants (0: read each time).")

    @property
    def grants_by_label(self) -> bool:
        """Whether any backend grants namespaces by label (the operator then reads Namespaces)."""
        granting = [*self.slurm.clusters, *self.lepton.workspaces, *([self.skypilot] if self.skypilot else [])]
        return any(b.allowed_namespace_selector is not None for b in granting)

    @classmethod
    def load(cls, path: Path | None) -> BackendConfig:
        if path is None:
            return cls()
        return cls.model_validate(yaml.safe_load(path.read_text()) or {})
