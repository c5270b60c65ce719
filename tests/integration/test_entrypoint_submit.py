"""``run_entrypoint`` submits through the real create path: an Experiment in the sandbox API server.

No operator runs here: the test proves what the command line stored (title, executor, a config that
decodes to the resolved recipe), which is what every backend then reads.
"""

from __future__ import annotations

import io

import fiddle as fdl
import pytest

from kuberun import entrypoints as cli
from tests.unit.sdk.recipe import Model, train


def test_command_line_creates_the_experiment_it_resolved(kubeconfig, namespace, k8s_api_client, crd):
    from kubernetes import client

    import kuberun as kr

    out, err = io.StringIO(), io.StringIO()
    argv = ["model=large_model", "model.depth=5", "optim.lr=3e-4", "steps*=2", "--executor", "gpu(gpus=2)",
            "-n", "cli-submit", "-y", "--detach"]
    code = cli.run_entrypoint(argv, train, out=out, err=err, kubeconfig=str(kubeconfig), namespace=namespace)
    assert (code, err.getvalue()) == (0, ""), err.getvalue()
    name = out.getvalue().split()[1].split("/")[1]
    stored = client.CustomObjectsApi(k8s_api_client).get_namespaced_custom_object(
        "kuberun.dev", "v1alpha1", namespace, "experiments", name)
    assert stored["spec"]["title"] == "cli-submit"
    assert stored["spec"]["tasks"][0]["executor"] == {"kubernetes": {"gpus": 2}}
    task = kr.Experiment.from_resource(stored).tasks["train"].config
    assert fdl.build(task).keywords["model"] == Model(depth=5, width=1024)
    assert fdl.build(task)() == pytest.approx(5 * 20 * 3e-4)
