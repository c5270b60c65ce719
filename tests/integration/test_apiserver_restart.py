"""The sandbox API server can be restarted on its port at once, and still refuses a port that is taken.

A restart used to fail for about a minute with "port already in use" while nothing listened: the server
closes its clients' connections on stop, those sockets sit in TIME_WAIT, and the listening socket was
bound without SO_REUSEADDR (which on Linux still refuses a port somebody listens on).
"""

from __future__ import annotations

import pytest

from kuberun_sandbox.apiserver import ApiServer, ServerStartError
from tests.helpers.auth import admin_session

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_restart_on_the_same_port_right_after_serving_clients() -> None:
    first = ApiServer()
    await first.start()
    port = first.port
    # Keep-alive connections that the server, not the client, closes on stop: TIME_WAIT on the server's port.
    async with admin_session(first) as http:
        for _ in range(3):
            assert (await http.get("/api/v1/namespaces")).status == 200
        await first.stop()
    second = ApiServer()
    try:
        await second.start(port=port)
        async with admin_session(second) as http:
            assert (await http.get("/api/v1/namespaces")).status == 200
    finally:
        await second.stop()


async def test_a_port_somebody_listens_on_is_still_refused() -> None:
    first = ApiServer()
    await first.start()
    try:
        with pytest.raises(ServerStartError, match="port already in use"):
            await ApiServer().start(port=first.port)
    finally:
        await first.stop()
