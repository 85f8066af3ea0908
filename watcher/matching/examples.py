"""Run the examples written inside rules (`watcher rules test`).

Each example is matched against the whole compiled rule set, as a real article would be, and
the result for its own rule is checked: a `match` example must fire the rule (and find every
term in `expect`, by canonical name or by matched text), a `no_match` example must not.
"""

from __future__ import annotations

from dataclasses import dataclass

from watcher.matching.matcher import Matcher, compile_rules, match_article
from watcher.models import Article, RuleHit
from watcher.rules.load import Rule, RuleSet
from watcher.rules.schema import Example


@dataclass(frozen=True)
class ExampleResult:
    """The outcome of one example; `str()` names file, line, rule and example."""

    rule_id: str
    path: str
    line: int
    col: int
    kind: str  # "match" | "no_match"
    index: int
    ok: bool
    message: str = ""

    def __str__(self) -> str:
        status = "ok" if self.ok else f"FAILED: {self.message}"
        return (f"{self.path}:{self.line}:{self.col}: rule {self.rule_id!r}, "
                f"{self.kind} example {self.index + 1}: {status}")


def example_article(rule: Rule, kind: str, index: int, example: str | Example) -> Article:
    spec = Example.model_validate({"title": example}) if isinstance(example, str) else example
    return Article(key=f"example:{rule.id}:{kind}:{index}", title=spec.title,
                   summary=spec.summary, content=spec.content, language=spec.language)


def run_examples(ruleset: RuleSet, matcher: Matcher) -> list[ExampleResult]:
    """Check every example of every rule. Disabled rules are checked too, on their own."""
    disabled = [r for r in ruleset.rules if not r.enabled and _has_examples(r)]
    disabled_matcher = (compile_rules(RuleSet(rules=disabled, gazetteer=ruleset.gazetteer),
                                      include_disabled=True) if disabled else None)
    results = []
    for rule in ruleset.rules:
        use = matcher if rule.enabled else disabled_matcher
        if use is None:
            continue
        for kind, examples in (("match", rule.examples.match),
                               ("no_match", rule.examples.no_match)):
            for index, example in enumerate(examples):
                found = match_article(use, example_article(rule, kind, index, example))
                hit = next((h for h in found.hits if h.rule.id == rule.id), None)
                expect = [] if isinstance(example, str) else example.expect
                message = _judge(kind, hit, expect)
                line, col = _position(rule, kind, index)
                results.append(ExampleResult(rule.id, rule.path, line, col, kind, index,
                                             not message, message))
    return results


def _position(rule: Rule, kind: str, index: int) -> tuple[int, int]:
    positions = rule.example_positions.get(kind, ())
    return positions[index] if index < len(positions) else (rule.line, rule.col)


def _has_examples(rule: Rule) -> bool:
    return bool(rule.examples.match or rule.examples.no_match)


def _judge(kind: str, hit: RuleHit | None, expect: list[str]) -> str:
    if kind == "no_match":
        if hit is None:
            return ""
        why = ", ".join(f"{m.term} ({m.text!r} in {m.field})" for m in hit.matched)
        return f"the rule fired but should not have; matched: {why}"
    if hit is None:
        return "the rule did not fire"
    seen = {m.term.casefold() for m in hit.matched} | {m.text.casefold() for m in hit.matched}
    missing = [e for e in expect if e.casefold() not in seen]
    if missing:
        got = sorted({m.term for m in hit.matched})
        return f"expected terms not matched: {missing}; matched: {got}"
    return ""
