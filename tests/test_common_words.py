"""The common-word check of rule loading answers as wordfreq does, with or without asking it
(rules/checks.py `is_common`)."""

from __future__ import annotations

import random

import wordfreq

from watcher.rules.checks import COMMON_WORD_ZIPF, is_common, word_zipf


def test_common_words_are_those_wordfreq_rates_common() -> None:
    rng = random.Random(19)
    for language in ("en", "fr", "de", "es", "ar", "ru", "tr", "pt", "xx"):
        try:
            words = wordfreq.top_n_list(language, 2000)
        except LookupError:
            words = []
        texts = [*words, *(" ".join(rng.sample(words[:300], 2)) for _ in range(300) if words),
                 "the", "of the", "said", "convoy", "u s", "ceasefire violations", "I", "Said",
                 "in 2024", "zzzz qqq", "l'armée"]
        for text in texts:
            assert is_common(text, language) == (
                word_zipf(text, language) >= COMMON_WORD_ZIPF), (language, text)
