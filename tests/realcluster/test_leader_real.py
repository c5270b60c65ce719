"""Leader election with real task processes, on the emulator and on a real control plane (real Leases,
real Job controller): the leader is SIGKILLed while its task runs; the standby finishes the run."""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import kuberun as kr
from tests.helpers.jobs import list_jobs
from tests.helpers.operator import phase, wait_for
from tests.helpers.operator_process import operator_process
from tests.integration.test_leader_election import LEASE_ARGS, holder
from tests.realcluster.plugin import CONTROL_PLANES, binaries_missing


@pytest.fixture(scope="module", params=CONTROL_PLANES)
def sandbox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if request.param == "real" and (reason := binaries_missing()) is not None:
        pytest.skip(reason)
    from kuberun_sandbox import Sandbox

    with Sandbox(data_dir=tmp_path_factory.mktemp("sandbox"), operator=False, control_plane=request.param) as sb:
        yield sb


def _waits_for(go: pathlib.Path, started: pathlib.Path) -> kr.Script:
    code = (f"import pathlib, time; pathlib.Path({str(started)!r}).write_text('x'); d = time.monotonic() + 60\n"
            f"while not pathlib.Path({str(go)!r}).exists() and time.monotonic() < d: time.sleep(0.05)")
    return kr.Script(command=["python", "-c", code])


def test_standby_finishes_the_run_of_a_killed_leader(sandbox: Any, tmp_path: pathlib.Path) -> None:
    from kubernetes import client, config

    with config.new_client_from_config(config_file=str(sandbox.kubeconfig)) as api:
        ns = f"lead-{uuid.uuid4().hex[:6]}"
        client.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
        args = [*LEASE_ARGS, "--lease-namespace", ns]
        go, started = tmp_path / "go", tmp_path / "started"
        with operator_process(sandbox.kubeconfig, tmp_path / "a.log", *args, "--identity", "real-a") as a:
            wait_for(lambda: holder(api, ns) == "real-a", 60, "real-a to lead")
            with operator_process(sandbox.kubeconfig, tmp_path / "b.log", *args, "--identity", "real-b"):
                exp = kr.Experiment("lead", namespace=ns)
                exp.add(_waits_for(go, started), name="t")
                name = exp.run(kubeconfig=str(sandbox.kubeconfig))["metadata"]["name"]
                wait_for(started.exists, 90, "the task to start")
                a.kill()
                a.wait(10)
                go.write_text("go")
                wait_for(lambda: phase(api, ns, name) == "Succeeded", 90, "the standby to finish the run")
                assert holder(api, ns) == "real-b"
        assert [j["metadata"]["name"] for j in list_jobs(api, ns, f"kuberun.dev/experiment={name}")] == [f"{name}-t-1"]
