"""GeoNames places merged into curated entries (rules/terms.py `Gazetteer._merged_into`) are
worked out lazily, a place at a time; they must be the places the eager rule names: every
world place that a curated entry of its country within MERGE_KM spells."""

from __future__ import annotations

from pathlib import Path

from watcher.rules.load import load_rules
from watcher.rules.terms import MERGE_KM, _km, term_from_spec
from watcher.text.normalize import term_variants

RULES = Path(__file__).resolve().parent.parent / "rules"


def test_every_world_place_is_merged_as_the_eager_rule_says() -> None:
    gazetteer = load_rules([RULES]).gazetteer
    world = gazetteer.world
    assert world is not None
    eager: dict[int, set[str]] = {}
    for entry in gazetteer.places.values():
        for spec in [entry.name, *entry.aliases]:
            for variant in term_variants(term_from_spec(spec).text):
                for number in world.numbers_named(variant):
                    city = world.place(number)
                    if city.country == entry.country and (
                            _km(city.lat, city.lon, entry.lat, entry.lon) <= MERGE_KM):
                        eager.setdefault(number, set()).add(entry.name)
    assert len(eager) > 100  # the shipped lists merge a few hundred GeoNames places
    lazy = {n: name for n in range(world.files.count)
            if (name := gazetteer._merged_into(world.place(n))) is not None}
    assert lazy.keys() == eager.keys()
    assert all(name in eager[n] for n, name in lazy.items())


def test_a_merged_city_lends_its_id_to_the_curated_place_and_is_not_found_itself() -> None:
    gazetteer = load_rules([RULES]).gazetteer
    assert gazetteer.place("Hawija").geonameid == 390188  # GeoNames' Al Ḩawījah
    assert gazetteer.find("place", "Al Hawijah") is None  # not the GeoNames duplicate
