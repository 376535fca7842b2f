"""bot/rasa_patches.py: each patch removes the per-call work it targets and keeps Rasa's
behaviour (answers, errors, stored events). Every test fails without its patch."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from jsonschema import ValidationError
from jsonschema.validators import validator_for

from bot import rasa_patches


def _count_schema_checks(monkeypatch: pytest.MonkeyPatch, schema: dict) -> list[int]:
    """Counts the schema checks of the validator class jsonschema picks for `schema`."""
    cls = validator_for(schema)
    original = cls.check_schema
    calls: list[int] = []

    def check_schema(_cls, schema, *args, **kwargs):  # noqa: ANN001, ANN202
        calls.append(1)
        return original(schema, *args, **kwargs)

    monkeypatch.setattr(cls, "check_schema", classmethod(check_schema))
    return calls


def test_action_results_are_validated_without_rechecking_the_schema(monkeypatch) -> None:
    from rasa.core.actions.action import RemoteAction

    rasa_patches.patch_action_result_validation()
    action = RemoteAction("action_test", None)
    calls = _count_schema_checks(monkeypatch, action.action_response_format_spec())
    result = {"events": [{"event": "slot", "name": "order_id", "value": "573262229751"}],
              "responses": [{"text": "好的"}]}
    for _ in range(5):
        assert action._validate_action_result(result) is True
    assert len(calls) <= 1  # Rasa's own code checks the schema on every call: 5

    with pytest.raises(ValidationError) as error:
        action._validate_action_result({"events": [{"event": "slot", "name": 3}], "responses": []})
    assert "Failed to validate Action server response from API" in error.value.message


def test_training_data_is_validated_without_rechecking_the_schema(monkeypatch) -> None:
    import rasa.shared.nlu.training_data.schemas.data_schema as data_schema
    from rasa.shared.exceptions import SchemaValidationError
    from rasa.shared.nlu.training_data import entities_parser

    rasa_patches.patch_training_data_validation()
    calls = _count_schema_checks(monkeypatch, data_schema.entity_dict_schema())
    for _ in range(5):
        assert entities_parser.get_validated_dict('"entity": "order_id"') == {
            "entity": "order_id"}
    assert len(calls) <= 1

    with pytest.raises(SchemaValidationError, match="Failed to validate data"):
        entities_parser.get_validated_dict('"entity": 5')


def test_posted_events_are_validated_without_rechecking_the_schema(monkeypatch) -> None:
    """What the handoff service posts for every agent message: checked against Rasa's events
    schema once, and a bad event still gets Rasa's 400."""
    from types import SimpleNamespace

    import rasa.server as server

    rasa_patches.patch_append_events_validation()
    calls = _count_schema_checks(monkeypatch, server.EVENTS_SCHEMA)
    message = {"event": "bot", "text": "您好，我是客服小王", "data": {"custom": {}},
               "metadata": {"handoff": {"state": "agent_message"}}}
    for _ in range(5):
        server.validate_events_in_request_body(SimpleNamespace(json=[message, {"event": "pause"}]))
        server.validate_events_in_request_body(SimpleNamespace(json=message))
    assert len(calls) <= 1  # Rasa's own code checks the schema on every call: 10

    with pytest.raises(server.ErrorResponse) as error:
        server.validate_events_in_request_body(SimpleNamespace(json=[{"event": 5}]))
    assert error.value.status == 400 and "Failed to validate the events format" in \
        error.value.error_info["message"]


def test_one_save_publishes_its_events_in_one_commit(tmp_path: Path) -> None:
    from rasa.core.brokers.sql import SQLEventBroker
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from sqlalchemy import event

    rasa_patches.patch_sql_event_broker_batching()
    broker = SQLEventBroker(dialect="sqlite", db=str(tmp_path / "events.db"))
    commits: list[int] = []
    event.listen(broker.engine, "commit", lambda _conn: commits.append(1))
    store = InMemoryTrackerStore(Domain.empty(), event_broker=broker)
    tracker = DialogueStateTracker.from_events("patch-test", [
        ActionExecuted("action_listen"), UserUttered("订单到哪了", {"name": "ask_order_status"}),
        SlotSet("order_id", "573262229751"), BotUttered("运输中"),
        ActionExecuted("action_listen")])

    asyncio.run(store.save(tracker))

    assert len(commits) == 1  # Rasa's broker commits once per event: 5
    with broker.session_scope() as session:
        rows = session.query(broker.SQLBrokerEvent).order_by(broker.SQLBrokerEvent.id).all()
    assert [row.sender_id for row in rows] == ["patch-test"] * 5
    assert [e.as_dict()["event"] for e in tracker.events] == [
        json.loads(row.data)["event"] for row in rows]


def test_a_save_stores_and_publishes_the_new_events_without_reloading_the_tracker(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core.brokers.sql import SQLEventBroker
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

    rasa_patches.patch_sql_event_broker_batching()
    rasa_patches.patch_sql_tracker_store_single_read()
    broker = SQLEventBroker(dialect="sqlite", db=str(tmp_path / "events.db"))
    domain = Domain.from_dict({"slots": {"order_id": {
        "type": "text", "mappings": [{"type": "from_text"}]}}})
    store = SQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "tracker.db"),
                            event_broker=broker)
    reloads: list[str] = []
    original = SQLTrackerStore.retrieve

    async def counting_retrieve(self, sender_id):  # noqa: ANN001, ANN202
        reloads.append(sender_id)
        return await original(self, sender_id)

    monkeypatch.setattr(SQLTrackerStore, "retrieve", counting_retrieve)
    tracker = asyncio.run(store.get_or_create_tracker("single-read"))
    reloads.clear()
    turns = [[UserUttered("订单到哪了", {"name": "ask_order_status"}),
              ActionExecuted("utter_ask_order_id"), BotUttered("请发一下订单号"),
              ActionExecuted("action_listen")],
             [UserUttered("573262229751", {"name": "inform"}), SlotSet("order_id", "573262229751"),
              BotUttered("运输中"), ActionExecuted("action_listen")]]
    for turn in turns:
        for event in turn:
            tracker.update(event)
        asyncio.run(store.save(tracker))

    assert reloads == []  # Rasa's save reloads the whole session once per save: 2
    monkeypatch.setattr(SQLTrackerStore, "retrieve", original)
    stored = asyncio.run(store.retrieve("single-read"))
    assert [e.as_dict() for e in stored.events] == [e.as_dict() for e in tracker.events]
    assert stored.get_slot("order_id") == "573262229751"
    with broker.session_scope() as session:
        rows = session.query(broker.SQLBrokerEvent).order_by(broker.SQLBrokerEvent.id).all()
    assert [json.loads(row.data) for row in rows] == [
        {"sender_id": "single-read", **e.as_dict()} for e in tracker.events]


def test_selected_patches() -> None:
    assert rasa_patches.selected(None) == list(rasa_patches.PATCHES)
    assert rasa_patches.selected("none") == []
    assert rasa_patches.selected(" sql_event_broker_batching ") == [
        rasa_patches.patch_sql_event_broker_batching]
    with pytest.raises(ValueError, match="unknown"):
        rasa_patches.selected("faster_everything")


def test_nothing_is_patched_on_another_rasa_version(monkeypatch) -> None:
    import rasa

    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    assert rasa_patches.install() == []
