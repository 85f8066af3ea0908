"""Compiled conditions, and whether one holds on what was found in an article. Pure.

matcher.py compiles each rule's condition into these nodes over term ids, scans an article
once, and asks `holds` of the candidate rules. Leaves look their term ids up in what the
scan found; pattern leaves run their regular expressions on first use (`ArticleScan`), so a
rule's patterns cost nothing unless the rest of the rule can still hold; `near` measures
distances in tokens.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from watcher.models import FIELDS
from watcher.text.normalize import Tokens
from watcher.text.patterns import PatternSet, find_spans

Occurrence = tuple[int, int, int]  # field index, start, end (characters of the original)
ALL_FIELDS = len(FIELDS)
Why = list[tuple[int, Occurrence]]
Position = tuple[int, int, int, Occurrence]  # field index, first token, one past the last


@dataclass(frozen=True)
class CompiledLeaf:
    term_ids: frozenset[int]
    fields: frozenset[int]
    patterns: bool = False  # its terms are regular expressions, run on demand


@dataclass(frozen=True)
class CompiledNear:
    slots: tuple[CompiledLeaf, ...]
    within: int
    across: bool = False  # may the terms be in different clauses (`Tokens.breaks`)?


@dataclass(frozen=True)
class CompiledBranch:
    op: Literal["all", "any", "none"]
    children: tuple[CompiledNode, ...]
    min: int = 1


CompiledNode = CompiledLeaf | CompiledNear | CompiledBranch


@dataclass
class ArticleScan:
    """What was found in one article: term id -> occurrences, plus what pattern and `near`
    leaves need (the field texts, their tokens, the compiled patterns)."""

    found: dict[int, set[Occurrence]]
    texts: list[str]
    tokens: list[Tokens | None]
    programs: dict[int, Any] = field(default_factory=dict)
    pattern_ids: tuple[int, ...] = ()  # the term ids of `pattern_set`'s members, in order
    pattern_set: PatternSet | None = None
    ran: set[int] = field(default_factory=set)
    _starts: dict[int, list[int]] = field(default_factory=dict)
    _positions: dict[int, list[Position]] = field(default_factory=dict)
    _occurring: frozenset[int] | None = None

    def occurring(self) -> frozenset[int]:
        """The patterns that occur anywhere in the article: one set pass per field, made
        when a pattern is first needed."""
        if self._occurring is None:
            assert self.pattern_set is not None
            self._occurring = frozenset(self.pattern_ids[i] for text in self.texts if text
                                        for i in self.pattern_set.occurring(text))
        return self._occurring

    def run_patterns(self, term_ids: frozenset[int]) -> None:
        todo = term_ids - self.ran
        if not todo:
            return
        self.ran |= todo
        if self.pattern_set is not None:
            todo &= self.occurring()
        for term_id in todo:
            program = self.programs[term_id]
            occurrences = {(fi, start, end) for fi, text in enumerate(self.texts) if text
                           for start, end in find_spans(program, text)}
            if occurrences:
                self.found[term_id] = occurrences

    def positions(self, term_id: int) -> list[Position]:
        """Where a found term occurs, as (field, first token, one past its last token,
        occurrence); worked out once per article, since `near` rules share their terms."""
        known = self._positions.get(term_id)
        if known is None:
            known = self._positions[term_id] = [
                (occ[0], *self.token_span(occ), occ) for occ in self.found.get(term_id, ())]
        return known

    def token_span(self, occ: Occurrence) -> tuple[int, int]:
        """First token and one past the last token of an occurrence."""
        starts = self._starts.get(occ[0])
        if starts is None:
            tokens = self.tokens[occ[0]]
            starts = [s for s, _ in tokens.spans] if tokens else []
            self._starts[occ[0]] = starts
        first = bisect_right(starts, occ[1]) - 1
        last = bisect_right(starts, occ[2] - 1)
        return first, last


def cost_rank(node: CompiledNode) -> int:
    """Children of a branch are tried cheapest first, so that a failing rule fails before
    its patterns run: term leaves (a dict lookup), then branches, `near`, patterns."""
    if isinstance(node, CompiledLeaf):
        return 3 if node.patterns else 0
    return 2 if isinstance(node, CompiledNear) else 1


def holds(node: CompiledNode, scan: ArticleScan, why: Why | None) -> bool:
    """Does `node` hold? When `why` is given, append the occurrences that made it hold
    (then every child is tried); without it, stop as soon as the answer is known."""
    if isinstance(node, CompiledLeaf):
        return _leaf_holds(node, scan, why)
    if isinstance(node, CompiledNear):
        return _near_holds(node, scan, why)
    if node.op == "none":
        return not any(holds(c, scan, None) for c in node.children)
    if why is None:
        if node.op == "all":
            return all(holds(c, scan, None) for c in node.children)
        return _at_least(node.min, node.children, scan)
    collected: Why = []
    if node.op == "all":
        if not all(holds(c, scan, collected) for c in node.children):
            return False
    elif sum(holds(c, scan, collected) for c in node.children) < node.min:
        return False
    why.extend(collected)
    return True


def _at_least(count: int, children: tuple[CompiledNode, ...], scan: ArticleScan) -> bool:
    """Whether `count` of `children` hold, trying no more of them than it takes to know."""
    left = len(children)
    for child in children:
        left -= 1
        if holds(child, scan, None):
            count -= 1
            if count <= 0:
                return True
        elif count > left:
            return False
    return False


def _leaf_holds(node: CompiledLeaf, scan: ArticleScan, why: Why | None) -> bool:
    if node.patterns:
        scan.run_patterns(node.term_ids)
    found = scan.found
    if why is None and len(node.fields) == ALL_FIELDS:  # any occurrence will do: one C call
        return not found.keys().isdisjoint(node.term_ids)
    ids = node.term_ids.intersection(found)
    held = False
    for term_id in ids:
        for occ in found.get(term_id, ()):
            if occ[0] in node.fields:
                held = True
                if why is None:
                    return True
                why.append((term_id, occ))
    return held


def _near_holds(node: CompiledNear, scan: ArticleScan, why: Why | None) -> bool:
    """Sweep each field's occurrences in token order (each clause's, unless `across`: a
    sentence end, comma, semicolon or line break parts them). At each start, the best
    choice for every slot is its occurrence (started so far) that ends last; the words
    between the earliest such end and this start are the gap to beat."""
    per_field: dict[tuple[int, int], list[tuple[int, int, int, int, Occurrence]]] = {}
    found = scan.found
    for slot_index, slot in enumerate(node.slots):
        for term_id in slot.term_ids:
            if term_id not in found:
                continue
            for field_index, first, last, occ in scan.positions(term_id):
                if field_index in slot.fields:
                    tokens = scan.tokens[field_index]
                    clause = 0 if node.across or tokens is None else tokens.clause(first)
                    per_field.setdefault((field_index, clause), []).append(
                        (first, last, slot_index, term_id, occ))
    count = len(node.slots)
    for items in per_field.values():
        if len(items) >= count and _sweep(sorted(items), count, node.within, why):
            return True
    return False


def _sweep(items: list[tuple[int, int, int, int, Occurrence]], count: int, within: int,
           why: Why | None) -> bool:
    """`_near_holds` for one field's occurrences (first token, end, slot, term, occurrence),
    in token order."""
    lasts = [-1] * count  # by slot: the latest end of its occurrences so far (-1: none)
    chosen: list[tuple[int, Occurrence]] = [(-1, (-1, -1, -1))] * count
    missing = count
    for first, last, slot_index, term_id, occ in items:
        if lasts[slot_index] < 0:
            missing -= 1
        if last > lasts[slot_index]:
            lasts[slot_index] = last
            chosen[slot_index] = (term_id, occ)
        if not missing and first - min(lasts) <= within:
            if why is not None:
                why.extend(chosen)
            return True
    return False


def required_leaves(node: CompiledNode) -> list[CompiledLeaf]:
    """Leaves that must hold for `node` to hold (reached through `all` and `near` only)."""
    if isinstance(node, CompiledLeaf):
        return [node]
    if isinstance(node, CompiledNear):
        return list(node.slots)
    if node.op != "all":
        return []
    return [leaf for child in node.children for leaf in required_leaves(child)]


def decided_terms(node: CompiledNode) -> frozenset[int] | None:
    """The terms of a condition that holds whenever each of its leaves has a term found
    anywhere in the article, else None: a leaf of terms over every field, or `all` of
    such leaves. The rule index makes such a rule a candidate only then (index.py: every
    leaf a rule requires has a term found), so it need not be evaluated."""
    if not _only_leaves(node):
        return None
    leaves = required_leaves(node)
    if any(leaf.patterns or len(leaf.fields) != ALL_FIELDS for leaf in leaves):
        return None
    return frozenset().union(*(leaf.term_ids for leaf in leaves))


def _only_leaves(node: CompiledNode) -> bool:
    """Whether `node` is a leaf, or `all` of nodes made of leaves and `all` alone."""
    if isinstance(node, CompiledLeaf):
        return True
    return (isinstance(node, CompiledBranch) and node.op == "all"
            and all(_only_leaves(c) for c in node.children))


def counted_leaves(node: CompiledNode) -> tuple[list[CompiledLeaf], int]:
    """Term leaves of which at least so many must hold for `node` to hold: the children of
    an `any` with a minimum of 2 or more whose children are all such leaves (else none)."""
    if (isinstance(node, CompiledBranch) and node.op == "any" and node.min >= 2
            and all(isinstance(c, CompiledLeaf) and not c.patterns for c in node.children)):
        return [c for c in node.children if isinstance(c, CompiledLeaf)], node.min
    return [], 0


def term_ids(node: CompiledNode) -> frozenset[int]:
    if isinstance(node, CompiledLeaf):
        return node.term_ids
    children: Sequence[CompiledNode] = (node.slots if isinstance(node, CompiledNear)
                                        else node.children)
    return frozenset().union(*(term_ids(c) for c in children))
