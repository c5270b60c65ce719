"""The record server's wire contract, shared by the operator (which serves it) and the CLI (which calls it).

The operator's record server serves what the API server cannot: logs of attempts that ran outside
Kubernetes (or whose pods are gone) and the archive of experiments whose objects were deleted. It
authenticates the caller's own bearer token and authorizes every request against the Experiment
(see docs/record-server.md). Clients find it with nothing but their kubeconfig: its URL (and the CA
that signs its certificate, when it serves TLS) is published in a well-known ConfigMap that every
authenticated user may read; ``$KUBERUN_SERVER`` overrides that.
"""

from __future__ import annotations

from typing import Final

ENDPOINTS_NAMESPACE: Final = "kuberun-system"
ENDPOINTS_CONFIGMAP: Final = "kuberun-endpoints"
KEY_URL: Final = "recordServer"          # the server's base URL, e.g. https://127.0.0.1:41233
KEY_CA: Final = "recordServerCA"         # PEM of the CA that signed the server's certificate (optional)
SERVER_ENV: Final = "KUBERUN_SERVER"     # overrides the published URL (an ingress, a port-forward)
SERVER_CA_ENV: Final = "KUBERUN_SERVER_CA"  # a CA file for a server named by $KUBERUN_SERVER

PREFIX: Final = "/v1"


def logs_path(namespace: str, name: str) -> str:
    """``GET``: an attempt's log (query: task, attempt, follow, tail, uid). Needs ``get`` on the experiment."""
    return f"{PREFIX}/namespaces/{namespace}/experiments/{name}/logs"


def attempts_path(namespace: str, name: str) -> str:
    """``GET``: every archived attempt of the experiment (query: uid), ``{"items": [{task, attempt}]}``:
    the history its status dropped to stay under budget. Needs ``get`` on the experiment."""
    return f"{PREFIX}/namespaces/{namespace}/experiments/{name}/attempts"


def metrics_path(namespace: str, name: str) -> str:
    """``GET``: the metric series of each task's latest attempt that logged any (query: uid). Needs ``get``.

    Answers ``{"kind": "MetricSeries", "source": "archive"|"logstore"|"none", "items": [{task, attempt, name,
    points: [[step, value]], thinned?}], "seriesOmitted"?}``; non-finite values as "NaN"/"Infinity"/"-Infinity".
    """
    return f"{PREFIX}/namespaces/{namespace}/experiments/{name}/metrics"


def archived_config_maps_path(namespace: str, name: str) -> str:
    """``GET``: the ConfigMaps the archived experiment's spec points at (large configs, code chunks) as the
    archive kept them (query: uid), ``{"kind": "ConfigMapList", "items": [...]}``. Needs ``get`` on the experiment."""
    return f"{archived_path(namespace, name)}/configmaps"


def archived_path(namespace: str | None = None, name: str | None = None) -> str:
    """``GET``: archived experiments, newest first (query: title, user, label, phase, since, until, limit, continue),
    or one (``name``; query ``uid``). A list needs ``list`` on experiments in each namespace it shows; one needs ``get``.
    """
    if namespace is None:
        return f"{PREFIX}/archive/experiments"
    base = f"{PREFIX}/archive/namespaces/{namespace}/experiments"
    return base if name is None else f"{base}/{name}"


def code_path(namespace: str, sha256: str) -> str:
    """``PUT``: store a code package over the ConfigMap limit (body: its bytes, ``Content-Length`` required,
    at most ``kuberun.packaging.limits.MAX_PACKAGE_BYTES``); ``HEAD``: 200 if stored, 404 if not. Both need
    ``create`` on experiments in the namespace. Bytes whose sha256 or size differ are refused (400) and never stored."""
    return f"{PREFIX}/namespaces/{namespace}/code/{sha256}"
