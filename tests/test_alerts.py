"""Alert building: the DESIGN.md contract, stable ids, one alert per rule hit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from watcher.matching.alerts import alert_id, build_alerts
from watcher.models import (
    Article,
    ArticleMatch,
    Group,
    MatchedTerm,
    Place,
    RuleHit,
    RuleRef,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ARTICLE = Article(key="feed:abc", url="https://example.org/a", title="Convoy leaves Raqqa",
                  summary="Fighters left.", content="Long text", source="Wire",
                  published=datetime(2026, 11, 25, 11, 0, tzinfo=UTC))
RAQQA = Place(name="Raqqa", country="SY", lat=35.95, lon=39.01)


def hit(rule_id: str) -> RuleHit:
    return RuleHit(rule=RuleRef(id=rule_id, title=rule_id.title(), severity="high",
                                tags=["syria"]),
                   notify=(),
                   matched=(MatchedTerm(term="convoy", kind="word", text="Convoy",
                                        field="title", start=0, end=6),))


@pytest.mark.parametrize(("a", "b", "same"), [
    (("r1", "k1"), ("r1", "k1"), True),
    (("r1", "k1"), ("r2", "k1"), False),
    (("r1", "k1"), ("r1", "k2"), False),
    (("r1", "k1x"), ("r1k", "1x"), False),   # the separator keeps the parts apart
])
def test_alert_id_is_stable_and_distinct(a: tuple[str, str], b: tuple[str, str],
                                         same: bool) -> None:
    assert (alert_id(*a) == alert_id(*b)) is same
    assert len(alert_id(*a)) == 32
    assert int(alert_id(*a), 16) >= 0


def test_one_alert_per_hit_in_the_contract_shape() -> None:
    found = ArticleMatch(hits=(hit("first"), hit("second")), places=(RAQQA,),
                         groups=(Group(name="ISIL", kind="non-state", region=("SY", "IQ")),))
    alerts = build_alerts(ARTICLE, found, NOW)
    assert [a.rule.id for a in alerts] == ["first", "second"]
    body = alerts[0].to_dict()
    assert set(body) == {"schema", "alert_id", "rule", "article", "matched", "places",
                         "groups", "story", "detected_at"}
    assert body["story"] is None  # the pipeline and `watcher match` place it in its story
    assert body["schema"] == "watcher.alert/v1"
    assert body["alert_id"] == alert_id("first", "feed:abc")
    assert body["rule"] == {"id": "first", "title": "First", "severity": "high",
                            "tags": ["syria"]}
    assert body["article"] == {"key": "feed:abc", "url": "https://example.org/a",
                               "title": "Convoy leaves Raqqa", "summary": "Fighters left.",
                               "source": "Wire", "published": "2026-11-25T11:00:00Z",
                               "language": None}
    assert body["matched"] == [{"term": "convoy", "kind": "word", "text": "Convoy",
                                "field": "title", "start": 0, "end": 6}]
    assert body["places"] == [{"name": "Raqqa", "country": "SY", "lat": 35.95, "lon": 39.01,
                               "kind": "city", "geonameid": None}]
    assert body["groups"] == [{"name": "ISIL", "kind": "non-state", "region": ["SY", "IQ"]}]
    assert body["detected_at"] == "2026-11-25T12:00:00Z"


def test_no_hits_no_alerts() -> None:
    assert build_alerts(ARTICLE, ArticleMatch(places=(RAQQA,)), NOW) == []


def test_same_article_same_ids_at_another_time() -> None:
    found = ArticleMatch(hits=(hit("first"),))
    later = datetime(2027, 1, 1, tzinfo=UTC)
    assert ([a.alert_id for a in build_alerts(ARTICLE, found, NOW)]
            == [a.alert_id for a in build_alerts(ARTICLE, found, later)])
