"""The Lease record and the one decision made on it: may this candidate take (or keep) the lease now?

Pure: no API, no clock of its own. As client-go's ``leaderelection`` does, expiry is judged by
the *local* monotonic time at which this candidate last saw the record change, never by the
``renewTime`` written by another machine, so clock skew between replicas cannot make a live
leader look expired (or a dead one look alive for longer than one lease duration).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

MICROTIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # metav1.MicroTime, as Leases carry acquireTime/renewTime
# Shards: the replica a shard belongs to asks a fallback holder to hand it back (see elector.py).
WANTED_BY = "kuberun.dev/wanted-by"


def microtime(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime(MICROTIME)


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease's spec says, and the resourceVersion it was read at (for the guarded update)."""

    holder: str = ""
    duration_seconds: int = 0
    acquire_time: str | None = None
    renew_time: str | None = None
    transitions: int = 0
    resource_version: str | None = None  # None: no Lease exists yet
    wanted_by: str = ""  # the WANTED_BY annotation: who asked for the lease back

    @classmethod
    def from_lease(cls, lease: dict[str, Any] | None) -> LeaseRecord:
        if lease is None:
            return cls()
        spec = lease.get("spec") or {}
        annotations = (lease.get("metadata") or {}).get("annotations") or {}
        return cls(wanted_by=annotations.get(WANTED_BY, ""), holder=spec.get("holderIdentity") or "", duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
                   acquire_time=spec.get("acquireTime"), renew_time=spec.get("renewTime"),
                   transitions=int(spec.get("leaseTransitions") or 0),
                   resource_version=(lease.get("metadata") or {}).get("resourceVersion"))

    @property
    def exists(self) -> bool:
        return self.resource_version is not None

    def same_as(self, other: LeaseRecord) -> bool:
        """Unchanged as far as liveness goes (a renewal changes renewTime and the resourceVersion)."""
        return (self.holder, self.renew_time, self.resource_version) == (other.holder, other.renew_time, other.resource_version)

    def taken_by(self, identity: str, duration_seconds: int, now: datetime) -> dict[str, Any]:
        """The spec that records ``identity`` as holder, renewed at ``now``."""
        mine = self.holder == identity
        return {
            "holderIdentity": identity,
            "leaseDurationSeconds": duration_seconds,
            "acquireTime": self.acquire_time if mine and self.acquire_time else microtime(now),
            "renewTime": microtime(now),
            "leaseTransitions": self.transitions if mine or not self.holder else self.transitions + 1,
        }


def may_take(record: LeaseRecord, identity: str, observed_at: float, now: float, duration: float,
             extra_wait: float = 0.0) -> bool:
    """Whether ``identity`` may write itself into the lease now.

    ``observed_at`` is the local monotonic time this candidate first saw ``record`` as it is now
    (unchanged since). A lease held by someone else is taken once it stayed unchanged for
    ``duration`` (its holder stopped renewing); an absent or released one (no holder) at once.
    ``extra_wait`` delays both for a candidate that is only a fallback for this lease (shards:
    the replicas the shard belongs to get the first go).
    """
    if record.holder == identity:
        return True
    waited = now - observed_at
    if not record.holder:
        return waited >= extra_wait
    return waited >= duration + extra_wait
