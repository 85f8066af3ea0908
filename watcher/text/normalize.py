"""Text to comparable tokens, each remembering where it came from in the original text.

Matching compares normalised tokens; alerts report offsets into the original text. So the
tokenizer never rewrites the text: it finds token spans in the original, and folds each token
on its own (cached, since news repeats its words):

- look-alike letters of another script folded in mixed-script words ("cοnvoy" with a Greek
  omicron is "convoy"), and a word under a right-to-left override read as shown
  (confusables.py);
- NFKD, combining marks dropped (Mayādīn = Mayadin), casefold, format characters (soft hyphen,
  zero-width joiners, marks and controls of direction) removed;
- Arabic script: harakat and tatweel dropped, alef forms (أ إ آ ٱ) to ا, ta marbuta to ه,
  alef maqsura to ي, Persian ک ی to ك ي; then the prefixes a light stemmer strips (Larkey's
  light10): one conjunction و, then one definite article (ال وال بال كال فال لل), each only
  while three letters remain. ف is taken as a conjunction only before an article (فبال),
  and a و with no article after it only while four letters remain (ودمشق is دمشق, but
  ورقة, paper, is not الرقة). Term and text go through the same fold, so "والرقة",
  "بالرقة" and "للرقة" meet "الرقة" as "رقه". Nothing else is stripped: a lone preposition
  stays (بحلب), since stripping ب ل ك from every word turns names into words ("بعقوبة"
  into "عقوبة", punishment; "لبنان" into "بنان"), and stacked prefixes are not peeled
  further ("البوكمال" is "بوكمال", not "مال").

Cyrillic place and group names inflect (Ракка, у Ракки; Запоріжжя, у Запоріжжі), so for
articles in Russian and Ukrainian they are also compared as stems (`NAME_STEM_LANGUAGES`):
Snowball's Russian stemmer, and for Ukrainian, which Snowball lacks, `stem_ukrainian_name`.

Everything that is not a letter, digit or combining mark separates tokens: hyphens,
apostrophes and quotes of every kind included, so "Deir ez-Zor", "Deir ez Zor" and
"Deir-ez-Zor" give the same tokens. Terms written with a hyphen or apostrophe also get a
joined variant ("Deir ezzor"); see `term_variants`. Some separators also end a phrase
(`BREAK`): a sentence end, a comma, a semicolon, a line break (`Tokens.breaks`).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import accumulate
from operator import itemgetter
from typing import TypeVar

import Stemmer

from watcher.text import kernels
from watcher.text.confusables import BIDI_CONTROLS, display_order, fold_confusables

_V = TypeVar("_V")
KERNELS = kernels.load() or kernels  # the C loops when built (text/kernels.py)
_START = itemgetter(0)

# Letters and digits, plus the combining marks that may sit inside a word (Latin, Cyrillic,
# Hebrew, Arabic) and the invisible characters that HTML text carries inside words.
_IN_WORD = (r"\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u0640\u064b-\u065f"
            r"\u0670\u06d6-\u06ed\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
            r"\u00ad\u200b-\u200f\u2060" + BIDI_CONTROLS)
_TOKEN = re.compile(rf"(?:[^\W_]|[{_IN_WORD}])+")
# The same tokens, found by one character class (twice as fast on long texts): applied to
# the text with "_" blanked out, \w is exactly [^\W_]. Blanking keeps every offset.
_TOKEN_SPLIT = re.compile(rf"([\w{_IN_WORD}]+)")
# Between two tokens, what ends a phrase: a sentence end (. ! ? … and the Arabic, Urdu and
# CJK full stops and question marks), a comma or semicolon (Latin, Arabic, CJK), a line break.
BREAK_CHARACTERS = (".!?,;\n\r\v\f\x85\u2026\u2028\u2029\u060c\u061b\u061f\u06d4"
                    "\u3001\u3002\uff01\uff0c\uff1b\uff1f")
BREAK = re.compile(f"[{re.escape(BREAK_CHARACTERS)}]")
# Characters inside a written term that mark "these tokens may also be written joined".
_JOINERS = re.compile(r"[-\u2010-\u2015\u2212'\u2018\u2019\u201b`\u00b4\u02bc\u02bb\u02be\u02bf]")

_ARABIC_FOLD = str.maketrans({
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي", "ی": "ي", "ک": "ك",
    "ؤ": "و", "ئ": "ي",
})
# Light10's definite article forms (the article alone and after و ب ك ف ل), longest first.
_ARABIC_ARTICLES = ("وال", "بال", "كال", "فال", "لل", "ال")
_MIN_ARABIC_STEM = 3  # letters left after a prefix is stripped (light10 keeps 3 after و)
# A و with no article after it is stripped only when four letters remain: most Arabic roots
# have three letters, so "و" + three is as often a word of its own as "and" + a name
# (ورقة, paper, would be الرقة; ویمن, Urdu "women", اليمن).
_MIN_LONE_WAW_REST = 4

# ISO 639-1 code -> Snowball stemmer name (PyStemmer).
STEMMERS: dict[str, str] = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german",
    "el": "greek", "en": "english", "es": "spanish", "et": "estonian", "eu": "basque",
    "fa": "persian", "fi": "finnish", "fr": "french", "ga": "irish", "hi": "hindi",
    "hu": "hungarian", "hy": "armenian", "id": "indonesian", "it": "italian",
    "lt": "lithuanian", "ne": "nepali", "nl": "dutch", "no": "norwegian", "nb": "norwegian",
    "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
    "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}
DEFAULT_LANGUAGE = "en"
# Article languages in which Cyrillic place and group names also match their inflected
# forms: the stem of every Cyrillic name token is looked for among the article's stems.
NAME_STEM_LANGUAGES = ("ru", "uk")
# A name whose stem would be shorter than this is matched as written only ("ИГИЛ" stems
# to "иг", which would also find "иго").
MIN_NAME_STEM = 3


def language_code(language: str | None) -> str:
    """`en-GB`, `EN`, None -> `en`; unknown languages are kept (they just lack a stemmer)."""
    if not language:
        return DEFAULT_LANGUAGE
    return language.strip().lower().replace("_", "-").split("-")[0] or DEFAULT_LANGUAGE


class Memo(dict[str, _V]):
    """Token -> `work(token)`, worked out on first sight; bounded (cleared when full). News
    repeats its words, and a dict lookup per token is several times cheaper than the work
    (folding, a call into the stemmer)."""

    limit = 200_000

    def __init__(self, work: Callable[[str], _V]) -> None:
        super().__init__()
        self.work = work

    def __missing__(self, token: str) -> _V:
        value = self.work(token)
        if len(self) >= self.limit:
            self.clear()
        self[token] = value
        return value


# Case endings of Ukrainian nouns and adjectives, longest first, so that "-ому" goes
# before "-у" ("-ові" is left out: Харкові is Харков + і). Final "ів", "їв" (Київ,
# Харків) alternate with "ев", "ов" (Києва, Харкова).
_UK_ENDINGS = sorted({
    "а", "я", "у", "ю", "і", "ї", "е", "є", "о", "и", "ь", "ом", "ем", "єм", "ою", "ею",
    "єю", "ам", "ям", "ах", "ях", "ами", "ями", "ий", "ій", "ого",
    "ього", "ому", "ьому", "ої", "ьої", "им", "ім", "их", "іх", "ими", "іми", "ьою",
}, key=len, reverse=True)
_UK_ALTERNATIONS = (("їв", "єв"), ("ів", "ов"))


def has_cyrillic(text: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in text)


def stem_ukrainian_name(token: str) -> str:
    """A light stem of a normalised Ukrainian token, for names: one case ending off (never
    leaving fewer than `MIN_NAME_STEM` letters), then a final "ь" off, and the closed-syllable
    "ів"/"їв" written as in the other cases: Запоріжжя, Запоріжжі -> запоріжж; Київ,
    Києві -> києв; Маріуполь, Маріуполем -> маріупол. Snowball has no Ukrainian stemmer;
    nouns and adjectives are what names are made of, so their endings are enough. Tokens in
    other scripts are returned unchanged."""
    if not has_cyrillic(token):
        return token
    for ending in _UK_ENDINGS:
        if token.endswith(ending) and len(token) - len(ending) >= MIN_NAME_STEM:
            token = token[:-len(ending)]
            break
    if token.endswith("ь") and len(token) > MIN_NAME_STEM:
        token = token[:-1]
    for written, oblique in _UK_ALTERNATIONS:
        if token.endswith(written) and len(token) > MIN_NAME_STEM:
            return token[:-len(written)] + oblique
    return token


@lru_cache(maxsize=64)
def _stems(language: str) -> Memo[str] | None:
    if language == "uk":
        return Memo(stem_ukrainian_name)
    name = STEMMERS.get(language)
    return Memo(Stemmer.Stemmer(name).stemWord) if name else None


def stemmer(language: str) -> Callable[[str], str]:
    """The stem of one normalised token in `language` (see `stem_tokens`)."""
    stems = _stems(language)
    return stems.__getitem__ if stems is not None else str


def stem_tokens(tokens: list[str], language: str) -> list[str]:
    """Stems of normalised tokens: Snowball's, and for Ukrainian (names only, see
    `stem_ukrainian_name`) a light one; tokens unchanged for a language without either."""
    stems = _stems(language)
    return list(map(stems.__getitem__, tokens)) if stems is not None else list(tokens)


def name_stem_languages(text: str) -> tuple[str, ...]:
    """Article languages in which a place or group name also matches its inflected forms:
    Russian and Ukrainian for a name in Cyrillic, none for other scripts (Latin names are
    matched as written, so Raqqa never stretches to another word)."""
    return NAME_STEM_LANGUAGES if has_cyrillic(text) else ()


def name_stems(tokens: list[str], language: str) -> list[str] | None:
    """The stems a name's normalised tokens are looked for as in `language`, or None when
    a stem would be too short to tell the name from other words."""
    stems = stem_tokens(tokens, language)
    if any(stem != token and len(stem) < MIN_NAME_STEM
           for stem, token in zip(stems, tokens, strict=True)):
        return None
    return stems


def _drops_marks(base: str) -> bool:
    # Latin and Greek accents are dropped (Mayādīn = Mayadin); Cyrillic ones are letters of
    # their own (й is not и, ї is not і), so they are kept and recomposed.
    code = ord(base)
    return code < 0x0250 or 0x0370 <= code < 0x0400 or 0x1E00 <= code < 0x2000


def _is_script_mark(ch: str) -> bool:
    # Arabic harakat and Hebrew points are always dropped.
    return "\u0591" <= ch <= "\u05c7" or "\u0610" <= ch <= "\u061a" or (
        "\u064b" <= ch <= "\u065f") or ch == "\u0670" or "\u06d6" <= ch <= "\u06ed"


def _strip_marks(text: str) -> str:
    kept: list[str] = []
    base = " "
    for ch in unicodedata.normalize("NFKD", text):
        category = unicodedata.category(ch)
        if category in ("Mn", "Me"):
            if _drops_marks(base) or _is_script_mark(ch):
                continue
        elif category == "Cf" or ch == "\u0640":
            continue
        else:
            base = ch
        kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept))


def fold_arabic_letters(token: str) -> str:
    """Arabic letter variants folded (alef forms, ta marbuta, alef maqsura, hamza seats,
    Persian kaf and yeh), nothing stripped."""
    return token.translate(_ARABIC_FOLD)


def _fold_arabic(token: str) -> str:
    token = fold_arabic_letters(token)
    if token.startswith("و") and (len(token) > _MIN_LONE_WAW_REST
                                  or token.startswith(_ARABIC_ARTICLES, 1)):
        token = token[1:]  # the conjunction "and"
    elif token.startswith("ف") and token.startswith(_ARABIC_ARTICLES, 1):
        token = token[1:]  # the conjunction "so", only where an article follows it
    for article in _ARABIC_ARTICLES:
        if token.startswith(article) and len(token) - len(article) >= _MIN_ARABIC_STEM:
            return token[len(article):]
    return token


def _has_arabic(token: str) -> bool:
    return any("\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f" for ch in token)


def _unspoof(token: str) -> str:
    return fold_confusables(display_order(token))


def _fold(token: str) -> str:
    folded = "".join(_strip_marks(_unspoof(token)).casefold().split())
    return _fold_arabic(folded) if _has_arabic(folded) else folded


_CACHE = Memo(_fold)  # token -> its comparable form


def normalize_token(token: str) -> str:
    """The comparable form of one token (see the module docstring). Never contains spaces."""
    return _CACHE[token]


def case_form(token: str) -> str:
    """A token without diacritics but with its case kept: what case-sensitive terms compare."""
    return "".join(_strip_marks(_unspoof(token)).split())


@dataclass(frozen=True)
class Tokens:
    """The tokens of one text: `spans[i]` is where token i sits in the original text."""

    text: str
    spans: list[tuple[int, int]]
    norms: list[str]

    def original(self, i: int) -> str:
        start, end = self.spans[i]
        return self.text[start:end]

    @cached_property
    def breaks(self) -> list[int]:
        """The tokens followed by a break (`BREAK`) before the next token, in order: a
        phrase whose tokens i and i + 1 are both in it does not run over such an i. Worked
        out on first use (a phrase of several tokens found, or a `near`)."""
        return KERNELS.breaks(self.text, self.spans, _BREAKS)  # type: ignore[no-any-return]

    def broken(self, first: int, last: int) -> bool:
        """Whether a break lies between tokens `first` and `last` (first <= last)."""
        breaks = self.breaks
        i = bisect_left(breaks, first)
        return i < len(breaks) and breaks[i] < last

    def clause(self, i: int) -> int:
        """How many breaks come before token `i`: tokens of one clause share this number."""
        return bisect_left(self.breaks, i)


def _separators_to_spaces() -> dict[int, str]:
    """Every character below U+3000 that is not part of a token, mapped to a space."""
    return {code: " " for code in range(0x3000)
            if code != 0x20 and not _TOKEN.fullmatch(chr(code))}


_SPACES = _separators_to_spaces()
_SEPARATORS = kernels.separator_table([*_SPACES, 0x20])  # the same, and the space
_BREAKS = kernels.separator_table(map(ord, BREAK_CHARACTERS))


def tokenize(text: str) -> Tokens:
    """Find the tokens of `text`, keeping each one's span in the original."""
    # Most news is in ASCII letters but for its punctuation (curly quotes and dashes
    # included): its tokens are then the runs between separators, and their folded form is
    # their lower case (one C loop: text/kernels.py).
    plain = KERNELS.plain_tokens(text, _SEPARATORS)
    if plain is not None:
        return Tokens(text, *plain)
    # split() with a capturing group alternates separator, token, separator...: one C call;
    # the rest are C loops too (map, accumulate, zip), since news articles are long.
    parts = _TOKEN_SPLIT.split(text.replace("_", " "))
    norms = list(map(_CACHE.__getitem__, parts[1::2]))
    bounds = list(accumulate(map(len, parts)))  # token i spans bounds[2i] to bounds[2i+1]
    spans = list(zip(bounds[0::2], bounds[1::2], strict=False))  # one bound more
    if "" in norms:  # tokens made only of invisible characters are no tokens
        kept = [i for i, norm in enumerate(norms) if norm]
        spans = [spans[i] for i in kept]
        norms = [norms[i] for i in kept]
    return Tokens(text, spans, norms)


def _originals(text: str) -> list[str]:
    return [m.group() for m in _TOKEN.finditer(text) if normalize_token(m.group())]


def term_spellings(term: str) -> list[tuple[str, ...]]:
    """Original-token sequences a written term stands for: as written, and with each
    hyphenated or apostrophised chunk joined ("Deir ez-Zor" -> Deir ez Zor, Deir ezZor)."""
    separate: list[str] = []
    joined: list[str] = []
    for chunk in term.split():
        parts = _originals(chunk)
        separate.extend(parts)
        if _JOINERS.search(chunk) and len(parts) > 1:
            joined.extend(_originals(_JOINERS.sub("", chunk)))
        else:
            joined.extend(parts)
    spellings = [tuple(separate)]
    if joined != separate and joined:
        spellings.append(tuple(joined))
    return [s for s in spellings if s]


def term_variants(term: str) -> list[tuple[str, ...]]:
    """Normalised token sequences a written term matches (see `term_spellings`)."""
    return list(dict.fromkeys(tuple(normalize_token(t) for t in spelling)
                              for spelling in term_spellings(term)))
