"""Slurm job arrays: the spec grammar, squeue/sacct rows summed under the array's id, per-index records.

The squeue rows are what Slurm 22.05 printed for ``sbatch --array=0-3%1`` on the test harness
(``JobID`` is each index's raw id; ``ArrayJobID``/``ArrayTaskID`` tie it to the array).
"""

from __future__ import annotations

import pytest

from kuberun.errors import InvalidExecutorError
from kuberun.resource import SlurmExecutor, TaskPhase, TaskSpec
from kuberun.resource.slurmarray import MAX_ARRAY_INDICES, array_indices
from kuberun_operator.actions import IndexObserved, Observed
from kuberun_operator.backend_config import SlurmCluster
from kuberun_operator.backends.slurm import script
from kuberun_operator.backends.slurm.state import observed_from, parse_sacct, parse_squeue
from kuberun_operator.reconcile import reconcile
from kuberun_operator.traits import BackendTraits, Traits
from tests.helpers.builders import make_resource

WAITING = "1|kk|PENDING|None|N/A|N/A|0|1|0-3%1|\n"
MIDWAY = ("2|kk|COMPLETED|None|2026-12-02T00:46:06|2026-12-02T00:46:07|0|1|0|\n"
          "1|kk|PENDING|JobArrayTaskLimit|N/A|N/A|0|1|2-3%1|\n"
          "3|kk|RUNNING|None|2026-12-02T00:46:08|NONE|0|1|1|\n")
ENDED = ("2|kk|COMPLETED|None|2026-12-02T00:46:06|2026-12-02T00:46:07|0|1|0|\n"
         "4|kk|FAILED|NonZeroExitCode|2026-12-02T00:46:10|2026-12-02T00:46:11|512|1|2|\n"
         "3|kk|FAILED|NonZeroExitCode|2026-12-02T00:46:08|2026-12-02T00:46:09|256|1|1|\n"
         "1|kk|COMPLETED|None|2026-12-02T00:46:12|2026-12-02T00:46:13|0|1|3|\n")


@pytest.mark.parametrize(("spec", "indices"), [("0-3", [0, 1, 2, 3]), ("1,3,5", [1, 3, 5]), ("0-6:2,9%2", [0, 2, 4, 6, 9]),
                                               ("7", [7])])
def test_array_specs_name_their_indices(spec, indices):
    assert array_indices(spec) == indices


@pytest.mark.parametrize(("value", "words"), [("3-1", "backwards"), ("0-10:0", "zero step"), ("0-100000", "more than"),
                                              ("0-3;id", "array"), ("", "array"), (0, "at least one")])
def test_bad_or_unbounded_arrays_are_refused_with_the_reason(value, words):
    with pytest.raises(InvalidExecutorError, match=words):
        SlurmExecutor(cluster="c", array=value)


def test_a_count_is_an_array_from_zero_and_the_bound_is_inclusive():
    assert SlurmExecutor(cluster="c", array=4).array == "0-3"
    assert SlurmExecutor(cluster="c", array=f"0-{MAX_ARRAY_INDICES - 1}").array
    with pytest.raises(InvalidExecutorError):
        SlurmExecutor(cluster="c", array=MAX_ARRAY_INDICES + 1)


def test_an_array_submits_with_array_and_append_and_keeps_outputs_per_index():
    spec = TaskSpec.model_validate({"name": "t", "script": {"command": ["true"]},
                                    "executor": {"slurm": {"cluster": "c", "array": "0-3%2"}}})
    cluster = SlurmCluster.model_validate({"name": "c", "host": "h"})
    flags = script.sbatch_flags(spec.executor.slurm, cluster)
    assert flags[-2:] == ["--array=0-3%2", "--open-mode=append"]
    text = script.batch_script(spec, cluster, script.AttemptPlace("ns", "e", "t", 1, "k"))
    assert 'export KUBERUN_SUMMARY_FILE="$KUBERUN_DIR/index-$SLURM_ARRAY_TASK_ID/summary.json"' in text
    assert 'KUBERUN_DIR/summary.json' not in text


def test_a_waiting_array_is_one_pending_job_with_every_index_pending():
    (job,) = parse_squeue(WAITING).values()
    assert (job.id, job.state, [i for i, _ in job.members]) == ("1", "PENDING", [0, 1, 2, 3])
    seen = observed_from(job, None)
    assert seen.state == "pending" and {i.state for i in seen.indices} == {"pending"}


def test_an_array_midway_is_running_and_each_index_has_its_own_state():
    jobs = parse_squeue(MIDWAY)
    assert list(jobs) == ["1"]  # the indices' raw ids (2, 3) are not jobs of their own
    seen = observed_from(jobs["1"], None)
    assert seen.state == "running" and seen.backend_id == "1"
    assert seen.indices == (IndexObserved(0, "succeeded", 0), IndexObserved(1, "running"), IndexObserved(2, "pending"),
                            IndexObserved(3, "pending"))


def test_an_ended_array_fails_with_its_first_failed_index_exit_code():
    seen = observed_from(parse_squeue(ENDED)["1"], None)
    assert (seen.state, seen.exit_code) == ("failed", 1)
    assert [(i.index, i.state, i.exit_code) for i in seen.indices] == [(0, "succeeded", 0), (1, "failed", 1),
                                                                      (2, "failed", 2), (3, "succeeded", 0)]
    assert seen.finish_time is not None and seen.start_time is not None and seen.start_time < seen.finish_time
    done = observed_from(parse_squeue(ENDED.replace("FAILED", "COMPLETED").replace("|512|", "|0|")
                                      .replace("|256|", "|0|"))["1"], None)
    assert (done.state, done.exit_code) == ("succeeded", 0)


def test_accounting_rows_of_an_array_are_summed_too():
    text = ("9_0|kk|COMPLETED|0:0|2026-01-01T00:00:00|2026-01-01T00:00:01\n9_0.batch|batch|COMPLETED|0:0|x|y\n"
            "9_1|kk|FAILED|4:0|2026-01-01T00:00:00|2026-01-01T00:00:02\n")
    jobs = parse_sacct(text)
    assert list(jobs) == ["9"] and jobs["9"].state == "FAILED" and jobs["9"].exit_code == 4
    assert [i for i, _ in jobs["9"].members] == [0, 1]


def test_the_attempt_records_each_index_and_sums_them_into_its_phase():
    exp = make_resource().task("t", backend="slurm", cluster="c", array="0-1").obj()
    traits = Traits(backends={"slurm": BackendTraits()})
    exp.status = reconcile(exp, {}, _now(), traits=traits).status
    running = Observed("running", backend_id="5", indices=(IndexObserved(0, "succeeded", 0), IndexObserved(1, "running")))
    exp.status = reconcile(exp, {("t", 1): running}, _now(), traits=traits).status
    (attempt,) = exp.status.task("t").attempts
    assert [(i.index, i.phase, i.exit_code) for i in attempt.indices] == [(0, TaskPhase.SUCCEEDED, 0), (1, TaskPhase.RUNNING, None)]
    assert exp.status.to_dict()["tasks"][0]["attempts"][0]["indices"][0] == {"index": 0, "phase": "Succeeded", "exitCode": 0}


def _now():
    from datetime import datetime, timezone

    return datetime(2026, 1, 1, tzinfo=timezone.utc)


def _run_submit(fakes: str, parents: list[tuple[str, str]] | None = None) -> tuple[int, str, str]:
    import subprocess

    command = script.submit_command("/nonexistent/kuberun-test", "k", ["--nodes=1"], (0, 0), parents or [])
    done = subprocess.run(["bash", "-c", fakes + "\n" + command], capture_output=True, text=True, input="", timeout=30)
    return done.returncode, done.stdout, done.stderr


def test_a_resubmit_finds_an_array_by_its_array_id_instead_of_submitting_again():
    # squeue -o %F prints the array's id once per index row; sbatch would fail the test if reached.
    code, out, _ = _run_submit('squeue() { printf "7|k\\n7|k\\n8|other\\n"; }\nsbatch() { echo SUBMITTED-AGAIN; exit 1; }')
    assert (code, out.split()[:2]) == (0, ["kuberun-found", "7"])
    code, out, _ = _run_submit('squeue() { :; }\nsacct() { printf "7_0|k\\n7_1|k\\n"; }\nsbatch() { exit 1; }')
    assert (code, out.split()[:2]) == (0, ["kuberun-found", "7"])  # from accounting, where indices print as 7_N
