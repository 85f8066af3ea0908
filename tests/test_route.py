from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from watcher.config.settings import Config, load_config
from watcher.delivery.route import route_alert
from watcher.errors import ConfigError
from watcher.models import RuleRef, Severity

SINKS = [{"type": "console", "name": "desk"}, {"type": "jsonl", "name": "archive", "path": "a"},
         {"type": "console", "name": "pager"}, {"type": "console", "name": "ukraine"}]


def rule(severity: Severity = "medium", tags: tuple[str, ...] = ()) -> RuleRef:
    return RuleRef(id="r1", title="R", severity=severity, tags=list(tags))


@pytest.mark.parametrize(
    ("notify", "default", "expected"),
    [
        ((), None, ["desk", "archive", "pager", "ukraine"]),
        ((), ["archive"], ["archive"]),
        (("desk",), ["archive"], ["desk"]),
        (("nowhere",), ["archive"], ["archive"]),
        (("nowhere", "desk"), None, ["desk"]),
        ((), [], []),
    ],
)
def test_without_routes_notify_names_sinks(notify: tuple[str, ...], default: list[str] | None,
                                           expected: list[str]) -> None:
    config = Config.model_validate({"sinks": SINKS, "default_sinks": default})
    assert route_alert(rule(), notify, config) == dict.fromkeys(expected, "")


ROUTES: list[dict[str, Any]] = [
    {"name": "urgent", "min_severity": "high", "sinks": ["pager"], "continue": True},
    {"name": "ukraine", "tags": ["ukraine"], "sinks": ["ukraine"]},
    {"name": "desk", "notify": ["desk-team"], "sinks": ["desk"]},
    {"name": "default", "sinks": ["archive"]},
]


@pytest.mark.parametrize(
    ("severity", "tags", "notify", "expected"),
    [
        ("low", (), (), ["archive"]),                       # only the default route
        ("high", (), (), ["pager", "archive"]),             # continue, then the default
        ("critical", ("ukraine",), (), ["pager", "ukraine"]),  # first match without continue
        ("medium", ("ukraine",), (), ["ukraine"]),
        ("medium", (), ("desk-team",), ["desk"]),           # a label in notify
        ("medium", (), ("archive",), ["archive"]),          # a sink named directly, once
        ("low", (), ("pager",), ["pager", "archive"]),      # direct sink plus the routes
    ],
)
def test_routes_in_order(severity: Severity, tags: tuple[str, ...], notify: tuple[str, ...],
                         expected: list[str]) -> None:
    config = Config.model_validate({"sinks": SINKS, "routes": ROUTES})
    assert list(route_alert(rule(severity, tags), notify, config)) == expected


def test_nothing_routed_falls_back_to_default_sinks(caplog: pytest.LogCaptureFixture) -> None:
    config = Config.model_validate({"sinks": SINKS, "default_sinks": ["archive"], "routes": [
        {"name": "urgent", "min_severity": "critical", "sinks": ["pager"]}]})
    assert route_alert(rule("low"), ("desk-team",), config) == {"archive": ""}
    assert "unknown sink 'desk-team'" in caplog.text  # no route has that label either


def test_a_route_label_is_not_an_unknown_sink(caplog: pytest.LogCaptureFixture) -> None:
    config = Config.model_validate({"sinks": SINKS, "routes": ROUTES})
    route_alert(rule(), ("desk-team",), config)
    assert "unknown" not in caplog.text


def test_routes_must_name_known_sinks(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("sinks:\n  - type: console\nroutes:\n  - name: r\n"
                    "    sinks: [console, pagr]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value) == f"{path}:5:22: no sink named 'pagr'"


def test_route_names_are_unique(tmp_path: Path) -> None:
    # A route's name keys its own grouping lane and cap: two of one name would share them.
    path = tmp_path / "w.yaml"
    path.write_text("sinks:\n  - type: console\nroutes:\n  - name: r\n    sinks: [console]\n"
                    "  - name: r\n    sinks: [console]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value) == f"{path}:6:11: duplicate route name 'r'"


@pytest.mark.parametrize(
    ("severity", "notify", "expected"),
    [
        ("low", (), {"archive": "default"}),
        ("high", (), {"pager": "urgent", "archive": "default"}),
        ("low", ("pager",), {"pager": "", "archive": "default"}),  # named directly: no route
        ("high", ("pager",), {"pager": "", "archive": "default"}),  # ... even if a route picks it
        ("medium", ("desk-team",), {"desk": "desk"}),
    ],
)
def test_each_sink_comes_with_the_route_that_chose_it(
        severity: Severity, notify: tuple[str, ...], expected: dict[str, str]) -> None:
    config = Config.model_validate({"sinks": SINKS, "routes": ROUTES})
    assert route_alert(rule(severity), notify, config) == expected


def test_the_first_route_to_pick_a_sink_keeps_it() -> None:
    config = Config.model_validate({"sinks": SINKS, "routes": [
        {"name": "first", "sinks": ["desk"], "continue": True},
        {"name": "second", "sinks": ["desk", "archive"]}]})
    assert route_alert(rule(), (), config) == {"desk": "first", "archive": "second"}


def test_default_sinks_come_with_no_route() -> None:
    config = Config.model_validate({"sinks": SINKS, "default_sinks": ["archive"], "routes": [
        {"name": "urgent", "min_severity": "critical", "sinks": ["pager"]}]})
    assert route_alert(rule("low"), (), config) == {"archive": ""}


def test_route_group_wait_and_cap_are_parsed_like_a_sinks() -> None:
    config = Config.model_validate({"sinks": SINKS, "routes": [
        {"name": "bulk", "sinks": ["desk"], "group_wait": "2m", "max_per_hour": 5},
        {"name": "plain", "sinks": ["desk"]}]})
    assert (config.routes[0].group_wait, config.routes[0].max_per_hour) == (120.0, 5)
    assert (config.routes[1].group_wait, config.routes[1].max_per_hour) == (None, None)


@pytest.mark.parametrize(("setting", "column", "message"), [
    ("max_per_hour: 0", 19, "greater than or equal to 1"),
    ("group_wait: soon", 17, "not a duration"),
    ("group_wait: -5", 17, "greater than or equal to 0"),
])
def test_bad_route_settings_name_file_and_line(tmp_path: Path, setting: str, column: int,
                                               message: str) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(f"sinks:\n  - type: console\nroutes:\n  - name: r\n    sinks: [console]\n"
                    f"    {setting}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value).startswith(f"{path}:6:{column}: ")
    assert message in str(caught.value)
