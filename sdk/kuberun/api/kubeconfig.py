"""Read a kubeconfig the way kubectl does: merged files, a context, and how to reach and trust the server.

Kubeconfig handling is where hand-written clients break on real clusters, so this module covers what
kubectl users bring: several files in ``$KUBECONFIG`` (the first occurrence of a name wins), tokens
and token files, basic auth, client certificates (files or inline data), CA bundles,
``insecure-skip-tls-verify``, ``tls-server-name``, ``proxy-url`` and the ``*_PROXY`` variables,
exec credential plugins (``execplugin.py``: EKS, GKE, kubelogin OIDC) and the pod's service account.
The legacy ``auth-provider`` stanza is handed to the ``kubernetes`` package's loader, which knows its
providers. ``bench/client_choice.py`` says why this is not lightkube.
"""

from __future__ import annotations

import base64
import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kuberun.errors import UnreachableError

if TYPE_CHECKING:
    from kuberun.api.execplugin import ExecPlugin

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class Credentials:
    """Where the API server is, how to trust it and how to authenticate to it.

    A plain class, not a dataclass: ``dataclasses`` loads ``inspect``, ~10 ms of every read command's
    start-up. Its repr names no header: they carry tokens.
    """

    def __init__(self, server: str, namespace: str = "default", user: str | None = None,
                 headers: dict[str, str] | None = None, ca_file: str | None = None, cert_file: str | None = None,
                 key_file: str | None = None, verify: bool = True, tls_server_name: str | None = None,
                 proxy: str | None = None, exec_plugin: ExecPlugin | None = None, token_file: str | None = None) -> None:
        self.server, self.namespace, self.user = server, namespace, user
        self.headers: dict[str, str] = dict(headers or {})
        self.ca_file, self.cert_file, self.key_file, self.verify = ca_file, cert_file, key_file, verify
        self.tls_server_name, self.proxy, self.exec_plugin = tls_server_name, proxy, exec_plugin
        self.token_file = token_file  # re-read now and then (a rotated service-account token); None: headers are fixed

    def __repr__(self) -> str:
        return f"Credentials(server={self.server!r}, user={self.user!r}, namespace={self.namespace!r})"

    def replace(self, **changes: Any) -> Credentials:
        """A copy with ``changes`` (as ``dataclasses.replace``); an unknown field is a TypeError."""
        fields = dict(vars(self))
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"Credentials has no field {', '.join(sorted(unknown))}")
        return Credentials(**{**fields, **changes})


def data_file(data: bytes, suffix: str) -> str:
    """urllib3 takes certificates and keys as files: write inline data to a private one, removed at exit."""
    import atexit
    import tempfile

    fd, name = tempfile.mkstemp(prefix="kuberun-", suffix=suffix)  # mode 0600
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    atexit.register(_remove, name)
    return name


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _file_or_data(entry: dict[str, Any], key: str, base: Path, suffix: str) -> str | None:
    if entry.get(f"{key}-data"):
        return data_file(base64.b64decode(entry[f"{key}-data"]), suffix)
    if entry.get(key):
        return str((base / entry[key]).expanduser())
    return None


def _named(items: list[dict[str, Any]] | None, name: str | None) -> dict[str, Any]:
    return next((i for i in items or [] if i.get("name") == name), {})


def _merged_config(paths: list[Path]) -> dict[str, Any]:
    """``$KUBECONFIG`` may list several files: the first occurrence of each name wins, as in kubectl.

    Each entry remembers its file's directory, against which its relative paths resolve.
    """
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": [], "current-context": None}
    for path in paths:
        if not path.is_file():
            continue
        text = path.read_text()
        doc = _parse(text) or {}
        merged["current-context"] = merged["current-context"] or doc.get("current-context")
        for key in ("clusters", "users", "contexts"):
            known = {i.get("name") for i in merged[key]}
            merged[key] += [{**i, "_base": path.parent} for i in doc.get(key) or [] if i.get("name") not in known]
    return merged


def _parse(text: str) -> Any:
    """A kubeconfig document: JSON (a YAML subset) by ``json``, any other YAML by PyYAML's C loader when built."""
    if text.lstrip().startswith("{"):
        import json

        try:
            return json.loads(text)
        except ValueError:
            pass  # YAML's flow style: PyYAML reads it
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_credentials(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    """Credentials from ``kubeconfig`` (or ``$KUBECONFIG``, ``~/.kube/config``, the pod's service account)."""
    spec = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    paths = [Path(p).expanduser() for p in spec.split(os.pathsep) if p]
    conf = _merged_config(paths)
    if not conf["contexts"]:
        if not kubeconfig and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return in_cluster()
        raise UnreachableError(f"no cluster configured: no kubeconfig at {spec} (use --kubeconfig or --context)")
    ctx_name = context or conf.get("current-context")
    ctx_entry = _named(conf["contexts"], ctx_name)
    if not ctx_entry:
        raise UnreachableError(f"context {ctx_name!r} not found in {spec}")
    ctx = ctx_entry.get("context") or {}
    cluster_entry, user_entry = _named(conf["clusters"], ctx.get("cluster")), _named(conf["users"], ctx.get("user"))
    if not cluster_entry:
        raise UnreachableError(f"context {ctx_name!r} names cluster {ctx.get('cluster')!r}, which {spec} does not define")
    cluster, user = cluster_entry.get("cluster") or {}, user_entry.get("user") or {}
    if user.get("auth-provider"):
        creds = _from_kubernetes_loader(str(paths[0]), ctx_name)
    else:
        creds = _static_credentials(cluster, user, cluster_entry["_base"], user_entry.get("_base") or cluster_entry["_base"])
    creds.namespace, creds.user = ctx.get("namespace") or "default", ctx.get("user")
    return creds


def _static_credentials(cluster: dict[str, Any], user: dict[str, Any], cluster_base: Path, user_base: Path) -> Credentials:
    headers: dict[str, str] = {}
    token = user.get("token") or ((user_base / user["tokenFile"]).read_text().strip() if user.get("tokenFile") else None)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif user.get("username"):
        basic = base64.b64encode(f"{user['username']}:{user.get('password', '')}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
    server = str(cluster.get("server", "")).rstrip("/")
    if not server:
        raise UnreachableError("the kubeconfig's cluster has no server")
    plugin = None
    if user.get("exec"):
        from kuberun.api.execplugin import ExecPlugin  # its dataclasses and datetime: for plugin users only

        plugin = ExecPlugin.from_kubeconfig(user["exec"], user_base, cluster if user["exec"].get("provideClusterInfo") else None)
    return Credentials(
        server=server,
        headers=headers,
        ca_file=_file_or_data(cluster, "certificate-authority", cluster_base, ".crt"),
        cert_file=_file_or_data(user, "client-certificate", user_base, ".crt"),
        key_file=_file_or_data(user, "client-key", user_base, ".key"),
        verify=not cluster.get("insecure-skip-tls-verify", False),
        tls_server_name=cluster.get("tls-server-name"),
        proxy=cluster.get("proxy-url") or proxy_from_environment(server),
        exec_plugin=plugin,
    )


def proxy_from_environment(server: str) -> str | None:
    """``HTTPS_PROXY``/``HTTP_PROXY`` for ``server`` unless ``NO_PROXY`` or loopback exempts it (as Go's client does)."""
    parts = urlsplit(server)
    host = parts.hostname or ""
    if host in ("localhost", "::1") or host.startswith("127."):
        return None
    if not any(key.lower().endswith("_proxy") for key in os.environ):
        return None  # all the standard library would read; spares every CLI command importing urllib.request
    from urllib.request import getproxies_environment, proxy_bypass_environment

    proxies = getproxies_environment()
    proxy = proxies.get(parts.scheme or "https")
    if not proxy or proxy_bypass_environment(host, proxies):
        return None
    return proxy


def _from_kubernetes_loader(path: str, context: str | None) -> Credentials:
    """Legacy ``auth-provider`` users (oidc, gcp, azure): the ``kubernetes`` package produces the token."""
    try:
        from kubernetes import client, config
    except ImportError:
        raise UnreachableError("this kubeconfig uses an auth-provider, which needs the kubernetes package "
                               "(pip install kubernetes) or an exec credential plugin instead") from None
    cfg = client.Configuration()
    try:
        config.load_kube_config(config_file=path, context=context, client_configuration=cfg)
    except Exception as exc:  # the providers raise whatever their libraries raise
        raise UnreachableError(f"the kubeconfig's auth-provider failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    token = cfg.api_key.get("authorization") or cfg.api_key.get("BearerToken")
    headers = {"Authorization": token if token and token.startswith("Bearer") else f"Bearer {token}"} if token else {}
    return Credentials(server=cfg.host, headers=headers, ca_file=cfg.ssl_ca_cert, cert_file=cfg.cert_file,
                       key_file=cfg.key_file, verify=cfg.verify_ssl, proxy=cfg.proxy or proxy_from_environment(cfg.host))


def in_cluster(account_dir: Path = SERVICE_ACCOUNT_DIR) -> Credentials:
    """The pod's service account: its token, namespace and the cluster CA."""
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    token = (account_dir / "token").read_text().strip()
    namespace = (account_dir / "namespace").read_text().strip() if (account_dir / "namespace").exists() else "default"
    host = f"[{host}]" if ":" in host else host
    return Credentials(server=f"https://{host}:{port}", namespace=namespace, user="serviceaccount",
                       headers={"Authorization": f"Bearer {token}"}, ca_file=str(account_dir / "ca.crt"),
                       token_file=str(account_dir / "token"))
