"""Rasa's SQL tracker store, made safe against a value the database refuses.

`SQLTrackerStore.session_scope` (Rasa 3.6) turns any `ValueError` raised while a session is
open into "the PostgreSQL schema is missing" and exits the whole server. A text SQLite cannot
encode (a lone surrogate) or a NUL PostgreSQL refuses is a `ValueError` too, so one hostile
sender id or message stopped the product. Here such an error costs only the request that
carried it; a schema that is really missing still stops the server, as in Rasa.
"""
from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import TYPE_CHECKING

from rasa.core.tracker_store import SQLTrackerStore, ensure_schema_exists
from rasa.shared.utils.cli import print_error_and_exit

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class StoreRefusedValueError(RuntimeError):
    """The database refused a value of this request (not a configuration problem)."""


class SafeSQLTrackerStore(SQLTrackerStore):
    """SQLTrackerStore whose bad values fail one request instead of exiting the server."""

    @contextlib.contextmanager
    def session_scope(self) -> Generator[Session, None, None]:
        """A session; only a missing schema exits, as Rasa intends."""
        session = self.sessionmaker()
        try:
            try:
                ensure_schema_exists(session)
            except ValueError as error:
                print_error_and_exit(
                    f"Requested PostgreSQL schema '{error}' was not found in the database. "
                    f"Create it with 'CREATE SCHEMA {error};' or unset POSTGRESQL_SCHEMA.")
            try:
                yield session
            except ValueError as error:
                session.rollback()
                raise StoreRefusedValueError(f"tracker store refused a value: {error}") from error
        finally:
            session.close()
