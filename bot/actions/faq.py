"""Answer policy questions from the FAQ, or suggest the likeliest questions when unsure."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.core.courtesy import acknowledge_if_upset
from bot.core.suggestions import (
    ANSWER_CONFIDENCE,
    SUGGESTIONS_SLOT,
    chosen_entry,
    selector_ranking,
    suggest,
    suggestions,
)
from bot.faq import FaqEntry, render

# One- or two-word questions ("运费", "账号") fit several entries; the retriever's confidence
# on them is poorly calibrated, so they need more of it to be answered without asking.
SHORT_MESSAGE_CHARS = 3
SHORT_ANSWER_CONFIDENCE = 0.8


def decide(
    message: dict[str, Any], answer_confidence: float = ANSWER_CONFIDENCE
) -> tuple[str, list[FaqEntry]]:
    """What to do with a message classified as `faq`: ("answer", [entry]),
    ("suggest", entries) or ("rephrase", [])."""
    entry = chosen_entry(message)
    if entry is not None:
        return "answer", [entry]
    ranking = selector_ranking(message)
    if len(message.get("text") or "") <= SHORT_MESSAGE_CHARS:
        answer_confidence = max(answer_confidence, SHORT_ANSWER_CONFIDENCE)
    if ranking and ranking[0][1] >= answer_confidence:
        return "answer", [ranking[0][0]]
    candidates = suggestions(message)
    return ("suggest", candidates) if candidates else ("rephrase", [])


class ActionAnswerFaq(Action):
    """Answer the FAQ entry the customer asked or picked; suggest candidates when unsure."""

    def name(self) -> str:
        """Name used in the domain."""
        return "action_answer_faq"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Answer, suggest or ask to rephrase, as `decide` says."""
        acknowledge_if_upset(dispatcher, tracker)
        action, entries = decide(tracker.latest_message)
        if action == "answer":
            dispatcher.utter_message(**render(entries[0]))
            return [SlotSet(SUGGESTIONS_SLOT, None)]
        if action == "suggest":
            return suggest(dispatcher, entries)
        dispatcher.utter_message(response="utter_ask_rephrase")
        return []
