"""Table columns and cells of built-in kinds, as kube-apiserver's printers render them.

Why the server's own: ``kubectl get pods|jobs|events|svc [-o wide]`` prints whatever Table the
server sends, so these are ``pkg/printers/internalversion/printers.go`` of Kubernetes 1.32-1.35
(names, types, priorities — priority 1 columns are the ``-o wide`` ones — and how each cell is
computed). The server always sends every column; kubectl hides priority 1 unless ``-o wide``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .timefmt import age, parse


@dataclass(frozen=True)
class Printer:
    columns: list[tuple[str, int]]  # (name, priority); the first column is the object name
    cells: Callable[[dict[str, Any]], list[Any]]


def human_duration(seconds: float) -> str:
    """``duration.HumanDuration``: 45s, 3m20s, 25m, 4h10m, 30h, 3d4h, 20d, 2y."""
    s = int(seconds)
    if s < 0:
        return "<invalid>"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 192:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    return f"{h // (24 * 365)}y"


def _meta(o: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = o.get("metadata") or {}
    return meta


def _pod(o: dict[str, Any]) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    statuses = status.get("containerStatuses") or []
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    ready = 0
    for c in reversed(statuses):
        state = c.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            t = state["terminated"] or {}
            reason = t.get("reason") or (f"Signal:{t['signal']}" if t.get("signal") else f"ExitCode:{t.get('exitCode', 0)}")
        elif c.get("ready") and "running" in state:
            ready += 1
    if _meta(o).get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    ips = status.get("podIPs") or []
    ip = (ips[0].get("ip") if ips else None) or status.get("podIP") or "<none>"
    gates = spec.get("readinessGates") or []
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    gate_cell = f"{sum(conditions.get(g.get('conditionType')) == 'True' for g in gates)}/{len(gates)}" if gates else "<none>"
    return [_meta(o).get("name"), f"{ready}/{len(spec.get('containers') or [])}", reason, str(restarts),
            age(_meta(o).get("creationTimestamp")), ip, spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", gate_cell]


def _selector(selector: dict[str, Any] | None) -> str:
    """``metav1.FormatLabelSelector``."""
    if not selector:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, values = expr.get("operator"), ",".join(expr.get("values") or [])
        parts.append({"In": f"{expr['key']} in ({values})", "NotIn": f"{expr['key']} notin ({values})",
                      "Exists": expr["key"], "DoesNotExist": f"!{expr['key']}"}.get(op, expr["key"]))
    return ",".join(parts) or "<none>"


def _job(o: dict[str, Any]) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    succeeded = int(status.get("succeeded") or 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    else:
        parallelism = int(spec.get("parallelism") or 0)
        completions = f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"
    duration = ""
    if status.get("startTime"):
        end = parse(status["completionTime"]) if status.get("completionTime") else datetime.datetime.now(datetime.timezone.utc)
        duration = human_duration((end - parse(status["startTime"])).total_seconds())
    conditions = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    state = next((name for cond, name in (("Complete", "Complete"), ("Failed", "Failed")) if cond in conditions), None)
    if state is None:
        state = "Terminating" if _meta(o).get("deletionTimestamp") else next(
            (c for c in ("Suspended", "FailureTarget", "SuccessCriteriaMet") if c in conditions), "Running")
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [_meta(o).get("name"), state, completions, duration, age(_meta(o).get("creationTimestamp")),
            ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers),
            _selector(spec.get("selector"))]


def _event(o: dict[str, Any]) -> list[Any]:
    first = age(o.get("firstTimestamp") or o.get("eventTime"))
    last = age(o["lastTimestamp"]) if o.get("lastTimestamp") else first
    count = o.get("count") or 1
    if o.get("series"):
        last, count = age(o["series"].get("lastObservedTime")), o["series"].get("count") or count
    involved = o.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = o.get("source") or {}
    component = source.get("component") or o.get("reportingComponent") or ""
    host = source.get("host") or o.get("reportingInstance") or ""
    return [last, o.get("type") or "", o.get("reason") or "", target, involved.get("fieldPath") or "",
            ", ".join(x for x in (component, host) if x), str(o.get("message") or "").strip(), first, int(count),
            _meta(o).get("name")]


def _service(o: dict[str, Any]) -> list[Any]:
    spec = o.get("spec") or {}
    ips = spec.get("clusterIPs") or []
    external = ",".join(spec.get("externalIPs") or []) or ("<pending>" if spec.get("type") == "LoadBalancer" else "<none>")
    if spec.get("type") == "ExternalName":
        external = spec.get("externalName") or "<none>"
    ports = ",".join(f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort")
                     else f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
    return [_meta(o).get("name"), spec.get("type") or "", ips[0] if ips else "<none>", external, ports or "<none>",
            age(_meta(o).get("creationTimestamp")), selector]


def _count(o: dict[str, Any], *fields: str) -> int:
    return sum(len(o.get(f) or {}) for f in fields)


PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "Pod"): Printer([("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1),
                          ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1)], _pod),
    ("batch", "Job"): Printer([("Name", 0), ("Status", 0), ("Completions", 0), ("Duration", 0), ("Age", 0),
                               ("Containers", 1), ("Images", 1), ("Selector", 1)], _job),
    ("", "Event"): Printer([("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1),
                            ("Source", 1), ("Message", 0), ("First Seen", 1), ("Count", 1), ("Name", 1)], _event),
    ("", "Service"): Printer([("Name", 0), ("Type", 0), ("Cluster-IP", 0), ("External-IP", 0), ("Port(s)", 0),
                              ("Age", 0), ("Selector", 1)], _service),
    ("", "ConfigMap"): Printer([("Name", 0), ("Data", 0), ("Age", 0)],
                               lambda o: [_meta(o).get("name"), _count(o, "data", "binaryData"),
                                          age(_meta(o).get("creationTimestamp"))]),
    ("", "Secret"): Printer([("Name", 0), ("Type", 0), ("Data", 0), ("Age", 0)],
                            lambda o: [_meta(o).get("name"), o.get("type") or "", _count(o, "data"),
                                       age(_meta(o).get("creationTimestamp"))]),
    ("", "Namespace"): Printer([("Name", 0), ("Status", 0), ("Age", 0)],
                               lambda o: [_meta(o).get("name"), (o.get("status") or {}).get("phase") or "",
                                          age(_meta(o).get("creationTimestamp"))]),
}
PRINTERS[("events.k8s.io", "Event")] = PRINTERS[("", "Event")]
