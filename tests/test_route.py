from __future__ import annotations

import pytest

from watcher.config import Config
from watcher.route import route_alert

SINKS = [{"type": "console", "name": "desk"}, {"type": "jsonl", "name": "archive", "path": "a"}]


@pytest.mark.parametrize(
    ("notify", "default", "expected"),
    [
        ((), None, ["desk", "archive"]),
        ((), ["archive"], ["archive"]),
        (("desk",), ["archive"], ["desk"]),
        (("nowhere",), ["archive"], ["archive"]),
        (("nowhere", "desk"), None, ["desk"]),
        ((), [], []),
    ],
)
def test_route_alert(notify: tuple[str, ...], default: list[str] | None,
                     expected: list[str]) -> None:
    config = Config.model_validate({"sinks": SINKS, "default_sinks": default})
    assert route_alert(notify, config) == expected
