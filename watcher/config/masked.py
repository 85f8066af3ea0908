"""The configuration as ops may see it: every secret masked.

Secrets are the `SecretStr` settings (webhook URLs and headers, SMTP passwords, Apprise URLs
and the tokens inside them) and the password in a database URL
(`postgresql://user:password@host/db`), and what `${VAR}` put into a URL (a feed's
`?apikey=${KEY}`). `secret_values` lists them so that logging can scrub them from any line
that would carry one by accident, and `mask_secrets` from any output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr

from watcher.config.settings import AppriseSink, Config

MASK = "**********"
MIN_SECRET_CHARS = 4  # shorter values would mask ordinary words in log lines


def mask_url_password(url: str) -> str:
    """`scheme://user:secret@host/…` -> `scheme://user:**********@host/…`."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    netloc = parts.netloc.replace(f":{password}@", f":{MASK}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def service_url_tokens(url: str) -> list[str]:
    """The parts of a service URL that may be tokens: user, password, a host without a dot
    (Telegram's `tgram://TOKEN/CHAT`), path segments and query values that look generated
    (8+ characters with a digit or a capital, or 20+). Ordinary words and host names stay
    readable, so masking them everywhere in the logs keeps the logs useful."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return [url]
    if not parts.scheme:
        return []
    found = [parts.username or "", parts.password or ""]
    if "." not in host and host != "localhost":
        found.append(host)
    candidates = [*parts.path.split("/"), *(v for _, v in parse_qsl(parts.query))]
    found += [c for c in candidates if _looks_generated(c)]
    return [f for f in found if len(f) >= MIN_SECRET_CHARS]


def _looks_generated(text: str) -> bool:
    return len(text) >= 20 or (len(text) >= 8 and any(c.isdigit() or c.isupper() for c in text))


def mask_secrets(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret value (longest first, as `secret_values` gives them) masked."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def shown_config(config: Config) -> dict[str, Any]:
    """The effective configuration as plain data, secrets masked (`watcher config show`)."""
    data = config.model_dump(mode="json", by_alias=True, exclude={"base_dir"})
    data["state"] = mask_url_password(config.state)
    masked = _masked(data, secret_values(config))
    assert isinstance(masked, dict)
    return masked


def _masked(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        return mask_secrets(value, secrets)
    if isinstance(value, dict):
        return {k: _masked(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, secrets) for v in value]
    return value


def secret_values(config: Config) -> list[str]:
    """Every secret value in the configuration, longest first."""
    found: list[str] = []
    _collect(config, found)
    if (password := url_password(config.state)) is not None:
        found.append(password)
    found += config.env_secrets
    for sink in config.sinks:
        if isinstance(sink, AppriseSink):
            found += [t for url in sink.urls for t in service_url_tokens(url.get_secret_value())]
    return sorted({s for s in found if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)


def _collect(value: Any, found: list[str]) -> None:
    if isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect(getattr(value, name), found)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, found)
