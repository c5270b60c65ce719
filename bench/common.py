"""What the benchmark scripts share: the checkout on sys.path, the API emulator with the CRD, timing.

The scripts run as files (``python bench/ui.py``), not as a package, so each imports this module as
a sibling (``sys.path`` starts with bench/ when a script there runs; fanout.py imports reconcile.py
the same way). Importing it puts the checkout's root on ``sys.path`` too, so ``kuberun``, the
sandbox and ``tests.helpers`` come from this tree. What each benchmark times stays in its script;
what every one of them sets up first is written once here.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's scripts (kuberun, ...) beside this interpreter
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def cannot_run(problem: str | None) -> bool:
    """Say on stderr why the benchmark cannot run on this machine, if it cannot (``problem`` is not None)."""
    if problem:
        print(f"cannot run: {problem}", file=sys.stderr)
    return bool(problem)


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    """The median wall time of ``runs`` calls of ``fn``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def wait_until(predicate: Callable[[], object], timeout: float, every: float = 0.02) -> float:
    """Poll ``predicate`` every ``every`` seconds until it holds; the ``perf_counter`` time when it did.

    Raises TimeoutError after ``timeout`` seconds: a benchmark that does not converge says so.
    """
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"benchmark did not converge in {timeout:.0f} s")
        time.sleep(every)
    return time.perf_counter()


@dataclass(frozen=True)
class Emulator:
    server: Any  # the running API emulator (its url, request_log)
    kubeconfig: Path  # a kubeconfig for it
    api: Any  # a kubernetes.client ApiClient from that kubeconfig


@contextmanager
def api_emulator(workdir: Path, namespaces: Sequence[str] = ()) -> Iterator[Emulator]:
    """The API emulator in this process, with the Experiment CRD installed and ``namespaces`` created."""
    from kubernetes import client, config

    from kuberun_sandbox.apiserver import run_in_thread
    from kuberun_sandbox.kubeconfig import write_kubeconfig
    from tests.helpers.operator import ensure_crd

    with run_in_thread() as server:
        kubeconfig = write_kubeconfig(workdir / "kubeconfig", server.url)
        api = config.new_client_from_config(config_file=str(kubeconfig))
        ensure_crd(api)
        for namespace in namespaces:
            client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
        yield Emulator(server, kubeconfig, api)
