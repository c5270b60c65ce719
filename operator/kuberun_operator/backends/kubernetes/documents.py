"""Where a Kubernetes task's runner document travels: in its own Job, or in the Experiment's ConfigMap.

A ConfigMap per Experiment costs one API create per experiment (and, while an attempt waits to
start, one more "ensure" per reconcile) and one object in etcd. Most documents are small — a
script's argv, or an inline Fiddle config of a few KiB — so they are carried in the Job itself:
an annotation on the pod template, mounted at the same path by a ``downwardAPI`` volume. The
runner reads the same file either way. Documents over ``INLINE_DOCUMENT_LIMIT`` (annotations of
one object share 256 KiB) still go to the ConfigMap; the document's bytes are the same in both.
"""

from __future__ import annotations

import json
from typing import Any

from kuberun.resource.code import CHUNK_KEY
from kuberun.resource.spec import TaskSpec
from kuberun.runner import task_document

ANNOTATION_TASK_DOCUMENT = "kuberun.dev/task-document"
INLINE_DOCUMENT_LIMIT = 32 * 1024  # well inside the 256 KiB that all annotations of a pod may use
CONFIG_DIR = "/etc/kuberun/config"
CODE_DIR = "/etc/kuberun/code"


def chunk_files(task: TaskSpec) -> list[str] | None:
    """The paths where the SDK's config chunk ConfigMaps are mounted, in order (None: inline config)."""
    refs = task.fiddle.config_map_refs if task.fiddle is not None else None
    if not refs:
        return None
    return [f"{CONFIG_DIR}/{i}/config" for i in range(len(refs))]


def code_files(task: TaskSpec) -> list[str] | None:
    """The paths where the task's code package chunks are mounted, in order (None: no package)."""
    names = task.code.storage.config_maps if task.code is not None else None
    if not names:
        return None
    return [f"{CODE_DIR}/{i}/{CHUNK_KEY}" for i in range(len(names))]


def document_json(task: TaskSpec) -> str:
    """The runner document of ``task``, as the bytes the pod reads."""
    # A package not in ConfigMaps is in the operator's store: the runner downloads it (the backend refuses
    # the task when the pod gets no record server to download from).
    download = task.code is not None and task.code.storage.config_maps is None
    return json.dumps(task_document(task, data_files=chunk_files(task), code_files=code_files(task),
                                    code_download=download), sort_keys=True)


def inline_document(task: TaskSpec) -> str | None:
    """The document when it is small enough to travel in the Job; None when it needs the ConfigMap."""
    doc = document_json(task)
    return doc if len(doc.encode()) <= INLINE_DOCUMENT_LIMIT else None


def needs_config_map(task: TaskSpec) -> bool:
    return inline_document(task) is None


def inline_volume(key: str) -> dict[str, Any]:
    """A volume holding the pod's own task-document annotation as the file ``key``."""
    field = f"metadata.annotations['{ANNOTATION_TASK_DOCUMENT}']"
    return {"name": "kuberun-task", "downwardAPI": {"items": [{"path": key, "fieldRef": {"fieldPath": field}}]}}
