"""The configuration file: every setting declared once, with its default and help text.

Relative paths in a config file (rules, state, feed files, sink files) are resolved against
the folder of that file, so the watcher behaves the same from any working directory.
`${VAR}` and `${VAR:-default}` in any string value are taken from the environment when the
file is loaded (or from the file named by `VAR_FILE`): secrets live in the environment, never
in the file. `WATCHER_…` variables then override any setting (environment.py).
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    PrivateAttr,
    SecretStr,
    ValidationError,
    model_validator,
)

from watcher.config.environment import SourcedDoc, apply_overrides, env_overrides, read_secret_file
from watcher.errors import ConfigError, Problem
from watcher.models import Severity
from watcher.yamlfile import (
    YamlDoc,
    YamlProblem,
    read_yaml,
    register_union_tags,
    validation_problems,
)

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
    detect_language: Literal["auto", "always", "never"] = Field(
        "auto", description="`auto`: detect an article's language when neither it nor the feed "
                            "declares one (or the feed names several), or its script is not "
                            "the declared language's; `always`: every article (a feed mixing "
                            "languages); `never`: the declared one (docs/language.md).")
    full_text: bool = Field(
        False, description="Fetch each new article's page and match its main text as "
                           "`content`; on failure the feed's summary is matched "
                           "(full_text settings, docs/full-text.md).")
    enabled: bool = Field(True, description="Set false to stop polling without removing.")


class FetchSettings(_Model):
    timeout: Duration = Field(20.0, description="Total seconds allowed for one fetch.")
    connect_timeout: Duration = Field(10.0, description="Seconds to establish a connection.")
    max_bytes: int = Field(10_000_000, ge=1024, description="Largest body accepted, in bytes.")
    max_redirects: int = Field(5, ge=0, le=20, description="Redirects followed per fetch.")
    concurrency: int = Field(16, ge=1, description="Fetches in flight at once, overall.")
    per_host: int = Field(
        8, ge=1, description="Fetches in flight at once to any one host. Polite to an outlet "
                             "with a few feeds, and an aggregator serving hundreds from one "
                             "host is polled in seconds, not minutes (docs/scaling.md).")
    hosts: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict, description="Fetches in flight to the named host in place of "
                                          "per_host, e.g. {feeds.example.org: 32}.")

    @model_validator(mode="after")
    def _hosts_in_lower_case(self) -> FetchSettings:
        self.hosts = {host.strip().lower().rstrip("."): n for host, n in self.hosts.items()}
        return self
    max_backoff: Duration = Field(
        6 * 3600.0, gt=0, description="Longest wait between tries of a failing feed; it is "
                                      "retried for as long as it fails.")
    failing_after: Duration = Field(
        3600.0, description="A feed failing for this long is flagged in `watcher feeds`.")
    user_agent: str = Field("watcher/0.1 (+https://github.com/watcher-news/watcher)",
                            description="User-Agent header; name a contact URL.")
    allow_addresses: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Networks feeds may be fetched from although loopback or private, e.g. "
                    "[10.20.0.0/16, 127.0.0.1/32] (intranets, tests); every other address is "
                    "still refused, redirects and DNS answers included.")

    @model_validator(mode="before")
    @classmethod
    def _refuse_renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "allow_private_addresses" in data:
            raise ValueError(
                "allow_private_addresses is replaced by allow_addresses: list the networks "
                "to fetch from, e.g. allow_addresses: [127.0.0.1/32, 10.20.0.0/16]")
        return data


class FullTextSettings(_Model):
    timeout: Duration = Field(10.0, gt=0, description="Total seconds allowed for one article "
                                                      "page, redirects and retries apart.")
    max_bytes: int = Field(2_000_000, ge=1024, description="Largest page accepted, in bytes.")
    concurrency: int = Field(4, ge=1, description="Pages of one poll fetched at once (the "
                                                  "fetch limits per host apply as well).")
    retries: int = Field(1, ge=0, le=5, description="Further tries of a page that timed out, "
                                                    "could not connect or answered 5xx/429.")
    max_chars: int = Field(100_000, ge=1000, description="Longest text kept of one page.")
    max_per_poll: int = Field(50, ge=1, description="Most pages fetched for one poll's new "
                                                    "articles (the newest); the rest keep "
                                                    "their summaries.")
    batch_timeout: Duration = Field(
        30.0, gt=0, description="Seconds for all the pages of one poll; pages not read by "
                                "then keep their summaries (a poll holds one of a few "
                                "parse-and-match slots while its pages are fetched).")


class ConsoleSink(_Model):
    type: Literal["console"] = Field(description="Sink kind.")
    name: str = Field("console", description="Name that rules and routes refer to.")
    format: Literal["text", "json"] = Field("text", description="Readable lines or JSON.")


class JsonlSink(_Model):
    type: Literal["jsonl"] = Field(description="Sink kind.")
    name: str = Field("jsonl", description="Name that rules and routes refer to.")
    path: str = Field(description="File the alerts are appended to, one JSON per line.")


class _Grouped(_Model):
    """Settings of the sinks that can send several alerts in one message (docs/delivery.md)."""

    group_wait: Duration = Field(
        0.0, description="Alerts arriving within this long of the first one go out together "
                         "as one digest message, e.g. 30s; 0 sends each alert on its own.")
    max_per_hour: int | None = Field(
        None, ge=1, description="Most messages in any hour; alerts over it are held and sent "
                                "as one summary when the hour allows, never dropped.")


class WebhookSink(_Grouped):
    type: Literal["webhook"] = Field(description="Sink kind.")
    name: str = Field("webhook", description="Name that rules and routes refer to.")
    url: SecretStr = Field(description="Receiver URL (often holds a token: use ${VAR}).")
    headers: dict[str, SecretStr] = Field(default_factory=dict,
                                          description="Extra request headers.")
    timeout: Duration = Field(15.0, description="Seconds allowed for one delivery.")
    secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key (use ${VAR}): signs each delivery with "
                          "X-Watcher-Timestamp and X-Watcher-Signature (docs/delivery.md).")


class ChatTemplates(_Model):
    title: str | None = Field(None, description="Jinja2 file for the headline (Slack: the "
                                                "header; Teams: the first line).")
    text: str | None = Field(None, description="Jinja2 file for the body, in place of the "
                                               "linked title, facts and excerpt; values are "
                                               "escaped for the chat's markup.")
    digest_title: str | None = Field(None, description="Jinja2 file for the headline of a "
                                                       "digest or summary (several alerts).")
    digest_text: str | None = Field(None, description="Jinja2 file for the body of a digest or "
                                                      "summary, in place of the per-alert "
                                                      "sections; values escaped as in `text`.")


class SlackSink(_Grouped):
    type: Literal["slack"] = Field(description="Sink kind.")
    name: str = Field("slack", description="Name that rules and routes refer to.")
    url: SecretStr = Field(description="Slack incoming-webhook URL: use ${VAR}.")
    timeout: Duration = Field(15.0, description="Seconds allowed for one delivery.")
    templates: ChatTemplates = Field(default_factory=ChatTemplates,
                                     description="Jinja2 files replacing the default headline "
                                                 "and body (docs/delivery.md).")


class TeamsSink(_Grouped):
    type: Literal["teams"] = Field(description="Sink kind.")
    name: str = Field("teams", description="Name that rules and routes refer to.")
    url: SecretStr = Field(description="Teams Workflows webhook URL: use ${VAR}.")
    timeout: Duration = Field(15.0, description="Seconds allowed for one delivery.")
    templates: ChatTemplates = Field(default_factory=ChatTemplates,
                                     description="Jinja2 files replacing the default headline "
                                                 "and body (docs/delivery.md).")


class EmailTemplates(_Model):
    subject: str | None = Field(None, description="Jinja2 file for the subject line.")
    text: str | None = Field(None, description="Jinja2 file for the plain-text part.")
    html: str | None = Field(None, description="Jinja2 file for the HTML part (autoescaped).")
    digest_subject: str | None = Field(None, description="Jinja2 file for the subject of a digest "
                                                         "or summary (several alerts).")
    digest_text: str | None = Field(None, description="Jinja2 file for the plain-text part of a "
                                                      "digest or summary.")
    digest_html: str | None = Field(None, description="Jinja2 file for the HTML part of a digest "
                                                      "or summary (autoescaped).")


class EmailSink(_Grouped):
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
    ca_file: str | None = Field(
        None, description="PEM file of the CA certificates to trust (a private CA) instead of "
                          "the system's; certificates are always verified.")
    templates: EmailTemplates = Field(default_factory=EmailTemplates,
                                      description="Jinja2 files replacing the default message.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AppriseSink(_Grouped):
    """Any of Apprise's 100+ services (Telegram, Signal, Matrix, Discord, Mattermost, ntfy,
    PagerDuty, Opsgenie, SMS gateways...) by its Apprise URL (docs/delivery.md)."""

    type: Literal["apprise"] = Field(description="Sink kind.")
    name: str = Field("apprise", description="Name that rules and routes refer to.")
    urls: list[SecretStr] = Field(
        min_length=1, description="Apprise URLs (tgram://..., mmost://..., json://...); each "
                                  "gets every alert. They hold tokens: use ${VAR}.")
    format: Literal["text", "markdown"] = Field(
        "text", description="Body format handed to Apprise; markdown escapes feed text.")
    timeout: Duration = Field(30.0, gt=0, description="Seconds allowed for one delivery.")
    templates: ChatTemplates = Field(default_factory=ChatTemplates,
                                     description="Jinja2 files replacing the default headline "
                                                 "and body (docs/delivery.md).")


DigestTarget = Annotated[WebhookSink | SlackSink | TeamsSink | EmailSink,
                         Field(discriminator="type")]


def parse_clock_time(value: Any) -> str:
    """`HH:MM` on a 24-hour clock."""
    if not isinstance(value, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"not a time of day: {value!r} (use HH:MM, e.g. 07:00)")
    return value


def parse_timezone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {value!r} (use e.g. UTC, Europe/Kyiv)") from None
    return str(value)


class DigestSink(_Model):
    """Collects the alerts routed to it and sends one message per period (none when empty)."""

    type: Literal["digest"] = Field(description="Sink kind.")
    name: str = Field("digest", description="Name that rules and routes refer to.")
    target: DigestTarget = Field(description="The webhook, slack, teams or email sink that "
                                             "sends each digest (its name is not routable).")
    every: Duration | None = Field(
        None, gt=0, description="Send every this long, at multiples of it since midnight "
                                "UTC (1h: on the hour).")
    daily_at: Annotated[str, AfterValidator(parse_clock_time)] | None = Field(
        None, description="Send once a day at this time (HH:MM) in `timezone`.")
    timezone: Annotated[str, AfterValidator(parse_timezone)] = Field(
        "UTC", description="Time zone of `daily_at`.")

    @model_validator(mode="after")
    def _one_schedule(self) -> DigestSink:
        if (self.every is None) == (self.daily_at is None):
            raise ValueError("set exactly one of `every` and `daily_at`")
        return self


SinkConfig = Annotated[ConsoleSink | JsonlSink | WebhookSink | SlackSink | TeamsSink | EmailSink
                       | DigestSink | AppriseSink, Field(discriminator="type")]
register_union_tags("console", "jsonl", "webhook", "slack", "teams", "email", "digest", "apprise")


class RouteConfig(_Model):
    """Which alerts go to which sinks. Routes are tried in order; the first that matches
    wins unless it says `continue`. A route without conditions matches every alert."""

    name: str = Field(min_length=1, description="Name shown in logs and `watcher alerts`.")
    notify: list[str] = Field(default_factory=list,
                              description="Match rules whose `notify` names any of these.")
    min_severity: Severity | None = Field(None, description="Match this severity and above.")
    tags: list[str] = Field(default_factory=list,
                            description="Match rules with any of these tags.")
    sinks: list[str] = Field(min_length=1, description="Sinks that get the matching alerts.")
    continue_: bool = Field(False, alias="continue",
                            description="Keep trying later routes after this one matched.")
    group_wait: Duration | None = Field(
        None, description="Alerts this route sends to a sink within this long of the first go "
                          "out as one digest, apart from the sink's other alerts; unset: the "
                          "sink's group_wait (docs/delivery.md).")
    max_per_hour: int | None = Field(
        None, ge=1, description="Most messages in any hour for this route's alerts to each of "
                                "its sinks, counted apart from the sink's others; over it, a "
                                "summary. Unset: the sink's max_per_hour.")
    per: Literal["story", "article"] | None = Field(
        None, description="`story`: one alert per story to each sink, again only when it "
                          "escalates; `article`: one per article. Unset: stories.per.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StoriesSettings(_Model):
    window: Duration = Field(
        48 * 3600.0, gt=0, description="Articles published within this long of a story's "
                                       "first one may join it (docs/stories.md).")
    per: Literal["story", "article"] = Field(
        "story", description="Alerts per story (the first, then escalations) or per article, "
                             "for sinks no route with its own `per` chose.")


class DeliverySettings(_Model):
    max_attempts: int = Field(12, ge=1, description="Attempts before an alert is dead.")
    max_age: Duration = Field(2 * 86400, description="Age after which an alert is dead.")
    initial_backoff: Duration = Field(5.0, description="Delay after the first failure.")
    max_backoff: Duration = Field(3600.0, description="Longest delay between attempts.")
    poll_interval: Duration = Field(1.0, description="How often the worker checks the outbox.")
    stop_grace: Duration = Field(
        10.0, description="On SIGTERM, how long deliveries in flight may take to finish.")
    lease: Duration = Field(
        300.0, gt=0, description="How long a worker holds the alerts it is sending; if it dies, "
                                 "they are retried after this. Keep above sink timeouts.")


def parse_listen(value: Any) -> str:
    """`host:port` (or `[v6]:port`) for the HTTP endpoint; port 0 picks a free one."""
    if not isinstance(value, str):
        raise ValueError(f"not host:port: {value!r}")
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"not host:port: {value!r} (e.g. 127.0.0.1:9090 or 0.0.0.0:9090)")
    return value


class HttpSettings(_Model):
    listen: Annotated[str, AfterValidator(parse_listen)] | None = Field(
        None, description="host:port serving /healthz, /readyz, /metrics and the desk; off "
                          "when unset. Beyond loopback the desk needs desk.tokens or "
                          "desk.users_file.")


DeskRole = Literal["read", "write"]


class DeskToken(_Model):
    name: str = Field(min_length=1, description="Who uses it: shown as the author of acks "
                                                "and silences.")
    token: SecretStr = Field(description="Sent as `Authorization: Bearer …`: use ${VAR}.")
    role: DeskRole = Field("read", description="read (look) or write (also ack and silence).")

    @model_validator(mode="after")
    def _long_enough(self) -> DeskToken:
        if len(self.token.get_secret_value()) < 16:
            raise ValueError("a desk token needs at least 16 characters")
        return self


class DeskSettings(_Model):
    enabled: bool = Field(True, description="Serve the desk (page and /api/v1) on http.listen.")
    tokens: list[DeskToken] = Field(default_factory=list,
                                    description="API tokens (Bearer) with their roles.")
    users_file: str | None = Field(
        None, description="YAML list of users (name, password_hash: Argon2id, role) who sign "
                          "in to the page with HTTP Basic; relative to this file.")
    tile_url: str | None = Field(
        None, description="Map tiles, https://…/{z}/{x}/{y}.png, for desks with internet; "
                          "default: the bundled offline world map, no outside requests.")
    page_size: int = Field(50, ge=1, le=500, description="Alerts per page and API page.")

    @model_validator(mode="after")
    def _tile_url_shape(self) -> DeskSettings:
        url = self.tile_url
        if url is not None and not (url.startswith("https://")
                                    and all(k in url for k in ("{z}", "{x}", "{y}"))):
            raise ValueError("tile_url must be https://… with {z}, {x} and {y}")
        return self


def parse_callback_url(value: Any) -> str:
    """An absolute http(s) URL: the public address of this watcher's `/websub/` path."""
    parts = urlsplit(str(value))
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ValueError(f"not an http(s) URL without a query: {value!r} "
                         "(e.g. https://watcher.example.org/websub/)")
    return str(value)


class WebSubSettings(_Model):
    """Push from feeds that advertise a WebSub hub (docs/websub.md)."""

    callback_url: Annotated[str, AfterValidator(parse_callback_url)] | None = Field(
        None, description="Public URL that reaches this watcher's /websub/ path (needs "
                          "http.listen), e.g. https://watcher.example.org/websub/; feeds with a "
                          "hub are subscribed when set, only polled when unset.")
    lease: Duration = Field(7 * 86400.0, ge=60, description="Subscription lease asked of "
                                                             "hubs; hubs may grant another.")
    renew_before: Duration = Field(
        86400.0, gt=0, description="Renew a subscription this long before its lease ends "
                                   "(at most half the granted lease).")
    poll_interval: Duration = Field(
        3600.0, gt=0, description="Poll interval of a feed while its subscription is active: "
                                  "a safety net for pushes that never came.")
    retry: Duration = Field(300.0, gt=0, description="Wait before asking a hub again after "
                                                     "a failed or unanswered request.")
    max_pushes_per_minute: int = Field(
        60, ge=1, description="Content pushes accepted per subscription per minute (and ten "
                              "times that overall); more are answered 429.")


class Config(_Model):
    state: str = Field("var/watcher.db",
                       description="SQLite file (relative to this file) or sqlite:/// URL; "
                                   "or a postgresql:// URL shared by several replicas "
                                   "(docs/scaling.md; password via ${VAR}).")
    replica_id: str | None = Field(
        None, description="Name of this process in logs, feed leases and the cluster view "
                          "(default: hostname-pid).")
    rules: list[str] = Field(default_factory=lambda: ["../rules"],
                             description="Rule files or folders (relative to this file).")
    rules_cache_dir: str | None = Field(
        None, description="Private folder (0700, yours) of cached loaded rule sets, so an "
                          "unchanged set of rule files loads in a fraction of the time; "
                          "default: rules-cache beside the SQLite file, or "
                          "$XDG_CACHE_HOME/watcher/rules with PostgreSQL; \"off\": no "
                          "cache (docs/rules.md).")
    gazetteers: list[str] = Field(
        default_factory=list,
        description="The desk's own places (relative to this file): GeoNames extracts "
                    "(XX.txt, the dump's tab-separated format) and CSV files (name, alternate "
                    "names, lat, lon, country, kind); rules name their places and alerts "
                    "list them (docs/rules.md).")
    default_interval: Duration = Field(600.0, description="Poll interval for feeds without one.")
    jitter: Duration = Field(10.0, description="Random seconds added to each poll time.")
    max_article_age: Duration | None = Field(
        None, description="Articles published longer ago are recorded as seen, not alerted.")
    feeds: list[FeedConfig] = Field(default_factory=list, description="The feeds to poll.")
    fetch: FetchSettings = Field(default_factory=FetchSettings,
                                 description="How feeds are fetched.")
    full_text: FullTextSettings = Field(
        default_factory=FullTextSettings,
        description="How article pages are fetched for feeds with `full_text: true`.")
    sinks: list[SinkConfig] = Field(default_factory=list,
                                    description="Where alerts are delivered.")
    default_sinks: list[str] | None = Field(
        None, description="Sinks for rules without `notify` (default: every sink).")
    repeat_window: Duration = Field(
        0.0, description="The same story (same canonical URL, or same title from the same "
                         "source) alerts once within this window, e.g. 6h; 0 turns it off.")
    routes: list[RouteConfig] = Field(
        default_factory=list, description="Which alerts go where, by rule notify, severity and "
                                          "tags; alerts no route takes go to default_sinks.")
    delivery: DeliverySettings = Field(default_factory=DeliverySettings,
                                       description="Retries of failed deliveries.")
    stories: StoriesSettings = Field(default_factory=StoriesSettings,
                                     description="Articles of one event across outlets.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Least severe log level written.")
    http: HttpSettings = Field(default_factory=HttpSettings,
                               description="Health, readiness and metrics over HTTP.")
    desk: DeskSettings = Field(default_factory=DeskSettings,
                               description="The desk's page and API (docs/desk.md).")
    websub: WebSubSettings = Field(default_factory=WebSubSettings,
                                   description="Push from WebSub hubs (docs/websub.md).")

    base_dir: Path = Field(default=Path("."), exclude=True,
                           description="Folder of the config file; set by the loader.")
    # Values that `${VAR}` put into URLs (a feed's `?apikey=${KEY}`): masked like secrets.
    _env_secrets: tuple[str, ...] = PrivateAttr(default=())

    @property
    def env_secrets(self) -> tuple[str, ...]:
        return self._env_secrets

    def resolve(self, path: str) -> Path:
        """A path from the config, made absolute against the config file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    def state_path(self) -> Path:
        return self.resolve(self.state.removeprefix("sqlite:///"))

    def state_location(self) -> Path | str:
        """What `open_store` opens: a PostgreSQL URL as written, else the SQLite file."""
        if self.state.startswith(("postgresql://", "postgres://")):
            return self.state
        return self.state_path()

    def rules_cache_folder(self) -> Path | None:
        """Where loaded rule sets are cached (docs/rules.md), or None when turned off."""
        if self.rules_cache_dir == "off":
            return None
        if self.rules_cache_dir:
            return self.resolve(self.rules_cache_dir)
        if isinstance(location := self.state_location(), Path):
            return location.parent / "rules-cache"
        home = os.environ.get("XDG_CACHE_HOME")
        try:
            base = Path(home) if home else Path.home() / ".cache"
        except RuntimeError:  # no home directory (an arbitrary uid in a container)
            return None
        return base / "watcher" / "rules"

    def replica_name(self) -> str:
        return self.replica_id or default_replica_id()

    def rule_paths(self) -> list[Path]:
        """Rule files and folders, then the desk's gazetteers (loaded with them)."""
        return [self.resolve(p) for p in [*self.rules, *self.gazetteers]]

    def feed_interval(self, feed: FeedConfig) -> float:
        return feed.interval if feed.interval is not None else self.default_interval

    def sink_names(self) -> list[str]:
        return [s.name for s in self.sinks]


def default_replica_id() -> str:
    """`hostname-pid`: unique among live processes, readable in logs and the cluster view."""
    return f"{socket.gethostname()}-{os.getpid()}"


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _substitute(value: Any, loc: tuple[int | str, ...], doc: YamlDoc,
                env: dict[str, str], problems: list[Problem], secrets: list[str]) -> Any:
    if isinstance(value, str):
        found: list[str] = []

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                found.append(env[name])
                return env[name]
            if f"{name}_FILE" in env:  # a container secret: the value is in that file
                try:
                    found.append(read_secret_file(env[f"{name}_FILE"]))
                    return found[-1]
                except ValueError as exc:
                    problems.append(doc.problem(loc, f"{name}_FILE: {exc}"))
                    return ""
            if default is not None:
                return default
            problems.append(doc.problem(loc, f"environment variable {name} is not set"))
            return ""
        result = _VAR.sub(repl, value)
        if "://" in result:
            secrets += [part for v in found for part in url_secret_parts(v)]
        return result
    if isinstance(value, dict):
        return {k: _substitute(v, (*loc, k), doc, env, problems, secrets)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, (*loc, i), doc, env, problems, secrets)
                for i, v in enumerate(value)]
    return value


def url_secret_parts(value: str) -> list[str]:
    """What of a `${VAR}` value placed in a URL is secret: a whole URL's password and query
    values (its host and path stay readable), else the value itself (a token, a key)."""
    if "://" not in value:
        return [value]
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return [value]
    return [v for v in [password, *(v for _, v in parse_qsl(parts.query))] if v]


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
    route_names: set[str] = set()
    for i, route in enumerate(config.routes):
        if route.name in route_names:
            problems.append(doc.problem(("routes", i, "name"),
                                        f"duplicate route name {route.name!r}"))
        route_names.add(route.name)
    problems += _check_sink_references(config, doc)
    if config.websub.callback_url and not config.http.listen:
        problems.append(doc.problem(("websub", "callback_url"),
                                    "websub.callback_url needs http.listen: hubs call back "
                                    "on the HTTP endpoint"))
    feed_ids: set[str] = set()
    for i, feed in enumerate(config.feeds):
        if feed.id in feed_ids:
            problems.append(doc.problem(("feeds", i, "id"), f"duplicate feed id {feed.id!r}"))
        feed_ids.add(feed.id)
    return problems


def _check_sink_references(config: Config, doc: YamlDoc) -> list[Problem]:
    """Routes name known sinks; files that sinks read (CA, templates) exist."""
    problems = []
    names = config.sink_names()
    for i, route in enumerate(config.routes):
        for j, name in enumerate(route.sinks):
            if name not in names:
                problems.append(doc.problem(("routes", i, "sinks", j), f"no sink named {name!r}"))
    for i, entry in enumerate(config.sinks):
        at: tuple[int | str, ...] = ("sinks", i)
        sink = entry.target if isinstance(entry, DigestSink) else entry
        if isinstance(entry, DigestSink):
            at += ("target",)
        if isinstance(entry, AppriseSink):
            problems += _check_apprise_urls(entry, at, doc)
        if not isinstance(sink, EmailSink | SlackSink | TeamsSink | AppriseSink):
            continue
        files: list[tuple[tuple[int | str, ...], str | None]] = [
            ((*at, "ca_file"), sink.ca_file if isinstance(sink, EmailSink) else None),
            *(((*at, "templates", k), v) for k, v in sink.templates.model_dump().items())]
        for loc, value in files:
            if value and not config.resolve(value).is_file():
                problems.append(doc.problem(loc, f"no such file: {config.resolve(value)}"))
    return problems


def _check_apprise_urls(sink: AppriseSink, at: tuple[int | str, ...],
                        doc: YamlDoc) -> list[Problem]:
    """Each URL names a service Apprise knows, with what it needs (a token, a host)."""
    from apprise import Apprise  # loaded only by configs that use it (it takes ~0.5 s)

    problems = []
    for i, url in enumerate(sink.urls):
        if Apprise.instantiate(url.get_secret_value(), suppress_exceptions=True) is None:
            scheme = url.get_secret_value().partition("://")[0] or "(none)"
            problems.append(doc.problem((*at, "urls", i), f"Apprise cannot use this URL "
                                        f"(scheme {scheme!r}): unknown service or missing "
                                        "parts (see the Apprise wiki for its form)"))
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
    env_secrets: list[str] = []
    data = _substitute(data, (), doc, env, problems, env_secrets)
    if problems:
        raise ConfigError(problems)
    overrides = env_overrides(Config, env)  # WATCHER_… variables beat the file
    data = apply_overrides(Config, data, overrides)
    doc = SourcedDoc(doc.path, doc.data, doc.root, sources=overrides.sources)
    try:
        config = Config.model_validate({**data, "base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(validation_problems(doc, exc)) from None
    problems = _check_references(config, doc)
    if problems:
        raise ConfigError(problems)
    config._env_secrets = tuple(env_secrets)
    return config


def config_path(cli_value: str | None, env: dict[str, str] | None = None) -> Path:
    """`--config`, else `$WATCHER_CONFIG`, else `config/watcher.yaml` (DESIGN.md)."""
    env = dict(os.environ) if env is None else env
    if cli_value:
        return Path(cli_value)
    if env.get("WATCHER_CONFIG"):
        return Path(env["WATCHER_CONFIG"])
    return DEFAULT_CONFIG
