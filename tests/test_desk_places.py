"""A desk's own gazetteers: a GeoNames extract and a CSV, validated with FILE:LINE:COL,
named by rules, listed in alerts, loaded from the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.config.settings import Config
from watcher.matching.matcher import compile_rules, match_article
from watcher.models import Article
from watcher.rules.load import load_rules

ROOT = Path(__file__).resolve().parent.parent

# Two places of an invented desk, in the GeoNames dump's 19 tab-separated columns; the
# third line is a stream (class H), which is not kept.
EXTRACT = "\n".join("\t".join(columns) for columns in [
    ["9000001", "Kamp Wadi Sirr", "Kamp Wadi Sirr", "Wadi Sirr Camp,مخيم وادي السر", "15.61",
     "32.53", "S", "CMP", "SD", "", "", "", "", "", "0", "", "380", "Africa/Khartoum",
     "2024-01-01"],
    ["9000002", "Umm Tirga", "Umm Tirga", "Um Tirga", "13.45", "25.35", "P", "PPL", "SD", "",
     "", "", "", "", "800", "", "700", "Africa/Khartoum", "2024-01-01"],
    ["9000003", "Khor Tirga", "Khor Tirga", "", "13.40", "25.30", "H", "STM", "SD", "", "", "",
     "", "", "0", "", "690", "Africa/Khartoum", "2024-01-01"],
]) + "\n"
CSV = """name,alternate names,lat,lon,country,kind
Checkpoint Zulu-7,Zulu 7 checkpoint|حاجز زولو,12.05,24.88,SD,site
Goz Minu,Goz Menu,12.31,24.71,SD,town
"""
RULE = """\
rules:
  - id: camp
    title: Wadi Sirr camp
    severity: high
    match: {places: [Kamp Wadi Sirr], words: [shelling]}
"""


@pytest.fixture
def desk(tmp_path: Path) -> tuple[Path, Path]:
    extract = tmp_path / "SD.txt"
    extract.write_text(EXTRACT, encoding="utf-8")
    places = tmp_path / "desk.csv"
    places.write_text(CSV, encoding="utf-8")
    return extract, places


def test_rules_name_desk_places_and_alerts_list_them(desk: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    rule = tmp_path / "rule.yaml"
    rule.write_text(RULE, encoding="utf-8")
    ruleset = load_rules([ROOT / "rules" / "lists", rule, *desk])
    assert ruleset.ok, ruleset.problems
    matcher = compile_rules(ruleset)
    found = match_article(matcher, Article(
        key="k", title="Shelling near Wadi Sirr Camp",
        content="Residents of Umm Tirga and Goz Menu fled past the Zulu 7 checkpoint."))
    assert [hit.rule.id for hit in found.hits] == ["camp"]
    assert [(p.name, p.country, p.kind) for p in found.places] == [
        ("Kamp Wadi Sirr", "SD", "city"), ("Umm Tirga", "SD", "city"),
        ("Goz Minu", "SD", "city"), ("Checkpoint Zulu-7", "SD", "city")]
    assert ruleset.gazetteer.find("place", "مخيم وادي السر") == "Kamp Wadi Sirr"
    assert ruleset.gazetteer.find("place", "Khor Tirga") is None  # a stream: not kept


def test_bad_lines_are_reported_with_file_line_and_column(tmp_path: Path) -> None:
    places = tmp_path / "desk.csv"
    places.write_text("name,alternate names,lat,lon,country,kind\n"
                      "Goz Minu,,12.31,24.71,SD,town\n"
                      "Broken,,north,24.71,SD,town\n"
                      "Far Away,,95.5,24.71,SD,town\n"
                      "Two Columns,x\n"
                      "Odd Kind,,12.0,24.0,sd,hamlet\n", encoding="utf-8")
    extract = tmp_path / "XX.txt"
    extract.write_text("1\tOnly three\tcolumns\n", encoding="utf-8")
    ruleset = load_rules([places, extract])
    problems = sorted((p.path, p.line, p.col, p.message.split(":")[0])
                      for p in ruleset.problems)
    csv_path, txt_path = str(places), str(extract)
    assert problems == sorted([
        (csv_path, 3, 9, "lat"), (csv_path, 4, 11, "lat"),
        (csv_path, 5, 1, "6 columns expected (name,alternate names,lat,lon,country,kind), "
                         "not 2"),
        (csv_path, 6, 21, "country"), (csv_path, 6, 24, "kind"),
        (txt_path, 1, 1, "a GeoNames line has 19 tab-separated columns, not 3")])
    assert ruleset.gazetteer.find("place", "Goz Minu") == "Goz Minu"  # the good line loads


def test_a_csv_without_its_header_is_refused(tmp_path: Path) -> None:
    places = tmp_path / "desk.csv"
    places.write_text("Goz Minu,,12.31,24.71,SD,town\n", encoding="utf-8")
    [problem] = load_rules([places]).problems
    assert (problem.line, problem.col) == (1, 1)
    assert "header" in problem.message


def test_curated_places_keep_their_names(tmp_path: Path) -> None:
    places = tmp_path / "desk.csv"
    places.write_text("name,alternate names,lat,lon,country,kind\n"
                      "Raqqa Camp,Raqqa,10.0,10.0,NG,site\n", encoding="utf-8")
    ruleset = load_rules([ROOT / "rules" / "lists", places])
    assert ruleset.gazetteer.find("place", "Raqqa") == "Raqqa"  # the curated Syrian city
    assert ruleset.gazetteer.find("place", "Raqqa Camp") == "Raqqa Camp"


def test_the_config_names_gazetteers(desk: tuple[Path, Path], tmp_path: Path) -> None:
    config = Config.model_validate({"rules": ["rules"], "gazetteers": ["SD.txt", "desk.csv"],
                                    "base_dir": tmp_path})
    assert config.rule_paths()[1:] == [desk[0].resolve(), desk[1].resolve()]
