"""Who may use the desk, and the guards every desk response passes through.

    request ─▶ authenticate ─▶ role (read: look; write: also ack and silence) ─▶ CSRF ─▶ handler
       (Bearer token, or HTTP Basic against the users file; no auth configured: loopback only)

Unauthenticated desks are refused beyond loopback (`check_exposure`). Changes made with the
browser's ambient credentials (Basic, or none on loopback) need the double-submit CSRF token:
the `watcher_csrf` cookie (SameSite=Strict) echoed in an `X-CSRF-Token` header, which another
site can neither read nor send; a Bearer token is never ambient, so it needs none.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from watcher.config.settings import DeskRole, DeskSettings
from watcher.errors import ConfigError, Problem, WatcherError
from watcher.yamlfile import YamlProblem, read_yaml, validation_problems

CSRF_COOKIE = "watcher_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REALM = 'Basic realm="watcher desk", charset="UTF-8"'
MAX_VERIFIED = 256  # Basic credentials remembered once verified (Argon2 is slow on purpose)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Principal:
    name: str
    role: DeskRole
    ambient: bool  # credentials the browser sends by itself: changes need the CSRF token


class DeskUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[^:\s]+$")
    password_hash: str = Field(pattern=r"^\$argon2id\$", description="Argon2id hash.")
    role: DeskRole = "read"


def read_users(path: Path) -> dict[str, DeskUser]:
    """The users file: a YAML list of {name, password_hash, role}; ConfigError naming
    FILE:LINE:COL for anything wrong."""
    try:
        doc = read_yaml(path)
    except YamlProblem as exc:
        raise ConfigError([exc.problem]) from None
    if not isinstance(doc.data, list):
        raise ConfigError([doc.problem((), "a users file is a list of users")])
    users: dict[str, DeskUser] = {}
    problems: list[Problem] = []
    for i, entry in enumerate(doc.data):
        try:
            user = DeskUser.model_validate(entry)
        except ValidationError as exc:
            problems += validation_problems(doc, exc, (i,))
            continue
        if user.name in users:
            problems.append(doc.problem((i, "name"), f"user {user.name!r} is listed twice"))
        users[user.name] = user
    if problems:
        raise ConfigError(problems)
    return users


PRINCIPAL = web.RequestKey("principal", Principal)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Authenticator:
    def __init__(self, settings: DeskSettings, base_dir: Path) -> None:
        self.tokens = [(t.token.get_secret_value().encode(), Principal(t.name, t.role, False))
                       for t in settings.tokens]
        self.users = (read_users(_resolve(base_dir, settings.users_file))
                      if settings.users_file else {})
        self._hasher = PasswordHasher()
        self._verified: dict[bytes, Principal] = {}

    @property
    def configured(self) -> bool:
        return bool(self.tokens or self.users)

    def check_exposure(self, host: str) -> None:
        """Refuse to serve an open desk beyond loopback."""
        if not self.configured and not is_loopback(host):
            raise WatcherError(
                f"the desk would listen on {host} without authentication: set desk.tokens "
                "or desk.users_file, listen on 127.0.0.1, or set desk.enabled: false")

    def principal(self, request: web.Request) -> Principal | None:
        if not self.configured:
            return Principal("desk", "write", True)
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            offered = value.strip().encode()
            found = None
            for token, who in self.tokens:  # every one compared: no timing by position
                if hmac.compare_digest(token, offered):
                    found = who
            return found
        if scheme.lower() == "basic":
            return self._basic(value.strip())
        return None

    def _basic(self, value: str) -> Principal | None:
        key = hashlib.sha256(value.encode()).digest()
        if key in self._verified:
            return self._verified[key]
        try:
            name, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user = self.users.get(name)
        if user is None:
            return None
        try:
            self._hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        if len(self._verified) >= MAX_VERIFIED:
            self._verified.clear()
        who = self._verified[key] = Principal(user.name, user.role, True)
        return who


def _resolve(base_dir: Path, path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else base_dir / p


def guard(auth: Authenticator) -> Middleware:
    """The middleware of the desk's sub-applications: authentication, roles, CSRF."""

    @web.middleware
    async def desk_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        who = auth.principal(request)
        if who is None:
            return _refused(request, 401, "authentication required",
                            {"WWW-Authenticate": REALM} if auth.users else {})
        if request.method not in SAFE_METHODS:
            if who.role != "write":
                return _refused(request, 403, f"{who.name} may only read (role read)")
            if who.ambient and not csrf_ok(request):
                return _refused(request, 403, "CSRF check failed: send the watcher_csrf "
                                              "cookie's value in X-CSRF-Token")
        request[PRINCIPAL] = who
        response = await handler(request)
        if CSRF_COOKIE not in request.cookies:
            response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(32), path="/",
                                samesite="Strict", secure=request.secure)
        return response

    return desk_guard


def csrf_ok(request: web.Request) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
        return False
    origin = request.headers.get("Origin")
    return origin is None or origin == f"{request.scheme}://{request.host}"


def _refused(request: web.Request, status: int, message: str,
             headers: dict[str, str] | None = None) -> web.Response:
    if request.path.startswith("/api/"):
        return web.json_response({"error": message}, status=status, headers=headers)
    return web.Response(text=message, status=status, headers=headers)
