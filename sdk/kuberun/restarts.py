"""In-job restarts of a single-process task (``kr.FaultTolerance``), torchrun's ``--max-restarts`` without torch.

torchrun's agent restarts its workers when one fails, up to ``--max-restarts`` times, and tells
each generation its number in ``$TORCHELASTIC_RESTART_COUNT``. A task run as one process has no
agent, so the runner plays it: it runs the task in a child runner (``$KUBERUN_RESTART_COUNT`` set,
so the child does not supervise again), and when that fails it starts a fresh one, up to the limit.
The child that ends the attempt writes the run summary with its restart count; this process writes
nothing of its own. A restart is not a new attempt: the same Job or sbatch job, one record.

Not restarted: a run stopped by SIGTERM/SIGINT (a cancel, a preemption notice — the relay passes it
on and the attempt ends), and an unusable task document (exit 2: a restart cannot fix it).
Stdlib only: it ships in the runner bundle.
"""

from __future__ import annotations

import os
import subprocess
import sys

RESTART_COUNT_ENV = "KUBERUN_RESTART_COUNT"       # set in the child: which generation it is (0 = first run)
TORCH_RESTART_COUNT_ENV = "TORCHELASTIC_RESTART_COUNT"  # torchrun's name for it, for code written for torchrun
TORCH_MAX_RESTARTS_ENV = "TORCHELASTIC_MAX_RESTARTS"
EXIT_BAD_TASK = 2


def supervised() -> bool:
    """Whether this runner is a restartable child (or a torchrun worker): it runs the task itself."""
    return RESTART_COUNT_ENV in os.environ


def restart_count() -> int | None:
    """This run's restart number, when the task may be restarted in its attempt (None otherwise)."""
    for name in (RESTART_COUNT_ENV, TORCH_RESTART_COUNT_ENV):
        value = os.environ.get(name)
        if value is not None and value.isdigit():
            return int(value)
    return None


def supervise(argv: list[str], max_restarts: int) -> int:
    """Run ``python -m kuberun.runner argv`` until it succeeds or has been restarted ``max_restarts`` times."""
    from kuberun.signals import exit_code, forwarding

    code = 0
    for generation in range(max_restarts + 1):
        env = {**os.environ, RESTART_COUNT_ENV: str(generation), TORCH_RESTART_COUNT_ENV: str(generation),
               TORCH_MAX_RESTARTS_ENV: str(max_restarts)}
        with forwarding() as relay:  # listening before the child starts, as for a script
            try:
                process = subprocess.Popen([sys.executable, "-m", "kuberun.runner", *argv], env=env)
            except OSError as exc:
                print(f"kuberun: cannot start the task process: {exc}", file=sys.stderr)
                return 127
            relay.attach(process)
            code = exit_code(process.wait())
        if code == 0 or relay.received or code == EXIT_BAD_TASK:
            return code
        if generation < max_restarts:
            print(f"kuberun: the task exited {code}; in-job restart {generation + 1} of {max_restarts}", file=sys.stderr,
                  flush=True)
    print(f"kuberun: the task failed after {max_restarts} in-job restart(s); the attempt fails", file=sys.stderr, flush=True)
    return code
