"""Ship tasks' code with an experiment: run each executor's packager once, store by digest, record CodeRefs.

``package_tasks`` is the SDK's half of code packaging (called by ``ExperimentDefinition.build``): a
packager shared by several tasks runs once, two packagers that yield the same bytes give one set of
ConfigMaps (names derive from the sha256, see ``configmaps``), and each task records the ``CodeRef``.
The operator never sees the bytes in the Experiment: the Kubernetes backend mounts the chunk
ConfigMaps into the task's pod and the runner reassembles, verifies and unpacks them
(``runner_code``); bridges read the same ConfigMaps and copy the archive over their own transport.

The chunks are created before the Experiment (so no reader finds a CodeRef without its bytes); a
409 on one means the same content is already stored, and every Experiment that uses a chunk is
added to its ``ownerReferences``, so Kubernetes' garbage collector keeps it until the last such
Experiment is deleted (reproductions included).

A package over ``CONFIGMAP_CODE_LIMIT`` is recorded with ``storage.url`` (the operator's store) and
its bytes are staged in this process (``staged``) until ``manage/submit.create`` uploads them through
the record server, before the Experiment exists.
"""

from __future__ import annotations

from typing import Any

from kuberun.packaging.archive import CodePackage
from kuberun.packaging.configmaps import to_config_maps
from kuberun.resource.code import CONFIGMAP_CODE_LIMIT, LABEL_CODE_DIGEST, CodeRef, CodeStorage, store_url

# Packages over the ConfigMap limit built in this process, by sha256, until they are uploaded. Bounded by
# what one process builds (each at most MAX_PACKAGE_BYTES); ``manage/submit`` takes them out once stored.
staged: dict[str, bytes] = {}


def package_tasks(tasks: dict[str, Any], namespace: str | None = None) -> tuple[dict[str, CodeRef], list[dict[str, Any]]]:
    """Each packaged task's CodeRef (by task name) and the ConfigMaps to create, once per digest.

    ``tasks``: name -> ExperimentTask. A task whose executor has no packager (or the passthrough
    ``Packager()``) keeps the CodeRef it already has (a reproduction carries the original's over).
    """
    refs: dict[str, CodeRef] = {}
    maps: dict[str, dict[str, Any]] = {}
    by_packager: dict[int, CodeRef | None] = {}
    for name, task in tasks.items():
        packager = getattr(task.executor, "packager", None)
        if packager is None:
            if getattr(task, "code", None) is not None:
                refs[name] = task.code
            continue
        key = id(packager)
        if key not in by_packager:
            package = packager.package()
            if package is None:
                by_packager[key] = None
            elif package.size > CONFIGMAP_CODE_LIMIT:
                by_packager[key] = _staged(package)
            else:
                chunk_maps, ref = to_config_maps(package, namespace=namespace)
                for cm in chunk_maps:
                    maps.setdefault(cm["metadata"]["name"], cm)
                by_packager[key] = ref
        if by_packager[key] is not None:
            refs[name] = by_packager[key]
    return refs, list(maps.values())


def _staged(package: CodePackage) -> CodeRef:
    """The CodeRef of a package the record server will store; its bytes wait in ``staged``."""
    staged[package.sha256] = package.data
    return package.to_code_ref(CodeStorage(url=store_url(package.sha256)))


def stored_packages(tasks: list[Any]) -> list[CodeRef]:
    """The code packages of the spec's tasks kept in the operator's store (over the ConfigMap limit), each once."""
    found: dict[str, CodeRef] = {}
    for task in tasks:
        code = getattr(task, "code", None)
        if code is not None and code.storage.url is not None:
            found.setdefault(code.sha256, code)
    return list(found.values())


def is_code_config_map(obj: dict[str, Any]) -> bool:
    """A ConfigMap holding a chunk of a code package (shared by digest), not one experiment's config."""
    return LABEL_CODE_DIGEST in ((obj.get("metadata") or {}).get("labels") or {})


def code_config_maps(tasks: list[Any]) -> list[str]:
    """The names of every code chunk the spec's tasks refer to, in order, each once."""
    names: list[str] = []
    for task in tasks:
        code = getattr(task, "code", None)
        for name in (code.storage.config_maps or []) if code is not None else []:
            if name not in names:
                names.append(name)
    return names
