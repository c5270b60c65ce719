"""Live per-task progress of one Experiment, read from its status (the shared record)."""

from __future__ import annotations

import time
from typing import Any

from kuberun.resource.constants import GROUP, PLURAL, VERSION

_STYLE = {"Succeeded": "green", "Failed": "red", "Running": "cyan", "Submitted": "blue", "Pending": "dim",
          "Cancelled": "yellow", "Skipped": "yellow"}


def render(obj: dict[str, Any]) -> Any:
    """A rich Table of the experiment's tasks: phase, attempt, exit code, reason."""
    from rich.table import Table

    status = obj.get("status") or {}
    phase = status.get("phase", "Pending")
    table = Table(title=f"{obj['metadata']['name']}: [{_STYLE.get(phase, '')}]{phase}[/] ({status.get('progress', '-')})")
    for column in ("task", "phase", "attempt", "exit", "reason"):
        table.add_column(column)
    by_name = {t["name"]: t for t in status.get("tasks", [])}
    for task in obj["spec"]["tasks"]:
        record = by_name.get(task["name"], {})
        task_phase = record.get("phase", "Pending")
        exit_code = record.get("exitCode")
        table.add_row(task["name"], f"[{_STYLE.get(task_phase, '')}]{task_phase}[/]", str(record.get("attempt") or "-"),
                      "-" if exit_code is None else str(exit_code), record.get("reason") or "")
    return table


def wait(cluster: Any, namespace: str, name: str, timeout: float | None = None, interval: float = 0.5,
         live: bool = True) -> dict[str, Any]:
    """Poll the Experiment until it finishes (or ``timeout``), showing a live table; returns the object."""
    from rich.console import Console
    from rich.live import Live

    def fetch() -> dict[str, Any]:
        return cluster.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    deadline = None if timeout is None else time.monotonic() + timeout
    obj = fetch()
    console = Console(stderr=True)
    with Live(render(obj), console=console, refresh_per_second=4, transient=False) if live else _Null() as view:
        while (obj.get("status") or {}).get("phase") not in ("Succeeded", "Failed", "Cancelled"):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"experiment {namespace}/{name} did not finish within {timeout}s")
            time.sleep(interval)
            obj = fetch()
            view.update(render(obj))
    return obj


class _Null:
    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, _: Any) -> None:
        return None
