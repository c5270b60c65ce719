"""The CLI's client of the operator's record server: bridged logs and the archive, with the user's own token.

Found with nothing but the kubeconfig: ``$KUBERUN_SERVER`` (and ``$KUBERUN_SERVER_CA``) when set,
else the URL and CA the operator publishes in the ConfigMap ``kuberun-system/kuberun-endpoints``,
read through the API server as the user. Every request carries the kubeconfig's bearer token; the
server reviews it with the API server, so the user needs RBAC on the Experiment, nothing more —
no backend credentials, no database password. See docs/record-server.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

from kuberun.api import Kube, Op
from kuberun.apipath import api_path
from kuberun.errors import (
    ApiError,
    ForbiddenError,
    LogsUnavailableError,
    NotFoundError,
    ObjectNotFoundError,
    UnauthorizedError,
    UnreachableError,
)
from kuberun.resource import recordserver as contract

Obj = dict[str, Any]
CHUNK = 64 * 1024


class NoRecordServer(LogsUnavailableError):
    """No record server is published for this cluster (and none is named by $KUBERUN_SERVER)."""


def discover(kube: Kube) -> tuple[str, str | None]:
    """(base URL, CA PEM or None) of the record server. Raises NoRecordServer."""
    env = os.environ.get(contract.SERVER_ENV)
    if env:
        ca_file = os.environ.get(contract.SERVER_CA_ENV)
        ca = None
        if ca_file:
            try:
                with open(ca_file) as f:
                    ca = f.read()
            except OSError as exc:
                raise NoRecordServer(f"${contract.SERVER_CA_ENV} {ca_file}: {exc.strerror}") from None
        return env.rstrip("/"), ca
    ns, name = contract.ENDPOINTS_NAMESPACE, contract.ENDPOINTS_CONFIGMAP
    try:
        cm = kube.get(api_path("", "v1", "configmaps", ns, name), Op("get", "configmaps", ns, name))
    except (ObjectNotFoundError, ForbiddenError):
        raise NoRecordServer(f"this cluster publishes none (no ConfigMap {ns}/{name}; "
                             f"${contract.SERVER_ENV} names one)") from None
    data = cm.get("data") or {}
    url = data.get(contract.KEY_URL)
    if not url:
        raise NoRecordServer(f"ConfigMap {ns}/{name} names no record server ({contract.KEY_URL})")
    return str(url).rstrip("/"), data.get(contract.KEY_CA) or None


class RecordClient:
    """GETs against the record server as the kubeconfig's user."""

    def __init__(self, kube: Kube, url: str | None = None, ca_pem: str | None = None) -> None:
        self.url, self._ca = (url.rstrip("/"), ca_pem) if url else discover(kube)
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise NoRecordServer(f"record server URL {self.url!r}: expected http(s)://host:port")
        token = kube.bearer_token()
        if not token:
            raise LogsUnavailableError("the record server authenticates bearer tokens, and this kubeconfig user has "
                                       "none (a client certificate?): use a context with a token")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/plain"}
        self._pool = self._make_pool()

    def _make_pool(self) -> Any:
        import urllib3

        from kuberun.api.kubeconfig import data_file

        kwargs: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED", "retries": False}
        if self._ca:  # the CA the operator published, as a file: what urllib3 1.26 and 2 both take
            kwargs["ca_certs"] = data_file(self._ca.encode(), ".crt")
        return urllib3.PoolManager(**kwargs)

    def _get(self, path: str, query: dict[str, Any], stream: bool) -> Any:
        import urllib3

        params = [(k, v) for k, v in query.items() if v is not None and not isinstance(v, (list, tuple))]
        params += [(k, item) for k, v in query.items() if isinstance(v, (list, tuple)) for item in v]
        url = self.url + path + ("?" + urlencode(params) if params else "")
        try:
            resp = self._pool.request("GET", url, headers=self._headers, preload_content=not stream,
                                      timeout=urllib3.Timeout(connect=10.0, read=None if stream else 60.0))
        except urllib3.exceptions.HTTPError as exc:
            raise UnreachableError(f"cannot reach the kuberun record server at {self.url}: "
                                   f"{str(getattr(exc, 'reason', None) or exc)[:200]}") from None
        if resp.status >= 400:
            raw = resp.data if not stream else resp.read()
            if stream:
                resp.release_conn()
            raise _error(resp.status, raw)
        return resp

    def get_json(self, path: str, **query: Any) -> Obj:
        return json.loads(self._get(path, query, stream=False).data or b"{}")

    def stream(self, path: str, **query: Any) -> Iterator[bytes]:
        resp = self._get(path, query, stream=True)
        try:
            yield from resp.stream(CHUNK, decode_content=True)
        finally:
            resp.release_conn()

    def _send(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        import urllib3

        try:
            return self._pool.request(method, self.url + path, body=body, headers={**self._headers, **(headers or {})},
                                      timeout=urllib3.Timeout(connect=10.0, read=300.0), preload_content=True)
        except urllib3.exceptions.HTTPError as exc:
            raise UnreachableError(f"cannot reach the kuberun record server at {self.url}: "
                                   f"{str(getattr(exc, 'reason', None) or exc)[:200]}") from None

    # -- the routes -------------------------------------------------------------------------------

    def has_code(self, namespace: str, sha256: str) -> bool:
        """Whether the operator's store holds the code package ``sha256`` for ``namespace`` (needs ``create``)."""
        resp = self._send("HEAD", contract.code_path(namespace, sha256))
        if resp.status == 404:
            return False
        if resp.status >= 400:
            raise _error(resp.status, b"", verb="create")
        return True

    def put_code(self, namespace: str, sha256: str, data: bytes) -> bool:
        """Upload a code package (streamed from memory in blocks); True if stored now, False if it already was."""
        import io

        resp = self._send("PUT", contract.code_path(namespace, sha256), body=io.BytesIO(data),
                          headers={"Content-Length": str(len(data)), "Content-Type": "application/gzip"})
        if resp.status >= 400:
            raise _error(resp.status, resp.data, verb="create")
        return resp.status == 201

    def logs(self, namespace: str, name: str, task: str | None, attempt: int | None, *, follow: bool = False,
             tail: int | None = None, uid: str | None = None, component: int | None = None) -> Iterator[bytes]:
        return self.stream(contract.logs_path(namespace, name), task=task, attempt=attempt,
                           follow="true" if follow else None, tail=tail, uid=uid, component=component)

    def metric_series(self, namespace: str, name: str, uid: str | None = None) -> Obj:
        """The experiment's metric series (``contract.metrics_path``). Raises NotFoundError."""
        return self.get_json(contract.metrics_path(namespace, name), uid=uid)

    def archived(self, namespace: str, name: str, uid: str | None = None) -> Obj:
        """The archived record (the object, plus an ``archive`` block). Raises NotFoundError."""
        return self.get_json(contract.archived_path(namespace, name), uid=uid)

    def config_maps(self, namespace: str, name: str, uid: str | None = None) -> list[Obj]:
        """The ConfigMaps the archive kept for the experiment (large configs, code chunks). Raises NotFoundError."""
        answer = self.get_json(contract.archived_config_maps_path(namespace, name), uid=uid)
        return [i for i in answer.get("items") or [] if isinstance(i, dict)]

    def attempts(self, namespace: str, name: str, uid: str | None = None) -> list[tuple[str, Obj]]:
        """Every archived attempt of the experiment as ``(task, status entry)``."""
        answer = self.get_json(contract.attempts_path(namespace, name), uid=uid)
        return [(str(i.get("task")), i.get("attempt") or {}) for i in answer.get("items") or [] if isinstance(i, dict)]

    def archived_page(self, namespace: str | None, *, title: str | None = None, user: str | None = None,
                      labels: dict[str, str] | None = None, phase: str | None = None, since: str | None = None,
                      until: str | None = None, limit: int = 50, continue_token: str | None = None) -> tuple[list[Obj], str | None]:
        answer = self.get_json(contract.archived_path(namespace), title=title, user=user,
                               label=[f"{k}={v}" for k, v in (labels or {}).items()] or None, phase=phase,
                               since=since, until=until, limit=limit, **{"continue": continue_token})
        return list(answer.get("items") or []), (answer.get("metadata") or {}).get("continue") or None


def _error(code: int, raw: bytes, verb: str = "get") -> ApiError | NotFoundError:
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {}
    message = str((body if isinstance(body, dict) else {}).get("message") or f"HTTP {code}").splitlines()[0]
    if code == 401:
        return UnauthorizedError(401, "unauthorized: the kuberun record server did not accept your token", "Unauthorized")
    if code == 403:
        return ForbiddenError(f"forbidden: {message}", verb, "experiments.kuberun.dev")
    if code == 404:
        return ObjectNotFoundError(404, message, "NotFound")
    return ApiError(code, f"kuberun record server: {message}", str(body.get("reason") or "") if isinstance(body, dict) else "")


def get_or_archived(kube: Kube, name: str, namespace: str | None = None) -> Obj:
    """The live Experiment, or — when it is gone (404) — its archived record from the record server.

    An archived record carries an ``archive`` block (``archivedAt``, ``deleted``, ``events``); callers
    label it as archived. When no server is published, or the archive has no such record, the
    original "not found" is raised.
    """
    from kuberun.manage.query import get_experiment

    ns = namespace or kube.namespace
    try:
        return get_experiment(kube, name, ns)
    except ObjectNotFoundError as gone:
        try:
            return RecordClient(kube).archived(ns, name)
        except (NoRecordServer, ObjectNotFoundError):
            raise gone from None


def archived_config_maps(kube: Kube, obj: Obj) -> list[Obj] | None:
    """The archive's copies of an archived experiment's ConfigMaps (large configs, code chunks); None when
    its spec points at none, or the server keeps none (then the live ConfigMaps are tried, as before)."""
    from kuberun.packaging.ship import code_config_maps
    from kuberun.resource import ExperimentResource

    spec_tasks = (obj.get("spec") or {}).get("tasks") or []
    if not any((t.get("fiddle") or {}).get("configMapRefs") for t in spec_tasks) and \
            not code_config_maps(ExperimentResource.parse(obj).spec.tasks):
        return None
    meta = obj.get("metadata") or {}
    try:
        return RecordClient(kube).config_maps(meta.get("namespace") or kube.namespace, meta["name"], uid=meta.get("uid")) or None
    except (NoRecordServer, ObjectNotFoundError):
        return None


def with_history(kube: Kube, obj: Obj) -> tuple[Obj, str | None]:
    """A live object whose status dropped attempts (the status budget), with them put back from the
    archive through the record server; and a note when they could not be (None when nothing is missing).

    An archived record comes with its history already (the server merges it).
    """
    from kuberun.resource.history import merge_attempts, omitted

    missing = omitted(obj.get("status"))
    if not missing or "archive" in obj:
        return obj, None
    meta = obj.get("metadata") or {}
    try:
        history = RecordClient(kube).attempts(meta.get("namespace", ""), meta.get("name", ""), meta.get("uid"))
    except (LogsUnavailableError, ApiError, UnreachableError, NotFoundError) as exc:
        return obj, f"{missing} earlier attempt(s) are not in status (its size budget) and not read from the archive: {exc}"
    status, restored = merge_attempts(obj.get("status"), history)
    left = missing - restored
    note = f"{left} earlier attempt(s) are in neither status nor the archive" if left > 0 else None
    return {**obj, "status": status}, note


def archived_note(obj: Obj) -> str | None:
    """The one line that says a record is archived (None for a live object)."""
    info = obj.get("archive")
    if not isinstance(info, dict):
        return None
    deleted = f", deleted {info['deleted']}" if info.get("deleted") else ""
    return f"archived record (the Experiment object is gone{deleted}; archived {info.get('archivedAt') or 'at an unknown time'})"


def archived_page(kube: Kube, flt: Any, *, namespace: str | None = None, all_namespaces: bool = False,
                  limit: int = 50, continue_token: str | None = None) -> tuple[list[Obj], str | None]:
    """``kuberun list --archived``: one page of archived experiments matching a ``query.ListFilter``.

    The archive matches title as a case-insensitive substring and the user exactly; label selectors
    may only hold ``key=value`` terms.
    """
    from kuberun.errors import UsageError
    from kuberun.resource.times import format_time, utcnow

    labels: dict[str, str] = dict(flt.extra_labels)
    for term in filter(None, (flt.selector or "").split(",")):
        key, sep, value = term.partition("=")
        if not sep or key.endswith("!") or value.startswith("="):
            raise UsageError(f"label selector term {term!r}: the archive matches key=value terms only")
        labels[key.strip()] = value.strip()
    since = format_time(utcnow() - flt.since) if flt.since is not None else None
    phase = flt.phase.capitalize() if flt.phase else None
    ns = None if all_namespaces else (namespace or kube.namespace)
    return RecordClient(kube).archived_page(ns, title=flt.title, user=flt.user, labels=labels or None, phase=phase,
                                            since=since, limit=limit or 500, continue_token=continue_token)
