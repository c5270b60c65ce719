"""Turn a pod's container spec into a local process launch: argv, environment, materialized volumes.

There is no container here, so volume ``mountPath``s cannot exist as such: each one is materialized
under ``<pod dir>/mounts/<mountPath>`` and every occurrence of the mount path in argv and env values
is rewritten to that directory, so ``--config /etc/kuberun/task/x.json`` finds its file; so are
whole-path string values inside mounted JSON documents (``rewrite_documents``).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import pathlib
import re
import sys
from typing import Any

from . import projected
from .rest import Rest, path

DOCUMENT_MAX = 1024 * 1024  # bytes: larger mounted files are data, not documents naming paths
_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_FIELD_KEY = re.compile(r"^metadata\.(annotations|labels)\[['\"](.+)['\"]\]$")


class SpecError(Exception):
    """The pod cannot be started (missing command, missing ConfigMap key, ...): the pod fails."""


class MissingSource(SpecError):
    """A ConfigMap or Secret the pod needs is not there (yet). The kubelet waits and tries again, as
    Kubernetes does: a container's env source gives ``CreateContainerConfigError``, a volume's
    ``ContainerCreating`` (``volume`` says which)."""

    def __init__(self, message: str, volume: bool = False) -> None:
        super().__init__(message)
        self.volume = volume


class InvalidImage(SpecError):
    """The container's image is not a valid reference: ``InvalidImageName`` (it waits for ever)."""


# The image reference grammar of distribution/reference: [domain[:port]/]path[:tag][@digest].
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
_IMAGE = re.compile(_DOMAIN + _PATH + r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*"
                    r":[0-9a-fA-F]{32,})?")


def check_image(image: str | None) -> None:
    """Raise ``InvalidImage`` for an image reference a container runtime would refuse to parse."""
    if image and not _IMAGE.fullmatch(image):
        raise InvalidImage(f'Failed to apply default image tag "{image}": couldn\'t parse image name "{image}": '
                           "invalid reference format")


@dataclasses.dataclass
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: pathlib.Path


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: known variables are replaced, ``$$`` is a literal ``$``,
    unknown references are left as written (as the kubelet does)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR_REF.sub(sub, value)


def field_value(pod: dict[str, Any], field_path: str) -> str:
    meta = pod.get("metadata") or {}
    simple = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
              "metadata.uid": meta.get("uid"), "spec.nodeName": (pod.get("spec") or {}).get("nodeName"),
              "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName"),
              "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1"}
    if field_path in simple:
        return simple[field_path] or ""
    m = _FIELD_KEY.match(field_path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    raise SpecError(f"unsupported fieldRef {field_path!r}")


async def _source_data(rest: Rest, namespace: str, kind: str, name: str, optional: bool,
                       binary: bool = False) -> dict[str, Any]:
    """The decoded data of a ConfigMap or Secret; {} when it is missing and optional.

    ``binary``: a ConfigMap's ``binaryData`` values stay bytes (a volume file gets them exactly, as a
    kubelet writes them: kuberun's code packages are tar.gz chunks); otherwise they are text."""
    plural = "configmaps" if kind == "configMap" else "secrets"
    obj = await rest.get_or_none(path("", "v1", plural, namespace, name))
    if obj is None:
        if optional:
            return {}
        raise MissingSource(f'{plural[:-1]} "{name}" not found')
    data: dict[str, str] = dict(obj.get("data") or {})
    if plural == "secrets":
        data = {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
        data.update(obj.get("stringData") or {})
    else:
        raw = {k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()}
        data.update(raw if binary else {k: v.decode(errors="replace") for k, v in raw.items()})
    return data


async def _key_ref(rest: Rest, namespace: str, kind: str, ref: dict[str, Any]) -> str | None:
    data = await _source_data(rest, namespace, kind, ref["name"], bool(ref.get("optional")))
    if ref["key"] not in data and not ref.get("optional"):
        raise SpecError(f"key {ref['key']!r} not found in {kind} {ref['name']}")
    return data.get(ref["key"])


async def container_env(rest: Rest, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
    """``envFrom`` first, then ``env`` in order (later wins; values expand earlier variables)."""
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        kind = "configMap" if "configMapRef" in source else "secret"
        ref = source.get("configMapRef") or source.get("secretRef") or {}
        data = await _source_data(rest, namespace, kind, ref["name"], bool(ref.get("optional")))
        env.update({source.get("prefix", "") + k: v for k, v in data.items()})
    for var in container.get("env") or []:
        value_from = var.get("valueFrom")
        if value_from is None:
            env[var["name"]] = expand(var.get("value", ""), env)
        elif "fieldRef" in value_from:
            env[var["name"]] = field_value(pod, value_from["fieldRef"]["fieldPath"])
        elif "configMapKeyRef" in value_from or "secretKeyRef" in value_from:
            kind = "configMap" if "configMapKeyRef" in value_from else "secret"
            value = await _key_ref(rest, namespace, kind, value_from[f"{kind}KeyRef"])
            if value is not None:
                env[var["name"]] = value
        else:
            raise SpecError(f"unsupported valueFrom for {var['name']}: {sorted(value_from)}")
    return env


async def materialize_volumes(rest: Rest, pod: dict[str, Any], container: dict[str, Any],
                              pod_dir: pathlib.Path) -> dict[str, pathlib.Path]:
    """Write ConfigMap/Secret volumes, create emptyDirs; return {mountPath: local path}."""
    volumes = {v["name"]: v for v in (pod.get("spec") or {}).get("volumes") or []}
    mounts: dict[str, pathlib.Path] = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"])
        if volume is None:
            raise SpecError(f"volumeMount {mount['name']!r} names no volume")
        source_dir = pod_dir / "volumes" / mount["name"]
        await _fill_volume(rest, pod, volume, source_dir)
        local = source_dir / mount["subPath"] if mount.get("subPath") else source_dir
        mount_path = mount["mountPath"].rstrip("/") or "/"
        target = pod_dir / "mounts" / mount_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(local)
        mounts[mount_path] = target
    return mounts


async def _fill_volume(rest: Rest, pod: dict[str, Any], volume: dict[str, Any], directory: pathlib.Path) -> None:
    if directory.exists():
        return  # mounted twice (two subPaths): already written
    directory.mkdir(parents=True)
    namespace = pod["metadata"]["namespace"]
    if "projected" in volume:
        try:
            await projected.fill_projected(rest, pod, volume, directory, _source_data, field_value)
        except projected.ProjectionError as e:
            raise SpecError(str(e)) from None
        return
    if "downwardAPI" in volume:
        projected.fill_downward(pod, volume["downwardAPI"].get("items") or [], directory, field_value)
        return
    for kind in ("configMap", "secret"):
        if kind in volume:
            source = volume[kind]
            name = source.get("name") or source.get("secretName")
            try:
                data = await _source_data(rest, namespace, kind, name, bool(source.get("optional")), binary=True)
            except MissingSource as e:
                raise MissingSource(f'MountVolume.SetUp failed for volume "{volume["name"]}": {e}', volume=True) from None
            items = source.get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                if item["key"] not in data:
                    raise SpecError(f"key {item['key']!r} not found in {kind} {name}")
                file = directory / item["path"]
                file.parent.mkdir(parents=True, exist_ok=True)
                value = data[item["key"]]
                file.write_bytes(value) if isinstance(value, bytes) else file.write_text(value)
            return
    if "emptyDir" not in volume:
        raise SpecError(f"volume {volume['name']!r}: only configMap, secret, projected, downwardAPI and emptyDir "
                        "run in the sandbox")


def rewrite_paths(value: str, mounts: dict[str, pathlib.Path]) -> str:
    """Replace mount-path prefixes wherever they start a path in ``value`` (``/a/b``, ``--x=/a/b``)."""
    for mount_path in sorted(mounts, key=len, reverse=True):
        if mount_path == "/":
            continue
        pattern = re.compile(r"(?<![\w./-])" + re.escape(mount_path) + r"(?=/|$|[^\w.-])")
        value = pattern.sub(lambda _m, p=mount_path: str(mounts[p]), value)
    return value


def _rewrite_json(value: Any, mounts: dict[str, pathlib.Path]) -> Any:
    """Rewrite string values that are paths under a mount (the whole value, never inside text)."""
    if isinstance(value, dict):
        return {k: _rewrite_json(v, mounts) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite_json(v, mounts) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        for mount_path in sorted(mounts, key=len, reverse=True):
            if mount_path != "/" and (value == mount_path or value.startswith(mount_path + "/")):
                return str(mounts[mount_path]) + value[len(mount_path):]
    return value


def rewrite_documents(volumes_dir: pathlib.Path, mounts: dict[str, pathlib.Path]) -> None:
    """Map mount paths named inside mounted JSON documents, as argv and env are mapped.

    A document in one volume may name a file in another by its mount path: kuberun's task document
    lists a spilled config's chunks as ``/etc/kuberun/config/<i>/config``. Only JSON files are read,
    and only string values that are whole paths under a mount change; other files are left as written.
    """
    if not volumes_dir.is_dir():
        return
    for file in sorted(volumes_dir.rglob("*")):
        if not file.is_file() or file.is_symlink() or file.stat().st_size > DOCUMENT_MAX:
            continue
        text = file.read_text(errors="replace")
        if not text.lstrip().startswith(("{", "[")):
            continue
        try:
            document = json.loads(text)
        except ValueError:
            continue  # not JSON after all (a chunk of a larger config, say)
        rewritten = _rewrite_json(document, mounts)
        if rewritten != document:
            file.write_text(json.dumps(rewritten))


def build_argv(container: dict[str, Any], env: dict[str, str], mounts: dict[str, pathlib.Path]) -> list[str]:
    if not container.get("command"):
        raise SpecError(f"container {container.get('name')!r} has no command: the sandbox cannot run an "
                        "image's entrypoint")
    # Rewrite before expanding: env values are already rewritten, so they are not rewritten twice.
    raw = (container.get("command") or []) + (container.get("args") or [])
    argv = [expand(rewrite_paths(a, mounts), env) for a in raw]
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable  # the image's interpreter is not here; the current one has kuberun
    return argv


async def prepare(rest: Rest, pod: dict[str, Any], pod_dir: pathlib.Path) -> Launch:
    """Everything needed to start the pod's (single) container as a local process."""
    containers = (pod.get("spec") or {}).get("containers") or []
    if len(containers) != 1:
        raise SpecError(f"the sandbox runs pods with exactly one container, not {len(containers)}")
    container = containers[0]
    check_image(container.get("image"))
    pod_dir.mkdir(parents=True, exist_ok=True)
    env = await container_env(rest, pod, container)
    mounts = await materialize_volumes(rest, pod, container, pod_dir)
    rewrite_documents(pod_dir / "volumes", mounts)
    env = {k: rewrite_paths(v, mounts) for k, v in env.items()}
    env.setdefault("HOSTNAME", pod["metadata"]["name"])
    return Launch(argv=build_argv(container, env, mounts), env=env, cwd=pod_dir)
