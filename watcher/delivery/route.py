"""Which sinks receive an alert: sinks a rule names in `notify`, then the configured routes.

    rule notify names a sink ─────────────▶ that sink
    routes, in order (first match wins ───▶ the route's sinks
      unless it says `continue`)
    nothing chosen ───────────────────────▶ default_sinks, else every sink

Each sink comes with the route that chose it, recorded on its outbox row: a route's own
`group_wait` and `max_per_hour` apply to what it sends (grouping.py).

A route matches when each condition it sets holds: the rule's `notify` names one of the
route's `notify` labels, the rule's severity is at least `min_severity`, the rule has one
of the route's `tags`. A route with no conditions matches everything (a default route).
Without `routes` in the config this is exactly the routing of earlier versions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from watcher.config.settings import Config, RouteConfig
from watcher.models import SEVERITIES, RuleRef

log = logging.getLogger("watcher.route")


def route_matches(route: RouteConfig, rule: RuleRef, notify: Sequence[str]) -> bool:
    if route.notify and not set(route.notify) & set(notify):
        return False
    if route.min_severity is not None and (
            SEVERITIES.index(rule.severity) < SEVERITIES.index(route.min_severity)):
        return False
    return not route.tags or bool(set(route.tags) & set(rule.tags))


def delivery_per(config: Config, route_name: str) -> str:
    """`story` or `article`: how often the route named `route_name` ('' for sinks chosen by
    notify or default_sinks) alerts on the articles of one story (watcher/stories/gates.py)."""
    for route in config.routes:
        if route.name == route_name and route.per is not None:
            return route.per
    return config.stories.per


def route_alert(rule: RuleRef, notify: Sequence[str], config: Config) -> dict[str, str]:
    """The sinks for a rule hit, in order, each once, with the route that chose each ('' for a
    sink named in `notify` or a default sink). A sink named directly keeps '' even when a
    route also picks it, and the first route to pick a sink keeps it: that decides whose
    group_wait and max_per_hour apply (grouping.py). Names in `notify` that are neither a
    sink nor a route label are logged and skipped; an alert that nothing routes goes to the
    default sinks rather than nowhere."""
    known = config.sink_names()
    labels = {label for route in config.routes for label in route.notify}
    chosen = {name: "" for name in notify if name in known}
    for name in notify:
        if name not in known and name not in labels:
            log.warning("rule %s notifies unknown sink %r; known sinks: %s", rule.id, name,
                        known)
    for route in config.routes:
        if route_matches(route, rule, notify):
            for name in route.sinks:
                chosen.setdefault(name, route.name)
            if not route.continue_:
                break
    if chosen:
        return chosen
    if config.default_sinks is not None:
        return dict.fromkeys(config.default_sinks, "")
    return dict.fromkeys(known, "")
