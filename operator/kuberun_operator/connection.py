"""Credentials for both kopf (watching) and the official client (writing), from one source."""

from __future__ import annotations

from typing import Any

import kopf

from kuberun_operator.settings import Settings


def _configuration(settings: Settings) -> Any:
    from kubernetes import client, config

    cfg = client.Configuration()
    if settings.kubeconfig is None and _in_cluster():
        config.load_incluster_config(client_configuration=cfg)
    else:
        config.load_kube_config(config_file=str(settings.kubeconfig) if settings.kubeconfig else None,
                                context=settings.context, client_configuration=cfg)
    return cfg


def _in_cluster() -> bool:
    import os

    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and not os.environ.get("KUBECONFIG")


USER_AGENT = "kuberun-operator/0.1.0"


def api_client(settings: Settings) -> Any:
    from kubernetes import client

    cfg = _configuration(settings)
    # One connection per worker that may be writing at once, plus the lister and the backends: the
    # client's default (5 x CPUs) is fewer than the workers on a small machine, and a full pool
    # discards connections (a new TLS handshake per request under load).
    cfg.connection_pool_maxsize = max(cfg.connection_pool_maxsize or 0, settings.workers + 4)
    api = client.ApiClient(cfg)
    api.user_agent = USER_AGENT  # names the operator in API server audit logs
    return api


def connection_info(settings: Settings) -> kopf.ConnectionInfo:
    cfg = _configuration(settings)
    # kubernetes >= 36 keeps the token under "BearerToken" (older: "authorization"); missing it, kopf
    # connects as system:anonymous, which only an emulator that authorizes everyone lets pass.
    api_key = cfg.api_key or {}
    token = api_key.get("BearerToken") or api_key.get("authorization") or ""
    scheme, _, value = token.partition(" ")
    return kopf.ConnectionInfo(
        server=cfg.host,
        ca_path=cfg.ssl_ca_cert,
        insecure=not cfg.verify_ssl,
        certificate_path=cfg.cert_file,
        private_key_path=cfg.key_file,
        scheme=scheme or None,
        token=value or None,
        default_namespace=None,
    )
