"""Delivery per story (pure): the first alert of a story to a sink goes out; later ones are
quiet unless the story escalates.

An alert bound for a sink takes gates in the store, each held by the first article that
takes it (so replicas racing on one story agree, and a retried article finds its own gates):

    story + sink + "sev:low" … "sev:<its severity>"   severity reached (every lower one too)
    story + sink + "place:NAME" / "group:NAME"        each place and group the rule fired on
                                                      in the article's lead (its title, its
                                                      summary, its content's first LEAD_CHARS)

The article that holds the story's first gate ("sev:low") sends the first alert; a later
article that holds any gate brings something new (a higher severity, a new place or group)
and alerts again, marked as an update (a long article's body names many towns and
capitals in passing: they are not news of the event, so only its lead counts); one that
holds none is quiet: it only adds itself to the story (visible in the story, in
`watcher alerts --story`, and in later alerts' counts).
"""

from __future__ import annotations

from typing import Literal

from watcher.models import SEVERITIES, Alert, MatchedTerm

Decision = Literal["first", "update", "quiet"]
LEAD_CHARS = 300


def delivery_gates(alert: Alert, sink: str) -> tuple[str, ...]:
    """The gates an alert takes on its way to `sink` (its story must be set)."""
    assert alert.story is not None
    base = f"{alert.story.id}\x1f{sink}\x1f"
    reached = SEVERITIES[:SEVERITIES.index(alert.rule.severity) + 1]
    named = sorted({f"{t.kind}:{t.term}" for t in alert.matched if _in_lead(t)})
    return (*(base + "sev:" + s for s in reached), *(base + n for n in named))


def _in_lead(term: MatchedTerm) -> bool:
    return term.kind in ("place", "group") and (term.field != "content"
                                                 or term.start < LEAD_CHARS)


def gate_decision(gates: tuple[str, ...], held: set[str]) -> Decision:
    """What to do with an alert whose article holds `held` among its `gates`."""
    if gates and gates[0] in held:
        return "first"
    return "update" if held.intersection(gates) else "quiet"
