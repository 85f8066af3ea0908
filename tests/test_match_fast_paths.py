"""The matcher's fast paths give what the general ones give: the ASCII tokenizer, matched
terms made without validation, rules decided by the rule index alone."""

from __future__ import annotations

import random
import re
from itertools import accumulate

import pytest

from watcher.matching.evaluate import CompiledBranch, CompiledLeaf, decided_terms
from watcher.matching.explain import matched_term
from watcher.models import Alert, ArticleRef, MatchedTerm, RuleRef
from watcher.text import normalize
from watcher.text.normalize import tokenize


def general_tokens(text: str) -> tuple[list[tuple[int, int]], list[str]]:
    """The tokenizer's general path (every script), for comparison."""
    parts = normalize._TOKEN_SPLIT.split(text.replace("_", " "))
    norms = [normalize.normalize_token(t) for t in parts[1::2]]
    bounds = list(accumulate(map(len, parts)))
    spans = list(zip(bounds[0::2], bounds[1::2], strict=False))
    kept = [i for i, norm in enumerate(norms) if norm]
    return [spans[i] for i in kept], [norms[i] for i in kept]


ALPHABET = ("aZq09 _-.,;:!?\n\t\r'\"’“”—–…\u00a0\u00ad\u200b\u2028\x1c\x85é"
            "\u0627\u0644\u0631\u0642\u0629\u0651")


@pytest.mark.parametrize("text", [
    "", " ", "_", "a_b", "__x__", "Convoy left Raqqa.", "it's the U.S.-led “coalition” — 40 km",
    "\x1cfoo\x1dbar", "x\x85y", "a\u2028b", "soft\u00adhyphen", "zero\u200bwidth", "Mayādīn",
    "والرقة", "line one\r\nline two\ttab",
])
def test_tokens_are_those_of_the_general_path(text: str) -> None:
    tokens = tokenize(text)
    assert (tokens.spans, tokens.norms) == general_tokens(text)


def test_tokens_of_random_text_are_those_of_the_general_path() -> None:
    rng = random.Random(19)
    for _ in range(3000):
        text = "".join(rng.choices(ALPHABET, k=rng.randint(0, 30)))
        tokens = tokenize(text)
        assert (tokens.spans, tokens.norms) == general_tokens(text), repr(text)


def test_a_matched_term_made_without_validation_is_a_validated_one() -> None:
    fields = {"term": "convoy", "kind": "word", "text": "Convoys", "field": "summary",
              "start": 4, "end": 11}
    fast = matched_term(**fields)  # type: ignore[arg-type]
    valid = MatchedTerm(**fields)  # type: ignore[arg-type]
    assert fast == valid and hash(fast) == hash(valid)
    assert fast.model_dump() == valid.model_dump() == fields
    assert fast.model_dump_json() == valid.model_dump_json()
    assert fast.model_fields_set == valid.model_fields_set
    with pytest.raises(Exception, match=re.compile("frozen", re.I)):
        fast.start = 5  # type: ignore[misc]
    alert = Alert(alert_id="a", rule=RuleRef(id="r", title="R", severity="low"),
                  article=ArticleRef(key="k", title="T"), matched=[fast], places=[],
                  groups=[], detected_at="2026-01-01T00:00:00Z")  # type: ignore[arg-type]
    assert Alert.model_validate_json(alert.model_dump_json()).matched == [valid]


LEAF = CompiledLeaf(frozenset({1, 2}), frozenset({0, 1, 2}))
TITLE = CompiledLeaf(frozenset({3}), frozenset({0}))
PATTERN = CompiledLeaf(frozenset({4}), frozenset({0, 1, 2}), patterns=True)


@pytest.mark.parametrize(("node", "decided"), [
    (LEAF, {1, 2}),
    (CompiledBranch("all", (LEAF, CompiledLeaf(frozenset({5}), LEAF.fields))), {1, 2, 5}),
    (CompiledBranch("all", (LEAF, CompiledBranch("all", (LEAF,)))), {1, 2}),
    (TITLE, None),                                   # a field to check
    (PATTERN, None),                                 # patterns to run
    (CompiledBranch("any", (LEAF, TITLE)), None),
    (CompiledBranch("all", (LEAF, CompiledBranch("none", (TITLE,)))), None),
])
def test_rules_decided_by_the_index(node: CompiledLeaf | CompiledBranch,
                                    decided: set[int] | None) -> None:
    assert decided_terms(node) == (None if decided is None else frozenset(decided))
