"""Reading the customer's answers to a journey's questions: a button, a button's title typed
instead, the words of the message, or the message itself as free text; and never keeping a
card number, an ID number or a password."""
from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.core.courtesy import uttered_this_turn
from bot.typed_choice import latest_bot_buttons, payload_choice, typed_payload
from contracts.masking import card_numbers, id_numbers

# Button payloads name the option as the entity `choice`: /inform{"choice":"damaged"}.
CHOICE_ENTITY = "choice"
# Intents that start another journey: a confident one changes the topic, even mid-question.
JOURNEY_INTENTS = {
    "ask_order_status", "ask_refund_status", "cancel_order", "change_order",
    "report_delivery_issue", "payment_failed", "payment_charged", "request_refund",
    "request_return", "request_invoice", "account_help", "no_order_id",
}
TOPIC_CHANGE_CONFIDENCE = 0.8
# The intent that starts each form: more of the same journey is no change of topic.
FORM_INTENTS = {
    "cancel_order_form": "cancel_order", "change_order_form": "change_order",
    "delivery_issue_form": "report_delivery_issue", "payment_failed_form": "payment_failed",
    "payment_charged_form": "payment_charged", "refund_request_form": "request_refund",
    "after_sales_form": "request_return", "invoice_form": "request_invoice",
    "account_form": "account_help",
}
# A damaged or wrong parcel is both a delivery problem and a return: inside one of these
# journeys the other's intent is the customer describing the same problem
# (「鞋盒整个塌了，鞋面有折痕」 reads like a return request), not a new topic.
RELATED_INTENTS = {
    "delivery_issue_form": {"request_return"},
    "after_sales_form": {"report_delivery_issue"},
}
# Intents that never answer a journey's question, not even with their words.
SMALL_TALK = {
    "request_human", "complaint", "deny", "greet", "goodbye", "thank", "bot_challenge",
    "ask_capabilities", "out_of_scope",
}
MARKUP = re.compile(r"<[^>]*>|[<>]")
PASSWORD_SHARED = re.compile(r"(?:密码|口令|password)\s*(?:是|为|:|：)\s*\S", re.IGNORECASE)
SENSITIVE_RESPONSES = {
    "card": "utter_sensitive_card",
    "id": "utter_sensitive_id",
    "password": "utter_sensitive_password",
}


def sensitive_number(text: str) -> str | None:
    """"card", "id" or "password" when the text carries one of them, else None."""
    text = text or ""
    if id_numbers(text):
        return "id"
    if card_numbers(text):
        return "card"
    if PASSWORD_SHARED.search(text):
        return "password"
    return None


def warn_if_sensitive(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Tell the customer not to share card numbers, ID numbers or passwords (never echo them)."""
    if tracker.get_slot("requested_slot") == "tax_number":
        return False  # a tax number is 18 characters too, and asked for on purpose
    kind = sensitive_number(tracker.latest_message.get("text") or "")
    if kind and not uttered_this_turn(tracker, SENSITIVE_RESPONSES[kind]):
        dispatcher.utter_message(response=SENSITIVE_RESPONSES[kind])
    return kind is not None


def latest_intent(tracker: Tracker) -> str:
    """The intent of the customer's latest message."""
    return (tracker.latest_message.get("intent") or {}).get("name") or ""


def small_talk(tracker: Tracker) -> bool:
    """Whether the message is small talk, a request for a human or confidently an FAQ question."""
    intent = tracker.latest_message.get("intent") or {}
    if intent.get("name") == "faq":
        return float(intent.get("confidence") or 0) >= TOPIC_CHANGE_CONFIDENCE
    return intent.get("name") in SMALL_TALK


def changes_topic(tracker: Tracker) -> bool:
    """Whether the message is small talk, a request for a human, or confidently another
    journey or an FAQ question (answers to the bot's questions often look like FAQ ones)."""
    intent = tracker.latest_message.get("intent") or {}
    confident = float(intent.get("confidence") or 0) >= TOPIC_CHANGE_CONFIDENCE
    form = (tracker.active_loop or {}).get("name") or ""
    if intent.get("name") == FORM_INTENTS.get(form) or intent.get("name") in RELATED_INTENTS.get(
        form, ()
    ):
        return False
    if intent.get("name") in JOURNEY_INTENTS or intent.get("name") == "faq":
        return confident
    return intent.get("name") in SMALL_TALK


def chosen(tracker: Tracker, options: Iterable[str]) -> str | None:
    """The option a button sent (`choice` entity), or whose title the customer typed
    (「个人」 for [个人]; bot/typed_choice.py), if it is one of `options`."""
    allowed = set(options)
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == CHOICE_ENTITY and str(entity.get("value")) in allowed:
            return str(entity["value"])
    payload = typed_payload(tracker.latest_message.get("text") or "",
                            latest_bot_buttons(tracker.events))
    value = payload_choice(payload, CHOICE_ENTITY)
    return value if value in allowed else None


def classify(text: str, keywords: Mapping[str, Iterable[str]]) -> str | None:
    """The first option whose keywords occur in the text (options are checked in order)."""
    for option, words in keywords.items():
        if any(word in text for word in words):
            return option
    return None


def choice_from_message(
    tracker: Tracker, slot: str, keywords: Mapping[str, Iterable[str]]
) -> dict[str, Any]:
    """Fill a choice slot from a button or the message's words, only while it is empty."""
    if tracker.get_slot(slot):
        return {}
    value = chosen(tracker, keywords)
    # "不想要了" reads as a no, but it answers "why do you return it?": when the question was
    # this one, the words decide; a plain "算了" matches no option and still ends the form.
    answering = tracker.get_slot("requested_slot") == slot and latest_intent(tracker) == "deny"
    if value is None and (answering or not small_talk(tracker)):
        value = classify(tracker.latest_message.get("text") or "", keywords)
    return {slot: value} if value else {}


def buttons(options: Mapping[str, str], intent: str = "inform") -> list[dict[str, str]]:
    """Buttons whose payloads send the option as the `choice` entity."""
    return [
        {"title": title,
         "payload": f"/{intent}" + json.dumps({CHOICE_ENTITY: value}, separators=(",", ":"))}
        for value, title in options.items()
    ]


class ChoiceQuestion(Action, ABC):
    """A form's question with one button per choice: `utter_ask_<slot>` with `choices`."""

    slot: str
    choices: Mapping[str, str]

    @abstractmethod
    def name(self) -> str:
        """Name used in the domain: action_ask_<slot> (the form calls it)."""

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Ask, with the choices as buttons."""
        dispatcher.utter_message(response=f"utter_ask_{self.slot}", buttons=buttons(self.choices))
        return []


def free_text(
    tracker: Tracker, slot: str, max_chars: int = 200,
    well_formed: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """The message as the answer to the question the form asked, unless it changes the topic
    (an answer that is `well_formed`, e.g. a full address, counts whatever the intent)."""
    if tracker.get_slot("requested_slot") != slot:
        return {}
    raw = tracker.latest_message.get("text") or ""
    text = MARKUP.sub("", raw).strip()  # the answer may be shown to agents and customers
    if not text or raw.lstrip().startswith("/") or sensitive_number(text):
        return {}
    if changes_topic(tracker) and not (well_formed and well_formed(text)):
        return {}
    return {slot: text[:max_chars]}
