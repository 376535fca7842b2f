"""The handoff contract has one source, handoff/openapi.yaml, plus contracts/handoff.py for the
words both sides show: the bot's payload conforms to the document, the service serves exactly
the documented API routes, and reasons and priorities are one set everywhere."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.handoff import REASON_LABELS, Reason, build_payload
from contracts.handoff import MAX_ID, PRIORITIES, REASONS
from tests.handoff.test_bot_handoff import conversation
from tests.shop_api.openapi_check import OpenApi

SPEC = Path(__file__).resolve().parents[2] / "handoff" / "openapi.yaml"


@pytest.fixture(scope="module")
def spec() -> OpenApi:
    return OpenApi(SPEC)


def schema(spec: OpenApi, name: str) -> dict:
    return spec.doc["components"]["schemas"][name]


def test_reasons_and_priorities_are_one_set(spec: OpenApi) -> None:
    assert schema(spec, "Reason")["enum"] == list(REASONS)
    assert schema(spec, "Priority")["enum"] == list(PRIORITIES)
    # The bot hands off for reasons of the contract, and names them with its labels.
    assert {reason.value for reason in Reason} <= set(REASONS)
    assert all(REASON_LABELS[reason] == REASONS[reason.value] for reason in Reason)


@pytest.mark.parametrize("reason", list(Reason))
def test_the_bot_payload_conforms_to_the_contract(spec: OpenApi, reason: Reason) -> None:
    payload = build_payload(conversation("c-contract"), reason, "high")
    errors = spec.validate(schema(spec, "HandoffPayload"), payload)
    assert not errors, errors
    assert REASONS[reason.value] in payload["summary"]


def test_the_check_notices_a_payload_off_the_contract(spec: OpenApi) -> None:
    payload = build_payload(conversation("c-contract"), Reason.COMPLAINT, "normal")
    payload.update(reason="angry", priority="asap", customer_id="x" * (MAX_ID + 1))
    del payload["transcript"]
    errors = spec.validate(schema(spec, "HandoffPayload"), payload)
    assert {e.split(":")[0] for e in errors} == {"$.reason", "$.priority", "$.customer_id",
                                                 "$.transcript"}


def test_the_service_serves_the_documented_api(spec: OpenApi) -> None:
    from handoff.app import create_app
    from handoff.config import Settings

    app = create_app(Settings(db_url="sqlite://", events_url=""), name="contract_check")
    served = {(method, re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", "/" + route.path.lstrip("/")))
              for route in app.router.routes for method in route.methods
              if route.path.lstrip("/").startswith("api/") and method not in ("HEAD", "OPTIONS")}
    documented = {(method, path) for method, path in spec.operations()
                  if path.startswith("/api/")}
    assert served == documented
