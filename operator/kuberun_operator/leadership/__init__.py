"""Leader election over ``coordination.k8s.io/v1`` Leases: only the holder of a lease acts for it.

Why not kopf peering (what HA was before): peering pauses a standby's *watches*, but not its
workers, timers or bridge pollers, so a demoted replica kept reconciling stale objects; and its
liveness is a kopf CRD, not the Lease every Kubernetes controller and tool understands. Here the
lease gates the work itself and every write (``fence.py``), and shards are several leases.
"""

from kuberun_operator.leadership.elector import Elector, Timing
from kuberun_operator.leadership.fence import NotLeader
from kuberun_operator.leadership.leader import Leadership
from kuberun_operator.leadership.shards import lease_name, shard_of

__all__ = ["Elector", "Leadership", "NotLeader", "Timing", "lease_name", "shard_of"]
