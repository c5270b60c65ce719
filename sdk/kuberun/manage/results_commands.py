"""CLI commands over what experiments produced: ``compare`` and ``artifacts`` (and ``list --columns``).

Kept apart from ``commands.py`` (the lifecycle commands) so each stays one concern; ``register``
adds these to the same app. Like every manage command, only typer is imported at module level.
"""

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from kuberun.manage.commands import (
    Context,
    Kubeconfig,
    Name,
    Namespace,
    _kube,
    _machine_format,
    _one_line_errors,
)


def compare(
    names: Annotated[list[str], typer.Argument(help="Two or more Experiment names.")],
    output: Annotated[str | None, typer.Option("--output", "-o", help="json or yaml; default: tables.")] = None,
    kubeconfig: Kubeconfig = None, context: Context = None, namespace: Namespace = None,
) -> None:
    """Config differences (a tree diff by path) and metrics of experiments, side by side.

    Configs are read from the record, never by importing user code; only paths whose values differ
    are shown. Metrics are each task's latest recorded values. An experiment whose object is gone is
    read from the archive (through the record server).
    """
    with _one_line_errors():
        from kuberun.errors import UsageError
        from kuberun.manage import query, render, results
        from kuberun.manage.records import archived_config_maps, archived_note, get_or_archived, with_history
        from kuberun.manage.reproduce import kept_config_data

        fmt = _machine_format(output)
        if len(names) < 2:
            raise UsageError("compare needs at least two experiments")
        if len(names) > results.MAX_COMPARED:
            raise UsageError(f"compare at most {results.MAX_COMPARED} experiments at once")
        kube = _kube(kubeconfig, context, namespace, lean=True)
        objs, maps = [], []
        for name in names:  # live, or — the object gone — the archived record, as describe reads it
            obj, _ = with_history(kube, get_or_archived(kube, name))  # attempts the status budget dropped
            note = archived_note(obj)
            if obj.pop("archive", None) is not None:
                typer.echo(f"ARCHIVED {name}: {note}", err=True)
                # its ConfigMaps went with it: the archive's copies (a config it lacks is reported as gone)
                maps.append(kept_config_data(obj, archived_config_maps(kube, obj) or []))
            else:
                maps.append(query.config_map_data(kube, obj))
            objs.append(obj)
        doc = results.compare(objs, maps)
        if fmt is not None:
            typer.echo(render.machine(results.json_safe(doc), fmt))
            return
        _print_comparison(render, results, doc)


def _print_comparison(render: Any, results: Any, doc: dict[str, Any]) -> None:
    from rich.table import Table

    out = render.console()

    def table(first: str) -> Table:
        t = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        for header in [first, *doc["experiments"]]:
            t.add_column(header, no_wrap=True)
        return t

    summary = table("")
    summary.add_row("phase", *doc["phases"])
    render.emit(out, summary)
    out.print()
    if doc["config"]:
        configs = table("CONFIG")
        for row in doc["config"]:
            configs.add_row(row["path"], *["-" if v is None else str(v) for v in row["values"]])
        render.emit(out, configs)
    else:
        out.print("configs: identical")
    out.print()
    if doc["metrics"]:
        metrics = table("METRIC")
        for row in doc["metrics"]:
            metrics.add_row(row["metric"], *[results.format_value(v) for v in row["values"]])
        render.emit(out, metrics)
    else:
        out.print("metrics: none recorded")
    tasks = sorted({t for per in doc["results"] for t in per})
    if tasks:
        out.print()
        returned = table("RESULT")
        for task in tasks:
            cells = []
            for per in doc["results"]:
                got = per.get(task) or {}
                cells.append(got.get("result") or (f"({got['resultNote'][:60]})" if got.get("resultNote") else "-"))
            returned.add_row(task, *cells)
        render.emit(out, returned)


def artifacts(
    name: Name,
    task: Annotated[str | None, typer.Argument(help="Only this task.")] = None,
    attempt: Annotated[int | None, typer.Option("--attempt", help="This attempt instead of the latest.")] = None,
    download: Annotated[Path | None, typer.Option("--download", help="Download the files (verified) into this directory.")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="json or yaml.")] = None,
    kubeconfig: Kubeconfig = None, context: Context = None, namespace: Namespace = None,
) -> None:
    """List the artifacts an experiment's tasks synced to the log store, or download them."""
    with _one_line_errors():
        from kuberun.manage import artifacts as store
        from kuberun.manage import query, render
        from kuberun.resource.upload import node_of

        fmt = _machine_format(output)
        obj = query.get_experiment(_kube(kubeconfig, context, namespace, lean=True), name)
        found = store.records(obj, task, attempt)
        if download is not None:
            for item in found:
                where = download / str(item["task"]) if task is None else download
                files = store.download(item["artifacts"]["location"], where)
                typer.echo(f"{item['task']} attempt {item['attempt']}: {len(files)} file(s) into {where}")
            if not found:
                typer.echo("No artifacts recorded.", err=True)
            return
        if fmt is not None:
            typer.echo(render.machine(found, fmt))
            return
        if not found:
            typer.echo("No artifacts recorded.", err=True)
            return
        for item in found:
            record = item["artifacts"]
            typer.echo(f"{item['task']} (attempt {item['attempt']}, {item['phase']}): {record.get('count', 0)} file(s), "
                       f"{record.get('totalBytes', 0)} bytes at {record['location']}"
                       + (f"; {record['skipped']} not synced" if record.get("skipped") else ""))
            listed = record.get("files") or []
            per_node = any(node_of(entry["path"])[0] for entry in listed)  # a multi-node attempt: say whose file
            for entry in listed:
                node, path = node_of(entry["path"])
                typer.echo(f"  {entry['size']:>12}  {entry['sha256'][:12]}  " + (f"node {node:<3} " if per_node else "")
                           + json.dumps(path)[1:-1])
            more = record.get("count", 0) - len(record.get("files") or [])
            if more > 0:
                typer.echo(f"  ... {more} more in the store's manifest (kuberun artifacts {name} {item['task']} --download DIR)")


def register(app: typer.Typer) -> None:
    app.command()(compare)
    app.command()(artifacts)
