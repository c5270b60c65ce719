"""On a real Slurm: an attempt that ended while no operator could copy its metric series (here: the first
operator keeps no log store, as one that died between the end and the copy) has it copied over SSH by
the next operator, which records the copy on the attempt (``series``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.operator import get_experiment, phase, running_operator, wait_for

from .bridge import attempts, create_experiment, slurm_task

pytestmark = pytest.mark.usefixtures("crd")

REPORT = """
for step in 1 2 3 4; do
  echo "{\\"name\\": \\"loss\\", \\"step\\": $step, \\"value\\": 0.$((10 - step))}" >> "$KUBERUN_METRICS_FILE"
done
"""


def test_a_series_left_on_the_cluster_is_copied_and_recorded_by_the_next_operator(
        kubeconfig: Path, slurm_config_file: Path, k8s_api_client: Any, namespace: str, slurm_cluster: Any,
        tmp_path: Path) -> None:
    with running_operator(kubeconfig, config_file=slurm_config_file):  # no store: nothing is copied
        name = create_experiment(k8s_api_client, namespace, [slurm_task("t", inline=REPORT)])["metadata"]["name"]
        assert wait_for(lambda: phase(k8s_api_client, namespace, name) == "Succeeded", 40)
    (attempt,) = attempts(get_experiment(k8s_api_client, namespace, name), "t")
    assert "series" not in attempt and attempt["metrics"]["loss"] == {"value": 0.6, "step": 4}
    original = (Path(attempt["logRef"]["path"]).parent / "metrics.jsonl").read_text()

    store = tmp_path / "store"
    with running_operator(kubeconfig, config_file=slurm_config_file, log_store_url=str(store)):
        def recorded() -> dict[str, Any] | None:
            (now,) = attempts(get_experiment(k8s_api_client, namespace, name), "t")
            return now.get("series")
        series = wait_for(recorded, 40, "the series record on the attempt")
    (copy,) = store.glob(f"{namespace}/{name}-*/t/1/metrics.jsonl")
    assert copy.read_text() == original and len(original.splitlines()) == 4
    assert series["location"] == copy.as_uri() and series["size"] == len(original.encode())
