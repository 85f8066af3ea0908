"""Compile every rule into one matcher; match an article against it. Pure: no I/O, no clock.

Every term of every rule, and every spelling of every gazetteer place and group, becomes a
key of ONE Aho-Corasick automaton. A key is a sequence of normalised tokens padded with
spaces (" deir ezzor "), so a hit always falls on token boundaries. Per article, each field
is tokenised once and scanned twice: as normalised tokens (places, groups, phrases, exact
forms) and as Snowball stems (inflected words, and Cyrillic place and group names in
Russian and Ukrainian articles, which decline). Stem keys are nearly all one token, so the
stems are looked up token by token in a dict instead (`StemKeys`), and the automaton of the
few longer ones runs only when one of their first tokens occurs. A hit maps back through
token indices to character offsets in the original field text. A case-sensitive acronym is
not counted inside a run of capitals (`_among_capitals`). A key of several tokens does not
match over a sentence end, comma, semicolon or line break between them (`Tokens.breaks`),
unless its term is written with such punctuation itself ("St. Petersburg": `loose`).

Only rules with a term found are evaluated: index.py says which, from an index of
terms to rules that learns which terms are rare in the news. The per-token and per-hit loops
(tokenizing, filing hits into what was found, making the hits of rules the index decides and
their spots) run in C when it is built (text/kernels.py: the same loops in Python otherwise).

Regular expressions (`pattern` leaves) are not in the automaton. A rule that requires some
other leaf runs its patterns only once it is a candidate and its earlier conditions hold; the
patterns of rules that can fire on a pattern alone run for every article, together, as one
RE2 set per field (text/patterns.py).

Ambiguous places (rules/terms.py) are dropped from what was found unless the article supports
them; a rule that names one itself gets a term id of its own that is never dropped. Rules
with a scope are skipped for articles from other feeds or in other languages. The places
and groups an article names (with the GeoNames pass, a fifth of the cost) are worked out
only for an article a rule fires on: alerts are where they are listed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import ahocorasick

from watcher.matching.actors import ActorResolver
from watcher.matching.evaluate import (
    ArticleScan,
    CompiledBranch,
    CompiledLeaf,
    CompiledNear,
    CompiledNode,
    Occurrence,
    cost_rank,
    decided_terms,
    holds,
)
from watcher.matching.explain import Explainer, TermInfo
from watcher.matching.index import RuleIndex
from watcher.models import (
    FIELDS,
    Article,
    ArticleMatch,
    Group,
    Place,
    RuleHit,
    RuleRef,
    TermKind,
)
from watcher.rules.load import Leaf, NearLeaf, Node, Rule, RuleSet
from watcher.rules.terms import Gazetteer, Term, term_from_spec
from watcher.text.normalize import (
    BREAK,
    KERNELS,
    STEMMERS,
    Memo,
    Tokens,
    case_form,
    language_code,
    name_stem_languages,
    name_stems,
    normalize_token,
    stem_tokens,
    stemmer,
    term_spellings,
    tokenize,
)
from watcher.text.patterns import PatternSet, compile_pattern

Stream = Literal[0, 1]
# An automaton value: key length, tokens, term ids, case-sensitive entries, loose (may run
# over punctuation).
PLAIN: Stream = 0
STEMMED: Stream = 1

@dataclass(frozen=True)
class _Entry:
    stream: Stream
    language: str | None  # stemmed keys only hold for articles in the same language
    term_id: int
    case: tuple[str, ...] | None  # case-sensitive terms compare these forms of the text
    capitals: bool = False  # a case-sensitive acronym: not inside a run of capitals
    # A word's key as written, when its stems are keys too: for an article in that
    # language the stems find every occurrence, so the key as written is left out.
    stemmed_in: str | None = None
    loose: bool = False  # written with a break (`BREAK`) itself: may match over one


@dataclass(frozen=True)
class StemKeys:
    """The keys of one language's stems. Nearly all are one token (a word), looked up token
    by token (`by_token`: a dict lookup in C per token costs less than an automaton pass);
    keys of several tokens are in `multi`, scanned only when the text holds one of their
    first tokens (`firsts`)."""

    single: dict[str, tuple[int, ...]]  # stem -> term ids
    multi: ahocorasick.Automaton | None
    firsts: frozenset[str]
    by_token: Memo[tuple[int, ...] | None]  # normalised token -> the term ids of its stem

    def __len__(self) -> int:
        return len(self.single) + (len(self.multi) if self.multi is not None else 0)


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    condition: CompiledNode
    feeds: frozenset[str] | None = None  # None: every feed
    languages: frozenset[str] | None = None  # None: every language
    ref: RuleRef = field(init=False)  # what its alerts say of it
    notify: tuple[str, ...] = field(init=False)
    # The terms of a rule that fires whenever the rule index makes it a candidate (see
    # `decided_terms`), else None: it is not evaluated, its explanation is these terms.
    decided: frozenset[int] | None = field(init=False)
    # What its hits give the Explainer (explain.py): its one decided term, or its terms.
    explain_key: int | frozenset[int] | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ref", self.rule.ref())
        object.__setattr__(self, "notify", self.rule.notify)
        decided = decided_terms(self.condition)
        object.__setattr__(self, "decided", decided)
        object.__setattr__(self, "explain_key", next(iter(decided)) if (
            decided is not None and len(decided) == 1) else decided)

    def in_scope(self, feed: str, language: str) -> bool:
        return ((self.feeds is None or feed in self.feeds)
                and (self.languages is None or language in self.languages))


@dataclass(frozen=True)
class AmbiguousPlace:
    """An ambiguous place counts as mentioned only with one of these in the article."""

    term_id: int
    support: frozenset[int]  # its context terms and the other places of its country


@dataclass
class Matcher:
    """All rules compiled together. Build with `compile_rules`; use with `match_article`."""

    automaton: ahocorasick.Automaton | None  # keys of the text as written (PLAIN)
    terms: list[TermInfo]
    rules: list[CompiledRule]
    index: RuleIndex  # which rules to evaluate for the terms found
    gazetteer: Gazetteer
    # Keys of an article's stems, by language (an article is stemmed in its own), and of
    # its text as written less the words its stems find (else `automaton`).
    stem_automata: dict[str, StemKeys] = field(default_factory=dict)
    plain_automata: dict[str, ahocorasick.Automaton | None] = field(default_factory=dict)
    programs: dict[int, Any] = field(default_factory=dict)  # pattern term id -> RE2
    eager: frozenset[int] = frozenset()  # pattern term ids run on every article
    # Every pattern as one RE2 set: one pass per field says which patterns occur at all,
    # so only those run on their own (for offsets).
    pattern_ids: tuple[int, ...] = ()
    pattern_set: PatternSet | None = None
    ambiguous: tuple[AmbiguousPlace, ...] = ()
    entities: frozenset[int] = frozenset()  # term ids of places and groups
    listed: frozenset[int] = frozenset()  # ... of gazetteer entries, listed in alerts
    actors: ActorResolver | None = None  # which of the actors sharing a spelling is meant
    scoped: frozenset[int] = field(init=False)  # the rules with a scope (feeds, languages)

    labels: list[str] = field(init=False)  # of `terms`, by term id (explain.Explainer)
    kinds: list[TermKind] = field(init=False)
    # The hit of each rule that fires whenever it is a candidate, unscoped: its rule,
    # notify and explanation key (text/kernels.decided_hits); None for the others.
    prepared: list[tuple[RuleRef, tuple[str, ...], object] | None] = field(init=False)

    def __post_init__(self) -> None:
        self.scoped = frozenset(i for i, rule in enumerate(self.rules)
                                if rule.feeds is not None or rule.languages is not None)
        self.labels = [info.label for info in self.terms]
        self.kinds = [info.kind for info in self.terms]
        self.prepared = [(rule.ref, rule.notify, rule.explain_key)
                         if rule.decided is not None and i not in self.scoped else None
                         for i, rule in enumerate(self.rules)]

    @property
    def key_count(self) -> int:
        return sum(len(a) for a in (self.automaton, *self.stem_automata.values(),
                                    *self.plain_automata.values()) if a is not None)


class _Builder:
    def __init__(self, gazetteer: Gazetteer) -> None:
        self.gazetteer = gazetteer
        self.terms: list[TermInfo] = []
        self.ids: dict[tuple[object, ...], int] = {}
        self.keys: dict[str, set[tuple[int, _Entry]]] = {}
        self.languages: set[str] = set()
        self.word_languages: set[str] = set()  # languages that rule words are stemmed in
        self.programs: dict[int, Any] = {}
        self.pattern_specs: dict[int, tuple[str, bool]] = {}

    def _new(self, ident: tuple[object, ...], info: TermInfo) -> tuple[int, bool]:
        if ident in self.ids:
            return self.ids[ident], False
        self.ids[ident] = len(self.terms)
        self.terms.append(info)
        return self.ids[ident], True

    def _add_keys(self, term_id: int, text: str, case: bool, language: str | None) -> None:
        """Keys for a term: as written, and (unless case-sensitive) stemmed in `language`."""
        for spelling in term_spellings(text):
            norms = [normalize_token(t) for t in spelling]
            stemmed_in = language if not case else None
            loose = BREAK.search(text) is not None
            self._key(norms, _plain_entry(term_id, spelling, case, stemmed_in, loose))
            if language is not None and not case:
                self.languages.add(language)
                self.word_languages.add(language)
                self._key(stem_tokens(norms, language),
                          _Entry(STEMMED, language, term_id, None, loose=loose))

    def _add_name_keys(self, term_id: int, text: str, case: bool) -> None:
        """Keys for a place or group spelling: as written, and for a Cyrillic one (not
        case-sensitive) its stems in Russian and Ukrainian, so that "у Ракки" finds Ракка."""
        for spelling in term_spellings(text):
            norms = [normalize_token(t) for t in spelling]
            loose = BREAK.search(text) is not None
            self._key(norms, _plain_entry(term_id, spelling, case, loose=loose))
            for language in () if case else name_stem_languages(text):
                stems = name_stems(norms, language)
                if stems is not None:
                    self.languages.add(language)
                    self._key(stems, _Entry(STEMMED, language, term_id, None, loose=loose))

    def _key(self, tokens: list[str], entry: _Entry) -> None:
        key = " " + " ".join(tokens) + " "
        self.keys.setdefault(key, set()).add((len(tokens), entry))

    def entity(self, kind: Literal["place", "group"], name: str, explicit: bool = False) -> int:
        # A rule that names an ambiguous place itself gets a term id that support never
        # drops; it reports the place, but does not list it among the article's places.
        if explicit:
            ident: tuple[object, ...] = (kind, name, "explicit")
            term_id, new = self._new(ident, TermInfo(kind, name))
        else:
            term_id, new = self._new((kind, name), TermInfo(kind, name, name))
        if new:
            for spelling in self.gazetteer.spellings(kind, name):
                self._add_name_keys(term_id, spelling.text, spelling.case)
        return term_id

    def term(self, kind: str, term: Term, language: str) -> int:
        if kind == "pattern":
            term_id, new = self._new(("pattern", term.text, term.case),
                                     TermInfo("pattern", term.text))
            if new:
                self.programs[term_id] = compile_pattern(term.text, term.case)
                self.pattern_specs[term_id] = (term.text, term.case)
            return term_id
        if kind in ("place", "group") and term.entry is not None:
            explicit = term.explicit and self.gazetteer.is_ambiguous(term.entry)
            return self.entity("place" if kind == "place" else "group", term.entry, explicit)
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
            return self.leaf(node, language)
        if isinstance(node, NearLeaf):
            return CompiledNear(tuple(self.leaf(s, language) for s in node.slots), node.within,
                                node.across)
        children = sorted((self.node(c, language) for c in node.children), key=cost_rank)
        return CompiledBranch(node.op, tuple(children), node.min)

    def leaf(self, leaf: Leaf, language: str) -> CompiledLeaf:
        fields = frozenset(FIELDS.index(f) for f in leaf.fields)
        ids = frozenset(self.term(leaf.kind, t, language) for t in leaf.terms)
        return CompiledLeaf(ids, fields, patterns=leaf.kind == "pattern")

    def ambiguous_places(self) -> tuple[AmbiguousPlace, ...]:
        places = self.gazetteer.places
        by_country: dict[str, set[int]] = {}
        for name, entry in places.items():
            if not entry.ambiguous:
                by_country.setdefault(entry.country, set()).add(self.ids[("place", name)])
        found = []
        for name, entry in places.items():
            if entry.ambiguous:
                context = {self.term("word", Term(t.text, exact=True, case=t.case), "en")
                           for t in map(term_from_spec, entry.context)}
                found.append(AmbiguousPlace(self.ids[("place", name)], frozenset(
                    context | by_country.get(entry.country, set()))))
        return tuple(found)

    def automaton(self, language: str | None = None) -> ahocorasick.Automaton | None:
        """The keys of the text as written, for articles in `language` (see `_belongs`)."""
        automaton = ahocorasick.Automaton()
        for key, entries in self.keys.items():
            ntok = next(iter(entries))[0]
            own = [e for _, e in entries if _belongs(e, PLAIN, language)]
            if own:
                # Most entries hold whatever the text's case: their term ids alone; the
                # case-sensitive ones are checked hit by hit.
                plain = tuple(sorted({e.term_id for e in own if e.case is None}))
                checked = tuple(e for e in own if e.case is not None)
                loose = ntok == 1 or any(e.loose for e in own)
                automaton.add_word(key, (len(key), ntok, plain, checked, loose))
        if not len(automaton):
            return None
        automaton.make_automaton()
        return automaton

    def stem_keys(self, language: str) -> StemKeys | None:
        """The keys of `language`'s stems, split by their token count: the scan of an
        article's stems meets none of the keys only the text as written, or another
        language's stems, can match."""
        single: dict[str, tuple[int, ...]] = {}
        multi = ahocorasick.Automaton()
        firsts: set[str] = set()
        for key, entries in self.keys.items():
            own = [e for _, e in entries if _belongs(e, STEMMED, language)]
            ids = tuple(sorted({e.term_id for e in own}))
            if not ids:
                continue
            tokens = key.split()
            if len(tokens) == 1:
                single[tokens[0]] = ids
            else:
                multi.add_word(key, (len(key), len(tokens), ids, (),
                                     any(e.loose for e in own)))
                firsts.add(tokens[0])
        if not single and not len(multi):
            return None
        if len(multi):
            multi.make_automaton()
        stem = stemmer(language)
        return StemKeys(single, multi if len(multi) else None, frozenset(firsts),
                        Memo(lambda token: single.get(stem(token))))


def _belongs(entry: _Entry, stream: Stream, language: str | None) -> bool:
    """Whether `entry` goes into the automaton of `stream` for articles in `language`:
    a language's stems; the text as written, less the words that language's stems find
    (all of it for articles in a language nothing is stemmed in: `language` None)."""
    if entry.stream != stream:
        return False
    if stream == STEMMED:
        return entry.language == language
    return language is None or entry.stemmed_in != language


def _plain_entry(term_id: int, spelling: tuple[str, ...], case: bool,
                 stemmed_in: str | None = None, loose: bool = False) -> _Entry:
    if not case:
        return _Entry(PLAIN, None, term_id, None, stemmed_in=stemmed_in, loose=loose)
    forms = tuple(case_form(t) for t in spelling)
    return _Entry(PLAIN, None, term_id, forms, capitals="".join(forms).isupper(), loose=loose)


def compile_rules(ruleset: RuleSet, include_disabled: bool = False,
                  feed_tags: Mapping[str, Sequence[str]] | None = None) -> Matcher:
    """Compile the enabled rules of `ruleset` (and its whole gazetteer) into one matcher.
    `feed_tags` (feed id -> its tags, from the config) resolves rules scoped by feed tag."""
    builder = _Builder(ruleset.gazetteer)
    for name in ruleset.gazetteer.places:
        builder.entity("place", name)
    for name in ruleset.gazetteer.groups:
        builder.entity("group", name)
    ambiguous = builder.ambiguous_places()
    compiled = [CompiledRule(rule, builder.node(rule.condition, rule.language),
                             _feeds_in_scope(rule, feed_tags or {}),
                             frozenset(rule.languages) or None)
                for rule in ruleset.rules if rule.enabled or include_disabled]
    index = RuleIndex.build([c.condition for c in compiled])
    # Patterns a rule is indexed under run on every article. Re-indexing never changes
    # them: a leaf of patterns is chosen only when a rule requires nothing else.
    eager = tuple(sorted(t for t in index.by_term if t in builder.programs))
    pattern_ids = tuple(sorted(builder.programs))
    pattern_set = PatternSet([builder.pattern_specs[t] for t in pattern_ids]) if (
        pattern_ids) else None
    stem_automata = {language: keys for language in sorted(builder.languages)
                     if (keys := builder.stem_keys(language)) is not None}
    plain_automata = {language: builder.automaton(language)
                      for language in sorted(builder.word_languages)}
    actors = ActorResolver.build(ruleset.gazetteer, (
        (term_id, info.kind, info.entry) for term_id, info in enumerate(builder.terms)
        if info.entry is not None))
    return Matcher(automaton=builder.automaton(), terms=builder.terms, rules=compiled,
                   stem_automata=stem_automata, plain_automata=plain_automata,
                   index=index, gazetteer=ruleset.gazetteer,
                   programs=builder.programs, eager=frozenset(eager),
                   pattern_ids=pattern_ids, pattern_set=pattern_set, ambiguous=ambiguous,
                   entities=frozenset(i for i, t in enumerate(builder.terms)
                                      if t.kind in ("place", "group")),
                   listed=frozenset(i for i, t in enumerate(builder.terms)
                                    if t.entry is not None), actors=actors)


def _feeds_in_scope(rule: Rule, feed_tags: Mapping[str, Sequence[str]]) -> frozenset[str] | None:
    if not (rule.feeds or rule.feed_tags):
        return None
    wanted = set(rule.feed_tags)
    return frozenset(rule.feeds) | {feed for feed, tags in feed_tags.items()
                                    if wanted.intersection(tags)}


def match_article(matcher: Matcher, article: Article, *,
                  all_entities: bool = False) -> ArticleMatch:
    """Which rules fire on `article`, with every term that made them fire, and every known
    place and group it names. Scoped rules see only articles of their feeds (`article.feed`)
    and languages. Places and groups are worked out when a rule fires (alerts are what
    lists them; the GeoNames pass is a fifth of the cost), or always with `all_entities`."""
    language = language_code(article.language)
    found: dict[int, set[Occurrence]] = {}
    texts: list[str] = []
    tokenized: list[Tokens | None] = []
    for index, name in enumerate(FIELDS):
        text = article.field_text(name)
        texts.append(text)
        tokens = tokenize(text) if matcher.automaton is not None and text else None
        tokenized.append(tokens)
        if tokens is None or not tokens.norms or matcher.automaton is None:
            continue
        plain = matcher.plain_automata.get(language, matcher.automaton)
        if plain is not None:
            _scan(plain, tokens, tokens.norms, index, found)
        stem_keys = matcher.stem_automata.get(language)
        if stem_keys is not None:
            _scan_stems(stem_keys, tokens, language, index, found)
    _drop_nested_entities(matcher.entities, found)
    _drop_unsupported_places(matcher.ambiguous, found)
    undecided = (matcher.actors.resolve(found, tokenized, language)
                 if matcher.actors is not None else frozenset())
    scan = ArticleScan(found, texts, tokenized, matcher.programs, matcher.pattern_ids,
                       matcher.pattern_set)
    if matcher.eager:
        scan.run_patterns(matcher.eager)
    explain = Explainer(matcher.terms, found, texts, matcher.labels, matcher.kinds)
    candidates = matcher.index.candidates(found)
    matcher.index.learn(found)
    # The rules decided by the index fire as candidates: their hits are made in one pass
    # (in C when built); the others are left in place, by number, to evaluate here.
    hits, left = KERNELS.decided_hits(candidates, matcher.prepared, RuleHit, explain)
    if left:
        hits = [hit for hit in (_evaluate(matcher, index, scan, explain, article.feed,
                                          language) if type(index) is int else index
                                for index in hits) if hit is not None]
    if not (hits or all_entities):
        return ArticleMatch()
    places, groups = _entities(matcher, found, _tokens_for_places(texts, tokenized), undecided,
                               article.language)
    return ArticleMatch(hits=tuple(hits), places=places, groups=groups)


def _evaluate(matcher: Matcher, index: int, scan: ArticleScan, explain: Explainer, feed: str,
              language: str) -> RuleHit | None:
    """The hit of candidate rule `index`, if it fires: in scope, and its condition holds."""
    compiled = matcher.rules[index]
    if index in matcher.scoped and not compiled.in_scope(feed, language):
        return None
    if compiled.decided is not None:  # a candidate is a hit: nothing to evaluate
        return RuleHit(compiled.ref, compiled.notify, explanation=explain,
                       key=compiled.explain_key)
    if not holds(compiled.condition, scan, None):  # most candidates: stop early
        return None
    why: list[tuple[int, Occurrence]] = []
    if not holds(compiled.condition, scan, why):  # again, collecting every occurrence
        return None
    return RuleHit(compiled.ref, compiled.notify, explanation=explain, key=why)


def _tokens_for_places(texts: list[str], tokenized: list[Tokens | None]) -> list[Tokens | None]:
    """Every field's tokens, for the GeoNames pass: a field the scan left untokenised (no
    term to look for, as with a rules folder of only `pattern` rules) is tokenised now."""
    return [tokenize(text) if tokens is None and text else tokens
            for text, tokens in zip(texts, tokenized, strict=True)]


def _drop_unsupported_places(ambiguous: tuple[AmbiguousPlace, ...],
                             found: dict[int, set[Occurrence]]) -> None:
    for place in ambiguous:
        if place.term_id in found and not any(t in found for t in place.support):
            del found[place.term_id]


def _scan(automaton: ahocorasick.Automaton, tokens: Tokens, stream: list[str],
          field_index: int, found: dict[int, set[Occurrence]]) -> None:
    def check(first: int, ntok: int, checked: tuple[_Entry, ...], span: Occurrence) -> None:
        for entry in checked:  # case-sensitive: compare the text as written
            if entry.case != tuple(case_form(tokens.original(first + k))
                                   for k in range(ntok)) or (
                    entry.capitals and _among_capitals(tokens, first, ntok)):
                continue
            occurrences = found.get(entry.term_id)
            if occurrences is None:
                found[entry.term_id] = {span}
            else:
                occurrences.add(span)

    joined = " " + " ".join(stream) + " "
    KERNELS.scan(automaton.iter(joined), joined, tokens.spans, field_index, found,
                 tokens.broken, check)


def _scan_stems(keys: StemKeys, tokens: Tokens, language: str, field_index: int,
                found: dict[int, set[Occurrence]]) -> None:
    looked_up = list(map(keys.by_token.__getitem__, tokens.norms))  # term ids, or None
    KERNELS.collect(looked_up, tokens.spans, field_index, found)
    if keys.multi is not None:
        stems = stem_tokens(tokens.norms, language)
        if not keys.firsts.isdisjoint(stems):
            _scan(keys.multi, tokens, stems, field_index, found)


def _among_capitals(tokens: Tokens, first: int, ntok: int) -> bool:
    """Whether the words on either side of tokens first..first+ntok-1 are all in capitals:
    then the text is a headline in capitals ("WHAT IS HAPPENING IN RAQQA"), where an
    acronym cannot be told from a common word. A lone acronym is not in such a run."""
    neighbours = [tokens.original(i) for i in (first - 1, first + ntok)
                  if 0 <= i < len(tokens.spans)]
    return bool(neighbours) and all(word.isupper() for word in neighbours)


def _drop_nested_entities(entities: frozenset[int], found: dict[int, set[Occurrence]]
                          ) -> None:
    """A place or group (`entities`: their term ids) inside a longer one is not mentioned on
    its own ("Syrian Army" in "Free Syrian Army", "Islamic State" in "Islamic State West
    Africa Province")."""
    named = entities.intersection(found)
    if len(named) < 2 and all(len(found[t]) < 2 for t in named):
        return
    spans = sorted((occ[0], occ[1], -occ[2], term_id) for term_id in named
                   for occ in found[term_id])
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
    for term_id in [t for t in named if not found[t]]:
        del found[term_id]


_Listed = TypeVar("_Listed", bound=tuple[Occurrence, str, str])


def _outside(entries: list[_Listed], world: list[Occurrence]) -> list[_Listed]:
    """The entries but the places written inside a longer world place: "South Sudan" is
    not Sudan, "New South Wales" not Wales."""
    return [entry for entry in entries if entry[1] != "place" or not any(
        fi == entry[0][0] and start <= entry[0][1] and entry[0][2] <= end
        and end - start > entry[0][2] - entry[0][1] for fi, start, end in world)]


def _entities(matcher: Matcher, found: dict[int, set[Occurrence]],
              tokenized: list[Tokens | None],
              undecided: frozenset[tuple[int, Occurrence]] = frozenset(),
              language: str | None = None) -> tuple[tuple[Place, ...], tuple[Group, ...]]:
    """Every place and group the article names, in order of first mention: the gazetteer
    entries found, and the GeoNames cities beside them (terms.Gazetteer.world_mentions).
    An acronym of several actors that the article does not decide (`undecided`, see
    actors.py) is not listed."""
    gazetteer = matcher.gazetteer
    entries = [(occ, info.kind, info.entry) for term_id in matcher.listed.intersection(found)
               if (info := matcher.terms[term_id]).entry is not None for occ in found[term_id]
               if (term_id, occ) not in undecided]
    taken = [occ for occ, _, _ in entries]
    world = gazetteer.world_mentions(tokenized, taken,
                                     {entry for _, kind, entry in entries if kind == "place"},
                                     language)
    if world:
        entries = _outside(entries, [occ for occ, _ in world])
    mentions = sorted([*entries, *((occ, "place", key) for occ, key in world)])
    places: dict[str, Place] = {}
    groups: dict[str, Group] = {}
    for _, kind, name in mentions:
        if kind == "place" and name not in places:
            places[name] = gazetteer.place(name)
        elif kind == "group" and name not in groups:
            groups[name] = gazetteer.group(name)
    return _one_per_name(tuple(places.values())), tuple(groups.values())


def _one_per_name(places: tuple[Place, ...]) -> tuple[Place, ...]:
    """The places, but a division listed beside a city of its name and country: the
    reader sees one name ("Kilis province" and "Kilis" are Kilis), the city is the more
    precise of the two."""
    cities = {(p.name, p.country) for p in places if p.kind == "city"}
    if len(cities) == len(places):
        return places
    return tuple(p for p in places if p.kind != "region" or (p.name, p.country) not in cities)
