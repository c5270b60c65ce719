"""The pod upload contract: how a Kubernetes task's series and artifacts reach the log store.

A pod's emptyDir is not reachable from the operator on a real cluster, and the pod must hold no
store credentials. So the runner uploads to the operator's record server, authenticated by a
**pod-bound ServiceAccount token**: the kubelet mints it into a projected volume for the audience
``AUDIENCE`` only (the API server itself refuses it), refreshes it before it expires, and it stops
authenticating the moment its pod is deleted. The server reviews it (TokenReview with that
audience), finds the pod the review names, follows the pod's controller chain (Job → Experiment)
and writes only under that attempt's own prefix. Nothing secret is in the pod spec, the
Experiment or its status: the token exists only in the kubelet's volume.

Stdlib only: the runner ships this file in its bundle. The operator builds the environment
(``backends/kubernetes/manifests.py``), the server serves the routes (``kuberun_operator.server.uploads``),
the runner uploads (``kuberun.upload``). The same token and base URL let the runner download its task's
code package when it is over the ConfigMap limit (``code_download_url``, ``kuberun.packaging.fetch``).
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

AUDIENCE: Final = "kuberun-record-server"
TOKEN_SECONDS: Final = 3600            # the token's lifetime; the kubelet refreshes it at 80 %
TOKEN_DIR: Final = "/var/run/secrets/kuberun.dev/upload"
TOKEN_FILE: Final = "token"
VOLUME: Final = "kuberun-upload-token"

URL_ENV: Final = "KUBERUN_UPLOAD_URL"          # the attempt's base URL on the record server
TOKEN_ENV: Final = "KUBERUN_UPLOAD_TOKEN_FILE"  # where the projected token is (re-read before every request)
CA_ENV: Final = "KUBERUN_UPLOAD_CA"            # PEM of the CA of the server's certificate (public data)
PERIOD_ENV: Final = "KUBERUN_UPLOAD_SECONDS"   # the periodic upload's interval while the task runs
DEFAULT_PERIOD: Final = 60.0

POD_NAME_EXTRA: Final = "authentication.kubernetes.io/pod-name"
POD_UID_EXTRA: Final = "authentication.kubernetes.io/pod-uid"

METRICS: Final = "metrics"
ARTIFACTS: Final = "artifacts"
NODES: Final = "nodes"  # PUT <base>/nodes/<k>/artifacts/<path>: node k's own files, stored as artifacts/nodes/<k>/<path>
CODE: Final = "code"                   # GET <base>/code/<sha256>: the task's package over the ConfigMap limit
MAX_FILE_BYTES: Final = 4 << 30        # one artifact
MAX_ATTEMPT_BYTES: Final = 64 << 30    # every artifact of one attempt (the store's max_artifact_bytes)
MAX_FILES: Final = 10_000              # artifacts of one attempt (the store's max_artifact_files)
MAX_SERIES_BYTES: Final = 64 << 20     # metrics.jsonl (as kuberun.metrics writes at most)


def attempt_path(namespace: str, name: str, task: str, attempt: int) -> str:
    """The attempt's base path; ``PUT <base>/metrics`` and ``PUT <base>/artifacts/<path>`` go under it."""
    return f"/v1/namespaces/{namespace}/experiments/{name}/tasks/{task}/attempts/{attempt}"


def code_download_url(base: str, sha256: str) -> str:
    """``GET <base>/code/<sha256>``: the attempt's own code package, read from the operator's store. The same
    pod-bound token authenticates it; the server answers only for the digest the attempt's task names."""
    return f"{base.rstrip('/')}/{CODE}/{sha256}"


def artifact_path(base: str, relative: str) -> str:
    """``<base>/artifacts/<relative>``, each component percent-encoded (the server decodes and checks it)."""
    return f"{base}/{ARTIFACTS}/" + "/".join(quote(part, safe="") for part in relative.split("/"))


def node_base(base: str, node: int) -> str:
    """Node ``node``'s base (an Indexed Job pod other than index 0): its artifacts go under ``nodes/<node>/``.

    The unit is the pod, not the torchrun process: a pod's processes share one artifacts directory and
    one bound token, and what the server can prove is the pod's completion index."""
    return f"{base.rstrip('/')}/{NODES}/{int(node)}"


def node_of(path: str) -> tuple[int, str]:
    """An artifact's node and its path on that node: ``nodes/2/ckpt.pt`` -> (2, 'ckpt.pt'); else (0, path)."""
    parts = path.split("/", 2)
    if len(parts) == 3 and parts[0] == NODES and parts[1].isdigit():
        return int(parts[1]), parts[2]
    return 0, path


def answer_message(exc: Any) -> str:
    """The record server's reason in an error answer (an ``urllib.error.HTTPError``): its JSON ``message``,
    else the HTTP reason; at most 300 characters (it goes into the task's log)."""
    import json

    try:
        return str(json.loads(exc.read(4096)).get("message") or exc.reason)[:300]
    except (ValueError, OSError, AttributeError):
        return str(exc.reason)[:300]
