"""kopf's per-object memory, not kept: this operator's handlers need none of it.

kopf keeps a ``ResourceMemory`` for every object it has seen of every watched resource — a
``Memo``, an error ``Throttler``, ``IndexingMemory``, ``DaemonsMemory`` (~830 bytes together, plus
its key, the object's UID) — until the object is deleted. With 10,000 live Experiments, each with
its Job, that was ~20,000 records no handler of ours reads (docs/scale.md, "Operator memory").

What the record is for, and why none of it applies here (``handlers.py`` registers only
``on.event`` handlers, no indexes, daemons, timers, admission webhooks or memos):

- ``memo``: per-object state handed to handlers; ours take no ``memo``;
- ``indexing_memory``, ``daemons_memory``: for ``@kopf.index`` and daemons/timers; none are registered;
- ``noticed_by_listing``/``fully_handled_once``: decide ``on.resume`` for change handlers; none;
- ``remaining_patch``: a patch a change handler could not apply yet; ``on.event`` handlers patch nothing;
- ``error_throttler``: backs off an object whose *framework* processing keeps failing (a handler's
  own errors are logged, not throttled). A fresh one per event still sleeps the first delay after
  an error; only the escalation across consecutive failures of the same object is lost.

So each event gets a fresh record that is dropped with it (kopf's own "ephemeral" memory, which it
uses for admission requests). ``tests/unit/operator/test_forgetful.py`` fails if a handler kind
that would need the records is registered, or if kopf keeps one after an event.
"""

from __future__ import annotations

from typing import Any

from kopf._core.reactor import inventory  # kopf.operator(memories=...) takes this type; no public alias


class ForgetfulMemories(inventory.ResourceMemories):
    """Every recall is ephemeral: a fresh record per event, never stored."""

    async def recall(self, raw_body: Any, *, memobase: Any = None, noticed_by_listing: bool = False,
                     ephemeral: bool = False) -> inventory.ResourceMemory:
        return await super().recall(raw_body, memobase=memobase, noticed_by_listing=noticed_by_listing, ephemeral=True)


def needs_memories(registry: Any) -> list[str]:
    """The kinds of handlers in ``registry`` that would need kopf's per-object records (empty: none)."""
    kinds = {"changing (on.create/update/delete/resume/field)": registry._changing,
             "spawning (daemons, timers)": registry._spawning,
             "indexing (kopf.index)": registry._indexing,
             "webhooks (admission)": registry._webhooks}
    return [name for name, handlers in kinds.items() if handlers.get_all_handlers()]


def memories_for(registry: Any) -> inventory.ResourceMemories:
    """Forgetful memories for a registry that needs none; kopf's own (kept records) otherwise."""
    return inventory.ResourceMemories() if needs_memories(registry) else ForgetfulMemories()
