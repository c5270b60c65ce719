"""The SDK's one Kubernetes client: JSON requests over urllib3 (or, for the CLI's read commands, the
standard library: ``lean.py``), errors translated to ``kuberun.errors``.

``exp.run()``, the CLI and the manage functions all talk to the cluster through ``Kube``.
Why not the ``kubernetes`` package: importing it costs ~0.5 s (every model class loads), more than a
whole ``kuberun list`` should; and plain dicts are what the manage commands print. Why not lightkube:
it kept ``kuberun list`` at 1.4x of this client's start-up (``bench/client_choice.py``), over the
1.2x budget, and lacks ``auth-provider`` users and multi-file ``$KUBECONFIG``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

from kuberun.api.kubeconfig import Credentials, data_file, load_credentials
from kuberun.errors import (
    AlreadyExistsError,
    ApiError,
    ConflictError,
    ForbiddenError,
    InvalidError,
    ObjectNotFoundError,
    UnauthorizedError,
    UnreachableError,
)

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
TOKEN_REREAD_SECONDS = 60.0  # client-go re-reads a token file once a minute


class Op(NamedTuple):
    """What a request does, in RBAC terms: named in errors (``forbidden: may not patch experiments``).

    A NamedTuple, as the read path's other records: ``dataclasses`` loads ``inspect`` (start-up time)."""

    verb: str
    resource: str
    namespace: str | None = None
    name: str | None = None


class Kube:
    """JSON requests against one API server, with the credentials of one kubeconfig context."""

    def __init__(self, creds: Credentials, *, pool_size: int = 8, connect_retries: int = 0,
                 user_agent: str | None = None, lean: bool = False) -> None:
        """``pool_size``: connections kept per host (a caller with N threads calling at once wants N);
        ``connect_retries``: how often urllib3 retries a failed connection (answers are never retried here);
        ``user_agent``: names the caller in API server audit logs; ``lean``: one stdlib connection instead
        of urllib3's pool, for a short-lived single-threaded reader (the CLI's read commands, ``lean.py``),
        whenever the kubeconfig asks for nothing only urllib3 serves."""
        self.creds = creds
        self.namespace, self.user = creds.namespace, creds.user
        self.pool_size, self.connect_retries, self.user_agent = pool_size, connect_retries, user_agent
        self.lean = lean
        self._cert: tuple[str | None, str | None] = (creds.cert_file, creds.key_file)
        self._auth: dict[str, str] = dict(creds.headers)
        self._token_read_at = time.monotonic()
        if creds.exec_plugin is not None:
            self._use_exec_credential(refresh=False)
        self._pool = self._make_pool()

    def _use_exec_credential(self, refresh: bool) -> bool:
        """Apply the exec plugin's credential; True when it changed the client certificate."""
        assert self.creds.exec_plugin is not None
        cred = self.creds.exec_plugin.credential(refresh=refresh)
        if cred.token:
            self._auth = {"Authorization": f"Bearer {cred.token}"}
        if cred.client_certificate and cred.client_key:
            self._cert = (data_file(cred.client_certificate.encode(), ".crt"), data_file(cred.client_key.encode(), ".key"))
            return True
        return False

    def _make_pool(self) -> Any:
        creds = self.creds
        if self.lean:
            from kuberun.api import lean

            if lean.unsupported(creds) is None:
                return lean.LeanTransport(creds, self._cert)
            self.lean = False  # e.g. a SOCKS proxy: urllib3 serves it
        import urllib3

        kwargs: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED" if creds.verify else "CERT_NONE"}
        if creds.ca_file:
            kwargs["ca_certs"] = creds.ca_file
        if self._cert[0]:
            kwargs.update(cert_file=self._cert[0], key_file=self._cert[1])
        if creds.tls_server_name:
            kwargs.update(server_hostname=creds.tls_server_name, assert_hostname=creds.tls_server_name)
        if not creds.verify:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        retries: Any = False
        if self.connect_retries:
            retries = urllib3.util.Retry(total=self.connect_retries, status=0, respect_retry_after_header=False,
                                         raise_on_status=False)
        common = {"num_pools": 4, "maxsize": self.pool_size, "retries": retries, **kwargs}
        if not creds.proxy:
            return urllib3.PoolManager(**common)
        scheme = urlsplit(creds.proxy).scheme
        if scheme.startswith("socks"):
            try:
                from urllib3.contrib.socks import SOCKSProxyManager
            except ImportError:
                raise UnreachableError(f"proxy {creds.proxy} is a SOCKS proxy: pip install 'urllib3[socks]'") from None
            return SOCKSProxyManager(creds.proxy, **common)
        if scheme not in ("http", "https"):
            raise UnreachableError(f"proxy {creds.proxy}: use an http://, https:// or socks5:// URL")
        return urllib3.ProxyManager(creds.proxy, **common)

    def request(self, method: str, path: str, op: Op, *, query: dict[str, Any] | None = None, body: Any = None,
                content_type: str = "application/json", stream: bool = False, timeout: float | None = 30.0) -> Any:
        """Send one request; returns parsed JSON (or the raw response when ``stream``)."""
        resp = self.send(method, path, query=query, body=body, content_type=content_type, stream=stream, timeout=timeout)
        if resp.status >= 400:
            raise error_for(resp.status, resp.data if not stream else resp.read(), op)
        if stream:
            return resp
        return json.loads(resp.data) if resp.data else {}

    def send(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
             content_type: str = "application/json", stream: bool = False, timeout: float | None = 30.0) -> Any:
        """The raw response (urllib3's, or ``lean.Response`` with the same ``status``, ``data``, ``stream``),
        whatever its status (for a caller with its own error types: the operator, which is never lean).
        Raises UnreachableError when no server answered."""
        resp = self._send(method, path, query, body, content_type, stream, timeout)
        if resp.status == 401 and self.creds.exec_plugin is not None:  # expired early or revoked: ask the plugin again
            if self._use_exec_credential(refresh=True):
                if self.lean:
                    self._pool.close()
                self._pool = self._make_pool()
            resp = self._send(method, path, query, body, content_type, stream, timeout)
        return resp

    def _send(self, method: str, path: str, query: dict[str, Any] | None, body: Any, content_type: str,
              stream: bool, timeout: float | None) -> Any:
        if self.creds.token_file and time.monotonic() - self._token_read_at > TOKEN_REREAD_SECONDS:
            self._reread_token()
        if self.creds.exec_plugin is not None:
            cred = self.creds.exec_plugin.credential()
            if cred.token:
                self._auth = {"Authorization": f"Bearer {cred.token}"}
        params = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.creds.server + path + ("?" + urlencode(params) if params else "")
        headers = {"Accept": "application/json", **self._auth}
        if self.user_agent:
            headers["User-Agent"] = self.user_agent
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        if self.lean:
            from kuberun.api import lean

            try:
                return self._pool.request(method, url, data, headers, stream, timeout)
            except lean.FAILURES as exc:
                raise self._unreachable(lean.reason(exc, timeout)) from None
        import urllib3

        try:
            return self._pool.request(method, url, body=data, headers=headers, preload_content=not stream,
                                      timeout=urllib3.Timeout(connect=10.0, read=timeout))
        except urllib3.exceptions.HTTPError as exc:
            raise self._unreachable(_reason(exc)) from None

    def _unreachable(self, reason: str) -> UnreachableError:
        return UnreachableError(f"cannot reach the Kubernetes API at {self.creds.server}: {reason}")

    def _reread_token(self) -> None:
        """A projected service-account token is rotated by the kubelet: read the file again (as client-go does)."""
        self._token_read_at = time.monotonic()
        try:
            token = Path(str(self.creds.token_file)).read_text().strip()
        except OSError:
            return  # keep the last token; the server says 401 if it is no longer good
        if token:
            self._auth = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, op: Op, **query: Any) -> Any:
        return self.request("GET", path, op, query=query or None)

    def bearer_token(self) -> str | None:
        """This context's bearer token (static or from its exec plugin), for services that review it
        (the operator's record server); None for client-certificate users."""
        if self.creds.exec_plugin is not None:
            cred = self.creds.exec_plugin.credential()
            if cred.token:
                return cred.token
        scheme, _, token = self._auth.get("Authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" and token else None

    def authorization(self) -> tuple[str, str] | None:
        """The ``Authorization`` header this client sends, as (scheme, credential), for a second client
        on the same identity (the operator's kopf watches); None when it authenticates by certificate."""
        token = self.bearer_token()
        if token:
            return "Bearer", token
        scheme, _, value = self._auth.get("Authorization", "").partition(" ")
        return (scheme, value) if scheme and value else None

    @property
    def client_certificate(self) -> tuple[str | None, str | None]:
        """The (certificate file, key file) this client presents, from the kubeconfig or its exec plugin."""
        return self._cert

    def stream(self, path: str, op: Op, **query: Any) -> Iterator[bytes]:
        """Chunks of a streamed body (pod logs), as they arrive: never the whole body in memory."""
        resp = self.request("GET", path, op, query=query or None, stream=True, timeout=None)
        try:
            yield from resp.stream(64 * 1024, decode_content=True)
        finally:
            resp.release_conn()


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "Connection refused" in text:
        return "connection refused"
    return text.split(": ", 1)[-1][:200]


def error_for(code: int, raw: bytes, op: Op) -> ApiError:
    """The typed error for a non-2xx answer, worded for the person who made the request."""
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {"message": raw.decode(errors="replace")[:300]}
    body = body if isinstance(body, dict) else {}
    reason = str(body.get("reason") or "")
    if code == 403:
        return forbidden(body, op.verb, op.resource, op.namespace)
    if code == 404 and op.name:
        where = f' in namespace "{op.namespace}"' if op.namespace else ""
        kind = op.resource.split(".")[0].rstrip("s")
        return ObjectNotFoundError(code, f'{kind} "{op.name}" not found{where}', reason or "NotFound")
    if code == 401:
        return UnauthorizedError(code, "unauthorized: the API server did not accept your credentials (check the kubeconfig user)",
                                 "Unauthorized")
    message = f"{op.verb} {op.resource}: {str(body.get('message') or f'HTTP {code}').splitlines()[0]}"
    if code == 404:
        return ObjectNotFoundError(code, message, reason or "NotFound")
    if code == 409 and reason == "AlreadyExists":
        return AlreadyExistsError(code, message, reason)
    if code == 409:
        return ConflictError(code, message, reason or "Conflict")
    if code == 422:
        return InvalidError(code, message, reason or "Invalid")
    return ApiError(code, message, reason)


# A real API server's 403 message: 'experiments.kuberun.dev "x" is forbidden: User "bob" cannot
# patch resource "experiments" in API group "kuberun.dev" in the namespace "ns"'.
_RBAC = re.compile(r'cannot (?P<verb>[\w-]+) resource "(?P<resource>[^"]+)"(?: in API group "(?P<group>[^"]*)")?')


def forbidden(body: dict[str, Any], verb: str, resource: str, namespace: str | None) -> ForbiddenError:
    """A ForbiddenError naming the RBAC rule to ask for, from the 403 body when it says, else from the request."""
    message = str(body.get("message") or "")
    match = _RBAC.search(message)
    if not match and message:
        # Not RBAC: an admission policy, Pod Security or a terminating namespace — its message is the reason.
        return ForbiddenError(f"forbidden: {message}", verb, resource)
    if match:
        group = match.group("group")
        verb, resource = match.group("verb"), match.group("resource") + (f".{group}" if group else "")
    where = f' in namespace "{namespace}"' if namespace else " cluster-wide"
    user = re.search(r'User "([^"]+)"', message)
    who = f'user "{user.group(1)}"' if user else "your credentials"
    text = f"forbidden: {who} may not {verb} {resource}{where}; ask for RBAC verb {verb!r} on {resource!r}"
    return ForbiddenError(text, verb, resource)


def connect(kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None, *,
            lean: bool = False) -> Kube:
    """A client for the kubeconfig context (``$KUBECONFIG``, ``~/.kube/config``, in a pod the service account).

    ``namespace`` overrides the context's; ``lean``: see ``Kube``.
    """
    kube = Kube(load_credentials(kubeconfig, context), lean=lean)
    if namespace:
        kube.namespace = namespace
    return kube
