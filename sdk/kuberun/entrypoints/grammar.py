"""NeMo Run's override grammar, parsed into data: ``path op value`` with no user code evaluated.

    steps=20  name=run1  lr=3e-4        assign (a Python literal, else the text as a string)
    model=large_model  model=large_model(depth=3)   a registered factory, called with literal kwargs
    model.depth=5  layers[0]=64  opts['beta']=0.9   a nested attribute, list index or dict key
    steps*=2  steps+=1  lr/=10  warmup-=1  tags|={'a': 1}    arithmetic on the current value
    lrs=[1e-3, 3e-4]  extra={'k': 'v'}   list and dict literals
    train 5 0.1                          positional values fill parameters in order, before any key=value

Values are read with ``ast.literal_eval`` only (plus true/false/none/null): NeMo Run also evaluates
lambdas and comprehensions from the command line; kuberun does not, so an override is data that
can be stored, shown and re-applied. ``--yaml FILE`` gives the same overrides as a mapping.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kuberun.entrypoints.errors import CLIError

OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": lambda _old, new: new,
    "+=": operator.add,
    "-=": operator.sub,
    "*=": operator.mul,
    "/=": operator.truediv,
    "|=": lambda old, new: {**old, **new} if isinstance(old, Mapping) and isinstance(new, Mapping) else old | new,
}
_KEY = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[[^\]]+\])*"
_OVERRIDE = re.compile(rf"^(?P<key>{_KEY})\s*(?P<op>\+=|-=|\*=|/=|\|=|=)(?P<value>.*)$", re.DOTALL)
_ELEMENT = re.compile(r"\.?([A-Za-z_]\w*)|\[([^\]]+)\]")
_WORDS = {"true": True, "false": False, "none": None, "null": None}
_NOTHING = object()


@dataclass(frozen=True)
class Attr:
    name: str


@dataclass(frozen=True)
class Index:
    key: Any


@dataclass(frozen=True)
class FactoryCall:
    """``name`` or ``name(a=1, b='x')``: a factory reference; kwargs are literals, checked against its signature."""

    name: str
    kwargs: tuple[tuple[str, Any], ...] = ()
    called: bool = False


@dataclass(frozen=True)
class Override:
    """One override: where (``path``), how (``op``) and what: ``raw`` text from argv, or a ``value`` from YAML."""

    text: str
    path: tuple[Attr | Index, ...]
    op: str
    raw: str | None = None
    value: Any = None

    @property
    def key(self) -> str:
        return format_path(self.path)

    @property
    def head(self) -> str:
        first = self.path[0]
        return first.name if isinstance(first, Attr) else ""


def format_path(path: tuple[Attr | Index, ...]) -> str:
    out = ""
    for element in path:
        out += f".{element.name}" if isinstance(element, Attr) else f"[{element.key!r}]"
    return out.lstrip(".")


def parse_path(key: str, text: str) -> tuple[Attr | Index, ...]:
    elements: list[Attr | Index] = []
    pos = 0
    for match in _ELEMENT.finditer(key):
        if match.start() != pos:
            break
        pos = match.end()
        if match.group(1) is not None:
            elements.append(Attr(match.group(1)))
        else:
            try:
                elements.append(Index(ast.literal_eval(match.group(2).strip())))
            except (ValueError, SyntaxError):
                raise CLIError(f"index [{match.group(2)}] is not a literal (write [0] or ['key'])", text) from None
    if pos != len(key) or not elements or not isinstance(elements[0], Attr):
        raise CLIError("not a valid path (write name, a.b, a[0] or a['k'])", text)
    return tuple(elements)


def parse_override(text: str) -> Override:
    """``text`` as an Override; CLIError when it is not ``path op value``."""
    match = _OVERRIDE.match(text.strip())
    if not match:
        raise CLIError("expected path=value (or +=, -=, *=, /=, |=), e.g. model.depth=5", text)
    key, op, value = match.group("key"), match.group("op"), match.group("value").strip()
    if value == "":
        raise CLIError(f"expected a value after '{op}' (for an empty string write {key}=\"\")", text)
    return Override(text=text, path=parse_path(key, text), op=op, raw=value)


def parse_args(args: list[str], positional_names: list[str]) -> list[Override]:
    """Overrides from argv words; words without an operator fill ``positional_names`` in order."""
    overrides: list[Override] = []
    position = 0
    seen_keyword = False
    for word in args:
        if _OVERRIDE.match(word.strip()):
            seen_keyword = True
            overrides.append(parse_override(word))
            continue
        if word.startswith("-"):
            raise CLIError("unknown option (see --help)", word)
        if seen_keyword:
            raise CLIError("a positional value after key=value arguments", word)
        if position >= len(positional_names):
            raise CLIError(f"too many positional values (parameters: {', '.join(positional_names) or 'none'})", word)
        name = positional_names[position]
        position += 1
        overrides.append(Override(text=f"{name}={word}", path=(Attr(name),), op="=", raw=word))
    return overrides


def literal(raw: str) -> Any:
    """The Python literal ``raw`` denotes (``true``/``none`` too), else ``raw`` itself as a string."""
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    word = _WORDS.get(raw.lower(), _NOTHING)
    return raw if word is _NOTHING else word


def factory_reference(raw: str, text: str) -> FactoryCall | list[FactoryCall] | None:
    """``raw`` as a factory reference (``name``, ``pkg.name``, ``name(a=1)``, a list of them), or None."""
    try:
        node = ast.parse(raw.strip(), mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.List):
        calls = [_call(item, text) for item in node.elts]
        return calls if calls and all(c is not None for c in calls) else None  # type: ignore[return-value]
    return _call(node, text)


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _call(node: ast.AST, text: str) -> FactoryCall | None:
    if not isinstance(node, ast.Call):
        name = _dotted(node)
        return FactoryCall(name) if name and name.lower() not in _WORDS else None
    name = _dotted(node.func)
    if name is None:
        return None
    if node.args:
        raise CLIError(f"factory {name}(...): pass arguments by name, e.g. {name}(depth=3)", text)
    kwargs = []
    for keyword in node.keywords:
        if keyword.arg is None:
            raise CLIError(f"factory {name}(...): ** is not supported", text)
        try:
            kwargs.append((keyword.arg, ast.literal_eval(keyword.value)))
        except ValueError:
            inner = _dotted(keyword.value)
            if inner is None:
                raise CLIError(f"factory {name}(...): {keyword.arg}= must be a literal", text) from None
            kwargs.append((keyword.arg, literal(inner)))
    return FactoryCall(name, tuple(kwargs), called=True)


def yaml_overrides(doc: Any, source: str) -> tuple[str | None, list[Override]]:
    """(the factory it names, the overrides) of a ``--yaml`` mapping, in NeMo Run's layout.

    ``{model: {_factory_: large_model, depth: 5}, steps*=: 2, run: {factory: recipe}}`` gives
    factory ``recipe`` and ``model=large_model``, ``model.depth=5``, ``steps*=2``.
    """
    if doc is None:
        return None, []
    if not isinstance(doc, Mapping):
        raise CLIError(f"expected a mapping of overrides, got {type(doc).__name__}", f"--yaml {source}")
    factory = doc.get("_factory_")
    run = doc.get("run")
    if isinstance(run, Mapping) and "factory" in run:
        factory = run["factory"]
    if factory is not None and not isinstance(factory, str):
        raise CLIError("_factory_ must be a factory name", f"--yaml {source}")
    out: list[Override] = []
    _flatten(doc, (), source, out, top=True)
    return factory, out


def _flatten(doc: Mapping[str, Any], prefix: tuple[Attr | Index, ...], source: str, out: list[Override], top: bool = False) -> None:
    for key, value in doc.items():
        if top and key in ("_factory_", "run"):
            continue
        if not isinstance(key, str | int):
            raise CLIError(f"key {key!r} is not a name", f"--yaml {source}")
        if key == "_target_":
            raise CLIError("_target_ is not supported; name a registered factory with _factory_", f"--yaml {source}")
        name, op = (key[:-2], key[-2:]) if isinstance(key, str) and key[-2:] in OPS and len(key) > 2 else (key, "=")
        where = f"--yaml {source}: {format_path(prefix)}{'.' if prefix else ''}{name}"
        path = (*prefix, *(parse_path(name, where) if isinstance(name, str) else (Index(name),)))
        if isinstance(value, Mapping) and op == "=":
            if "_factory_" in value:
                out.append(Override(text=f"{where}", path=path, op="=", raw=str(value["_factory_"])))
            _flatten({k: v for k, v in value.items() if k != "_factory_"}, path, source, out)
        else:
            out.append(Override(text=where, path=path, op=op, value=value))
