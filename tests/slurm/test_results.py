"""Results and metrics of a task on a real Slurm reach the record: the runner's ``summary.json`` in the
attempt directory, read back by the operator over the same SSH connection when the job ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.operator import final_phase, get_experiment, running_operator, wait_for

from .bridge import attempts, create_experiment, slurm_task

pytestmark = pytest.mark.usefixtures("crd")
STORE = Path("/nonexistent")  # the operator's log store directory, set by the fixture


@pytest.fixture(scope="module")
def operator(kubeconfig: Path, crd: None, slurm_config_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    global STORE
    store = STORE = tmp_path_factory.mktemp("logstore")
    with running_operator(kubeconfig, config_file=slurm_config_file, log_store_url=str(store)) as metrics:
        yield metrics


REPORT = """
for step in 1 2 3; do
  echo "{\\"name\\": \\"loss\\", \\"step\\": $step, \\"value\\": 0.$((10 - step))}" >> "$KUBERUN_METRICS_FILE"
done
echo '{"name": "acc", "step": 3, "value": 0.75}' >> "$KUBERUN_METRICS_FILE"
exit "${EXIT_WITH:-0}"
"""


@pytest.mark.parametrize("code", [0, 4])
def test_metrics_a_slurm_task_reports_are_in_its_attempt_record(operator, k8s_api_client, namespace, slurm_cluster, code):
    task = slurm_task("t", inline=f"EXIT_WITH={code}\n{REPORT}")
    name = create_experiment(k8s_api_client, namespace, [task])["metadata"]["name"]
    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 40) == ("Succeeded" if code == 0 else "Failed")
    (attempt,) = attempts(get_experiment(k8s_api_client, namespace, name), "t")
    assert attempt["metrics"] == {"loss": {"value": 0.7, "step": 3}, "acc": {"value": 0.75, "step": 3}}
    directory = Path(attempt["logRef"]["path"]).parent
    assert len((directory / "metrics.jsonl").read_text().splitlines()) == 4  # the full series stays beside the log
    assert attempt["exitCode"] == code and "result" not in attempt and "resultNote" not in attempt
    # ... and the operator copied the series to the log store beside the attempt (for the archive).
    assert wait_for(lambda: list(STORE.glob(f"{namespace}/{name}-*/t/1/metrics.jsonl")), 20)
    (copy,) = STORE.glob(f"{namespace}/{name}-*/t/1/metrics.jsonl")
    assert copy.read_text() == (directory / "metrics.jsonl").read_text()


def test_artifacts_of_a_slurm_task_are_copied_over_ssh_when_it_ends(operator, k8s_api_client, namespace, slurm_cluster):
    import hashlib

    write = ('mkdir -p "$KUBERUN_ARTIFACTS_DIR/ckpt" && printf weights > "$KUBERUN_ARTIFACTS_DIR/ckpt/model.bin" '
             '&& ln -s /etc/passwd "$KUBERUN_ARTIFACTS_DIR/escape"')
    name = create_experiment(k8s_api_client, namespace, [slurm_task("t", inline=write)])["metadata"]["name"]
    assert wait_for(lambda: final_phase(k8s_api_client, namespace, name), 40) == "Succeeded"

    def recorded():
        (attempt,) = attempts(get_experiment(k8s_api_client, namespace, name), "t")
        return attempt.get("artifacts") if (attempt.get("artifacts") or {}).get("complete") else None
    record = wait_for(recorded, 30)
    assert [(f["path"], f["size"], f["sha256"]) for f in record["files"]] == [
        ("ckpt/model.bin", 7, hashlib.sha256(b"weights").hexdigest())]
    # The symlink out of the directory is refused (counted, not copied); the file is in the store.
    assert record["count"] == 1 and record["skipped"] == 1
    assert record["location"].startswith("file://") and f"/{namespace}/{name}-" in record["location"]
    stored = Path(record["location"][len("file://"):]) / "ckpt" / "model.bin"
    assert stored.read_bytes() == b"weights"
