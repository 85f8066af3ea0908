"""`watcher status`: feed health from the store's feed state, the one-screen rendering, the
`replicas` table on both backends, and real `watcher run` processes seen from `watcher status`:
what the service runs (a broken edit's last good version), its replica id, the cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.localsite import CONVOY, RULES, LocalSite, local_site, wait_for
from watcher.cli.status_cmd import (
    ClusterStatus,
    FeedStatus,
    ReplicaFeeds,
    ReplicaStatus,
    Status,
    feed_health,
    render_status,
    replica_status,
)
from watcher.config.settings import FeedConfig
from watcher.models import FeedState
from watcher.service.heartbeat import LIVE_WITHIN
from watcher.store import ReplicaRecord, Store, open_store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FEED = FeedConfig(id="desk", url="https://a.example/rss")


@pytest.fixture
def site() -> Iterator[LocalSite]:
    yield from local_site()


def state(**fields: object) -> FeedState:
    return FeedState(feed_id="desk", url=FEED.url, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("feed_state", "health"), [
    (None, "never polled"),
    (state(last_attempt=NOW - timedelta(minutes=5), last_success=NOW - timedelta(minutes=5)),
     "healthy"),
    (state(last_attempt=NOW, last_success=NOW - timedelta(hours=2), consecutive_failures=3,
           last_error="HTTP 503"), "failing"),
    (state(last_attempt=NOW, consecutive_failures=1), "failing"),
    (state(last_attempt=NOW - timedelta(hours=1), last_success=NOW - timedelta(hours=1)),
     "stale"),  # not tried for 6 intervals of 10 minutes: is the service running?
])
def test_feed_health(feed_state: FeedState | None, health: str) -> None:
    assert feed_health(FEED, feed_state, 600, NOW).health == health


def test_render_status_without_a_service_checks_the_files_on_disk() -> None:
    status = Status(
        config="c.yaml", state="var/w.db",
        feeds=[FeedStatus("desk", "healthy"),
               FeedStatus("gone", "failing", 3, "2026-11-25T10:00:00+00:00", None, "HTTP 404")],
        rules_loaded=12, rule_problems=["r.yaml:3:5: bad term"], rules_source="disk",
        replicas=[ReplicaStatus("web-1", "stopped", "0.3.0", "2026-11-25T09:00:00+00:00",
                                "2026-11-25T11:00:00+00:00", 3600, "2026-11-25T11:00:00+00:00",
                                12, {})],
        outbox={"pending": 2, "delivered": 40, "dead": 1},
        oldest_pending="2026-11-25T11:55:00+00:00",
        last_alert={"rule": "convoys", "title": "Convoy leaves", "sink": "hook",
                    "delivered_at": "2026-11-25T11:59:00+00:00", "alert_id": "x"})
    text = render_status(status, NOW)
    assert text.splitlines() == [
        "config     c.yaml",
        "state      var/w.db",
        "service    none running: no replica with a heartbeat in the last 45s "
        "(last: web-1, stopped 1h ago (2026-11-25T11:00:00+00:00))",
        "feeds      2 enabled: 1 failing, 1 healthy",
        "  FAILING  gone: 3 failures, last success 2h ago (2026-11-25T10:00:00+00:00): HTTP 404",
        "rules      12 loaded from the rule files on disk (no service running), 1 errors, "
        "0 warnings",
        "  r.yaml:3:5: bad term",
        "outbox     2 waiting (oldest queued 5m ago (2026-11-25T11:55:00+00:00)), 0 in flight, "
        "1 dead, 40 delivered",
        "last alert 1m ago (2026-11-25T11:59:00+00:00) to hook: convoys: Convoy leaves",
    ]


def running(replica_id: str, problems: list[str], stale: dict[str, str]) -> ReplicaStatus:
    rules = {"loaded_at": "2026-11-25T11:58:00+00:00", "problems": problems,
             "stale_files": list(stale), "stale_since": stale}
    return ReplicaStatus(replica_id, "live", "0.3.0", "2026-11-25T10:00:00+00:00",
                         "2026-11-25T11:59:56+00:00", 4, None, 2, rules)


def test_render_status_shows_each_live_replica_its_rules_and_the_cluster() -> None:
    broken = ["rules/desk.yaml:1:8: invalid YAML"]
    since = {"rules/desk.yaml": "2026-11-25T11:50:00+00:00"}
    status = Status(
        config="c.yaml", state="postgresql://w:***@db/w", rules_source="service",
        feeds=[FeedStatus("desk", "healthy"), FeedStatus("wire", "healthy")],
        rules_loaded=2, rule_problems=broken,
        replicas=[running("web-1", broken, since), running("web-2", broken, since),
                  ReplicaStatus("old", "silent", "0.2.0", "", "2026-11-25T10:00:00+00:00",
                                7200, None, 1, {})],
        cluster=ClusterStatus([ReplicaFeeds("web-1", 1, 1, None),
                               ReplicaFeeds("web-2", 1, 0, None)],
                              {"pending": 3, "delivered": 1, "dead": 0}, 2),
        outbox={"pending": 3, "delivered": 1, "dead": 0})
    assert render_status(status, NOW).splitlines() == [
        "config     c.yaml",
        "state      postgresql://w:***@db/w",
        "service    2 replicas live, 1 stopped or silent",
        "  web-1  version 0.3.0, heartbeat 4s ago, started 2h ago (2026-11-25T10:00:00+00:00)",
        "    rules 2 loaded 2m ago (2026-11-25T11:58:00+00:00), 1 errors, 0 warnings",
        "      running last good version of rules/desk.yaml since 10m ago "
        "(2026-11-25T11:50:00+00:00)",
        "      rules/desk.yaml:1:8: invalid YAML",
        "  web-2  version 0.3.0, heartbeat 4s ago, started 2h ago (2026-11-25T10:00:00+00:00)",
        "    rules 2 loaded 2m ago (2026-11-25T11:58:00+00:00), 1 errors, 0 warnings",
        "      same rule problems as web-1",
        "feeds      2 enabled: 2 healthy",
        "  last polled by: web-1 1 (1 polling now), web-2 1",
        "outbox     3 waiting, 2 in flight, 0 dead, 1 delivered",
        "last alert none delivered",
    ]


def test_replica_state_from_its_heartbeat() -> None:
    record = ReplicaRecord("web-1", "0.3.0", NOW - timedelta(hours=1), NOW - timedelta(seconds=30))
    assert replica_status(record, NOW).state == "live"
    assert replica_status(record, NOW + timedelta(seconds=LIVE_WITHIN)).state == "silent"
    stopped = ReplicaRecord("web-1", "0.3.0", NOW, NOW, stopped_at=NOW)
    assert replica_status(stopped, NOW).state == "stopped"


# The `replicas` table on both backends

@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    location: Path | str = tmp_path / "w.db"
    if request.param == "postgres":
        location = request.getfixturevalue("pg_url")
    opened = await open_store(location)
    yield opened
    await opened.close()


async def test_replicas_are_saved_replaced_stopped_and_forgotten(store: Store) -> None:
    rules = {"problems": ["a.yaml:1:1: bad"], "stale_files": ["a.yaml"],
             "stale_since": {"a.yaml": NOW.isoformat()}}
    await store.save_replica(ReplicaRecord("r1", "0.3.0", NOW, NOW, 5, rules))
    await store.save_replica(ReplicaRecord("r0", "0.2.0", NOW - timedelta(days=9),
                                           NOW - timedelta(days=8)))
    later = NOW + timedelta(seconds=15)
    await store.save_replica(ReplicaRecord("r1", "0.3.0", NOW, later, 6, rules))
    await store.save_replica(ReplicaRecord("r2", "0.3.0", NOW, later, 6, {}))

    found = await store.list_replicas(NOW - timedelta(days=1))
    assert [r.replica_id for r in found] == ["r1", "r2"]
    assert found[0] == ReplicaRecord("r1", "0.3.0", NOW, later, 6, rules)
    assert found[0].is_live(later + timedelta(seconds=LIVE_WITHIN), LIVE_WITHIN)

    await store.stop_replica("r2", later + timedelta(seconds=1))
    r2 = (await store.list_replicas(NOW))[1]
    assert r2.stopped_at == later + timedelta(seconds=1)
    assert not r2.is_live(later + timedelta(seconds=1), LIVE_WITHIN)

    assert [r.replica_id for r in await store.list_replicas(NOW - timedelta(days=30))] == [
        "r0", "r1", "r2"]
    assert await store.forget_replicas(NOW - timedelta(days=7)) == 1
    assert [r.replica_id for r in await store.list_replicas(NOW - timedelta(days=30))] == [
        "r1", "r2"]


async def test_cluster_view_counts_zero_polls_running_when_every_lease_is_released(
        store: Store) -> None:
    """Between polls no feed is leased: 0 polling now (SQLite's sum() of nothing is NULL)."""
    assert await store.claim_feed("desk", "r1", NOW, 60)
    await store.release_feed("desk", "r1")
    view = await store.cluster_view(NOW)
    assert [(r.replica_id, r.feeds_polled, r.feeds_leased) for r in view.replicas] == [
        ("r1", 1, 0)]


# The service as ops run it: `watcher run`, then `watcher status` from another process

def write_config(tmp_path: Path, site: LocalSite, state: str, feeds: int) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "convoys.yaml").write_text(RULES)
    (rules / "sieges.yaml").write_text(RULES.replace("convoy", "siege"))
    config = {
        "state": state, "rules": ["rules"], "jitter": 0,
        "fetch": {"allow_addresses": ["127.0.0.1/32", "::1/128"], "timeout": "5s"},
        "feeds": [{"id": f"f{i}", "interval": "1h",
                   "url": site.set_feed(f"f{i}.xml", [(f"a{i}", *CONVOY)])}
                  for i in range(feeds)],
        "sinks": [{"name": "hook", "type": "webhook", "url": site.hook("hook")}],
        "delivery": {"poll_interval": "0.2s"},
    }
    path = tmp_path / "w.yaml"
    path.write_text(json.dumps(config))
    return path


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    return {**base, **extra}


def start_service(config: Path, replica: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "watcher", "run", "--config", str(config)],
                            env=env(WATCHER_REPLICA_ID=replica), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def stop_service(proc: subprocess.Popen[bytes]) -> str:
    """SIGTERM, then what it wrote on stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=30)[1].decode()
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()[1].decode()


def status_of(config: Path) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "watcher", "status", "--config", str(config),
                             "--json"], env=env(), capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode()
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def wait_for_status(config: Path, check: Callable[[dict[str, Any]], bool],
                    procs: list[subprocess.Popen[bytes]], what: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def met() -> bool:
        nonlocal seen
        for proc in procs:
            assert proc.poll() is None, stop_service(proc)
        seen = status_of(config)
        return check(seen)

    try:
        wait_for(met, 30, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last status: {json.dumps(seen, indent=1)}") from None
    return seen


def live_ids(status: dict[str, Any]) -> list[str]:
    return sorted(r["replica_id"] for r in status["replicas"] if r["state"] == "live")


def test_status_shows_what_the_running_service_runs_not_the_files_on_disk(
        tmp_path: Path, site: LocalSite) -> None:
    config = write_config(tmp_path, site, "state/w.db", feeds=1)
    proc = start_service(config, "desk-1")
    try:
        status = wait_for_status(config, lambda s: s["cluster"]["outbox"]["delivered"] == 1,
                                 [proc], "the service polled and delivered")
        assert live_ids(status) == ["desk-1"]
        assert status["rules_source"] == "service"
        assert status["rules_loaded"] == 2
        assert status["cluster"]["feeds"][0]["replica_id"] == "desk-1"
        assert status["cluster"]["feeds"][0]["feeds_polled"] == 1

        # A broken edit: on disk the file has no rules left; the service runs its last good
        # version, and status says so rather than what the disk says.
        (tmp_path / "rules" / "sieges.yaml").write_text("rules: [unclosed\n")
        status = wait_for_status(config, lambda s: s["replicas"][0]["rules"]["stale_files"],
                                 [proc], "the service reloaded the broken file")
        replica = status["replicas"][0]
        broken = str(tmp_path / "rules" / "sieges.yaml")
        assert replica["rules"]["stale_files"] == [broken]
        assert broken in replica["rules"]["stale_since"]
        assert replica["rules_loaded"] == status["rules_loaded"] == 2
        assert any(p.startswith(f"{broken}:1:") for p in status["rule_problems"])
        text = subprocess.run([sys.executable, "-m", "watcher", "status", "--config",
                               str(config)], env=env(), capture_output=True, timeout=60,
                              check=True).stdout.decode()
        assert "desk-1  version" in text
        assert f"running last good version of {broken} since" in text
        assert "from the rule files on disk" not in text
    finally:
        said = stop_service(proc)
    assert proc.returncode == 0, said

    # Stopped: nothing runs, so the rules are checked on disk, and the screen says so.
    status = status_of(config)
    assert status["replicas"][0]["state"] == "stopped"
    assert (status["rules_source"], status["rules_loaded"]) == ("disk", 1)


def test_status_on_postgres_shows_every_replica_and_the_feeds_each_polled(
        tmp_path: Path, site: LocalSite, pg_url: str) -> None:
    config = write_config(tmp_path, site, pg_url, feeds=6)
    procs = [start_service(config, "pg-1"), start_service(config, "pg-2")]
    try:
        status = wait_for_status(
            config, lambda s: live_ids(s) == ["pg-1", "pg-2"]
            and sum(f["feeds_polled"] for f in s["cluster"]["feeds"]) == 6,
            procs, "both replicas live and every feed polled")
        assert {f["replica_id"] for f in status["cluster"]["feeds"]} <= {"pg-1", "pg-2"}
        assert status["rules_source"] == "service"
        for replica in status["replicas"]:
            assert replica["rules_loaded"] == 2 and replica["rules"]["problems"] == []
        text = subprocess.run([sys.executable, "-m", "watcher", "status", "--config",
                               str(config)], env=env(), capture_output=True, timeout=60,
                              check=True).stdout.decode()
        assert "service    2 replicas live" in text
        assert "  last polled by: " in text
    finally:
        for proc in procs:
            stop_service(proc)

