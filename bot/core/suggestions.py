"""The FAQ entries the retriever found for a message, and the 您是想问 suggestions offered when
the bot is unsure (by the FAQ answer, the topic questions and the fallback)."""
from __future__ import annotations

from typing import Any

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.faq import KEY_ENTITY, RETRIEVAL_INTENT, FaqEntry, choice_payload, load_faq

# The retriever's confidence needed to answer directly. `make eval-faq` on held-out phrasings:
# 0.35 answers 48% directly, 95% of them right; below it the bot suggests (top-3 has 97%).
ANSWER_CONFIDENCE = 0.35
# A suggestion must reach this confidence to be worth a button.
SUGGESTION_CONFIDENCE = 0.05
MAX_SUGGESTIONS = 3
SUGGESTIONS_SLOT = "suggested_faq"
NONE_OF_THEM = {"title": "都不是", "payload": "/deny"}


def chosen_entry(message: dict[str, Any]) -> FaqEntry | None:
    """The entry picked with a suggestion button (`/faq{"faq_key": ...}`), if valid."""
    faq = load_faq()
    for entity in message.get("entities") or []:
        if entity.get("entity") == KEY_ENTITY:
            entry = faq.get(f"{RETRIEVAL_INTENT}/{entity.get('value')}")
            if entry:
                return entry
    return None


def selector_ranking(message: dict[str, Any]) -> list[tuple[FaqEntry, float]]:
    """The ResponseSelector's candidates, best first, restricted to entries that exist."""
    faq = load_faq()
    selector = (message.get("response_selector") or {}).get(RETRIEVAL_INTENT) or {}
    ranking = []
    for candidate in selector.get("ranking") or []:
        entry = faq.get(candidate.get("intent_response_key", ""))
        if entry:
            ranking.append((entry, float(candidate.get("confidence", 0.0))))
    return ranking


def suggestions(message: dict[str, Any]) -> list[FaqEntry]:
    """Up to three likely questions, when the message plausibly asks one."""
    intents = [i.get("name") for i in (message.get("intent_ranking") or [])[:3]]
    if RETRIEVAL_INTENT not in intents and message.get("intent", {}).get("name") != "faq":
        return []
    ranked = selector_ranking(message)[:MAX_SUGGESTIONS]
    return [entry for entry, confidence in ranked if confidence >= SUGGESTION_CONFIDENCE]


def suggest(dispatcher: CollectingDispatcher, entries: list[FaqEntry]) -> list[dict[str, Any]]:
    """Send "您是想问" with one button per entry plus "都不是"."""
    buttons = [{"title": e.title, "payload": choice_payload(e.key)} for e in entries]
    dispatcher.utter_message(response="utter_faq_suggestions", buttons=[*buttons, NONE_OF_THEM])
    return [SlotSet(SUGGESTIONS_SLOT, [e.key for e in entries])]
