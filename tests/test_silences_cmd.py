"""`watcher silences` (list, add, expire) on a real store file, through the CLI; what it
adds mutes alerts in the store the service and the desk share."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.alertfactory import make_alert, make_article
from watcher.cli import main
from watcher.models import Delivery
from watcher.store import open_store


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "watcher.yaml"
    path.write_text("state: var/w.db\nrules: []\nsinks:\n  - type: console\n")
    return path


def listed(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    assert main(["silences", "--config", str(config), "--json", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_add_list_expire(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["silences", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "no current silences"
    assert main(["silences", "add", "--config", str(config), "--match", "rule=isil-movement",
                 "--match", "place=Raqqa", "--duration", "2h", "--reason", "known event",
                 "--author", "ana"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("#1  active ") and "place=Raqqa rule=isil-movement" in shown
    [silence] = listed(config, capsys)
    assert silence["author"] == "ana" and silence["reason"] == "known event"

    async def muted() -> dict[str, int]:
        store = await open_store(config.parent / "var" / "w.db")
        try:
            await store.record_articles([make_article("k1")],
                                        [Delivery(make_alert("k1"), "console")],
                                        datetime.now(UTC))
            return await store.muting_silences(["isil-movement.k1"], datetime.now(UTC))
        finally:
            await store.close()

    assert asyncio.run(muted()) == {"isil-movement.k1": 1}
    assert main(["silences", "expire", "--config", str(config), "1"]) == 0
    assert "expired" in capsys.readouterr().out
    assert listed(config, capsys) == []
    assert [s["state"] for s in listed(config, capsys, "--all")] == ["expired"]


def test_bad_input_is_refused(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["silences", "add", "--config", str(config), "--match", "colour=red",
              "--duration", "1h", "--reason", "r"])
    assert "KIND=VALUE" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["silences", "add", "--config", str(config), "--match", "rule=x",
              "--duration", "soon", "--reason", "r"])
    assert main(["silences", "expire", "--config", str(config), "7"]) == 1
    assert "no silence #7" in capsys.readouterr().err
