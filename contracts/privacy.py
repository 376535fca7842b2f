"""Personal data (PIPL): the contract every service that keeps customers' conversations
follows, and the command line each one offers the operator's jobs (ops/privacy.py).

A service lists its stores of personal data (`PersonalData`) and runs `service_cli` with them
as ``python -m <service>.privacy``:

    subjects CUSTOMER                        the sender ids this service links to a customer
    forget --customer X --sender-id=ID ...   delete that customer's rows (more ids as a JSON
                                             list on stdin with --sender-ids-on-stdin)
    purge --before EPOCH                     delete rows older than a time (retention)

each with ``--dry-run`` (the same deletes, rolled back: exact counts, nothing changed). The
answer is one JSON object on stdout: ``{"sender_ids": [...]}`` or
``{"stores": {"<store>": {"<table>": rows}}}``. Details: docs/data.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

Counts = dict[str, int]
MAX_CUSTOMER = 255


class PersonalData(Protocol):
    """One store of customers' conversation data, as the privacy jobs see it."""

    name: str

    def subjects(self, customer: str) -> set[str]:
        """Sender ids (conversation ids) this store links to `customer`."""

    def forget(self, sender_ids: set[str], customer: str, dry_run: bool) -> Counts:
        """Delete the rows of these conversations and of this customer: rows per table."""

    def purge(self, before: float, dry_run: bool) -> Counts:
        """Delete rows older than `before` (epoch seconds): rows per table."""


class CustomerError(ValueError):
    """A customer identifier the jobs refuse (empty, too long, control characters)."""


def check_customer(value: str) -> str:
    """The customer identifier, stripped; raises CustomerError when unusable."""
    text = (value or "").strip()
    if not text:
        raise CustomerError("the customer identifier is empty")
    if len(text) > MAX_CUSTOMER:
        raise CustomerError(f"the customer identifier is longer than {MAX_CUSTOMER} characters")
    if not text.isprintable():
        raise CustomerError("the customer identifier contains control characters")
    return text


def like_containing(text: str) -> str:
    """A LIKE pattern (ESCAPE '\\') matching values that contain `text` literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@contextmanager
def deleting(engine: Engine, dry_run: bool) -> Iterator[Connection]:
    """A transaction for deletes that is committed, or rolled back on a dry run."""
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        except BaseException:
            transaction.rollback()
            raise
        if dry_run:
            transaction.rollback()
        else:
            transaction.commit()


def existing(engine: Engine, tables: Iterable[str]) -> set[str]:
    """Which of these tables the database has (a store never written to has none)."""
    inspector = sa.inspect(engine)
    return {name for name in tables if inspector.has_table(name)}


def sqlite_file_missing(url: str) -> bool:
    """Whether the URL names a SQLite file that does not exist (nothing stored: the jobs do
    not create it)."""
    if not url.startswith("sqlite"):
        return False
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:":
        return False
    from pathlib import Path

    return not Path(database).exists()


def in_batches(values: Iterable[str], size: int = 500) -> Iterator[list[str]]:
    """Values in lists of at most `size` (bounded IN clauses)."""
    batch: list[str] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def service_cli(prog: str, stores: Callable[[], list[PersonalData]]) -> Callable[..., int]:
    """The ``python -m <service>.privacy`` command of a service with these stores."""

    def main(argv: list[str] | None = None) -> int:
        parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                         formatter_class=argparse.RawDescriptionHelpFormatter)
        commands = parser.add_subparsers(dest="command", required=True)
        find = commands.add_parser("subjects", help="sender ids linked to a customer")
        find.add_argument("customer")
        forget = commands.add_parser("forget", help="delete one customer's rows")
        forget.add_argument("--customer", required=True)
        forget.add_argument("--sender-id", action="append", default=[], dest="sender_ids")
        forget.add_argument("--sender-ids-on-stdin", action="store_true",
                            help="read more sender ids as a JSON list from stdin")
        forget.add_argument("--dry-run", action="store_true")
        purge = commands.add_parser("purge", help="delete rows older than a time")
        purge.add_argument("--before", type=float, required=True, help="epoch seconds")
        purge.add_argument("--dry-run", action="store_true")
        args = parser.parse_args(argv)
        try:
            answer = _run(args, stores())
        except CustomerError as error:
            print(f"{prog}: {error}", file=sys.stderr)
            return 2
        print(json.dumps(answer, ensure_ascii=False))
        return 0

    return main


def _sender_ids(text: str) -> set[str]:
    try:
        values = json.loads(text or "[]")
    except ValueError as error:
        raise CustomerError(f"sender ids on stdin are not JSON: {error}") from None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise CustomerError("sender ids on stdin must be a JSON list of strings")
    return set(values)


def _run(args: argparse.Namespace, stores: list[PersonalData]) -> dict:
    if args.command == "subjects":
        customer = check_customer(args.customer)
        found: set[str] = set()
        for store in stores:
            found |= store.subjects(customer)
        return {"sender_ids": sorted(found)}
    if args.command == "forget":
        customer = check_customer(args.customer)
        ids = {customer, *args.sender_ids}
        if args.sender_ids_on_stdin:
            ids |= _sender_ids(sys.stdin.read())
        return {"stores": {s.name: s.forget(ids, customer, args.dry_run) for s in stores}}
    return {"stores": {s.name: s.purge(args.before, args.dry_run) for s in stores}}
