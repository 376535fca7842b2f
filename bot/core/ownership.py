"""The journeys about one order that show its details or change it: the order lookup, then the
phone it was placed with (proof that the order is the customer's), then the journey's own
questions, unless the order's state rules the journey out."""
from __future__ import annotations

import re
from abc import abstractmethod
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.clients.shop_api import Order, ShopApiError, ShopApiUnavailable
from bot.core.answers import free_text, warn_if_sensitive
from bot.core.changes import PENDING_SLOT
from bot.core.lookup import (
    ORDER_ID,
    PHONE,
    OrderJourneyAction,
    OrderLookupValidation,
    backend_down,
    failed_attempt,
)
from bot.core.shop import shop_client
from contracts.masking import mask_phone

BLOCKER_SLOT = "order_blocker"
# "那另一个订单呢" without its number: the order under discussion is not the one meant.
OTHER_ORDER = re.compile(r"(?:另一个|另外一个|别的|其他|其它|换个|还有个)(?:订单|单子|单|包裹)")
NUMBER_ONLY = re.compile(r"\s*\d{1,30}\s*")


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
