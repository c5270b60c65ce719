"""The validation rules of built-in kinds that a schema cannot express (kube-apiserver's hand-written ones).

Only rules that kuberun's objects, kubectl's everyday commands and a newcomer's first manifests
meet are here: names, labels, annotations, Job ``restartPolicy``, container names and images,
env var names, resource quantities, config keys and base64 data. Each message is the real
server's (``pkg/apis/core/validation``, ``pkg/apis/batch/validation``), so what is refused here is
refused there with the same words. Values that cannot even be decoded (a quantity ``banana``,
bad base64) are 400 decode errors on a real server, so they are here too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from . import names
from .errors import ApiError, Cause
from .resources import ResourceType

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_QUANTITY_FMT = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_SUFFIXES = {"", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}
_PATH_SEGMENT_KINDS = {("rbac.authorization.k8s.io", k) for k in ("Role", "ClusterRole", "RoleBinding",
                                                                  "ClusterRoleBinding")}
_TOTAL_ANNOTATION_SIZE = 256 * 1024


def _quoted(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else str(value)


def invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause(path, f"Invalid value: {_quoted(value)}: {detail}")


def required(path: str, detail: str = "") -> Cause:
    return Cause(path, "Required value" + (f": {detail}" if detail else ""), "FieldValueRequired")


def not_supported(path: str, value: Any, supported: list[str]) -> Cause:
    shown = ", ".join(json.dumps(s) for s in supported)
    return Cause(path, f"Unsupported value: {_quoted(value)}: supported values: {shown}", "FieldValueNotSupported")


# --- decoding (400) ------------------------------------------------------------------------------
def decode_error(rt: ResourceType, detail: str) -> ApiError:
    return ApiError(400, "BadRequest", f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {detail}')


def quantity_error(value: Any) -> str | None:
    """Why ``value`` is not a ``resource.Quantity`` (``resource.ParseQuantity``), or None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return None
    text = str(value)
    m = _QUANTITY.match(text)
    if not m:
        return f"quantities must match the regular expression '{_QUANTITY_FMT}'"
    number, suffix = m.groups()
    if number.count(".") > 1 or number.strip("+-") in ("", "."):
        return "unable to parse quantity's numeric part"
    if suffix not in _SUFFIXES and not re.fullmatch(r"[eE][-+]?[0-9]+", suffix):
        return "unable to parse quantity's suffix"
    return None


def base64_error(value: Any) -> str | None:
    """Go's ``base64.StdEncoding`` error for a ``[]byte`` field, or None."""
    if not isinstance(value, str):
        return None
    try:
        base64.b64decode(value, validate=True)
        return None
    except (binascii.Error, ValueError):
        alphabet = re.compile(r"[A-Za-z0-9+/=]")
        bad = next((i for i, ch in enumerate(value) if not alphabet.match(ch)), len(value) - len(value) % 4)
        return f"illegal base64 data at input byte {bad}"


def check_decodable(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Raise the 400 a real server's decoder raises for undecodable quantities and bytes."""
    kind = (rt.group, rt.kind)
    if kind in (("", "Secret"), ("", "ConfigMap")):
        field = "data" if rt.kind == "Secret" else "binaryData"
        for value in (obj.get(field) or {}).values():
            if (why := base64_error(value)) is not None:
                raise decode_error(rt, why)
    for spec in _pod_specs(rt, obj):
        for _, container in _containers(spec, ""):
            resources = container.get("resources") or {}
            for section in ("limits", "requests"):
                for value in (resources.get(section) or {}).values():
                    if (why := quantity_error(value)) is not None:
                        raise decode_error(rt, why)


# --- validation (422) ----------------------------------------------------------------------------
def name_causes(rt: ResourceType, name: str) -> list[Cause]:
    """``metadata.name`` as the kind's registry validates it."""
    if (rt.group, rt.kind) in _PATH_SEGMENT_KINDS:
        bad = [f"may not be '{name}'"] if name in (".", "..") else []
        bad += [f"may not contain '{c}'" for c in "/%" if c in name]
        return [invalid("metadata.name", name, m) for m in bad]
    if (rt.group, rt.kind) == ("", "Namespace"):
        msgs = names.dns1123_label(name)
    elif (rt.group, rt.kind) == ("", "Service"):
        msgs = names.dns1035_label(name)
    else:
        msgs = names.dns1123_subdomain(name)
    return [invalid("metadata.name", name, m) for m in msgs]


def meta_causes(meta: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in sorted((meta.get("labels") or {}).items()):
        causes += [invalid("metadata.labels", key, m) for m in names.label_key(key)]
        causes += [invalid("metadata.labels", value, m) for m in names.label_value(str(value))]
    annotations = meta.get("annotations") or {}
    for key in sorted(annotations):
        causes += [invalid("metadata.annotations", key, m) for m in names.label_key(key.lower())]
    if sum(len(k) + len(str(v)) for k, v in annotations.items()) > _TOTAL_ANNOTATION_SIZE:
        causes.append(Cause("metadata.annotations", f"Too long: may not be more than {_TOTAL_ANNOTATION_SIZE} bytes",
                            "FieldValueTooLong"))
    return causes


def validate(rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
    """The hand-written rules for a built-in object that is already decoded and defaulted."""
    meta = obj.get("metadata") or {}
    causes = meta_causes(meta)
    kind = (rt.group, rt.kind)
    if kind == ("batch", "Job"):
        causes += _job(obj.get("spec") or {})
    elif kind == ("", "Pod"):
        causes += _pod_spec(obj.get("spec") or {}, "spec")
    elif kind in (("", "ConfigMap"), ("", "Secret")):
        for field in ("data", "binaryData", "stringData"):
            for key in sorted(obj.get(field) or {}):
                causes += [invalid(f"{field}[{key}]", key, m) for m in names.config_map_key(key)]
        both = set(obj.get("data") or {}) & set(obj.get("binaryData") or {})
        causes += [invalid("data", k, "duplicate of key present in binaryData") for k in sorted(both)]
    elif kind == ("", "Service"):
        spec = obj.get("spec") or {}
        types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
        if spec.get("type") not in types:
            causes.append(not_supported("spec.type", spec.get("type"), types))
    return causes


def _job(spec: dict[str, Any]) -> list[Cause]:
    template = spec.get("template") or {}
    pod = template.get("spec") or {}
    path = "spec.template.spec.restartPolicy"
    causes: list[Cause] = []
    policy = pod.get("restartPolicy")
    if policy in (None, "", "Always"):
        causes.append(required(path, 'valid values: "OnFailure", "Never"'))
    elif policy not in ("OnFailure", "Never"):
        causes.append(not_supported(path, policy, ["OnFailure", "Never"]))
    for field in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds"):
        value = spec.get(field)
        if isinstance(value, int) and value < 0:
            causes.append(invalid(f"spec.{field}", value, "must be greater than or equal to 0"))
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        causes.append(invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`"))
    for _, value in sorted(labels.items()):
        causes += [invalid("spec.template.labels", value, m) for m in names.label_value(str(value))]
    return causes + _pod_spec(pod, "spec.template.spec", job=True)


def _pod_spec(spec: dict[str, Any], path: str, job: bool = False) -> list[Cause]:
    causes: list[Cause] = []
    if not job and spec.get("restartPolicy") not in ("Always", "OnFailure", "Never"):
        causes.append(not_supported(f"{path}.restartPolicy", spec.get("restartPolicy"),
                                    ["Always", "OnFailure", "Never"]))
    if not spec.get("containers"):
        causes.append(required(f"{path}.containers"))
    seen: set[str] = set()
    for where, c in _containers(spec, path):
        name = c.get("name")
        if not name:
            causes.append(required(f"{where}.name"))
        else:
            causes += [invalid(f"{where}.name", name, m) for m in names.dns1123_label(name)]
            if name in seen:
                causes.append(Cause(f"{where}.name", f"Duplicate value: {json.dumps(name)}", "FieldValueDuplicate"))
            seen.add(name)
        if not c.get("image"):
            causes.append(required(f"{where}.image"))
        for i, env in enumerate(c.get("env") or []):
            env_name = env.get("name") if isinstance(env, dict) else None
            if not env_name:
                causes.append(required(f"{where}.env[{i}].name"))
            else:
                causes += [invalid(f"{where}.env[{i}].name", env_name, m) for m in names.env_var_name(env_name)]
        for i, port in enumerate(c.get("ports") or []):
            number = port.get("containerPort") if isinstance(port, dict) else None
            if isinstance(number, int) and not 0 < number < 65536:
                causes.append(invalid(f"{where}.ports[{i}].containerPort", number,
                                      "must be between 1 and 65535, inclusive"))
    return causes


def _pod_specs(rt: ResourceType, obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    if (rt.group, rt.kind) == ("", "Pod"):
        return [spec]
    if (rt.group, rt.kind) == ("batch", "Job"):
        return [(spec.get("template") or {}).get("spec") or {}]
    return []


def _containers(spec: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            if isinstance(c, dict):
                found.append((f"{path}.{group}[{i}]" if path else f"{group}[{i}]", c))
    return found
