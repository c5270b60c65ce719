"""Fixtures for running tests against the real control plane (``kuberun_sandbox.realcp``), and the
``cluster`` marker's rule. Registered from tests/conftest.py.

- ``real_control_plane`` (session): etcd + kube-apiserver + kube-controller-manager, no node (pods
  stay Pending, as the API-semantics tests want); skips, saying why, when the binaries are missing.
- ``cluster_kubeconfig`` (session): what the ``cluster`` suite talks to — the cluster named by
  ``KUBECONFIG`` with ``KUBERUN_TEST_CLUSTER=1``, otherwise the real control plane above.
- ``control_plane`` (parametrized ``emulator`` | ``real``): for tests that start their own
  ``Sandbox(control_plane=...)``, so one test body runs against both.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

CONTROL_PLANES = ("emulator", "real")


def external_cluster() -> str | None:
    """The KUBECONFIG of a cluster the user asked for (KUBERUN_TEST_CLUSTER=1), if any."""
    if os.environ.get("KUBERUN_TEST_CLUSTER") == "1" and os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"]
    return None


def binaries_missing() -> str | None:
    """Why the real control plane cannot start here (None: it can)."""
    from kuberun_sandbox.realcp import BinariesMissing, find_binaries

    try:
        find_binaries()
    except BinariesMissing as e:
        return f"real control plane: {e}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if external_cluster() is not None:
        return
    reason = binaries_missing()
    if reason is None:
        return  # the cluster suite runs against the real control plane
    skip = pytest.mark.skip(reason=f"{reason} (or set KUBECONFIG and KUBERUN_TEST_CLUSTER=1)")
    for item in items:
        if "cluster" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def real_control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    reason = binaries_missing()
    if reason is not None:
        pytest.skip(reason)
    from kuberun_sandbox.realcp import ControlPlane

    with ControlPlane(workdir=tmp_path_factory.mktemp("realcp")) as cp:
        yield cp


@pytest.fixture(scope="session")
def cluster_kubeconfig(request: pytest.FixtureRequest) -> pathlib.Path:
    external = external_cluster()
    if external is not None:
        return pathlib.Path(external)
    cp = request.getfixturevalue("real_control_plane")
    return pathlib.Path(cp.admin_kubeconfig)


@pytest.fixture(params=CONTROL_PLANES)
def control_plane(request: pytest.FixtureRequest) -> str:
    """``emulator`` or ``real`` (skipped, with the reason, when the real binaries are missing)."""
    if request.param == "real" and (reason := binaries_missing()) is not None:
        pytest.skip(reason)
    return str(request.param)
