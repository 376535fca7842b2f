"""The workbench's tables in the store (issue 23), on SQLite and on PostgreSQL when
HANDOFF_TEST_POSTGRES_URL names a database: filters (LIKE wildcards matched literally, the
group of the newest transfer), transfers as one conditional UPDATE, tags, canned replies, and
an existing store from before the workbench gaining its tables without losing anything."""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from contracts import db as contracts_db
from handoff import store as store_module
from handoff.store import ConflictError, QueueFilter, Store

URLS = ["sqlite"] + (["postgresql"] if os.environ.get("HANDOFF_TEST_POSTGRES_URL") else [])
ALL = store_module.STATUSES


@pytest.fixture(params=URLS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        yield Store(f"sqlite:///{tmp_path / 'handoff.db'}")
    else:
        yield Store(os.environ["HANDOFF_TEST_POSTGRES_URL"])


def make(store: Store, summary: str, **extra: str) -> dict:
    conversation = f"ds-{uuid.uuid4().hex[:10]}"
    fields = {"conversation_id": conversation, "channel": extra.get("channel", "socketio"),
              "customer_id": None, "reason": extra.get("reason", "complaint"),
              "priority": extra.get("priority", "normal"), "topic": None, "summary": summary,
              "payload": "{}", "bot_paused": True, "requested_at": time.time()}
    return store.create_handoff(conversation, fields, []).handoff


def ids(store: Store, **where: object) -> set[str]:
    return {h["id"] for h in store.list_handoffs(ALL, where=QueueFilter(**where))}


def agent(store: Store, name: str) -> int:
    return store.add_agent(f"{name}-{uuid.uuid4().hex[:6]}", name, "x")


def test_filters_and_search(store: Store) -> None:
    percent = make(store, "客户说优惠只有 50% 而不是 5 折", priority="high")
    plain = make(store, "客户问发票_抬头怎么改", reason="explicit_request", channel="wechat")
    assert percent["id"] in ids(store, text="50%") and plain["id"] not in ids(store, text="%")
    assert plain["id"] in ids(store, text="票_抬") and percent["id"] not in ids(store, text="_")
    assert ids(store, text=plain["conversation_id"]) == {plain["id"]}
    assert percent["id"] in ids(store, priority="high") and plain["id"] not in ids(
        store, priority="high")
    assert plain["id"] in ids(store, channel="wechat", reason="explicit_request")
    store.add_message(plain, "customer", "订单号是 573262229751", "live")
    assert ids(store, text="573262229751") >= {plain["id"]}
    assert plain["id"] not in ids(store, until=time.time() - 3600)
    assert plain["id"] in ids(store, since=time.time() - 3600)


def test_transfers_tags_and_the_group_of_the_newest_transfer(store: Store) -> None:
    first, second = agent(store, "小周"), agent(store, "小吴")
    handoff = make(store, "转接测试")
    store.transition(handoff["id"], "claim", first)
    with pytest.raises(ConflictError):
        store.transfer(handoff["id"], second, to_group="aftersales")  # not the holder
    moved = store.transfer(handoff["id"], first, to_group="aftersales")
    assert moved["status"] == "queued" and moved["agent_id"] is None
    assert handoff["id"] in ids(store, group="aftersales")
    store.transfer(handoff["id"], second, to_group="presales")  # queued: anyone
    assert handoff["id"] not in ids(store, group="aftersales")
    assert handoff["id"] in ids(store, group="presales")
    store.transition(handoff["id"], "claim", second)
    passed = store.transfer(handoff["id"], second, to_agent_id=first)
    assert passed["status"] == "claimed" and passed["agent_id"] == first
    assert store.groups_of([handoff["id"]])[handoff["id"]] is None  # with a person now
    assert store.set_tags(handoff["id"], ["需回访", "物流延误", "需回访"]) == ["物流延误", "需回访"]
    assert ids(store, tag="需回访") >= {handoff["id"]}
    assert store.set_tags(handoff["id"], []) == []
    assert handoff["id"] not in ids(store, tag="需回访")


def test_canned_replies(store: Store) -> None:
    made = store.add_canned("催物流", "{客户称呼}，已为您催促快递。", agent(store, "小周"))
    assert store.update_canned(made["id"], "催件", "已催促。")["title"] == "催件"
    store.delete_canned(made["id"])
    with pytest.raises(store_module.NotFoundError):
        store.delete_canned(made["id"])


def test_an_existing_store_gains_the_workbench_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    # The store as it was before the workbench: migrated up to revision 0002.
    command.upgrade(contracts_db.alembic_config("handoff", url), "0002")
    engine = sa.create_engine(url)
    old = sa.MetaData()
    old.reflect(engine)
    with engine.begin() as db:
        db.execute(old.tables["handoffs"].insert().values(
            id="hold00000001", idempotency_key="k", conversation_id="c-old", reason="complaint",
            priority="normal", priority_rank=2, status="queued", summary="旧数据",
            payload="{}", bot_paused=True, requested_at=1.0, created_at=1.0))
    engine.dispose()
    store = Store(url)
    assert {"canned_replies", "handoff_tags", "transfers"} <= set(sa.inspect(store.engine)
                                                                  .get_table_names())
    assert [h["id"] for h in store.list_handoffs(("queued",))] == ["hold00000001"]
    assert store.canned()  # the defaults offered once
    assert store.set_tags("hold00000001", ["旧"]) == ["旧"]
    Store(url)  # opening it again changes nothing
    assert len(Store(url).canned()) == len(store_module.DEFAULT_CANNED)
