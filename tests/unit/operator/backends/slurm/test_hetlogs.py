"""A het job's logs: every component's lines labelled, one component picked, from the files and from the archive.

The backend reads real files through the local transport (a real shell runs ``tail``), as on a login
node; ``hetlogs`` is driven with generators that interleave the way two followed components do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kuberun.resource import ExperimentResource
from kuberun.resource.slurmhet import component_label, record_problem, split_label
from kuberun_operator.backend_config import SlurmConfig
from kuberun_operator.backends.base import BackendError
from kuberun_operator.backends.slurm import SlurmBackend, hetlogs
from kuberun_operator.settings import Settings


async def _chunks(*parts: bytes, pause: float = 0.0) -> AsyncIterator[bytes]:
    for part in parts:
        if pause:
            await asyncio.sleep(pause)
        yield part


async def _all(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


def test_lines_are_labelled_whole_even_when_chunks_split_them():
    out = asyncio.run(_all(hetlogs.labelled(_chunks(b"one\ntw", b"o\nthr", b"ee"), 1)))
    assert out == b"[het-1] one\n[het-1] two\n[het-1] three\n"


def test_a_line_held_past_the_bound_is_cut_into_labelled_pieces(monkeypatch):
    monkeypatch.setattr(hetlogs, "MAX_LINE", 4)
    out = asyncio.run(_all(hetlogs.labelled(_chunks(b"abcdefghij", b"\n"), 0)))
    assert out == b"[het-0] abcd\n[het-0] efgh\n[het-0] ij\n"


def test_ended_components_come_in_blocks_after_the_jobs_own_lines():
    logs = {None: [b"srun: error: x\n"], 0: [b"a0\na1\n"], 1: [b"b0\n"]}
    out = asyncio.run(_all(hetlogs.every_component(lambda i: _chunks(*logs[i]), 2, follow=False)))
    assert out == b"[job] srun: error: x\n[het-0] a0\n[het-0] a1\n[het-1] b0\n"


def test_followed_components_interleave_as_lines_arrive():
    # Component 1 writes first and last: a reader that waited for component 0 to end would show it last.
    timed = {None: (0.0, []), 0: (0.2, [b"zero\n"]), 1: (0.0, [b"first\n", b"", b"", b"", b"", b"", b"last\n"])}

    def opened(i: int) -> AsyncIterator[bytes]:
        delay, parts = timed[i]

        async def gen() -> AsyncIterator[bytes]:
            await asyncio.sleep(delay)
            for part in parts:
                await asyncio.sleep(0.06)
                yield part
        return gen()

    out = asyncio.run(_all(hetlogs.every_component(opened, 2, follow=True))).splitlines()
    assert out == [b"[het-1] first", b"[het-0] zero", b"[het-1] last"]


def test_a_failing_component_fails_the_followed_stream():
    async def broken() -> AsyncIterator[bytes]:
        yield b"x\n"
        raise BackendError("BackendUnavailable", "connection lost", permanent=False)

    with pytest.raises(BackendError, match="connection lost"):
        asyncio.run(_all(hetlogs.every_component(lambda i: broken() if i else _chunks(b"ok\n", pause=5), 2, True)))


def test_one_component_is_found_again_in_a_combined_log_by_its_label():
    combined = [b"[het-0] a\n[het-1] b\n[het-0] c\n[het-", b"1] [het-0] d\n[het-1] e"]
    one = asyncio.run(_all(hetlogs.archived_view(_chunks(*combined), 1, None)))
    assert one == b"b\n[het-0] d\ne\n"  # only the first label is the component's: the rest is the line
    assert asyncio.run(_all(hetlogs.archived_view(_chunks(*combined), 1, 2))) == b"[het-0] d\ne\n"
    assert asyncio.run(_all(hetlogs.archived_view(_chunks(*combined), 0, 1))) == b"c\n"
    assert asyncio.run(_all(hetlogs.archived_view(_chunks(*combined), 2, None))) == b""
    # Every component's last N, as the live log's --tail gives them.
    last = asyncio.run(_all(hetlogs.archived_view(_chunks(b"[job] s\n", *combined), None, 1)))
    assert last == b"[job] s\n[het-0] c\n[het-1] e\n"
    assert asyncio.run(_all(hetlogs.archived_view(_chunks(*combined), None, None))) == b"".join(combined) + b"\n"


def test_labels_round_trip_and_only_a_label_is_read_as_one():
    assert split_label(component_label(3) + "loss=1") == (3, "loss=1")
    for line in ("[het-x] a", "[het-12] a", "[het-1]a", "plain", "", "[job] setup"):
        assert split_label(line) == (None, line)


def _het_record(size: int = 2, heterogeneous: bool = True) -> dict:
    slurm = {"cluster": "dgx", "heterogeneous": True, "resourceGroup": [{"memory": "1G"}] * size} if heterogeneous \
        else {"cluster": "dgx"}
    return {"apiVersion": "kuberun.dev/v1alpha1", "kind": "Experiment",
            "metadata": {"namespace": "team-a", "name": "e", "uid": "uid-a"},
            "spec": {"title": "t", "tasks": [{"name": "t", "script": {"command": ["true"]}, "executor": {"slurm": slurm}}]}}


def test_a_component_that_is_not_there_is_named_with_the_ones_that_are():
    assert record_problem(_het_record(), "t", 1) is None and record_problem(_het_record(), "t", None) is None
    assert record_problem(_het_record(), "t", 2) == "task 't' has no het component 2: its components are 0-1"
    assert "is not a heterogeneous Slurm job" in str(record_problem(_het_record(heterogeneous=False), "t", 0))


@pytest.fixture
def backend_and_exp(tmp_path: Path) -> tuple[SlurmBackend, ExperimentResource]:
    attempt = tmp_path / "w" / "team-a" / "e" / "t" / "1"
    for i, text in enumerate(("zero a\nzero b\n", "one a\n")):
        (attempt / f"het-{i}").mkdir(parents=True)
        (attempt / f"het-{i}" / "output.log").write_text(text)
    (attempt / "output.log").write_text("the batch script's own output\n")
    config = SlurmConfig.model_validate({"clusters": [{"name": "dgx", "transport": "local", "workdir": str(tmp_path / "w")}]})
    return SlurmBackend(config, Settings()), ExperimentResource.model_validate(_het_record())


def test_the_backend_serves_every_component_labelled_or_the_one_asked_for(backend_and_exp):
    backend, exp = backend_and_exp

    def read(component: int | None = None, tail: int | None = None) -> bytes:
        return asyncio.run(_all(backend.logs(exp, "t", 1, False, tail, component=component)))

    assert read() == b"[job] the batch script's own output\n[het-0] zero a\n[het-0] zero b\n[het-1] one a\n"
    assert read(tail=1) == b"[job] the batch script's own output\n[het-0] zero b\n[het-1] one a\n"  # last N of each
    assert read(1) == b"one a\n" and read(0, tail=1) == b"zero b\n"
    with pytest.raises(BackendError, match="has no het component 2: its components are 0-1"):
        read(2)
