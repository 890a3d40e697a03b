"""Shared test setup: no test reads the configuration of the user running the suite."""

from __future__ import annotations

import itertools
import os
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest


@pytest.fixture(autouse=True)
def _isolated_user_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    home = tmp_path_factory.mktemp("config-home")
    monkeypatch.setenv("STAGEFLOW_CONFIG_HOME", str(home))
    return home


# -- PostgreSQL ----------------------------------------------------------------------------

POSTGRES_URL = os.environ.get(
    "STAGEFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
"""The one place the tests' PostgreSQL server is named (override with the variable)."""


def _postgres_unavailable(reason: str) -> None:
    message = f"PostgreSQL is not available at {POSTGRES_URL}: {reason}"
    if os.environ.get("STAGEFLOW_REQUIRE_POSTGRES") == "1":
        pytest.fail(message + " (and STAGEFLOW_REQUIRE_POSTGRES=1 requires it)", pytrace=False)
    pytest.skip(message + " (set STAGEFLOW_TEST_POSTGRES_URL to run these tests)")


@pytest.fixture(scope="session")
def postgres_schemas() -> Iterator[Callable[[], str]]:
    """Names fresh schemas for this test session (``stageflow_test_{pid}_{n}``); drops them
    all when the session ends. Skips (or, with ``STAGEFLOW_REQUIRE_POSTGRES=1``, fails)
    when the server cannot be reached."""
    try:
        import psycopg
    except ImportError:
        _postgres_unavailable("psycopg is not installed (pip install 'stageflow[postgres]')")
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=5).close()
    except psycopg.Error as exc:
        _postgres_unavailable(" ".join(str(exc).split()))
    prefix = f"stageflow_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    counter = itertools.count(1)
    yield lambda: f"{prefix}_{next(counter)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (prefix + "%",)
        ).fetchall()
        for (name,) in rows:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def postgres_url(postgres_schemas: Callable[[], str]) -> Iterator[str]:
    """The URL of a fresh, empty schema of the test server, dropped after the test."""
    schema = postgres_schemas()
    yield f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
