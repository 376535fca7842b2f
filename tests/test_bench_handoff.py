"""The benchmark's turn classification (evaluation/bench_handoff.py): which single-conversation
turns count as "without backend calls" for the issue's latency target."""
from __future__ import annotations

from evaluation.bench_handoff import (
    HandoffFigures,
    HandoffSample,
    action_server_actions,
    align,
    turn_kinds,
)

DOMAIN = {"actions": ["action_order_status", "validate_address_form"],
          "forms": {"address_form": {}, "feedback_form": {}}}


def test_custom_actions_and_validated_forms_call_the_action_server() -> None:
    assert action_server_actions(DOMAIN) == {"action_order_status", "validate_address_form",
                                             "address_form"}


def test_turns_are_split_at_user_messages() -> None:
    events = [
        {"event": "action", "name": "action_session_start"},
        {"event": "user", "text": "你好"},
        {"event": "action", "name": "utter_greet"},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "查订单"},
        {"event": "action", "name": "action_order_status"},
        {"event": "user", "text": "改地址"},
        {"event": "action", "name": "feedback_form"},  # a form without validation action
        {"event": "user", "text": "新地址"},
        {"event": "action", "name": "address_form"},
    ]
    backend = action_server_actions(DOMAIN)
    assert turn_kinds(events, backend) == [("你好", False), ("查订单", True), ("改地址", False),
                                           ("新地址", True)]


def test_messages_the_bot_added_are_skipped_when_aligning() -> None:
    kinds = [("查快递", False), ("帮我查下快递", True), ("好的", True)]
    # The bot put "帮我查下快递" back as a user message of its own between the two turns.
    assert align(["查快递", "好的"], kinds) == {0: False, 1: True}
    assert align(["没发过"], kinds) == {}


def test_handoff_series_leave_out_what_never_arrived() -> None:
    figures = HandoffFigures([HandoffSample(queue_ms=120.0, reply_ms=None),
                              HandoffSample(queue_ms=80.0, reply_ms=300.0, error="x")])
    assert figures.series("queue_ms") == [120.0, 80.0]
    assert figures.series("reply_ms") == [300.0]
    assert figures.errors == 1
