"""Human output: the ``list`` table and the ``describe`` page, with rich.

Both work on the API's dicts, so printing needs neither pydantic nor Fiddle: ``describe`` renders
configs from their serialized JSON (``fiddle_tree``) and never imports user code.

Rich only on a terminal: to a pipe or a file every table goes through ``emit``, which writes the
same columns as plain lines without colour or the padding rich adds at line ends, so ``grep``,
``awk`` and ``diff`` see one record per line (issue 16 item 11). Machines use ``-o json|yaml``.
The tables are built as ``plain.Rows``, and ``stdout()`` gives a console that is rich only on a
terminal, so ``kuberun list | ...`` and ``kuberun describe | ...`` never import rich (issue 18).
"""

from __future__ import annotations

import os
import shlex
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from kuberun.manage.plain import PlainConsole, Rows
from kuberun.manage.query import Obj, created_at, phase_of, read_time
from kuberun.resource.constants import LABEL_REPRODUCED_FROM
from kuberun.resource.times import utcnow

if TYPE_CHECKING:
    from rich.console import Console

PHASE_STYLE = {"Succeeded": "green", "Failed": "red", "Cancelled": "yellow", "Running": "cyan", "Pending": "dim"}


def console() -> Console:
    """A console as wide as the terminal, or wide enough never to wrap rows when piped."""
    import shutil  # with bz2 and lzma: only where a terminal's width is asked

    from rich.console import Console

    width = shutil.get_terminal_size((200, 40)).columns if os.isatty(1) else 200
    return Console(width=width, highlight=False, soft_wrap=True)


def rich_console(file: IO[str]) -> Console:
    """A rich console on ``file`` (not a terminal), as wide as ``console()`` makes one for a pipe."""
    from rich.console import Console

    return Console(file=file, width=200, highlight=False, soft_wrap=True)


def stdout() -> Console | PlainConsole:
    """Where the read commands print: ``console()`` on a terminal (or when colour is forced), else plain text."""
    if os.isatty(1) or os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE") == "1":
        return console()
    return PlainConsole()


def emit(out: Console | PlainConsole, renderable: Any, indent: int = 0) -> None:
    """Print ``renderable``: as rich draws it on a terminal; elsewhere as plain lines with no trailing spaces.

    ``Rows`` off a terminal never touch rich; ``indent`` shifts a table right by that many columns.
    """
    if isinstance(renderable, Rows):
        if out.is_terminal:
            from rich.padding import Padding

            out.print(Padding(renderable.rich(), (0, 0, 0, indent)) if indent else renderable.rich())
        else:
            out.file.write("".join(f"{' ' * indent}{line}".rstrip() + "\n" for line in renderable.lines()))
            out.file.flush()
        return
    if out.is_terminal:
        out.print(renderable)
        return
    if isinstance(out, PlainConsole):
        out = rich_console(out.file)
    with out.capture() as captured:
        out.print(renderable)
    text = "".join(f"{line.rstrip()}\n" for line in captured.get().splitlines())
    out.file.write(text)
    out.file.flush()


def age(then: datetime | None, now: datetime | None = None) -> str:
    """kubectl-style age: 42s, 7m, 5h, 3d, 12d."""
    if then is None:
        return "-"
    seconds = max(0, int(((now or utcnow()) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "d" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def backends(obj: Obj) -> str:
    kinds = sorted({next(iter(t.get("executor") or {"?": 0})) for t in (obj.get("spec") or {}).get("tasks") or []})
    return ",".join(kinds)


def progress(obj: Obj) -> str:
    status = obj.get("status") or {}
    return str(status.get("progress") or f"0/{len((obj.get('spec') or {}).get('tasks') or [])}")


def row(obj: Obj, wide: bool = False, namespaces: bool = False) -> list[str]:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    cells = [meta.get("namespace", "")] if namespaces else []
    cells += [meta.get("name", ""), str(spec.get("title", "")), phase_of(obj), progress(obj), backends(obj),
              str(spec.get("submittedBy") or "-"), age(created_at(obj))]
    if wide:
        status = obj.get("status") or {}
        cells += [str(spec.get("project") or "-"), age(read_time(status.get("startTime"))),
                  str((meta.get("labels") or {}).get(LABEL_REPRODUCED_FROM, "-")), str(spec.get("shutdown") or "-")]
    return cells


def list_table(items: list[Obj], wide: bool = False, namespaces: bool = False,
               extra: list[tuple[str, list[str]]] | None = None) -> Rows:
    """The list; ``extra`` adds columns (header, one cell per item) at the end: ``--columns loss,acc``."""
    headers = (["NAMESPACE"] if namespaces else []) + ["NAME", "TITLE", "PHASE", "TASKS", "BACKENDS", "SUBMITTER", "AGE"]
    if wide:
        headers += ["PROJECT", "STARTED", "REPRODUCED-FROM", "SHUTDOWN"]
    headers += [header for header, _ in extra or []]
    table = Rows(headers)
    phase_at = headers.index("PHASE")
    for i, obj in enumerate(items):
        cells = row(obj, wide, namespaces) + [column[i] for _, column in extra or []]
        style = PHASE_STYLE.get(cells[phase_at])
        table.add_row(*cells, style={phase_at: style} if style else None)
    return table


def machine(items: list[Obj] | Obj, fmt: str, continue_token: str | None = None) -> str:
    """``-o json`` / ``-o yaml``: lists as a Kubernetes List (with ``metadata.continue``), one object as itself."""
    import json

    doc: Obj = items if isinstance(items, dict) else {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}
    if continue_token and isinstance(items, list):
        doc["metadata"]["continue"] = continue_token
    if fmt == "json":
        return json.dumps(doc, indent=2)
    import yaml

    return yaml.safe_dump(doc, sort_keys=False, width=120)


def _field(label: str, value: Any) -> str:
    return f"{label + ':':<17}{value}"


def _when(text: str | None) -> str:
    then = read_time(text)
    return f"{text} ({age(then)} ago)" if then else "-"


def header_lines(obj: Obj, children: list[Obj]) -> list[str]:
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    labels = meta.get("labels") or {}
    out = [_field("Name", meta["name"]), _field("Namespace", meta.get("namespace", "")), _field("Title", spec.get("title", ""))]
    if spec.get("description"):
        out.append(_field("Description", spec["description"]))
    if spec.get("project"):
        out.append(_field("Project", spec["project"]))
    out += [_field("Submitted by", spec.get("submittedBy") or "-"), _field("Created", _when(meta.get("creationTimestamp"))),
            _field("Phase", f"{phase_of(obj)} ({progress(obj)} tasks)"),
            _field("Started", _when(status.get("startTime"))), _field("Completed", _when(status.get("completionTime")))]
    src = spec.get("source") or {}
    if src:
        dirty = " (dirty)" if src.get("dirty") else ""
        out.append(_field("Source", f"{src.get('remote') or '-'} @ {src.get('commit') or '-'} {src.get('branch') or ''}{dirty}".rstrip()))
    if spec.get("sdkVersion"):
        out.append(_field("SDK version", spec["sdkVersion"]))
    for key in ("shutdown", "suspend"):
        if spec.get(key) is not None:
            out.append(_field(key.capitalize(), spec[key]))
    if spec.get("cancelTasks"):
        out.append(_field("Cancel tasks", ", ".join(f"{c.get('task')} (by {c.get('by') or '-'})" for c in spec["cancelTasks"])))
    origin = labels.get(LABEL_REPRODUCED_FROM)
    if origin:
        uid = (meta.get("annotations") or {}).get("kuberun.dev/reproduced-from-uid", "")
        out.append(_field("Reproduced from", f"{origin}{f' (uid {uid})' if uid else ''}"))
    earlier = int((status.get("lineage") or {}).get("count") or 0) - len(children)  # status keeps the last 50
    names = ", ".join(c["metadata"]["name"] for c in children) or "-"
    out.append(_field("Reproductions", f"{names} (and {earlier} earlier)" if earlier > 0 else names))
    out.append(_field("Labels", ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-"))
    return out


def _executor_summary(executor: dict[str, Any]) -> str:
    kind, settings = next(iter(executor.items())) if executor else ("?", {})
    parts = [f"{k}={v}" for k, v in (settings or {}).items() if not isinstance(v, (dict, list))]
    return f"{kind}{' ' + ' '.join(parts) if parts else ''}"


def config_lines(task: dict[str, Any], config_maps: dict[str, str]) -> list[str]:
    """The task's payload, readable: a Fiddle tree, or the script."""
    if task.get("script"):
        script = task["script"]
        if script.get("command"):
            return ["$ " + shlex.join(script["command"] + script.get("args", []))]  # as a shell would read it back
        return [f"#!{script.get('entrypoint', 'bash')}", *str(script.get("inline", "")).splitlines()]
    fiddle = task.get("fiddle") or {}
    data = fiddle.get("data") or "".join(config_maps.get(r["name"], "") for r in fiddle.get("configMapRefs") or [])
    where = "inline" if fiddle.get("data") else f"in ConfigMaps {', '.join(r['name'] for r in fiddle.get('configMapRefs') or [])}"
    head = f"fiddle config, sha256 {str(fiddle.get('sha256', ''))[:12]}, {fiddle.get('size', 0)} bytes {where}"
    try:
        from kuberun.manage.fiddle_tree import render_fiddle
        from kuberun.serialization import decode_envelope

        return [head, *render_fiddle(decode_envelope(data, fiddle.get("sha256"))["config"])]
    except Exception as exc:  # a damaged config must not stop describe from showing the rest
        return [head, f"(cannot render: {exc})"]


def attempts_table(task_status: dict[str, Any]) -> Rows:
    table = Rows(["ATTEMPT", "PHASE", "SUBMITTED", "STARTED", "FINISHED", "EXIT", "BACKEND", "ID", "REASON"])
    for att in task_status.get("attempts") or []:
        ref = att.get("backendRef") or {}
        backend = ref.get("backend", "-") + (f"/{ref['cluster']}" if ref.get("cluster") else "")
        table.add_row(str(att.get("attempt")), str(att.get("phase")), *(age(read_time(att.get(k))) for k in ("submitTime", "startTime", "finishTime")),
                      str(att.get("exitCode", "-")), backend, str(ref.get("id") or "-"), str(att.get("reason") or "-"))
    return table


def spans(numbers: list[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``0-2,5,7-8``: Slurm's own way of writing a set of indices."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def restarts_line(attempt: dict[str, Any]) -> str | None:
    """How often an attempt's task was restarted inside it (FaultTolerance), when it was restartable."""
    count = attempt.get("restarts")
    if not count:
        return None
    return f"attempt {attempt.get('attempt')}: {count} in-job restart{'s' if count != 1 else ''} (FaultTolerance)"


def indices_line(attempt: dict[str, Any]) -> str | None:
    """A job array attempt's indices in one line, grouped by phase and exit code (``-o json`` has each one)."""
    indices = attempt.get("indices") or []
    if not indices:
        return None
    groups: dict[tuple[str, Any], list[int]] = {}
    for i in indices:
        groups.setdefault((str(i.get("phase")), i.get("exitCode")), []).append(int(i.get("index", 0)))
    parts = [f"{phase}{f' (exit {code})' if code not in (None, 0) else ''} {spans(nums)}"
             for (phase, code), nums in sorted(groups.items(), key=lambda kv: min(kv[1]))]
    return f"attempt {attempt.get('attempt')} array, {len(indices)} indices: " + "; ".join(parts)


def components_line(attempt: dict[str, Any]) -> str | None:
    """A Slurm het job attempt's components (docs/slurm.md "Heterogeneous jobs"); its state is component 0's."""
    components = attempt.get("hetComponents") or []
    if not components:
        return None
    return (f"attempt {attempt.get('attempt')} het job, {len(components)} components: {', '.join(components)} "
            "(logs of each under het-<i>/)")


def outputs_lines(task_status: dict[str, Any], experiment: str = "NAME", max_metrics: int = 12) -> list[str]:
    """What the task's latest attempt produced: result, metrics (the first few), artifacts — each with its note."""
    from kuberun.manage.results import format_value, number

    attempts = task_status.get("attempts") or []
    if not attempts:
        return []
    att = attempts[-1]
    lines = []
    if att.get("result") is not None:
        text = str(att["result"])
        lines.append(f"result: {text if len(text) <= 200 else text[:200] + '...'}")
    if att.get("resultNote"):
        lines.append(f"result: ({att['resultNote']})")
    metrics = att.get("metrics") or {}
    if metrics:
        shown = [f"{name}={format_value(number(raw))}" + (f"@{raw['step']}" if isinstance(raw, dict) and raw.get("step") is not None else "")
                 for name, raw in list(metrics.items())[:max_metrics]]
        more = f" (+{len(metrics) - max_metrics} more: -o json)" if len(metrics) > max_metrics else ""
        lines.append(f"metrics: {', '.join(shown)}{more}")
    if att.get("metricsNote"):
        lines.append(f"metrics: ({att['metricsNote']})")
    record = att.get("artifacts")
    if isinstance(record, dict):
        state = "" if record.get("complete") else ", sync in progress"
        lines.append(f"artifacts: {record.get('count', 0)} file(s), {record.get('totalBytes', 0)} bytes{state} "
                     f"(kuberun artifacts {experiment} {task_status.get('name', '')})")
    return lines


def conditions_table(obj: Obj) -> Rows:
    table = Rows(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], wrap=frozenset({"MESSAGE"}))
    for c in (obj.get("status") or {}).get("conditions") or []:
        table.add_row(c.get("type", ""), c.get("status", ""), c.get("reason", ""), age(read_time(c.get("lastTransitionTime"))), c.get("message", ""))
    return table


def events_table(events: list[Obj]) -> Rows:
    table = Rows(["AGE", "TYPE", "REASON", "MESSAGE"], wrap=frozenset({"MESSAGE"}))
    for e in events:
        when = e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp")
        table.add_row(age(read_time(when)), e.get("type", ""), e.get("reason", ""), e.get("message", ""))
    return table


def describe(out: Console | PlainConsole, obj: Obj, children: list[Obj], events: list[Obj], config_maps: dict[str, str]) -> None:
    """Print the whole ``describe`` page."""
    for line in header_lines(obj, children):
        out.print(line, markup=False)
    statuses = {t["name"]: t for t in (obj.get("status") or {}).get("tasks") or []}
    out.print("\nTasks:")
    for task in (obj.get("spec") or {}).get("tasks") or []:
        st = statuses.get(task["name"], {})
        deps = f"  after: {', '.join(task['dependsOn'])}" if task.get("dependsOn") else ""
        retries = (task.get("retries") or {}).get("limit")
        out.print(f"  {task['name']}  [{st.get('phase', 'Pending')}]  {_executor_summary(task.get('executor') or {})}{deps}"
                  f"{f'  retries: {retries}' if retries else ''}", markup=False)
        for line in config_lines(task, config_maps):
            out.print(f"    {line}", markup=False)
        if st.get("message"):
            out.print(f"    message: {st['message']}", markup=False)
        if st.get("attempts"):
            emit(out, attempts_table(st), indent=4)
            for line in filter(None, [x for a in st["attempts"] for x in (restarts_line(a), indices_line(a),
                                                                              components_line(a))]):
                out.print(f"    {line}", markup=False)
        for line in outputs_lines(st, str((obj.get("metadata") or {}).get("name", "NAME"))):
            out.print(f"    {line}", markup=False)
    conditions = (obj.get("status") or {}).get("conditions")
    out.print("\nConditions:" + ("" if conditions else " <none>"))
    if conditions:
        emit(out, conditions_table(obj), indent=4)
    out.print("\nEvents:" + ("" if events else " <none>"))
    if events:
        emit(out, events_table(events), indent=4)
