"""The decision at the heart of the operator: (spec, status, observed children, now, traits) -> Decision.

Pure and level-triggered: it reads the whole state each time and depends on no event history,
so running it twice, or after a crash between any two steps, decides the same thing. It never
performs I/O; the controller performs the returned actions, folds their outcomes back with the
pure ``policy.submission.fold_outcomes`` and writes the status. Backend-specific knowledge
arrives as data (``traits``), declared by the backends; each step's policy lives in ``policy/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from kuberun.resource import ExperimentResource
from kuberun_operator.actions import Decision, Observed
from kuberun_operator.policy.cancel import cancel_tasks
from kuberun_operator.policy.dag import idempotency_key, start_ready_tasks
from kuberun_operator.policy.early import drop_orphans
from kuberun_operator.policy.finish import finish
from kuberun_operator.policy.lifecycle import keep_cancelling, shutdown, suspend
from kuberun_operator.policy.observe import adopt_unrecorded, observe_task
from kuberun_operator.policy.retries import backoff
from kuberun_operator.policy.round import Limits, Round, ensure_task_records
from kuberun_operator.traits import Traits

__all__ = ["Limits", "backoff", "idempotency_key", "reconcile"]


def reconcile(
    exp: ExperimentResource,
    observed: Mapping[tuple[str, int], Observed],
    now: datetime,
    *,
    traits: Traits | None = None,
    max_backoff: int = 600,
    local_enabled: bool = False,
) -> Decision:
    """Decide the next actions and the new status of one Experiment. Pure; see the module doc."""
    r = Round(exp, observed, now, traits or Traits(), Limits(max_backoff=max_backoff, local_enabled=local_enabled))
    # 1. Every task of the spec has a record in status, in spec order.
    ensure_task_records(r)
    if r.before_phase is None or not r.before_phase.finished:
        # 2. What the backends observed moves each active task's latest attempt on (to a retry,
        #    a failure, a resubmission of an attempt they do not know); a child the record lacks is adopted.
        for task in r.spec.tasks:
            adopt_unrecorded(r, task)
            observe_task(r, task)
        # 3. spec.shutdown: what has not started is cancelled; with Terminate, what runs too.
        #    spec.cancelTasks: the same for the tasks it names, one by one (policy/cancel.py).
        shutdown(r)
        cancel_tasks(r)
        #    Jobs queued at their backend behind a parent that failed (or under shutdown) are cancelled.
        drop_orphans(r)
        # 4. spec.suspend: running attempts follow it where kuberun owns their suspend.
        suspend(r)
        # 5. Tasks whose dependencies succeeded start (past their backoff); those whose never can are skipped;
        #    those whose parents run in the same backend queue are submitted behind them (policy/early.py).
        start_ready_tasks(r)
    # 6. Cancelled attempts still alive at their backend are cancelled again.
    keep_cancelling(r)
    # 7. The tasks roll up into the experiment's phase, conditions and Events; the TTL runs out.
    finish(r)
    return r.decision
