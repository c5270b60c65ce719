"""What recording results costs: the runner's summary, metric logging, status bytes, artifact syncs.

Each number is a ratio against a baseline measured in the same run:
- a Fiddle task through ``python -m kuberun.runner`` with the summary and series files vs without them
  (the backends' environment vs none), median of fresh interpreters;
- ``kr.log_metrics`` per point vs appending the same JSON line to a file by hand;
- status bytes of an attempt with 16 and 256 metrics vs one without (and the termination-message size);
- an incremental artifact sync (second sync, nothing changed) vs the first, and the first vs
  ``shutil.copytree`` of the same files.

    python bench/results.py [--runs N] [--points N] [--files N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _runner_time(doc: Path, env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kuberun.runner", "--config", str(doc)], env=env, cwd=ROOT,
                       capture_output=True, check=True, timeout=120)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def runner(runs: int, tmp: Path) -> None:
    import kuberun as kr
    from kuberun.runner import task_document
    from tests.fixtures import tasks

    exp = kr.Experiment("bench")
    exp.add(kr.Partial(tasks.report, steps=200, result={"ok": True}), name="t", executor=kr.LocalExecutor())
    resource, _ = exp.build()
    doc = tmp / "task.json"
    doc.write_text(json.dumps(task_document(resource.spec.tasks[0])))
    bare = {k: v for k, v in os.environ.items() if not k.startswith("KUBERUN_")}
    full = {**bare, "KUBERUN_SUMMARY_FILE": str(tmp / "summary.json"), "KUBERUN_METRICS_FILE": str(tmp / "m.jsonl")}
    pairs = [(_runner_time(doc, bare, 1), _runner_time(doc, full, 1)) for _ in range(runs)]  # interleaved: load drifts
    base, with_files = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    print(f"runner, 200 steps x 2 metrics: with summary+series {with_files * 1000:.0f} ms vs without "
          f"{base * 1000:.0f} ms = {with_files / base:.2f}x")


def log_metrics(points: int, tmp: Path) -> None:
    import kuberun as kr
    from kuberun import metrics

    path = tmp / "series.jsonl"
    os.environ["KUBERUN_METRICS_FILE"] = str(path)
    metrics._reset_for_tests()
    start = time.perf_counter()
    for step in range(points):
        kr.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for step in range(points):
        with open(tmp / "plain.jsonl", "a") as handle:
            handle.write(json.dumps({"name": "loss", "step": step, "value": 1.0 / (step + 1), "time": time.time()}) + "\n")
    plain = time.perf_counter() - start
    print(f"kr.log_metrics: {ours / points * 1e6:.1f} us/point vs a hand-written append {plain / points * 1e6:.1f} us "
          f"= {ours / plain:.2f}x")


def status_bytes() -> None:
    from kuberun.resource import AttemptStatus, results

    def size(n: int) -> int:
        attempt = AttemptStatus(attempt=1, phase="Succeeded", result='{"best":0.5}',
                                metrics={f"train/metric_{i:03d}": {"value": 0.123456789 * i, "step": 10_000} for i in range(n)})
        return len(json.dumps(attempt.to_dict(), separators=(",", ":")))

    empty, some, full = size(0), size(16), size(256)
    summary = results.build_summary({"best": 0.5}, {f"train/metric_{i:03d}": (10_000, 0.123456789 * i) for i in range(256)},
                                    limit=results.TERMINATION_MESSAGE_BYTES)
    print(f"status per attempt: 16 metrics {some} B ({some / empty:.1f}x an attempt without), 256 metrics {full} B "
          f"({full / empty:.1f}x); termination summary {len(summary.encode())} B of 4096 "
          f"({len(results.parse_summary(summary).metrics)} of 256 metrics fit)")


def artifacts(files: int, tmp: Path) -> None:
    from kuberun_operator.logstore import LogStore
    from kuberun_operator.logstore.artifacts import sync_dir

    src = tmp / "out"
    src.mkdir()
    blob = os.urandom(256 << 10)
    for i in range(files):
        (src / f"ckpt-{i:04d}.bin").write_bytes(blob[i % 64:] + blob[: i % 64])
    store = LogStore.from_url(str(tmp / "store"))
    start = time.perf_counter()
    first = asyncio.run(sync_dir(store, src, "ns/exp-0b6c1e4e/t/1/artifacts"))
    t_first = time.perf_counter() - start
    start = time.perf_counter()
    asyncio.run(sync_dir(store, src, "ns/exp-0b6c1e4e/t/1/artifacts", first))
    t_again = time.perf_counter() - start
    start = time.perf_counter()
    shutil.copytree(src, tmp / "copy")
    t_copy = time.perf_counter() - start
    print(f"artifact sync of {files} x 256 KiB: first {t_first:.2f} s = {t_first / t_copy:.1f}x copytree "
          f"(hashing + atomic writes); unchanged again {t_again * 1000:.0f} ms = {t_again / t_first:.3f}x the first")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kuberun-bench-results-") as tmp:
        runner(args.runs, Path(tmp))
        log_metrics(args.points, Path(tmp))
        status_bytes()
        artifacts(args.files, Path(tmp))


if __name__ == "__main__":
    main()
