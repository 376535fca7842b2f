"""A customer who reports a parcel problem hears sorry first, and only once."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.order_lookup import ActionAskOrderId


def ask_order_id(emotion: str, intent: str = "report_delivery_issue",
                 text: str = "东西到了 杯子碎了一个",
                 said: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    message = {"text": text, "intent": {"name": intent, "confidence": 0.9},
               "emotion": {"label": emotion, "score": 0.7}}
    events = [{"event": "user", "parse_data": message},
              *({"event": "bot", "text": line} for line in said)]
    tracker = Tracker("c1", {}, message, events, False,
                      None, {"name": "delivery_issue_form"}, "action_listen")
    dispatcher = CollectingDispatcher()
    ActionAskOrderId().run(dispatcher, tracker, {})
    return dispatcher.messages


def test_a_calm_report_gets_an_apology_before_the_question() -> None:
    sorry, question = ask_order_id("calm")
    assert sorry["response"] == "utter_sorry_delivery_problem"
    assert question["response"] == "utter_ask_order_id"


def test_an_upset_report_gets_one_acknowledgement_not_two_apologies() -> None:
    messages = ask_order_id("upset")
    assert [m.get("response") for m in messages].count("utter_sorry_delivery_problem") == 0
    assert messages[0]["text"] and messages[-1]["response"] == "utter_ask_order_id"
    assert len(messages) == 2


def test_an_upset_customer_hears_an_acknowledgement_before_any_first_question() -> None:
    messages = ask_order_id("upset", "ask_order_status", "上周买的东西到现在还没发货 订单号忘了")
    assert messages[0]["text"] and messages[-1]["response"] == "utter_ask_order_id"
    assert len(messages) == 2
    calm = ask_order_id("calm", "ask_order_status", "帮我查下订单")
    assert [m.get("response") for m in calm] == ["utter_ask_order_id"]


def test_nothing_is_added_once_the_bot_has_spoken_in_this_turn() -> None:
    for emotion in ("calm", "upset"):
        messages = ask_order_id(emotion, said=("让您久等了，非常抱歉。",))
        assert [m.get("response") for m in messages] == ["utter_ask_order_id"]
