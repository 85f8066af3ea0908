from __future__ import annotations

import re
from pathlib import Path

import pytest

from watcher.config.reference import SECTIONS, config_reference
from watcher.config.settings import Config, config_path, load_config, parse_duration
from watcher.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("value", "seconds"), [
    (90, 90.0), (1.5, 1.5), ("90", 90.0), ("90s", 90.0), ("5m", 300.0), ("2h", 7200.0),
    ("1d", 86400.0), ("250ms", 0.25), (" 3 m ", 180.0),
])
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "5 minutes", "-1s", True, None, "1w"])
def test_parse_duration_refuses(value: object) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(value)


@pytest.mark.parametrize("name", ["demo.yaml", "watcher.yaml"])
def test_shipped_configs_load(name: str) -> None:
    config = load_config(ROOT / "config" / name, env={})
    assert config.feeds and config.sinks
    for feed in config.feeds:
        if not feed.url.startswith("http"):
            assert config.resolve(feed.url).is_file(), feed.url


def uncommented_examples(text: str) -> str:
    """config/watcher.yaml with its commented sink and route examples switched on (minus the
    files they name: a CA bundle and a template that a desk would provide)."""
    out: list[str] = []
    in_routes = False
    for line in text.splitlines():
        if line == "# routes:":
            in_routes = True
            out.append("routes:")
            continue
        if in_routes and line.startswith("#   "):
            out.append(line[2:])
            continue
        in_routes = False
        if line.startswith(("  # - ", "  #   ")):
            line = "  " + line[4:]
        out.append(line)
    kept, skip_below = [], None
    for line in out:
        indent = len(line) - len(line.lstrip())
        if skip_below is not None and indent > skip_below:
            continue
        skip_below = None
        if line.strip().startswith(("ca_file:", "templates:")):
            skip_below = indent
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def test_every_commented_example_in_the_starting_config_is_valid(tmp_path: Path) -> None:
    text = uncommented_examples((ROOT / "config" / "watcher.yaml").read_text())
    (tmp_path / "watcher.yaml").write_text(text)
    env = {name: f"value-of-{name.lower()}" for name in re.findall(r"\$\{(\w+)", text)}
    env |= {"DESK_WEBHOOK_URL": "https://hooks.example/d", "SLACK_WEBHOOK_URL":
            "https://hooks.slack.example/s", "TEAMS_WORKFLOW_URL": "https://teams.example/t"}
    config = load_config(tmp_path / "watcher.yaml", env=env)
    kinds = {sink.type for sink in config.sinks}
    assert kinds == {"console", "jsonl", "webhook", "slack", "teams", "email", "digest"}
    assert [route.name for route in config.routes] == ["urgent", "syria-desk", "default"]


def test_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("state: s/w.db\nrules: [r]\n")
    config = load_config(tmp_path / "c.yaml", env={})
    assert config.state_path() == tmp_path / "s" / "w.db"
    assert config.rule_paths() == [tmp_path / "r"]


def test_environment_values_are_substituted(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "sinks:\n  - type: webhook\n    url: ${HOOK}\n    headers: {X-Token: '${TOKEN:-none}'}\n")
    config = load_config(tmp_path / "c.yaml", env={"HOOK": "https://hooks.example/abc"})
    sink = config.sinks[0]
    assert sink.url.get_secret_value() == "https://hooks.example/abc"  # type: ignore[union-attr]
    assert "abc" not in repr(sink)


@pytest.mark.parametrize(("text", "position", "message"), [
    ("feeds: [{id: a, url: x, interval: soon}]\n", "1:35", "not a duration"),
    ("sinks:\n  - type: pager\n", "2:5", "sinks.0"),
    ("sinks:\n  - type: webhook\n    url: ${NOPE}\n", "3:10", "NOPE is not set"),
    ("feeds:\n  - {id: a, url: x}\n  - {id: a, url: y}\n", "3:10", "duplicate feed id"),
    ("default_sinks: [ghost]\n", "1:17", "no sink named 'ghost'"),
    ("feeds: [\n", "2:1", "invalid YAML"),
    ("- just\n- a list\n", "1:1", "must be a mapping"),
    ("fetch: {timout: 5}\n", "1:17", "fetch.timout: Extra inputs are not permitted"),
])
def test_errors_name_file_line_and_column(tmp_path: Path, text: str, position: str,
                                          message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    first = str(info.value.problems[0])
    assert first.startswith(f"{path}:{position}: "), first
    assert message in first


def test_config_path_precedence() -> None:
    assert config_path("a.yaml", {"WATCHER_CONFIG": "b.yaml"}) == Path("a.yaml")
    assert config_path(None, {"WATCHER_CONFIG": "b.yaml"}) == Path("b.yaml")
    assert config_path(None, {}) == Path("config/watcher.yaml")


def test_every_setting_has_help_text() -> None:
    for title, model in SECTIONS:
        for name, info in model.model_fields.items():
            if model is Config and name == "base_dir":
                continue
            assert info.description, f"{title}.{name} has no description"


def test_readme_configuration_reference_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    assert config_reference() in readme, (
        "README's configuration reference is stale: paste `python -m watcher.config.reference`")
