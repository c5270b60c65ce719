"""Run one task: ``python -m kuberun.runner --config FILE`` (or ``--config-env NAME``).

The task document is read from a file (never argv, which has size limits), or — where the
backend cannot mount a file (Lepton, SkyPilot) — from an environment variable holding the
document's JSON, base64-encoded (``encode_task_env``). A Fiddle task is
decoded, its digest checked, built and, for a Partial, called; a script is executed without a
shell between it and its arguments. Exit codes: 0 success, 1 the task failed (traceback on
stderr), 2 the task document is unusable, otherwise the script's own exit code — 128+N where a
signal N ended the script or the runner (Kubernetes' convention; see ``kuberun.signals``, which also
explains why the runner forwards SIGTERM and SIGINT to the task).

Task document (JSON)::

    {"name": "train",
     "fiddle": {"sha256": "...", "data": "<encoded>"}            # or "dataFiles": [paths, in order]
     "script": {"command": [...]} | {"inline": "...", "entrypoint": "bash", "args": [...], "env": {...}}}
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_TASK_FAILED, EXIT_BAD_TASK = 0, 1, 2
_INTERPRETERS = {"bash": ["bash"], "sh": ["sh"], "python": [sys.executable]}


class BadTaskError(Exception):
    """The task document cannot be used (missing, malformed, digest mismatch)."""


def load_task(path: Path) -> dict[str, Any]:
    try:
        task = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BadTaskError(f"cannot read task file {path}: {exc}") from exc
    return _checked(task, f"file {path}")


def encode_task_env(doc: dict[str, Any]) -> str:
    """The value of a ``--config-env`` variable: the task document's JSON, base64 (one shell-safe word)."""
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def load_task_env(name: str) -> dict[str, Any]:
    value = os.environ.get(name)
    if not value:
        raise BadTaskError(f"environment variable {name} with the task document is not set")
    try:
        task = json.loads(base64.b64decode(value, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise BadTaskError(f"cannot decode task document from ${name}: {exc}") from exc
    return _checked(task, f"${name}")


def _checked(task: Any, where: str) -> dict[str, Any]:
    if not isinstance(task, dict) or ("fiddle" in task) == ("script" in task):
        raise BadTaskError(f"task document {where} must hold exactly one of 'fiddle' or 'script'")
    return task


def _fiddle_data(fiddle: dict[str, Any]) -> str:
    if "data" in fiddle:
        return str(fiddle["data"])
    try:
        return "".join(Path(p).read_text() for p in fiddle["dataFiles"])
    except (KeyError, OSError) as exc:
        raise BadTaskError(f"config data unavailable: {exc}") from exc


def run_fiddle(fiddle: dict[str, Any], result_file: Path | None, outcome: dict[str, Any] | None = None) -> int:
    import fiddle as fdl

    from kuberun.errors import ConfigIntegrityError
    from kuberun.serialization import decode_config

    # Shipped script modules live only as long as the task: nothing is left in the temporary directory.
    with tempfile.TemporaryDirectory(prefix="kuberun-modules-") as modules_dir:
        try:
            buildable = decode_config(_fiddle_data(fiddle), fiddle.get("sha256"), Path(modules_dir))
        except ConfigIntegrityError as exc:
            raise BadTaskError(str(exc)) from exc
        return _build_and_call(fdl, buildable, result_file, {} if outcome is None else outcome)


def _build_and_call(fdl: Any, buildable: Any, result_file: Path | None, outcome: dict[str, Any]) -> int:
    from kuberun.signals import Terminated, raise_on_terminate

    try:
        with raise_on_terminate():
            built = fdl.build(buildable)
            result = built() if isinstance(buildable, fdl.Partial) else built
    except Terminated as stop:
        print(f"kuberun: task stopped: {stop}", file=sys.stderr)
        return stop.exit_code
    except Exception:
        traceback.print_exc()
        return EXIT_TASK_FAILED
    outcome["result"] = result
    if result_file is not None:
        result_file.write_text(json.dumps({"result": repr(result)[:4096]}))
    print(f"kuberun: task returned {repr(result)[:200]}", file=sys.stderr)
    return EXIT_OK


def run_script(script: dict[str, Any]) -> int:
    env = {**os.environ, **{str(k): str(v) for k, v in script.get("env", {}).items()}}
    args = [str(a) for a in script.get("args", [])]
    if script.get("command"):
        argv = [str(c) for c in script["command"]] + args
        return _exec(argv, env)
    entrypoint = script.get("entrypoint", "bash")
    if entrypoint not in _INTERPRETERS:
        raise BadTaskError(f"unknown script entrypoint {entrypoint!r}; use one of {sorted(_INTERPRETERS)}")
    with tempfile.NamedTemporaryFile("w", suffix=".script", delete=False) as handle:
        handle.write(script.get("inline", ""))
    try:
        return _exec([*_INTERPRETERS[entrypoint], handle.name, *args], env)
    finally:
        os.unlink(handle.name)


def _exec(argv: list[str], env: dict[str, str]) -> int:
    """Run the script to its end, relaying SIGTERM/SIGINT to it; its status as Kubernetes reports it."""
    from kuberun.signals import exit_code, forward_to

    try:
        process = subprocess.Popen(argv, env=env)
    except OSError as exc:
        print(f"kuberun: cannot execute {argv[0]!r}: {exc}", file=sys.stderr)
        return 127
    with forward_to(process):
        return exit_code(process.wait())


def task_document(task: Any, data_files: list[str] | None = None) -> dict[str, Any]:
    """The runner's document for a ``TaskSpec``; ``data_files`` replace ConfigMap refs once mounted."""
    doc: dict[str, Any] = {"name": task.name}
    if task.script is not None:
        doc["script"] = task.script.model_dump(by_alias=True, exclude_none=True, mode="json")
    else:
        fiddle = {"sha256": task.fiddle.sha256}
        if task.fiddle.data is not None:
            fiddle["data"] = task.fiddle.data
        elif data_files is not None:
            fiddle["dataFiles"] = data_files
        else:
            raise BadTaskError(f"task {task.name!r}: config is in ConfigMaps; give the mounted file paths")
        doc["fiddle"] = fiddle
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kuberun.runner", description="Run one kuberun task.")
    parser.add_argument("--config", type=Path, default=os.environ.get("KUBERUN_TASK_FILE"), help="task document (JSON)")
    parser.add_argument("--config-env", metavar="NAME", help="environment variable holding the task document (base64 JSON)")
    parser.add_argument("--result", type=Path, default=os.environ.get("KUBERUN_RESULT_FILE"), help="write a result summary here")
    args = parser.parse_args(argv)
    if args.config is None and args.config_env is None:
        parser.error("--config FILE, --config-env NAME or $KUBERUN_TASK_FILE is required")
    outcome: dict[str, Any] = {}
    try:
        task = load_task_env(args.config_env) if args.config_env else load_task(args.config)
        if "fiddle" in task:
            return run_fiddle(task["fiddle"], args.result, outcome)
        return run_script(task["script"])
    except BadTaskError as exc:
        print(f"kuberun: {exc}", file=sys.stderr)
        return EXIT_BAD_TASK
    finally:
        write_summary(outcome)


def write_summary(outcome: dict[str, Any]) -> None:
    """Leave the run summary (result + final metrics) where the backend reads it: ``$KUBERUN_SUMMARY_FILE``.

    Written whether the task succeeded or not (the metrics of a failed run are worth keeping), by
    global rank 0 only. A summary that cannot be written costs the record, never the task's exit code.
    """
    from kuberun.metrics import final_values
    from kuberun.resource import summary as results

    target = os.environ.get(results.SUMMARY_ENV)
    if not target or os.environ.get("RANK", "0") != "0":
        return  # under torchrun every rank runs the runner: rank 0 reports (as it does the result)
    try:
        limit = int(os.environ.get(results.SUMMARY_LIMIT_ENV) or results.FILE_SUMMARY_BYTES)
    except ValueError:
        limit = results.FILE_SUMMARY_BYTES
    series = os.environ.get(results.METRICS_ENV)
    finals, dropped = final_values(Path(series) if series else None)
    text = results.build_summary(outcome.get("result"), finals, limit=limit, dropped_metrics=dropped,
                                 has_result="result" in outcome)
    try:
        Path(target).write_text(text)
    except OSError as exc:
        print(f"kuberun: cannot write the run summary to {target}: {exc.strerror}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

