"""Language per article (watcher/text/language.py, feeds/complete.with_languages): the declared
language stands unless there is none or the text's script is not its own; detection is
fastText's identifier; the matcher stems and scopes in the language found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watcher.cli import main
from watcher.feeds.complete import with_languages
from watcher.matching.matcher import compile_rules, match_article
from watcher.models import Article
from watcher.rules.load import load_rules
from watcher.text import language
from watcher.text.language import article_language, detect_language, script_disagrees

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = [json.loads(line) for line in (ROOT / "bench" / "fixtures" / "language_sample.jsonl")
          .read_text(encoding="utf-8").splitlines()]
ARABIC = next(row["text"] for row in SAMPLE if row["lang"] == "ar")
UKRAINIAN = next(row["text"] for row in SAMPLE if row["lang"] == "uk")
RUSSIAN = next(row["text"] for row in SAMPLE if row["lang"] == "ru")
FRENCH = next(row["text"] for row in SAMPLE if row["lang"] == "fr")
ENGLISH = next(row["text"] for row in SAMPLE if row["lang"] == "en")


@pytest.mark.parametrize("row", SAMPLE, ids=lambda row: row["lang"])
def test_written_sample_is_identified(row: dict[str, str]) -> None:
    assert detect_language(row["text"], None) == row["lang"]


@pytest.mark.parametrize(("text", "declared", "disagrees"), [
    (ARABIC, "en", True),
    (ARABIC, "ar", False),
    (ARABIC, "fa", False),  # the same script: the declaration stands
    (RUSSIAN, "en", True),
    (ENGLISH, "ru", True),
    (ENGLISH, "en", False),
    (FRENCH, "en", False),  # one script: only detection (`always`) tells them apart
    ("Raqqa: ISIS convoy — " + "«الرقة»", "en", False),  # a name in another script is no reason
    ("12345 — !!!", "en", False),  # no letters
    (ARABIC, "xx", False),  # a language whose script is not known here
])
def test_script_disagrees(text: str, declared: str, disagrees: bool) -> None:
    assert script_disagrees(text, declared) is disagrees


def test_declared_language_stands_without_loading_the_model(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(language, "_load", refuse)
    assert article_language(ENGLISH, "en") == "en"
    assert article_language(ARABIC, "en", "never") == "en"


@pytest.mark.parametrize(("text", "declared", "mode", "expected"), [
    (ARABIC, None, "auto", "ar"),  # none declared
    (ARABIC, "en", "auto", "ar"),  # an English feed carrying an Arabic article
    (UKRAINIAN, "ru", "auto", "ru"),  # same script: the declaration is taken
    (UKRAINIAN, "ru", "always", "uk"),  # a feed that mixes languages
    (FRENCH, "en", "always", "fr"),
    (FRENCH, "en", "never", "en"),
    ("", None, "auto", None),  # nothing to read
    ("12 34 56", "de", "always", "de"),  # no letters: the declaration stands
])
def test_article_language(text: str, declared: str | None, mode: language.DetectMode,
                          expected: str | None) -> None:
    assert article_language(text, declared, mode) == expected


def test_unsure_detection_keeps_the_declared_language() -> None:
    # A name that is written alike in many languages: fastText is not sure of any.
    assert detect_language("Hotel Bar", "sv") == "sv"
    assert detect_language("Hotel Bar", None) is None


def test_articles_get_their_language_by_feed_mode() -> None:
    articles = [
        Article(key="a", title="Convoy leaves Raqqa", summary=ARABIC, language="en", feed="w"),
        Article(key="b", title="Talks", summary=FRENCH, language="en", feed="mixed"),
        Article(key="c", title="Talks", summary=FRENCH, language=None, feed="w"),
        Article(key="d", title="Talks", summary=ENGLISH, language="en", feed="w"),
    ]
    done = with_languages(articles, {"mixed": "always"})
    assert [a.language for a in done] == ["ar", "fr", "fr", "en"]
    assert done[3] is articles[3]  # unchanged articles are not copied


def test_the_matcher_stems_in_the_detected_language(tmp_path: Path) -> None:
    # "combats" is the French plural of the rule's word: only a French stemmer finds it.
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - id: fighting\n    title: Fighting\n    severity: high\n    language: fr\n"
        "    scope: {languages: [fr]}\n    match:\n      words: [combat]\n",
        encoding="utf-8")
    matcher = compile_rules(load_rules([tmp_path]))
    article = Article(key="k", title="Reprise de la ville", summary=FRENCH.replace(
        "négociations", "combats"), language="en", feed="mixed")
    assert not match_article(matcher, article).hits  # declared English: out of scope
    (settled,) = with_languages([article], {"mixed": "always"})
    assert settled.language == "fr"
    assert [h.rule.id for h in match_article(matcher, settled).hits] == ["fighting"]


def test_watcher_match_detects_the_language_of_input_articles(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - id: convoy\n    title: Convoy\n    severity: low\n"
        "    match:\n      words: [convoy, قافلة]\n", encoding="utf-8")
    lines = [{"title": "قافلة", "summary": ARABIC},
             {"title": "Convoy", "summary": ENGLISH, "language": "en"},
             {"title": "Convoy", "summary": FRENCH.replace("convoi", "convoy")}]
    (tmp_path / "in.jsonl").write_text(
        "\n".join(json.dumps(line, ensure_ascii=False) for line in lines), encoding="utf-8")
    assert main(["match", "--rules", str(tmp_path / "r.yaml"),
                 "--input", str(tmp_path / "in.jsonl")]) == 0
    alerts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [a["article"]["language"] for a in alerts] == ["ar", "en", "fr"]


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=300), st.sampled_from([None, "en", "ar", "ru", "zz"]),
       st.sampled_from(["auto", "always", "never"]))
def test_any_text_gets_a_language_or_none_and_never_raises(
        text: str, declared: str | None, mode: language.DetectMode) -> None:
    found = article_language(text, declared, mode)
    assert found is None or (len(found) == 2 and found.isascii()) or found == declared
