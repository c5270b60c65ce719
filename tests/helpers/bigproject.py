"""A project whose code package is over the ConfigMap limit, for the tests of the record server's code store.

Its task reads an incompressible ``weights.bin`` shipped beside it and answers with the bytes' size and digest,
so a run proves the whole package reached the runner (``expected``).
"""

from __future__ import annotations

import hashlib
import os
import pathlib

from kuberun.resource.code import CONFIGMAP_CODE_LIMIT

BIG = CONFIGMAP_CODE_LIMIT + (1 << 20)  # incompressible bytes: the package is over the limit

LIB = '''\
import hashlib
import pathlib


def weigh() -> str:
    data = pathlib.Path("weights.bin").read_bytes()
    return f"shipped {len(data)} bytes sha {hashlib.sha256(data).hexdigest()[:16]} in {pathlib.Path.cwd().name}"
'''


def write_big_project(project: pathlib.Path) -> bytes:
    """Write ``big_lib.py`` and ``weights.bin`` (random, over the limit) into ``project``; the weights."""
    (project / "big_lib.py").write_text(LIB)
    weights = os.urandom(BIG)
    (project / "weights.bin").write_bytes(weights)
    return weights


def expected(weights: bytes) -> str:
    """What ``big_lib.weigh`` answers in the runner's ``code`` working directory."""
    return f"shipped {BIG} bytes sha {hashlib.sha256(weights).hexdigest()[:16]} in code"
