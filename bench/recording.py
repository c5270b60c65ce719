"""The recorder's costs, as ratios: copying an ended attempt's log must not grow memory with the log,
and an unreachable archive must not slow reconciles down.

1. ``on_attempt_ended`` copies local-file logs of growing size (default 16, 64, 256 MiB) into a
   directory store; the traced-memory peak is printed as a ratio to the store's chunk size, and the
   largest log's peak as a ratio to the smallest's (flat means ~1.0).
2. The controller (against the in-memory API of tests/helpers/fake_kube.py) reconciles N experiments
   to their end three ways — no recorder, a reachable SQLite archive, an archive whose URL cannot be
   read (down) — and prints each wall time as a ratio to the no-recorder run.

    python bench/recording.py [--sizes 16,64,256] [--experiments 200]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kuberun.resource import AttemptStatus, BackendRef, LogRef
from kuberun_operator.logstore import LogStore, StoreOptions
from kuberun_operator.recording import AttemptEnded, on_attempt_ended
from kuberun_operator.recording.sources import CHUNK

MiB = 1 << 20
UID = "8d3c3a4e-1f2b-4c5d-9e6f-0a1b2c3d4e5f"


def write_log(path: Path, mib: int) -> None:
    line = b"step 000000 loss 0.1234 lr 0.001 a training log line of the usual length.......\n"
    block = line * (MiB // len(line) + 1)
    with path.open("wb") as f:
        for _ in range(mib):
            f.write(block[:MiB])


async def copy_peak(root: Path, mib: int) -> int:
    log = root / f"{mib}.log"
    write_log(log, mib)
    store = LogStore.from_url(str(root / "store"))
    attempt = AttemptStatus(attempt=1, phase="Succeeded", backend_ref=BackendRef(backend="local", idempotency_key="k", id="1"),
                            log_ref=LogRef(kind="file", path=str(log)))
    tracemalloc.start()
    archived = await on_attempt_ended(AttemptEnded("ns", "exp", UID, f"t{mib}", attempt), kube=None, backends={},  # type: ignore[arg-type]
                                      store=store)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert archived.size == mib * MiB
    log.unlink()
    return peak


async def reconcile_all(count: int, url_of: object) -> float:
    from tests.helpers.recording import Bridge, recorder_for
    from tests.unit.operator.test_controller import harness

    h = harness({"slurm": Bridge()})
    recorder = recorder_for(h, url_of, None) if url_of is not None else None
    if recorder is not None:
        await recorder.start()
    for i in range(count):
        h.kube.add_experiment(f"e{i}", [{"name": "t", "script": {"command": ["true"]}, "executor": {"slurm": {"cluster": "c"}}}])
        h.kube.experiments[("ns", f"e{i}")]["metadata"].update(creationTimestamp="2026-01-01T00:00:00Z",
                                                              uid=f"{i:08x}-0000-4000-8000-000000000000")
    start = time.perf_counter()
    for _ in range(2):  # submit, then observe the success
        for i in range(count):
            key = ("ns", f"e{i}")
            h.controller.experiment_seen(h.kube.experiments[key])
            await h.controller.reconcile_key(key)
    elapsed = time.perf_counter() - start
    if recorder is not None:
        await recorder.queue.stop()
    return elapsed


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="16,64,256")
    p.add_argument("--experiments", type=int, default=200)
    a = p.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        peaks = {mib: await copy_peak(Path(tmp), mib) for mib in sizes}
        unit = StoreOptions().chunk_size
        print(f"log copy (local file, {CHUNK >> 10} KiB reads -> directory store): traced peak / store chunk "
              f"({unit >> 20} MiB)")
        for mib, peak in peaks.items():
            print(f"  {mib:4d} MiB log: {peak / unit:5.2f}x")
        print(f"  largest/smallest log peak: {peaks[sizes[-1]] / peaks[sizes[0]]:.2f}")
        url = f"sqlite:///{tmp}/archive.db"
        await reconcile_all(a.experiments, None)  # warm-up: imports, validators built on first use
        base = await reconcile_all(a.experiments, None)
        up = await reconcile_all(a.experiments, lambda: url)
        down = await reconcile_all(a.experiments, lambda: Path(tmp, "missing", "url").read_text())
        print(f"reconciling {a.experiments} experiments to their end, wall time / no recorder:")
        print(f"  archive reachable: {up / base:.2f}   archive down: {down / base:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
