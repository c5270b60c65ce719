"""Credentials for tests that speak HTTP to an ``ApiServer`` directly (not through a kubeconfig)."""

from __future__ import annotations

import ssl
from typing import Any


def admin_headers(server: Any, name: str = "test-admin") -> dict[str, str]:
    """An ``Authorization`` header for a new ``system:masters`` user of ``server``."""
    return {"Authorization": f"Bearer {server.auth.mint(name, ('system:masters',))}"}


def client_ssl(server: Any) -> ssl.SSLContext | bool:
    """A TLS context that trusts ``server``'s own CA (True: default verification, for http)."""
    return ssl.create_default_context(cadata=server.auth.ca_pem) if server.auth.ca_pem else True


def admin_session(server: Any, **kwargs: Any) -> Any:
    """An ``aiohttp.ClientSession`` on ``server.url`` as an administrator, verifying its certificate."""
    import aiohttp

    return aiohttp.ClientSession(server.url, headers=admin_headers(server),
                                 connector=aiohttp.TCPConnector(ssl=client_ssl(server)), **kwargs)
