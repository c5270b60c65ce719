"""Run the real operator in-process (its own event loop thread) against the API emulator."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from kuberun.resource.constants import GROUP, PLURAL, VERSION


@contextlib.contextmanager
def running_operator(kubeconfig: Path, **overrides: Any) -> Iterator[Any]:
    """Start the operator; yields its Metrics; stops it (cleanly) on exit."""
    from kuberun_operator.app import run
    from kuberun_operator.metrics import Metrics
    from kuberun_operator.settings import Settings

    settings = replace(Settings(kubeconfig=kubeconfig, metrics_port=0, workers=4, log_level="WARNING"), **overrides)
    stop, ready, metrics = threading.Event(), threading.Event(), Metrics()
    errors: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(run(settings, stop_flag=stop, ready_flag=ready, metrics=metrics))
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)

    thread = threading.Thread(target=main, name="kuberun-operator", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError(f"operator did not start: {errors}")
    try:
        yield metrics
    finally:
        stop.set()
        thread.join(30)
    if errors:
        raise errors[0]


def ensure_crd(api_client: Any) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from kuberun.resource.crd import build_crd

    crd = build_crd()
    try:
        client.ApiextensionsV1Api(api_client).create_custom_resource_definition(crd)
    except ApiException as exc:
        if exc.status != 409:
            raise
    # A real API server serves a new CRD's resources a moment after Established (until then: a plain-text 404).
    plural, group = crd["spec"]["names"]["plural"], crd["spec"]["group"]
    version = crd["spec"]["versions"][0]["name"]
    custom = client.CustomObjectsApi(api_client)

    def served() -> bool:
        try:
            custom.list_cluster_custom_object(group, version, plural, limit=1)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    wait_for(served, 30, f"{plural}.{group} to be served")


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition", *,
             interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def get_experiment(api_client: Any, namespace: str, name: str) -> dict[str, Any]:
    from kubernetes import client

    return client.CustomObjectsApi(api_client).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)


def phase(api_client: Any, namespace: str, name: str) -> str | None:
    return (get_experiment(api_client, namespace, name).get("status") or {}).get("phase")


def final_phase(api_client: Any, namespace: str, name: str) -> str | None:
    """The Experiment's phase once it is final (Succeeded, Failed, Cancelled), else None: a ``wait_for`` condition."""
    p = phase(api_client, namespace, name)
    return p if p in ("Succeeded", "Failed", "Cancelled") else None


def task_record(api_client: Any, namespace: str, name: str, task: str) -> dict[str, Any]:
    """One task's status record (``{"name": task, "phase": None}`` before the operator has written one)."""
    tasks = (get_experiment(api_client, namespace, name).get("status") or {}).get("tasks", [])
    return next((t for t in tasks if t["name"] == task), {"name": task, "phase": None})
