"""Similar Events of one reconcile combined, as the Kubernetes event recorder's aggregator does.

When 999 tasks of a fan-out succeed in the same reconcile, 999 ``TaskSucceeded`` Events would
cost 999 API creates (posted one after another, minutes behind the status) and crowd every other
Event out of ``kubectl describe``. client-go's ``EventAggregator`` keeps the first ten similar
Events (same type and reason, any message) and folds the rest into one whose message starts
``(combined from similar events):`` and whose ``count`` says how many. Nothing is lost from the
record: each task's outcome is in status (and the archive); the Events stay a readable log.
"""

from __future__ import annotations

from dataclasses import replace

from kuberun.resource.constants import MAX_MESSAGE
from kuberun_operator.actions import Event

MAX_SIMILAR = 10  # client-go's defaultAggregateMaxEvents
PREFIX = "(combined from similar events): "


def coalesce(events: list[Event], similar: int = MAX_SIMILAR) -> list[Event]:
    """The first ``similar`` Events of each (type, reason) as they are, in order; the rest of each
    folded into one Event (the latest message, ``count`` = how many it stands for), placed where
    the first folded one was."""
    seen: dict[tuple[str, str], int] = {}
    combined: dict[tuple[str, str], int] = {}  # key -> index of its combined Event in ``out``
    out: list[Event] = []
    for event in events:
        key = (event.type, event.reason)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= similar:
            out.append(event)
        elif key not in combined:
            combined[key] = len(out)
            out.append(replace(event, message=(PREFIX + event.message)[:MAX_MESSAGE]))
        else:
            i = combined[key]
            out[i] = replace(event, message=(PREFIX + event.message)[:MAX_MESSAGE], count=out[i].count + event.count)
    return out
