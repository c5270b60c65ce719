"""Names and metadata of the objects an attempt runs as: deterministic, bounded, owned by the Experiment.

Kept apart from the builders (``manifests``) because more than they need them: the backend finds and
deletes an attempt's Job and Service by these names, and the record server's pod authentication
(``server/podauth.py``) derives the Job a pod token must belong to from the same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kuberun.naming import bounded, child_name, slug
from kuberun.resource.constants import (
    API_VERSION,
    KIND,
    LABEL_ATTEMPT,
    LABEL_EXPERIMENT,
    LABEL_TASK,
    LABEL_TITLE,
)

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "kuberun"

# An Indexed Job's pods get the hostname '<job>-<index>', which must itself be a DNS label
# (<= 63). The job controller does not shorten it, so a 63-character Job name would create a
# Job whose pods can never be created. Reserve room for '-' and the widest index (nodes <= 1024,
# so index <= 1023). Every Job uses the same limit so that `job_name` needs no node count.
JOB_NAME_LIMIT = 63 - len("-1023")



@dataclass(frozen=True)
class ExperimentRef:
    """What the builders need to know about the owning Experiment."""

    name: str
    namespace: str
    uid: str
    title: str  # the free-text spec.title; becomes a label value via naming.slug


def job_name(exp: ExperimentRef, task_name: str, attempt: int) -> str:
    """'<experiment>-<task>-<attempt>', shortened with a hash past JOB_NAME_LIMIT; deterministic."""
    return child_name(exp.name, task_name, attempt, limit=JOB_NAME_LIMIT)


def service_name(job: str) -> str:
    """The headless Service of a multi-node Job: the Job's name when it is a valid Service name.

    Service names are DNS-1035 labels (must start with a letter) while Job names may start with
    a digit ('2024-sweep-...'); such names get a 'kr-' prefix rather than a rejected Service.
    """
    return job if job[:1].isalpha() else bounded(f"kr-{job}", 63)


def task_config_map_name(exp: ExperimentRef) -> str:
    return bounded(f"{exp.name}-tasks", 253)


def experiment_label(name: str) -> str:
    """The experiment label's value: the name, hashed down when over 63 (label values' limit).

    Object names may have 253 characters, label values 63; look children up with this value.
    """
    return bounded(name, 63)


def object_labels(exp: ExperimentRef, task: str | None = None, attempt: int | None = None) -> dict[str, str]:
    labels = {
        LABEL_EXPERIMENT: experiment_label(exp.name),
        LABEL_TITLE: slug(exp.title),
        LABEL_MANAGED_BY: MANAGED_BY,
    }
    if task is not None:
        labels[LABEL_TASK] = task
    if attempt is not None:
        labels[LABEL_ATTEMPT] = str(attempt)
    return labels


def owned_metadata(exp: ExperimentRef, name: str, labels: dict[str, str]) -> dict[str, Any]:
    # Owned by the Experiment so that deleting it collects every child; blockOwnerDeletion makes
    # foreground deletion of the Experiment wait for them.
    owner = {"apiVersion": API_VERSION, "kind": KIND, "name": exp.name, "uid": exp.uid,
             "controller": True, "blockOwnerDeletion": True}
    return {"name": name, "namespace": exp.namespace, "labels": labels, "ownerReferences": [owner]}
