"""A polite API client: a QPS/burst ceiling on the operator's requests, and waits the server asks for.

kopf has no client-side limiter, so without one a burst of Experiments becomes a burst of API
calls with no ceiling. As client-go's ``flowcontrol`` token bucket does, requests beyond
``burst`` wait for tokens refilled at ``qps`` (aiolimiter's leaky bucket of capacity ``burst``
draining in ``burst/qps`` seconds is exactly that bucket). The server's word comes first: a 429
(API Priority and Fairness rejecting, or max-in-flight) is retried after its ``Retry-After``; a
5xx is retried after a jittered exponential backoff ("full jitter": a uniform wait up to
``base * 2**attempt``, so replicas that failed together do not retry together).

Defaults: client-go's are QPS 5, burst 10 — made for controllers that write a status now and then.
One kuberun experiment costs about six writes (Job, ConfigMap, two status patches, two Events) and
the operator has reached ~360 experiments a minute (~36 writes/s) on 2 cores, so 5 QPS would make
the limiter, not the work, the bottleneck (~50 experiments a minute). The defaults are 50 QPS with
a burst of 100 — kube-controller-manager runs at 20/30 across dozens of controllers; one operator
whose whole job is writing at this rate gets ~500 experiments a minute sustained and absorbs a
sweep of ~15 at once without waiting. Raise them for big clusters, lower them to share an APF
priority level (docs/ha.md).

What is retried, and why it is safe: every write the operator makes is idempotent or guarded —
Jobs, ConfigMaps and Services have deterministic names (a repeated create answers 409, which the
backend reads as "already there"), status and finalizer patches test the resourceVersion, deletes
answer 404 the second time. Events are the exception (``generateName``): a 5xx on an Event create
is not retried, as the server may have stored it. Connection errors are left to the controller's
own requeue. Retries are bounded in count (``max_retries``) and each wait is capped.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

RETRY_AFTER_CAP = 60.0  # seconds: a larger Retry-After is honoured only up to this


@dataclass(frozen=True)
class ClientLimits:
    qps: float = 50.0           # sustained requests per second; 0 disables the client-side limit
    burst: int = 100            # requests allowed at once above the sustained rate
    max_retries: int = 5        # per request, for 429s and 5xx
    base_backoff: float = 0.2   # seconds; the first 5xx retry waits up to this, doubling each time
    max_backoff: float = 10.0   # seconds; cap of one backoff wait

    def __post_init__(self) -> None:
        if self.qps < 0 or self.burst < 1 or self.max_retries < 0:
            raise ValueError(f"API client limits need qps >= 0, burst >= 1, retries >= 0 (got {self})")


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: an integer (what kube-apiserver sends) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


class Politeness:
    """The limiter and the retry rule one ``Kube`` client applies to its requests."""

    def __init__(self, limits: ClientLimits, metrics: Any = None) -> None:
        self.limits, self.metrics = limits, metrics
        self._bucket: Any = None
        if limits.qps > 0:
            from aiolimiter import AsyncLimiter

            self._bucket = AsyncLimiter(limits.burst, limits.burst / limits.qps)

    async def wait_turn(self) -> None:
        """Return when a request may be sent; waits (and counts the wait) when the bucket is empty."""
        if self._bucket is None:
            return
        if self._bucket.has_capacity():
            await self._bucket.acquire()
            return
        started = time.perf_counter()
        await self._bucket.acquire()
        if self.metrics is not None:
            self.metrics.throttled("client", time.perf_counter() - started)

    def retry_delay(self, verb: str, resource: str, code: int, retry_after: float | None, attempt: int) -> float | None:
        """Seconds to wait before sending the same request again, or None: do not retry."""
        if attempt >= self.limits.max_retries:
            return None
        if code == 429:
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            if self.metrics is not None:
                self.metrics.throttled("server", delay)
        elif code >= 500 and not (verb == "create" and resource == "events"):
            delay = retry_after if retry_after is not None else self._backoff(attempt)
        else:
            return None
        if self.metrics is not None:
            self.metrics.api_retry(verb, resource, code)
        return delay

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0.0, min(self.limits.max_backoff, self.limits.base_backoff * 2 ** attempt))
