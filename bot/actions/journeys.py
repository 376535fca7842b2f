"""Building blocks shared by the customer journeys: a form that finds the order and stops when
the order's state rules the journey out, choices read from the message or asked with buttons,
the confirmation step before a change, and the warning about card and ID numbers."""
from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.order_lookup import (
    ORDER_ID,
    PHONE,
    OrderJourneyAction,
    OrderLookupValidation,
    acknowledge_before_asking,
    backend_down,
    failed_attempt,
    shop_client,
)
from bot.clients.shop_api import Order, ShopApiError, ShopApiUnavailable
from bot.masking import card_numbers, id_numbers, mask_phone
from bot.typed_choice import latest_bot_buttons, payload_choice, typed_payload

# Button payloads name the option as the entity `choice`: /inform{"choice":"damaged"}.
CHOICE_ENTITY = "choice"
BLOCKER_SLOT = "order_blocker"
PENDING_SLOT = "pending_change"
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
# "那另一个订单呢" without its number: the order under discussion is not the one meant.
OTHER_ORDER = re.compile(r"(?:另一个|另外一个|别的|其他|其它|换个|还有个)(?:订单|单子|单|包裹)")
MARKUP = re.compile(r"<[^>]*>|[<>]")
NUMBER_ONLY = re.compile(r"\s*\d{1,30}\s*")
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


def uttered_this_turn(tracker: Tracker, response: str) -> bool:
    """Whether the bot already sent this response since the customer's latest message."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "bot" and \
                (event.get("metadata") or {}).get("utter_action") == response:
            return True
    return False


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
    form = (tracker.active_loop or {}).get("name")
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


class JourneyForm(OrderLookupValidation):
    """The form of a journey about one order: the order lookup, the customer's phone (proof
    that the order is theirs), then the journey's own questions, unless the order's state
    rules the journey out (`order_blocker`)."""

    # The journey shows the order's details or changes it: the phone it was placed with must
    # be known before anything about the order is said. (A production shop would take the
    # logged-in customer's id from the channel metadata instead.)
    owner_check = True

    @abstractmethod
    def name(self) -> str:
        """The validation action of the journey's form."""

    def blocker(self, order: Order, tracker: Tracker) -> str | None:
        """Why the journey cannot go on for this order (None when it can)."""
        return None

    def asks(self, slot: str, tracker: Tracker) -> bool:
        """Whether the form asks this question now (some depend on earlier answers)."""
        return True

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Warn about card numbers, ID numbers and passwords in any answer, forget a phone
        that is not the order's, then validate."""
        warn_if_sensitive(dispatcher, tracker)
        forget = self.unproven_phone(tracker)
        tracker.add_slots(forget)
        return [*forget, *await super().run(dispatcher, tracker, domain)]

    def unproven_phone(self, tracker: Tracker) -> list[dict[str, Any]]:
        """Forget the phone when it came earlier, outside this check (say, for another order),
        and is not the phone of the order now under discussion: the form asks for it."""
        order_id, phone = tracker.get_slot("order_id"), tracker.get_slot("phone")
        fresh = tracker.slots_to_validate()
        if not self.owner_check or not order_id or not phone or \
                "order_id" in fresh or "phone" in fresh:
            return []
        try:
            if shop_client().is_owner(str(order_id), str(phone)):
                return []
        except ShopApiUnavailable:
            return []  # the lookup steps notice it and say so
        except ShopApiError:
            pass
        return [SlotSet("phone", None)]

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[str]:
        """The phone right after the order number (asked for, and validated whenever it
        changes); stop once the lookup failed, or the order rules the journey out (then only
        the proof of ownership is still asked for, before the answer says why)."""
        if not await super().required_slots(domain_slots, dispatcher, tracker, domain):
            return []
        slots = [slot for slot in domain_slots if self.asks(slot, tracker)]
        if self.owner_check:
            after = slots.index("order_id") + 1 if "order_id" in slots else 0
            slots = [*slots[:after], "phone", *slots[after:]]
        if tracker.get_slot(BLOCKER_SLOT):
            return slots[:slots.index("phone") + 1] if self.owner_check else []
        return slots

    def extract_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """The answer to the question for the customer's phone (checked by validate_phone)."""
        if tracker.get_slot("requested_slot") != "phone":
            return {}
        match = PHONE.search(tracker.latest_message.get("text") or "")
        return {"phone": match.group()} if match else free_text(tracker, "phone", 40)

    def validate_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """A mainland mobile number that is the phone the order under discussion was placed
        with; a wrong one is explained and counted like any failed step."""
        if tracker.get_slot("requested_slot") == "new_phone":
            return {}  # the recipient's new phone: validate_new_phone keeps the customer's
        match = PHONE.search(str(value or ""))
        order_id = tracker.get_slot("order_id")
        if not match:
            result = failed_attempt(dispatcher, tracker, "utter_phone_invalid")
            if order_id and "journey_failure" not in result:
                result.pop("order_id")  # only the phone was wrong
            return {**result, "phone": None}
        phone = match.group()
        if not self.owner_check or not order_id or "order_id" in tracker.slots_to_validate():
            return {"phone": phone}  # validate_order_id checks the pair
        try:
            owner = shop_client().is_owner(str(order_id), phone)
        except ShopApiUnavailable:
            return {**backend_down(), "phone": None}
        except ShopApiError:
            return {"phone": phone, "order_id": None}  # the order is gone: asked again
        if not owner:
            result = failed_attempt(dispatcher, tracker, "utter_phone_not_owner",
                                    phone=mask_phone(phone), order_id=order_id)
            if "journey_failure" not in result:
                result.pop("order_id")
            return {**result, "phone": None}
        return {"phone": phone, "lookup_attempts": 0}

    def extract_order_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """Forget the order under discussion when the customer means another one; take any
        number sent when the bot asked for the order (a wrong one is explained and counted,
        whatever the NLU made of "123")."""
        text = tracker.latest_message.get("text") or ""
        if tracker.get_slot("order_id") and OTHER_ORDER.search(text) and \
                not ORDER_ID.search(text):
            return {"order_id": None}
        if tracker.get_slot("requested_slot") == "order_id" and NUMBER_ONLY.fullmatch(text):
            return {"order_id": text.strip()}
        return {}

    def validate_order_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """The shared lookup, then the journey's check of the order's state."""
        if value is None:
            return {"order_id": None}  # to be asked for
        result = super().validate_order_id(value, dispatcher, tracker, domain)
        order_id = result.get("order_id")
        if not order_id:
            return result
        try:
            order = shop_client().order(order_id)
        except ShopApiUnavailable:
            return backend_down()
        except ShopApiError:
            return failed_attempt(dispatcher, tracker, "utter_order_not_found", order_id=order_id)
        return {**result, BLOCKER_SLOT: self.blocker(order, tracker), PENDING_SLOT: None}


class ActionAskPhone(Action):
    """Ask for the phone: the account's for the account journey, otherwise the phone the
    order was placed with, as proof that the order is the customer's."""

    def name(self) -> str:
        """Name used in the domain (the form calls action_ask_<slot>)."""
        return "action_ask_phone"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The question that fits the journey (not again right after the refusal of another
        phone, which already asks for the right one)."""
        if uttered_this_turn(tracker, "utter_phone_not_owner"):
            return []
        form = (tracker.active_loop or {}).get("name")
        acknowledge_before_asking(dispatcher, tracker)
        dispatcher.utter_message(
            response="utter_ask_phone" if form == "account_form" else "utter_ask_owner_phone")
        return []


class JourneyAction(OrderJourneyAction):
    """The answer step of a journey that may change things: it clears the journey's slots."""

    # Slots of the journey's questions, cleared once answered so the next request asks again.
    journey_slots: tuple[str, ...] = ()
    # Says nothing about the order before the customer's phone proved it theirs (the form
    # asks for it; this is the last line of defence).
    owner_check = True

    def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order_id: str
    ) -> list[dict[str, Any]]:
        """Check the order is the customer's, then answer (`answer_owned`)."""
        phone = tracker.get_slot("phone")
        if self.owner_check and not (phone and shop_client().is_owner(order_id, str(phone))):
            dispatcher.utter_message(response="utter_ask_owner_phone")
            return [SlotSet("phone", None)]
        return self.answer_owned(dispatcher, tracker, order_id)

    def answer_owned(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order_id: str
    ) -> list[dict[str, Any]]:
        """Answer about an order known to be the customer's."""
        raise NotImplementedError

    @abstractmethod
    def name(self) -> str:
        """Name used in the domain."""

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Answer, then forget the journey's answers (the order under discussion stays)."""
        events = super().run(dispatcher, tracker, domain)
        cleared = [SlotSet(name, None) for name in (*self.journey_slots, BLOCKER_SLOT)]
        return [*cleared, *events]


def latest_user_time(tracker: Tracker) -> float | None:
    """When the customer sent their latest message (the turn a request belongs to)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return event.get("timestamp")
    return None


def idempotency_key(tracker: Tracker, *parts: Any) -> str:
    """A key for a change: the same when an action is re-run in the same turn, another one
    for the same change asked again later (A -> B -> A, a second return)."""
    text = json.dumps([tracker.sender_id, latest_user_time(tracker), *parts],
                      ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def pending(tracker: Tracker) -> dict[str, Any] | None:
    """The change waiting for the customer's confirmation, if it is well formed."""
    raw = tracker.get_slot(PENDING_SLOT)
    try:
        change = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    if not isinstance(change, dict) or not isinstance(change.get("order_id"), str):
        return None
    return change


def ask_confirmation(
    dispatcher: CollectingDispatcher, summary: str, question: str, change: dict[str, Any],
    yes: str = "确认", no: str = "不用了",
) -> list[dict[str, Any]]:
    """Show what will change and ask for an explicit yes; remember the change until then."""
    dispatcher.utter_message(
        text=f"{summary}\n{question}",
        buttons=[{"title": yes, "payload": "/affirm"}, {"title": no, "payload": "/deny"}],
    )
    value = json.dumps(change, ensure_ascii=False, sort_keys=True)
    return [SlotSet(PENDING_SLOT, value)]


def items_summary(order: Order) -> str:
    """The order's goods in a few words: first item and how many more."""
    if not order.items:
        return "商品"
    first = order.items[0].name
    return f"{first} 等{len(order.items)}件" if len(order.items) > 1 else first
