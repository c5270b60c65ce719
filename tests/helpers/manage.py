"""Helpers for the manage tests: submit experiments, run the CLI in-process, serve pod logs, normalise output,
run an experiment to success."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kuberun as kr
from kuberun_sandbox.kubeconfig import write_kubeconfig
from tests.fixtures import tasks
from tests.helpers.jobs import finish_job, list_jobs
from tests.helpers.operator import phase, wait_for


def write_user_kubeconfig(path: Path, server_url: str, user: str, namespace: str = "default") -> Path:
    """A kubeconfig whose context user is ``user``: a separate client identity for the same cluster."""
    return write_kubeconfig(path, server_url, namespace, user=user)


def train_experiment(title: str = "mnist", namespace: str | None = None, width: int = 8, **kwargs: Any) -> kr.Experiment:
    """A one-task experiment whose config has a nested buildable (for overrides)."""
    exp = kr.Experiment(title, namespace=namespace, **kwargs)
    exp.add(kr.Partial(tasks.train, model=kr.Config(tasks.Model, width=width), lr=0.1), name="train")
    return exp


def submit(kubeconfig: Path | str, namespace: str, title: str = "mnist", build: Callable[[kr.Experiment], Any] | None = None,
           **kwargs: Any) -> str:
    exp = train_experiment(title, namespace, **kwargs) if build is None else kr.Experiment(title, namespace=namespace, **kwargs)
    if build is not None:
        build(exp)
    return exp.run(kubeconfig=str(kubeconfig))["metadata"]["name"]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def cli(*args: str, kubeconfig: Path | str | None = None, namespace: str | None = None) -> Result:
    """Run ``kuberun ARGS`` in-process (typer's runner), with the kubeconfig and namespace options."""
    from typer.testing import CliRunner

    from kuberun.commandline import app

    extra = [*(["--kubeconfig", str(kubeconfig)] if kubeconfig else []), *(["-n", namespace] if namespace else [])]
    result = CliRunner().invoke(app, [*args, *extra], catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def normalise(text: str, names: dict[str, str] | None = None) -> str:
    """Stable text for snapshots: ages, timestamps, digests, commits and given names replaced; no trailing spaces."""
    for real, stable in (names or {}).items():
        text = text.replace(real, stable)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<time>", text)
    text = re.sub(r"\(\d+[smhd] ago\)", "(<age> ago)", text)
    text = re.sub(r"(?<=\s)\d+[smhd](?=\s|$)", "<age>", text)
    text = re.sub(r"\b[0-9a-f]{40}\b", "<commit>", text)
    text = re.sub(r"sha256 [0-9a-f]{12}", "sha256 <digest>", text)
    text = re.sub(r"\b(main|HEAD|[\w/.-]+) \(dirty\)", r"\1", text)
    text = re.sub(r"t-[0-9a-f]{8}", "<ns>", text)
    lines = [re.sub(r"\s+", " ", line.rstrip()) for line in text.splitlines()]
    return "\n".join(lines).strip() + "\n"


class LogServer:
    """Plays the kubelet's ``pods/log`` for the API emulator: fixed lines per pod, followed slowly."""

    def __init__(self) -> None:
        self.logs: dict[tuple[str, str], list[str]] = {}
        self.follow_requests = 0

    def add(self, namespace: str, pod: str, lines: list[str]) -> None:
        self.logs[(namespace, pod)] = lines

    async def __call__(self, namespace: str, pod: str, container: str | None, follow: bool, tail_lines: int | None = None) -> Any:
        lines = self.logs.get((namespace, pod))
        if lines is None:
            return None
        lines = lines[-tail_lines:] if tail_lines else lines
        if not follow:
            return "".join(f"{line}\n" for line in lines)
        self.follow_requests += 1
        return self._follow(lines)

    async def _follow(self, lines: list[str]) -> AsyncIterator[bytes]:
        for line in lines:
            await asyncio.sleep(0.02)  # arrives over time: the client must stream, not wait for the end
            yield f"{line}\n".encode()


def run_to_success(api: Any, ns: str, name: str, logserver: LogServer | None = None, lines: list[str] | None = None) -> None:
    """Let the operator create the Job, finish it (exit 0), serve its pod's log, wait for Succeeded."""
    (job,) = wait_for(lambda: [j["metadata"]["name"] for j in list_jobs(api, ns, f"kuberun.dev/experiment={name}")], what="job")
    if logserver is not None:
        logserver.add(ns, f"{job}-pod", lines or ["step 1 loss 0.9", "step 2 loss 0.5", "done"])
    finish_job(api, ns, job)
    wait_for(lambda: phase(api, ns, name) == "Succeeded", what="Succeeded")

