"""The configuration as ops may see it: every secret masked.

Secrets are the `SecretStr` settings (webhook URLs and headers, SMTP passwords) and the
password in a database URL (`postgresql://user:password@host/db`), and what `${VAR}` put
into a URL (a feed's `?apikey=${KEY}`). `secret_values` lists them so that logging can scrub
them from any line that would carry one by accident, and `mask_secrets` from any output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr

from watcher.config.settings import Config

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
