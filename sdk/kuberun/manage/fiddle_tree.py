"""Render a serialized Fiddle config as a readable tree, from its JSON alone.

``describe`` must never execute user code, so this walks Fiddle's serialization format (objects
keyed by id, each with a ``type`` pyref, ``items`` and a traverser ``metadata`` naming the callable)
instead of loading it::

    Partial[tasks:train]
      lr = 0.0003
      model = Config[tasks:Model]
        width = 16
"""

from __future__ import annotations

from typing import Any

_BUILDABLES = {"Config", "Partial", "ArgFactory"}
_MAX_INLINE = 100


def _pyref(value: dict[str, Any]) -> str:
    return f"{value.get('module')}:{value.get('name')}"


def _item_name(label: str) -> str:
    """Fiddle path elements as text: "Attr(name='lr')" -> 'lr', 'Index(index=0)' -> '[0]'."""
    if label.startswith("Attr(name="):
        return label[len("Attr(name='"):-2]
    if label.startswith("Index(index="):
        return f"[{label[len('Index(index='):-1]}]"
    if label.startswith("Key(key="):
        return f"[{label[len('Key(key='):-1]}]"
    return label


class _Renderer:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.objects: dict[str, Any] = doc.get("objects") or {}
        self.lines: list[str] = []

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and value.get("type") == "ref":
            return self.objects.get(value.get("key"), {})
        return value

    def callable_of(self, obj: dict[str, Any]) -> str:
        meta = self.resolve(obj.get("metadata"))
        for label, value in (meta or {}).get("items") or []:
            if label == "Attr(name='fn_or_cls')" and isinstance(value, dict):
                return _pyref(value)
        return "?"

    def is_buildable(self, obj: Any) -> bool:
        return isinstance(obj, dict) and isinstance(obj.get("type"), dict) and obj["type"].get("name") in _BUILDABLES \
            and str(obj["type"].get("module", "")).startswith("fiddle")

    def inline(self, value: Any) -> str | None:
        """Python-like text for a value without buildables inside; None when it has one."""
        value = self.resolve(value)
        if not isinstance(value, dict):
            return repr(value)
        kind = value.get("type")
        if kind == "leaf":
            return repr(value.get("value"))
        if kind == "pyref":
            return _pyref(value)
        if self.is_buildable(value) or not isinstance(kind, dict):
            return None
        items = [(label, self.inline(v)) for label, v in value.get("items") or []]
        if any(text is None for _, text in items):
            return None
        return self.container(kind.get("name"), items)

    @staticmethod
    def container(kind: str | None, items: list[tuple[str, str | None]]) -> str:
        texts = [str(text) for _, text in items]
        if kind == "list":
            return f"[{', '.join(texts)}]"
        if kind == "tuple":
            return f"({', '.join(texts)}{',' if len(texts) == 1 else ''})"
        if kind == "dict":
            return "{" + ", ".join(f"{_item_name(label)[1:-1]}: {text}" for label, text in items) + "}"
        return f"{kind}({', '.join(texts)})"

    def node(self, value: Any, indent: int, prefix: str) -> None:
        value = self.resolve(value)
        text = self.inline(value)
        pad = "  " * indent
        if text is not None and len(text) <= _MAX_INLINE:
            self.lines.append(f"{pad}{prefix}{text}")
            return
        if self.is_buildable(value):
            self.lines.append(f"{pad}{prefix}{value['type']['name']}[{self.callable_of(value)}]")
            for label, child in value.get("items") or []:
                self.node(child, indent + 1, f"{_item_name(label)} = ")
            return
        if isinstance(value, dict) and isinstance(value.get("type"), dict):
            self.lines.append(f"{pad}{prefix}{value['type'].get('name')}:")
            for label, child in value.get("items") or []:
                name = _item_name(label)
                self.node(child, indent + 1, f"{name if name.startswith('[') else f'[{name}]'} = ")
            return
        self.lines.append(f"{pad}{prefix}{text}")


def render_fiddle(doc: dict[str, Any]) -> list[str]:
    """Lines of the config tree in a Fiddle JSON document (``decode_envelope(...)['config']``)."""
    renderer = _Renderer(doc)
    renderer.node(doc.get("root"), 0, "")
    return renderer.lines


MAX_PATHS = 5000  # a config tree wider than this is compared by its first paths (and its digest)


def flatten_fiddle(doc: dict[str, Any]) -> dict[str, str]:
    """``{path: value}`` of a Fiddle JSON document: ``lr``, ``model.width``, ``layers[0]``, ... .

    Each buildable's own row shows its callable (``model -> Config[tasks:Model]``), so swapping the
    class is a difference too; values are the same Python-like text ``render_fiddle`` shows. This
    is the tree diff's input (``kuberun compare``): paths align configs by meaning, not by line.
    """
    renderer = _Renderer(doc)
    out: dict[str, str] = {}

    def child_path(path: str, label: str, buildable: bool) -> str:
        name = _item_name(label)
        if not buildable and not name.startswith("["):
            name = f"[{name}]"
        return f"{path}{name}" if name.startswith("[") or not path else f"{path}.{name}"

    def walk(value: Any, path: str) -> None:
        if len(out) >= MAX_PATHS:
            return
        value = renderer.resolve(value)
        text = renderer.inline(value)
        key = path or "<root>"
        if text is not None and len(text) <= _MAX_INLINE:
            out[key] = text
            return
        if renderer.is_buildable(value):
            out[key] = f"{value['type']['name']}[{renderer.callable_of(value)}]"
            for label, child in value.get("items") or []:
                walk(child, child_path(path, label, True))
            return
        if isinstance(value, dict) and isinstance(value.get("type"), dict):
            out[key] = str(value["type"].get("name"))
            for label, child in value.get("items") or []:
                walk(child, child_path(path, label, False))
            return
        out[key] = str(text)

    walk(doc.get("root"), "")
    return out
