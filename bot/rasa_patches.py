"""Patches to Rasa Open Source 3.6.21 that remove per-turn work from the Rasa server.

Target: rasa 3.6.21 (with jsonschema 4.17 and SQLAlchemy 1.4). `install()` applies them once
per process and only on that version: on any other Rasa it logs a warning and changes nothing,
since each patch replaces a Rasa function whose body may have changed. It runs in the Rasa
server process from `bot.channels.api_guard.GuardedBlueprint.register`, i.e. when the REST
channel is mounted. Measured with `make bench` (docs/performance.md); each patch has a test
in tests/test_rasa_patches.py. RASA_PATCHES selects them (`selected`): unset, all.

- `patch_action_result_validation`: Rasa validates every action server answer with
  `jsonschema.validate`, which checks the schema itself (a large one: every event type) on
  every call, before validating the answer; about 15-20% of the server's CPU under load.
  The validator is now built, and the schema checked, once.
- `patch_training_data_validation`: the same for `validate_training_data` (entity
  annotations, training data posted to the HTTP API): one validator per distinct schema.
- `patch_append_events_validation`: the same for the events posted to
  `POST /conversations/{id}/tracker/events` (`validate_events_in_request_body`), the route the
  handoff service relays every agent message and handoff notice through: about 29 ms of CPU
  per call spent re-checking the events schema, 2 ms with the cached validator.
- `patch_sql_event_broker_batching`: the SQL event broker commits once per event (5-10 per
  turn, each an SQLite transaction with its fsync), beside the tracker store's own commit;
  about 30% of the server's CPU under load. The events of one save are now written in one
  transaction, in the same order. Difference: if writing one of them fails, none of that
  save's events are kept (before, those before it were).
- `patch_sql_tracker_store_single_read`: before storing a turn, the SQL tracker store loads the
  whole conversation session back (every event deserialised and replayed into a tracker) only
  to learn which events the event broker has not seen, then counts the stored events again to
  learn which to write. Both are the events after the stored count: counted once, those are
  published and then written, in one database session.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

TARGET_RASA_VERSION = "3.6.21"
# Distinct schemas kept; Rasa uses a handful.
MAX_VALIDATORS = 64

_validators: dict[str, Any] = {}
_installed: list[str] = []


def cached_validator(schema: dict[str, Any]) -> Any:
    """jsonschema's validator for `schema`, built and its schema checked once per distinct
    schema content (the key is the schema as canonical JSON, so a changed schema gets a new
    validator)."""
    from jsonschema.validators import validator_for

    key = json.dumps(schema, sort_keys=True, default=repr)
    validator = _validators.get(key)
    if validator is None:
        cls = validator_for(schema)
        cls.check_schema(schema)  # SchemaError for a bad schema, as jsonschema.validate
        validator = cls(schema)
        if len(_validators) < MAX_VALIDATORS:
            _validators[key] = validator
    return validator


def validate(instance: Any, schema: dict[str, Any]) -> None:
    """`jsonschema.validate(instance, schema)` with a cached validator: raises the same
    (best-matching) ValidationError."""
    from jsonschema.exceptions import best_match

    error = best_match(cached_validator(schema).iter_errors(instance))
    if error is not None:
        raise error


def patch_action_result_validation() -> None:
    """`RemoteAction._validate_action_result` with a cached validator; same error message."""
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    if getattr(RemoteAction._validate_action_result, "_shop_patched", False):
        return

    def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        from jsonschema import ValidationError

        try:
            validate(result, self.action_response_format_spec())
            return True
        except ValidationError as e:
            e.message += (
                f". Failed to validate Action server response from API, "
                f"make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit "
                f"{DOCS_BASE_URL}/custom-actions"
            )
            raise e

    _validate_action_result._shop_patched = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = _validate_action_result


def patch_training_data_validation() -> None:
    """`rasa.shared.utils.validation.validate_training_data` with a cached validator (its
    callers look it up on the module, so replacing it there covers them)."""
    import rasa.shared.utils.validation as validation
    from rasa.shared.constants import DOCS_URL_TRAINING_DATA
    from rasa.shared.exceptions import SchemaValidationError

    if getattr(validation.validate_training_data, "_shop_patched", False):
        return

    def validate_training_data(json_data: dict[str, Any], schema: dict[str, Any]) -> None:
        """Validate rasa training data format (Rasa's, with a cached validator)."""
        from jsonschema import ValidationError

        try:
            validate(json_data, schema)
        except ValidationError as e:
            e.message += (
                f". Failed to validate data, make sure your data "
                f"is valid. For more information about the format visit "
                f"{DOCS_URL_TRAINING_DATA}."
            )
            raise SchemaValidationError.create_from(e) from e

    validate_training_data._shop_patched = True  # type: ignore[attr-defined]
    validation.validate_training_data = validate_training_data


def patch_append_events_validation() -> None:
    """`rasa.server.validate_events_in_request_body` with a cached validator (the route
    handlers look it up on the module at call time); same 400 answer for bad events."""
    import rasa.server as server

    if getattr(server.validate_events_in_request_body, "_shop_patched", False):
        return

    def validate_events_in_request_body(request: Any) -> None:
        """Validates events format in request body (Rasa's, with a cached validator)."""
        from http import HTTPStatus

        from jsonschema import ValidationError

        events = request.json if isinstance(request.json, list) else [request.json]
        try:
            validate(events, server.EVENTS_SCHEMA)
        except ValidationError as error:
            raise server.ErrorResponse(
                HTTPStatus.BAD_REQUEST,
                "BadRequest",
                f"Failed to validate the events format. "
                f"For more information about the format visit the docs. Error: {error}",
                help_url=server._docs("/pages/http-api"),
            ) from error

    validate_events_in_request_body._shop_patched = True  # type: ignore[attr-defined]
    server.validate_events_in_request_body = validate_events_in_request_body


def patch_sql_event_broker_batching() -> None:
    """Publish the new events of one tracker save to the SQL event broker in one commit."""
    from rasa.core.brokers.sql import SQLEventBroker
    from rasa.core.tracker_store import TrackerStore

    original = TrackerStore._stream_new_events
    if getattr(original, "_shop_patched", False):
        return

    async def _stream_new_events(self: TrackerStore, event_broker: Any, new_events: list[Any],
                                 sender_id: str) -> None:
        """Rasa's, but a plain SQL event broker gets all events in one transaction."""
        if not isinstance(event_broker, SQLEventBroker) or (
                type(event_broker).publish is not SQLEventBroker.publish):
            await original(self, event_broker, new_events, sender_id)
            return
        bodies = []
        for event in new_events:
            body = {"sender_id": sender_id}
            body.update(event.as_dict())
            bodies.append(body)
        if not bodies:
            return
        with event_broker.session_scope() as session:
            session.add_all([
                event_broker.SQLBrokerEvent(sender_id=body.get("sender_id"),
                                            data=json.dumps(body))
                for body in bodies
            ])
            session.commit()

    _stream_new_events._shop_patched = True  # type: ignore[attr-defined]
    TrackerStore._stream_new_events = _stream_new_events


def patch_sql_tracker_store_single_read() -> None:
    """`SQLTrackerStore.save` without reloading the conversation to diff it."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.nlu.constants import INTENT_NAME_KEY

    if getattr(SQLTrackerStore.save, "_shop_patched", False):
        return

    async def save(self: SQLTrackerStore, tracker: Any) -> None:
        """Update database with events from the current conversation (Rasa's, counting the
        stored events once for both the event broker and the database)."""
        with self.session_scope() as session:
            events = list(self._additional_events(session, tracker))
            if self.event_broker is not None:
                await self._stream_new_events(self.event_broker, events, tracker.sender_id)
            for event in events:
                data = event.as_dict()
                intent = data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY)
                session.add(self.SQLEvent(
                    sender_id=tracker.sender_id, type_name=event.type_name,
                    timestamp=data.get("timestamp"), intent_name=intent,
                    action_name=data.get("name"), data=json.dumps(data)))
            session.commit()
        logger.debug("Tracker with sender_id '%s' stored to database", tracker.sender_id)

    save._shop_patched = True  # type: ignore[attr-defined]
    SQLTrackerStore.save = save


PATCHES: tuple[Callable[[], None], ...] = (
    patch_action_result_validation,
    patch_training_data_validation,
    patch_append_events_validation,
    patch_sql_event_broker_batching,
    patch_sql_tracker_store_single_read,
)


def selected(setting: str | None) -> list[Callable[[], None]]:
    """The patches a RASA_PATCHES value selects: unset or empty, all; `none`, none; else the
    comma-separated names without `patch_` (e.g. `action_result_validation`). For measuring
    one patch at a time, or turning one off; an unknown name is an error."""
    if not setting or not setting.strip():
        return list(PATCHES)
    names = [name.strip() for name in setting.split(",") if name.strip()]
    if names == ["none"]:
        return []
    by_name = {patch.__name__.removeprefix("patch_"): patch for patch in PATCHES}
    unknown = sorted(set(names) - set(by_name))
    if unknown:
        raise ValueError(f"RASA_PATCHES: unknown patch(es) {', '.join(unknown)}; "
                         f"known: {', '.join(by_name)}, or none")
    return [by_name[name] for name in names]


def install(setting: str | None = None) -> list[str]:
    """Apply the selected patches (default: RASA_PATCHES, else all) once, on Rasa
    TARGET_RASA_VERSION only; returns the names applied so far."""
    import os

    import rasa

    if rasa.__version__ != TARGET_RASA_VERSION:
        logger.warning("bot.rasa_patches targets rasa %s, not %s: not applied",
                       TARGET_RASA_VERSION, rasa.__version__)
        return []
    for patch in selected(os.environ.get("RASA_PATCHES") if setting is None else setting):
        if patch.__name__ not in _installed:
            patch()
            _installed.append(patch.__name__)
    if _installed:
        logger.info("Rasa patches applied: %s", ", ".join(_installed))
    return list(_installed)
