"""Apiserver defaulting for built-in kinds: the fields a cluster fills in that clients read back.

Why: kuberun, kubectl and helm read these back (a Job's ``selector`` is how ``kubectl logs job/X``
finds its pods; ``status.phase`` is what a Pod watcher waits on; a Service's ``clusterIP`` is what
``kubectl get svc`` prints), so an emulator that stores objects as sent lets code pass here that
fails there. The rules follow ``pkg/apis/<group>/v1/defaults.go`` and the registries' strategies
(``PrepareForCreate``) of Kubernetes 1.32; only fields with a visible effect are filled.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from .resources import ResourceType

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")


def on_create(rt: ResourceType, obj: dict[str, Any], used_cluster_ips: Callable[[], Iterable[str]]) -> None:
    """Fill the defaults of a new object in place (before validation, as the server does)."""
    common(rt, obj)
    kind = (rt.group, rt.kind)
    if kind == ("batch", "Job"):
        _job(obj)
    elif kind == ("", "Pod"):
        pod_spec(obj.setdefault("spec", {}))
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj["spec"])}
    elif kind == ("", "Service"):
        _service(obj, used_cluster_ips)
    elif kind == ("", "Namespace"):
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def common(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Defaults that apply on create and update alike (they come from decoding the body)."""
    kind = (rt.group, rt.kind)
    if kind == ("", "Secret"):
        _secret(obj)
    elif kind == ("batch", "Job"):
        _job_fields(obj.setdefault("spec", {}))
        template = obj["spec"].setdefault("template", {})
        pod_spec(template.setdefault("spec", {}), template=True)
    elif kind == ("", "Pod"):
        pod_spec(obj.setdefault("spec", {}))


def _secret(obj: dict[str, Any]) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data


def _job_fields(spec: dict[str, Any]) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    spec.setdefault("manualSelector", False)


def _job(obj: dict[str, Any]) -> None:
    meta, spec = obj["metadata"], obj["spec"]
    template_meta = spec["template"].setdefault("metadata", {})
    if template_meta.get("labels") and not meta.get("labels"):
        meta["labels"] = dict(template_meta["labels"])
    if spec.get("manualSelector"):
        return
    # The Job strategy's generateSelector: pods are selected by the Job's uid, never by user labels.
    uid, name = meta["uid"], meta["name"]
    labels = template_meta.setdefault("labels", {})
    labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                   "controller-uid": uid, "job-name": name})
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}


def pod_spec(spec: dict[str, Any], template: bool = False) -> None:
    """``SetDefaults_PodSpec`` and its containers' defaults (a Job template's too: its ``Always`` is
    then refused by Job validation, exactly as an absent restartPolicy is)."""
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or []:
            if isinstance(container, dict):
                _container(container, requests_from_limits=not template)


def _container(container: dict[str, Any], requests_from_limits: bool) -> None:
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    image = str(container.get("image") or "")
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in image and (":" not in tag or tag.endswith(":latest"))
    container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    resources = container.get("resources")
    if requests_from_limits and isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
        requests = resources.setdefault("requests", {})
        for name, value in resources["limits"].items():
            requests.setdefault(name, value)  # SetDefaults_Pod: requests default to limits, per resource


def qos_class(spec: dict[str, Any]) -> str:
    """``GetPodQOS``: Guaranteed (cpu+memory limits == requests everywhere), BestEffort (none), Burstable."""
    containers = [c for g in ("initContainers", "containers") for c in spec.get(g) or [] if isinstance(c, dict)]
    any_set, guaranteed = False, True
    for c in containers:
        res = c.get("resources") or {}
        requests, limits = res.get("requests") or {}, res.get("limits") or {}
        compute = {k for k in (*requests, *limits) if k in ("cpu", "memory")}
        any_set = any_set or bool(compute)
        if any(str(limits.get(k)) != str(requests.get(k, limits.get(k))) for k in ("cpu", "memory")):
            guaranteed = False
        if not all(k in limits for k in ("cpu", "memory")):
            guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _service(obj: dict[str, Any], used_cluster_ips: Callable[[], Iterable[str]]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        if not spec.get("clusterIP"):
            spec["clusterIP"] = _allocate(used_cluster_ips())
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    obj["status"] = {"loadBalancer": {}}


def _allocate(used: Iterable[str]) -> str:
    taken = set(used)
    for host in SERVICE_CIDR.hosts():
        if int(host) - int(SERVICE_CIDR.network_address) < 10:
            continue  # .1 is the kubernetes service, .10 the DNS service on a real cluster
        if str(host) not in taken:
            return str(host)
    raise RuntimeError("service CIDR exhausted")


def keep_allocated(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any]) -> None:
    """On update, values the server allocated survive a body that omits them (a Service's clusterIP)."""
    if (rt.group, rt.kind) == ("", "Service"):
        spec, old_spec = obj.setdefault("spec", {}), old.get("spec") or {}
        for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy", "type",
                      "sessionAffinity"):
            if not spec.get(field) and old_spec.get(field):
                spec[field] = old_spec[field]
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if "port" in port:
                    port.setdefault("targetPort", port["port"])
