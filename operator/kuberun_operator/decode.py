"""Lenient decoding of stored Experiments, so version skew never costs the record.

The SDK's models refuse unknown fields (``extra="forbid"``): at admission and in the SDK that
catches typos. But an object already stored may carry fields this operator does not know — a
newer SDK wrote the spec, a newer operator wrote the status, the CRD is one version ahead — and
refusing it there used to replace the whole status, losing every task and attempt.

So the operator decodes in passes: validate; on ``extra_forbidden`` errors, set those fields
aside (their paths are returned) and validate again. What remains is either a model of every
field this version knows, or a real error (a spec this operator cannot handle). When the operator
writes status back, ``carry_unknown`` puts the set-aside status fields into the new status
untouched, matched by identity (a task by ``name``, an attempt by ``attempt``, a condition by
``type``), not by list position. The spec is never written by the operator, so its unknown fields
stay as they are. See docs/operator.md, "Version skew".
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kuberun.resource import ExperimentResource

Path = tuple[str | int, ...]
MAX_PASSES = 8      # nesting depth of the models is below this; each pass removes every extra it sees
IDENTITY_KEYS = ("name", "attempt", "type")  # how list items are matched between an old and a new status


@dataclass(frozen=True)
class Decoded:
    """A decoded Experiment (or the error that remains) and the paths of the fields set aside."""

    resource: ExperimentResource | None
    unknown: tuple[Path, ...] = ()
    error: ValidationError | None = None

    def unknown_under(self, top: str) -> list[Path]:
        """Paths below ``spec`` or ``status``, relative to it."""
        return [p[1:] for p in self.unknown if p and p[0] == top and len(p) > 1]


def decode(body: dict[str, Any]) -> Decoded:
    """Decode ``body`` keeping what this version knows; ``body`` itself is never changed."""
    doc: dict[str, Any] | None = None
    unknown: list[Path] = []
    for _ in range(MAX_PASSES):
        try:
            return Decoded(ExperimentResource.model_validate(doc if doc is not None else body), tuple(unknown))
        except ValidationError as exc:
            extra = [tuple(e["loc"]) for e in exc.errors() if e["type"] == "extra_forbidden"]
            if not extra:
                return Decoded(None, tuple(unknown), exc)
            if doc is None:
                doc = copy.deepcopy({k: body[k] for k in ("apiVersion", "kind", "metadata", "spec", "status") if k in body})
            removed = [loc for loc in extra if _remove(doc, loc)]
            if not removed:  # nothing could be set aside: report the error as it is
                return Decoded(None, tuple(unknown), exc)
            unknown.extend(removed)
    return Decoded(None, tuple(unknown), None)


def _remove(doc: Any, loc: Path) -> bool:
    node = doc
    for seg in loc[:-1]:
        if (isinstance(seg, int) and isinstance(node, list) and 0 <= seg < len(node)) or (isinstance(seg, str) and isinstance(node, dict) and seg in node):
            node = node[seg]
        else:
            return False
    if isinstance(node, dict) and loc and loc[-1] in node:
        del node[loc[-1]]
        return True
    return False


def format_paths(paths: Iterable[Path], top: str = "") -> str:
    """``spec.tasks[0].newField`` style, for an Event a user reads."""
    out = []
    for path in paths:
        text = top
        for seg in path:
            text += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if text else str(seg))
        out.append(text)
    return ", ".join(out)


def carry_unknown(old: dict[str, Any], new: dict[str, Any], paths: Sequence[Path]) -> dict[str, Any]:
    """Copy each set-aside field at ``paths`` (relative to ``old``) into ``new`` where ``new`` lacks it."""
    for path in paths:
        _carry(old, new, path)
    return new


def _carry(old: Any, new: Any, path: Path) -> None:
    if not path:
        return
    o, n = old, new
    for seg in path[:-1]:
        if isinstance(seg, int):
            if not (isinstance(o, list) and isinstance(n, list) and 0 <= seg < len(o)):
                return
            item = o[seg]
            match = _same_item(n, item, seg)
            if match is None:
                return
            o, n = item, match
        else:
            if not (isinstance(o, dict) and isinstance(n, dict) and seg in o and seg in n):
                return
            o, n = o[seg], n[seg]
    last = path[-1]
    if isinstance(o, dict) and isinstance(n, dict) and last in o and last not in n:
        n[last] = copy.deepcopy(o[last])


def _same_item(items: list[Any], item: Any, index: int) -> Any:
    """The item of ``items`` that is ``item``: by its identity key when it has one, else by position."""
    if isinstance(item, dict):
        for key in IDENTITY_KEYS:
            if key in item:
                return next((x for x in items if isinstance(x, dict) and x.get(key) == item[key]), None)
    return items[index] if index < len(items) else None


def metadata_and_spec(body: dict[str, Any]) -> Decoded:
    """``body`` without its status, decoded: who the Experiment is and what it asks for.

    For readers that must not trust status (a bridge finding an attempt's log recomputes its
    place from these, since status is writable by whoever may patch ``experiments/status``)."""
    return decode({"apiVersion": body.get("apiVersion"), "kind": "Experiment", "metadata": body.get("metadata") or {},
                   "spec": body.get("spec") or {}})
