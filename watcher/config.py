"""The configuration file: every setting declared once, with its default and help text.

Relative paths in a config file (rules, state, feed files, sink files) are resolved against
the folder of that file, so the watcher behaves the same from any working directory.
`${VAR}` and `${VAR:-default}` in any string value are taken from the environment when the
file is loaded: secrets live in the environment, never in the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError

from .errors import ConfigError, Problem
from .yamlfile import YamlDoc, YamlProblem, read_yaml, register_union_tags, validation_problems

DEFAULT_CONFIG = Path("config/watcher.yaml")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as `90`, `90s`, `5m`, `2h`, `1d`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return float(m.group(1)) * _UNITS[m.group(2)]
    raise ValueError(f"not a duration: {value!r} (use seconds or 30s, 5m, 2h, 1d)")


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeedConfig(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                    description="Stable name of the feed; used in state, logs and alerts.")
    url: str = Field(description="http(s) URL, file: URL, or a path (relative to this file).")
    title: str | None = Field(None, description="Human name of the outlet; shown as source.")
    interval: Duration | None = Field(None, description="Seconds between polls (30s, 5m...).")
    tags: list[str] = Field(default_factory=list, description="Free labels, e.g. region.")
    language: str | None = Field(None, description="ISO 639-1 code when the feed omits it.")
    enabled: bool = Field(True, description="Set false to stop polling without removing.")


class FetchSettings(_Model):
    timeout: Duration = Field(20.0, description="Total seconds allowed for one fetch.")
    connect_timeout: Duration = Field(10.0, description="Seconds to establish a connection.")
    max_bytes: int = Field(10_000_000, ge=1024, description="Largest body accepted, in bytes.")
    max_redirects: int = Field(5, ge=0, le=20, description="Redirects followed per fetch.")
    concurrency: int = Field(16, ge=1, description="Fetches in flight at once, overall.")
    user_agent: str = Field("watcher/0.1 (+https://github.com/watcher-news/watcher)",
                            description="User-Agent header; name a contact URL.")
    allow_private_addresses: bool = Field(
        False, description="Allow feed URLs on loopback/private networks (tests, intranets).")


class ConsoleSink(_Model):
    type: Literal["console"] = Field(description="Sink kind.")
    name: str = Field("console", description="Name that rules and routes refer to.")
    format: Literal["text", "json"] = Field("text", description="Readable lines or JSON.")


class JsonlSink(_Model):
    type: Literal["jsonl"] = Field(description="Sink kind.")
    name: str = Field("jsonl", description="Name that rules and routes refer to.")
    path: str = Field(description="File the alerts are appended to, one JSON per line.")


class WebhookSink(_Model):
    type: Literal["webhook"] = Field(description="Sink kind.")
    name: str = Field("webhook", description="Name that rules and routes refer to.")
    url: SecretStr = Field(description="Receiver URL (often holds a token: use ${VAR}).")
    headers: dict[str, SecretStr] = Field(default_factory=dict,
                                          description="Extra request headers.")
    timeout: Duration = Field(15.0, description="Seconds allowed for one delivery.")


class EmailSink(_Model):
    type: Literal["email"] = Field(description="Sink kind.")
    name: str = Field("email", description="Name that rules and routes refer to.")
    host: str = Field(description="SMTP server host.")
    port: int = Field(587, ge=1, le=65535, description="SMTP server port.")
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls (port 587), tls (port 465), none (local relays).")
    username: str | None = Field(None, description="Login name, if the server needs one.")
    password: SecretStr | None = Field(None, description="Login password: use ${VAR}.")
    from_addr: str = Field(alias="from", description="Sender address.")
    to: list[str] = Field(min_length=1, description="Recipients.")
    subject_prefix: str = Field("[watcher]", description="Start of every subject line.")
    timeout: Duration = Field(30.0, description="Seconds allowed for one delivery.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


SinkConfig = Annotated[ConsoleSink | JsonlSink | WebhookSink | EmailSink,
                       Field(discriminator="type")]
register_union_tags("console", "jsonl", "webhook", "email")


class DeliverySettings(_Model):
    max_attempts: int = Field(12, ge=1, description="Attempts before an alert is dead.")
    max_age: Duration = Field(2 * 86400, description="Age after which an alert is dead.")
    initial_backoff: Duration = Field(5.0, description="Delay after the first failure.")
    max_backoff: Duration = Field(3600.0, description="Longest delay between attempts.")
    poll_interval: Duration = Field(1.0, description="How often the worker checks the outbox.")


class Config(_Model):
    state: str = Field("var/watcher.db",
                       description="SQLite file (relative to this file) or sqlite:/// URL.")
    rules: list[str] = Field(default_factory=lambda: ["../rules"],
                             description="Rule files or folders (relative to this file).")
    default_interval: Duration = Field(600.0, description="Poll interval for feeds without one.")
    jitter: Duration = Field(10.0, description="Random seconds added to each poll time.")
    max_article_age: Duration | None = Field(
        None, description="Articles published longer ago are recorded as seen, not alerted.")
    feeds: list[FeedConfig] = Field(default_factory=list, description="The feeds to poll.")
    fetch: FetchSettings = Field(default_factory=FetchSettings,
                                 description="How feeds are fetched.")
    sinks: list[SinkConfig] = Field(default_factory=list,
                                    description="Where alerts are delivered.")
    default_sinks: list[str] | None = Field(
        None, description="Sinks for rules without `notify` (default: every sink).")
    delivery: DeliverySettings = Field(default_factory=DeliverySettings,
                                       description="Retries of failed deliveries.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Least severe log level written.")

    base_dir: Path = Field(default=Path("."), exclude=True,
                           description="Folder of the config file; set by the loader.")

    def resolve(self, path: str) -> Path:
        """A path from the config, made absolute against the config file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    def state_path(self) -> Path:
        return self.resolve(self.state.removeprefix("sqlite:///"))

    def rule_paths(self) -> list[Path]:
        return [self.resolve(p) for p in self.rules]

    def feed_interval(self, feed: FeedConfig) -> float:
        return feed.interval if feed.interval is not None else self.default_interval

    def sink_names(self) -> list[str]:
        return [s.name for s in self.sinks]


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _substitute(value: Any, loc: tuple[int | str, ...], doc: YamlDoc,
                env: dict[str, str], problems: list[Problem]) -> Any:
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(doc.problem(loc, f"environment variable {name} is not set"))
            return ""
        return _VAR.sub(repl, value)
    if isinstance(value, dict):
        return {k: _substitute(v, (*loc, k), doc, env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, (*loc, i), doc, env, problems) for i, v in enumerate(value)]
    return value


def _check_references(config: Config, doc: YamlDoc) -> list[Problem]:
    problems = []
    names = config.sink_names()
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            problems.append(doc.problem(("sinks", i, "name"), f"duplicate sink name {name!r}"))
        seen.add(name)
    for i, name in enumerate(config.default_sinks or []):
        if name not in names:
            problems.append(doc.problem(("default_sinks", i), f"no sink named {name!r}"))
    feed_ids: set[str] = set()
    for i, feed in enumerate(config.feeds):
        if feed.id in feed_ids:
            problems.append(doc.problem(("feeds", i, "id"), f"duplicate feed id {feed.id!r}"))
        feed_ids.add(feed.id)
    return problems


def load_config(path: Path, env: dict[str, str] | None = None) -> Config:
    """Read, substitute and validate a config file; raise ConfigError naming each problem."""
    env = dict(os.environ) if env is None else env
    try:
        doc = read_yaml(path)
    except YamlProblem as exc:
        raise ConfigError([exc.problem]) from None
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([doc.problem((), "a config file must be a mapping of settings")])
    problems: list[Problem] = []
    data = _substitute(data, (), doc, env, problems)
    if problems:
        raise ConfigError(problems)
    try:
        config = Config.model_validate({**data, "base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(validation_problems(doc, exc)) from None
    problems = _check_references(config, doc)
    if problems:
        raise ConfigError(problems)
    return config


def config_path(cli_value: str | None, env: dict[str, str] | None = None) -> Path:
    """`--config`, else `$WATCHER_CONFIG`, else `config/watcher.yaml` (DESIGN.md)."""
    env = dict(os.environ) if env is None else env
    if cli_value:
        return Path(cli_value)
    if env.get("WATCHER_CONFIG"):
        return Path(env["WATCHER_CONFIG"])
    return DEFAULT_CONFIG
