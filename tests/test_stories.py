"""Stories, the pure core: signatures, which articles report one event, assignment, gates.

Articles are matched with the shipped rules and gazetteer (places and groups in any of their
languages), as the pipeline does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest

from tests.alertfactory import make_alert
from watcher.matching.matcher import Matcher, compile_rules, match_article
from watcher.models import Article, MatchedTerm, Story, StoryEntry, StoryMember
from watcher.rules.load import load_rules
from watcher.stories import (
    Signature,
    assign_stories,
    delivery_gates,
    gate_decision,
    same_event,
    signature,
    story_entry,
    story_id,
    story_views,
)

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WINDOW = 48 * 3600.0

CONVOY = ("en", "ISIS convoy leaves Raqqa for Deir ez-Zor with 40 buses",
          "Forty buses carrying Islamic State fighters and their families left Raqqa on "
          "Tuesday under a deal with the SDF, heading for Deir ez-Zor.")
CONVOY_AGAIN = ("en", "Buses carrying IS fighters leave Raqqa under SDF deal",
                "A convoy of 40 buses with Islamic State militants left Raqqa for Deir ez-Zor, "
                "the Syrian Democratic Forces said.")
CONVOY_AR = ("ar", "خروج قافلة من 40 حافلة لمقاتلي داعش من الرقة",
             "قالت قوات سوريا الديمقراطية إن 40 حافلة تقل مقاتلي داعش غادرت الرقة باتجاه دير الزور")
SCHOOLS = ("en", "Schools reopen in Raqqa after years of war",
           "Children returned to classrooms in Raqqa on Tuesday as the city's schools reopened "
           "for the first time since the fighting ended.")
AIRSTRIKE_ALEPPO = ("en", "Air strike kills 12 civilians in Aleppo market",
                    "Twelve people were killed when jets struck a market in eastern Aleppo.")


@cache
def matcher() -> Matcher:
    return compile_rules(load_rules([ROOT / "rules"]))


def make(key: str, text: tuple[str, str, str], source: str = "Desk",
         published: datetime = NOW) -> Article:
    language, title, summary = text
    return Article(key=key, title=title, summary=summary, source=source, language=language,
                   published=published)


def sig(text: tuple[str, str, str]) -> Signature:
    article = make("k", text)
    return signature(article, match_article(matcher(), article, all_entities=True))


@pytest.mark.parametrize(("a", "b", "same"), [
    (CONVOY, CONVOY, True),
    (CONVOY, CONVOY_AGAIN, True),       # two outlets, their own words
    (CONVOY, CONVOY_AR, True),          # across languages: places, groups and figures agree
    (CONVOY_AGAIN, CONVOY_AR, True),
    (CONVOY, SCHOOLS, False),           # same place, same day, another event
    (CONVOY_AR, SCHOOLS, False),
    (CONVOY, AIRSTRIKE_ALEPPO, False),
    (SCHOOLS, AIRSTRIKE_ALEPPO, False),
])
def test_same_event(a: tuple[str, str, str], b: tuple[str, str, str], same: bool) -> None:
    assert same_event(sig(a), sig(b)) is same
    assert same_event(sig(b), sig(a)) is same


def test_signature_keeps_figures_not_dates_or_years_and_leaves_countries_out() -> None:
    article = make("k", ("en", "Syria: 12 killed in Raqqa on 5 April 2017",
                         "Wed 05 Apr 2017: the toll rose to 15."))
    found = match_article(matcher(), article, all_entities=True)
    s = signature(article, found)
    assert s.figures == {12, 15}
    assert "place:Raqqa" in s.entities and "place:Syria" not in s.entities
    assert Signature.from_json(s.to_json()) == s
    # Rare words weigh more than news's common ones; the commonest are left out.
    assert s.words["raqqa"] > s.words["toll"] > 0 and "the" not in s.words
    keys = s.keys()
    assert "place:Raqqa" in keys and "word:raqqa" in keys
    assert sum(k.startswith("word:") for k in keys) <= 6
    assert s.similarity(s) == pytest.approx(1.0)


def test_signature_of_no_words_has_no_word_keys() -> None:
    s = signature(make("k", ("en", "2024", "")), match_article(matcher(), make("k", CONVOY)))
    assert s.words == {} and s.similarity(s) == 0.0
    keys = s.keys()
    assert not any(k.startswith("word:") for k in keys)


def test_a_stored_signature_of_the_first_version_keeps_its_names_and_figures() -> None:
    old = Signature.from_json('{"m":[1,2,3],"e":["place:Raqqa"],"f":[40],"l":"en"}')
    assert old.words == {} and old.entities == {"place:Raqqa"} and old.figures == {40}
    assert not same_event(old, sig(SCHOOLS))


def test_weekdays_fix_the_day_reported_and_different_days_are_different_events() -> None:
    friday = make("f", ("en", "Air strikes kill 30 in Aleppo",
                        "Regime air strikes killed 30 civilians in Aleppo on Friday."),
                  published=datetime(2016, 6, 5, 12, tzinfo=UTC))  # a Sunday
    sunday = make("s", ("en", "Air strikes kill 30 in Aleppo",
                        "Regime air strikes killed 30 civilians in Aleppo on Sunday."),
                  published=datetime(2016, 6, 5, 12, tzinfo=UTC))
    a, b = (signature(x, match_article(matcher(), x, all_entities=True))
            for x in (friday, sunday))
    assert a.days == {datetime(2016, 6, 3).date()} and b.days == {datetime(2016, 6, 5).date()}
    assert a.similarity(b) > 0.9 and not same_event(a, b)
    assert Signature.from_json(a.to_json()) == a


def entry(key: str, text: tuple[str, str, str], at: datetime = NOW,
          source: str = "Desk") -> StoryEntry:
    article = make(key, text, source=source, published=at)
    return story_entry(article, match_article(matcher(), article, all_entities=True), NOW)


def test_assign_joins_earlier_reports_and_keeps_other_events_apart() -> None:
    entries = [entry("b", CONVOY_AGAIN, NOW - timedelta(hours=1), "B"),
               entry("a", CONVOY, NOW - timedelta(hours=2), "A"),
               entry("s", SCHOOLS, NOW - timedelta(hours=1), "A"),
               entry("r", CONVOY_AR, NOW, "C")]
    ids = assign_stories(entries, [], WINDOW, NOW)
    assert ids[0] == ids[1] == ids[3] == story_id("a")  # the oldest report starts it
    assert ids[2] == story_id("s")
    views = story_views(entries, ids)
    assert views[story_id("a")] == Story(id=story_id("a"), first_seen=NOW - timedelta(hours=2),
                                         articles=3, sources=["A", "B", "C"])


def test_assign_joins_a_stored_story_within_the_window_only() -> None:
    stored = entry("old", CONVOY, NOW - timedelta(hours=10))
    member = StoryMember(stored, "s-old", stored.at)
    assert assign_stories([entry("n", CONVOY_AGAIN)], [member], WINDOW, NOW) == ["s-old"]
    # The story began more than a window before the new article: it starts another.
    late = entry("late", CONVOY_AGAIN, NOW)
    assert assign_stories([late], [member], 6 * 3600.0, NOW) == [story_id("late")]


def test_an_article_dated_in_the_future_counts_as_now() -> None:
    future = entry("f", CONVOY, NOW + timedelta(days=30))
    assert future.at == NOW


def test_gates_first_update_and_quiet() -> None:
    story = Story(id="s1", first_seen=NOW)
    first = make_alert("a1", severity="medium").model_copy(update={"story": story})
    gates = delivery_gates(first, "hook")
    assert gates[0] == "s1\x1fhook\x1fsev:low" and "s1\x1fhook\x1fsev:medium" in gates
    # The place the rule fired on in the title escalates; Raqqa, only named, does not.
    assert "s1\x1fhook\x1fplace:Deir ez-Zor" in gates
    assert not any("Raqqa" in g for g in gates)
    assert "s1\x1fhook\x1fsev:high" not in gates
    assert gate_decision(gates, set(gates)) == "first"
    assert gate_decision(gates, set()) == "quiet"
    higher = make_alert("a2", severity="critical").model_copy(update={"story": story})
    new_gates = delivery_gates(higher, "hook")
    assert gate_decision(new_gates, {"s1\x1fhook\x1fsev:critical"}) == "update"
    assert delivery_gates(first, "mail") != gates  # each sink has its own


def test_a_place_deep_in_the_body_does_not_escalate_a_story() -> None:
    story = Story(id="s1", first_seen=NOW)
    deep = MatchedTerm(term="Moscow", kind="place", text="Moscow", field="content",
                       start=2000, end=2006)
    early = MatchedTerm(term="Azaz", kind="place", text="Azaz", field="content",
                        start=40, end=44)
    alert = make_alert("a1").model_copy(update={"story": story})
    alert = alert.model_copy(update={"matched": [*alert.matched, deep, early]})
    gates = delivery_gates(alert, "hook")
    assert "s1\x1fhook\x1fplace:Azaz" in gates
    assert not any("Moscow" in g for g in gates)


def test_the_committed_word_weights_are_what_the_builder_makes() -> None:
    pytest.importorskip("wordfreq")
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import build_word_weights as builder
    finally:
        sys.path.remove(str(ROOT / "tools"))
    for language in ("en", "ar"):
        committed = ROOT / "watcher" / "stories" / "data" / f"{language}.words.gz"
        assert committed.read_bytes() == builder.build(language), (
            "run tools/build_word_weights.py")
    assert len(list(committed.parent.glob("*.words.gz"))) == len(builder.LANGUAGES)


def test_french_round_counts_are_figures() -> None:
    s = sig(("fr", "Mali : une vingtaine de soldats tués près de Mopti", ""))
    assert s.figures == {20}


def dated(key: str, title: str, summary: str, published: datetime) -> Signature:
    return sig_of(make(key, ("en", title, summary), published=published))


SATURDAY = datetime(2016, 10, 15, 12, tzinfo=UTC)


def test_two_kinds_of_attack_in_one_town_on_one_day_are_two_events() -> None:
    bomb = dated("c", "Car bomb kills 8 civilians in Azaz",
                 "A car bomb killed eight civilians in Azaz near the Turkish border.", SATURDAY)
    raid = dated("r", "Air strike kills 8 civilians in Azaz",
                 "An air strike killed eight civilians in Azaz near the Turkish border.",
                 SATURDAY)
    again = dated("b", "Eight dead as car bomb hits Azaz",
                  "Eight civilians were killed by a car bomb in Azaz, near Turkey.", SATURDAY)
    assert bomb.kinds == {"blast"} and raid.kinds == {"air"}
    assert bomb.similarity(raid) > 0.5 and not same_event(bomb, raid)
    assert same_event(bomb, again)
    assert Signature.from_json(raid.to_json()) == raid


def test_reports_of_a_gas_attack_join_across_days() -> None:
    attack = dated("t", "Suspected gas attack kills 58 in Khan Shaykhun",
                   "A suspected chemical attack killed 58 people in Khan Shaykhun on Tuesday.",
                   datetime(2017, 4, 4, 12, tzinfo=UTC))
    toll = dated("w", "Toll of Khan Shaykhun chemical attack rises",
                 "Doctors in Khan Shaykhun said on Wednesday that 86 had died of the gas.",
                 datetime(2017, 4, 5, 12, tzinfo=UTC))
    strike = dated("s", "Air strike kills 5 in Khan Shaykhun",
                   "An air strike killed five people in Khan Shaykhun on Wednesday.",
                   datetime(2017, 4, 5, 12, tzinfo=UTC))
    assert attack.days != toll.days and same_event(attack, toll)
    assert not same_event(attack, strike) and not same_event(toll, strike)


def test_an_article_joins_no_story_it_names_another_day_of() -> None:
    friday = entry("f", ("en", "Air strikes kill 30 in Aleppo",
                         "Regime air strikes killed 30 civilians in Aleppo on Friday."),
                   SATURDAY - timedelta(hours=4))
    undated = entry("u", ("en", "Air strikes kill 30 in Aleppo",
                          "Regime air strikes killed 30 civilians in Aleppo, rescuers said."),
                    SATURDAY - timedelta(hours=2))
    sunday = entry("s", ("en", "Air strikes kill 30 in Aleppo",
                         "Regime air strikes killed 30 civilians in Aleppo on Sunday, rescuers "
                         "said."), SATURDAY + timedelta(hours=20))
    ids = assign_stories([friday, undated, sunday], [], WINDOW, SATURDAY + timedelta(days=1))
    assert ids[0] == ids[1] == story_id("f")
    assert ids[2] == story_id("s")  # like the undated report, but Friday's story is not Sunday's


@pytest.mark.parametrize("lead", [
    "A bomb killed 43 evacuees on Saturday, a monitor said on Sunday.",
    "A bomb killed 43 evacuees on Saturday, a monitor said Sunday.",
    "Une bombe a tué 43 personnes samedi, a déclaré dimanche l'OSDH.",
])
def test_the_day_of_a_statement_is_not_a_day_of_the_event(lead: str) -> None:
    sunday = datetime(2017, 4, 16, 12, tzinfo=UTC)
    article = make("d", ("en", "Death toll rises", lead), published=sunday)
    assert sig_of(article).days == {datetime(2017, 4, 15).date()}


def sig_of(article: Article) -> Signature:
    return signature(article, match_article(matcher(), article, all_entities=True))


def test_two_articles_of_one_outlet_join_only_when_near_copies() -> None:
    first = ("en", "Rebel shells kill 3 in Aleppo's Hamadaniya",
             "Terrorists fired rocket shells at Hamadaniya in Aleppo, killing 3 civilians, a "
             "police source said.")
    other = ("en", "Mortar rounds wound 3 pupils at a school in Aleppo's Midan",
             "Three pupils were hurt when mortar rounds struck a school in al-Midan, Aleppo, "
             "the education directorate said.")
    a, b = entry("a", first, NOW - timedelta(hours=20), "SANA"), entry("b", other, NOW, "SANA")
    sa, sb = (Signature.from_json(e.signature) for e in (a, b))
    assert same_event(sa, sb) and sa.similarity(sb) < 0.5  # alike enough across outlets
    assert assign_stories([a, b], [], WINDOW, NOW) == [story_id("a"), story_id("b")]
    elsewhere = entry("b", other, NOW, "Reuters")
    assert assign_stories([a, elsewhere], [], WINDOW, NOW) == [story_id("a")] * 2
    again = entry("c", first, NOW, "SANA")  # the outlet's own update, in its own words
    assert assign_stories([a, again], [], WINDOW, NOW) == [story_id("a")] * 2


@pytest.mark.parametrize(("text", "figure"), [
    (("ru", "В Харькове четверо погибших", ""), 4),
    (("uk", "Обстріл Харкова: загинули шестеро", ""), 6),
    (("ar", "مقتل تسعة في انفجار سيارة مفخخة في مقديشو", ""), 9),
])
def test_figures_written_as_words_in_russian_ukrainian_and_arabic(
        text: tuple[str, str, str], figure: int) -> None:
    assert sig(text).figures == {figure}


def test_a_figure_in_words_joins_reports_across_languages() -> None:
    english = sig(("en", "Car bomb kills nine at Mogadishu checkpoint",
                   "A car bomb exploded at a checkpoint in Mogadishu, killing nine people."))
    arabic = sig(("ar", "مقتل تسعة في انفجار سيارة مفخخة في مقديشو",
                  "قتل تسعة أشخاص في انفجار سيارة مفخخة عند نقطة تفتيش في مقديشو"))
    assert english.similarity(arabic) == 0 and same_event(english, arabic)
