"""Create Experiments from YAML or a Python file (``apply``), and write one back out (``export``).

``export`` emits the ConfigMaps holding large configs and the Experiment, without status and
server-set metadata (uid, resourceVersion, namespace...), so ``apply -f`` re-creates it anywhere.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path
from typing import Any
from unittest import mock

from kuberun.api import Kube
from kuberun.errors import UsageError
from kuberun.manage.query import Obj, config_map_data
from kuberun.manage.submit import create
from kuberun.naming import slug
from kuberun.resource.constants import API_VERSION, KIND, LABEL_SUBMITTER

_SERVER_META = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
                "ownerReferences", "finalizers", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace")


def set_submitter(resource: Obj, user: str | None) -> None:
    """The submitter of a new object is whoever creates it: ``--user``, else the kube context user."""
    if not user:
        return
    resource.setdefault("spec", {})["submittedBy"] = user
    resource["metadata"].setdefault("labels", {})[LABEL_SUBMITTER] = slug(user)


def split_documents(text: str) -> list[tuple[Obj, list[Obj]]]:
    """(Experiment, its ConfigMaps) pairs from multi-document YAML; other kinds are refused."""
    import yaml

    docs = [d for d in yaml.safe_load_all(text) if d]
    maps = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ConfigMap"}
    unknown = sorted({str(d.get("kind")) for d in docs} - {"ConfigMap", KIND})
    if unknown:
        raise UsageError(f"apply takes Experiments and their ConfigMaps, not {', '.join(unknown)}")
    pairs = []
    for exp in (d for d in docs if d.get("kind") == KIND):
        refs = [r["name"] for t in (exp.get("spec") or {}).get("tasks") or [] for r in (t.get("fiddle") or {}).get("configMapRefs") or []]
        missing = [r for r in refs if r not in maps]
        if missing:
            raise UsageError(f"experiment {exp['metadata'].get('name')!r} needs ConfigMaps {', '.join(missing)}, not in the file")
        pairs.append((exp, [maps[r] for r in refs]))
    if not pairs:
        raise UsageError("no Experiment in the file")
    return pairs


def validate(resource: Obj) -> None:
    """Check against the models before sending, so mistakes read like the SDK's, not a 422."""
    from pydantic import ValidationError

    from kuberun.errors import InvalidExperimentError
    from kuberun.resource import ExperimentResource
    from kuberun.resource.errors_format import format_validation_error

    try:
        ExperimentResource.parse(resource)
    except ValidationError as exc:
        raise InvalidExperimentError(format_validation_error(exc, [])) from None


def experiments_from_python(path: Path, submitter: str | None = None) -> list[tuple[Obj, list[Obj]]]:
    """Run a Python file that builds experiments; build each ``exp.run()``'s resources instead of creating them.

    Each is built at the moment the script calls ``exp.run()``: the script is ``__main__`` only
    while it runs, and a task function defined in it must be serialized from there (afterwards
    ``__main__`` is the CLI again and the function cannot be found). A script ending in
    ``raise SystemExit(main())`` — the usual idiom — is a normal end, not an escape.
    """
    from kuberun.experiment import Experiment

    built: list[tuple[Obj, list[Obj]]] = []

    def capture(self: Experiment, **_: Any) -> None:
        self.submitted_by = submitter or self.submitted_by
        resource, maps = self.build()
        built.append((resource.to_dict(), maps))

    argv, env = sys.argv, os.environ.pop("KUBERUN_DRYRUN", None)
    sys.argv = [str(path)]
    sys.path.insert(0, str(path.resolve().parent))
    try:
        with mock.patch.object(Experiment, "run", capture):
            runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise UsageError(f"{path} exited with status {exc.code} before creating anything") from None
    finally:
        sys.argv = argv
        if env is not None:
            os.environ["KUBERUN_DRYRUN"] = env
    if not built:
        raise UsageError(f"{path} ran no experiment: call exp.run() in it")
    return built


def apply_file(kube: Kube, path: Path, *, user: str | None = None, namespace: str | None = None) -> list[Obj]:
    """Create every experiment that ``path`` (YAML or Python) defines; returns the created objects."""
    submitter = user or kube.user
    if path.suffix == ".py":
        pairs = experiments_from_python(path, submitter)
    else:
        pairs = split_documents(path.read_text())
        for resource, _ in pairs:
            set_submitter(resource, submitter)
            validate(resource)
    return [create(kube, resource, maps, namespace) for resource, maps in pairs]


def export(kube: Kube, obj: Obj) -> str:
    """Multi-document YAML (ConfigMaps, then the Experiment) that ``kuberun apply -f`` re-creates."""
    import yaml

    maps = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"config": data}}
            for name, data in config_map_data(kube, obj).items()]
    meta = {k: v for k, v in obj["metadata"].items() if k not in _SERVER_META}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith("kubectl.kubernetes.io/")}
    meta = {**meta, "annotations": annotations} if annotations else {k: v for k, v in meta.items() if k != "annotations"}
    spec = {k: v for k, v in (obj.get("spec") or {}).items() if k not in ("shutdown", "suspend", "cancelTasks")}
    exported = {"apiVersion": obj.get("apiVersion", API_VERSION), "kind": KIND, "metadata": meta, "spec": spec}
    return yaml.safe_dump_all([*maps, exported], sort_keys=False, width=120)
