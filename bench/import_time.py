"""Import cost of kuberun against Fiddle and NeMo Run, each in fresh interpreters.

Prints the median of several runs of each statement, and ratios against `import fiddle` (the
floor: kuberun needs Fiddle for configs) measured in the same process.
Targets: `import kuberun` <= 1.3x `import fiddle`; >= 10x faster than `import nemo_run`.

    python bench/import_time.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "fiddle": "import fiddle",
    "kuberun": "import kuberun",
    "kuberun (configure surface)": "import kuberun as kr; kr.Partial; kr.Experiment; kr.KubernetesExecutor",
    "nemo_run": "import nemo_run",
}


def measure(statement: str, runs: int) -> float | None:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", statement], capture_output=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            return None
        times.append(elapsed)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    baseline = measure("pass", args.runs) or 0.0
    results = {name: measure(stmt, args.runs) for name, stmt in CASES.items()}
    floor = results["fiddle"]
    assert floor is not None, "fiddle must import"
    print(f"interpreter start-up (subtracted): {baseline * 1000:.0f} ms, median of {args.runs}")
    for name, seconds in results.items():
        if seconds is None:
            print(f"{name:30s} unavailable (not installed or fails to import)")
            continue
        ratio = (seconds - baseline) / max(floor - baseline, 1e-9)
        print(f"{name:30s} {ratio:6.2f}x import fiddle")
    nemo, kr = results["nemo_run"], results["kuberun (configure surface)"]
    if nemo and kr:
        print(f"{'nemo_run / kuberun configure':30s} {(nemo - baseline) / max(kr - baseline, 1e-9):6.1f}x (kuberun faster)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
