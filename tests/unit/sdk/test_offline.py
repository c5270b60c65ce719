"""Offline runs: the tasks as real runner processes on this machine, in dependency order, no cluster."""

from __future__ import annotations

from pathlib import Path

import kuberun as kr
from kuberun.offline import run_offline
from kuberun.resource import TaskPhase
from tests.fixtures import tasks


def test_dependencies_run_first_and_dependents_of_a_failure_are_skipped(tmp_path: Path):
    exp = kr.Experiment("offline")
    first = exp.add(kr.Partial(tasks.write_marker, path=str(tmp_path / "first"), text="1"), name="first")
    exp.add(kr.Script(inline=f"test -f {tmp_path / 'first'} && echo after > {tmp_path / 'second'}"), name="second",
            dependencies=[first])
    broken = exp.add(kr.Partial(tasks.fail, message="offline boom"), name="broken")
    exp.add(kr.Partial(tasks.write_marker, path=str(tmp_path / "never")), name="after-broken", dependencies=[broken, first])
    resource, _ = exp.build()
    work = tmp_path / "work"
    work.mkdir()
    phases = run_offline(resource, workdir=work, echo=False)
    assert phases == {"first": TaskPhase.SUCCEEDED, "second": TaskPhase.SUCCEEDED, "broken": TaskPhase.FAILED,
                      "after-broken": TaskPhase.SKIPPED}
    assert (tmp_path / "second").read_text().strip() == "after"  # ran only once its dependency had written
    assert not (tmp_path / "never").exists()
    assert "offline boom" in (work / "broken.log").read_text()
