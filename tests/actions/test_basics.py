"""Basics actions run against saved trackers, as the action server would run them."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.basics import (
    ActionAcknowledgeDetails,
    ActionFallback,
    consecutive_fallbacks,
    mask_phone,
)

DOMAIN: dict[str, Any] = {}


def user_event(intent: str, text: str = "x", **extra: Any) -> dict[str, Any]:
    parse = {"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text, **extra}
    return {"event": "user", "text": text, "parse_data": parse}


def make_tracker(events: list[dict[str, Any]]) -> Tracker:
    latest = events[-1]["parse_data"]
    listen = {"name": "action_listen"}
    return Tracker("c1", {}, latest, events, False, None, listen, "action_listen")


def run(action: Any, tracker: Tracker) -> list[str]:
    dispatcher = CollectingDispatcher()
    action.run(dispatcher, tracker, DOMAIN)
    return [m.get("response") for m in dispatcher.messages]


def test_consecutive_fallbacks_stop_at_an_understood_message() -> None:
    events = [
        user_event("nlu_fallback"),
        {"event": "bot", "text": "?"},
        user_event("greet"),
        user_event("nlu_fallback"),
        {"event": "action", "name": "action_fallback"},
        user_event("nlu_fallback"),
    ]
    assert consecutive_fallbacks(make_tracker(events)) == 2


def test_first_miss_asks_to_rephrase_second_offers_a_human() -> None:
    first = make_tracker([user_event("greet"), user_event("nlu_fallback")])
    assert run(ActionFallback(), first) == ["utter_ask_rephrase"]
    second = make_tracker([user_event("nlu_fallback"), user_event("nlu_fallback")])
    assert run(ActionFallback(), second) == ["utter_fallback_offer_human"]


def test_input_issues_get_their_own_explanation() -> None:
    for issue, response in [
        ("empty", "utter_input_empty"),
        ("no_text", "utter_input_no_text"),
        ("too_long", "utter_input_too_long"),
    ]:
        tracker = make_tracker([user_event("nlu_fallback", input_issue=issue, truncated_to=500)])
        assert run(ActionFallback(), tracker) == [response]


def test_acknowledge_details_masks_the_phone_number() -> None:
    event = user_event("inform", "订单123456789012 手机13812345678")
    event["parse_data"]["entities"] = [
        {"entity": "order_id", "value": "123456789012"},
        {"entity": "phone", "value": "13812345678"},
    ]
    dispatcher = CollectingDispatcher()
    ActionAcknowledgeDetails().run(dispatcher, make_tracker([event]), DOMAIN)
    [message] = dispatcher.messages
    assert message["response"] == "utter_ask_order_topic"
    assert message["details"] == "订单号 123456789012、手机号 138****5678"


def test_mask_phone() -> None:
    assert mask_phone("13812345678") == "138****5678"
