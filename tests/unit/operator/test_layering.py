"""The operator's imports go one way: only the SDK's resource models and task contract, never the sandbox.

Checked on the source (every import statement, also those inside functions), so a forbidden
import fails here whether or not a test happens to execute it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3] / "operator" / "kuberun_operator"
# What of the SDK the operator may use, and why.
ALLOWED = {
    "kuberun.resource": "the Experiment's models, constants, times, graph rule, log-source contract",
    "kuberun.runner": "the task-document contract every backend hands its attempt",
    "kuberun.naming": "deterministic child names, which the SDK and the operator must agree on",
    "kuberun.aiowait": "asyncio.wait_for that never loses a cancellation (before Python 3.12 it can)",
    "kuberun.api": "the SDK's Kubernetes client (kubeconfigs, JSON requests): not the kubernetes package's 50 MB",
    "kuberun.errors": "the client's typed errors (UnreachableError, ObjectNotFoundError)",
    "kuberun": "only the package's version (for the task image's pip pin)",
}


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name, []) for a in node.names)
    return found


def test_the_operator_sources_are_found():
    assert len(list(ROOT.rglob("*.py"))) > 30


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_operator_imports_only_the_sdk_contract_and_never_the_sandbox(path):
    for line, module, names in imports(path):
        where = f"{path.relative_to(ROOT)}:{line}: {module}"
        assert not module.startswith("kuberun_sandbox"), f"{where}: the operator never imports the sandbox"
        top = module.split(".")[0]
        if top != "kuberun":
            continue
        if module == "kuberun":
            assert names == ["__version__"], f"{where}: import {names} from a module of the SDK instead"
            continue
        assert any(module == a or module.startswith(a + ".") for a in ALLOWED if a != "kuberun"), (
            f"{where}: the operator may import only {', '.join(sorted(ALLOWED))} from the SDK")
