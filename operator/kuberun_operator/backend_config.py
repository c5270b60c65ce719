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
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


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


class SlurmConfig(_Model):
    clusters: list[SlurmCluster] = Field(default_factory=list)
    # One batched squeue per cluster per interval; failed polls back off up to 16x this.
    poll_interval_seconds: float = Field(2.0, gt=0, le=300)


class LeptonWorkspace(_Model):
    name: str
    url: str
    token_file: Path | None = None


class LeptonConfig(_Model):
    workspaces: list[LeptonWorkspace] = Field(default_factory=list)
    poll_interval_seconds: float = Field(15.0, gt=0, description="How often running Lepton jobs are looked at.")


class SkypilotConfig(_Model):
    endpoint: str
    token_file: Path | None = None
    poll_interval_seconds: float = Field(15.0, gt=0, description="How often the managed-jobs queue is looked at.")


class BackendConfig(_Model):
    slurm: SlurmConfig = Field(default_factory=SlurmConfig)
    lepton: LeptonConfig = Field(default_factory=LeptonConfig)
    skypilot: SkypilotConfig | None = None

    @classmethod
    def load(cls, path: Path | None) -> BackendConfig:
        if path is None:
            return cls()
        return cls.model_validate(yaml.safe_load(path.read_text()) or {})
