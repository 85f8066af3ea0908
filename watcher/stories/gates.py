"""Delivery per story (pure): the first alert of a story to a sink goes out; later ones are
quiet unless the story escalates.

An alert bound for a sink takes gates in the store, each held by the first article that
takes it (so replicas racing on one story agree, and a retried article finds its own gates):

    story + sink + "sev:low" … "sev:<its severity>"   severity reached (every lower one too)
    story + sink + "place:NAME" / "group:NAME"        each place and group it names

The article that holds the story's first gate ("sev:low") sends the first alert; a later
article that holds any gate brings something new (a higher severity, a new place or group)
and alerts again, marked as an update; one that holds none is quiet: it only adds itself to
the story (visible in the story, in `watcher alerts --story`, and in later alerts' counts).
"""

from __future__ import annotations

from typing import Literal

from watcher.models import SEVERITIES, Alert

Decision = Literal["first", "update", "quiet"]


def delivery_gates(alert: Alert, sink: str) -> tuple[str, ...]:
    """The gates an alert takes on its way to `sink` (its story must be set)."""
    assert alert.story is not None
    base = f"{alert.story.id}\x1f{sink}\x1f"
    reached = SEVERITIES[:SEVERITIES.index(alert.rule.severity) + 1]
    return (*(base + "sev:" + s for s in reached),
            *(base + "place:" + p.name for p in alert.places),
            *(base + "group:" + g.name for g in alert.groups))


def gate_decision(gates: tuple[str, ...], held: set[str]) -> Decision:
    """What to do with an alert whose article holds `held` among its `gates`."""
    if gates and gates[0] in held:
        return "first"
    return "update" if held.intersection(gates) else "quiet"
