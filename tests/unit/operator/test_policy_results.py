"""policy/results.py: a run summary lands on its attempt; the status's metric budget trims the oldest first."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from kuberun.resource import AttemptStatus, ExperimentStatus, TaskPhase, TaskStatus
from kuberun.resource.results import MetricValue, RunSummary
from kuberun_operator.policy.results import record_summary, trim_metrics

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)


def _attempt(n: int, metrics: int, minutes: int) -> AttemptStatus:
    return AttemptStatus(attempt=n, phase=TaskPhase.FAILED, finish_time=T0 + timedelta(minutes=minutes),
                         metrics={f"m{i}": MetricValue(value=float(i)) for i in range(metrics)})


def test_a_summary_is_copied_onto_the_attempt_and_none_changes_nothing():
    attempt = AttemptStatus(attempt=1, phase=TaskPhase.SUCCEEDED)
    record_summary(attempt, None)
    assert attempt.result is None and attempt.metrics == {}
    record_summary(attempt, RunSummary(result="[1]", metrics={"loss": MetricValue(value=0.5, step=3)}, metrics_note="n"))
    assert attempt.result == "[1]" and attempt.metrics["loss"].step == 3 and attempt.metrics_note == "n"


def test_over_the_budget_the_oldest_attempts_lose_their_values_first_and_say_so():
    old, middle, new = _attempt(1, 100, 0), _attempt(2, 100, 5), _attempt(3, 100, 10)
    status = ExperimentStatus(phase="Running", tasks=[TaskStatus(name="t", phase=TaskPhase.RUNNING, attempt=3,
                                                                 attempts=[middle, old, new])])
    assert trim_metrics(status, keep=new, budget=250) == 100
    assert old.metrics == {} and "100 final metric value(s) left status" in old.metrics_note
    assert len(middle.metrics) == 100 and len(new.metrics) == 100
    assert trim_metrics(status, keep=new, budget=250) == 0  # under the budget: nothing more


def test_the_attempt_just_recorded_is_kept_even_alone_over_the_budget():
    new = _attempt(1, 200, 0)
    status = ExperimentStatus(phase="Running", tasks=[TaskStatus(name="t", phase=TaskPhase.RUNNING, attempt=1, attempts=[new])])
    assert trim_metrics(status, keep=new, budget=10) == 0 and len(new.metrics) == 200
