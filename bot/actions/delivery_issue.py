"""Delivery problems (shown delivered but not received, missing, wrong or damaged items, parcel
stuck): apologise, find out what went wrong, open an after-sales case once the customer
confirmed it (registered below) and give its number."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.clients.shop_api import Order, ShopApiError
from bot.core.answers import ChoiceQuestion, choice_from_message, free_text
from bot.core.changes import PendingChange, ask_confirmation, describe_denial
from bot.core.confirmation import confirms
from bot.core.courtesy import is_upset
from bot.core.ownership import JourneyAction, JourneyForm
from bot.core.replies import Reply, reply
from bot.core.shop import STATE_NAMES, items_summary, shop_client
from bot.faq import load_policy
from contracts.masking import mask_signer

ISSUES = {
    "not_received": "显示签收但没收到",
    "missing": "少件/漏发",
    "wrong": "发错货",
    "damaged": "商品或包装破损",
    "stuck": "物流很久不更新",
}
# Checked in this order: "显示签收了但是没收到" is not_received, not a missing item.
ISSUE_KEYWORDS = {
    "not_received": ("没收到", "没有收到", "未收到", "没拿到", "没见到", "显示签收", "显示已签收",
                     "被签收", "别人签收", "不是我签", "被人拿"),
    "damaged": ("破", "坏", "碎", "损", "烂", "压扁", "变形", "漏液", "漏了", "裂", "划痕"),
    "wrong": ("发错", "错发", "不是我买的", "不是我下单", "颜色不对", "尺码不对", "型号不对",
              "款式不对", "货不对"),
    "missing": ("少了", "少发", "少件", "漏发", "缺", "只收到", "不全", "少一"),
    "stuck": ("不动", "没更新", "不更新", "没动静", "卡在", "停在", "好几天", "还没到", "一直没到",
              "没有物流", "物流停", "没派送", "不派送", "迟迟"),
}
# What went wrong is asked for these; for the others the order's tracking says enough.
NEEDS_DETAIL = {"missing", "wrong", "damaged"}
NEXT_STEPS = {
    "not_received": "utter_delivery_case_opened_not_received",
    "missing": "utter_delivery_case_opened_missing",
    "wrong": "utter_delivery_case_opened_wrong",
    "damaged": "utter_delivery_case_opened_damaged",
    "stuck": "utter_delivery_case_opened_stuck",
}


class ValidateDeliveryIssueForm(JourneyForm):
    """Order lookup, what went wrong and, for damaged, wrong or missing items, the details."""

    def name(self) -> str:
        """Name used in the domain."""
        return "validate_delivery_issue_form"

    def blocker(self, order: Order, tracker: Tracker) -> str | None:
        """A delivery problem needs a parcel: the order must have shipped."""
        return None if order.allows("delivery_issue") else order.state

    def asks(self, slot: str, tracker: Tracker) -> bool:
        """The details only for problems the tracking does not explain."""
        return slot != "issue_detail" or tracker.get_slot("issue_type") in NEEDS_DETAIL

    def extract_issue_type(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """The kind of problem, from a button or the customer's words."""
        return choice_from_message(tracker, "issue_type", ISSUE_KEYWORDS)

    def validate_issue_type(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """One of the five kinds of delivery problem."""
        return {"issue_type": value if value in ISSUES else None}

    def extract_issue_detail(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """The customer's own words about what is wrong."""
        return free_text(tracker, "issue_detail", 300)

    def validate_issue_detail(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """Any description in words."""
        text = str(value or "").strip()
        return {"issue_detail": text or None}


class ActionAskIssueType(ChoiceQuestion):
    """Ask what went wrong, with buttons."""

    slot = "issue_type"
    choices = ISSUES

    def name(self) -> str:
        """Name used in the domain (the form calls action_ask_<slot>)."""
        return "action_ask_issue_type"


class ActionDeliveryIssue(JourneyAction):
    """Apologise, open a delivery-issue case and give its number and the next steps."""

    journey_slots = ("issue_type", "issue_detail")

    def name(self) -> str:
        """Name used in the domain."""
        return "action_delivery_issue"

    def answer_owned(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order_id: str
    ) -> list[dict[str, Any]]:
        """Open the case, or name the case already open, or explain why there is none."""
        client = shop_client()
        order = client.order(order_id)
        if not order.allows("delivery_issue"):
            explain_not_shipped(order).send(dispatcher)
            return []
        issue = tracker.get_slot("issue_type")
        if issue not in ISSUES:
            issue = "stuck" if order.state != "delivered" else "not_received"
        detail = tracker.get_slot("issue_detail") or tracking_note(order)
        change = DeliveryIssueChange(order_id, issue, detail)
        # An upset customer has just heard an apology (acknowledge_if_upset): not twice.
        if not is_upset(tracker):
            dispatcher.utter_message(response="utter_sorry_for_trouble")
        shown = {"order_id": order_id, "items": items_summary(order), "issue": ISSUES[issue]}
        question = reply("utter_confirm_delivery_issue_detail", detail=detail, **shown) \
            if tracker.get_slot("issue_detail") else reply("utter_confirm_delivery_issue", **shown)
        return ask_confirmation(dispatcher, question, change,
                                yes="确认登记", no="先不用了")


@dataclass(frozen=True)
class DeliveryIssueChange(PendingChange):
    """A delivery-issue case to open: the kind of problem (one of ISSUES) and its details."""

    kind: ClassVar[str] = "delivery_issue"
    issue: str | None = None
    detail: str | None = None


@confirms(DeliveryIssueChange, asked_by="action_delivery_issue")
def confirm_delivery_issue(
    dispatcher: CollectingDispatcher, change: DeliveryIssueChange, key: str
) -> None:
    """Open the case the customer has just confirmed, with its number and next steps."""
    client = shop_client()
    order_id, issue = change.order_id, change.issue
    if issue not in ISSUES:
        dispatcher.utter_message(response="utter_change_incomplete")
        return
    policy = load_policy()
    try:
        case = client.open_after_sales(order_id, "delivery_issue", ISSUES[issue],
                                       str(change.detail or ISSUES[issue]),
                                       idempotency_key=key)
    except ShopApiError as error:
        if error.code != "case_exists":
            raise
        dispatcher.utter_message(response="utter_delivery_case_exists", order_id=order_id,
                                 case_id=(error.details or {}).get("case_id", ""), **policy)
        return
    order = client.order(order_id)
    reply(NEXT_STEPS[issue], order_id=order_id, items=items_summary(order), issue=ISSUES[issue],
          case_id=case.case_id, **policy).send(dispatcher)


def tracking_note(order: Order) -> str:
    """What the tracking says, recorded as the case description."""
    event = order.latest_event
    if event is None:
        return f"订单状态：{STATE_NAMES.get(order.state, order.state)}，暂无物流信息"
    return (f"{order.carrier or ''} {order.tracking_number or ''} 最新物流："
            f"{event.time:%m-%d %H:%M} {event.location} {mask_signer(event.description)}").strip()


def explain_not_shipped(order: Order) -> Reply:
    """Why there is no delivery problem to register yet."""
    if order.state == "paid":
        return reply("utter_delivery_not_shipped", order_id=order.order_id,
                     dispatch_hours=load_policy()["dispatch_hours"])
    if order.state == "pending_payment":
        return reply("utter_delivery_not_paid", order_id=order.order_id)
    return describe_denial(order, "change")
