"""Slurm job arrays: the ``--array`` grammar, and the indices it names.

Why bounded: each index gets its own record (state and exit code) in the attempt's status, and the
status must stay far below etcd's object limit (policy/budget.py keeps it under 512 KiB), so an
array names at most ``MAX_ARRAY_INDICES`` indices. The grammar is Slurm's: comma-separated ``N``,
``N-M`` or ``N-M:STEP`` items and an optional ``%LIMIT`` (how many run at once).
"""

from __future__ import annotations

import re

MAX_ARRAY_INDICES = 256
ARRAY_PATTERN = r"^[0-9]+(-[0-9]+(:[0-9]+)?)?(,[0-9]+(-[0-9]+(:[0-9]+)?)?)*(%[0-9]+)?$"
_ITEM = re.compile(r"^([0-9]+)(?:-([0-9]+)(?::([0-9]+))?)?$")


def array_indices(spec: str, limit: int = MAX_ARRAY_INDICES) -> list[int]:
    """The sorted indices ``spec`` names (``"0-6:2,9%2"`` -> ``[0, 2, 4, 6, 9]``).

    ValueError when it is not Slurm's grammar, a range runs backwards, the step is 0, or it names
    more than ``limit`` indices (checked before expanding, so a huge range costs nothing).
    """
    body = spec.partition("%")[0]
    indices: set[int] = set()
    for item in body.split(","):
        match = _ITEM.match(item)
        if match is None:
            raise ValueError(f"array {spec!r}: {item!r} is not N, N-M or N-M:STEP")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        step = int(match.group(3)) if match.group(3) is not None else 1
        if last < first or step < 1:
            raise ValueError(f"array {spec!r}: {item!r} runs backwards or has a zero step")
        if (last - first) // step + 1 + len(indices) > limit:
            raise ValueError(f"array {spec!r} names more than {limit} indices (each gets a record in status)")
        indices.update(range(first, last + 1, step))
    return sorted(indices)


def array_spec(value: int | str) -> str:
    """NeMo Run and kuberun accept a count too: ``4`` means ``"0-3"``."""
    if isinstance(value, bool):
        raise ValueError("array must be a count or a Slurm --array spec such as '0-3' or '1,3,5%2'")
    if isinstance(value, int):
        if value < 1:
            raise ValueError("an array needs at least one index")
        return f"0-{value - 1}"
    return value
