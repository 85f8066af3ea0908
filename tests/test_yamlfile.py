"""YAML files read by watcher: the same data as PyYAML's safe loader, aliases refused."""

from __future__ import annotations

import math
import random

import pytest
import yaml

from watcher.yamlfile import YamlProblem, parse_yaml


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and (a == b if not isinstance(a, list | dict) else repr(a) == repr(b))


@pytest.mark.parametrize("text", [
    "a: [1, 0x10, 1.5, true, null, ~, '1', 1_000, .inf, 0o17, yes, On, 1:30, -1, +2, '', \"\"]",
    "- Yes\n- NO\n- off\n- Null\n- nan\n- .NaN\n- 0.5e3\n- ~x\n- 'true'\n- \"12\"",
    "k: 2020-01-01",                                       # timestamps: PyYAML's constructor
    "<<: {a: 1}\nb: 2",                                    # a merge key: likewise
    "a: !!binary aGk=",
    "a: !!int '5'\nb: ! 5\nc: !!str 7",
    "- a\n- {b: c, 1: 2, null: 3, true: 4}",
    "rules:\n  - id: r\n    match: {words: [convoy, \"@movement\"]}\n",
    "",
])
def test_data_is_that_of_the_safe_loader(text: str) -> None:
    got = parse_yaml(text, "f.yaml").data
    assert same(got, yaml.load(text, Loader=yaml.SafeLoader))


def test_random_scalars_are_told_apart_as_the_safe_loader_does() -> None:
    rng = random.Random(19)
    for _ in range(2000):
        text = "- " + "".join(rng.choices("01.+-~:yYnNtTfFoO=<e x_", k=rng.randint(1, 6)))
        try:
            want = yaml.load(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            with pytest.raises(YamlProblem):
                parse_yaml(text, "f.yaml")
            continue
        assert same(parse_yaml(text, "f.yaml").data, want), text


@pytest.mark.parametrize(("text", "where"), [
    ("x: &a [1]\ny: *a", "f.yaml:1:4:"),
    ("a: &x 1\nb: *x", "f.yaml:1:4:"),
    ("k: 2020-01-01\na: &x [1]\nb: *x", "f.yaml:2:4:"),    # found on the slower path too
])
def test_aliases_are_refused_where_they_are_defined(text: str, where: str) -> None:
    with pytest.raises(YamlProblem, match="aliases") as caught:
        parse_yaml(text, "f.yaml")
    assert str(caught.value.problem).startswith(where)


def test_a_key_that_is_a_list_is_an_error_with_its_place() -> None:
    with pytest.raises(YamlProblem, match=r"f\.yaml:1:\d+: invalid YAML"):
        parse_yaml("? [1]\n: 2", "f.yaml")
