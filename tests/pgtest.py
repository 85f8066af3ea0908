"""The real PostgreSQL on loopback for tests: one throwaway schema per test.

`PG_TEST_URL` names the server (default: 127.0.0.1:5432, user postgres, database test).
Without a server the tests that need it skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

BASE_URL = os.environ.get("PG_TEST_URL", "postgresql://postgres@127.0.0.1:5432/test")


def schema_url(schema: str, base: str = BASE_URL) -> str:
    """The URL of `base` with `schema` first on the search_path (where the store's tables go)."""
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}"


def server_error() -> str | None:
    """Why the test server cannot be used, or None when it can."""
    try:
        with psycopg.connect(BASE_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip()


def require_server(in_ci: bool) -> None:
    error = server_error()
    if error is None:
        return
    if in_ci:
        pytest.fail(f"PostgreSQL at {BASE_URL} is required under CI=true: {error}")
    pytest.skip(f"PostgreSQL at {BASE_URL} is not available: {error}")


def new_schema_name() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


def drop_schema(schema: str) -> None:
    with psycopg.connect(BASE_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def run_sql(schema: str, statement: str) -> list[tuple[object, ...]]:
    """Run one statement in that schema (to corrupt or inspect what the store wrote)."""
    with psycopg.connect(schema_url(schema), autocommit=True) as conn:
        cur = conn.execute(statement.encode())
        return cur.fetchall() if cur.description is not None else []
