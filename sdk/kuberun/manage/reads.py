"""What ``kuberun list`` and ``kuberun describe`` do, free of typer: one body for both parsers.

The typer commands in ``commands.py`` and the console script's fast path (``kuberun/console.py``)
call these functions with the same keyword arguments, so the output, the exit codes and the
error lines are the same whichever parser read the command line. Nothing here imports typer:
messages go to ``sys.stdout``/``sys.stderr`` as ``typer.echo`` would write them, and exit codes
leave as ``SystemExit``, which typer and its test runner pass through as the command's code.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any


def say(text: str, err: bool = False) -> None:
    """One line to stdout (or stderr), flushed: what ``typer.echo`` does for text."""
    stream = sys.stderr if err else sys.stdout
    stream.write(f"{text}\n")
    stream.flush()


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Every kuberun error becomes ``error: <one line>`` and exit code 1."""
    from kuberun.errors import KuberunError

    try:
        yield
    except KuberunError as exc:
        say(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", err=True)
        raise SystemExit(1) from None
    except BrokenPipeError:  # `kuberun logs x | head`
        sys.stderr.close()
        raise SystemExit(0) from None


def connect(kubeconfig: str | None, context: str | None, namespace: str | None, *, lean: bool = True) -> Any:
    """The client a command uses: for reading, the lean transport (``kuberun.api.lean``: start-up
    time); ``lean=False`` for the commands that write, which keep urllib3's pooled client."""
    from kuberun.api import connect as kube

    return kube(kubeconfig, context, namespace, lean=lean)


def list_experiments(*, title: str | None = None, user: str | None = None, phase: str | None = None,
                     selector: str | None = None, since: str | None = None, limit: int = 50,
                     continue_: str | None = None, output: str | None = None, all_namespaces: bool = False,
                     archived: bool = False, columns: str | None = None, kubeconfig: str | None = None,
                     context: str | None = None, namespace: str | None = None) -> None:
    """``kuberun list``: one page, newest first (with ``archived``: from the archive)."""
    with one_line_errors():
        from kuberun.errors import UsageError
        from kuberun.manage import query
        from kuberun.resource.phases import ExperimentPhase

        if output not in (None, "json", "yaml", "wide"):
            raise UsageError(f"unknown output format {output!r}: use json, yaml or wide")
        phases = [p.value for p in ExperimentPhase]
        if phase is not None and phase.lower() not in (p.lower() for p in phases):
            say(f"error: invalid value for --phase: {phase!r} is not one of {', '.join(phases)}", err=True)
            raise SystemExit(2)
        try:
            since_delta = query.parse_duration(since) if since else None
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        flt = query.ListFilter(title=title, user=user, phase=phase, selector=selector, since=since_delta)
        if archived:
            from kuberun.manage.records import archived_page

            items, token = archived_page(connect(kubeconfig, context, namespace), flt, all_namespaces=all_namespaces,
                                         limit=limit, continue_token=continue_)
            page = query.Page(items, token)
        else:
            page = query.list_page(connect(kubeconfig, context, namespace), flt, all_namespaces=all_namespaces,
                                   limit=limit, continue_token=continue_)
        from kuberun.manage import render

        if output in ("json", "yaml"):
            say(render.machine(page.items, output, page.continue_token))
        elif not page.items:
            say("No archived experiments found." if archived else "No experiments found.", err=True)
        else:
            if archived:
                say("ARCHIVED experiments (from the operator's archive):", err=True)
            from kuberun.manage.results import metric_columns

            render.emit(render.stdout(), render.list_table(page.items, wide=output == "wide", namespaces=all_namespaces,
                                                            extra=metric_columns(page.items, columns)))
        if page.continue_token:
            more = f" ({page.remaining} more)" if page.remaining else ""
            say(f"next page{more}: kuberun list {'--archived ' if archived else ''}--continue {page.continue_token}", err=True)


def machine_format(output: str | None) -> str | None:
    """``-o``'s value checked: None (text), 'json' or 'yaml'. Raises UsageError."""
    from kuberun.errors import UsageError

    if output not in (None, "json", "yaml"):
        raise UsageError(f"unknown output format {output!r}: use json or yaml")
    return output


def describe(*, name: str, output: str | None = None, kubeconfig: str | None = None, context: str | None = None,
             namespace: str | None = None) -> None:
    """``kuberun describe``: the page, or with ``output`` one document with the Experiment, its reproductions and events."""
    with one_line_errors():
        from kuberun.manage import query, render
        from kuberun.manage.records import archived_config_maps, archived_note, get_or_archived, with_history

        fmt = machine_format(output)
        kube = connect(kubeconfig, context, namespace)
        obj, history_note = with_history(kube, get_or_archived(kube, name))  # attempts the status budget dropped
        note = archived_note(obj)
        archive = obj.pop("archive", None)
        children, total = query.lineage(kube, obj)  # status.lineage: no request (the label query for older originals)
        events = (archive or {}).get("events") or [] if note else query.events_for(kube, obj)
        if fmt is not None:
            doc = {"experiment": obj, "reproductions": [c["metadata"]["name"] for c in children],
                   "reproductionCount": total, "events": events}
            if archive is not None:
                doc["archived"] = {k: v for k, v in archive.items() if k != "events"}
            say(render.machine(doc, fmt))
            return
        if note:
            say(f"ARCHIVED: {note}", err=True)
        if history_note:
            say(f"note: {history_note}", err=True)
        if note:  # archived: the archive's copies of its ConfigMaps (reproduce's parser loads only for these)
            from kuberun.manage.reproduce import kept_config_data

            config_maps = kept_config_data(obj, archived_config_maps(kube, obj) or [])
        else:
            config_maps = query.config_map_data(kube, obj)
        render.describe(render.stdout(), obj, children, events, config_maps)
