"""Build the stories' word weights (watcher/stories/data/<language>.words.gz) from wordfreq.

    .venv/bin/python tools/build_word_weights.py

Stories weigh an article's words by how rare they are in its language (a rare word, a place
or a weapon, says more about an event than "killed" or "said"). The service reads these
small files instead of importing wordfreq (a dev dependency), which costs ~30 MB of memory
and a second of start. Each file lists the 10,000 most frequent words of one language,
most frequent first, each with its Zipf frequency in tenths (`57\tkilled`): a word not listed
is rarer than every listed one. Words are folded by the matcher's normaliser (as articles'
tokens are) and listed once; tests/test_stories.py checks that the committed files are what
this script makes, so a change of normaliser shows.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from wordfreq import top_n_list, zipf_frequency

from watcher.text.normalize import normalize_token

OUT = Path(__file__).resolve().parent.parent / "watcher" / "stories" / "data"
# The languages of the news we read whose words are split by spaces.
LANGUAGES = ("ar", "de", "en", "es", "fa", "fr", "he", "it", "nl", "pl", "pt", "ru", "tr", "uk")
WORDS = 10_000


def build(language: str) -> bytes:
    """The file of one language (gzip with mtime 0: the same inputs give the same bytes)."""
    lines, seen = [], set()
    for word in top_n_list(language, WORDS):
        norm = normalize_token(word)
        if norm and norm not in seen:
            seen.add(norm)
            lines.append(f"{round(zipf_frequency(word, language) * 10)}\t{norm}\n")
    return gzip.compress("".join(lines).encode(), mtime=0)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for language in LANGUAGES:
        (OUT / f"{language}.words.gz").write_bytes(build(language))
        print(f"{language}: done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
