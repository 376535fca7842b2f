"""Where is my refund: each refund of the order with its status, amount, method and the
date the money should arrive."""
from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from bot.core.clock import china_today
from bot.core.lookup import OrderJourneyAction, OrderLookupValidation
from bot.core.refunds import describe_refund
from bot.core.shop import shop_client


class ValidateRefundStatusForm(OrderLookupValidation):
    """Order lookup of the refund-status journey."""

    def name(self) -> str:
        """Name used in the domain."""
        return "validate_refund_status_form"


class ActionRefundStatus(OrderJourneyAction):
    """Describe the order's refunds, or say there is none and what to do."""

    def name(self) -> str:
        """Name used in the domain."""
        return "action_refund_status"

    def answer(self, dispatcher: CollectingDispatcher, order_id: str) -> None:
        """Every refund of the order, and where to look once one has arrived."""
        refunds = shop_client().refunds(order_id)
        if not refunds:
            dispatcher.utter_message(response="utter_no_refund", order_id=order_id)
            return
        lines = "\n".join(describe_refund(r, china_today()) for r in refunds)
        dispatcher.utter_message(response="utter_refund_list", order_id=order_id, refunds=lines)
        if any(r.status == "succeeded" for r in refunds):
            dispatcher.utter_message(response="utter_refund_arrived_where")
