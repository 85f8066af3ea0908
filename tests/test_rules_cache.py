"""The cache of loaded rule sets: a hit is the uncached load, any change misses, a damaged
or unsafe entry or folder is never used and never an error."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest

from watcher.config.settings import Config
from watcher.rules import load as load_module
from watcher.rules.cache import MAGIC, RuleCache
from watcher.rules.load import RuleSet, load_rules
from watcher.service.reload import RuleReloader

SHIPPED = Path(__file__).resolve().parent.parent / "rules"

LISTS = "lists:\n  arms: [mortar, rocket]\n"
RULES = """rules:
  - id: shelling
    title: Shelling
    severity: high
    match:
      all:
        - words: ["@arms"]
        - places: [Nowhereville]
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(SHIPPED, folder)
    (folder / "mine-lists.yaml").write_text(LISTS)
    (folder / "mine.yaml").write_text(RULES)  # an unknown place: a warning
    return folder


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the loads that did not come from the cache."""
    counted: list[int] = []
    real = load_module._load_rules

    def counting(*args: object) -> RuleSet:
        counted.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(load_module, "_load_rules", counting)
    return counted


def same(a: RuleSet, b: RuleSet) -> None:
    assert a.rules == b.rules
    assert a.problems == b.problems
    assert a.lists == b.lists
    assert a.gazetteer.places == b.gazetteer.places
    assert a.gazetteer.groups == b.gazetteer.groups
    assert a.gazetteer.world is b.gazetteer.world
    assert a.gazetteer.find("place", "Aleppo") == b.gazetteer.find("place", "Aleppo")


def entries(cache: RuleCache) -> list[Path]:
    return sorted(cache.folder.glob("*.rules"))


def test_a_hit_is_the_uncached_load(rules_dir: Path, tmp_path: Path,
                                    loads: list[int]) -> None:
    cache = RuleCache(tmp_path / "cache")
    first = load_rules([rules_dir], cache=cache)
    hit = load_rules([rules_dir], cache=cache)
    assert len(loads) == 1 and len(entries(cache)) == 1
    uncached = load_rules([rules_dir])
    assert any(p.severity == "warning" for p in uncached.problems)
    same(hit, uncached)
    same(first, uncached)
    assert (cache.folder.stat().st_mode & 0o777) == 0o700


@pytest.mark.parametrize("name, edit", [
    ("mine.yaml", lambda text: text.replace("title: Shelling", "title: Shelled")),
    ("mine-lists.yaml", lambda text: text.replace("rocket", "howitzer")),
])
def test_an_edit_of_a_rule_or_list_file_misses(rules_dir: Path, tmp_path: Path,
                                               loads: list[int], name: str,
                                               edit: object) -> None:
    cache = RuleCache(tmp_path / "cache")
    before = load_rules([rules_dir], cache=cache)
    path = rules_dir / name
    path.write_text(edit(path.read_text()))  # type: ignore[operator]
    after = load_rules([rules_dir], cache=cache)
    assert len(loads) == 2
    same(after, load_rules([rules_dir]))
    assert after.rules != before.rules


def test_texts_given_are_part_of_the_key(tmp_path: Path) -> None:
    cache = RuleCache(tmp_path / "cache")
    one = load_rules([], {"l.yaml": LISTS, "a.yaml": RULES}, cache)
    two = load_rules([], {"l.yaml": LISTS, "a.yaml": RULES.replace("high", "low")}, cache)
    assert one.rules[0].severity == "high" and two.rules[0].severity == "low"
    assert load_rules([], {"l.yaml": LISTS, "b.yaml": RULES}, cache).rules[0].path == "b.yaml"


def damage_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def damage_flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-50] ^= 0xFF
    path.write_bytes(bytes(data))


def damage_foreign(path: Path) -> None:
    path.write_bytes(pickle.dumps({"not": "a rule set"}))


def damage_other_key(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(MAGIC + bytes(32) + data[len(MAGIC) + 32:])


def damage_empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [damage_truncate, damage_flip, damage_foreign,
                                    damage_other_key, damage_empty])
def test_a_damaged_entry_is_ignored_and_rewritten(rules_dir: Path, tmp_path: Path,
                                                  loads: list[int], damage: object) -> None:
    cache = RuleCache(tmp_path / "cache")
    load_rules([rules_dir], cache=cache)
    [entry] = entries(cache)
    good = entry.read_bytes()
    damage(entry)  # type: ignore[operator]
    again = load_rules([rules_dir], cache=cache)
    same(again, load_rules([rules_dir]))
    assert len(loads) == 3  # first, damaged (a miss), uncached
    assert entry.read_bytes() == good
    load_rules([rules_dir], cache=cache)
    assert len(loads) == 3


def test_a_wrong_object_of_the_right_shape_is_not_used(rules_dir: Path, tmp_path: Path,
                                                      loads: list[int]) -> None:
    """An entry whose checksum holds but whose object is not a rule set is a miss."""
    cache = RuleCache(tmp_path / "cache")
    load_rules([rules_dir], cache=cache)
    [entry] = entries(cache)
    key = bytes.fromhex(entry.stem)
    cache.put(key, ["a list"])
    same(load_rules([rules_dir], cache=cache), load_rules([rules_dir]))
    assert len(loads) == 3


def test_a_file_with_errors_is_never_cached(tmp_path: Path, loads: list[int]) -> None:
    cache = RuleCache(tmp_path / "cache")
    broken = RULES.replace("@arms", "@nosuchlist")
    first = load_rules([], {"a.yaml": broken}, cache)
    assert not first.ok and entries(cache) == []
    second = load_rules([], {"a.yaml": broken}, cache)
    assert second.problems == first.problems and len(loads) == 2


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_a_folder_others_can_write_is_not_used(rules_dir: Path, tmp_path: Path,
                                               loads: list[int], mode: int) -> None:
    folder = tmp_path / "cache"
    private = RuleCache(folder)
    load_rules([rules_dir], cache=private)
    [entry] = entries(private)
    folder.chmod(mode)
    assert not private.usable()
    same(load_rules([rules_dir], cache=private), load_rules([rules_dir]))
    assert len(loads) == 3
    assert entries(private) == [entry]


def test_a_folder_or_entry_of_another_user_is_not_used(rules_dir: Path, tmp_path: Path,
                                                       loads: list[int]) -> None:
    if os.getuid() != 0:
        pytest.skip("changing owners needs root")
    folder = tmp_path / "cache"
    cache = RuleCache(folder)
    load_rules([rules_dir], cache=cache)
    [entry] = entries(cache)
    os.chown(entry, 12345, -1)
    load_rules([rules_dir], cache=cache)
    assert len(loads) == 2  # the entry is not ours: a miss (and rewritten as ours)
    assert entry.stat().st_uid == 0
    os.chown(folder, 12345, -1)
    assert not cache.usable()
    load_rules([rules_dir], cache=cache)
    assert len(loads) == 3


def test_a_group_writable_entry_is_not_used(rules_dir: Path, tmp_path: Path,
                                            loads: list[int]) -> None:
    cache = RuleCache(tmp_path / "cache")
    load_rules([rules_dir], cache=cache)
    [entry] = entries(cache)
    entry.chmod(0o664)
    load_rules([rules_dir], cache=cache)
    assert len(loads) == 2


def test_a_folder_that_cannot_be_created_turns_the_cache_off(rules_dir: Path,
                                                             tmp_path: Path) -> None:
    """As on a read-only file system: loading works, uncached, without an error."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = RuleCache(blocker / "cache")
    assert not cache.usable()
    same(load_rules([rules_dir], cache=cache), load_rules([rules_dir]))


def test_a_folder_that_cannot_be_written_still_loads(rules_dir: Path, tmp_path: Path) -> None:
    """A private folder that cannot be written (a read-only volume): loads, uncached."""
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o500)
    if os.access(folder, os.W_OK):
        pytest.skip("root writes anyway (the folder that cannot be created covers root)")
    cache = RuleCache(folder)
    assert cache.usable()
    same(load_rules([rules_dir], cache=cache), load_rules([rules_dir]))
    assert entries(cache) == []


def test_the_service_loads_through_the_cache(rules_dir: Path, tmp_path: Path,
                                             loads: list[int]) -> None:
    cache = RuleCache(tmp_path / "cache")
    first = RuleReloader([rules_dir], cache=cache).reload()
    second = RuleReloader([rules_dir], cache=cache).reload()
    assert len(loads) == 1
    assert first.problems == second.problems and first.rules == second.rules


def test_the_default_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = Config(base_dir=tmp_path, state="var/w.db")
    assert config.rules_cache_folder() == tmp_path / "var" / "rules-cache"
    assert Config(base_dir=tmp_path, rules_cache_dir="off").rules_cache_folder() is None
    assert Config(base_dir=tmp_path, rules_cache_dir="c").rules_cache_folder() == (
        tmp_path / "c")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    shared = Config(base_dir=tmp_path, state="postgresql://db/w")
    assert shared.rules_cache_folder() == tmp_path / "xdg" / "watcher" / "rules"
