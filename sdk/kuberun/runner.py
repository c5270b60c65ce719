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
     "script": {"command": [...]} | {"inline": "...", "entrypoint": "bash", "args": [...], "env": {...}},
     "code": {"sha256": "...", "files": [chunk paths, in order]},   # optional: a packager's archive
             # or {"sha256": "...", "size": N, "download": true}: fetched from the record server (Kubernetes)
     "restarts": 3}                                                # optional: in-job restarts (kuberun.restarts)

With ``code``, the chunks are joined, checked against the digest and unpacked (``kuberun.packaging``'s
safe unpack) into ``$KUBERUN_CODE_DIR`` or a temporary directory, which becomes the working directory
and the first entry of ``sys.path`` before the task is built. A package over the ConfigMap limit is
downloaded from the record server with the pod's bound token first (``kuberun.packaging.fetch``: bounded
retries, size and sha256 checked); when it cannot be, the runner says why and exits 2. While the runner imports the config's
modules it sets ``$KUBERUN_IN_TASK``, so a submitting script imported for its callables cannot
submit its experiment again: ``Experiment.run()`` there warns and returns None.

On Kubernetes with a record server, ``$KUBERUN_UPLOAD_URL`` is set and the runner also uploads the
metric series and artifacts while the task runs and when it ends (``kuberun.upload``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kuberun.restarts import restart_count, supervise, supervised

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


IN_TASK_ENV = "KUBERUN_IN_TASK"


def install_code(code: dict[str, Any], dest: Path | None = None) -> Path:
    """Reassemble, verify and unpack the task's code package; make it the working directory and first import path.

    With ``$KUBERUN_CODE_CACHE`` (and no ``dest`` or ``$KUBERUN_CODE_DIR``), once per node: the node's
    first rank unpacks, its others use that tree (``kuberun.packaging.nodecache``)."""
    # From the modules, not the package: the runner shipped to a bare node (runner_bundle) has only these.
    from kuberun.packaging.errors import PackageIntegrityError, PackagingError, UnsafeArchiveError
    from kuberun.packaging.unpack import activate, unpack

    sha256 = code.get("sha256")
    if not code.get("download") and (not isinstance(sha256, str) or not isinstance(code.get("files"), list)
                                     or not code.get("files")):
        raise BadTaskError("task document's 'code' needs 'sha256' and a non-empty 'files' list")
    base, cache = os.environ.get("KUBERUN_CODE_DIR"), os.environ.get("KUBERUN_CODE_CACHE")
    try:
        if dest is None and not base and cache:
            from kuberun.packaging import nodecache

            return activate(nodecache.install(Path(cache), sha256, lambda: _code_bytes(code))[0])  # type: ignore[arg-type]
        if dest is None:
            dest = Path(base) if base else Path(tempfile.mkdtemp(prefix="kuberun-code-")) / "code"
        return activate(unpack(_code_bytes(code), dest, sha256=sha256))  # type: ignore[arg-type]
    except (PackagingError, PackageIntegrityError, UnsafeArchiveError) as exc:
        raise BadTaskError(f"code package refused: {exc}") from exc


def _code_bytes(code: dict[str, Any]) -> bytes:
    """The package's bytes: downloaded from the record server (Kubernetes), else joined from its chunk files."""
    if code.get("download"):  # in the operator's store: fetched from the record server (Kubernetes)
        return _download_code(code.get("sha256"), code.get("size"))
    try:
        return b"".join(Path(str(f)).expanduser().read_bytes() for f in code["files"])  # ~: where SkyPilot mounts it
    except OSError as exc:
        raise BadTaskError(f"code package unavailable: {exc}") from exc


def _download_code(sha256: Any, size: Any) -> bytes:
    from kuberun.packaging.errors import PackageIntegrityError, PackagingError
    from kuberun.packaging.fetch import download

    if not isinstance(sha256, str) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BadTaskError("task document's downloaded 'code' needs 'sha256' and 'size'")
    try:
        return download(sha256, size)
    except PackageIntegrityError as exc:
        raise BadTaskError(f"code package refused: {exc}") from exc
    except PackagingError as exc:
        raise BadTaskError(f"code package unavailable: {exc}") from exc


@contextlib.contextmanager
def _importing_task_code() -> Iterator[None]:
    """While the config's modules are imported, ``Experiment.run()`` is a no-op (``$KUBERUN_IN_TASK``).

    Only then: a task function that submits experiments on purpose (a sweep driver), or a script task
    that runs a submitting script, still can.
    """
    before = os.environ.get(IN_TASK_ENV)
    os.environ[IN_TASK_ENV] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(IN_TASK_ENV, None)
        else:
            os.environ[IN_TASK_ENV] = before


def run_fiddle(fiddle: dict[str, Any], result_file: Path | None, outcome: dict[str, Any] | None = None) -> int:
    import fiddle as fdl

    from kuberun.errors import ConfigIntegrityError
    from kuberun.serialization import decode_config

    # Shipped script modules live only as long as the task: nothing is left in the temporary directory.
    with tempfile.TemporaryDirectory(prefix="kuberun-modules-") as modules_dir:
        try:
            with _importing_task_code():
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
    from kuberun.signals import exit_code, forwarding

    with forwarding() as relay:  # listening before the script starts: no signal falls in between
        try:
            process = subprocess.Popen(argv, env=env)
        except OSError as exc:
            print(f"kuberun: cannot execute {argv[0]!r}: {exc}", file=sys.stderr)
            return 127
        relay.attach(process)
        return exit_code(process.wait())


def task_document(task: Any, data_files: list[str] | None = None, code_files: list[str] | None = None,
                  code_download: bool = False) -> dict[str, Any]:
    """The runner's document for a ``TaskSpec``; ``data_files`` replace ConfigMap refs once mounted,
    ``code_files`` are where the backend put the code package's chunks (in order); ``code_download``:
    the runner fetches the package from the record server instead (``kuberun.packaging.fetch``)."""
    doc: dict[str, Any] = {"name": task.name}
    executor = task.executor.config
    if getattr(executor, "max_restarts", 0) and getattr(executor, "launcher", "none") != "torchrun":
        doc["restarts"] = executor.max_restarts  # torchrun restarts its own workers (--max-restarts)
    code = getattr(task, "code", None)
    if code is not None and code_download and not code_files:
        doc["code"] = {"sha256": code.sha256, "size": code.size, "download": True}
    elif code is not None:
        if not code_files:
            raise BadTaskError(f"task {task.name!r} ships code {code.sha256[:12]}; give the paths of its chunks")
        doc["code"] = {"sha256": code.sha256, "files": list(code_files)}
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
    if args.result is not None:
        args.result = args.result.absolute()  # the code package may become the working directory
    outcome: dict[str, Any] = {}
    report_files()  # before any child (FaultTolerance's restarts): they inherit where to report
    supervising = False
    uploader = None
    try:
        task = load_task_env(args.config_env) if args.config_env else load_task(args.config)
        restarts = task.get("restarts") or 0
        if isinstance(restarts, int) and not isinstance(restarts, bool) and restarts > 0 and not supervised():
            supervising = True  # the child that ends the attempt writes the summary (kuberun.restarts)
            return supervise(sys.argv[1:] if argv is None else argv, restarts)
        uploader = _uploader()  # in the process that runs the task (a supervisor's children each upload)
        if task.get("code") is not None:
            install_code(task["code"])
        if "fiddle" in task:
            return run_fiddle(task["fiddle"], args.result, outcome)
        return run_script(task["script"])
    except BadTaskError as exc:
        print(f"kuberun: {exc}", file=sys.stderr)
        outcome["error"] = str(exc)  # into the summary: the attempt's record says why, not only "exit 2"
        return EXIT_BAD_TASK
    finally:
        if not supervising:
            write_summary(outcome)
        if uploader is not None:
            uploader.finish()


def _uploader() -> Any:
    """The pod's uploader of series and artifacts (Kubernetes with a record server: ``kuberun.upload``), started."""
    from kuberun.resource.upload import URL_ENV

    if not os.environ.get(URL_ENV):
        return None
    from kuberun.upload import Uploader

    uploader = Uploader.from_env()
    if uploader is not None:
        uploader.start()
    return uploader


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
                                 has_result="result" in outcome, restarts=restart_count(), error=outcome.get("error"))
    try:
        Path(target).write_text(text)
    except OSError as exc:
        print(f"kuberun: cannot write the run summary to {target}: {exc.strerror}", file=sys.stderr)
    if os.environ.get(results.LOG_MARKS_ENV):  # the log is the backend's only route back (Lepton, SkyPilot)
        from kuberun.metrics import read_series

        in_log = results.build_summary(outcome.get("result"), finals, limit=min(limit, results.LOG_SUMMARY_BYTES),
                                       dropped_metrics=dropped, has_result="result" in outcome, restarts=restart_count())
        points = [line for p in (read_series(Path(series)) if series else ()) if (line := _compact(p)) is not None]
        sys.stderr.flush()
        print("\n".join(results.log_marks(in_log, points)), flush=True)


def _compact(point: dict[str, Any]) -> str | None:
    try:
        return json.dumps(point, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None  # a hand-written line with a bare NaN: not one to print


def report_files() -> None:
    """Where a backend that sets no files of its own (the log route, ``LOG_MARKS_ENV``) keeps the series
    and summary: a private directory, named in the environment so the task's subprocesses append there too."""
    from kuberun.resource import summary as results

    if not os.environ.get(results.LOG_MARKS_ENV) or os.environ.get(results.METRICS_ENV):
        return
    where = Path(tempfile.mkdtemp(prefix="kuberun-report-"))
    os.environ[results.METRICS_ENV] = str(where / results.METRICS_FILE)
    os.environ.setdefault(results.SUMMARY_ENV, str(where / results.SUMMARY_FILE))


if __name__ == "__main__":
    sys.exit(main())

