"""The decisions ``reconcile`` is made of, one policy per module (after JobSet's controllers).

Each function reads and changes one ``Round`` — the working state of a single reconcile — and
performs no I/O: ``observe`` (what backends saw -> attempts), ``retries`` (backoff, what no retry
fixes), ``lifecycle`` (shutdown, suspend, cancelling until gone), ``dag`` (what may start now,
the two-phase submit), ``finish`` (roll-up, conditions, events, TTL), ``submission`` (how the
results of performed actions are folded back into the status).
"""
