"""The services' own stores: one way to name a database, open it and migrate it.

Every store (handoff service, shop API, widget, the action server's outbox, the WeChat
channel's state) takes a SQLite file path or a SQLAlchemy URL (``postgresql://...``), opens it
with `make_engine` and brings its schema to the newest revision with `migrate` when it
starts. Each store owns one Alembic environment, ``migrations/<service>/``, with its own
version table (``alembic_version_<service>``), so stores may share one PostgreSQL database
without seeing each other's tables. Details: docs/data.md.
"""
from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "migrations"
# The first revision of every environment: a store created by the code from before the
# migrations (tables present, no version table) is stamped with it, then upgraded.
BASELINE = "0001"


def database_url(value: str | Path) -> str:
    """A SQLAlchemy URL from a setting: a URL as it is, anything else is a SQLite file path
    (relative paths from the project root)."""
    text = str(value)
    if "://" in text:
        return text
    if text == ":memory:":
        return "sqlite:///:memory:"
    path = Path(text)
    return f"sqlite:///{path if path.is_absolute() else ROOT / path}"


def make_engine(value: str | Path, immediate: bool = False, wal: bool = False) -> Engine:
    """An engine for a URL or SQLite path. SQLite files get their folder, a busy timeout and,
    for ``:memory:``, one connection shared across threads.

    `immediate`: SQLAlchemy, not the sqlite3 module, starts SQLite transactions, with BEGIN
    IMMEDIATE, so a read-then-write block holds the write lock from its first read (against
    other processes too). `wal`: the file is in write-ahead-log mode (readers do not wait for
    a writer)."""
    url = database_url(value)
    kwargs: dict[str, Any] = {"future": True}
    sqlite = url.startswith("sqlite")
    memory = url in ("sqlite://", "sqlite:///:memory:")
    if sqlite:
        if not memory:
            Path(sa.engine.make_url(url).database or "").parent.mkdir(parents=True,
                                                                       exist_ok=True)
        kwargs["connect_args"] = {"timeout": 15, "check_same_thread": False}
        if memory:
            kwargs["poolclass"] = StaticPool
    else:
        kwargs["pool_pre_ping"] = True
    engine = sa.create_engine(url, **kwargs)
    if sqlite:
        _sqlite_options(engine, immediate, wal and not memory)
    return engine


def _sqlite_options(engine: Engine, immediate: bool, wal: bool) -> None:
    """SQLAlchemy's recipe for pysqlite transactions, and the journal mode."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        if wal:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
        if immediate:
            dbapi_connection.isolation_level = None

    if immediate:
        @sa.event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def version_table(service: str) -> str:
    """The table in which a service's environment records its revision."""
    return f"alembic_version_{service}"


def alembic_config(service: str, url: str | None = None) -> Any:
    """The Alembic configuration of a service's environment (no alembic.ini needed)."""
    from alembic.config import Config

    folder = MIGRATIONS / service
    if not (folder / "env.py").is_file():
        raise ValueError(f"no migration environment for {service!r} in {MIGRATIONS}")
    config = Config()
    config.set_main_option("script_location", str(folder))
    config.set_main_option("version_table", version_table(service))
    if url:
        config.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return config


def migrate(engine: Engine, service: str, metadata: sa.MetaData) -> None:
    """Bring a store's schema to the newest revision (``upgrade head``), in one transaction.

    A store from before the migrations (some of its tables, no version table) is first
    stamped with the baseline. On PostgreSQL an advisory lock makes replicas starting
    together migrate one after the other; a SQLite file is migrated in a BEGIN IMMEDIATE
    transaction of its own (the sqlite3 module's default would commit the DDL of a failed
    migration and keep it), which serialises processes starting together as well."""
    migrating = engine
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        migrating = make_engine(engine.url.render_as_string(hide_password=False),
                                immediate=True)
    try:
        _upgrade(migrating, service, metadata)
    finally:
        if migrating is not engine:
            migrating.dispose()


def _upgrade(engine: Engine, service: str, metadata: sa.MetaData) -> None:
    from alembic import command

    config = alembic_config(service)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            key = zlib.crc32(version_table(service).encode())
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        config.attributes["connection"] = connection
        inspector = sa.inspect(connection)
        if not inspector.has_table(version_table(service)) and any(
                inspector.has_table(name) for name in metadata.tables):
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")


def schema_differences(engine: Engine, metadata: sa.MetaData) -> list[Any]:
    """What separates the database's schema from `metadata` (empty when they agree), as
    Alembic's autogenerate sees it, for the store's own tables only."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "include_name": own_tables(metadata)})
        return compare_metadata(context, metadata)


def own_tables(metadata: sa.MetaData) -> Any:
    """An Alembic `include_name` hook that sees only the tables of `metadata`: other services'
    tables in a shared database are neither compared nor dropped."""

    def include(name: str | None, type_: str, _parent: dict[str, Any]) -> bool:
        return type_ != "table" or name in metadata.tables

    return include


def run_env(metadata: sa.MetaData) -> None:
    """The body of every ``migrations/<service>/env.py``: migrate the connection `migrate`
    passes, or the URL of the configuration (``python -m contracts.migrations``)."""
    from alembic import context

    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_migrations(context, connection, metadata)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("the Alembic configuration names no sqlalchemy.url to migrate")
    engine = make_engine(url)
    with engine.begin() as connection:
        _run_migrations(context, connection, metadata)
    engine.dispose()


def _run_migrations(context: Any, connection: Connection, metadata: sa.MetaData) -> None:
    context.configure(
        connection=connection, target_metadata=metadata, compare_type=True,
        version_table=context.config.get_main_option("version_table"),
        include_name=own_tables(metadata),
        # SQLite alters a table by copying it: batch mode, which PostgreSQL runs as ALTER.
        render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
