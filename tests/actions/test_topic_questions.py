"""Product, promotion and payment questions are answered from their FAQ area."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.topic_questions import (
    ActionAnswerPaymentQuestion,
    ActionAnswerProductQuestion,
    ActionAnswerPromotionQuestion,
)
from bot.faq import load_faq, render
from tests.actions.test_faq import parse


def run(action: Any, message: dict[str, Any]) -> list[dict[str, Any]]:
    tracker = Tracker("c1", {}, message, [{"event": "user", "parse_data": message}], False,
                      None, {"name": "action_listen"}, "action_listen")
    dispatcher = CollectingDispatcher()
    action.run(dispatcher, tracker, {})
    return dispatcher.messages


def test_a_product_question_the_faq_knows_gets_that_answer() -> None:
    ranking = [("faq/shipping_fee", 0.3), ("faq/product_authentic", 0.6)]
    [answer] = run(ActionAnswerProductQuestion(), parse(ranking, intent="ask_product"))
    assert answer["text"] == render(load_faq()["faq/product_authentic"])["text"]


def test_an_entry_of_another_area_is_never_the_answer() -> None:
    # The retriever is sure about a shipping entry, but the customer asked about a product:
    # the bot gives the product answer, not the shipping fee.
    ranking = [("faq/shipping_fee", 0.9), ("faq/product_out_of_stock", 0.04)]
    messages = run(ActionAnswerProductQuestion(), parse(ranking, intent="ask_product"))
    assert messages[0]["response"] == "utter_product_general"
    assert all(m.get("text") is None for m in messages)


def test_an_unsure_promotion_question_gets_the_general_answer_and_likely_questions() -> None:
    ranking = [("faq/promotion_coupon_get", 0.2), ("faq/promotion_coupon_stack", 0.15),
               ("faq/invoice_types", 0.1)]
    general, offer = run(ActionAnswerPromotionQuestion(), parse(ranking, intent="ask_promotion"))
    assert general["response"] == "utter_promotion_general"
    faq = load_faq()
    assert [b["title"] for b in offer["buttons"]] == [
        faq["faq/promotion_coupon_get"].title, faq["faq/promotion_coupon_stack"].title, "都不是"]


def test_a_payment_question_without_a_fitting_entry_says_how_to_get_help() -> None:
    messages = run(ActionAnswerPaymentQuestion(),
                   parse([("faq/invoice_types", 0.9)], intent="ask_payment"))
    assert [m["response"] for m in messages] == ["utter_payment_general"]
