"""The archive is operator code: it may use the SDK's resource contract, never the rest of the SDK,
kopf, the sandbox, or other operator modules (so the lead can wire it into any controller shape)."""

from __future__ import annotations

import ast
from pathlib import Path

import kuberun_operator.archive as package

ALLOWED_FIRST_PARTY = ("kuberun.resource", "kuberun_operator.archive")
FIRST_PARTY = ("kuberun", "kuberun_operator", "kuberun_sandbox", "kopf")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_archive_imports_only_the_resource_contract_and_itself() -> None:
    root = Path(package.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) > 10
    offending = [
        f"{path.relative_to(root)}: {name}"
        for path in files
        for name in _imports(path)
        if name.split(".")[0] in FIRST_PARTY
        and not any(name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED_FIRST_PARTY)
    ]
    assert offending == []
