"""Fixtures of the dashboard tests: a sandbox (API server + node, with or without the operator) and the dashboard on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bare_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """API server and node, no operator: experiments keep the status the test writes."""
    from kuberun_sandbox import Sandbox

    with Sandbox(data_dir=tmp_path_factory.mktemp("ui-bare"), operator=False) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def live_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """API server, node and operator: experiments really run (task code from this checkout: PYTHONPATH)."""
    from kuberun_sandbox import Sandbox

    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([saved] if saved else [])])
    try:
        with Sandbox(data_dir=tmp_path_factory.mktemp("ui-live"), operator=True) as sandbox:
            yield sandbox
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
