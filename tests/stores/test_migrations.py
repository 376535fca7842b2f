"""Each store's migrations create exactly the schema its code declares, on SQLite and on
PostgreSQL, and a store file made by the code before the migrations is adopted: stamped,
upgraded, its rows kept."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from contracts import db
from migrations import STORES, metadata_of
from migrations.__main__ import main as migrations_main


@pytest.mark.parametrize("service", list(STORES))
def test_the_migrations_create_the_schema_of_the_code(service: str, database: str) -> None:
    engine = db.make_engine(database)
    metadata = metadata_of(service)
    db.migrate(engine, service, metadata)
    assert db.schema_differences(engine, metadata) == []
    inspector = sa.inspect(engine)
    assert set(metadata.tables) <= set(inspector.get_table_names())
    with engine.connect() as conn:
        version = conn.execute(sa.text(f"SELECT version_num FROM {db.version_table(service)}"))
        assert version.scalar() == _head(service)
    db.migrate(engine, service, metadata)  # a second start changes nothing
    assert db.schema_differences(engine, metadata) == []
    engine.dispose()


def test_stores_sharing_one_database_keep_to_their_own_tables(database: str) -> None:
    engine = db.make_engine(database)
    for service in STORES:
        db.migrate(engine, service, metadata_of(service))
    for service in STORES:
        assert db.schema_differences(engine, metadata_of(service)) == []
    engine.dispose()


def test_a_changed_metadata_is_a_difference_the_next_revision_must_cover(tmp_path: Path) -> None:
    engine = db.make_engine(tmp_path / "h.db")
    metadata = metadata_of("handoff")
    db.migrate(engine, "handoff", metadata)
    changed = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["handoffs"].append_column(sa.Column("column_not_in_the_code", sa.Text))
    differences = db.schema_differences(engine, changed)
    assert [d[0] for d in differences] == ["add_column"]
    assert differences[0][3].name == "column_not_in_the_code"


def test_the_check_command_passes_for_every_store(capsys: pytest.CaptureFixture) -> None:
    assert migrations_main(["check", "all"]) == 0
    assert capsys.readouterr().out.count("matches its metadata") == len(STORES)


# --- stores made by the code before the migrations --------------------------------------

LEGACY_OUTBOX = """CREATE TABLE outbox (
    key TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, payload TEXT NOT NULL,
    created_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    delivered_at REAL);
INSERT INTO outbox (key, conversation_id, payload, created_at)
    VALUES ('k1', 'c1', '{"conversation_id": "c1"}', 1.0);"""
LEGACY_CSAT = """CREATE TABLE csat (
    session_id TEXT NOT NULL, episode TEXT NOT NULL,
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5), comment TEXT NOT NULL DEFAULT '',
    trigger TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (session_id, episode));
INSERT INTO csat VALUES ('s1', 'e1', 4, '', 'goodbye', '2026-01-01', '2026-01-01');"""
LEGACY_WECHAT = """
CREATE TABLE seen_callbacks (key TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE offered_buttons (
    user_id TEXT PRIMARY KEY, buttons TEXT NOT NULL, expires_at REAL NOT NULL);
INSERT INTO seen_callbacks VALUES ('msg:1', 9999999999);"""


def _structural(differences: list) -> list:
    """Differences other than two that SQLite files of the old code carry and that change no
    behaviour: REAL where the code now says FLOAT (the same type affinity in SQLite) and a
    TEXT primary key that SQLite let be NULL (the code never writes one)."""
    flat = [d for group in differences for d in (group if isinstance(group, list) else [group])]
    return [d for d in flat if not (
        d[0] == "modify_type" and str(d[5]) == "REAL" and isinstance(d[6], sa.Float)
        or d[0] == "modify_nullable" and d[5] is True and d[6] is False)]


def _legacy(path: Path, script: str) -> str:
    with sqlite3.connect(path) as conn:
        conn.executescript(script)
    return str(path)


def _made_by_the_old_code(path: Path, service: str) -> None:
    """The baseline's tables and no version table: what the code before the migrations
    created (the baseline revision is that schema; later revisions are not applied)."""
    from alembic import command

    engine = db.make_engine(path)
    config = db.alembic_config(service)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, db.BASELINE)
        conn.execute(sa.text(f"DROP TABLE {db.version_table(service)}"))
    engine.dispose()


def _head(service: str) -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(db.alembic_config(service)).get_current_head()


def _version(path: str, service: str) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT version_num FROM {db.version_table(service)}").fetchone()[0]


def test_an_outbox_from_before_dead_letters_is_upgraded_and_keeps_its_handoffs(
        tmp_path: Path) -> None:
    from bot.outbox import Outbox

    path = _legacy(tmp_path / "outbox.db", LEGACY_OUTBOX)
    box = Outbox(path)
    assert [key for key, _ in box.pending()] == ["k1"]
    box.mark_dead("k1", "400 refused")
    assert [d["key"] for d in box.dead_letters()] == ["k1"]
    assert _version(path, "outbox") == _head("outbox")
    assert _structural(db.schema_differences(db.make_engine(path), metadata_of("outbox"))) == []


def test_an_outbox_that_already_had_dead_letters_is_adopted(tmp_path: Path) -> None:
    from bot.outbox import Outbox

    path = _legacy(tmp_path / "outbox.db", LEGACY_OUTBOX + "\nALTER TABLE outbox ADD COLUMN "
                   "dead_at REAL;")
    assert [key for key, _ in Outbox(path).pending()] == ["k1"]
    assert _version(path, "outbox") == _head("outbox")


def test_old_widget_and_wechat_stores_are_adopted_with_their_rows(tmp_path: Path) -> None:
    from bot.channels.store import ChannelStore
    from widget.csat import CsatStore

    ratings = CsatStore(_legacy(tmp_path / "widget.db", LEGACY_CSAT))
    assert ratings.get("s1", "e1")["rating"] == 4
    assert _version(str(tmp_path / "widget.db"), "widget") == _head("widget")
    state = ChannelStore(_legacy(tmp_path / "state.db", LEGACY_WECHAT))
    assert not state.claim("msg:1", ttl=60)
    assert _version(str(tmp_path / "state.db"), "wechat") == _head("wechat")
    for service, path in (("widget", "widget.db"), ("wechat", "state.db")):
        engine = db.make_engine(tmp_path / path)
        assert _structural(db.schema_differences(engine, metadata_of(service))) == []


def test_an_old_handoff_store_gets_the_one_open_handoff_index(tmp_path: Path) -> None:
    from handoff.store import Store, handoffs

    path = tmp_path / "handoff.db"
    _made_by_the_old_code(path, "handoff")
    engine = sa.create_engine(f"sqlite:///{path}")
    assert "uq_handoffs_open_conversation" not in {
        i["name"] for i in sa.inspect(engine).get_indexes("handoffs")}
    store = Store(f"sqlite:///{path}")
    assert "uq_handoffs_open_conversation" in {
        i["name"] for i in sa.inspect(store.engine).get_indexes("handoffs")}
    assert _version(str(path), "handoff") == _head("handoff")
    assert handoffs.name == "handoffs"


def test_an_old_shop_database_is_adopted_with_its_orders(tmp_path: Path) -> None:
    from shop_api import seed
    from shop_api.store import Store

    path = tmp_path / "shop.db"
    _made_by_the_old_code(path, "shop_api")
    with sqlite3.connect(path) as conn:  # a row as the old code wrote it
        conn.execute("INSERT INTO meta (key, value) VALUES ('seed_version', 'old')")
    store = Store(str(path))
    assert store.get_meta("seed_version") == "old"
    seed.seed(store)
    order_id = seed.scenario("pending_payment")
    assert store.order(order_id)["state"] == "pending_payment"
    assert _version(str(path), "shop_api") == _head("shop_api")
    assert db.schema_differences(store.engine, metadata_of("shop_api")) == []


def test_an_old_handoff_store_with_two_open_handoffs_of_a_conversation_says_which(
        tmp_path: Path) -> None:
    from handoff.store import Store

    path = tmp_path / "handoff.db"
    _made_by_the_old_code(path, "handoff")
    with sqlite3.connect(path) as conn:
        for handoff_id in ("h1", "h2"):
            conn.execute(
                "INSERT INTO handoffs (id, idempotency_key, conversation_id, reason, priority, "
                "priority_rank, status, summary, payload, bot_paused, requested_at, created_at) "
                "VALUES (?, ?, 'conv-9', 'complaint', 'high', 1, 'queued', '', '{}', 1, 1, 1)",
                (handoff_id, handoff_id))
    with pytest.raises(RuntimeError, match="conv-9"):
        Store(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:  # what the message asks for
        conn.execute("UPDATE handoffs SET status = 'cancelled' WHERE id = 'h2'")
    store = Store(f"sqlite:///{path}")
    assert [h["id"] for h in store.list_handoffs(("queued",))] == ["h1"]
    assert _version(str(path), "handoff") == _head("handoff")
