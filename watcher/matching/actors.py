"""Which actor a spelling means when several share it, from what the article says.

One spelling may name several actors of the gazetteer: SNA is the Syrian National Army and
the Somali National Army, ADF the Allied Democratic Forces (DR Congo, Uganda) and the
Ambazonia Defence Forces (Cameroon), ISF Iraq's security forces and Lebanon's police. The
matcher finds every one of them at the same place in the text; `ActorResolver.resolve` then
keeps the one the article supports, scoring each candidate by

1. the same actor named unambiguously elsewhere in the article ("the Somali National Army
   (SNA)"): decisive;
2. the places the article names in its region: the curated places the matcher found, and
   the countries (names and demonyms: "Somalia", "Somali") and GeoNames cities the world
   layer finds, each mention counted;
3. the other actors the article names that operate in its region (al-Shabaab for the
   Somali army, the PMF for Iraq's ISF);
4. the article's language, where it is spoken in the region (a tie-breaker only).

The candidate with the highest score wins if it has any support and no other candidate
ties with it; the others are dropped at that place, so a rule that names the loser does not
fire there. With no support, or a tie, nothing is guessed: every candidate stays for the
rules (a rule that names SNA fires, as it did before the world catalogue), and none is
listed among the alert's groups.

This runs only for an article in which two actors share a found spelling, so the cost of the
world layer's scan falls on few articles.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from watcher.gazetteer.geonames import Occurrence
from watcher.rules.terms import Gazetteer
from watcher.text.normalize import Tokens

# Whom each score rewards (see the module's docstring).
NAMED_ELSEWHERE = 1000
PER_PLACE_MENTION = 10
PER_ALLY = 5
LANGUAGE = 1

# Where a feed's language is spoken, for the tie-breaker: the countries the catalogue's
# shared spellings are in, not a census.
_ARABIC = "DZ BH DJ EG IQ JO KW LB LY MA MR OM PS QA SA SD SO SY TD TN AE YE EH"
_FRENCH = "FR BE CH CA HT BF BI BJ CD CF CG CI CM DJ GA GN KM MG ML NE RW SN TD TG"
LANGUAGE_COUNTRIES: dict[str, frozenset[str]] = {code: frozenset(countries.split()) for
                                                 code, countries in {
    "ar": _ARABIC, "fr": _FRENCH,
    "so": "SO ET KE DJ", "sw": "KE TZ UG CD BI RW MZ", "am": "ET", "ha": "NG NE CM TD",
    "pt": "MZ AO GW BR PT TL", "es": "CO VE MX PE SV HN GT NI EC ES",
    "ru": "RU UA BY KZ KG TJ GE AM AZ MD", "uk": "UA", "my": "MM", "th": "TH",
    "km": "KH", "fa": "IR AF", "ps": "AF PK", "ur": "PK IN", "hi": "IN", "bn": "BD IN",
    "tl": "PH", "id": "ID", "he": "IL", "tr": "TR CY", "ku": "IQ SY TR IR",
}.items()}


@dataclass(frozen=True)
class ActorResolver:
    """The term ids of actors that share a spelling, and what resolving them needs."""

    gazetteer: Gazetteer
    shared: frozenset[int]  # group term ids whose entry shares a spelling with another
    regions: dict[int, frozenset[str]]  # every group term id -> its region
    place_countries: dict[int, str]  # every curated place term id -> its country

    @classmethod
    def build(cls, gazetteer: Gazetteer, entry_terms: Iterable[tuple[int, str, str]]
              ) -> ActorResolver:
        """From the matcher's (term id, kind, entry name) of every gazetteer entry."""
        shared_names = {name for names in gazetteer.shared_group_spellings()
                        for name in names}
        regions: dict[int, frozenset[str]] = {}
        places: dict[int, str] = {}
        shared: set[int] = set()
        for term_id, kind, name in entry_terms:
            if kind == "group":
                regions[term_id] = frozenset(gazetteer.groups[name].region)
                if name in shared_names:
                    shared.add(term_id)
            elif (country := gazetteer.country(name)) is not None:
                places[term_id] = country
        return cls(gazetteer, frozenset(shared), regions, places)

    def resolve(self, found: dict[int, set[Occurrence]], tokenized: list[Tokens | None],
                language: str) -> frozenset[tuple[int, Occurrence]]:
        """Keep, where several actors were found at one place, the one the article supports
        (the others' occurrence there is removed from `found`). Return the occurrences left
        undecided: they stay for the rules but are not listed."""
        if self.shared.isdisjoint(found):
            return frozenset()
        by_place: dict[Occurrence, list[int]] = {}
        for term_id in self.shared.intersection(found):
            for occurrence in found[term_id]:
                by_place.setdefault(occurrence, []).append(term_id)
        contests = {occ: ids for occ, ids in by_place.items() if len(ids) > 1}
        if not contests:
            return frozenset()
        countries = self._countries(found, tokenized)
        named = {term_id for term_id in self.regions.keys() & found.keys()
                 if any(occ not in contests for occ in found[term_id])}
        spoken = LANGUAGE_COUNTRIES.get(language, frozenset())
        undecided: set[tuple[int, Occurrence]] = set()
        for occurrence, ids in contests.items():
            scores = {term_id: self._score(term_id, named, countries, spoken) for term_id in ids}
            best = max(scores.values())
            winners = [term_id for term_id, score in scores.items() if score == best]
            if best <= 0 or len(winners) > 1:
                undecided.update((term_id, occurrence) for term_id in ids)
                continue
            for term_id in ids:
                if term_id != winners[0]:
                    found[term_id].discard(occurrence)
                    if not found[term_id]:
                        del found[term_id]
        return frozenset(undecided)

    def _score(self, term_id: int, named: set[int], countries: Counter[str],
               spoken: frozenset[str]) -> int:
        region = self.regions[term_id]
        allies = sum(1 for other in named if other != term_id and region & self.regions[other])
        return (NAMED_ELSEWHERE * (term_id in named)
                + PER_PLACE_MENTION * sum(countries[code] for code in region)
                + PER_ALLY * allies
                + LANGUAGE * bool(region & spoken))

    def _countries(self, found: dict[int, set[Occurrence]],
                   tokenized: list[Tokens | None]) -> Counter[str]:
        """How often the article names a place of each country: curated places, and the
        country names and GeoNames cities of the world layer."""
        counts: Counter[str] = Counter()
        taken: list[Occurrence] = []
        for term_id in self.place_countries.keys() & found.keys():
            counts[self.place_countries[term_id]] += len(found[term_id])
            taken.extend(found[term_id])
        world = self.gazetteer.world
        if world is None:
            return counts
        for index, tokens in enumerate(tokenized):
            if tokens is not None:
                for hit in world.scan(tokens, index):
                    counts.update(hit.countries)
        for _, key in self.gazetteer.world_mentions(tokenized, taken, set(counts)):
            country = self.gazetteer.country(key)
            if country is not None:
                counts[country] += 1
        return counts
