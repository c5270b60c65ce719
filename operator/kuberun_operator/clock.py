"""The controller's time, injected: the system clock in the operator, a fake one in tests.

Reconcile takes ``now`` as an argument and never reads a clock; the controller asks its
``Clock`` once per reconcile (and when it rate-limits Warnings), so a test can move time on
without sleeping.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from kuberun.resource.times import utcnow


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()
