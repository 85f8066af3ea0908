"""Loading 10,000 rules: uncached, into an empty cache (cold), and from the cache (warm).

    .venv/bin/python bench/load.py [--rules 10000] [--files 100] [--runs 5]

The rules are the hit-dense workload's (bench/dense.py: one rule per term), written as
`--files` rule files in a temporary folder beside a copy of the shipped lists
(rules/lists), loaded as the service loads them (`load_rules` of the folder). Each figure
is the median CPU time (`time.process_time`) of `--runs` loads in this process, after one
load that maps the world gazetteer (shared by every load of a process):

- uncached: `load_rules` without a cache, as before the cache existed;
- cold: into an empty cache folder (the load, plus hashing the files and writing the entry);
- warm: from the cache (hashing the files, reading and unpickling the entry);
- one file edited: the cache holds the set before one of the files changed.

"ratio" is uncached / warm, both measured in this run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from dense import build  # noqa: E402

from watcher.rules.load import RuleCache, load_rules  # noqa: E402


def cpu(runs: int, before: Callable[[], object], work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        before()
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return statistics.median(times)


def write_rules(folder: Path, rules: int, files: int) -> list[Path]:
    lines = build(articles=400).rules_yaml(rules).splitlines()[1:]
    per_rule = 4  # lines of one rule in rules_yaml
    chunks = [lines[i:i + per_rule] for i in range(0, len(lines), per_rule)]
    size = -(-len(chunks) // files)
    paths = []
    for n in range(files):
        part = [line for chunk in chunks[n * size:(n + 1) * size] for line in chunk]
        path = folder / f"dense-{n:03d}.yaml"
        path.write_text("rules:\n" + "\n".join(part) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "rules"
        shutil.copytree(ROOT / "rules" / "lists", folder / "lists")
        paths = write_rules(folder, args.rules, args.files)
        cache = RuleCache(Path(tmp) / "cache")
        ruleset = load_rules([folder])  # maps the world gazetteer, once per process
        assert ruleset.ok and len(ruleset.rules) >= args.rules, ruleset.problems[:3]

        def empty() -> None:
            shutil.rmtree(cache.folder, ignore_errors=True)

        def edit_one() -> None:
            empty()
            load_rules([folder], cache=cache)
            with paths[0].open("a", encoding="utf-8") as f:
                f.write("# edited\n")

        uncached = cpu(args.runs, lambda: None, lambda: load_rules([folder]))
        cold = cpu(args.runs, empty, lambda: load_rules([folder], cache=cache))
        warm = cpu(args.runs, lambda: None, lambda: load_rules([folder], cache=cache))
        edited = cpu(args.runs, edit_one, lambda: load_rules([folder], cache=cache))
        same = load_rules([folder], cache=cache)
        fresh = load_rules([folder])
        assert same.rules == fresh.rules and same.problems == fresh.problems
    print(f"{len(ruleset.rules):,} rules in {args.files} files, CPU s, median of {args.runs}")
    print(f"{'uncached':>16} {uncached:8.3f}")
    print(f"{'cold':>16} {cold:8.3f}")
    print(f"{'warm':>16} {warm:8.3f}")
    print(f"{'one file edited':>16} {edited:8.3f}")
    print(f"{'ratio':>16} {uncached / warm:8.1f}x")


if __name__ == "__main__":
    main()
