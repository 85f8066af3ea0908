"""WATCHER_… environment overrides, …_FILE secrets, and the masked view of the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.config.masked import MASK, mask_url_password, secret_values, shown_config
from watcher.config.reference import SECTIONS, config_reference
from watcher.config.settings import load_config
from watcher.errors import ConfigError

FILE = """\
feeds:
  - {id: a, url: "https://a.example/rss", tags: [x]}
sinks:
  - {type: webhook, name: hook, url: "${HOOK}"}
  - {type: email, name: mail, host: smtp.example, from: w@example.org, to: [d@example.org]}
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(FILE)
    return path


def test_variables_override_the_file_at_every_level(config_file: Path) -> None:
    config = load_config(config_file, env={
        "HOOK": "https://hooks.example/abc",
        "WATCHER_LOG_LEVEL": "debug",
        "WATCHER_FETCH__TIMEOUT": "45s",
        "WATCHER_HTTP__LISTEN": "0.0.0.0:9090",
        "WATCHER_RULES": "/app/rules, /srv/more",
        "WATCHER_DEFAULT_SINKS": '["hook"]',
        "WATCHER_FEEDS__0__TAGS": "syria,iraq",
        "WATCHER_SINKS__0__TIMEOUT": "3",
        "WATCHER_SINKS__1__PASSWORD": "smtp-pass",
        "WATCHER_SINKS__1__FROM": "alerts@example.org",
    })
    assert config.log_level == "debug"
    assert config.fetch.timeout == 45
    assert config.http.listen == "0.0.0.0:9090"
    assert config.rules == ["/app/rules", "/srv/more"]
    assert config.default_sinks == ["hook"]
    assert config.feeds[0].tags == ["syria", "iraq"]
    assert config.feeds[0].url == "https://a.example/rss"  # the rest of the item stays
    hook, mail = config.sinks
    assert hook.timeout == 3  # type: ignore[union-attr]
    assert mail.password.get_secret_value() == "smtp-pass"  # type: ignore[union-attr]
    assert mail.from_addr == "alerts@example.org"  # type: ignore[union-attr]


def test_secret_files_and_precedence(config_file: Path, tmp_path: Path) -> None:
    (tmp_path / "hook").write_text("https://hooks.example/from-file\n")
    (tmp_path / "state").write_text("/data/from-file.db\n")
    env = {"HOOK_FILE": str(tmp_path / "hook"), "WATCHER_STATE_FILE": str(tmp_path / "state")}
    config = load_config(config_file, env=env)
    assert config.sinks[0].url.get_secret_value() == (  # type: ignore[union-attr]
        "https://hooks.example/from-file")
    assert config.state == "/data/from-file.db"
    # The variable itself beats its file.
    config = load_config(config_file, env={**env, "HOOK": "https://direct",
                                           "WATCHER_STATE": "/data/direct.db"})
    assert config.sinks[0].url.get_secret_value() == "https://direct"  # type: ignore[union-attr]
    assert config.state == "/data/direct.db"


def test_other_watcher_variables_are_left_alone(config_file: Path) -> None:
    # WATCHER_CONFIG names the file; WATCHER_ALERTS_FILE is read by ${…} in the shipped
    # config: neither is a setting, and the "file" is never opened.
    config = load_config(config_file, env={"HOOK": "h", "WATCHER_CONFIG": "other.yaml",
                                           "WATCHER_ALERTS_FILE": "/nonexistent/alerts",
                                           "WATCHER_STATE": ""})
    assert config.state == "var/watcher.db"


@pytest.mark.parametrize(("env", "expected"), [
    ({"WATCHER_FETCH__TIMEOUT": "soon"}, "$WATCHER_FETCH__TIMEOUT:1:1: fetch.timeout: not a "),
    ({"WATCHER_FEEDS": "[{"}, "$WATCHER_FEEDS:1:1: not valid JSON"),
    ({"WATCHER_FEEDS": '[{"id": "b"}]'}, "$WATCHER_FEEDS:1:1: feeds.0.url: Field required"),
    ({"WATCHER_SINKS__5__URL": "u"}, "$WATCHER_SINKS__5__URL:1:1: sinks has no item 5"),
    ({"WATCHER_STATE_FILE": "/nonexistent"}, "$WATCHER_STATE_FILE:1:1: cannot read "
                                             "/nonexistent: No such file or directory"),
    ({"WATCHER_FETCH__TIMOUT": "5"}, "$WATCHER_FETCH__TIMOUT:1:1: fetch.timout: Extra inputs"),
    ({"WATCHER_LOG_LEVEL": "loud"}, "$WATCHER_LOG_LEVEL:1:1: log_level: Input should be"),
])
def test_bad_variables_are_named(config_file: Path, env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_file, env={"HOOK": "h", **env})
    assert str(info.value.problems[0]).startswith(expected), str(info.value.problems[0])


def test_unreadable_var_file_points_at_the_value_in_the_file(config_file: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_file, env={"HOOK_FILE": "/nonexistent/hook"})
    assert str(info.value) == (f"{config_file}:4:38: HOOK_FILE: cannot read /nonexistent/hook: "
                               "No such file or directory")


def test_shown_config_masks_every_secret(config_file: Path) -> None:
    config = load_config(config_file, env={
        "HOOK": "https://hooks.example/t0ken-abc", "WATCHER_SINKS__1__PASSWORD": "hunter22",
        "WATCHER_STATE": "postgresql://watcher:pg-secret@db/watcher"})
    shown = repr(shown_config(config))
    for secret in ("t0ken-abc", "hunter22", "pg-secret"):
        assert secret not in shown
    assert shown.count(MASK) == 3
    assert set(secret_values(config)) == {"https://hooks.example/t0ken-abc", "hunter22",
                                          "pg-secret"}


@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql://u:p4ss@h:5432/d", f"postgresql://u:{MASK}@h:5432/d"),
    ("postgresql://u@h/d", "postgresql://u@h/d"),
    ("var/watcher.db", "var/watcher.db"),
])
def test_mask_url_password(url: str, masked: str) -> None:
    assert mask_url_password(url) == masked


def test_reference_covers_every_settings_model() -> None:
    titles = dict(SECTIONS)
    assert {"top level", "feeds[]", "fetch", "delivery", "http", "sinks[] type: webhook",
            "sinks[] type: email"} <= titles.keys()
    reference = config_reference()
    assert "| `listen` | none |" in reference
    assert "| `stop_grace` | `10.0` |" in reference


def test_container_state_url_from_a_secret_file(tmp_path: Path, repo_root: Path) -> None:
    # compose.postgres.yaml: the image's WATCHER_STATE is cleared, the URL read from a file.
    (tmp_path / "state_url").write_text("postgresql://watcher:pw-1234@postgres/watcher\n")
    config = load_config(repo_root / "config" / "watcher.yaml", env={
        "WATCHER_STATE": "", "WATCHER_STATE_FILE": str(tmp_path / "state_url"),
        "WATCHER_RULES": "/app/rules", "WATCHER_HTTP__LISTEN": "0.0.0.0:9090"})
    assert config.state == "postgresql://watcher:pw-1234@postgres/watcher"
    assert config.rules == ["/app/rules"]
    assert "pw-1234" not in repr(shown_config(config))


def test_variables_put_into_urls_are_masked_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("""\
replica_id: ${HOST}
feeds:
  - {id: keyed, url: "https://feeds.example/rss?apikey=${FEEDKEY}&lang=en"}
  - {id: mirror, url: "${MIRROR}"}
""")
    config = load_config(path, env={
        "FEEDKEY": "fk-77aa19", "HOST": "desk-host-1",
        "MIRROR": "https://reader:pw-5521@mirror.example/rss?token=tk-90210"})
    assert config.feeds[0].url == "https://feeds.example/rss?apikey=fk-77aa19&lang=en"
    shown = repr(shown_config(config))
    for secret in ("fk-77aa19", "pw-5521", "tk-90210"):
        assert secret not in shown
        assert secret in secret_values(config)
    assert "mirror.example/rss" in shown and "lang=en" in shown
    assert "desk-host-1" in shown  # a variable outside a URL is not a secret
    assert "desk-host-1" not in secret_values(config)
