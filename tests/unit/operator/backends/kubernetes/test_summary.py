"""The run summary read from pods' termination messages (``status.summary_from_pods``)."""

from __future__ import annotations

from kuberun.resource import results
from kuberun_operator.backends.kubernetes.manifests import exit_code_from_pods
from kuberun_operator.backends.kubernetes.status import COMPLETION_INDEX, summary_from_pods
from tests.helpers.builders import make_pod


def _summary(loss: float) -> str:
    return results.build_summary({"loss": loss}, {"loss": (9, loss)}, limit=results.TERMINATION_MESSAGE_BYTES)


def _indexed(pod: dict, index: str) -> dict:
    pod["metadata"]["annotations"] = {COMPLETION_INDEX: index}
    return pod


def test_the_summary_comes_from_the_task_containers_termination_message():
    summary = summary_from_pods([make_pod().terminated(0, message=_summary(0.25)).obj()])
    assert summary is not None and summary.result == '{"loss":0.25}' and summary.metrics["loss"].step == 9


def test_a_multi_node_attempt_reports_rank_zero_even_when_another_pod_ended_later():
    rank0 = _indexed(make_pod("p-0").terminated(0, message=_summary(0.1), finished_at="2030-01-01T00:00:00Z").obj(), "0")
    rank1 = _indexed(make_pod("p-1").terminated(0, message=_summary(0.9), finished_at="2030-01-01T00:05:00Z").obj(), "1")
    assert summary_from_pods([rank1, rank0]).metrics["loss"].value == 0.1


def test_pods_without_a_summary_give_none():
    plain = make_pod().terminated(1, message="disk full").obj()
    assert summary_from_pods([plain]) is None and summary_from_pods([]) is None


def test_a_failure_message_does_not_quote_the_summary():
    _, _, message = exit_code_from_pods([make_pod().terminated(3, message=_summary(0.5)).obj()])
    assert message is not None and "exited with code 3" in message and results.SUMMARY_FORMAT not in message


def test_a_runner_that_could_not_run_the_task_says_why_in_the_attempts_message():
    why = "code package refused: code package digest mismatch: recorded sha256 ab..., the record server sent other bytes"
    summary = results.build_summary(None, {}, limit=results.TERMINATION_MESSAGE_BYTES, has_result=False, error=why * 20)
    _, _, message = exit_code_from_pods([make_pod().terminated(2, message=summary).obj()])
    assert message is not None and "exited with code 2: code package refused: code package digest mismatch" in message
    assert results.SUMMARY_FORMAT not in message and len(results.summary_error(summary) or "") == results.MAX_NOTE
    assert results.summary_error(_summary(0.5)) is None  # a task that ran has no runner error


class _Pods:
    """``list_pods`` answering ``pods`` (or raising ``error``), counting the calls."""

    def __init__(self, pods: list[dict], error: Exception | None = None) -> None:
        self.pods, self.error, self.calls = pods, error, 0

    async def list_pods(self, namespace: str, selector: str) -> list[dict]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.pods


def _succeeded_job(uid: str) -> dict:
    return {"metadata": {"name": "exp-t-1", "namespace": "ns", "uid": uid},
            "status": {"conditions": [{"type": "Complete", "status": "True"}]}}


def test_a_succeeded_jobs_pods_are_listed_once_even_when_they_carry_no_summary():
    import asyncio

    from kuberun_operator.backends.kubernetes import KubernetesBackend
    from kuberun_operator.backends.kubernetes.caches import JobCache, PodCache
    from kuberun_operator.kube import ApiError
    from kuberun_operator.settings import Settings

    def observe_twice(kube: _Pods, uid: str) -> list:
        backend = KubernetesBackend(kube, JobCache(), Settings(), PodCache())  # type: ignore[arg-type]
        return [asyncio.run(backend._observed(_succeeded_job(uid))).summary for _ in range(2)]

    none = _Pods([])  # pods gone, or a task that wrote no summary: the API's answer is final
    assert observe_twice(none, "u1") == [None, None] and none.calls == 1
    with_summary = _Pods([make_pod("exp-t-1-0").terminated(0, message=_summary(0.5)).obj()])
    first, second = observe_twice(with_summary, "u2")
    assert first is not None and first == second and with_summary.calls == 1
    down = _Pods([], error=ApiError(503, "Unavailable", "no"))  # no answer: asked again next time
    assert observe_twice(down, "u3") == [None, None] and down.calls == 2
