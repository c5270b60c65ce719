"""Read a kubeconfig without PyYAML when it is in the plain block style kubectl writes.

Importing PyYAML costs a read command ~15 ms of CPU (its reader's big regex, the whole loader and
dumper), as much as the rest of kubeconfig handling. Kubeconfigs that ``kubectl config``, kind,
minikube, ``aws eks update-kubeconfig`` and the sandbox write are block mappings and sequences of
one-line scalars, so ``load`` reads that subset itself and answers ``None`` — "ask PyYAML" — on
anything else: flow collections (other than ``{}``/``[]``), anchors, tags, block or multi-line
scalars, comments after values, quoted keys, tabs, several documents, and every plain scalar PyYAML
would resolve to something other than a string, an int, a bool or null (floats, dates, octal...).
So what it returns is what ``yaml.safe_load`` returns (``tests/unit/sdk/api/test_kubeyaml.py``
holds the two side by side), and whatever it declines PyYAML still reads. JSON kubeconfigs go to
``json``.
"""

from __future__ import annotations

import json
import re
from typing import Any

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_WORDS: dict[str, Any] = {**dict.fromkeys(("true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"), True),
                          **dict.fromkeys(("false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"), False),
                          **dict.fromkeys(("~", "null", "Null", "NULL"), None)}
_INDICATORS = set("[]{},#&*!|>'\"%@`?:-<=")  # a plain scalar starting with one: PyYAML's to read
_NUMERIC = set("+.0123456789")  # a plain scalar PyYAML may resolve to a float, a date, octal...
_FLAG = re.compile(r"--?[A-Za-z][^\s]*")
_ODD = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")  # breaks or characters PyYAML treats its own way


class _Decline(Exception):
    """Outside the subset: PyYAML reads this document."""


def load(text: str) -> Any:
    """The document in ``text`` as ``yaml.safe_load`` reads it, or None when PyYAML must read it."""
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            return None
    if _ODD.search(text.replace("\r\n", "\n")):
        return None
    lines: list[tuple[int, str]] = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "\t" in raw or (stripped in ("---", "...") and lines) or " #" in stripped:
            return None
        if stripped != "---":
            lines.append((len(raw) - len(raw.lstrip(" ")), stripped))
    if not lines:
        return None
    try:
        value, end = _block(lines, 0, lines[0][0])
    except _Decline:
        return None
    return value if end == len(lines) else None


def _block(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[Any, int]:
    """The mapping or sequence whose lines start at ``i`` at ``indent``; and the index after it."""
    if lines[i][1] == "-" or lines[i][1].startswith("- "):
        return _sequence(lines, i, indent)
    return _mapping(lines, i, indent, {})


def _sequence(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    while i < len(lines) and lines[i][0] == indent and (lines[i][1] == "-" or lines[i][1].startswith("- ")):
        rest = lines[i][1][1:].lstrip(" ")
        if not rest:  # "-" alone: the item is the block below
            item, i = _nested(lines, i + 1, indent)
        elif _entry(rest) is not None:  # "- key: value": a mapping whose keys continue two columns in
            inner = indent + len(lines[i][1]) - len(rest)
            item, i = _mapping([*lines[:i], (inner, rest), *lines[i + 1:]], i, inner, {})
        else:
            item, i = _scalar(rest), i + 1
        items.append(item)
    return items, i


def _mapping(lines: list[tuple[int, str]], i: int, indent: int, out: dict[str, Any]) -> tuple[dict[str, Any], int]:
    while i < len(lines) and lines[i][0] == indent:
        entry = _entry(lines[i][1])
        if entry is None:
            raise _Decline
        key, rest = entry
        if rest:
            out[key], i = _scalar(rest), i + 1
            continue
        following = lines[i + 1] if i + 1 < len(lines) else None
        if following is not None and following[0] == indent and (following[1] == "-" or following[1].startswith("- ")):
            out[key], i = _sequence(lines, i + 1, indent)  # "key:" then "- item" at the key's own column
        else:
            out[key], i = _nested(lines, i + 1, indent)
    if i < len(lines) and lines[i][0] > indent:
        raise _Decline  # a continuation line: a multi-line scalar
    return out, i


def _nested(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[Any, int]:
    """The block deeper than ``indent`` at ``i``, or null when none follows."""
    if i < len(lines) and lines[i][0] > indent:
        return _block(lines, i, lines[i][0])
    return None, i


def _entry(text: str) -> tuple[str, str] | None:
    """``key: rest`` (or ``key:``) with a plain key PyYAML reads as that string; None otherwise."""
    key, sep, rest = text.partition(":")
    if not sep or (rest and not rest.startswith(" ")) or not _KEY.fullmatch(key) or key in _WORDS:
        return None
    return key, rest.strip()


def _scalar(text: str) -> Any:
    if text == "{}":
        return {}
    if text == "[]":
        return []
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"') or "\\" in text or '"' in text[1:-1]:
            raise _Decline  # escapes: YAML's differ from JSON's
        return text[1:-1]
    if text.startswith("'"):
        body = text[1:-1]
        if len(text) < 2 or not text.endswith("'") or "'" in body.replace("''", ""):
            raise _Decline
        return body.replace("''", "'")
    if text in _WORDS:
        return _WORDS[text]
    if _INT.fullmatch(text):
        return int(text)
    if ": " in text or text.endswith(":"):
        raise _Decline
    if _FLAG.fullmatch(text):  # "--cluster-name", "-v": no number starts so
        return text
    if text[0] in _INDICATORS or text[0] in _NUMERIC:
        raise _Decline
    return text
