"""The import directions between kuberun's packages, and no import circle inside the SDK.

``kuberun`` (the SDK users install) ← ``kuberun_operator`` ← ``kuberun_sandbox``: the SDK imports
neither of the others; the operator imports only the SDK's resource models and contracts; nothing
but tests, bench and examples imports the sandbox. Imports are read with ``ast`` from every module,
at any depth (lazy imports inside functions count), and so are the strings given to
``importlib.import_module``/``__import__`` (an f-string counts by its literal prefix), so a module
path assembled at run time is caught too. ``if TYPE_CHECKING:`` blocks are annotations, not imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"kuberun": ROOT / "sdk" / "kuberun", "kuberun_operator": ROOT / "operator" / "kuberun_operator",
            "kuberun_sandbox": ROOT / "sandbox" / "kuberun_sandbox"}
# What the operator may use of the SDK: the resource models and the contracts it implements or runs,
# and the SDK's Kubernetes client (kuberun.api: kubeconfig reading and JSON requests; docs/scale.md).
OPERATOR_MAY_IMPORT = ("kuberun.resource", "kuberun.errors", "kuberun.runner", "kuberun.naming", "kuberun.apipath",
                       "kuberun.aiowait", "kuberun.api", "kuberun.__version__")


@dataclass(frozen=True)
class Import:
    module: str      # the importing module
    target: str      # dotted name imported ("pkg.mod" or "pkg.mod.name")
    line: int
    lazy: bool       # inside a function (runs when called, not at import)
    dynamic: bool    # a string given to importlib.import_module / __import__


def module_name(package: str, root: Path, path: Path) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _string_prefix(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)
    return None


def imports_of(source: str, module: str, is_package: bool = False) -> Iterator[Import]:
    """Every import in ``source`` (the text of ``module``), with where and how it happens."""
    base = module if is_package else module.rpartition(".")[0]

    def walk(node: ast.AST, lazy: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    yield from walk(other, lazy)
                continue
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                yield from (Import(module, alias.name, child.lineno, lazy, False) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                origin = child.module or ""
                if child.level:
                    anchor = ".".join(base.split(".")[: len(base.split(".")) - child.level + 1])
                    origin = f"{anchor}.{origin}" if origin else anchor
                yield from (Import(module, f"{origin}.{alias.name}", child.lineno, lazy, False) for alias in child.names)
            elif isinstance(child, ast.Call) and child.args:
                func = child.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                prefix = _string_prefix(child.args[0]) if name in ("import_module", "__import__") else None
                if prefix:
                    yield Import(module, prefix.rstrip("."), child.lineno, True, True)
            yield from walk(child, inner)

    yield from walk(ast.parse(source), False)


def package_imports(package: str) -> list[Import]:
    root = PACKAGES[package]
    found = []
    for path in sorted(root.rglob("*.py")):
        found += imports_of(path.read_text(), module_name(package, root, path), path.name == "__init__.py")
    return found


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(imports: list[Import], forbidden: tuple[str, ...], allowed_sdk: tuple[str, ...] | None = None) -> list[str]:
    out = []
    for imp in imports:
        bad = any(_under(imp.target, f) for f in forbidden)
        if allowed_sdk is not None and _under(imp.target, "kuberun"):
            bad = bad or not any(_under(imp.target, a) for a in allowed_sdk)
        if bad:
            out.append(f"{imp.module}:{imp.line} imports {imp.target}{' (dynamically)' if imp.dynamic else ''}")
    return out


# -- the checker itself catches what it must --------------------------------------------------------


def test_the_checker_sees_lazy_relative_and_dynamic_imports_but_not_type_checking_ones():
    source = '''
from typing import TYPE_CHECKING
import importlib
from . import sibling
if TYPE_CHECKING:
    from kuberun_sandbox import node
def f(kind):
    import kuberun_operator.app
    importlib.import_module(f"kuberun_operator.backends.{kind}")
    __import__("kuberun_sandbox")
'''
    found = {(i.target, i.lazy, i.dynamic) for i in imports_of(source, "kuberun.manage.logs")}
    assert ("kuberun.manage.sibling", False, False) in found
    assert ("kuberun_operator.app", True, False) in found
    assert ("kuberun_operator.backends", True, True) in found
    assert ("kuberun_sandbox", True, True) in found
    assert not any(t == "kuberun_sandbox.node" for t, _, _ in found)
    assert violations(list(imports_of(source, "kuberun.x")), ("kuberun_operator", "kuberun_sandbox")) == [
        "kuberun.x:8 imports kuberun_operator.app", "kuberun.x:9 imports kuberun_operator.backends (dynamically)",
        "kuberun.x:10 imports kuberun_sandbox (dynamically)"]
    operator_source = "from kuberun import __version__\nfrom kuberun.resource import TaskSpec\nfrom kuberun.manage import query\n"
    assert violations(list(imports_of(operator_source, "kuberun_operator.x")), ("kuberun_sandbox",), OPERATOR_MAY_IMPORT) == [
        "kuberun_operator.x:3 imports kuberun.manage.query"]


# -- the rules --------------------------------------------------------------------------------------


def test_the_sdk_imports_neither_the_operator_nor_the_sandbox():
    assert violations(package_imports("kuberun"), ("kuberun_operator", "kuberun_sandbox")) == []


def test_the_operator_imports_only_the_sdks_models_and_contracts_and_never_the_sandbox():
    assert violations(package_imports("kuberun_operator"), ("kuberun_sandbox",), OPERATOR_MAY_IMPORT) == []


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def sdk_graph(include_lazy: bool) -> dict[str, set[str]]:
    """Module -> SDK modules it imports. A package's parents are not edges: Python imports them first anyway."""
    root = PACKAGES["kuberun"]
    modules = {module_name("kuberun", root, p) for p in root.rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for imp in package_imports("kuberun"):
        if imp.lazy and not include_lazy:
            continue
        target = imp.target if imp.target in modules else imp.target.rpartition(".")[0]
        if target in modules and target != imp.module and not _under(imp.module, target):
            edges[imp.module].add(target)
    return edges


@pytest.mark.parametrize("include_lazy", [False, True], ids=["module-level imports", "with lazy imports"])
def test_no_import_circle_between_sdk_modules(include_lazy):
    assert _cycle(sdk_graph(include_lazy)) is None


def test_the_circle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
