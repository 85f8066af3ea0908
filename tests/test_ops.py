"""Running it as ops do, as real processes: SIGTERM during a delivery loses nothing, a second
signal exits at once, a broken store or config stops startup with one clear line, logs are
JSON lines that name what they are about, and secrets never show."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.localsite import CONVOY, FAIR, RULES, LocalSite, local_site, wait_for

TOKEN = "tok-3f9a1c77e0b24d5c"


@pytest.fixture
def site() -> Iterator[LocalSite]:
    yield from local_site()


def write_config(tmp_path: Path, site: LocalSite, *, hook: str, **extra: Any) -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "convoys.yaml").write_text(RULES)
    items = [("a1", *CONVOY), ("a2", "Second convoy leaves Tabqa", "Another convoy."),
             ("a3", *FAIR)]
    config: dict[str, Any] = {
        "state": "state/w.db", "rules": ["rules"], "jitter": 0,
        "fetch": {"allow_addresses": ["127.0.0.1/32", "::1/128"], "timeout": "5s"},
        "feeds": [{"id": "desk", "interval": "1h", "url": site.set_feed("desk.xml", items)}],
        "sinks": [{"name": "hook", "type": "webhook", "url": hook}],
        "delivery": {"poll_interval": "0.1s", "initial_backoff": "1s"},
        **extra,
    }
    path = tmp_path / "w.yaml"
    path.write_text(json.dumps(config))
    return path


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    return {**base, "PYTHONWARNINGS": "error::RuntimeWarning", **extra}


def start(*args: str, **extra_env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "watcher", *args], env=env(**extra_env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def watcher(*args: str, **extra_env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "watcher", *args], env=env(**extra_env),
                          capture_output=True, timeout=60, check=False)


def in_flight(proc: subprocess.Popen[bytes], site: LocalSite) -> None:
    """Wait until the watcher is sending to the hook; fail with its stderr if it stopped."""
    try:
        wait_for(lambda: site.hooks["hook"].started >= 1 or proc.poll() is not None, 30,
                 "a delivery in flight")
    except AssertionError:
        proc.kill()
    if proc.poll() is not None:
        raise AssertionError(f"no delivery in flight; polls {site.polls}; watcher said:\n"
                             + proc.communicate()[1].decode())


def test_sigterm_during_delivery_loses_nothing(tmp_path: Path, site: LocalSite) -> None:
    hook = site.hook("hook", delay=3.0)  # each delivery takes longer than the stop grace
    config = write_config(tmp_path, site, hook=hook,
                          delivery={"poll_interval": "0.1s", "stop_grace": "0.5s"})
    proc = start("run", "--config", str(config))
    try:
        in_flight(proc, site)
    finally:
        proc.send_signal(signal.SIGTERM)
        began = time.monotonic()
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()
    assert time.monotonic() - began < 5, "the stop did not respect stop_grace"
    assert "retried on start" in err.decode()

    # A restart delivers both alerts at once: the interrupted rows were handed back.
    site.hooks["hook"].delay = 0.0
    again = watcher("once", "--config", str(config))
    assert again.returncode == 0, again.stderr.decode()
    delivered = site.delivered_ids("hook")
    assert len(set(delivered)) == 2, delivered


def test_a_second_signal_exits_at_once(tmp_path: Path, site: LocalSite) -> None:
    hook = site.hook("hook", delay=20.0)
    config = write_config(tmp_path, site, hook=hook,
                          delivery={"poll_interval": "0.1s", "stop_grace": "30s"})
    proc = start("run", "--config", str(config))
    try:
        in_flight(proc, site)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert proc.poll() is None, "the first signal should wait for the delivery"
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=5)
    finally:
        proc.kill()
        _, err = proc.communicate()
    assert time.monotonic() - began < 3
    assert proc.returncode == 128 + signal.SIGINT, err.decode()
    assert "second SIGINT: exiting now" in err.decode()


def test_an_unusable_store_stops_startup_with_one_line(tmp_path: Path, site: LocalSite) -> None:
    (tmp_path / "blocker").write_text("a file where the state folder should be")
    config = write_config(tmp_path, site, hook=site.hook("hook"), state="blocker/w.db")
    result = watcher("run", "--config", str(config))
    assert result.returncode == 1
    lines = [line for line in result.stderr.decode().splitlines()
             if not line.startswith("{")]  # JSON log lines before it are fine
    assert len(lines) == 1, result.stderr.decode()
    assert lines[0].startswith("watcher: ") and "blocker" in lines[0]
    assert "Traceback" not in result.stderr.decode()


def test_an_unreachable_database_says_why_in_one_line(tmp_path: Path, site: LocalSite) -> None:
    # Port 1 on loopback: nothing listens, so the connection is refused at once.
    config = write_config(tmp_path, site, hook=site.hook("hook"),
                          state="postgresql://postgres:pw-7781@127.0.0.1:1/test")
    result = watcher("run", "--config", str(config))
    assert result.returncode == 1
    err = result.stderr.decode()
    lines = [line for line in err.splitlines() if not line.startswith("{")]
    assert len(lines) == 1, err
    assert lines[0].startswith("watcher: postgresql://postgres:**********@127.0.0.1:1/test")
    assert "Connection refused" in lines[0]
    assert "pw-7781" not in err and "Traceback" not in err


def test_a_broken_config_stops_startup_with_file_line_col(tmp_path: Path,
                                                          site: LocalSite) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("feeds:\n  - {id: a, url: x, interval: soon}\n")
    result = watcher("run", "--config", str(path))
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        f"{path}:2:31: feeds.0.interval: not a duration: 'soon' (use seconds or 30s, 5m, 2h, 1d)"]
    good = write_config(tmp_path, site, hook=site.hook("hook"))
    bad_env = watcher("config", "check", "--config", str(good), WATCHER_FETCH__TIMEOUT="soon")
    assert bad_env.returncode == 1
    assert bad_env.stderr.decode().startswith("$WATCHER_FETCH__TIMEOUT:1:1: fetch.timeout: ")


def test_json_logs_carry_ids_and_never_a_secret(tmp_path: Path, site: LocalSite) -> None:
    hook = site.hook(f"hook/{TOKEN}", status=500)
    config = write_config(tmp_path, site, hook="${DESK_HOOK}",
                          feeds=[{"id": "desk", "url": site.set_feed("d.xml", [("a1", *CONVOY)])},
                                 {"id": "gone", "url": site.url("gone.xml")}])
    result = watcher("once", "--config", str(config), DESK_HOOK=hook,
                     WATCHER_LOG_LEVEL="debug")
    assert result.returncode == 1  # a feed failed, an alert waits for a retry
    stderr = result.stderr.decode()
    assert TOKEN not in stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert lines and all({"ts", "level", "logger", "msg"} <= line.keys() for line in lines)
    assert any(line["level"] == "debug" for line in lines)  # WATCHER_LOG_LEVEL applied
    feed_lines = [line for line in lines if "feed gone" in line["msg"]]
    assert feed_lines and all(line["feed"] == "gone" for line in feed_lines)
    delivery = [line for line in lines if "delivery of" in line["msg"]]
    assert delivery and all(line["sink"] == "hook" and line["alert_id"] for line in delivery)

    shown = watcher("config", "show", "--config", str(config), DESK_HOOK=hook)
    assert shown.returncode == 0, shown.stderr.decode()
    assert TOKEN not in shown.stdout.decode()
    assert "url: '**********'" in shown.stdout.decode()


def test_status_after_a_run(tmp_path: Path, site: LocalSite) -> None:
    config = write_config(tmp_path, site, hook=site.hook("hook"),
                          feeds=[{"id": "desk", "url": site.set_feed("d.xml", [("a1", *CONVOY)])},
                                 {"id": "gone", "url": site.url("gone.xml")}])
    assert watcher("once", "--config", str(config)).returncode == 1
    result = watcher("status", "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr.decode()
    status = json.loads(result.stdout)
    health = {f["id"]: f["health"] for f in status["feeds"]}
    assert health == {"desk": "healthy", "gone": "failing"}
    assert status["rules_loaded"] == 1
    assert status["outbox"] == {"pending": 0, "delivered": 1, "dead": 0}
    assert status["last_alert"]["rule"] == "convoys"
