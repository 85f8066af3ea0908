"""The desk in a real browser: Debian's headless Chromium, driven by Playwright, against a
live `watcher run` on loopback with the demo feeds and rules. It sees the demo alerts,
filters, acknowledges one, creates a silence, and sees a new matching alert arrive
silenced (and not delivered). A screenshot is saved in test-artifacts/desk.png.

Chromium comes from `make test` (`make browser`); without it the test skips, except under
CI=true, where it fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
IN_CI = os.environ.get("CI") == "true"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]

LATE_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Late desk</title><link>https://late.example.org/</link>
<description>written for this test</description>
{items}
</channel></rss>
"""
LATE_ITEM = """<item><guid>urn:late:{n}</guid><title>{title}</title>
<link>https://late.example.org/{n}</link><description>{title}.</description></item>"""

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """A live `watcher run`: the demo feeds and rules, one more feed this test writes to,
    a JSON Lines sink. Yields (base URL, the late feed's file, the sink's file)."""
    late = tmp_path / "late.xml"
    late.write_text(LATE_FEED.format(items=LATE_ITEM.format(
        n=0, title="Cup final goes to extra time in Bamako")))
    sent = tmp_path / "sent.jsonl"
    demo = ROOT / "config" / "demo-feeds"
    config = tmp_path / "watcher.yaml"
    config.write_text(json.dumps({
        "state": str(tmp_path / "w.db"), "rules": [str(ROOT / "rules")],
        "default_interval": "1s", "jitter": 0,
        "feeds": [{"id": "demo-levant", "title": "Demo Levant Desk",
                   "url": str(demo / "levant-desk.xml")},
                  {"id": "demo-africa", "title": "Demo Africa Desk",
                   "url": str(demo / "africa-desk.atom")},
                  {"id": "demo-wire", "title": "Demo World Wire",
                   "url": str(demo / "world-wire.xml")},
                  {"id": "late-desk", "title": "Late desk", "url": str(late)}],
        "sinks": [{"type": "jsonl", "name": "archive", "path": str(sent)}],
        "delivery": {"poll_interval": "1s"},
        "http": {"listen": f"127.0.0.1:{free_port()}"}}))
    listen = json.loads(config.read_text())["http"]["listen"]
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "watcher", "run", "--config", str(config)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://{listen}"
    try:
        _wait_for(lambda: len(httpx.get(f"{base}/api/v1/alerts").json()["items"]) >= 5,
                  "the demo alerts", proc, tmp_path / "run.log")
        yield base, late, sent
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _wait_for(check: object, what: str, proc: subprocess.Popen[bytes], log: Path,
              seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"watcher run exited:\n{log.read_text()[-3000:]}"
        try:
            if check():  # type: ignore[operator]
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {seconds}s:\n{log.read_text()[-3000:]}")


def test_the_desk_in_a_browser(service: tuple[str, Path, Path]) -> None:
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing under CI=true (make browser installs it)")
        pytest.skip(f"{CHROMIUM} is missing: run `make browser`")
    from playwright.sync_api import expect, sync_playwright

    base, late, sent = service
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            outside: list[str] = []
            page.on("request", lambda r: None if r.url.startswith((base, "data:"))
                    else outside.append(r.url))
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(f"{base}/desk/")

            # The demo alerts, newest first, with their matched terms highlighted.
            alerts = page.locator("li.alert")
            expect(alerts.first).to_be_visible()
            assert alerts.count() >= 5
            expect(page.locator("li.alert mark").first).to_be_visible()
            assert page.locator("#map circle").count() >= 3
            page.screenshot(path=str(ARTIFACTS / "desk.png"))

            # Filter: high severity only.
            page.select_option("select[name=severity]", "high")
            page.click("#filters button[type=submit]")
            page.wait_for_url("**/desk/?*severity=high*")
            severities = page.locator("li.alert .meta .sev").all_inner_texts()
            assert severities and {s.strip().lower() for s in severities} == {"high"}
            page.goto(f"{base}/desk/")

            # Acknowledge the newest alert, with a note.
            first = page.locator("li.alert").first
            alert_id = first.get_attribute("data-alert-id")
            first.locator("input[name=note]").fill("<b>called the desk</b>")
            first.locator("button", has_text="Acknowledge").click()
            acked = page.locator(f"li.alert[data-alert-id='{alert_id}'] .ack-badge")
            expect(acked).to_contain_text("acknowledged by desk: <b>called the desk</b>")

            # Silence everything from the late feed for two hours.
            page.select_option("#silence-form select[name=kind]", "feed")
            page.fill("#silence-form input[name=value]", "late-desk")
            page.fill("#silence-form input[name=reason]", "known event")
            page.click("#silence-form button[type=submit]")
            expect(page.locator("#silences li.silence")).to_contain_text("feed=late-desk")

            # A new alert from that feed arrives, live, silenced, and is not sent.
            late.write_text(LATE_FEED.format(items=LATE_ITEM.format(
                n=1, title="Wagner convoy spotted heading north from Gao")))
            arrived = page.locator("li.alert", has_text="Wagner convoy spotted")
            expect(arrived).to_be_visible(timeout=30_000)
            expect(arrived).to_have_class("alert sev-low silenced")
            expect(arrived.locator(".silenced-badge")).to_contain_text("silenced by #1")
            page.screenshot(path=str(ARTIFACTS / "desk-silenced.png"))
            assert outside == [], f"the page asked other origins: {outside}"
            assert problems == [], problems
        finally:
            browser.close()
    api = httpx.get(f"{base}/api/v1/alerts", params={"feed": "late-desk"}).json()["items"]
    assert [a["desk"]["silenced"] for a in api] == [True]
    time.sleep(2)  # the delivery worker has had its pass
    delivered = [json.loads(line)["article"]["title"]
                 for line in sent.read_text().splitlines()]
    assert delivered and "Wagner convoy spotted heading north from Gao" not in delivered
