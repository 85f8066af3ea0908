"""The article that started it all: a rule for that situation must fire and say why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_shared_data
from watcher.matching.matcher import compile_rules, match_article
from watcher.models import Article
from watcher.rules.load import load_rules

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def seed() -> Article:
    text = (require_shared_data() / "seed" / "raqqa-foreign-fighters.txt").read_text(
        encoding="utf-8")
    title, _, content = text.partition("\n")
    return Article(key="seed", title=title.strip(), content=content)


def test_one_shipped_rule_explains_the_seed_article(seed: Article) -> None:
    found = match_article(compile_rules(load_rules([ROOT / "rules"])), seed)
    wanted = {("place", "Raqqa", None), ("place", "Deir ez-Zor", "Deir Ezzor"),
              ("place", "Mayadin", None), ("place", "Tabqa", None),
              ("group", "ISIL", "Isil"), ("group", "ISIL", "ISIL"),
              ("group", "ISIL", "Daesh"), ("group", "SDF", "SDF"),
              ("word", None, "defected"), ("word", None, "convoy")}

    def covers(matched: set[tuple[str, str, str]]) -> bool:
        return all(any(kind == k and term in (None, t) and text in (None, x)
                       for k, t, x in matched) for kind, term, text in wanted)

    complete = [h for h in found.hits
                if covers({(m.kind, m.term, m.text) for m in h.matched})]
    assert complete, [(h.rule.id, sorted({m.text for m in h.matched})) for h in found.hits]
    assert complete[0].rule.id == "isil-fighters-move-raqqa-deir-ezzor"
    assert complete[0].rule.severity == "high"
    for h in found.hits:
        for m in h.matched:
            assert seed.field_text(m.field)[m.start:m.end] == m.text
    assert {"Raqqa", "Deir ez-Zor", "Mayadin", "Tabqa"} <= {p.name for p in found.places}
    assert {"ISIL", "SDF"} <= {g.name for g in found.groups}
