"""Load rule files and folders into a `RuleSet`: rules resolved against lists and gazetteer.

Loading never raises for bad content. Each problem is positioned (`FILE:LINE:COL: message`):
a file that cannot be read, parsed or validated contributes its problems and nothing else;
a rule that refers to an unknown list, repeats an id or could fire on every article is
dropped with a problem; every other rule still loads. Unknown places and groups are only
warnings: the term is then matched as written.

The syntax is described in schema.py (rules) and terms.py (terms, lists, gazetteer).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import ValidationError

from watcher.errors import Problem
from watcher.gazetteer.geonames import world_layer
from watcher.models import FIELDS, FieldName, RuleRef, Severity
from watcher.rules.cache import RuleCache, input_key
from watcher.rules.checks import lone_common_terms, never_holds
from watcher.rules.desk_places import add_desk_places, is_desk_gazetteer
from watcher.rules.schema import (
    TERM_LEAVES,
    Condition,
    Examples,
    Near,
    PatternOptions,
    RuleFile,
    RuleModel,
)
from watcher.rules.terms import (
    LIST_PREFIX,
    Gazetteer,
    GroupEntry,
    NamedList,
    Term,
    TermList,
    TermOptions,
    check_list,
    is_list_ref,
    term_from_spec,
)
from watcher.rules.tree import Branch, Leaf, LeafKind, NearLeaf, Node
from watcher.text.normalize import language_code
from watcher.text.patterns import PatternError, compile_pattern
from watcher.yamlfile import YamlDoc, YamlProblem, parse_yaml, read_yaml, validation_problems

__all__ = ["Branch", "Leaf", "NearLeaf", "Node", "Rule", "RuleCache", "RuleFile", "RuleSet",
           "load_rules"]

ANY_ENTRY = "*"  # in `places` or `groups`: any entry of the gazetteer
_LEAF_KIND: dict[str, LeafKind] = {"places": "place", "groups": "group", "words": "word",
                                   "phrases": "phrase"}
Loc = tuple[int | str, ...]


@dataclass(frozen=True)
class Rule:
    """A loaded rule: its condition resolved, and where it was written."""

    id: str
    title: str
    severity: Severity
    condition: Node
    description: str = ""
    tags: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    enabled: bool = True
    language: str = "en"
    feeds: tuple[str, ...] = ()
    feed_tags: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    examples: Examples = field(default_factory=Examples)
    path: str = "<rules>"
    line: int = 1
    col: int = 1
    example_positions: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)

    def ref(self) -> RuleRef:
        return RuleRef(id=self.id, title=self.title, severity=self.severity,
                       tags=list(self.tags))


@dataclass
class RuleSet:
    """Everything loaded from rule paths, with every problem found on the way."""

    rules: list[Rule] = field(default_factory=list)
    lists: dict[str, NamedList] = field(default_factory=dict)
    gazetteer: Gazetteer = field(default_factory=Gazetteer)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


def load_rules(paths: Sequence[Path], texts: Mapping[str, str] | None = None,
               cache: RuleCache | None = None) -> RuleSet:
    """Load rule files and folders (folders: every *.yaml/*.yml inside, recursively), and
    rule documents given as text (name -> YAML), which tests and tools use. With a usable
    `cache`, an unchanged set of inputs loads from it (cache.py says when)."""
    texts = dict(texts or {})
    if cache is None or not cache.usable():
        return _load_rules(paths, texts)
    files = rule_files(paths, [])
    key = input_key(paths, files, texts)
    if key is None:
        return _load_rules(paths, texts)
    found = cache.get(key)
    if isinstance(found, RuleSet):
        found.gazetteer.world = world_layer()
        return found
    ruleset = _load_rules(paths, texts)
    if ruleset.ok and input_key(paths, rule_files(paths, []), texts) == key:
        world_free = replace(ruleset.gazetteer, world=None)
        cache.put(key, replace(ruleset, gazetteer=world_free))
    return ruleset


def _load_rules(paths: Sequence[Path], texts: dict[str, str]) -> RuleSet:
    ruleset = RuleSet()
    files = rule_files(paths, ruleset.problems)
    desks = {name: texts.pop(name) for name in list(texts) if is_desk_gazetteer(name)}
    for path in [f for f in files if is_desk_gazetteer(f)]:
        desks[str(path)] = _read_desk(path, ruleset.problems)
    docs = [_read(path, ruleset.problems) for path in files if not is_desk_gazetteer(path)]
    docs += [_parse(text, name, ruleset.problems) for name, text in texts.items()]
    loaded = [found for doc in docs
              if doc is not None and (found := _validate(doc, ruleset.problems)) is not None]
    for doc, parsed in loaded:
        _collect_lists(doc, parsed, ruleset)
    for name, text in desks.items():  # after the rule files' places, which win
        ruleset.problems += add_desk_places(ruleset.gazetteer, name, text)
    ruleset.gazetteer.add_world(world_layer())  # beneath the curated places (terms.py)
    first_seen: dict[str, str] = {}
    for doc, parsed in loaded:
        for i, model in enumerate(parsed.rules):
            line, _ = doc.position(("rules", i))
            if model.id in first_seen:
                ruleset.problems.append(doc.problem(
                    ("rules", i, "id"),
                    f"duplicate rule id {model.id!r} (first defined at {first_seen[model.id]}); "
                    "this one is skipped"))
                continue
            first_seen[model.id] = f"{doc.path}:{line}"
            rule = _resolve_rule(model, doc, ("rules", i), ruleset)
            if rule is not None:
                ruleset.rules.append(rule)
    return ruleset


def rule_files(paths: Sequence[Path], problems: list[Problem]) -> list[Path]:
    """The YAML files named by `paths`, folders expanded (sorted), each file once."""
    found: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*")
                                if p.suffix in (".yaml", ".yml") and p.is_file()
                                and not any(part.startswith(".") for part in
                                            p.relative_to(path).parts))
        elif path.exists():
            candidates = [path]
        else:
            problems.append(Problem(str(path), 1, 1, "no such file or folder"))
            continue
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    return found


def _read_desk(path: Path, problems: list[Problem]) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(path), 1, 1, f"cannot read the gazetteer: {exc}"))
        return ""


def _read(path: Path, problems: list[Problem]) -> YamlDoc | None:
    try:
        return read_yaml(path)
    except YamlProblem as exc:
        problems.append(exc.problem)
        return None


def _parse(text: str, name: str, problems: list[Problem]) -> YamlDoc | None:
    try:
        return parse_yaml(text, name)
    except YamlProblem as exc:
        problems.append(exc.problem)
        return None


def _validate(doc: YamlDoc, problems: list[Problem]) -> tuple[YamlDoc, RuleFile] | None:
    if doc.data is None:
        problems.append(doc.problem((), "the file is empty", "warning"))
        return None
    if not isinstance(doc.data, dict):
        problems.append(doc.problem((), "a rule file is a mapping with any of the keys "
                                        "rules, lists, places, groups"))
        return None
    try:
        parsed = RuleFile.model_validate(doc.data)
    except ValidationError as exc:
        problems.extend(validation_problems(doc, exc))
        return None
    if not (parsed.rules or parsed.lists or parsed.places or parsed.groups):
        problems.append(doc.problem((), "the file holds no rules, lists, places or groups",
                                    "warning"))
    return doc, parsed


def _collect_lists(doc: YamlDoc, parsed: RuleFile, ruleset: RuleSet) -> None:
    for name, value in parsed.lists.items():
        line, col = doc.position(("lists", name))
        specs = value.terms if isinstance(value, TermList) else value
        if name in ruleset.lists:
            first = ruleset.lists[name]
            ruleset.problems.append(Problem(doc.path, line, col, (
                f"duplicate list {name!r} (first defined at {first.path}:{first.line}); "
                "this one is skipped")))
            continue
        bad = check_list(name, specs, Problem(doc.path, line, col, ""))
        ruleset.problems.extend(bad)
        terms = tuple(term_from_spec(s) for s in specs if not is_list_ref(s))
        ruleset.lists[name] = NamedList(name, terms, doc.path, line, col)
    for kind, entries in (("place", parsed.places), ("group", parsed.groups)):
        for i, entry in enumerate(entries):
            message = ruleset.gazetteer.add(kind, entry)  # type: ignore[arg-type]
            if message:
                ruleset.problems.append(doc.problem((f"{kind}s", i, "name"), message))



@dataclass
class _Resolution:
    doc: YamlDoc
    ruleset: RuleSet
    errors: int = 0

    def problem(self, loc: Loc, message: str, severity: str = "error") -> None:
        if severity == "error":
            self.errors += 1
        self.ruleset.problems.append(self.doc.problem(loc, message, severity))


def _resolve_rule(model: RuleModel, doc: YamlDoc, loc: Loc, ruleset: RuleSet) -> Rule | None:
    res = _Resolution(doc, ruleset)
    condition = _resolve_condition(model.match, (*loc, "match"), FIELDS, res)
    if res.errors:
        return None
    if _holds_on_nothing(condition):
        res.problem((*loc, "match"), f"rule {model.id!r} has no term that must be found "
                                     "(only `none`), so it would fire on every article")
        return None
    reason = never_holds(condition)
    if reason:
        res.problem((*loc, "match"), f"rule {model.id!r} can never fire: {reason}")
        return None
    common = lone_common_terms(condition, language_code(model.language))
    if common and model.enabled:
        res.problem((*loc, "match"), (
            f"rule {model.id!r} would fire on most news: {', '.join(map(repr, common))} "
            f"{'is a common word' if len(common) == 1 else 'are common words'} and enough "
            "on its own; add a place, a group or another word that must also occur"),
            "warning")
    scope = model.scope
    line, col = doc.position(loc)
    examples = {kind: tuple(doc.position((*loc, "examples", kind, i))
                            for i in range(len(getattr(model.examples, kind))))
                for kind in ("match", "no_match")}
    return Rule(id=model.id, title=model.title, description=model.description,
                severity=model.severity, tags=tuple(model.tags), notify=tuple(model.notify),
                enabled=model.enabled, language=language_code(model.language),
                feeds=tuple(scope.feeds), feed_tags=tuple(scope.feed_tags),
                languages=tuple(language_code(x) for x in scope.languages),
                condition=condition, examples=model.examples, path=doc.path, line=line,
                col=col, example_positions=examples)


def _resolve_condition(cond: Condition, loc: Loc, fields: tuple[FieldName, ...],
                       res: _Resolution) -> Node:
    if cond.fields:
        fields = tuple(f for f in FIELDS if f in cond.fields)
    parts: list[Node] = []
    for key in TERM_LEAVES:
        specs = getattr(cond, key)
        if specs:
            parts.append(_resolve_leaf(_LEAF_KIND[key], specs, (*loc, key), fields, res))
    if cond.pattern:
        parts.append(_resolve_patterns(cond.pattern, (*loc, "pattern"), fields, res))
    if cond.near:
        parts.append(_resolve_near(cond.near, (*loc, "near"), fields, res))
    if cond.all:
        parts.append(Branch("all", tuple(_resolve_condition(c, (*loc, "all", i), fields, res)
                                         for i, c in enumerate(cond.all))))
    if isinstance(cond.any, list):
        parts.append(Branch("any", tuple(_resolve_condition(c, (*loc, "any", i), fields, res)
                                         for i, c in enumerate(cond.any))))
    elif cond.any is not None:
        parts.append(Branch("any", tuple(
            _resolve_condition(c, (*loc, "any", "of", i), fields, res)
            for i, c in enumerate(cond.any.of)), min=cond.any.min))
    if cond.none:
        parts.append(Branch("none", tuple(_resolve_condition(c, (*loc, "none", i), fields, res)
                                          for i, c in enumerate(cond.none))))
    return parts[0] if len(parts) == 1 else Branch("all", tuple(parts))


def _resolve_leaf(kind: LeafKind, specs: list[str | TermOptions], loc: Loc,
                  fields: tuple[FieldName, ...], res: _Resolution) -> Leaf:
    terms: list[Term] = []
    for i, spec in enumerate(specs):
        if spec == ANY_ENTRY and kind in ("place", "group"):
            table = (res.ruleset.gazetteer.places if kind == "place"
                     else res.ruleset.gazetteer.groups)
            terms.extend(Term(name, exact=True, entry=name) for name in table)
            continue
        if is_list_ref(spec):
            name = str(spec)[len(LIST_PREFIX):]
            named = res.ruleset.lists.get(name)
            if named is None:
                close = difflib.get_close_matches(name, list(res.ruleset.lists), n=1)
                hint = f"; did you mean @{close[0]}?" if close else ""
                res.problem((*loc, i), f"unknown list {spec!r}{hint}")
                continue
            expanded = list(named.terms)
        else:
            expanded = [term_from_spec(spec)]
        for term in expanded:
            terms.extend(_resolve_term(kind, term, (*loc, i), res))
    if kind == "phrase":
        terms = [Term(t.text, exact=True, case=t.case) for t in terms]
    return Leaf(kind, tuple(dict.fromkeys(terms)), fields)


def _resolve_patterns(specs: list[str | PatternOptions], loc: Loc,
                      fields: tuple[FieldName, ...], res: _Resolution) -> Leaf:
    terms = []
    for i, spec in enumerate(specs):
        regex, case = (spec.regex, spec.case) if isinstance(spec, PatternOptions) else (
            spec, False)
        try:
            compile_pattern(regex, case)
        except PatternError as exc:
            res.problem((*loc, i), f"pattern {regex!r}: {exc}")
            continue
        terms.append(Term(regex, exact=True, case=case))
    return Leaf("pattern", tuple(dict.fromkeys(terms)), fields)


def _resolve_near(near: Near, loc: Loc, fields: tuple[FieldName, ...],
                  res: _Resolution) -> NearLeaf:
    slots = []
    for i, slot in enumerate(near.of):
        key = next(k for k in TERM_LEAVES if getattr(slot, k) is not None)
        slots.append(_resolve_leaf(_LEAF_KIND[key], getattr(slot, key),
                                   (*loc, "of", i, key), fields, res))
    return NearLeaf(tuple(slots), near.within, near.across_punctuation)


def _resolve_term(kind: LeafKind, term: Term, loc: Loc, res: _Resolution) -> list[Term]:
    if kind not in ("place", "group"):
        return [term]
    gazetteer = res.ruleset.gazetteer
    if kind == "group":
        names = gazetteer.groups_named(term.text)
        if len(names) > 1:
            res.problem(loc, f"group {term.text!r} names {len(names)} groups ("
                             + "; ".join(_group_label(gazetteer.groups[n]) for n in names)
                             + "): the article's region decides which one it means; write "
                             "a full name to mean one only", "warning")
    else:
        name = gazetteer.find("place", term.text)
        names = [] if name is None else [name]
    if not names:
        res.problem(loc, f"unknown {kind} {term.text!r}: not in the gazetteer, matched as "
                         "written", "warning")
        return [Term(term.text, exact=True, case=term.case)]
    return [Term(name, exact=True, entry=name, explicit=True) for name in names]


def _group_label(entry: GroupEntry) -> str:
    return f"{entry.name} [{', '.join(entry.region)}]" if entry.region else entry.name


def _holds_on_nothing(node: Node) -> bool:
    """Would the condition hold on an article in which no term occurs at all?"""
    if isinstance(node, Leaf | NearLeaf):
        return False
    held = sum(_holds_on_nothing(c) for c in node.children)
    if node.op == "all":
        return held == len(node.children)
    if node.op == "any":
        return held >= node.min
    return held == 0
