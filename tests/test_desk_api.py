"""The desk's API and page on a real port over a real SQLite store: every endpoint, cursors,
filters, auth (401/403), CSRF, hostile feed text, and the OpenAPI document checked against
the implementation with schemathesis."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from pydantic import ValidationError

from tests.deskserver import HOSTILE_TITLE, Desk, desk_config, served_desk
from watcher.desk import desk_mount
from watcher.desk.page import highlighted
from watcher.errors import ConfigError, WatcherError

TOKEN_W = "w" * 20
TOKEN_R = "r" * 20


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    with served_desk(tmp_path_factory.mktemp("desk")) as served:
        yield served


@pytest.fixture
def client(desk: Desk) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=desk.url, timeout=10) as c:
        yield c


def csrf(client: httpx.Client) -> dict[str, str]:
    """The page's cookie, echoed as the browser's script does."""
    client.get("/desk/")
    return {"X-CSRF-Token": client.cookies["watcher_csrf"]}


def ids(page: dict[str, object]) -> list[str]:
    return [item["alert_id"] for item in page["items"]]  # type: ignore[attr-defined, index]


def test_alerts_page_by_page_newest_first(client: httpx.Client) -> None:
    first = client.get("/api/v1/alerts", params={"limit": 10}).json()
    assert len(first["items"]) == 10 and first["next_cursor"]
    assert first["items"][0]["article"]["key"] == "evil"  # the newest
    item = first["items"][1]
    assert item["schema"] == "watcher.alert/v1" and item["rule"]["id"]
    assert set(item["desk"]) == {"seq", "arrived_at", "ack", "silenced", "silenced_by"}
    seen = ids(first)
    cursor = first["next_cursor"]
    while cursor:
        page = client.get("/api/v1/alerts", params={"limit": 10, "cursor": cursor}).json()
        seen += ids(page)
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 31
    newer = client.get("/api/v1/alerts",
                       params={"after": first["items"][2]["desk"]["seq"]}).json()
    assert ids(newer) == seen[:2]


@pytest.mark.parametrize(("params", "count"), [
    ({"rule": "sudan-fighting"}, 10), ({"severity": "medium"}, 10), ({"feed": "levant"}, 16),
    ({"place": "Raqqa", "group": "SDF"}, 31), ({"tag": "syria", "rule": "defections"}, 10),
    ({"q": "SCRIPT"}, 1), ({"since": "2026-11-25T12:20:00+00:00"}, 11),
    ({"until": "2026-11-25T12:05:00Z"}, 5), ({"story": "nothing-yet"}, 0),
])
def test_filters(client: httpx.Client, params: dict[str, str], count: int) -> None:
    page = client.get("/api/v1/alerts", params={**params, "limit": 100}).json()
    assert len(page["items"]) == count


@pytest.mark.parametrize("params", [{"severity": "loud"}, {"since": "yesterday"},
                                    {"until": "0001-01-01T00:00:00+01:00"},
                                    {"limit": "0"}, {"cursor": "-3"}, {"q": "x" * 201}])
def test_bad_filters_are_400_naming_the_parameter(client: httpx.Client,
                                                  params: dict[str, str]) -> None:
    response = client.get("/api/v1/alerts", params=params)
    assert response.status_code == 400
    assert next(iter(params)) in response.json()["error"]


def test_one_alert_stories_feeds_rules(client: httpx.Client) -> None:
    alert_id = ids(client.get("/api/v1/alerts", params={"limit": 1}).json())[0]
    assert client.get(f"/api/v1/alerts/{alert_id}").json()["alert_id"] == alert_id
    assert client.get("/api/v1/alerts/nope").status_code == 404
    assert client.get("/api/v1/stories").json() == {"items": []}
    feeds = client.get("/api/v1/feeds").json()["items"]
    assert [(f["id"], f["health"]) for f in feeds] == [("levant", "never polled"),
                                                       ("africa", "never polled")]
    rules = client.get("/api/v1/rules").json()["items"]
    assert rules and all(len(r["alerts_per_day"]) == 14 for r in rules)
    assert any(r["examples"]["match"] for r in rules)


def test_ack_and_silence_round_trip(desk: Desk, client: httpx.Client) -> None:
    headers = csrf(client)
    alert_id = ids(client.get("/api/v1/alerts", params={"rule": "defections"}).json())[0]
    ack = client.post("/api/v1/acks", json={"alert_id": alert_id, "note": "called the desk",
                                            "author": "ana"}, headers=headers)
    assert ack.status_code == 201 and ack.json()["author"] == "ana"
    shown = client.get(f"/api/v1/alerts/{alert_id}").json()["desk"]["ack"]
    assert shown["note"] == "called the desk"
    assert client.get("/api/v1/acks").json()["items"][0]["alert_id"] == alert_id
    missing = client.post("/api/v1/acks", json={"alert_id": "nope"}, headers=headers)
    assert missing.status_code == 404
    made = client.post("/api/v1/silences", headers=headers, json={
        "matchers": [{"kind": "rule", "value": "defections"}], "duration": "2h",
        "reason": "known event"})  # no author given: the desk's
    assert made.status_code == 201, made.text
    silence = made.json()
    assert (silence["state"], silence["author"]) == ("active", "desk")  # no auth: as given
    listed = client.get("/api/v1/silences").json()["items"]
    assert [s["id"] for s in listed] == [silence["id"]]
    expired = client.delete(f"/api/v1/silences/{silence['id']}", headers=headers)
    assert expired.json()["state"] == "expired"
    assert client.get("/api/v1/silences").json()["items"] == []
    assert len(client.get("/api/v1/silences", params={"state": "all"}).json()["items"]) == 1
    assert client.delete("/api/v1/silences/999", headers=headers).status_code == 404


@pytest.mark.parametrize("body", [
    {"matchers": [], "duration": "1h", "reason": "r"},
    {"matchers": [{"kind": "source", "value": "x"}], "duration": "1h", "reason": "r"},
    {"matchers": [{"kind": "rule", "value": "x"}], "reason": "r"},
    {"matchers": [{"kind": "rule", "value": "x"}], "duration": "1h", "reason": "r",
     "extra": 1},
    {"matchers": [{"kind": "rule", "value": "x"}], "reason": "r", "duration": "1h",
     "starts_at": "9999-12-31T23:59:59+00:00"},
    {"matchers": [{"kind": "rule", "value": "x"}], "reason": "r",
     "starts_at": "0001-01-01T00:00:00+01:00", "ends_at": "2026-11-25T14:00:00Z"},
    {"matchers": [{"kind": "rule", "value": "x"}], "reason": "r",
     "ends_at": "2026-11-25T14:00:00"},
])
def test_bad_silences_are_400(client: httpx.Client, body: dict[str, object]) -> None:
    assert client.post("/api/v1/silences", json=body, headers=csrf(client)).status_code == 400


def test_changes_without_the_csrf_token_are_refused(client: httpx.Client) -> None:
    client.get("/desk/")  # the cookie alone is what another site's form would carry
    body = {"matchers": [{"kind": "rule", "value": "x"}], "duration": "1h", "reason": "r"}
    for headers in ({}, {"X-CSRF-Token": "guess"},
                    {"X-CSRF-Token": client.cookies["watcher_csrf"],
                     "Origin": "https://evil.example"}):
        response = client.post("/api/v1/silences", json=body, headers=headers)
        assert response.status_code == 403 and "CSRF" in response.json()["error"]


def test_feed_text_is_escaped_and_hostile_links_dropped(client: httpx.Client) -> None:
    page = client.get("/desk/")
    assert page.status_code == 200
    html = page.text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "default-src 'none'" in policy
    fragment = client.get("/desk/alerts", params={"q": "script"})
    assert fragment.text.count('class="alert') == 1 and "<script>" not in fragment.text
    api_title = client.get("/api/v1/alerts", params={"q": "script"}).json()["items"][0]
    assert api_title["article"]["title"] == HOSTILE_TITLE  # JSON carries it as data


def test_feed_and_rule_views(client: httpx.Client) -> None:
    feeds = client.get("/desk/feeds")
    assert feeds.status_code == 200 and "never polled" in feeds.text
    rules = client.get("/desk/rules")
    assert rules.status_code == 200 and "alerts per day" in rules.text
    assert client.get("/desk/static/world.svg").headers["Content-Type"] == "image/svg+xml"
    assert client.get("/", follow_redirects=False).headers["Location"] == "/desk/"


def test_an_open_desk_is_refused_beyond_loopback(tmp_path: Path) -> None:
    config = desk_config(tmp_path)
    config.http.listen = "0.0.0.0:8080"
    with pytest.raises(WatcherError, match="without authentication"):
        desk_mount(config, None, list, lambda: None)  # type: ignore[arg-type]
    config.desk.enabled = False
    assert desk_mount(config, None, list, lambda: None) is None  # type: ignore[arg-type]


def test_a_broken_users_file_names_file_line_and_column(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    users.write_text("- name: ana\n  password_hash: plain\n  role: write\n")
    config = desk_config(tmp_path, users_file="users.yaml")
    with pytest.raises(ConfigError, match=r"users\.yaml:2:18: 0\.password_hash"):
        desk_mount(config, None, list, lambda: None)  # type: ignore[arg-type]


def test_tokens_and_users_with_roles(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    users.write_text(f"- name: ana\n  password_hash: '{PasswordHasher().hash('s3cret')}'\n"
                     "  role: write\n- name: bo\n"
                     f"  password_hash: '{PasswordHasher().hash('hunter2')}'\n")
    tokens = [{"name": "bot", "token": TOKEN_W, "role": "write"},
              {"name": "wall", "token": TOKEN_R}]
    with served_desk(tmp_path, tokens=tokens, users_file="users.yaml") as desk, \
            httpx.Client(base_url=desk.url, timeout=10) as client:
        anonymous = client.get("/api/v1/alerts")
        assert anonymous.status_code == 401
        page = client.get("/desk/")
        assert page.status_code == 401 and page.headers["WWW-Authenticate"].startswith("Basic")
        assert client.get("/api/v1/alerts", headers=bearer("x" * 20)).status_code == 401
        assert client.get("/api/v1/alerts", headers=bearer(TOKEN_R)).status_code == 200
        body = {"matchers": [{"kind": "feed", "value": "levant"}], "duration": "1h",
                "reason": "r", "author": "someone else"}
        refused = client.post("/api/v1/silences", json=body, headers=bearer(TOKEN_R))
        assert refused.status_code == 403 and "read" in refused.json()["error"]
        made = client.post("/api/v1/silences", json=body, headers=bearer(TOKEN_W))
        assert made.status_code == 201 and made.json()["author"] == "bot"  # not as claimed
        assert client.get("/healthz").status_code == 200  # ops endpoints stay open
        wrong = client.get("/desk/", headers=basic("ana", "nope"))
        assert wrong.status_code == 401
        ana = basic("ana", "s3cret")
        assert client.get("/desk/", headers=ana).status_code == 200
        no_csrf = client.post("/api/v1/silences", json=body, headers=ana)
        assert no_csrf.status_code == 403  # Basic is ambient: CSRF applies
        with_csrf = client.post("/api/v1/silences", json=body, headers={
            **ana, "X-CSRF-Token": client.cookies["watcher_csrf"]})
        assert with_csrf.status_code == 201 and with_csrf.json()["author"] == "ana"
        bo = client.post("/api/v1/silences", json=body, headers={
            **basic("bo", "hunter2"), "X-CSRF-Token": client.cookies["watcher_csrf"]})
        assert bo.status_code == 403


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize(("matched", "pieces"), [
    ([], [("Raqqa convoy", False)]),
    ([{"field": "title", "start": 0, "end": 5}], [("Raqqa", True), (" convoy", False)]),
    ([{"field": "title", "start": 6, "end": 12}, {"field": "title", "start": 0, "end": 5}],
     [("Raqqa", True), (" ", False), ("convoy", True)]),
    ([{"field": "summary", "start": 0, "end": 5}], [("Raqqa convoy", False)]),
    ([{"field": "title", "start": 0, "end": 8}, {"field": "title", "start": 6, "end": 12}],
     [("Raqqa co", True), ("nvoy", False)]),  # overlapping: the first wins
    ([{"field": "title", "start": 6, "end": 99}, {"field": "title", "start": "x", "end": 2}],
     [("Raqqa convoy", False)]),  # offsets outside the text, or not numbers
])
def test_matched_terms_are_highlighted_from_offsets(matched: list[dict[str, object]],
                                                    pieces: list[tuple[str, bool]]) -> None:
    assert highlighted("Raqqa convoy", matched, "title") == pieces


def test_a_tile_url_draws_the_map_on_tiles_from_that_host_only(tmp_path: Path) -> None:
    tiles = "https://tiles.example.org/{z}/{x}/{y}.png"
    with served_desk(tmp_path, tile_url=tiles) as desk:
        page = httpx.get(f"{desk.url}/desk/")
    assert page.text.count('href="https://tiles.example.org/2/') == 16
    assert "https://tiles.example.org/2/3/1.png" in page.text
    assert "img-src 'self' data: https://tiles.example.org;" in (
        page.headers["Content-Security-Policy"])
    with pytest.raises(ValidationError, match="tile_url"):
        desk_config(tmp_path, tile_url="http://tiles.example.org/{z}/{x}.png")


def test_empty_filters_from_the_page_form_mean_any(client: httpx.Client) -> None:
    every = client.get("/api/v1/alerts", params={"limit": 100}).json()["items"]
    blank = {k: "" for k in ("severity", "rule", "tag", "place", "group", "feed", "source",
                             "story", "q", "since", "until")}
    assert client.get("/api/v1/alerts", params={**blank, "limit": 100}).json()["items"] == every
