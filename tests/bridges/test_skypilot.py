"""The SkyPilot bridge. What runs against what:

- the task the bridge builds is parsed by the REAL ``sky.Task.from_yaml_config`` (skypilot 0.14.1
  in its own venv, .ci/install-skypilot.sh; it cannot share the operator's env: click<8.2);
- the REAL SkyPilot API server (same venv, offline on 127.0.0.1) takes the bridge's launch and
  fails it for want of enabled infra, which must end as a clear reason on the task;
- the success path runs the real operator and bridge against FakeSkypilot, a faithful fake of
  the server behind the bridge's narrow client interface (no cloud can be reached from here).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import kuberun as kr
from kuberun.resource import BackendRef, ExperimentResource
from kuberun_operator.backends.cloud import remote_name
from kuberun_operator.backends.skypilot import backend as skypilot_backend
from tests.bridges.fake_skypilot import FakeSkypilot, config_file, fake
from tests.bridges.helpers import ROOT, run_in, submit, task_status, tool_python, write_config
from tests.bridges.sky_server import VENV, sky_api, sky_server
from tests.helpers.operator import get_experiment, phase, running_operator, wait_for

pytestmark = pytest.mark.usefixtures("crd")
__all__ = ["config_file", "fake", "sky_api", "sky_server"]  # fixtures
SKY = kr.SkypilotExecutor(cpus=2, memory="4+", env={"A": "1"})


def _task(executor: kr.SkypilotExecutor) -> dict[str, Any]:
    exp = kr.Experiment("sky", namespace="ns")
    exp.add(kr.Script(command=["true"]), name="t", executor=executor)
    resource, _ = exp.build()
    return skypilot_backend.build_task(resource, resource.spec.tasks[0], 1, BackendRef(backend="skypilot",
                                                                                       idempotency_key="uid-t-1"))


# -- the real sky.Task ---------------------------------------------------------------------------------


@pytest.mark.parametrize("executor, expected", [
    (kr.SkypilotExecutor(infra="aws/us-east-1", accelerators="H100:8", num_nodes=2, use_spot=True, disk_size=200),
     {"cloud": "AWS", "region": "us-east-1", "accelerators": {"H100": 8}, "use_spot": True, "num_nodes": 2}),
    (kr.SkypilotExecutor(cloud="gcp", region="us-central1", cpus=8, memory="32+", image="docker:pytorch/pytorch"),
     {"cloud": "GCP", "region": "us-central1", "cpus": "8", "memory": "32+", "num_nodes": 1}),
    (kr.SkypilotExecutor(infra="k8s", accelerators="A100:1", setup=["source /opt/venv/bin/activate"]),
     {"cloud": "Kubernetes", "accelerators": {"A100": 1}, "num_nodes": 1}),
])
def test_real_sky_task_parses_the_task_the_bridge_builds(executor, expected, tmp_path):
    python = tool_python(VENV, ".ci/install-skypilot.sh")
    done = run_in(python, """
        import json, os, sky
        config = json.loads(os.environ["TASK"])
        task = sky.Task.from_yaml_config(config)
        again = sky.Task.from_yaml_config(task.to_yaml_config())   # the round trip
        (r,) = list(task.resources)
        print(json.dumps({"name": task.name, "num_nodes": task.num_nodes, "envs": sorted(task.envs),
                          "cloud": str(r.cloud) if r.cloud else None, "region": r.region,
                          "accelerators": r.accelerators, "use_spot": r.use_spot, "cpus": r.cpus,
                          "memory": r.memory, "image": r.image_id, "run": task.run, "setup": task.setup,
                          "again": [again.name, again.num_nodes, sorted(again.envs), again.run == task.run]}))
    """, TASK=json.dumps(_task(executor)), HOME=str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert {k: got[k] for k in expected} == expected
    assert got["name"] == remote_name("uid-t-1") and "KUBERUN_TASK_B64" in got["envs"]
    assert "kuberun.runner --config-env KUBERUN_TASK_B64" in got["run"] and "import kuberun.runner" in got["setup"]
    assert got["again"] == [got["name"], got["num_nodes"], got["envs"], True]


def test_real_sky_task_takes_instance_type_ports_mounts_and_autostop(tmp_path):
    executor = kr.SkypilotExecutor(infra="k8s", instance_type="4CPU--16GB", ports=[8080, "10000-10010"],
                                   file_mounts={"/data": "s3://team-a-data/shards"},
                                   storage_mounts={"/ckpt": {"source": "gs://team-a-ckpt", "mode": "MOUNT"}},
                                   mode="cluster", cluster_name="team-a-dev", idle_minutes_to_autostop=30, autodown=True)
    python = tool_python(VENV, ".ci/install-skypilot.sh")
    done = run_in(python, """
        import json, os, sky
        task = sky.Task.from_yaml_config(json.loads(os.environ["TASK"]))
        (r,) = list(task.resources)
        stop = r.autostop_config
        print(json.dumps({"instance_type": r.instance_type, "ports": r.ports, "file_mounts": task.file_mounts,
                          "storage": {p: [s.source, str(s.mode.value)] for p, s in task.storage_mounts.items()},
                          "autostop": [stop.enabled, stop.idle_minutes, stop.down]}))
    """, TASK=json.dumps(_task(executor)), HOME=str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got == {"instance_type": "4CPU--16GB", "ports": ["8080", "10000-10010"],
                   "file_mounts": {"/data": "s3://team-a-data/shards"}, "storage": {"/ckpt": ["gs://team-a-ckpt", "MOUNT"]},
                   "autostop": [True, 30, True]}


# -- the real API server --------------------------------------------------------------------------------


def test_real_server_launch_without_enabled_infra_fails_the_task_as_no_infra_available(
        sky_server, tmp_path, kubeconfig, k8s_api_client, namespace):
    config = write_config(tmp_path / "backends.yaml", {"skypilot": {"endpoint": sky_server, "pollIntervalSeconds": 0.3,
                                                                     "allowedNamespaces": ["*"], "allowedClusters": ["*"]}})
    with running_operator(kubeconfig, config_file=config):
        name = submit(kubeconfig, namespace, SKY)
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Failed", timeout=60, what="Failed")
    task = task_status(k8s_api_client, namespace, name)
    assert task["reason"] == "NoInfraAvailable", task
    assert "NoCloudAccessError" in task["message"] and "sky check" in task["message"]
    (attempt,) = task["attempts"]
    assert attempt["backendRef"]["id"] and attempt["logRef"]["path"].startswith("managed/kr-")


def test_real_server_queue_and_cancel_of_unknown_jobs_are_not_errors(sky_server):
    import asyncio

    import aiohttp

    from kuberun_operator.backends.skypilot.client import SkypilotClient

    async def talk() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            client = SkypilotClient(sky_server, None, session)
            await client.cancel_managed("kr-nothing")
            return await client.managed_jobs()

    assert asyncio.run(talk()) == []


def test_real_sky_task_runs_torchrun_with_the_fault_tolerance_restarts_across_nodes(tmp_path):
    python = tool_python(VENV, ".ci/install-skypilot.sh")
    built = _task(kr.SkypilotExecutor(num_nodes=2, launcher=kr.FaultTolerance(max_restarts=3)))
    done = run_in(python, """
        import json, os, sky
        print(json.dumps(sky.Task.from_yaml_config(json.loads(os.environ["TASK"])).run))
    """, TASK=json.dumps(built), HOME=str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads(done.stdout.strip().splitlines()[-1])
    assert '"${SKYPILOT_NUM_GPUS_PER_NODE:-1}" --max-restarts 3 -m kuberun.runner' in run
    assert "--max-restarts" not in _task(SKY)["run"]  # no FaultTolerance: torchrun's default


# -- the success path against the faithful fake -------------------------------------------------------------



def _launched(fake: FakeSkypilot) -> dict[str, Any]:
    (task,) = wait_for(lambda: list(fake.launched), what="a launch")
    return task


def test_managed_job_runs_to_success_and_status_records_request_and_job(fake, config_file, kubeconfig, k8s_api_client, namespace):
    with running_operator(kubeconfig, config_file=config_file):
        name = submit(kubeconfig, namespace, SKY)
        task = _launched(fake)
        time.sleep(0.5)  # provisioning: the request is running, no job yet — nothing is launched twice
        fake.finish_provisioning()
        fake.set_status(task["name"], "RUNNING")
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Running", what="Running")
        fake.set_status(task["name"], "SUCCEEDED")
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", what="Succeeded")
    (attempt,) = task_status(k8s_api_client, namespace, name)["attempts"]
    uid = get_experiment(k8s_api_client, namespace, name)["metadata"]["uid"]
    assert task["name"] == remote_name(f"{uid}-t-1") and len(fake.launched) == 1
    # The launch request's id is recorded first; once the job is queued, the job id replaces it.
    assert attempt["backendRef"]["id"] == "job:1" and attempt["logRef"]["path"] == f"managed/{task['name']}/1"
    assert task["resources"] == {"cpus": "2", "memory": "4+"} and task["envs"]["A"] == "1"


def test_failed_setup_and_preemption_recovery_map_to_reasons(fake, config_file, kubeconfig, k8s_api_client, namespace):
    with running_operator(kubeconfig, config_file=config_file):
        name = submit(kubeconfig, namespace, SKY)
        task = _launched(fake)
        fake.finish_provisioning()
        fake.set_status(task["name"], "RECOVERING")  # a preempted spot VM: still running, SkyPilot recovers it
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Running", what="Running while recovering")
        fake.set_status(task["name"], "FAILED_SETUP", failure_reason="pip install failed")
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Failed", what="Failed")
    status = task_status(k8s_api_client, namespace, name)
    assert (status["reason"], status["message"]) == ("SetupFailed", "pip install failed")


def test_terminate_cancels_the_managed_job(fake, config_file, kubeconfig, k8s_api_client, namespace):
    from kubernetes import client

    with running_operator(kubeconfig, config_file=config_file):
        name = submit(kubeconfig, namespace, SKY)
        task = _launched(fake)
        fake.finish_provisioning()
        fake.set_status(task["name"], "RUNNING")
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Running")
        client.CustomObjectsApi(k8s_api_client).patch_namespaced_custom_object(
            "kuberun.dev", "v1alpha1", namespace, "experiments", name, {"spec": {"shutdown": "Terminate"}})
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Cancelled", what="Cancelled")
    assert fake.cancelled == [task["name"]] and fake.jobs[0]["status"] == "CANCELLED"


def test_restart_while_provisioning_and_running_launches_once(fake, config_file, kubeconfig, k8s_api_client, namespace):
    with running_operator(kubeconfig, config_file=config_file):
        name = submit(kubeconfig, namespace, SKY)
        task = _launched(fake)
        wait_for(lambda: task_status(k8s_api_client, namespace, name).get("attempts", [{}])[0]
                 .get("backendRef", {}).get("id"), what="the request id recorded")
    with running_operator(kubeconfig, config_file=config_file):
        time.sleep(0.6)  # several polls while the launch request is still provisioning
        fake.finish_provisioning()
        fake.set_status(task["name"], "SUCCEEDED")
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded")
    assert len(fake.launched) == 1


def test_launch_rejected_for_capacity_fails_with_capacity_unavailable(fake, config_file, kubeconfig, k8s_api_client, namespace):
    fake.launch_error = ("ResourcesUnavailableError", "Failed to acquire resources in all zones")
    with running_operator(kubeconfig, config_file=config_file):
        name = submit(kubeconfig, namespace, SKY)
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Failed", what="Failed")
    assert task_status(k8s_api_client, namespace, name)["reason"] == "CapacityUnavailable"


def test_logs_follow_the_managed_job_by_name(fake):
    import asyncio

    from kuberun_operator.backend_config import SkypilotConfig
    from kuberun_operator.settings import Settings

    exp = ExperimentResource.model_validate({"metadata": {"namespace": "ns", "name": "e", "uid": "uid"}, "spec": {"title": "t", "tasks": [
        {"name": "t", "script": {"command": ["true"]}, "executor": {"skypilot": {}}}]}})
    fake.logs_text[remote_name("uid-t-1")] = "one\ntwo\nthree\n"  # the name derives from UID, task and attempt
    backend = skypilot_backend.SkypilotBackend(SkypilotConfig(endpoint="http://127.0.0.1:9"), Settings(), api=fake)

    async def read(tail: int | None) -> bytes:
        return b"".join([c async for c in backend.logs(exp, "t", 1, follow=False, tail=tail)])

    assert asyncio.run(read(None)) == b"one\ntwo\nthree\n" and asyncio.run(read(2)) == b"two\nthree\n"


# -- the operator's memory with the bridge on ------------------------------------------------------------------

_RSS = """
import json, sys, threading, time
from pathlib import Path
from tests.helpers.operator import running_operator
kwargs = {"config_file": Path(sys.argv[2])} if sys.argv[2] != "-" else {}
with running_operator(Path(sys.argv[1]), **kwargs):
    time.sleep(1.0)
    rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS"))
    print(json.dumps({"rss_kib": rss, "sky": any(m == "sky" or m.startswith("sky.") for m in sys.modules),
                      "bridge": "kuberun_operator.backends.skypilot" in sys.modules}))
"""


def test_skypilot_bridge_keeps_sky_out_of_the_operator_and_barely_moves_its_rss(kubeconfig, config_file):
    def measure(config: str) -> dict[str, Any]:
        done = subprocess.run([sys.executable, "-c", _RSS, str(kubeconfig), config], capture_output=True, text=True,
                              timeout=120, cwd=ROOT)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    without, with_bridge = measure("-"), measure(str(config_file))
    print(f"operator RSS: without SkyPilot bridge {without['rss_kib']} KiB, with {with_bridge['rss_kib']} KiB")
    assert with_bridge["bridge"] and not with_bridge["sky"] and not without["sky"]
    assert with_bridge["rss_kib"] - without["rss_kib"] < 10 * 1024, (without, with_bridge)


def test_a_managed_job_s_result_metrics_and_series_come_back_through_its_prefixed_log(fake, config_file, kubeconfig,
                                                                                       k8s_api_client, namespace, tmp_path):
    """SkyPilot serves only the job's log, each line prefixed: the real runner, run with the task's own envs,
    prints its series and summary as marks; status gets the summary from the log's tail, the log copy the series."""
    import urllib.parse

    from kuberun.resource import results
    from tests.bridges.helpers import runner_output
    from tests.fixtures import tasks

    with running_operator(kubeconfig, config_file=config_file, log_store_url=str(tmp_path / "logs")):
        name = submit(kubeconfig, namespace, SKY, kr.Partial(tasks.report, steps=3, result=[1, "two"]), retries=0)
        task = _launched(fake)
        assert task["envs"][results.LOG_MARKS_ENV] == "1"
        fake.logs_text[task["name"]] = runner_output({k: str(v) for k, v in task["envs"].items()},
                                                     prefix="(sky-cmd, pid=4242) ")
        fake.finish_provisioning()
        fake.set_status(task["name"], "SUCCEEDED")
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", what="Succeeded")
        attempt = wait_for(lambda: (a := task_status(k8s_api_client, namespace, name)["attempts"][0]).get("archivedLog") and a,
                           what="the archived log")
    assert json.loads(attempt["result"]) == [1, "two"] and attempt["metrics"]["loss"]["step"] == 2
    series = Path(urllib.parse.urlsplit(attempt["archivedLog"]["url"]).path).parent / results.METRICS_FILE
    assert sorted(json.loads(line)["name"] for line in series.read_text().splitlines()) == \
        ["acc"] * 3 + ["diverged"] + ["loss"] * 3


def test_a_managed_job_s_in_job_restarts_reach_the_record_when_they_run_out(fake, config_file, kubeconfig, k8s_api_client,
                                                                            namespace):
    """kr.FaultTolerance on one node: the runner restarts the failing task in the job up to max_restarts,
    then the job fails; the last generation's summary (in the prefixed log) records both restarts."""
    from tests.bridges.helpers import runner_output
    from tests.fixtures import tasks

    with running_operator(kubeconfig, config_file=config_file):
        name = submit(kubeconfig, namespace, kr.SkypilotExecutor(cpus=2, launcher=kr.FaultTolerance(max_restarts=2)),
                      kr.Partial(tasks.fail_until_restart, restarts=5), retries=0)
        task = _launched(fake)
        log = fake.logs_text[task["name"]] = runner_output({k: str(v) for k, v in task["envs"].items()},
                                                           prefix="(sky-cmd, pid=4242) ")
        assert [f"generation {g}" in log for g in range(4)] == [True, True, True, False]
        assert "failed after 2 in-job restart(s)" in log
        fake.finish_provisioning()
        fake.set_status(task["name"], "FAILED")
        wait_for(lambda: phase(k8s_api_client, namespace, name) == "Failed", what="Failed")
        attempts = wait_for(lambda: (a := task_status(k8s_api_client, namespace, name)["attempts"]) and "restarts" in a[0] and a,
                            what="the restart count in the attempt's status")
    assert len(attempts) == 1 and attempts[0]["restarts"] == 2
