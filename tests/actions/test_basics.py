"""Basics actions run against saved trackers, as the action server would run them."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.basics import (
    ActionAcknowledgeDetails,
    ActionFallback,
    ActionOutOfScope,
    ActionRequestHuman,
    earlier_misses,
    mask_phone,
)
from tests.responses import message_text

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


def turn(intent: str, *actions: str, suggested: bool = False) -> list[dict[str, Any]]:
    """A customer turn followed by the bot's actions, as the tracker records it."""
    events = [user_event(intent)]
    for action in actions:
        events.append({"event": "action", "name": action})
        if suggested and action != "action_listen":
            events.append({"event": "slot", "name": "suggested_faq", "value": ["faq/x"]})
    return events


def test_earlier_misses_count_back_to_the_last_understood_turn() -> None:
    events = [
        *turn("greet", "utter_greet", "action_listen"),
        *turn("nlu_fallback", "action_fallback", "action_listen"),
        *turn("faq", "action_answer_faq", "action_listen", suggested=True),
        *turn("deny", "action_fallback", "action_listen"),
        *turn("nlu_fallback"),
    ]
    # The suggestion turn is neither a miss nor a success; the greeting stops the count.
    assert earlier_misses(events) == 2
    assert earlier_misses([*turn("faq", "action_answer_faq", "action_listen"),
                           *turn("deny")]) == 0


def test_first_miss_asks_to_rephrase_second_offers_a_human() -> None:
    first = make_tracker([*turn("greet", "utter_greet", "action_listen"), *turn("nlu_fallback")])
    assert run(ActionFallback(), first) == ["utter_ask_rephrase"]
    second = make_tracker([*turn("nlu_fallback", "action_fallback", "action_listen"),
                           *turn("nlu_fallback")])
    # ... and hands the conversation to a human (bot/core/handoff.py, tests/handoff/).
    assert run(ActionFallback(), second)[0] == "utter_fallback_offer_human"


def test_human_offer_and_request_carry_the_service_hours_from_the_policy() -> None:
    from bot.faq import load_policy

    dispatcher = CollectingDispatcher()
    ActionRequestHuman().run(dispatcher, make_tracker(turn("request_human")), DOMAIN)
    assert load_policy()["service_hours"] in message_text(dispatcher.messages[0])


def test_input_issues_get_their_own_explanation() -> None:
    for issue, response in [
        ("empty", "utter_input_empty"),
        ("no_text", "utter_input_no_text"),
        ("markup", "utter_input_markup"),
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


def test_out_of_scope_gets_the_help_menu_but_an_upset_customer_is_heard_first() -> None:
    calm = user_event("out_of_scope", "今天天气怎么样", emotion={"label": "calm", "score": 0.9})
    assert run(ActionOutOfScope(), make_tracker([calm])) == ["utter_out_of_scope"]
    upset = user_event("out_of_scope", "怎么这么慢啊 都好几天了",
                       emotion={"label": "upset", "score": 0.99})
    dispatcher = CollectingDispatcher()
    ActionOutOfScope().run(dispatcher, make_tracker([upset]), DOMAIN)
    acknowledgement, answer = dispatcher.messages
    assert acknowledgement["text"] and not acknowledgement.get("response")
    assert answer["response"] == "utter_out_of_scope_upset"
