"""Which shard an Experiment belongs to: a stable hash of its UID, so no label has to be written.

A UID never changes and is known from the first watch event, so every replica computes the same
owner without coordination and without a write at creation; the same name created again (a new
UID) may land on another shard, which is harmless: it is a new Experiment.
"""

from __future__ import annotations

import hashlib
from typing import Any


def shard_of(uid: str, shards: int) -> int:
    if shards <= 1:
        return 0
    return int.from_bytes(hashlib.sha256(uid.encode()).digest()[:8], "big") % shards


def shard_of_body(body: dict[str, Any], shards: int) -> int:
    return shard_of(str((body.get("metadata") or {}).get("uid") or ""), shards)


def lease_name(base: str, shard: int, shards: int) -> str:
    """``kuberun-operator`` for one shard (the plain HA case), ``kuberun-operator-shard-N`` for several."""
    return base if shards <= 1 else f"{base}-shard-{shard}"
