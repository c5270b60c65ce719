"""``kuberun watch``: live progress of one experiment until it finishes (rich Live, polling)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from kuberun.manage.kube import Kube
from kuberun.manage.query import Obj, get_experiment, parse_time, phase_of
from kuberun.manage.render import PHASE_STYLE, age, console, progress

FINISHED = ("Succeeded", "Failed", "Cancelled")


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
                      age(parse_time(st.get("startTime"))), str(st.get("exitCode", "-")), str(st.get("reason") or ""))
    return Group(head, bar, table)


def watch(kube: Kube, name: str, interval: float = 1.0) -> str:
    """Redraw until the experiment's phase is final; returns that phase."""
    obj = get_experiment(kube, name)
    with Live(view(obj), console=console(), auto_refresh=False) as live:
        while phase_of(obj) not in FINISHED:
            time.sleep(interval)
            obj = get_experiment(kube, name, obj["metadata"]["namespace"])
            live.update(view(obj), refresh=True)
    return phase_of(obj)
