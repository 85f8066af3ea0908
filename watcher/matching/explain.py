"""Why a rule fired: the matched terms of the rules that fire on one article. Pure.

Explanations are made only for rules that fire, and each matched term once per article
(`Explainer`): a term occurrence that several rules report is one shared `MatchedTerm`.
A hit holds the article's `Explainer` and a key (the terms of a rule decided by the index,
or the occurrences `holds` collected) and asks it for its matched terms as plain arrays
(`spots`) or as `MatchedTerm`s on first use: a busy article fires hundreds of rules, and
the models are only wanted for the alerts. Their
values come from the matcher, already of the right types (a label, a kind, a slice of the
field, the field's name, offsets), so it is made without pydantic's validation
(`matched_term`), at a fraction of the cost: when many rules fire, hundreds are made per
article. A matched term so made equals, hashes and serialises as a validated one
(tests/test_match.py checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from itertools import chain
from operator import itemgetter
from typing import TypeVar
from weakref import WeakMethod

from watcher.matching.evaluate import Occurrence, Why
from watcher.models import FIELDS, FieldName, MatchedTerm, Spots, TermKind
from watcher.text.normalize import KERNELS

_new = object.__new__
_set_attribute = object.__setattr__
# Every field given, none left to defaults. One set for all: a frozen model never adds to it.
_ALL_SET = set(MatchedTerm.model_fields)
_ORDER = itemgetter(0)  # (occurrence, label, term id): place in the article, then label
_MATCHED = itemgetter(1)
T = TypeVar("T")


@dataclass(frozen=True)
class TermInfo:
    """What a hit on a term reports: `label` is the rule's term or the entry's name."""

    kind: TermKind
    label: str
    entry: str | None = None


def matched_term(term: str, kind: TermKind, text: str, field: FieldName, start: int,
                 end: int) -> MatchedTerm:
    """A `MatchedTerm` from values known to be valid, as `model_construct` would make it."""
    made = _new(MatchedTerm)
    _set_attribute(made, "__dict__", {"term": term, "kind": kind, "text": text,
                                      "field": field, "start": start, "end": end})
    _set_attribute(made, "__pydantic_fields_set__", _ALL_SET)
    _set_attribute(made, "__pydantic_extra__", None)
    _set_attribute(made, "__pydantic_private__", None)
    return made


Said = tuple[tuple[Occurrence, str, int], MatchedTerm]


class Explainer:
    """The matched terms of one article's firing rules, each made once."""

    def __init__(self, terms: list[TermInfo], found: dict[int, set[Occurrence]],
                 texts: list[str], labels: list[str], kinds: list[TermKind]) -> None:
        """`labels` and `kinds` are those of `terms`, by term id."""
        self.terms = terms
        self.found = found
        self.texts = texts
        self._said: dict[tuple[int, Occurrence], MatchedTerm] = {}
        self._every: dict[int, tuple[MatchedTerm, ...]] = {}
        self._spots: dict[int, Spots] = {}
        # A hit's matched terms as plain arrays (models.Spots): `key` is the term of a rule
        # decided by the index (an int: its spots made once, in C when built, since a busy
        # article asks hundreds of times) or its terms (a frozenset), or what `holds`
        # collected (a list).
        # The other keys come back to `_other_spots`, by a weak reference: a strong one
        # would make the explanation a cycle, left to the garbage collector with all it
        # holds, where now it goes with the article's last hit.
        self.spots: Callable[[object], Spots] = partial(
            KERNELS.term_spots, self._spots, labels, kinds, found, WeakMethod(self._other_spots))

    def _other_spots(self, key: object) -> Spots:
        return _by_key(key, self.every_spot, self.spots_of_terms, self.spots_of_why)

    def matched_terms(self, key: object) -> tuple[MatchedTerm, ...]:
        """A hit's matched terms (see `spots`)."""
        return _by_key(key, self.every, self.of_terms, self.of_why)

    def spots_of_terms(self, term_ids: Iterable[int]) -> Spots:
        """`of_terms` as plain arrays."""
        found = [t for t in term_ids if t in self.found]
        if len(found) == 1:
            return self.every_spot(found[0])
        terms = self.terms
        return _spots(sorted((occ, terms[t].label, t) for t in found for occ in self.found[t]),
                      terms)

    def every_spot(self, term_id: int) -> Spots:
        """`every` as plain arrays."""
        return self.spots(term_id)

    def spots_of_why(self, why: Why) -> Spots:
        """`of_why` as plain arrays."""
        terms = self.terms
        return _spots(sorted({(occ, terms[t].label, t) for t, occ in why}), terms)

    def _said_once(self, term_id: int, occurrence: Occurrence) -> MatchedTerm:
        matched = self._said.get((term_id, occurrence))
        if matched is None:
            info = self.terms[term_id]
            fi, start, end = occurrence
            matched = self._said[term_id, occurrence] = matched_term(
                info.label, info.kind, self.texts[fi][start:end], FIELDS[fi], start, end)
        return matched

    def every(self, term_id: int) -> tuple[MatchedTerm, ...]:
        """Every occurrence of a found term, in order of place in the article."""
        made = self._every.get(term_id)
        if made is None:
            info = self.terms[term_id]
            label, kind, texts, said = info.label, info.kind, self.texts, self._said
            occurrences = []
            for occ in sorted(self.found[term_id]):
                matched = said.get((term_id, occ))
                if matched is None:
                    fi, start, end = occ
                    matched = said[term_id, occ] = matched_term(
                        label, kind, texts[fi][start:end], FIELDS[fi], start, end)
                occurrences.append(matched)
            made = self._every[term_id] = tuple(occurrences)
        return made

    def _keyed(self, term_id: int) -> list[Said]:
        label = self.terms[term_id].label
        return [((occ, label, term_id), matched) for occ, matched in
                zip(sorted(self.found[term_id]), self.every(term_id), strict=True)]

    def of_terms(self, term_ids: Iterable[int]) -> tuple[MatchedTerm, ...]:
        """A rule that fires whenever its terms are found: every occurrence of each."""
        found = [t for t in term_ids if t in self.found]
        if len(found) == 1:
            return self.every(found[0])
        return tuple(map(_MATCHED, sorted(chain.from_iterable(map(self._keyed, found)),
                                          key=_ORDER)))

    def of_why(self, why: Why) -> tuple[MatchedTerm, ...]:
        """The terms that made a rule fire (`holds` collected them), in order of place in
        the article, then of label."""
        terms = self.terms
        return tuple(self._said_once(term_id, occurrence) for occurrence, _, term_id in
                     sorted({(occ, terms[t].label, t) for t, occ in why}))


def _by_key(key: object, of_term: Callable[[int], T], of_terms: Callable[[frozenset[int]], T],
            of_why: Callable[[Why], T]) -> T:
    """The answer for a hit's key (see `Explainer.spots`): a decided term, decided terms,
    or what `holds` collected."""
    kind = type(key)
    if kind is int:
        return of_term(key)  # type: ignore[arg-type]
    if kind is frozenset:
        return of_terms(key)  # type: ignore[arg-type]
    return of_why(key)  # type: ignore[arg-type]


def _spots(keys: list[tuple[Occurrence, str, int]], terms: list[TermInfo]) -> Spots:
    """Sorted (occurrence, label, term id) as `Spots`."""
    return (tuple(occ for occ, _, _ in keys), tuple(label for _, label, _ in keys),
            tuple(terms[t].kind for _, _, t in keys))
