"""Matching: what fires, what it reports, and offsets into the original text. No I/O: the
rules and gazetteer here are YAML text parsed in memory."""

from __future__ import annotations

import pytest

from watcher.matching.matcher import Matcher, compile_rules, match_article
from watcher.models import Article, ArticleMatch
from watcher.rules.load import load_rules

GAZETTEER = """\
lists:
  movement: [convoy, flee, fled, move]
places:
  - {name: Raqqa, country: SY, lat: 35.95, lon: 39.01, aliases: [Raqa, Rakka, الرقة, Ракка]}
  - name: Deir ez-Zor
    country: SY
    lat: 35.34
    lon: 40.14
    aliases: [Deir Ezzor, Deir al-Zor, Dayr az Zawr, دير الزور]
  - {name: Mayadin, country: SY, lat: 35.02, lon: 40.45, aliases: [al-Mayadin, الميادين]}
  - {name: Daraa, country: SY, lat: 32.62, lon: 36.1, aliases: ["Dara'a", Deraa]}
  - {name: Zaporizhzhia, country: UA, lat: 47.84, lon: 35.14, aliases: [Запоріжжя, Запорожье]}
  - {name: Bakhmut, country: UA, lat: 48.6, lon: 38.0, aliases: [Бахмут]}
  - {name: Kyiv, country: UA, lat: 50.45, lon: 30.52, aliases: [Київ, Киев]}
  - {name: Nova Kakhovka, country: UA, lat: 46.75, lon: 33.35,
     aliases: [Нова Каховка, Новая Каховка]}
groups:
  - name: ISIL
    aliases: [ISIS, Isil, Daesh, Islamic State, {term: IS, case: true}, داعش, ИГИЛ]
  - {name: Wagner Group, aliases: [Wagner, Вагнер]}
  - {name: Free Syrian Army, aliases: [FSA]}
  - {name: Syrian Arab Army, aliases: [Syrian Army]}
"""
RULES = """\
rules:
  - id: isil-raqqa
    title: ISIL in Raqqa
    severity: high
    tags: [syria]
    notify: [desk]
    match:
      groups: [ISIL]
      places: [Raqqa]
  - id: convoy-east
    title: Convoy to the east
    severity: medium
    match:
      words: ["@movement"]
      places: [Deir ez-Zor, Mayadin]
      none: [{words: [wedding]}]
  - id: two-of-three
    title: Two of three
    severity: low
    match:
      any: {min: 2, of: [{words: [defect]}, {words: [convoy]}, {groups: [Free Syrian Army]}]}
  - id: exact-and-case
    title: Exact forms
    severity: low
    match:
      any:
        - words: [{term: convoy, exact: true}]
        - phrases: [moved its capital]
        - words: [{term: IS, case: true}]
  - id: title-only
    title: Title only
    severity: low
    match:
      words: [ambush]
      fields: [title]
  - id: disabled
    title: Disabled
    severity: low
    enabled: false
    match: {words: [convoy]}
"""


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    ruleset = load_rules([], {"gazetteer.yaml": GAZETTEER, "rules.yaml": RULES})
    assert ruleset.problems == []
    return compile_rules(ruleset)


def run(matcher: Matcher, title: str, content: str = "", language: str | None = None
        ) -> ArticleMatch:
    return match_article(matcher, Article(key="k", title=title, content=content,
                                          language=language), all_entities=True)


def fired(found: ArticleMatch) -> list[str]:
    return [h.rule.id for h in found.hits]


@pytest.mark.parametrize(("title", "rules"), [
    ("Isil fighters in Raqqa", ["isil-raqqa"]),  # an alias (the name ISIL is an acronym)
    ("ISIS fighters in Raqqa", ["isil-raqqa"]),
    ("Daesh holds Rakka", ["isil-raqqa"]),
    ("داعش في الرقة", ["isil-raqqa"]),
    ("بيان داعش: والرقة صامدة", ["isil-raqqa"]),
    ("Islamic State retreats from Raqa", ["isil-raqqa"]),
    ("Islamic Statehood debate in Raqqa", []),              # whole words only
    ("ISISfighters in Raqqa", []),
    ("Convoys head for Deir Ezzor", ["convoy-east"]),
    ("Fighters fled to Deir ez-Zor", ["convoy-east"]),
    ("Fighters moving to Deir-ez-Zor", ["convoy-east"]),
    ("A convoy reached Deir ez Zor", ["convoy-east", "exact-and-case"]),
    ("Convoy reached Dayr az-Zawr", ["convoy-east", "exact-and-case"]),
    ("Wedding convoy in al-Mayadin", ["exact-and-case"]),    # none: wedding
    ("Convoy in MAYĀDĪN", ["convoy-east", "exact-and-case"]),
    ("convoys seen near Raqqa", []),                         # exact form wants "convoy"
    ("Soldiers defected, a convoy left", ["two-of-three", "exact-and-case"]),
    ("FSA fighters defected", ["two-of-three"]),
    ("FSA convoy", ["two-of-three", "exact-and-case"]),
    ("Only a defection", []),
    ("The group moved its capital", ["exact-and-case"]),
    ("The group moves its capitals", []),                    # phrases are not stemmed
    ("IS claims the attack", ["exact-and-case"]),
    ("this is the attack", []),                              # IS is case-sensitive
    ("Ambush on the road", ["title-only"]),
])
def test_which_rules_fire(matcher: Matcher, title: str, rules: list[str]) -> None:
    assert fired(run(matcher, title)) == rules


def test_field_restriction(matcher: Matcher) -> None:
    assert fired(run(matcher, "Road news", content="An ambush on the road")) == []


def test_matched_terms_say_exactly_why(matcher: Matcher) -> None:
    title = "“Daesh” convoy leaves Raqqa"
    content = "The convoy, with ISIS and Isil fighters, headed for Deir Ezzor and al-Mayādīn."
    found = run(matcher, title, content)
    by_rule = {h.rule.id: h for h in found.hits}
    assert set(by_rule) == {"isil-raqqa", "convoy-east", "exact-and-case"}
    hit = by_rule["isil-raqqa"]
    assert hit.notify == ("desk",)
    assert hit.rule.tags == ["syria"]
    assert [(m.field, m.kind, m.term, m.text) for m in hit.matched] == [
        ("title", "group", "ISIL", "Daesh"),
        ("title", "place", "Raqqa", "Raqqa"),
        ("content", "group", "ISIL", "ISIS"),
        ("content", "group", "ISIL", "Isil"),
    ]
    east = by_rule["convoy-east"]
    assert [(m.field, m.term, m.text) for m in east.matched] == [
        ("title", "convoy", "convoy"),
        ("content", "convoy", "convoy"),
        ("content", "Deir ez-Zor", "Deir Ezzor"),
        ("content", "Mayadin", "al-Mayādīn"),
    ]
    for h in found.hits:
        for m in h.matched:
            text = title if m.field == "title" else content
            assert text[m.start:m.end] == m.text


def test_none_terms_never_appear_and_every_satisfied_any_branch_does(matcher: Matcher) -> None:
    found = run(matcher, "FSA convoy defected")
    [hit] = [h for h in found.hits if h.rule.id == "two-of-three"]
    assert sorted(m.term for m in hit.matched) == ["Free Syrian Army", "convoy", "defect"]


def test_places_and_groups_list_every_mention_in_order(matcher: Matcher) -> None:
    found = run(matcher, "Free Syrian Army near Daraa",
                content="Dara'a and Raqqa; Deraa again. The Syrian Army and Daesh.")
    assert [p.name for p in found.places] == ["Daraa", "Raqqa"]
    # "Syrian Army" inside "Free Syrian Army" is not a mention of its own; later it is.
    assert [g.name for g in found.groups] == ["Free Syrian Army", "Syrian Arab Army", "ISIL"]
    assert found.places[0].country == "SY"
    assert found.places[0].lat == pytest.approx(32.62)


def test_nested_group_alone_is_not_reported(matcher: Matcher) -> None:
    found = run(matcher, "Free Syrian Army regroups")
    assert [g.name for g in found.groups] == ["Free Syrian Army"]


def test_disabled_rules_are_not_compiled(matcher: Matcher) -> None:
    assert "disabled" not in fired(run(matcher, "convoy"))
    assert all(c.rule.id != "disabled" for c in matcher.rules)


def test_stemming_follows_the_article_language(matcher: Matcher) -> None:
    assert fired(run(matcher, "Convoys reach Mayadin", language="en")) == ["convoy-east"]
    # Exact forms still match in any language; English inflections do not.
    assert fired(run(matcher, "Convoy vers Mayadin", language="fr")) == [
        "convoy-east", "exact-and-case"]
    assert fired(run(matcher, "Convoys vers Mayadin", language="fr")) == []


def test_nothing_found_in_empty_article(matcher: Matcher) -> None:
    assert run(matcher, "") == ArticleMatch()


def test_empty_ruleset_compiles_and_matches_nothing() -> None:
    matcher = compile_rules(load_rules([], {}))
    found = run(matcher, "Convoy leaves Raqqa")
    assert found.hits == () and found.groups == ()
    # Asked for every entity, the GeoNames layer still names the city without any rule.
    assert [p.name for p in found.places] == ["Ar Raqqah"]


def test_cost_does_not_evaluate_unrelated_rules(matcher: Matcher) -> None:
    # Only rules indexed under a found term are candidates.
    found_terms = {t for t, info in enumerate(matcher.terms) if info.label == "ambush"}
    rules = {matcher.rules[i].rule.id for t in found_terms for i in matcher.index.by_term[t]}
    assert rules == {"title-only"}


# --- Cyrillic names inflect ------------------------------------------------------------

@pytest.mark.parametrize(("title", "language", "places", "groups"), [
    ("Колонну обстреляли у Ракки", "ru", ["Raqqa"], []),
    ("Обстрел Запорожья и Бахмута", "ru", ["Zaporizhzhia", "Bakhmut"], []),
    ("Бои под Бахмутом, удар по Запорожью", "ru", ["Bakhmut", "Zaporizhzhia"], []),
    ("Наёмники группы Вагнера у Новой Каховки", "ru", ["Nova Kakhovka"], ["Wagner Group"]),
    ("Бої біля Києва і в Запоріжжі", "uk", ["Kyiv", "Zaporizhzhia"], []),
    ("Обстріл Нової Каховки", "uk", ["Nova Kakhovka"], []),
    ("Обстрел Запорожья и Бахмута", "uk", ["Zaporizhzhia", "Bakhmut"], []),
    ("Ракка и Бахмут", None, ["Raqqa", "Bakhmut"], []),     # as written: any language
    ("Колонну обстреляли у Ракки", None, [], []),           # inflections: ru and uk only
    ("Колонну обстреляли у Ракки", "ar", [], []),
    ("Бойцы ИГИЛ", "ru", [], ["ISIL"]),
    ("Татарское иго", "ru", [], []),                        # ИГИЛ stems too short to use
    ("The Raqqas of this world", "ru", [], []),             # Latin names are not stemmed
    ("Raqqa's streets", "ru", ["Raqqa"], []),
    ("قافلة بالرقة", "ar", ["Raqqa"], []),                   # Arabic as before
    ("داعش والرقة", None, ["Raqqa"], ["ISIL"]),
])
def test_cyrillic_names_match_inflected_in_russian_and_ukrainian(
        matcher: Matcher, title: str, language: str | None, places: list[str],
        groups: list[str]) -> None:
    found = run(matcher, title, language=language)
    assert [p.name for p in found.places] == places
    assert [g.name for g in found.groups] == groups


def test_inflected_cyrillic_names_report_their_surface_text(matcher: Matcher) -> None:
    title = "Боевики ИГИЛ ушли из Ракки"
    content = "Колонна «Даиш» шла к Ракке; ИГИЛ у Раккой-то нет."
    found = run(matcher, title, content, language="ru")
    [hit] = found.hits
    assert hit.rule.id == "isil-raqqa"
    assert [(m.field, m.kind, m.term, m.text, m.start, m.end) for m in hit.matched] == [
        ("title", "group", "ISIL", "ИГИЛ", 8, 12),
        ("title", "place", "Raqqa", "Ракки", 21, 26),
        ("content", "place", "Raqqa", "Ракке", 21, 26),
        ("content", "group", "ISIL", "ИГИЛ", 28, 32),
        ("content", "place", "Raqqa", "Раккой", 35, 41),
    ]
    for m in hit.matched:
        assert (title if m.field == "title" else content)[m.start:m.end] == m.text


# --- acronyms in capitals ----------------------------------------------------------------

@pytest.mark.parametrize(("title", "groups", "rules"), [
    ("WHAT IS HAPPENING IN RAQQA", [], []),
    ("RAQQA: WHERE IS THE CONVOY", [], ["exact-and-case"]),   # CONVOY, not IS
    ("THIS IS", [], []),
    ("IS FIGHTERS LEAVE RAQQA", [], []),
    ("IS fighters leave Raqqa", ["ISIL"], ["isil-raqqa", "exact-and-case"]),
    ("Fighters of the IS group", ["ISIL"], ["exact-and-case"]),
    ("IS Fighters Leave Raqqa", ["ISIL"], ["isil-raqqa", "exact-and-case"]),
    ("Raqqa: SDF and IS clash", ["ISIL"], ["isil-raqqa", "exact-and-case"]),
    ("IS", ["ISIL"], ["exact-and-case"]),
    ("ISIS FIGHTERS LEAVE RAQQA", ["ISIL"], ["isil-raqqa"]),   # not case-sensitive
])
def test_case_sensitive_acronym_not_inside_capitals(
        matcher: Matcher, title: str, groups: list[str], rules: list[str]) -> None:
    found = run(matcher, title)
    assert [g.name for g in found.groups] == groups
    assert fired(found) == rules


def test_places_are_worked_out_only_when_a_rule_fires_unless_asked(matcher: Matcher) -> None:
    article = Article(key="k", title="Free Syrian Army regroups near Raqqa")
    assert match_article(matcher, article) == ArticleMatch()
    found = match_article(matcher, article, all_entities=True)
    assert found.hits == ()
    assert [p.name for p in found.places] == ["Raqqa"]
    assert [g.name for g in found.groups] == ["Free Syrian Army"]
