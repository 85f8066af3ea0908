"""Compile every rule into one matcher; match an article against it. Pure: no I/O, no clock.

Every term of every rule, and every spelling of every gazetteer place and group, becomes a
key of ONE Aho-Corasick automaton. A key is a sequence of normalised tokens padded with
spaces (" deir ezzor "), so a hit always falls on token boundaries. Per article, each field
is tokenised once and scanned twice: as normalised tokens (places, groups, phrases, exact
forms) and as Snowball stems (inflected words). A hit maps back through token indices to
character offsets in the original field text.

Only rules with a term found are evaluated (an index from term to rules), so the cost per
article grows with what the article mentions, not with the number of rules. That is sound
because loading refuses rules that could fire when no term occurs at all; a rule that
requires a leaf is indexed under that leaf's terms only (see `_index_terms`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import accumulate
from typing import Literal

import ahocorasick

from .models import FIELDS, Article, ArticleMatch, FieldName, Group, MatchedTerm, Place, RuleHit
from .normalize import (
    STEMMERS,
    Tokens,
    case_form,
    language_code,
    normalize_token,
    stem_tokens,
    term_spellings,
    tokenize,
)
from .rules import Leaf, Node, Rule, RuleSet
from .terms import Gazetteer, Term

Stream = Literal[0, 1]
PLAIN: Stream = 0
STEMMED: Stream = 1
Occurrence = tuple[int, int, int]  # field index, start, end (characters of the original)


@dataclass(frozen=True)
class TermInfo:
    """What a hit on a term reports: `label` is the rule's term or the entry's name."""

    kind: Literal["place", "group", "word"]
    label: str
    entry: str | None = None


@dataclass(frozen=True)
class _Entry:
    stream: Stream
    language: str | None  # stemmed keys only hold for articles in the same language
    term_id: int
    case: tuple[str, ...] | None  # case-sensitive terms compare these forms of the text


@dataclass(frozen=True)
class CompiledLeaf:
    term_ids: frozenset[int]
    fields: frozenset[int]


@dataclass(frozen=True)
class CompiledBranch:
    op: Literal["all", "any", "none"]
    children: tuple[CompiledNode, ...]
    min: int = 1


CompiledNode = CompiledLeaf | CompiledBranch


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    condition: CompiledNode


@dataclass
class Matcher:
    """All rules compiled together. Build with `compile_rules`; use with `match_article`."""

    automaton: ahocorasick.Automaton | None
    terms: list[TermInfo]
    rules: list[CompiledRule]
    rules_by_term: dict[int, tuple[int, ...]]
    gazetteer: Gazetteer
    stem_languages: frozenset[str] = field(default_factory=frozenset)

    @property
    def key_count(self) -> int:
        return len(self.automaton) if self.automaton is not None else 0


class _Builder:
    def __init__(self, gazetteer: Gazetteer) -> None:
        self.gazetteer = gazetteer
        self.terms: list[TermInfo] = []
        self.ids: dict[tuple[object, ...], int] = {}
        self.keys: dict[str, set[tuple[int, _Entry]]] = {}
        self.languages: set[str] = set()

    def _new(self, ident: tuple[object, ...], info: TermInfo) -> tuple[int, bool]:
        if ident in self.ids:
            return self.ids[ident], False
        self.ids[ident] = len(self.terms)
        self.terms.append(info)
        return self.ids[ident], True

    def _add_keys(self, term_id: int, text: str, case: bool, language: str | None) -> None:
        for spelling in term_spellings(text):
            norms = [normalize_token(t) for t in spelling]
            case_forms = tuple(case_form(t) for t in spelling) if case else None
            self._key(norms, _Entry(PLAIN, None, term_id, case_forms))
            if language is not None and not case:
                self.languages.add(language)
                self._key(stem_tokens(norms, language), _Entry(STEMMED, language, term_id, None))

    def _key(self, tokens: list[str], entry: _Entry) -> None:
        key = " " + " ".join(tokens) + " "
        self.keys.setdefault(key, set()).add((len(tokens), entry))

    def entity(self, kind: Literal["place", "group"], name: str) -> int:
        term_id, new = self._new((kind, name), TermInfo(kind, name, name))
        if new:
            for spelling in self.gazetteer.spellings(kind, name):
                self._add_keys(term_id, spelling.text, spelling.case, None)
        return term_id

    def term(self, kind: str, term: Term, language: str) -> int:
        if kind in ("place", "group") and term.entry is not None:
            return self.entity("place" if kind == "place" else "group", term.entry)
        stemmed = kind == "word" and not term.exact and not term.case and language in STEMMERS
        info_kind: Literal["place", "group", "word"] = (
            "place" if kind == "place" else "group" if kind == "group" else "word")
        ident = (info_kind, term.text, term.exact or not stemmed, term.case,
                 language if stemmed else None)
        term_id, new = self._new(ident, TermInfo(info_kind, term.text))
        if new:
            self._add_keys(term_id, term.text, term.case, language if stemmed else None)
        return term_id

    def node(self, node: Node, language: str) -> CompiledNode:
        if isinstance(node, Leaf):
            fields = frozenset(FIELDS.index(f) for f in node.fields)
            return CompiledLeaf(frozenset(self.term(node.kind, t, language) for t in node.terms),
                                fields)
        return CompiledBranch(node.op, tuple(self.node(c, language) for c in node.children),
                              node.min)

    def automaton(self) -> ahocorasick.Automaton | None:
        if not self.keys:
            return None
        automaton = ahocorasick.Automaton()
        for key, entries in self.keys.items():
            ntok = next(iter(entries))[0]
            automaton.add_word(key, (len(key), ntok, tuple(e for _, e in entries)))
        automaton.make_automaton()
        return automaton


def compile_rules(ruleset: RuleSet, include_disabled: bool = False) -> Matcher:
    """Compile the enabled rules of `ruleset` (and its whole gazetteer) into one matcher."""
    builder = _Builder(ruleset.gazetteer)
    for name in ruleset.gazetteer.places:
        builder.entity("place", name)
    for name in ruleset.gazetteer.groups:
        builder.entity("group", name)
    compiled: list[CompiledRule] = []
    by_term: dict[int, list[int]] = {}
    for rule in ruleset.rules:
        if not (rule.enabled or include_disabled):
            continue
        condition = builder.node(rule.condition, rule.language)
        for term_id in _index_terms(condition):
            by_term.setdefault(term_id, []).append(len(compiled))
        compiled.append(CompiledRule(rule, condition))
    return Matcher(automaton=builder.automaton(), terms=builder.terms, rules=compiled,
                   rules_by_term={t: tuple(r) for t, r in by_term.items()},
                   gazetteer=ruleset.gazetteer, stem_languages=frozenset(builder.languages))


def _index_terms(condition: CompiledNode) -> frozenset[int]:
    """The terms a rule is indexed under. A rule whose condition requires a leaf (through
    `all` only) cannot fire unless one of that leaf's terms occurs, so it is indexed under
    the smallest such leaf alone: fewer rules become candidates for each article."""
    required = _required_leaves(condition)
    if required:
        return min(required, key=lambda leaf: len(leaf.term_ids)).term_ids
    return _term_ids(condition)


def _required_leaves(node: CompiledNode) -> list[CompiledLeaf]:
    if isinstance(node, CompiledLeaf):
        return [node]
    if node.op != "all":
        return []
    return [leaf for child in node.children for leaf in _required_leaves(child)]


def _term_ids(node: CompiledNode) -> frozenset[int]:
    if isinstance(node, CompiledLeaf):
        return node.term_ids
    return frozenset().union(*(_term_ids(c) for c in node.children))


def match_article(matcher: Matcher, article: Article) -> ArticleMatch:
    """Which rules fire on `article`, with every term that made them fire, and every known
    place and group it names."""
    language = language_code(article.language)
    found: dict[int, set[Occurrence]] = {}
    texts: list[str] = []
    for index, name in enumerate(FIELDS):
        text = article.field_text(name)
        texts.append(text)
        if matcher.automaton is None or not text:
            continue
        tokens = tokenize(text)
        if not tokens.norms:
            continue
        _scan(matcher.automaton, tokens, tokens.norms, PLAIN, language, index, found)
        if language in matcher.stem_languages:
            stems = stem_tokens(tokens.norms, language)
            _scan(matcher.automaton, tokens, stems, STEMMED, language, index, found)
    _drop_nested_entities(matcher.terms, found)
    hits = []
    candidates = sorted({r for t in found for r in matcher.rules_by_term.get(t, ())})
    for index in candidates:
        compiled = matcher.rules[index]
        why: list[tuple[int, Occurrence]] = []
        if _holds(compiled.condition, found, why):
            rule = compiled.rule
            hits.append(RuleHit(rule=rule.ref(), notify=rule.notify,
                                matched=_matched_terms(matcher.terms, why, texts)))
    places, groups = _entities(matcher, found)
    return ArticleMatch(hits=tuple(hits), places=places, groups=groups)


def _scan(automaton: ahocorasick.Automaton, tokens: Tokens, stream: list[str], kind: Stream,
          language: str, field_index: int, found: dict[int, set[Occurrence]]) -> None:
    joined = " " + " ".join(stream) + " "
    # Where each token starts in `joined`, to map a hit's end back to its first token.
    starts = accumulate((len(t) + 1 for t in stream), initial=1)
    first_token = dict(zip(starts, range(len(stream)), strict=False))
    spans = tokens.spans
    for end, (key_len, ntok, entries) in automaton.iter(joined):
        first = first_token[end - key_len + 2]
        span = (field_index, spans[first][0], spans[first + ntok - 1][1])
        for entry in entries:
            if entry.stream != kind or (entry.language and entry.language != language):
                continue
            if entry.case is not None and entry.case != tuple(
                    case_form(tokens.original(first + k)) for k in range(ntok)):
                continue
            found.setdefault(entry.term_id, set()).add(span)


def _drop_nested_entities(terms: list[TermInfo], found: dict[int, set[Occurrence]]) -> None:
    """A place or group inside a longer one is not mentioned on its own ("Syrian Army" in
    "Free Syrian Army", "Islamic State" in "Islamic State West Africa Province")."""
    spans = sorted((occ[0], occ[1], -occ[2], term_id)
                   for term_id, occs in found.items() if terms[term_id].kind != "word"
                   for occ in occs)
    field_index, cover_start, cover_end = -1, -1, -1
    for fi, start, neg_end, term_id in spans:
        end = -neg_end
        if fi != field_index:
            field_index, cover_start, cover_end = fi, start, end
            continue
        if cover_end > end or (cover_end == end and cover_start < start):
            found[term_id].discard((fi, start, end))
        if end > cover_end:
            cover_start, cover_end = start, end
    for term_id in [t for t, occs in found.items() if not occs]:
        del found[term_id]


def _holds(node: CompiledNode, found: dict[int, set[Occurrence]],
           why: list[tuple[int, Occurrence]] | None) -> bool:
    if isinstance(node, CompiledLeaf):
        ids = node.term_ids if len(node.term_ids) < len(found) else [
            t for t in found if t in node.term_ids]
        held = False
        for term_id in ids:
            for occ in found.get(term_id, ()):
                if occ[0] in node.fields:
                    held = True
                    if why is None:
                        return True
                    why.append((term_id, occ))
        return held
    if node.op == "none":
        return not any(_holds(c, found, None) for c in node.children)
    collected: list[tuple[int, Occurrence]] = [] if why is not None else None  # type: ignore[assignment]
    if node.op == "all":
        if not all(_holds(c, found, collected) for c in node.children):
            return False
    elif sum(_holds(c, found, collected) for c in node.children) < node.min:
        return False
    if why is not None:
        why.extend(collected)
    return True


def _matched_terms(terms: list[TermInfo], why: list[tuple[int, Occurrence]],
                   texts: list[str]) -> tuple[MatchedTerm, ...]:
    ordered = sorted(set(why), key=lambda item: (item[1], terms[item[0]].label))
    result = []
    for term_id, (fi, start, end) in ordered:
        info = terms[term_id]
        name: FieldName = FIELDS[fi]
        result.append(MatchedTerm(term=info.label, kind=info.kind, text=texts[fi][start:end],
                                  field=name, start=start, end=end))
    return tuple(result)


def _entities(matcher: Matcher, found: dict[int, set[Occurrence]]
              ) -> tuple[tuple[Place, ...], tuple[Group, ...]]:
    mentions = sorted((occ, term_id) for term_id, occs in found.items()
                      if matcher.terms[term_id].entry is not None for occ in occs)
    places: dict[str, Place] = {}
    groups: dict[str, Group] = {}
    gazetteer = matcher.gazetteer
    for _, term_id in mentions:
        info = matcher.terms[term_id]
        name = info.entry or info.label
        if info.kind == "place" and name not in places:
            places[name] = gazetteer.place(name)
        elif info.kind == "group" and name not in groups:
            groups[name] = gazetteer.group(name)
    return tuple(places.values()), tuple(groups.values())
