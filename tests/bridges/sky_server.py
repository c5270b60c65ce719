"""The real SkyPilot API server (skypilot 0.14.1 in its own venv), started offline on 127.0.0.1 for bridge tests.

Shared by the bridge's tests (``test_skypilot.py``, ``test_skypilot_code.py``): ``sky_api`` yields
the URL and the server's HOME (where it keeps uploaded file mounts), ``sky_server`` the URL.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.bridges.helpers import tool_python
from tests.helpers.operator import wait_for

VENV = "skypilot-venv-0.14.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def sky_api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(URL, HOME) of a real SkyPilot API server, offline on 127.0.0.1; stopped with every worker at the end."""
    python = tool_python(VENV, ".ci/install-skypilot.sh")
    home, port = tmp_path_factory.mktemp("skyhome"), _free_port()
    # SKYPILOT_API_SERVER_LOCAL_PORT moves the server's internal queue port (50011 by default) with it, so two
    # servers on one machine (parallel suites) do not collide (sky/server/requests/queues/mp_queue.py).
    env = {**os.environ, "HOME": str(home), "SKYPILOT_DISABLE_USAGE_COLLECTION": "1",
           "SKYPILOT_API_SERVER_LOCAL_PORT": str(port)}
    log = open(home / "server.log", "wb")  # noqa: SIM115 - closed below, after the server stops
    proc = subprocess.Popen([str(python), "-m", "sky.server.server", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=home)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(url) or proc.poll() is not None, timeout=90, what="the SkyPilot API server")
        if proc.poll() is not None:
            pytest.fail(f"SkyPilot API server exited: {(home / 'server.log').read_text()[-2000:]}")
        yield url, home
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group: it and its workers
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
        # Its executor workers outlive a SIGTERM'd server (they were seen running hours after the suite):
        # whatever is left of the group goes too, and the suite checks that nothing is.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(20)
        log.close()
        deadline = time.monotonic() + 10
        while (left := _group_members(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"SkyPilot processes left after the suite: {left}"


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=2) as resp:
            return json.loads(resp.read()).get("status") == "healthy"
    except OSError:
        return False


@pytest.fixture(scope="module")
def sky_server(sky_api: tuple[str, Path]) -> str:
    return sky_api[0]
