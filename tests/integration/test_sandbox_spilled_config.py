"""A task whose config is too big to inline (> 128 KiB, spilled to ConfigMaps) runs in the sandbox.

Its task document names the chunks by their in-container paths (``/etc/kuberun/config/<i>/config``);
the sandbox node has no containers and must map those paths to where it materialised the volumes.
"""

from __future__ import annotations

import os
import pathlib
import random
import string

import pytest
from kubernetes import config

import kuberun as kr
from kuberun_sandbox import Sandbox
from tests.fixtures import tasks
from tests.helpers.operator import get_experiment, wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_an_experiment_with_a_spilled_config_runs_to_succeeded(tmp_path: pathlib.Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # The pod's process is this interpreter: it must import tests.fixtures.tasks as the test does.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    rng = random.Random(7)
    blob = "".join(rng.choice(string.ascii_letters) for _ in range(300 * 1024))
    with Sandbox(data_dir=tmp_path, operator=True) as sb:
        assert sb.operator_running, sb.operator_error
        exp = kr.Experiment("spilled")
        exp.add(kr.Partial(tasks.take_blob, blob=blob), name="big")
        name = exp.run(kubeconfig=str(sb.kubeconfig))["metadata"]["name"]
        with config.new_client_from_config(config_file=str(sb.kubeconfig)) as api:
            refs = get_experiment(api, "default", name)["spec"]["tasks"][0]["fiddle"].get("configMapRefs") or []
            assert refs, "the config was not spilled: this test would prove nothing"

            def finished() -> str | None:
                phase = (get_experiment(api, "default", name).get("status") or {}).get("phase")
                return phase if phase in ("Succeeded", "Failed") else None

            phase = wait_for(finished, timeout=90, what="the spilled-config experiment to finish")
            status = get_experiment(api, "default", name).get("status")
        assert phase == "Succeeded", status
