"""The roll-up: the experiment's phase and conditions from its tasks, transition Events, the TTL."""

from __future__ import annotations

from datetime import timedelta

from kuberun.resource import ExperimentPhase, TaskPhase
from kuberun_operator.actions import DeleteExperiment
from kuberun_operator.conditions import progress, roll_up, set_condition
from kuberun_operator.policy.round import Round

PHASE_CONDITIONS = tuple(p.value for p in ExperimentPhase if p is not ExperimentPhase.PENDING)


def finish(r: Round) -> None:
    status = r.status
    phase, reason, message = roll_up(status, r.spec.shutdown)
    status.phase, status.progress, status.observed_generation = phase, progress(status), r.generation
    for type_ in PHASE_CONDITIONS:
        is_it = phase.value == type_
        set_condition(status, type_, is_it, reason if is_it else f"Not{type_}", message if is_it else "",
                      r.now, r.generation)
    if phase.finished and status.completion_time is None:
        status.completion_time = r.now
    _transition_events(r, phase, message)
    ttl = r.spec.ttl_seconds_after_finished
    if phase.finished and ttl is not None and status.completion_time is not None:
        remaining = (status.completion_time + timedelta(seconds=ttl) - r.now).total_seconds()
        if remaining <= 0:
            r.act(DeleteExperiment())
        else:
            r.requeue(remaining)


def _transition_events(r: Round, phase: ExperimentPhase, message: str) -> None:
    for record in r.status.tasks:
        # Submitted is implied by Running or the outcome; Pending is the start or a retry (own event).
        if r.before.get(record.name) != record.phase and record.phase not in (TaskPhase.PENDING, TaskPhase.SUBMITTED):
            warn = record.phase in (TaskPhase.FAILED, TaskPhase.SKIPPED, TaskPhase.CANCELLED)
            detail = f" ({record.reason}: {record.message})" if warn and record.message else ""
            r.emit("Warning" if warn else "Normal", f"Task{record.phase.value}",
                   f"task {record.name!r} attempt {record.attempt} {record.phase.value.lower()}{detail}")
    if phase != r.before_phase and phase.finished:
        warn = phase in (ExperimentPhase.FAILED, ExperimentPhase.CANCELLED)
        r.emit("Warning" if warn else "Normal", f"Experiment{phase.value}", message)
