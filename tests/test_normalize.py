"""Tokens and their folding: pure tables, no I/O."""

from __future__ import annotations

import pytest

from watcher.text.normalize import (
    case_form,
    language_code,
    name_stem_languages,
    name_stems,
    normalize_token,
    stem_tokens,
    stem_ukrainian_name,
    term_variants,
    tokenize,
)


@pytest.mark.parametrize(("token", "expected"), [
    ("Raqqa", "raqqa"),
    ("Mayādīn", "mayadin"),
    ("MAYĀDĪN", "mayadin"),
    ("Straße", "strasse"),
    ("Ra\u00adqqa", "raqqa"),            # soft hyphen from HTML
    ("ﬁghters", "fighters"),             # ligature (NFKD)
    ("Ｒａｑｑａ", "raqqa"),              # full-width letters
    ("الرقة", "رقه"),                    # article stripped, ta marbuta folded
    ("والرقة", "رقه"),
    ("بالرقة", "رقه"),
    ("للرقة", "رقه"),
    ("الرَّقَّة", "رقه"),                  # harakat dropped
    ("حـلـب", "حلب"),                    # tatweel dropped
    ("إدلب", "ادلب"),                    # alef with hamza
    ("ودمشق", "دمشق"),                   # one conjunction و
    ("وحلب", "وحلب"),                     # a lone و only before four letters or more:
    ("ورقة", "ورقه"),                     # "paper" is not Raqqa
    ("وبالرقة", "رقه"),                   # conjunction, then an article form
    ("فبالرقة", "رقه"),                   # ف only as a conjunction before an article
    ("فلسطين", "فلسطين"),
    ("البوكمال", "بوكمال"),               # one article only: not "مال" (money)
    ("وكالة", "كاله"),
    ("لبنان", "لبنان"),                   # no lone preposition: not "نان" (bread)
    ("بغداد", "بغداد"),
    ("بعقوبة", "بعقوبه"),                 # not "عقوبه" (punishment)
    ("بحلب", "بحلب"),
    ("الفلوجة", "فلوجه"),                 # not "وجه" (face)
    ("داعش", "داعش"),
    ("Київ", "київ"),
])
def test_normalize_token(token: str, expected: str) -> None:
    assert normalize_token(token) == expected


@pytest.mark.parametrize(("text", "tokens"), [
    ("Deir ez-Zor", ["Deir", "ez", "Zor"]),
    ("ISIL’s fighters", ["ISIL", "s", "fighters"]),
    ("anti-Isil group", ["anti", "Isil", "group"]),
    ("“Daesh,” he said", ["Daesh", "he", "said"]),
    ("M23 rebels", ["M23", "rebels"]),
    ("Raqqa_convoy left; al_Bab", ["Raqqa", "convoy", "left", "al", "Bab"]),  # _ splits
    ("في الرقة.", ["في", "الرقة"]),
    ("Maya\u0304di\u0304n", ["Maya\u0304di\u0304n"]),   # decomposed marks stay inside
    ("", []),
])
def test_tokenize_keeps_original_spans(text: str, tokens: list[str]) -> None:
    found = tokenize(text)
    assert [found.original(i) for i in range(len(found.spans))] == tokens
    for (start, end), token in zip(found.spans, tokens, strict=True):
        assert text[start:end] == token


@pytest.mark.parametrize(("term", "variants"), [
    ("Deir ez-Zor", [("deir", "ez", "zor"), ("deir", "ezzor")]),
    ("Dara'a", [("dara", "a"), ("daraa",)]),
    ("Raqqa", [("raqqa",)]),
    ("al-Mayadin", [("al", "mayadin"), ("almayadin",)]),
    ("Deir Ezzor", [("deir", "ezzor")]),
    ("الدولة الإسلامية", [("دوله", "اسلاميه")]),
])
def test_term_variants(term: str, variants: list[tuple[str, ...]]) -> None:
    assert term_variants(term) == variants


@pytest.mark.parametrize(("words", "language", "stems"), [
    (["defected", "defecting", "defection", "defect"], "en", ["defect"] * 4),
    (["convoys", "convoy"], "en", ["convoy", "convoy"]),
    (["defector", "defectors"], "en", ["defector", "defector"]),   # a separate stem
    (["fled"], "en", ["fled"]),                                    # irregular: list it
    (["convois"], "fr", ["convois"]),
    (["anything"], "xx", ["anything"]),                            # no stemmer: unchanged
])
def test_stem_tokens(words: list[str], language: str, stems: list[str]) -> None:
    assert stem_tokens(words, language) == stems


@pytest.mark.parametrize(("given", "code"), [
    (None, "en"), ("", "en"), ("en-GB", "en"), ("AR", "ar"), ("pt_BR", "pt"),
])
def test_language_code(given: str | None, code: str) -> None:
    assert language_code(given) == code


def test_case_form_keeps_case_but_drops_marks() -> None:
    assert case_form("ÍS") == "IS"
    assert case_form("is") == "is"


@pytest.mark.parametrize(("forms", "stem"), [
    (["запоріжжя", "запоріжжі", "запоріжжю", "запоріжжям"], "запоріжж"),
    (["київ", "києва", "києві", "києвом"], "києв"),          # і/е alternation
    (["харків", "харкова", "харкові", "харкову"], "харков"),
    (["маріуполь", "маріуполя", "маріуполем"], "маріупол"),
    (["донецьк", "донецька", "донецьку", "донецьком"], "донецьк"),
    (["нова", "нової", "новій", "нову"], "нов"),
    (["суми", "сумах"], "сум"),
    (["raqqa"], "raqqa"),                                      # other scripts untouched
    (["зсу"], "зсу"),                                          # never under three letters
])
def test_stem_ukrainian_name(forms: list[str], stem: str) -> None:
    assert [stem_ukrainian_name(f) for f in forms] == [stem] * len(forms)
    assert stem_tokens(forms, "uk") == [stem] * len(forms)


@pytest.mark.parametrize(("tokens", "language", "stems"), [
    (["ракка"], "ru", ["ракк"]),
    (["запорожье"], "ru", ["запорож"]),
    (["новая", "каховка"], "ru", ["нов", "каховк"]),
    (["запоріжжя"], "uk", ["запоріжж"]),
    (["игил"], "ru", None),                 # "иг": too short to tell from "иго"
    (["игил"], "uk", ["игил"]),
])
def test_name_stems(tokens: list[str], language: str, stems: list[str] | None) -> None:
    assert name_stems(tokens, language) == stems


@pytest.mark.parametrize(("name", "languages"), [
    ("Ракка", ("ru", "uk")),
    ("ЧВК Вагнер", ("ru", "uk")),
    ("Raqqa", ()),
    ("الرقة", ()),
])
def test_name_stem_languages_follow_the_script(name: str, languages: tuple[str, ...]) -> None:
    assert name_stem_languages(name) == languages
