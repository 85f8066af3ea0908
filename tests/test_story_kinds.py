"""Kinds of event (watcher.stories.kinds): what a headline or its lead says happened."""

from __future__ import annotations

import pytest

from watcher.stories.kinds import event_kinds, kinds_named, other_kinds
from watcher.text.normalize import tokenize


def kinds(text: str) -> set[str]:
    return set(kinds_named(tokenize(text).norms))


@pytest.mark.parametrize(("text", "expected"), [
    ("Air strikes kill 18 in Idlib", {"air"}),
    ("Barrel bomb hits Aleppo neighbourhood", {"air"}),  # two words before "bomb" alone
    ("Car bomb kills 22 in Qamishli", {"blast"}),
    ("Suicide bomber hits bus convoy", {"blast"}),
    ("Shelling of rebel bastion kills 19", {"shelling"}),
    ("Suspected gas attack kills 58", {"chemical"}),
    ("40 dead in clashes near Damascus", {"ground"}),
    ("US missile strike on Syrian airbase", {"missile"}),
    ("Rocket attacks kill 30 in Aleppo", {"shelling", "missile"}),  # either
    ("Bombing of Aleppo resumes", {"air", "blast"}),
    ("Strike kills 15 in Idlib", {"air", "missile", "shelling"}),
    ("IS executes 12 prisoners in Deir ez-Zor", {"execution"}),
    ("Gunmen kidnap 40 pupils", {"abduction"}),
    ("Idlib : 12 civils tués dans une frappe aérienne", {"air"}),
    ("Attentat à la voiture piégée à Gao", {"blast"}),
    ("Bombardeo aéreo en el Cauca", {"air"}),
    ("Авиаудар по рынку в Идлибе", {"air"}),
    ("Обстріл Харкова: загинули шестеро", {"shelling"}),
    ("غارة جوية على إدلب", {"air"}),
    ("قصف مدفعي على حلب", {"shelling"}),
    ("انفجار سيارة مفخخة في أعزاز", {"blast"}),
    ("هجوم كيماوي على خان شيخون", {"chemical"}),
    ("Schools reopen in Raqqa", set()),
    ("Shelley wins poetry prize", set()),  # "shell" is a whole word, not a prefix
])
def test_kinds_named(text: str, expected: set[str]) -> None:
    assert kinds(text) == expected


def test_the_headline_decides_and_the_lead_only_when_it_names_none() -> None:
    headline = tokenize("Shelling near Damascus kills 19").norms
    lead = tokenize("Hours after a gas attack in Khan Shaykhun, shelling killed 19").norms
    assert event_kinds(headline, lead) == {"shelling"}
    vague = tokenize("Trump says Syria attack cannot be tolerated").norms
    assert event_kinds(vague, tokenize("a chemical weapons attack in Syria").norms) \
        == {"chemical"}
    assert event_kinds(vague, []) == frozenset()


@pytest.mark.parametrize(("a", "b", "other"), [
    ({"air"}, {"blast"}, True),
    ({"air", "blast"}, {"blast"}, False),  # "bombing" may be the car bomb
    ({"shelling"}, {"chemical"}, True),
    (set(), {"air"}, False),  # an article naming no kind differs from none
    (set(), set(), False),
])
def test_other_kinds(a: set[str], b: set[str], other: bool) -> None:
    assert other_kinds(frozenset(a), frozenset(b)) is other
    assert other_kinds(frozenset(b), frozenset(a)) is other
