"""Live progress of one Experiment until it finishes: ``kuberun watch`` and ``exp.run(wait=True)``.

One view for both, drawn from the status (the shared record) by polling ``get``: a progress bar
over tasks done, then a row per task. Polling rather than a watch keeps it to one request per frame,
which any RBAC that allows ``get`` permits, and a frame per ``interval`` is all a person reads.

The live view is for a terminal only. To a pipe or file (``make demo | tee``, ``watch > log``) a
redrawn frame is noise glued together, so there each change is one plain line (``changes``): the
experiment's phase and progress, or one task's phase, attempt, exit code and reason. ``-o json|yaml``
prints the whole Experiment once per change (JSON: one object per line; YAML: ``---`` documents).
"""

from __future__ import annotations

import json
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


def _rows(obj: Obj) -> dict[str, str]:
    """One plain line per thing that can change: the experiment, then each task (key: what it describes)."""
    done, _, total = progress(obj).partition("/")
    rows = {"": f"experiment {obj['metadata']['name']} {phase_of(obj)} {done}/{total} tasks"}
    statuses = {t["name"]: t for t in (obj.get("status") or {}).get("tasks") or []}
    for task in (obj.get("spec") or {}).get("tasks") or []:
        st = statuses.get(task["name"], {})
        fields = [f"{key}={st[field]}" for key, field in (("attempt", "attempt"), ("exit", "exitCode"), ("reason", "reason"))
                  if st.get(field) not in (None, "")]
        rows[task["name"]] = " ".join([f"task {task['name']} {st.get('phase', 'Pending')}", *fields])
    return rows


def changes(before: Obj | None, after: Obj) -> list[str]:
    """The lines of ``after`` that differ from ``before`` (all of them for the first frame), tasks before the experiment."""
    old = _rows(before) if before is not None else {}
    new = _rows(after)
    ordered = [k for k in new if k] + [""]
    return [new[k] for k in ordered if old.get(k) != new[k]]


class _Lines:
    """Prints ``changes`` between successive frames: one record per line, nothing redrawn."""

    def __init__(self, console: Console, fmt: str | None = None) -> None:
        self.console, self.fmt, self.last = console, fmt, None

    def __call__(self, obj: Obj) -> None:
        out = self.console.file
        if self.fmt is not None:
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if self.last is None or version != (self.last.get("metadata") or {}).get("resourceVersion"):
                out.write(json.dumps(obj) + "\n" if self.fmt == "json" else _yaml_document(obj))
        else:
            out.write("".join(f"{line}\n" for line in changes(self.last, obj)))
        out.flush()
        self.last = obj


def _yaml_document(obj: Obj) -> str:
    import yaml

    return "---\n" + yaml.safe_dump(obj, sort_keys=False, width=120)


def follow(kube: Kube, name: str, namespace: str | None = None, *, interval: float = 1.0, timeout: float | None = None,
           live: bool = True, console: Console | None = None, output: str | None = None) -> Obj:
    """Poll the Experiment until its phase is final, showing each change; returns the finished object.

    ``live``: show progress at all (a live view on a terminal, plain lines elsewhere); ``output``
    'json'/'yaml' prints the object once per change instead. Raises WaitTimeoutError after ``timeout``
    seconds (None: wait as long as it runs).
    """
    from kuberun.manage.render import console as stdout_console

    deadline = None if timeout is None else time.monotonic() + timeout
    obj = get_experiment(kube, name, namespace)
    if not live and output is None:
        return _poll(kube, obj, interval, deadline, timeout, lambda _: None)
    out = console or stdout_console()
    if output is not None or not (out.is_terminal or out.is_jupyter):  # a notebook draws the live view too
        show = _Lines(out, output)
        show(obj)
        return _poll(kube, obj, interval, deadline, timeout, show)
    with Live(view(obj), console=out, auto_refresh=False) as screen:
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
