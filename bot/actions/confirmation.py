"""The customer's yes or no to a change the bot has just shown (cancel, change, refund,
return, delivery problem, invoice title): the yes makes the change through the journey that
registered it (bot/core/confirmation.py); the no keeps the order as it is."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.core.changes import PENDING_SLOT, idempotency_key
from bot.core.confirmation import make_change, pending_change, prompted_just_before
from bot.core.courtesy import acknowledge_if_upset


class ActionConfirmChange(Action):
    """Make the change the customer has just confirmed, and say what happens next."""

    def name(self) -> str:
        """Name used in the domain."""
        return "action_confirm_change"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Check that a change waits for this yes, then make it through the shop API."""
        acknowledge_if_upset(dispatcher, tracker)
        change = pending_change(tracker)
        done = [SlotSet(PENDING_SLOT, None)]
        if change is None or not prompted_just_before(tracker):
            dispatcher.utter_message(response="utter_affirm")
            return done
        key = idempotency_key(tracker, "change", tracker.get_slot(PENDING_SLOT))
        make_change(dispatcher, change, key)
        return done


class ActionKeepOrder(Action):
    """The customer said no to the change: nothing is changed."""

    def name(self) -> str:
        """Name used in the domain."""
        return "action_keep_order"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Confirm that nothing changed."""
        change = pending_change(tracker)
        if change is not None and prompted_just_before(tracker):
            dispatcher.utter_message(response="utter_change_kept", order_id=change.order_id)
        else:
            dispatcher.utter_message(response="utter_deny")
        return [SlotSet(PENDING_SLOT, None)]
