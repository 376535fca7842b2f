"""Questions about products and promotions: answered from the FAQ entries of that area when
one fits, otherwise with what the bot can say in general and the way to a person who knows
(pre-sales questions about one product need the product page or a pre-sales agent)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.core.courtesy import acknowledge_if_upset
from bot.core.suggestions import (
    ANSWER_CONFIDENCE,
    MAX_SUGGESTIONS,
    SUGGESTION_CONFIDENCE,
    SUGGESTIONS_SLOT,
    chosen_entry,
    selector_ranking,
    suggest,
)
from bot.faq import FaqEntry, render

# The retriever spreads its confidence over all entries; restricted to one area the best
# entry needs a bit more of it to be answered without asking.
AREA_ANSWER_CONFIDENCE = ANSWER_CONFIDENCE + 0.1


def area_ranking(message: dict[str, Any], area: str) -> list[tuple[FaqEntry, float]]:
    """The FAQ retriever's candidates of one area, best first."""
    return [(entry, score) for entry, score in selector_ranking(message) if entry.area == area]


# Intents whose questions are answered from one FAQ area, and that area.
AREA_OF_INTENT = {
    "ask_product": "product",
    "ask_promotion": "promotion",
    "ask_payment": "payment",
}


def area_decision(message: dict[str, Any], area: str) -> tuple[str, list[FaqEntry]]:
    """("answer", [entry]) when one entry of the area fits, else ("general", likely entries)."""
    entry = chosen_entry(message)
    ranking = area_ranking(message, area)
    if entry is None and ranking and ranking[0][1] >= AREA_ANSWER_CONFIDENCE:
        entry = ranking[0][0]
    if entry is not None:
        return "answer", [entry]
    return "general", [e for e, score in ranking[:MAX_SUGGESTIONS]
                       if score >= SUGGESTION_CONFIDENCE]


def answer_in_area(
    dispatcher: CollectingDispatcher, message: dict[str, Any], area: str, general: str
) -> list[dict[str, Any]]:
    """Answer the area's best entry, or give the general answer and suggest likely ones."""
    action, entries = area_decision(message, area)
    if action == "answer":
        dispatcher.utter_message(**render(entries[0]))
        return [SlotSet(SUGGESTIONS_SLOT, None)]
    dispatcher.utter_message(response=general)
    if entries:
        return suggest(dispatcher, entries)
    return [SlotSet(SUGGESTIONS_SLOT, None)]


class AreaQuestionAction(Action, ABC):
    """A question answered from one FAQ area: the entry that fits, or the area's general
    answer with the likely entries as buttons."""

    area: str
    general_response: str

    @abstractmethod
    def name(self) -> str:
        """Name used in the domain."""

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Acknowledge an upset customer, then answer from the area."""
        acknowledge_if_upset(dispatcher, tracker)
        return answer_in_area(dispatcher, tracker.latest_message, self.area, self.general_response)


class ActionAnswerProductQuestion(AreaQuestionAction):
    """Stock, specs, price, compatibility: else the product page and the pre-sales agents."""

    area = AREA_OF_INTENT["ask_product"]
    general_response = "utter_product_general"

    def name(self) -> str:
        """Name used in the domain."""
        return "action_answer_product_question"


class ActionAnswerPromotionQuestion(AreaQuestionAction):
    """Coupons, price protection, events, points, membership."""

    area = AREA_OF_INTENT["ask_promotion"]
    general_response = "utter_promotion_general"

    def name(self) -> str:
        """Name used in the domain."""
        return "action_answer_promotion_question"


class ActionAnswerPaymentQuestion(AreaQuestionAction):
    """Payment methods, limits, instalments, paying with 花呗 or a credit card."""

    area = AREA_OF_INTENT["ask_payment"]
    general_response = "utter_payment_general"

    def name(self) -> str:
        """Name used in the domain."""
        return "action_answer_payment_question"
