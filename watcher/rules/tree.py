"""A rule's condition once resolved: a tree of branches over leaves of concrete terms.

Lists are expanded, gazetteer names resolved to entries, fields pushed down to the leaves.
load.py builds it, checks.py inspects it, matching/matcher.py compiles it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from watcher.models import FIELDS, FieldName
from watcher.rules.terms import Term

LeafKind = Literal["place", "group", "word", "phrase", "pattern"]


@dataclass(frozen=True)
class Leaf:
    """Holds when any of its terms occurs in one of its fields. For kind "pattern" each
    term is a regular expression (`text`; `case` for case-sensitive)."""

    kind: LeafKind
    terms: tuple[Term, ...]
    fields: tuple[FieldName, ...] = FIELDS


@dataclass(frozen=True)
class Branch:
    """`all`: every child holds; `any`: at least `min` hold; `none`: no child holds."""

    op: Literal["all", "any", "none"]
    children: tuple[Node, ...]
    min: int = 1


@dataclass(frozen=True)
class NearLeaf:
    """Holds when one term of each slot occurs in one field, at most `within` words apart,
    with no sentence end, comma, semicolon or line break between them unless `across`."""

    slots: tuple[Leaf, ...]
    within: int
    across: bool = False


Node = Leaf | NearLeaf | Branch
