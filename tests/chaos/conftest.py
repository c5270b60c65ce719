"""The chaos suite's fixtures: a seeded random generator (seed printed, ``CHAOS_SEED`` replays one)
and a sandbox whose API server, node and operator are separate processes (tests/harness/components.py)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.components import Cluster

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.chaos)
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1 << 31))
    print(f"\nchaos seed for {request.node.name}: {seed} (replay with CHAOS_SEED={seed})")
    return random.Random(seed)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    # A short resync: after a kill, whatever a watch missed is reconciled again within seconds.
    sandbox = Cluster(tmp_path, operator_args=("--resync-seconds", "3", "--workers", "8"))
    try:
        sandbox.start()
        yield sandbox
    finally:
        sandbox.stop()
