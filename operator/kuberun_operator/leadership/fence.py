"""The write fence: no API write leaves this replica unless it holds the lease of what it writes for.

Checked on the thread that sends the request, right before it is sent (``Kube._call``) and before a
backend call that creates or cancels remote work (``Controller._perform``), so what counts is the
lease's deadline at that moment, not what the election loop last noticed. Which lease a write is
for is the shard of the Experiment being reconciled, carried in a context variable: asyncio
copies it into the worker's threads (``asyncio.to_thread``) and into the Event posts a reconcile
starts, so every write a reconcile causes is judged by that Experiment's lease.
"""

from __future__ import annotations

import contextvars

from kuberun_operator.kube import ApiError

SHARD: contextvars.ContextVar[int | None] = contextvars.ContextVar("kuberun_shard", default=None)


class NotLeader(ApiError):
    """A write refused by the fence: this replica does not hold the lease (any more)."""

    def __init__(self, what: str) -> None:
        super().__init__(0, "NotLeader", f"not the leader of {what}: write not sent")
