"""Every metric watcher exports, in one place, on a registry of its own.

Each service (and each test) builds its own `Metrics`, so several can live in one process
without clashing in prometheus-client's global registry. The pipeline, the delivery worker
and the service call the `record_…` methods; `/metrics` renders `exposition()`.

Labels stay bounded: feed ids and rule ids come from the configuration and rule files, sink
names from the configuration, statuses from HTTP, replica ids from the feed leases in the
store (only the replicas whose poll of some feed was the latest). Histograms carry no labels.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from watcher import __version__
from watcher.models import ArticleMatch, FetchResult
from watcher.store.cluster import ClusterView

# Fetches over a slow link take seconds; matching one article takes microseconds to
# milliseconds; an alert reaches its receiver in seconds, or hours when a sink is down.
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60)
MATCH_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
ALERT_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 6 * 3600, 86400)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """The metric objects of one watcher process."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.info = Gauge("watcher_build_info", "Always 1; the version in a label.",
                          ["version"], registry=r)
        self.info.labels(__version__).set(1)
        self.replica = Gauge("watcher_replica_info",
                             "Always 1; this process's replica id (feed leases, `watcher "
                             "status`) in a label.", ["replica"], registry=r)
        self.polls = Counter("watcher_polls", "Polls of a feed (including 304 Not Modified).",
                             ["feed"], registry=r)
        self.fetch_errors = Counter(
            "watcher_fetch_errors", "Polls that failed: fetch errors and unparseable bodies.",
            ["feed"], registry=r)
        self.http_statuses = Counter("watcher_fetch_http_status",
                                     "HTTP status codes of feed fetches ('none': no answer).",
                                     ["feed", "status"], registry=r)
        self.articles = Counter("watcher_articles",
                                "Articles read from feeds: new (first sighting) or seen before "
                                "(a body unchanged since the last poll is not read).",
                                ["feed", "state"], registry=r)
        self.matches = Counter("watcher_matches", "Articles a rule fired on.", ["rule"],
                               registry=r)
        self.alerts = Counter("watcher_alerts",
                              "Delivery attempts by outcome: delivered, failed (will retry) "
                              "or dead (given up).", ["sink", "outcome"], registry=r)
        self.outbox_pending = Gauge("watcher_outbox_pending",
                                    "Deliveries waiting in the outbox.", registry=r)
        self.outbox_dead = Gauge("watcher_outbox_dead", "Deliveries given up on (dead).",
                                 registry=r)
        self.outbox_oldest_age = Gauge(
            "watcher_outbox_oldest_age_seconds",
            "Age of the oldest delivery waiting in the outbox (0 when empty).", registry=r)
        self.fetch_seconds = Histogram("watcher_fetch_duration_seconds",
                                       "Time to fetch one feed.", buckets=FETCH_BUCKETS,
                                       registry=r)
        self.match_seconds = Histogram("watcher_match_duration_seconds",
                                       "Time to match one article against every rule.",
                                       buckets=MATCH_BUCKETS, registry=r)
        self.alert_latency = Histogram(
            "watcher_alert_latency_seconds",
            "From an article's first sighting to the delivery of its alert.",
            buckets=ALERT_BUCKETS, registry=r)
        self.outbox_in_flight = Gauge(
            "watcher_outbox_in_flight",
            "Waiting deliveries a worker of some replica holds a lease on now.", registry=r)
        self.cluster_feeds = Gauge(
            "watcher_cluster_feeds",
            "Feeds per replica, from the store: polled (latest poll was that replica's) and "
            "leased (a poll of it running now).", ["replica", "state"], registry=r)
        self.rules_loaded = Gauge("watcher_rules_loaded", "Rules active now.", registry=r)
        self.rule_load_errors = Gauge("watcher_rule_load_errors",
                                      "Problems (errors) in the rule files at the last load.",
                                      registry=r)
        self.full_text_pages = Counter(
            "watcher_full_text_pages", "Article pages of full_text feeds, by outcome: fetched, "
                                       "timeout, too_big, not_html, blocked, http_error, "
                                       "unreachable, empty, not_http, over_cap.",
            ["feed", "outcome"], registry=r)
        self.rule_loads = Counter("watcher_rule_loads", "Loads of the rule files.",
                                  ["result"], registry=r)
        self.websub_pushes = Counter(
            "watcher_websub_pushes", "Content pushed by WebSub hubs, by outcome: accepted, "
                                     "bad_signature, rate_limited, too_large, unknown, gone, "
                                     "failed.", ["outcome"], registry=r)
        # A poll's labelled children, looked up once per feed and status: `labels` checks and
        # joins the label values and takes a lock each time, some 5% of a 304's CPU.
        self._fetch_children: dict[tuple[str, int | None],
                                   tuple[Counter, Counter]] = {}

    # recording

    def record_fetch(self, feed_id: str, result: FetchResult, seconds: float) -> None:
        key = (feed_id, result.status)
        children = self._fetch_children.get(key)
        if children is None:
            status = str(result.status) if result.status is not None else "none"
            children = self._fetch_children[key] = (
                self.polls.labels(feed_id), self.http_statuses.labels(feed_id, status))
        polls, statuses = children
        polls.inc()
        statuses.inc()
        self.fetch_seconds.observe(seconds)

    def record_poll_error(self, feed_id: str) -> None:
        self.fetch_errors.labels(feed_id).inc()

    def record_articles(self, feed_id: str, *, new: int, seen: int) -> None:
        self.articles.labels(feed_id, "new").inc(new)
        self.articles.labels(feed_id, "seen").inc(max(seen, 0))

    def record_matches(self, found: ArticleMatch) -> None:
        for hit in found.hits:
            self.matches.labels(hit.rule.id).inc()

    def record_delivered(self, sink: str, first_seen: datetime, now: datetime) -> None:
        self.alerts.labels(sink, "delivered").inc()
        self.alert_latency.observe(max((now - first_seen).total_seconds(), 0.0))

    def record_failed(self, sink: str) -> None:
        self.alerts.labels(sink, "failed").inc()

    def record_dead(self, sink: str) -> None:
        self.alerts.labels(sink, "dead").inc()

    def record_rules(self, loaded: int, errors: int) -> None:
        self.rules_loaded.set(loaded)
        self.rule_load_errors.set(errors)
        self.rule_loads.labels("error" if errors else "ok").inc()

    def record_replica(self, replica_id: str) -> None:
        self.replica.clear()
        self.replica.labels(replica_id).set(1)

    def record_cluster(self, view: ClusterView) -> None:
        """Feeds per replica and deliveries in flight; replicas gone from the view vanish."""
        self.cluster_feeds.clear()
        for r in view.replicas:
            self.cluster_feeds.labels(r.replica_id, "polled").set(r.feeds_polled)
            self.cluster_feeds.labels(r.replica_id, "leased").set(r.feeds_leased)
        self.outbox_in_flight.set(view.deliveries_in_flight)

    def record_outbox(self, counts: dict[str, int], oldest_pending: datetime | None,
                      now: datetime) -> None:
        self.outbox_pending.set(counts.get("pending", 0))
        self.outbox_dead.set(counts.get("dead", 0))
        age = (now - oldest_pending).total_seconds() if oldest_pending is not None else 0.0
        self.outbox_oldest_age.set(max(age, 0.0))

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)
