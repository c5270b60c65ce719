"""The fidelity ledger: which scenarios ran against the emulator, which against a real control plane,
and which passed on one but not on the other. Printed at the end of every pytest session.

A test counts for a control plane when it says so through its fixtures: the emulator's ``apiserver``
(and everything built on it: ``kubeconfig``, ``k8s_api_client``), the real ``real_control_plane`` /
``cluster_kubeconfig``, or a fixture parametrized by control plane (``control_plane``, the node
tests' ``sandbox``). One scenario is one test
function (its module of definition and name, so a function re-imported by tests/cluster is the same
scenario) with its other parameters; a difference between the two is an emulator bug to fix or to
list in docs/sandbox.md.
"""

from __future__ import annotations

import collections
from typing import Any

import pytest

REAL_FIXTURES = ("real_control_plane", "cluster_kubeconfig")
PARAM_FIXTURES = ("control_plane", "sandbox")  # parametrized by control plane ("emulator" | "real")
_where: dict[str, tuple[str, str]] = {}                     # nodeid -> (scenario, control plane)
_outcomes: dict[tuple[str, str], str] = {}                  # (scenario, control plane) -> outcome


def _plane(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    for key in PARAM_FIXTURES:
        if callspec is not None and callspec.params.get(key) in ("emulator", "real"):
            return str(callspec.params[key])
    names = set(getattr(item, "fixturenames", ()))
    if names.intersection(REAL_FIXTURES):
        return "real"
    if "apiserver" in names:
        return "emulator"
    return None


def _scenario(item: pytest.Item, plane: str) -> str:
    function = getattr(item, "function", None)
    base = f"{function.__module__}::{function.__name__}" if function is not None else item.nodeid
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return base
    others = [part for part in callspec.id.split("-") if part != plane]
    return f"{base}[{'-'.join(others)}]" if others else base


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        plane = _plane(item)
        if plane is not None:
            _where[item.nodeid] = (_scenario(item, plane), plane)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    key = _where.get(report.nodeid)
    if key is None:
        return
    if report.skipped:
        outcome = "xfailed" if hasattr(report, "wasxfail") else "skipped"
    elif report.failed:
        outcome = "failed"
    elif report.when == "call":
        outcome = "xpassed" if hasattr(report, "wasxfail") else "passed"
    else:
        return
    # The worst phase wins: a teardown error after a passing call is a failure.
    if _outcomes.get(key) != "failed":
        _outcomes[key] = outcome


def summary() -> tuple[dict[str, collections.Counter[str]], list[tuple[str, str, str]]]:
    """Outcome counts per control plane, and (scenario, emulator outcome, real outcome) that differ."""
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    by_scenario: dict[str, dict[str, str]] = collections.defaultdict(dict)
    for (scenario, plane), outcome in _outcomes.items():
        counts[plane][outcome] += 1
        by_scenario[scenario][plane] = outcome
    ran = ("passed", "failed", "xfailed", "xpassed")
    ok = ("passed", "xpassed")  # an XPASS passed: the expected difference is gone

    differ = [(s, o["emulator"], o["real"]) for s, o in sorted(by_scenario.items())
              if {"emulator", "real"} <= o.keys() and o["emulator"] in ran and o["real"] in ran
              and (o["emulator"] in ok) != (o["real"] in ok)]
    return counts, differ


def pytest_terminal_summary(terminalreporter: Any) -> None:
    counts, differ = summary()
    if not counts:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fidelity ledger: emulator vs real control plane")
    for plane in ("emulator", "real"):
        c = counts.get(plane, collections.Counter())
        detail = ", ".join(f"{n} {what}" for what, n in sorted(c.items())) or "none"
        write(f"{plane:>8}: {sum(c[w] for w in ('passed', 'failed', 'xfailed', 'xpassed'))} scenarios ran ({detail})")
    both = {s for s, _, _ in differ}
    write(f"   differ: {len(both)} (passed on one control plane, failed or xfailed on the other)")
    for scenario, emulator, real in differ:
        write(f"      {scenario}: emulator {emulator}, real {real}")
