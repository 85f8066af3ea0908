"""Which rules to evaluate for an article: an index from term to rules, and the leaves each
rule requires. Pure but for what it learns of term frequencies, which changes its speed,
never its answers.

Only rules with a term found are evaluated, so the cost per article grows with what the
article mentions, not with the number of rules. That is sound because loading refuses rules
that could fire when no term occurs at all. A rule that requires a leaf (through `all` and
`near`) cannot fire unless one of that leaf's terms occurs, so it is indexed under one such
leaf alone; a rule of "at least N of these k leaves" under k - N + 1 of them (if N hold, one
of those does). Any such choice gives the same answers; the best one makes the rule a
candidate least often: the leaf whose terms are rarest in the news.

How rare a term is, the index learns from the articles it sees (`learn`: in how many
articles each term was found). Until it has seen `FIRST_REVIEW` articles it guesses from the
rules: a term many rules share (a big group, a common word) is likely a frequent one. Then
it re-indexes at 256, 512, 1,024... articles (`review`), a few tens of milliseconds each
at 10,000 rules, and from `LONGEST_WAIT` articles on at that pace, the counts so far halved
each time, so that recent news weighs most. On the FA-KES corpus at 10,000 synthetic rules,
frequencies learnt from half the articles cut the rules indexed under the other half's
terms from 143 to 49 per article.

A candidate is then evaluated only if every leaf it requires has a term found, each leaf
looked at once per article (one set comparison).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from watcher.matching.evaluate import (
    CompiledLeaf,
    CompiledNode,
    counted_leaves,
    required_leaves,
    term_ids,
)

FIRST_REVIEW = 256  # articles seen before the index is first rebuilt from what they held
UNSEEN = 0.5  # the count a term never found yet is taken to have, in articles
LONGEST_WAIT = 65_536  # articles between two reviews, at most


@dataclass
class _Shape:
    """What indexing needs of one rule's condition."""

    required: list[CompiledLeaf]
    counted: list[CompiledLeaf]  # "at least `least` of these leaves" (else empty)
    least: int
    every_term: frozenset[int]  # a rule with neither is indexed under all its terms


@dataclass
class RuleIndex:
    """Build with `RuleIndex.build`; `candidates` per article, then `learn` from it."""

    shapes: list[_Shape]
    by_term: dict[int, tuple[int, ...]] = field(default_factory=dict)
    # Required leaves, numbered by their term sets: a candidate is evaluated only when every
    # leaf it requires (`needs[rule]`) has one of its terms (`leaf_terms[leaf]`) found.
    leaf_terms: list[frozenset[int]] = field(default_factory=list)
    needs: list[frozenset[int]] = field(default_factory=list)
    # A rule of "at least N of these leaves": rule -> their numbers (a leaf written twice
    # counts twice) and N.
    counted: dict[int, tuple[tuple[int, ...], int]] = field(default_factory=dict)
    # Rules whose index terms do not decide that their required leaves hold: those that
    # require more than one leaf, or "at least N" of some (the others need no check).
    checked: frozenset[int] = frozenset()
    found_in: Counter[int] = field(default_factory=Counter)  # term -> articles it was in
    seen: int = 0
    next_review: int = FIRST_REVIEW

    @classmethod
    def build(cls, conditions: list[CompiledNode]) -> RuleIndex:
        shapes = []
        for condition in conditions:
            some, least = counted_leaves(condition)
            shapes.append(_Shape(required_leaves(condition), some, least,
                                 term_ids(condition)))
        index = cls(shapes)
        index._number_leaves()
        index.by_term = index._by_term(_guess_by_rules(shapes))
        return index

    def _number_leaves(self) -> None:
        numbers: dict[frozenset[int], int] = {}
        for rule, shape in enumerate(self.shapes):
            self.needs.append(frozenset(numbers.setdefault(leaf.term_ids, len(numbers))
                                        for leaf in shape.required if not leaf.patterns))
            if shape.counted:
                self.counted[rule] = (tuple(numbers.setdefault(leaf.term_ids, len(numbers))
                                            for leaf in shape.counted), shape.least)
        self.leaf_terms = list(numbers)  # numbered in order of insertion
        # A rule that requires one leaf (of terms) is indexed under that leaf's terms
        # (`_by_term`: a leaf of patterns is the last choice), so it is a candidate exactly
        # when that leaf has a term found; one that requires none has no leaf to check.
        self.checked = frozenset(rule for rule, needs in enumerate(self.needs)
                                 if len(needs) > 1 or rule in self.counted)

    def _by_term(self, cost: Callable[[CompiledLeaf], Any]) -> dict[int, tuple[int, ...]]:
        """Each rule under the terms of its cheapest leaf (or k - N + 1 leaves); a leaf of
        patterns is the last choice, since its patterns would then run on every article."""
        def key(leaf: CompiledLeaf) -> tuple[bool, Any]:
            return leaf.patterns, cost(leaf)

        by_term: dict[int, list[int]] = {}
        for rule, shape in enumerate(self.shapes):
            if shape.required:
                terms = min(shape.required, key=key).term_ids
            elif shape.counted:
                cheapest = sorted(shape.counted, key=key)[:len(shape.counted) - shape.least + 1]
                terms = frozenset().union(*(leaf.term_ids for leaf in cheapest))
            else:
                terms = shape.every_term
            for term_id in terms:
                by_term.setdefault(term_id, []).append(rule)
        return {term_id: tuple(rules) for term_id, rules in by_term.items()}

    def candidates(self, found: Mapping[int, object]) -> list[int]:
        """Rules indexed under a found term whose required leaves all have a term found
        (and, for "at least N of these leaves", N of them do), in rule order. A leaf's
        fields are not checked here (`holds` does): its terms are enough to rule most
        candidates out, each leaf looked at once per article."""
        by_term, leaf_terms, needs, counted = (self.by_term, self.leaf_terms, self.needs,
                                               self.counted)
        chosen = set(chain.from_iterable(filter(None, map(by_term.get, found))))
        to_check = chosen.intersection(self.checked)
        if not to_check:
            return sorted(chosen)
        present = found.keys()
        known: dict[int, bool] = {}  # leaf -> has a term found (the loops are inlined: hot)
        for rule in to_check:
            for leaf in needs[rule]:
                answer = known.get(leaf)
                if answer is None:
                    answer = known[leaf] = not present.isdisjoint(leaf_terms[leaf])
                if not answer:
                    chosen.discard(rule)
                    break
            else:
                some = counted.get(rule)
                if some is not None:
                    leaves, least = some
                    for leaf in leaves:
                        answer = known.get(leaf)
                        if answer is None:
                            answer = known[leaf] = not present.isdisjoint(leaf_terms[leaf])
                        least -= answer
                    if least > 0:
                        chosen.discard(rule)
        return sorted(chosen)

    def learn(self, found: Mapping[int, object]) -> None:
        """Count the terms of one more article; re-index when it is time."""
        self.found_in.update(found.keys())
        self.seen += 1
        if self.seen >= self.next_review:
            self.review()
            wait = self.seen
            if wait >= LONGEST_WAIT:
                wait = LONGEST_WAIT
                self.found_in = Counter({t: n // 2 for t, n in self.found_in.items() if n > 1})
            self.next_review = self.seen + wait

    def review(self) -> None:
        """Re-index every rule under its leaf of the rarest terms so far."""
        found_in = self.found_in

        def rarity(leaf: CompiledLeaf) -> tuple[float, int]:
            return (sum(found_in.get(t, UNSEEN) for t in leaf.term_ids),
                    len(leaf.term_ids))

        self.by_term = self._by_term(rarity)


def _guess_by_rules(shapes: list[_Shape]) -> Callable[[CompiledLeaf], tuple[int, int]]:
    """Before any article: a leaf whose terms the fewest rules require is likely rare."""
    load: Counter[int] = Counter()
    for shape in shapes:
        load.update({t for leaf in shape.required if not leaf.patterns for t in leaf.term_ids})

    def cost(leaf: CompiledLeaf) -> tuple[int, int]:
        return sum(load.get(t, 0) for t in leaf.term_ids), len(leaf.term_ids)

    return cost
