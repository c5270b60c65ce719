"""The README's Limits table states the limits the code enforces (it once did not say them at all)."""

from __future__ import annotations

import re
from pathlib import Path

from kuberun.resource import constants as c

README = Path(__file__).resolve().parents[2] / "README.md"


def _kib(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n // 1024} KiB"


def test_readme_limits_table_matches_the_constants() -> None:
    text = README.read_text()
    table = text[text.index("## Limits"):].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| ([^|]+?) \| ([^|]+?) \|$", table, re.M))
    assert rows["tasks per experiment"] == str(c.MAX_TASKS)
    assert rows["dependencies per task"] == str(c.MAX_DEPENDENCIES)
    assert rows["retries per task"] == f"{c.MAX_RETRIES} ({c.MAX_ATTEMPTS} attempts)"
    assert rows["task name"].startswith(f"{c.MAX_NAME} characters")
    assert rows["one task's serialized config inline in the spec"].startswith(_kib(c.INLINE_LIMIT))
    assert _kib(c.CHUNK_SIZE) in rows["one task's serialized config inline in the spec"]
    assert rows["all inline configs of one experiment"].startswith(_kib(c.INLINE_BUDGET))
    assert rows["one task's serialized config"].startswith(_kib(c.HARD_LIMIT))
    assert rows["condition and reason messages"] == f"{c.MAX_MESSAGE} characters"
    from kuberun.resource.code import CONFIGMAP_CODE_LIMIT

    assert rows["one task's code package (packagers)"].startswith(f"{_kib(c.MAX_PACKAGE_BYTES)} compressed (up to "
                                                                  f"{_kib(CONFIGMAP_CODE_LIMIT)} as ConfigMaps")
