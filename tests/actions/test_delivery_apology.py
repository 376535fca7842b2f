"""A customer who reports a parcel problem hears sorry first, and only once."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.order_lookup import ActionAskOrderId


def ask_order_id(emotion: str) -> list[dict[str, Any]]:
    message = {"text": "东西到了 杯子碎了一个",
               "intent": {"name": "report_delivery_issue", "confidence": 0.9},
               "emotion": {"label": emotion, "score": 0.7}}
    tracker = Tracker("c1", {}, message, [{"event": "user", "parse_data": message}], False,
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
