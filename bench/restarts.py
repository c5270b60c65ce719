"""A task that fails once: FaultTolerance's in-job restart against a retry (a new attempt), on the sandbox.

Both run the same payload (a script that exits 3 on its first run and 0 on the second, marking the first run on
disk) as a Kubernetes task on the sandbox (API server, node running pods as processes, operator).
The retry path is what kuberun did before ``FaultTolerance``: the Job fails, the operator records it, waits
the backoff (0 s here), creates a new Job, the node starts a new pod. The in-job path restarts the process
inside the same pod. Prints the median seconds from ``run()`` to Succeeded of each, their ratio (in-job /
retry), and each run's times. Runs alternate, so load drift hits both alike; bounded: ``--runs`` each, 120 s
per run at most.

    .venv/bin/python bench/restarts.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import kuberun as kr  # noqa: E402
from kuberun_sandbox import Sandbox  # noqa: E402

TIMEOUT = 120.0


def one_run(sandbox: Sandbox, in_job: bool, marker_dir: Path, i: int) -> tuple[float, int]:
    """Seconds from run() to Succeeded, and the number of attempts it took."""
    kind = "ft" if in_job else "retry"
    marker = marker_dir / f"{kind}-{i}"
    # A retry's new pod starts from scratch, so the payload marks its first run on disk (the same for both).
    script = kr.Script(inline=f"if [ -e {marker} ]; then exit 0; fi; touch {marker}; exit 3")
    exp = kr.Experiment(f"bench-{kind}-{i}")
    if in_job:
        exp.add(script, name="t", executor=kr.KubernetesExecutor(launcher=kr.FaultTolerance(max_restarts=1)))
    else:
        exp.add(script, name="t", retries=1, backoff_seconds=0)
    start = time.monotonic()
    exp.run(kubeconfig=str(sandbox.kubeconfig))
    deadline = start + TIMEOUT
    while time.monotonic() < deadline:
        status = exp.status()
        if status.phase in ("Succeeded", "Failed"):
            took = time.monotonic() - start
            if status.phase != "Succeeded":
                raise SystemExit(f"{exp.name} ended {status.phase}")
            return took, len(status.tasks[0].attempts)
        time.sleep(0.05)
    raise SystemExit(f"{exp.name} did not finish in {TIMEOUT} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="kuberun-bench-restarts-") as tmp, \
            Sandbox(data_dir=Path(tmp) / "sandbox", operator=True) as sandbox:
        if not sandbox.operator_running:
            raise SystemExit(f"operator did not start: {sandbox.operator_error}")
        one_run(sandbox, True, Path(tmp), -1)  # warm-up: first pod, first imports
        for i in range(args.runs):
            for in_job in (True, False):
                took, attempts = one_run(sandbox, in_job, Path(tmp), i)
                assert attempts == (1 if in_job else 2), (in_job, attempts)
                times[in_job].append(took)
    ft, retry = statistics.median(times[True]), statistics.median(times[False])
    print(f"in-job restart (1 attempt):  median {ft:.2f} s  runs {', '.join(f'{t:.2f}' for t in times[True])}")
    print(f"retry (2 attempts, 0 s backoff): median {retry:.2f} s  runs {', '.join(f'{t:.2f}' for t in times[False])}")
    print(f"ratio in-job / retry: {ft / retry:.2f}")


if __name__ == "__main__":
    main()
