"""Slurm observation of a recorded job (issue 19.3): its id is its identity, and an id that now
names another job (ids restart after a controller cold start) or that Slurm forgot is JobLost."""

from __future__ import annotations

import pytest

from kuberun.resource import BackendRef
from kuberun_operator.backend_config import SlurmConfig
from kuberun_operator.backends.slurm.backend import SlurmBackend
from kuberun_operator.backends.slurm.poller import LOST_AFTER
from kuberun_operator.backends.slurm.state import SlurmJob
from kuberun_operator.settings import Settings
from tests.helpers.builders import make_resource

pytestmark = pytest.mark.asyncio(loop_scope="session")
KEY = "uid-1-t-1"


async def _observe(jobs: dict[str, SlurmJob], misses: int = 0) -> object:
    backend = SlurmBackend(SlurmConfig.model_validate({"clusters": [{"name": "main", "transport": "local"}],
                                                       "pollIntervalSeconds": 300}), Settings())
    exp = make_resource().task("t", backend="slurm", cluster="main").obj()
    ref = BackendRef(backend="slurm", idempotency_key=KEY, id="42", uid="42", cluster="main")
    try:
        poller = backend._poller("main")
        poller.track("42", KEY, None)
        poller.tracked["42"].misses = misses
        poller.jobs.update(jobs)
        return backend._observe_attempt(exp, "t", ref, None)
    finally:
        await backend.stop()


async def test_a_recorded_job_is_observed_with_its_id_as_identity() -> None:
    seen = await _observe({"42": SlurmJob("42", KEY, "RUNNING")})
    assert (seen.state, seen.backend_id, seen.backend_uid) == ("running", "42", "42")


async def test_an_id_that_now_names_another_job_is_lost_not_taken_for_ours() -> None:
    seen = await _observe({"42": SlurmJob("42", "someone-else", "COMPLETED")})
    assert (seen.state, seen.reason) == ("lost", "JobLost") and "someone-else" in seen.message


async def test_a_job_slurm_forgot_is_lost_after_the_polls_that_must_miss_it() -> None:
    assert (await _observe({}, misses=LOST_AFTER - 1)).state == "pending"  # not polled enough to tell
    seen = await _observe({}, misses=LOST_AFTER)
    assert (seen.state, seen.reason, seen.exit_code) == ("lost", "JobLost", None)
