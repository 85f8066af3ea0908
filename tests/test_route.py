from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from watcher.config import Config, load_config
from watcher.errors import ConfigError
from watcher.models import RuleRef, Severity
from watcher.route import route_alert

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
    assert route_alert(rule(), notify, config) == expected


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
    assert route_alert(rule(severity, tags), notify, config) == expected


def test_nothing_routed_falls_back_to_default_sinks(caplog: pytest.LogCaptureFixture) -> None:
    config = Config.model_validate({"sinks": SINKS, "default_sinks": ["archive"], "routes": [
        {"name": "urgent", "min_severity": "critical", "sinks": ["pager"]}]})
    assert route_alert(rule("low"), ("desk-team",), config) == ["archive"]
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
