"""Every store test runs on SQLite and on a throwaway PostgreSQL server (`postgres_server` in
tests/conftest.py); the PostgreSQL variant is skipped, with the reason, only where no server
can start."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests import postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return postgres.new_database(request.getfixturevalue("postgres_server"))
