"""Pod Security admission: the ``baseline`` and ``restricted`` Pod Security Standards, enforced on pods
of namespaces labelled ``pod-security.kubernetes.io/enforce`` (and warned about with ``.../warn``).

The checks and their wording follow ``k8s.io/pod-security-admission/policy`` (the ``check_*.go``
files): each failed check contributes ``<reason> (<detail>)`` and the refusal reads
``pods "x" is forbidden: violates PodSecurity "restricted:latest": <reasons joined by ", ">``.
Checks run in the real order — baseline ones by ID, then restricted ones, where a restricted check
replaces the baseline check it overrides (capabilities, seccomp, hostPath → volume types).
AppArmor, SELinux and Windows options are checked at the level of their forbidden values only.
Only pods are enforced (workload templates get no warnings here); an update is checked only when
it changes the pod's spec, as the real plugin skips metadata and status updates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ApiError

LABEL = "pod-security.kubernetes.io/"
LEVELS = ("privileged", "baseline", "restricted")
BASELINE_CAPS = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
                 "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
Check = Callable[[dict[str, Any], list[dict[str, Any]]], str | None]


def _quote(names: list[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _containers_word(names: list[str]) -> str:
    return f"container {_quote(names)}" if len(names) == 1 else f"containers {_quote(names)}"


def _all_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for key in ("initContainers", "containers", "ephemeralContainers") for c in spec.get(key) or []]


def _sc(c: dict[str, Any]) -> dict[str, Any]:
    return c.get("securityContext") or {}


# --- baseline -------------------------------------------------------------------------------
def _capabilities_baseline(spec: dict[str, Any], cs: list[dict[str, Any]]) -> str | None:
    bad = {c["name"]: [a for a in ((_sc(c).get("capabilities") or {}).get("add") or []) if a not in BASELINE_CAPS] for c in cs}
    bad = {k: v for k, v in bad.items() if v}
    if not bad:
        return None
    caps = sorted({a for v in bad.values() for a in v})
    return f"non-default capabilities ({_containers_word(list(bad))} must not include {_quote(caps)} in securityContext.capabilities.add)"


def _host_namespaces(spec: dict[str, Any], cs: list[dict[str, Any]]) -> str | None:
    used = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    return f"host namespaces ({', '.join(used)})" if used else None


def _host_path(spec: dict[str, Any], cs: list[dict[str, Any]]) -> str | None:
    names = [v["name"] for v in spec.get("volumes") or [] if "hostPath" in v]
    if not names:
        return None
    return f"hostPath volumes (volume {_quote(names)})" if len(names) == 1 else f"hostPath volumes (volumes {_quote(names)})"


def _host_ports(spec: dict[str, Any], cs: list[dict[str, Any]]) -> str | None:
    found = {c["name"]: [str(p["hostPort"]) for p in c.get("ports") or [] if p.get("hostPort")] for c in cs}
    found = {k: v for k, v in found.items() if v}
    if not found:
        return None
    ports = [p for v in found.values() for p in v]
    verb = "uses" if len(found) == 1 else "use"
    return f"hostPort ({_containers_word(list(found))} {verb} {'hostPort' if len(ports) == 1 else 'hostPorts'} {', '.join(ports)})"


def _privileged(spec: dict[str, Any], cs: list[dict[str, Any]]) -> str | None:
    names = [c["name"] for c in cs if _sc(c).get("privileged")]
    return f"privileged ({_containers_word(names)} must not set securityContext.privileged=true)" if names else None


def _proc_mount(spec: dict[str, Any], cs: list[dict[str, Any]]) -> str | None:
    names = [c["name"] for c in cs if _sc(c).get("procMount") not in (None, "Default")]
    return f'procMount ({_containers_word(names)} must not set securityContext.procMount to "Unmasked")' if names else None


def _seccomp_baseline(spec: dict[str, Any], cs: list[dict[str, Any]]) -> str | None:
    pod = ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    names = [c["name"] for c in cs if (_sc(c).get("seccompProfile") or {}).get("type") == "Unconfined"]
    parts = (["pod"] if pod == "Unconfined" else []) + ([_containers_word(names)] if names else [])
    return f'seccompProfile ({" and ".join(parts)} must not set securityContext.seccompProfile.type to "Unconfined")' if parts else None


def _sysctls(spec: dict[str, Any], cs: list[dict[str, Any]]) -> str | None:
    bad = [s["name"] for s in (spec.get("securityContext") or {}).get("sysctls") or [] if s.get("name") not in SAFE_SYSCTLS]
    return f"forbidden sysctls ({', '.join(bad)})" if bad else None


# --- restricted -----------------------------------------------------------------------------
def _privilege_escalation(spec: dict[str, Any], cs: list[dict[str, Any]]) -> str | None:
    names = [c["name"] for c in cs if _sc(c).get("allowPrivilegeEscalation") is not False]
    return (f"allowPrivilegeEscalation != false ({_containers_word(names)} must set "
            "securityContext.allowPrivilegeEscalation=false)") if names else None


def _capabilities_restricted(spec: dict[str, Any], cs: list[dict[str, Any]]) -> str | None:
    no_drop = [c["name"] for c in cs if "ALL" not in ((_sc(c).get("capabilities") or {}).get("drop") or [])]
    added = {c["name"]: [a for a in ((_sc(c).get("capabilities") or {}).get("add") or []) if a != "NET_BIND_SERVICE"] for c in cs}
    added = {k: v for k, v in added.items() if v}
    parts = [f'{_containers_word(no_drop)} must set securityContext.capabilities.drop=["ALL"]'] if no_drop else []
    if added:
        caps = sorted({a for v in added.values() for a in v})
        parts.append(f"{_containers_word(list(added))} must not include {_quote(caps)} in securityContext.capabilities.add")
    return f"unrestricted capabilities ({'; '.join(parts)})" if parts else None


def _restricted_volumes(spec: dict[str, Any], cs: list[dict[str, Any]]) -> str | None:
    by_type: dict[str, list[str]] = {}
    for v in spec.get("volumes") or []:
        kinds = [k for k in v if k != "name"] or ["emptyDir"]
        for k in kinds:
            if k not in RESTRICTED_VOLUMES:
                by_type.setdefault(k, []).append(v["name"])
    if not by_type:
        return None
    parts = []
    for kind, names in by_type.items():
        noun = f"volume {_quote(names)} uses" if len(names) == 1 else f"volumes {_quote(names)} use"
        parts.append(f'{noun} restricted volume type "{kind}"')
    return f"restricted volume types ({', '.join(parts)})"


def _run_as_non_root(spec: dict[str, Any], cs: list[dict[str, Any]]) -> str | None:
    pod = (spec.get("securityContext") or {}).get("runAsNonRoot")
    explicit_false = [c["name"] for c in cs if _sc(c).get("runAsNonRoot") is False]
    unset = [c["name"] for c in cs if _sc(c).get("runAsNonRoot") is None]
    parts = []
    if pod is False:
        parts.append("pod must not set securityContext.runAsNonRoot=false")
    if explicit_false:
        parts.append(f"{_containers_word(explicit_false)} must not set securityContext.runAsNonRoot=false")
    if pod is not True and unset:
        parts.append(f"pod or {_containers_word(unset)} must set securityContext.runAsNonRoot=true")
    return f"runAsNonRoot != true ({'; '.join(parts)})" if parts else None


def _run_as_user(spec: dict[str, Any], cs: list[dict[str, Any]]) -> str | None:
    pod = (spec.get("securityContext") or {}).get("runAsUser") == 0
    names = [c["name"] for c in cs if _sc(c).get("runAsUser") == 0]
    parts = (["pod"] if pod else []) + ([_containers_word(names)] if names else [])
    return f"runAsUser=0 ({' and '.join(parts)} must not set runAsUser=0)" if parts else None


def _seccomp_restricted(spec: dict[str, Any], cs: list[dict[str, Any]]) -> str | None:
    ok = ("RuntimeDefault", "Localhost")
    pod = ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    bad = [c["name"] for c in cs if (_sc(c).get("seccompProfile") or {}).get("type") not in (*ok, None)]
    unset = [c["name"] for c in cs if (_sc(c).get("seccompProfile") or {}).get("type") is None]
    parts = []
    if pod is not None and pod not in ok:
        parts.append(f'pod must not set securityContext.seccompProfile.type to "{pod}"')
    if bad:
        parts.append(f'{_containers_word(bad)} must not set securityContext.seccompProfile.type to "Unconfined"')
    if pod not in ok and unset:
        parts.append(f'pod or {_containers_word(unset)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"')
    return f"seccompProfile ({'; '.join(parts)})" if parts else None


BASELINE: list[tuple[str, Check]] = [
    ("capabilities_baseline", _capabilities_baseline), ("hostNamespaces", _host_namespaces),
    ("hostPathVolumes", _host_path), ("hostPorts", _host_ports), ("privileged", _privileged),
    ("procMount", _proc_mount), ("seccompProfile_baseline", _seccomp_baseline), ("sysctls", _sysctls),
]
RESTRICTED: list[tuple[str, Check]] = [
    ("allowPrivilegeEscalation", _privilege_escalation), ("capabilities_restricted", _capabilities_restricted),
    ("restrictedVolumes", _restricted_volumes), ("runAsNonRoot", _run_as_non_root), ("runAsUser", _run_as_user),
    ("seccompProfile_restricted", _seccomp_restricted),
]
OVERRIDDEN = {"capabilities_baseline", "seccompProfile_baseline", "hostPathVolumes"}


def violations(level: str, pod: dict[str, Any]) -> list[str]:
    """The failed checks of ``level`` for ``pod``, each as ``reason (detail)``."""
    if level not in ("baseline", "restricted"):
        return []
    spec = pod.get("spec") or {}
    containers = _all_containers(spec)
    checks = [c for c in BASELINE if level == "baseline" or c[0] not in OVERRIDDEN]
    if level == "restricted":
        checks += RESTRICTED
    return [msg for _, check in checks if (msg := check(spec, containers)) is not None]


def _level(labels: dict[str, str], mode: str) -> tuple[str, str] | None:
    level = labels.get(LABEL + mode)
    if level not in ("baseline", "restricted"):
        return None
    return level, labels.get(LABEL + mode + "-version") or "latest"


def admit(namespace: dict[str, Any] | None, pod: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    """Raise 403 when the namespace enforces a level the pod violates; return warnings for ``warn``."""
    if namespace is None or (old is not None and (old.get("spec") == pod.get("spec"))):
        return []
    labels = namespace["metadata"].get("labels") or {}
    enforce = _level(labels, "enforce")
    if enforce is not None:
        found = violations(enforce[0], pod)
        if found:
            name = pod["metadata"].get("name") or pod["metadata"].get("generateName", "")
            raise ApiError(403, "Forbidden", f'pods "{name}" is forbidden: violates PodSecurity '
                                             f'"{enforce[0]}:{enforce[1]}": {", ".join(found)}',
                           {"name": name, "kind": "pods"})
    warn = _level(labels, "warn")
    if warn is not None and (found := violations(warn[0], pod)):
        return [f'would violate PodSecurity "{warn[0]}:{warn[1]}": {", ".join(found)}']
    return []
