"""Live progress of one Experiment until it finishes: ``kuberun watch`` and ``exp.run(wait=True)``.

One view for both, drawn from the status (the shared record) by polling ``get``: a progress bar
over tasks done, then a row per task. Polling rather than a watch keeps it to one request per frame,
which any RBAC that allows ``get`` permits, and a frame per ``interval`` is all a person reads.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from kuberun.api import Kube
from kuberun.errors import WaitTimeoutError
from kuberun.manage.query import Obj, finished, get_experiment, phase_of, read_time
from kuberun.manage.render import PHASE_STYLE, age, progress


def view(obj: Obj) -> Any:
    """One frame: a progress bar over tasks done, then a row per task."""
    done, _, total = progress(obj).partition("/")
    phase = phase_of(obj)
    head = Text.assemble((obj["metadata"]["name"], "bold"), "  ", (phase, PHASE_STYLE.get(phase, "")), f"  {done}/{total} tasks")
    bar = ProgressBar(total=max(int(total or 1), 1), completed=int(done or 0), width=40)
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for header in ("TASK", "PHASE", "ATTEMPT", "STARTED", "EXIT", "REASON"):
        table.add_column(header, no_wrap=True)
    statuses = {t["name"]: t for t in (obj.get("status") or {}).get("tasks") or []}
    for task in (obj.get("spec") or {}).get("tasks") or []:
        st = statuses.get(task["name"], {})
        task_phase = str(st.get("phase", "Pending"))
        table.add_row(task["name"], Text(task_phase, PHASE_STYLE.get(task_phase, "")), str(st.get("attempt", "-")),
                      age(read_time(st.get("startTime"))), str(st.get("exitCode", "-")), str(st.get("reason") or ""))
    return Group(head, bar, table)


def follow(kube: Kube, name: str, namespace: str | None = None, *, interval: float = 1.0, timeout: float | None = None,
           live: bool = True, console: Console | None = None) -> Obj:
    """Poll the Experiment until its phase is final, redrawing the view; returns the finished object.

    Raises WaitTimeoutError after ``timeout`` seconds (None: wait as long as it runs).
    """
    from kuberun.manage.render import console as stdout_console

    deadline = None if timeout is None else time.monotonic() + timeout
    obj = get_experiment(kube, name, namespace)
    if not live:
        return _poll(kube, obj, interval, deadline, timeout, lambda _: None)
    with Live(view(obj), console=console or stdout_console(), auto_refresh=False) as screen:
        return _poll(kube, obj, interval, deadline, timeout, lambda o: screen.update(view(o), refresh=True))


def _poll(kube: Kube, obj: Obj, interval: float, deadline: float | None, timeout: float | None, show: Any) -> Obj:
    meta = obj["metadata"]
    while not finished(obj):
        if deadline is not None and time.monotonic() > deadline:
            raise WaitTimeoutError(f"experiment {meta['namespace']}/{meta['name']} did not finish within {timeout}s")
        time.sleep(interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic())))
        obj = get_experiment(kube, meta["name"], meta["namespace"])
        show(obj)
    return obj
