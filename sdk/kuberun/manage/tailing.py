"""NeMo Run's ``tail_logs``: the logs of chosen tasks printed *while* the experiment runs.

Why a module of its own: ``run(wait=True)`` shows progress on stderr while one thread per tailed
task follows that task's log across its attempts (``logs.follow_task``, what ``kuberun logs -f``
does) and prints each line on stdout, prefixed ``[task]`` — the way NeMo Run interleaves its jobs'
logs. A task that starts late (it waits for dependencies) is followed once it has an attempt; a
task whose log cannot be read says so once on stderr and the run goes on.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from kuberun.api import Kube
from kuberun.errors import KuberunError

#: How long ``finish`` waits for the followers to print the last lines after the experiment ended.
FINISH_WAIT = 30.0


class Tailer:
    """Follow ``tasks``' logs of the created experiment ``obj`` in background threads."""

    def __init__(self, kube: Kube, obj: dict[str, Any], tasks: list[str], out: TextIO | None = None,
                 err: TextIO | None = None) -> None:
        self._kube, self._obj, self._tasks = kube, obj, tasks
        self._out, self._err = out or sys.stdout, err or sys.stderr
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for task in self._tasks:
            thread = threading.Thread(target=self._follow, args=(task,), name=f"kuberun-tail-{task}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def finish(self, timeout: float = FINISH_WAIT) -> None:
        """Wait (bounded) for every follower: the experiment has finished, so their streams end."""
        for thread in self._threads:
            thread.join(timeout)

    def _follow(self, task: str) -> None:
        from kuberun.manage.logs import follow_task, lines

        try:
            for line in lines(follow_task(self._kube, self._obj, task, poll=0.5)):
                self._print(self._out, f"[{task}] {line}")
        except KuberunError as exc:
            self._print(self._err, f"[{task}] (log unavailable: {exc})")

    def _print(self, stream: TextIO, text: str) -> None:
        with self._lock:  # whole lines from concurrent followers
            print(text, file=stream, flush=True)
