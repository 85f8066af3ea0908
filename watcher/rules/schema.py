"""The rule language: what a rule file may hold, as pydantic models (and JSON Schema).

    rules:
      - id: isil-convoy-eastern-syria
        title: ISIL fighters on the move in eastern Syria
        severity: high                       # low | medium | high | critical
        tags: [syria, isil, movement]
        notify: [desk-webhook]               # sink names; empty = the default route
        match:                               # every key of a mapping must hold (AND)
          groups: [ISIL]                     # any alias of the entry: Isil, Daesh, داعش...
          places: [Raqqa, Deir ez-Zor]       # any one of them
          any:                               # at least `min` of the conditions
            min: 1
            of:
              - words: [convoy, flee, "@movement"]
              - phrases: [moved its capital]
          none:                              # none of these may hold
            - words: [exercise, drill]
        examples:
          match:
            - title: Isil convoy leaves Raqqa for Deir Ezzor
              expect: [ISIL, Raqqa, convoy]
          no_match:
            - Raqqa council reopens schools

A condition is a mapping of any of `all`, `any`, `none` (lists of conditions; `any` also
takes `{min: N, of: [...]}`) and the leaves `places`, `groups`, `words`, `phrases` (lists of
terms, see terms.py; in `places` and `groups`, "*" stands for every gazetteer entry),
`pattern` (regular expressions run by RE2, any one of them; see text/patterns.py) and
`near` (terms within N words of each other in one field):

          near:
            within: 5                        # at most 5 words between them
            of:                              # one of each, in the same field
              - words: [convoy]
              - groups: ["*"]

`fields` limits the leaves of that mapping, and of the conditions inside it, to some of
title, summary, content (default: all three).

A rule may be limited to some feeds (by id or by the tags the config gives them) and to
article languages; an empty or absent `scope` means every article:

        scope: {feeds: [sana-en], feed_tags: [syria], languages: [en, ar]}
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from watcher.models import FieldName, Severity
from watcher.rules.terms import GroupEntry, NonEmpty, PlaceEntry, TermList, TermSpec
from watcher.yamlfile import register_union_tags

RULE_ID = r"^[a-z0-9][a-z0-9._-]*$"
TERM_LEAVES = ("places", "groups", "words", "phrases")
LEAVES = (*TERM_LEAVES, "pattern", "near")
BRANCHES = ("all", "any", "none")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


Terms = Annotated[list[TermSpec], Field(min_length=1)]
Regex = Annotated[str, StringConstraints(min_length=1)]


class PatternOptions(_Model):
    """A regular expression with options."""

    regex: Regex = Field(description="The expression (RE2 syntax).")
    case: bool = Field(False, description="Case-sensitive (default: case-insensitive).")


PatternSpec = Regex | PatternOptions


class NearTerms(_Model):
    """One of the terms that must occur near the others: exactly one leaf."""

    places: Terms | None = Field(None, description="Any of these places.")
    groups: Terms | None = Field(None, description="Any of these armed groups.")
    words: Terms | None = Field(None, description="Any of these words, inflections "
                                                  "included.")
    phrases: Terms | None = Field(None, description="Any of these exact phrases.")

    @model_validator(mode="after")
    def _one_leaf(self) -> NearTerms:
        given = [k for k in TERM_LEAVES if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("each entry of `near.of` holds exactly one of "
                             + ", ".join(TERM_LEAVES))
        return self


class Near(_Model):
    """Terms within a few words of each other, in one field."""

    within: int = Field(ge=0, le=50, description="Most words allowed between the terms.")
    of: list[NearTerms] = Field(min_length=2, max_length=5,
                                description="Two to five leaves; one term of each must "
                                            "occur, all within `within` words.")
    across_punctuation: bool = Field(
        False, description="Also count terms on either side of a sentence end, comma, "
                           "semicolon or line break (by default they must be in one "
                           "sentence or clause).")


class Condition(_Model):
    """Every key present must hold."""

    all: list[Condition] | None = Field(None, min_length=1,
                                        description="Every condition holds.")
    any: list[Condition] | AnyOf | None = Field(
        None, description="At least one condition holds, or {min: N, of: [...]}.")
    none: list[Condition] | None = Field(None, min_length=1,
                                         description="No condition holds.")
    places: Terms | None = Field(None, description="Any of these places (gazetteer names, "
                                                   "any alias, or @list).")
    groups: Terms | None = Field(None, description="Any of these armed groups.")
    words: Terms | None = Field(None, description="Any of these words, inflections included.")
    phrases: Terms | None = Field(None, description="Any of these exact phrases.")
    pattern: Annotated[list[PatternSpec], Field(min_length=1)] | None = Field(
        None, description="Regular expressions (RE2 syntax, case-insensitive unless "
                          "case: true); any one of them.")
    near: Near | None = Field(None, description="Terms within N words of each other.")
    fields: list[FieldName] | None = Field(
        None, min_length=1, description="Fields the leaves look in (default: all).")

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if not any(getattr(self, k) is not None for k in (*BRANCHES, *LEAVES)):
            raise ValueError("a condition needs one of " + ", ".join((*BRANCHES, *LEAVES)))
        return self


class AnyOf(_Model):
    min: int = Field(1, ge=1, description="How many of the conditions must hold.")
    of: list[Condition] = Field(min_length=1, description="The conditions.")

    @model_validator(mode="after")
    def _reachable(self) -> AnyOf:
        if self.min > len(self.of):
            raise ValueError(f"min is {self.min} but there are only {len(self.of)} conditions")
        return self


class Example(_Model):
    """An article (only the text fields that matter) for `watcher rules test`."""

    title: str = Field("", description="Title text.")
    summary: str = Field("", description="Summary text.")
    content: str = Field("", description="Body text.")
    language: str | None = Field(None, description="ISO 639-1 code (default en).")
    expect: list[NonEmpty] = Field(
        default_factory=list,
        description="Match examples: terms (canonical names or matched text) that must be "
                    "among the matched terms.")

    @model_validator(mode="after")
    def _has_text(self) -> Example:
        if not (self.title or self.summary or self.content):
            raise ValueError("an example needs a title, summary or content")
        return self


ExampleSpec = Annotated[str, StringConstraints(min_length=1)] | Example


class Examples(_Model):
    match: list[ExampleSpec] = Field(default_factory=list,
                                     description="Articles the rule must match "
                                                 "(a string is a title).")
    no_match: list[ExampleSpec] = Field(default_factory=list,
                                        description="Articles it must not match.")


class Scope(_Model):
    """Which articles a rule looks at. Feeds: by id or by tag (either selects a feed)."""

    feeds: list[NonEmpty] = Field(default_factory=list, description="Feed ids.")
    feed_tags: list[NonEmpty] = Field(default_factory=list,
                                      description="Tags of feeds, as the config gives them.")
    languages: list[NonEmpty] = Field(default_factory=list,
                                      description="Article languages (ISO 639-1).")


class RuleModel(_Model):
    """One rule as written."""

    id: str = Field(pattern=RULE_ID, description="Stable id: lower case, digits, . _ -")
    title: NonEmpty = Field(description="What the alert is about, in a line.")
    description: str = Field("", description="Why the rule exists, what to do about it.")
    severity: Severity = Field(description="low, medium, high or critical.")
    tags: list[str] = Field(default_factory=list, description="Free labels for routing.")
    enabled: bool = Field(True, description="Set false to keep the rule without running it.")
    notify: list[str] = Field(default_factory=list,
                              description="Sink names; empty means the default route.")
    language: str = Field("en", description="Language of the rule's words, for stemming.")
    scope: Scope = Field(default_factory=Scope,
                         description="Only these feeds, feed tags and languages "
                                     "(default: every article).")
    match: Condition = Field(description="When the rule fires.")
    examples: Examples = Field(default_factory=Examples,
                               description="Articles that must and must not match.")


class RuleFile(_Model):
    """A rule file. Any file may hold any of these keys; shared lists, places and groups
    conventionally live under `lists/`."""

    rules: list[RuleModel] = Field(default_factory=list, description="The rules.")
    lists: dict[str, TermList | Terms] = Field(default_factory=dict,
                                               description="Named term lists (@name).")
    places: list[PlaceEntry] = Field(default_factory=list, description="Gazetteer places.")
    groups: list[GroupEntry] = Field(default_factory=list, description="Armed groups.")


register_union_tags("list[Condition]", "AnyOf", "str", "TermOptions", "Example",
                    "TermList", "list[union[str,TermOptions]]", "constrained-str",
                    "PatternOptions")
