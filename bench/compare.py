"""Matching speed of this checkout against another one, in one process, runs alternated.

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/compare.py /tmp/before [--rules 10000] [--rounds 25] [--own-lists]

This machine's speed drifts by a third within minutes, so two runs of bench/match.py taken
apart compare the machine as much as the code. Here both versions match the same articles
against the same synthetic rules (bench/match.py's, built once per version) turn by turn,
and the figure is the median of the per-round ratios of their CPU times: a drift slows both
alike. The other checkout's `watcher` package is copied under another name so that both
can be imported at once. Before timing, both match every article once (so that caches and
anything a matcher learns are warm, as in a running service) and the rules that fire, with
their matched terms, are compared, and so is `watcher match`'s output (every alert's JSON,
places, groups and story included, at one fixed time): a change meant to be faster must
not change them.
Both use this checkout's rules/lists, unless `--own-lists` gives each its own (to measure
what a change to the lists costs): the synthetic rules are then drawn from the other
checkout's lists for both, so that both match the same rules, each beside its own gazetteer
(what fires may differ, as the lists do).
"""

from __future__ import annotations

import argparse
import importlib
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.match import load_articles, synthesise  # noqa: E402

Signature = list[list[tuple[str, list[tuple[str, str, int, int]]]]]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # the time alerts are said to be made


def _module(package: str, *names: str) -> Any:
    """The first of `names` that `package` has: the layout of issue 13, then the flat one."""
    for name in names:
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError:
            continue
    raise ModuleNotFoundError(f"{package} has none of {names}")


def copy_package(source: Path, target: Path) -> None:
    """`source` copied as package `target.name`, its absolute `watcher` imports renamed."""
    shutil.copytree(source, target)
    for path in target.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        renamed = re.sub(r"^(\s*)(from|import) watcher\b", rf"\1\2 {target.name}", text,
                         flags=re.MULTILINE)
        if renamed != text:
            path.write_text(renamed, encoding="utf-8")


def prepare(package: str, size: int, lists: Path = ROOT / "rules" / "lists",
            drawn_from: Path | None = None
            ) -> tuple[Callable[[], object], Signature, list[str] | None]:
    """A function matching every article once with `package`'s matcher, what fired, and
    the JSON lines `watcher match` prints for the articles (None for a checkout older than
    stories, whose alerts have none). The synthetic rules name places
    and groups of `drawn_from` (default: `lists`)."""
    rules = _module(package, "rules.load", "rules")
    match = _module(package, "matching.matcher", "match")
    models = importlib.import_module(f"{package}.models")
    articles, _ = load_articles(None)
    gazetteer, text, _ = synthesise(size, rules.load_rules([drawn_from or lists]), articles)
    ruleset = rules.load_rules([lists], {"villages.yaml": gazetteer, "synthetic.yaml": text})
    matcher = match.compile_rules(ruleset)
    own = [models.Article(key=a.key, title=a.title, content=a.content) for a in articles]
    found: list[Any] = [match.match_article(matcher, a) for a in own]
    signature = [[(h.rule.id, [(t.term, t.field, t.start, t.end) for t in h.matched])
                  for h in f.hits] for f in found]
    try:
        stories = _module(package, "cli.match_cmd").alerts_in_stories
    except (ModuleNotFoundError, AttributeError):  # older than stories (issue 15)
        printed = None
    else:
        printed = [alert.to_json() for alert in stories(matcher, own, 3600.0, NOW)]
    return (lambda: [match.match_article(matcher, a) for a in own]), signature, printed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="a checkout of another commit")
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--own-lists", action="store_true",
                        help="each checkout matches with its own rules/lists")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        copy_package(args.other / "watcher", Path(tmp) / "watcher_other")
        sys.path.insert(0, tmp)
        other_lists = (args.other if args.own_lists else ROOT) / "rules" / "lists"
        this, this_fired, this_printed = prepare("watcher", args.rules, drawn_from=other_lists)
        other, other_fired, other_printed = prepare("watcher_other", args.rules, other_lists)
    count = len(this_fired)
    compared = this_printed is not None and other_printed is not None
    same_output = not compared or this_printed == other_printed
    print(f"{count} articles, {args.rules} rules; same rules fire with the same terms: "
          f"{'yes' if this_fired == other_fired else 'NO'}; `watcher match` output "
          + (f"({len(this_printed or [])} alerts) byte for byte the same: "
             f"{'yes' if same_output else 'NO'}" if compared else "not compared (the other "
             "checkout predates stories)"))
    times: dict[str, list[float]] = {"this": [], "other": []}
    for _ in range(args.rounds):
        for name, work in (("this", this), ("other", other)):
            start = time.process_time()
            work()
            times[name].append(time.process_time() - start)
    for name, spent in times.items():
        print(f"{name:>5}: median {count / statistics.median(spent):,.0f} articles/s, "
              f"best {count / min(spent):,.0f}")
    ratios = [o / t for t, o in zip(times["this"], times["other"], strict=True)]
    print(f"this checkout is {statistics.median(ratios):.2f}x the other's speed "
          f"(median of {args.rounds} paired rounds)")
    same = this_fired == other_fired and same_output
    return 0 if same or args.own_lists else 1


if __name__ == "__main__":
    raise SystemExit(main())
