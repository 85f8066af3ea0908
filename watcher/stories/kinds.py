"""What kind of event an article reports: an air strike, shelling, a bombing... (pure).

    event_kinds(tokens of the headline, tokens of the lead) -> frozenset({"air", "missile"})

Two reports of one place and day are one event only if they tell of the same kind of
violence: a car bomb in Azaz and an air strike on Azaz that morning are two events, though
they share the town, the day and often the toll's words ("killed", "civilians"). The kinds
come from the headline, which names what happened; a headline naming none ("Syria attack
cannot be tolerated") takes those of its lead. Kinds from the rest of an article are not
read: a long report recalls other attacks in passing ("hours after a gas attack in Khan
Shaykhun, shelling killed 19 near Damascus").

Some words name one kind ("artillery"), others either of two ("rocket": shelling or a
missile; "bombing": from the air or a planted bomb; "strike": an air strike or a missile).
Such a word stands for both, so articles that might report one kind never conflict: two
articles differ in kind only when each names some kind and they share none (`other_kinds`).
A cue of two words ("air strike", "car bomb") is read before the single words it holds, so
"barrel bomb" is from the air and not also a planted bomb.

Cues are folded tokens (as watcher.text.normalize folds them: Arabic articles stripped,
accents dropped); a cue ending in "*" takes any ending (inflection: "обстрел*" is обстрела,
обстрелом; "shell*" is shells, shelling, shelled). English, French, Spanish, Russian,
Ukrainian and Arabic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from watcher.text.normalize import normalize_token

AIR, SHELLING, MISSILE, BLAST = "air", "shelling", "missile", "blast"
CHEMICAL, GROUND, EXECUTION, ABDUCTION = "chemical", "ground", "execution", "abduction"
KINDS = (AIR, SHELLING, MISSILE, BLAST, CHEMICAL, GROUND, EXECUTION, ABDUCTION)

# kinds -> cues, one cue a line of space-separated words ("|" between cues).
_CUES: dict[tuple[str, ...], str] = {
    (AIR,): "airstrike* | air strike* | air raid* | airraid* | air attack* | aerial* | warplane* "
            "| jets | fighter jet* | helicopter* | barrel bomb* | drone* | frappe* aerienne* "
            "| raid* aerien* | bombardement* aerien* | avion* | ataque* aereo* "
            "| bombardeo* aereo* | avione* | авиаудар* | авиаудар | авиаци* | авиналет* "
            "| авіаудар* | авіаці* | дрон* | беспилотник* | безпілотник* | غاره | غارات "
            "| طيران | طائرات | طائره | براميل | برميل | مسيره | مسيرات | قصف جوي",
    (SHELLING,): "shelling | shelled | shells | shell | artillery | mortar* | howitzer* "
                 "| obus | artillerie | mortier* | artilleria | obuse* | morter* "
                 "| обстрел* | артиллери* | миномет* | обстріл* | артилері* | міномет* "
                 "| قذائف | قذيفه | مدفعي* | قصف مدفعي | هاون",
    (SHELLING, MISSILE): "rocket* | roquette* | cohete* | ракет* | صاروخ* | صواريخ",
    (MISSILE,): "missile* | missile strike* | cruise missile* | tomahawk* | ballistic* | misil* "
                "| крылат* | балистическ* | крилат* | балістичн*",
    (AIR, SHELLING): "bombardment* | bombarded | bombard | bombardement* | bombardeo* "
                     "| قصف",
    (AIR, MISSILE, SHELLING): "strike | strikes | struck | frappe | frappes | удар | удары "
                              "| удару",
    (AIR, BLAST): "bomb | bombs | bombing* | bombe | bombes | bomba | bombas",
    (AIR, GROUND): "raid | raids",
    (BLAST,): "car bomb* | suicide* | bomber* | explosion* | explosive* | explode* | blast* "
              "| ied | ieds | landmine* | land mine* | mines | booby trap* | attentat* "
              "| voiture* piegee* | kamikaze* | coche* bomba* | explosi* | atentado* "
              "| взрыв* | смертник* | вибух* | смертни* | تفجير* | انفجار* | مفخخ* "
              "| انتحاري* | ناسف* | الغام",
    (CHEMICAL,): "chemical* | gas | gases | toxic* | chlorine | sarin | nerve agent* "
                 "| poison gas | chimique* | gaz | quimic* | химическ* | хіміч* | зарин* "
                 "| хлор | كيماوي* | كيميائي* | غاز | سام | سامه | كلور | سارين",
    (GROUND,): "clash* | fighting | battle* | firefight* | gunfight* | ambush* | offensive "
               "| combats | affrontement* | embuscade* | enfrentamiento* | combate* "
               "| emboscada* | бои | боев* | столкновени* | бої | зіткнен* | засад* "
               "| اشتباك* | اشتباكات | معارك | معركه | كمين",
    (EXECUTION,): "execut* | beheaded | beheading* | behead* | execute* | ejecut* "
                  "| fusill* | казн* | расстрел* | страт* | розстріл* | اعدام* | اعدم",
    (ABDUCTION,): "kidnap* | abduct* | hostage* | enlev* | otage* | secuestr* | rehen* "
                  "| похищ* | похит* | заложник* | викрад* | заручник* | اختطاف | خطف "
                  "| مختطف* | رهائن",
}


Cue = tuple[tuple[str, ...], frozenset[str]]  # folded words ("*": any ending), kinds


@dataclass(frozen=True)
class _Index:
    """The cues by their first word: exactly, or by the prefix it must start with."""

    exact: dict[str, list[Cue]]
    prefixed: dict[str, list[Cue]]
    prefix_lengths: tuple[int, ...]

    def starting(self, token: str) -> tuple[Cue, ...]:
        """The cues whose first word fits `token`, longest first."""
        found = list(self.exact.get(token, ()))
        for length in self.prefix_lengths:
            found.extend(self.prefixed.get(token[:length], ()))
        return tuple(sorted(found, key=lambda cue: -len(cue[0])))


@lru_cache(maxsize=1)
def _index() -> _Index:
    exact: dict[str, list[Cue]] = {}
    prefixed: dict[str, list[Cue]] = {}
    for kinds, cues in _CUES.items():
        for cue in cues.split("|"):
            words = tuple(_fold_cue_word(w) for w in cue.split())
            first = words[0]
            if first.endswith("*"):
                prefixed.setdefault(first[:-1], []).append((words, frozenset(kinds)))
            else:
                exact.setdefault(first, []).append((words, frozenset(kinds)))
    return _Index(exact, prefixed, tuple(sorted({len(p) for p in prefixed})))


def _fold_cue_word(word: str) -> str:
    prefix = word.endswith("*")
    folded = normalize_token(word.rstrip("*"))
    return folded + "*" if prefix else folded


def _fits(cue_word: str, token: str) -> bool:
    if cue_word.endswith("*"):
        return token.startswith(cue_word[:-1])
    return token == cue_word


@lru_cache(maxsize=1 << 16)
def _starting(token: str) -> tuple[Cue, ...]:
    return _index().starting(token)  # news repeats its words: remembered per token


def kinds_named(tokens: Sequence[str]) -> frozenset[str]:
    """The kinds the cues among these folded tokens name (a two-word cue before one)."""
    kinds: set[str] = set()
    i = 0
    while i < len(tokens):
        step = 1
        for words, named in _starting(tokens[i]):
            window = tokens[i:i + len(words)]
            if len(window) == len(words) and all(
                    _fits(w, t) for w, t in zip(words, window, strict=True)):
                kinds |= named
                step = len(words)
                break
        i += step
    return frozenset(kinds)


def event_kinds(headline: Sequence[str], lead: Sequence[str]) -> frozenset[str]:
    """The kinds of event an article reports: its headline's, else its lead's."""
    return kinds_named(headline) or kinds_named(lead)


def other_kinds(a: frozenset[str], b: frozenset[str]) -> bool:
    """Do two articles report different kinds of event (each names some, none shared)?"""
    return bool(a and b and not a & b)
