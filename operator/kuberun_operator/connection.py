"""Credentials for both kopf (watching) and the operator's client (writing), from one source.

The client is the SDK's own (``kuberun.api``): JSON over urllib3, plain dicts. Not the ``kubernetes``
package: importing it cost the operator ~50 MB of RSS (every model class) for calls that never
used the models (docs/scale.md; ``tests/unit/operator/test_imports.py`` guards it).
"""

from __future__ import annotations

import os

import kopf

from kuberun.api import Credentials, Kube, load_credentials
from kuberun.api.kubeconfig import in_cluster
from kuberun_operator.settings import Settings

USER_AGENT = "kuberun-operator/0.1.0"


def _credentials(settings: Settings) -> Credentials:
    if settings.kubeconfig is None and _in_cluster():
        return in_cluster()
    return load_credentials(str(settings.kubeconfig) if settings.kubeconfig else None, settings.context)


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and not os.environ.get("KUBECONFIG")


def api_client(settings: Settings, user_agent: str = USER_AGENT) -> Kube:
    # One pooled connection per thread that can call at once (Controller.start's pool: workers * 2 + 4).
    # Failed connections are retried by urllib3 (3 times); answers with a status are ratelimit.py's to retry.
    return Kube(_credentials(settings), pool_size=settings.workers * 2 + 4, connect_retries=3, user_agent=user_agent)


def connection_info(settings: Settings) -> kopf.ConnectionInfo:
    kube = Kube(_credentials(settings))  # runs an exec plugin, if the context has one, for its token
    creds, (scheme, value) = kube.creds, kube.authorization() or ("", "")
    cert, key = kube.client_certificate
    # Missing a credential kopf connects as system:anonymous, which only an emulator that authorizes everyone lets pass.
    return kopf.ConnectionInfo(
        server=creds.server,
        ca_path=creds.ca_file,
        insecure=not creds.verify,
        certificate_path=cert,
        private_key_path=key,
        scheme=scheme or None,
        token=value or None,
        default_namespace=None,
    )

