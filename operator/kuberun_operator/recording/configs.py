"""Which ConfigMaps an Experiment's spec points at, so the archive can keep them (archive/configs.py).

Two kinds, both created by the SDK next to the Experiment and owned by it, so both go when it does:
a task's Fiddle config over the inline limit (``fiddle.configMapRefs``) and a packaged code
directory's chunks (``code.storage.configMaps``). The runner document the operator itself puts in
a ConfigMap when it is over 32 KiB is *derived* from the spec and these, so it is not kept: a
reproduction derives it again. ConfigMaps are immutable, so they are copied once per experiment,
as soon as the recorder first sees it (not at the end: by then a deletion may have taken them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def referenced(spec: Mapping[str, Any] | None) -> list[str]:
    """The names, in spec order, without repeats."""
    names: dict[str, None] = {}
    for task in (spec or {}).get("tasks") or []:
        if not isinstance(task, Mapping):
            continue
        for ref in (task.get("fiddle") or {}).get("configMapRefs") or []:
            if isinstance(ref, Mapping) and isinstance(ref.get("name"), str):
                names[ref["name"]] = None
        for name in ((task.get("code") or {}).get("storage") or {}).get("configMaps") or []:
            if isinstance(name, str):
                names[name] = None
    return list(names)
