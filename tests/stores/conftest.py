"""Every store test runs on SQLite and on a throwaway PostgreSQL server (tests/postgres.py);
the PostgreSQL variant is skipped, with the reason, only where no server can start."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server started for this test session."""
    reason = postgres.unavailable_reason()
    if reason:
        pytest.skip(reason)
    with postgres.throwaway_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return postgres.new_database(request.getfixturevalue("postgres_server"))
