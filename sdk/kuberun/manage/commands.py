"""The manage commands of the ``kuberun`` CLI: list, describe, logs, cancel, ..., watch.

Only typer is imported at module level; every command imports what it needs when it runs, so
``kuberun --help`` stays instant. ``register(app)`` adds the commands to the CLI's app.
Errors end as one line on stderr (``error: ...``) and exit code 1.
"""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from kuberun.manage import options, reads
from kuberun.manage.reads import one_line_errors as _one_line_errors


def _option(opt: options.Opt) -> Any:
    """The typer parameter of a spec in ``options.py`` (the home of the read commands' flags and help)."""
    return typer.Argument(help=opt.help) if opt.positional else typer.Option(*opt.flags, help=opt.help)


Kubeconfig = Annotated[str | None, _option(options.KUBECONFIG)]
Context = Annotated[str | None, _option(options.CONTEXT)]
Namespace = Annotated[str | None, _option(options.NAMESPACE)]
Name = Annotated[str, _option(options.NAME)]
_LIST = options.by_dest(options.LIST)


def _kube(kubeconfig: str | None, context: str | None, namespace: str | None, *, lean: bool = False) -> Any:
    """The client for a command that writes (urllib3's pool), or with ``lean`` one that only reads."""
    return reads.connect(kubeconfig, context, namespace, lean=lean)


def list_(
    title: Annotated[str | None, _option(_LIST["title"])] = None,
    user: Annotated[str | None, _option(_LIST["user"])] = None,
    phase: Annotated[str | None, _option(_LIST["phase"])] = None,
    selector: Annotated[str | None, _option(_LIST["selector"])] = None,
    since: Annotated[str | None, _option(_LIST["since"])] = None,
    limit: Annotated[int, _option(_LIST["limit"])] = 50,
    continue_: Annotated[str | None, _option(_LIST["continue_"])] = None,
    output: Annotated[str | None, _option(_LIST["output"])] = None,
    all_namespaces: Annotated[bool, _option(_LIST["all_namespaces"])] = False,
    archived: Annotated[bool, _option(_LIST["archived"])] = False,
    columns: Annotated[str | None, _option(_LIST["columns"])] = None,
    kubeconfig: Kubeconfig = None, context: Context = None, namespace: Namespace = None,
) -> None:
    """List experiments, newest first, one page at a time (with --archived: from the archive)."""
    reads.list_experiments(title=title, user=user, phase=phase, selector=selector, since=since, limit=limit,
                           continue_=continue_, output=output, all_namespaces=all_namespaces, archived=archived,
                           columns=columns, kubeconfig=kubeconfig, context=context, namespace=namespace)


Output = Annotated[str | None, _option(options.DESCRIBE_OUTPUT)]
_machine_format = reads.machine_format


def describe(name: Name, output: Output = None, kubeconfig: Kubeconfig = None, context: Context = None,
             namespace: Namespace = None) -> None:
    """Show an experiment: spec, each task's config and attempts, conditions, events, lineage.

    With -o json|yaml: one document with the Experiment, its reproductions' names and its events.
    """
    reads.describe(name=name, output=output, kubeconfig=kubeconfig, context=context, namespace=namespace)


def logs(
    name: Name,
    task: Annotated[str | None, typer.Argument(help="The task (optional for single-task experiments).")] = None,
    task_option: Annotated[str | None, typer.Option("--task", "-t", help="The task, as an option (as cancel takes it).")] = None,
    attempt: Annotated[int | None, typer.Option("--attempt", help="Attempt number (default: the latest).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming until the task ends (across its retries; with --attempt, until that attempt ends).")] = False,
    tail: Annotated[int | None, typer.Option("--tail", help="Only the last N lines.")] = None,
    backend_config: Annotated[str | None, typer.Option("--backend-config", envvar="KUBERUN_BACKEND_CONFIG",
                                                       help="Admin only: read Slurm/SkyPilot/Lepton logs with this backend config's credentials instead of through the operator's record server.")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="json: one JSON object per line {task, attempt, line} (a het job's also component).")] = None,
    component: Annotated[int | None, typer.Option("--component", help="A heterogeneous Slurm job's component (0, 1, ...): only its log. Without it, every component's, each line labelled [het-<i>].")] = None,
    kubeconfig: Kubeconfig = None, context: Context = None, namespace: Namespace = None,
) -> None:
    """Stream a task's logs from whichever backend ran it (a het Slurm job's: every component's, labelled)."""
    with _one_line_errors():
        from kuberun.errors import UsageError
        from kuberun.manage.logs import follow_task, json_lines, pick_attempt, pick_task, stream_logs

        if output not in (None, "json"):
            raise UsageError(f"unknown output format {output!r}: logs take -o json (one object per line)")
        if task is not None and task_option is not None and task != task_option:
            raise UsageError(f"two tasks named: {task!r} and --task {task_option!r}; name one")
        task = task or task_option
        from kuberun.manage.records import archived_note, get_or_archived, with_history

        kube = _kube(kubeconfig, context, namespace, lean=True)
        out = sys.stdout.buffer
        obj, _ = with_history(kube, get_or_archived(kube, name))  # --attempt N of one the status budget dropped
        if archived_note(obj):
            typer.echo(f"ARCHIVED: {archived_note(obj)}", err=True)
            follow = False  # nothing of an archived experiment is still running
        task_name = pick_task(obj, task)
        current: dict[str, int | None] = {"attempt": None}

        def next_attempt(number: int) -> None:
            if current["attempt"] is not None and output is None:
                typer.echo(f"--- attempt {number} ---", err=True)  # stderr: stdout stays the log itself
            current["attempt"] = number

        if follow and attempt is None:  # the task across its retries, until it has finished
            chunks = follow_task(kube, obj, task_name, tail=tail, backend_config=backend_config, on_attempt=next_attempt,
                                 component=component)
        else:
            current["attempt"] = pick_attempt(obj, task_name, attempt)["attempt"]
            chunks = stream_logs(kube, obj, task_name, attempt, follow=follow, tail=tail, backend_config=backend_config,
                                 component=component)
        if output == "json":
            from kuberun.resource.slurmhet import record_components

            het = component is None and record_components(obj, task_name) > 0  # lines labelled with their component
            chunks = json_lines(chunks, task_name, lambda: current["attempt"], het=het)
        for chunk in chunks:
            out.write(chunk)
            out.flush()


def cancel(
    name: Name,
    stop: Annotated[bool, typer.Option("--stop", help="Start nothing new but let running tasks finish.")] = False,
    task: Annotated[list[str] | None, typer.Option("--task", "-t", help=(
        "Cancel only this task (repeatable): its running attempt is cancelled, its dependents skipped, "
        "the other tasks go on (spec.cancelTasks)."))] = None,
    kubeconfig: Kubeconfig = None, context: Context = None, namespace: Namespace = None,
) -> None:
    """Cancel an experiment (spec.shutdown: Terminate, or Stop with --stop), or one task of it with --task."""
    with _one_line_errors():
        from kuberun.manage import lifecycle, query

        kube = _kube(kubeconfig, context, namespace)
        if task:
            if stop:
                raise typer.BadParameter("--stop applies to the whole experiment; a --task is cancelled")
            for one in task:
                noop = lifecycle.cancel_task_noop(query.get_experiment(kube, name), one)
                if noop is not None:
                    typer.echo(f"experiment {name}: {noop}")
                    continue
                lifecycle.cancel_task(kube, name, one)
                typer.echo(f"experiment {name}: task {one} cancelled")
            return
        noop = lifecycle.cancel_noop(query.get_experiment(kube, name), stop=stop)
        if noop is not None:  # as kubectl says "unchanged": exit 0, but say that nothing was done
            typer.echo(f"experiment {name} {noop}")
            return
        lifecycle.cancel(kube, name, stop=stop)
        typer.echo(f"experiment {name} {'stopping' if stop else 'cancelled'}")


def suspend(name: Name, kubeconfig: Kubeconfig = None, context: Context = None, namespace: Namespace = None) -> None:
    """Suspend an experiment's running Jobs; start nothing new until resumed."""
    with _one_line_errors():
        from kuberun.manage import lifecycle

        lifecycle.suspend(_kube(kubeconfig, context, namespace), name)
        typer.echo(f"experiment {name} suspended")


def resume(name: Name, kubeconfig: Kubeconfig = None, context: Context = None, namespace: Namespace = None) -> None:
    """Resume a suspended experiment."""
    with _one_line_errors():
        from kuberun.manage import lifecycle

        lifecycle.resume(_kube(kubeconfig, context, namespace), name)
        typer.echo(f"experiment {name} resumed")


def delete(name: Name, kubeconfig: Kubeconfig = None, context: Context = None, namespace: Namespace = None) -> None:
    """Delete an experiment and everything it owns (Jobs, ConfigMaps)."""
    with _one_line_errors():
        from kuberun.manage import lifecycle

        lifecycle.delete(_kube(kubeconfig, context, namespace), name)
        typer.echo(f"experiment {name} deleted")


def reproduce(
    name: Name,
    overrides: Annotated[list[str] | None, typer.Argument(help="Dotted overrides: train.lr=3e-4 (task name optional with one task).")] = None,
    executor_image: Annotated[str | None, typer.Option("--executor-image", help="Run every task in this image.")] = None,
    new_name: Annotated[str | None, typer.Option("--name", help="Name of the new experiment (default: <title>-<id>).")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Submitter to record (default: the kube context user).")] = None,
    import_code: Annotated[bool, typer.Option("--import-code", help="Import the recorded tasks' modules here (runs their code, "
                                              "including source shipped in the record) to check overrides against the real signatures.")] = False,
    kubeconfig: Kubeconfig = None, context: Context = None, namespace: Namespace = None,
) -> None:
    """Run an experiment again from its recorded spec, with overrides; the new one is linked to the old.

    The record is data: nothing from it is imported or run here unless --import-code is given.
    """
    with _one_line_errors():
        from kuberun.manage.records import archived_config_maps, archived_note, get_or_archived
        from kuberun.manage.reproduce import parse_overrides
        from kuberun.manage.reproduce import reproduce as run_again

        kube = _kube(kubeconfig, context, namespace)
        parsed = parse_overrides(overrides or [])
        old = get_or_archived(kube, name)
        note = archived_note(old)
        kept = None
        if old.pop("archive", None) is not None:
            old.pop("status", None)  # a reproduction needs the spec; an archived status may be another version's
            kept = archived_config_maps(kube, old)
        created = run_again(kube, old, parsed, name=new_name, image=executor_image, user=user,
                           allow_import=import_code, kept_config_maps=kept)
        origin = f"{name}, from its {note}" if note else name
        typer.echo(f"experiment {created['metadata']['name']} created (reproduced from {origin})")


def apply(
    file: Annotated[Path, typer.Option("--filename", "-f", exists=True, dir_okay=False, help="YAML (multi-document) or a Python file.")],
    user: Annotated[str | None, typer.Option("--user", help="Submitter to record (default: the kube context user).")] = None,
    kubeconfig: Kubeconfig = None, context: Context = None, namespace: Namespace = None,
) -> None:
    """Create the experiments a YAML file (with its ConfigMaps) or a Python file defines."""
    with _one_line_errors():
        from kuberun.manage.apply import apply_file

        for created in apply_file(_kube(kubeconfig, context, namespace), file, user=user, namespace=namespace):
            typer.echo(f"experiment {created['metadata']['name']} created")


def export(name: Name, kubeconfig: Kubeconfig = None, context: Context = None, namespace: Namespace = None) -> None:
    """Print an experiment as YAML (with its config ConfigMaps) that `kuberun apply -f` re-creates."""
    with _one_line_errors():
        from kuberun.manage import apply, query

        kube = _kube(kubeconfig, context, namespace, lean=True)
        typer.echo(apply.export(kube, query.get_experiment(kube, name)), nl=False)


def watch(
    name: Name,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between refreshes.")] = 1.0,
    output: Annotated[str | None, typer.Option("--output", "-o", help="json or yaml: the Experiment once per change.")] = None,
    kubeconfig: Kubeconfig = None, context: Context = None, namespace: Namespace = None,
) -> None:
    """Show live progress until the experiment finishes; exit 0 only if it Succeeded.

    On a terminal a live view; to a pipe one line per change; with -o json one JSON object per change.
    """
    with _one_line_errors():
        from kuberun.manage.progress import follow
        from kuberun.manage.query import phase_of

        done = follow(_kube(kubeconfig, context, namespace, lean=True), name, interval=interval, output=_machine_format(output))
        raise typer.Exit(0 if phase_of(done) == "Succeeded" else 1)


def register(app: typer.Typer) -> None:
    """Add the manage commands to ``app``."""
    app.command("list")(list_)
    for command in (describe, logs, cancel, suspend, resume, delete, reproduce, apply, export, watch):
        app.command()(command)
