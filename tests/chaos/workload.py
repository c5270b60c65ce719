"""The chaos suite's workload and its verdict, read from the tasks' own side effects.

Every task appends ``start EXP TASK ATTEMPT`` and ``end EXP TASK ATTEMPT CODE`` lines to one
shared ledger (small ``O_APPEND`` writes, so lines never interleave). The verdict compares that
ledger — what really ran — with the Experiments' recorded status:

- every Experiment created still exists and finished (none lost, none stuck);
- no attempt started more than once, and nothing ran that the record has no attempt for
  (at most once);
- a recorded failure never hides a success, a recorded success always has a real one, and a
  recorded exit code is the one the task exited with.
"""

from __future__ import annotations

import collections
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kuberun.resource.constants import GROUP, PLURAL, VERSION

NAMESPACE = "default"
EXPERIMENTS = f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}"
FINISHED = ("Succeeded", "Failed", "Cancelled")
PLANNED_EXIT = 7  # task "b" of every third experiment fails its first attempt with this code
RETRIES = 3


def task_script(ledger: Path, seconds: float, fail_first: bool) -> str:
    """The shell a task runs: its start, a little work, its end with its exit code."""
    who = '"$KUBERUN_EXPERIMENT $KUBERUN_TASK $KUBERUN_ATTEMPT"'
    log = shlex.quote(str(ledger))
    code = f'$( [ "$KUBERUN_ATTEMPT" = 1 ] && echo {PLANNED_EXIT} || echo 0 )' if fail_first else "0"
    return (f'echo "start "{who} >> {log}; sleep {seconds:.2f}; code={code}; '
            f'echo "end "{who}" $code" >> {log}; exit $code')


def experiment(name: str, ledger: Path, run_id: str, index: int, seconds: float) -> dict[str, Any]:
    """Three tasks: ``a``, then ``b`` and ``c`` after it; ``b`` fails once in every third experiment."""
    env = {"CHAOS_RUN": run_id}

    def task(task_name: str, after: list[str], fail_first: bool = False) -> dict[str, Any]:
        return {"name": task_name, "script": {"command": ["sh", "-c", task_script(ledger, seconds, fail_first)]},
                "dependsOn": after, "retries": {"limit": RETRIES, "backoffSeconds": 0},
                "executor": {"kubernetes": {"env": env}}}

    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Experiment",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"title": f"chaos {index}", "tasks": [task("a", []), task("b", ["a"], fail_first=index % 3 == 0),
                                                          task("c", ["a"])]}}


@dataclass
class Ledger:
    """What really ran: starts and ends per (experiment, task, attempt)."""

    starts: collections.Counter[tuple[str, str, int]] = field(default_factory=collections.Counter)
    ends: dict[tuple[str, str, int], list[int]] = field(default_factory=lambda: collections.defaultdict(list))

    @classmethod
    def read(cls, path: Path) -> Ledger:
        ledger = cls()
        if not path.exists():
            return ledger
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[0] == "start":
                ledger.starts[(parts[1], parts[2], int(parts[3]))] += 1
            elif len(parts) == 5 and parts[0] == "end":
                ledger.ends[(parts[1], parts[2], int(parts[3]))].append(int(parts[4]))
        return ledger


def verdict(created: list[str], found: dict[str, dict[str, Any]], ledger: Ledger,
            expect_success: bool = True) -> list[str]:
    """Every broken invariant, as a sentence; empty when the run was correct."""
    problems: list[str] = []
    for name in created:
        exp = found.get(name)
        if exp is None:
            problems.append(f"{name}: lost (the Experiment no longer exists)")
            continue
        status = exp.get("status") or {}
        if status.get("phase") not in FINISHED:
            problems.append(f"{name}: stuck in {status.get('phase')!r} ({_summary(status)})")
        elif expect_success and status["phase"] != "Succeeded":
            problems.append(f"{name}: {status['phase']} ({_summary(status)})")
        recorded: set[tuple[str, str, int]] = set()
        for task in status.get("tasks") or []:
            for attempt in task.get("attempts") or []:
                key = (name, task["name"], attempt["attempt"])
                recorded.add(key)
                problems += _attempt_problems(key, attempt, ledger)
        for key, count in ledger.starts.items():
            if key[0] != name:
                continue
            if count > 1:
                problems.append(f"{_k(key)}: executed {count} times under one attempt")
            if key not in recorded:
                problems.append(f"{_k(key)}: executed, but the record has no such attempt")
    return problems


def _attempt_problems(key: tuple[str, str, int], attempt: dict[str, Any], ledger: Ledger) -> list[str]:
    phase, ends = attempt.get("phase"), ledger.ends.get(key, [])
    if phase == "Failed" and 0 in ends:
        return [f"{_k(key)}: recorded Failed ({attempt.get('reason')}) but it succeeded"]
    if phase == "Succeeded" and 0 not in ends:
        return [f"{_k(key)}: recorded Succeeded but never ended with 0 (ends: {ends})"]
    if phase in ("Succeeded", "Failed") and attempt.get("exitCode") is not None and ends \
            and attempt["exitCode"] not in ends:
        return [f"{_k(key)}: recorded exit code {attempt['exitCode']}, the task exited {ends}"]
    return []


def _k(key: tuple[str, str, int]) -> str:
    return f"{key[0]}/{key[1]}#{key[2]}"


def _summary(status: dict[str, Any]) -> str:
    return ", ".join(f"{t['name']}={t.get('phase')}#{t.get('attempt')}:{t.get('reason')}"
                     for t in status.get("tasks") or []) or "no tasks"
