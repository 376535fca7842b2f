"""Return, exchange or repair: the policy, eligibility from the delivery date and the order's
state, the reason, the pick-up option, and the request opened with its number once the
customer confirmed it (registered below)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.clients.shop_api import Order, ShopApiError, ShopApiUnavailable
from bot.core.answers import ChoiceQuestion, buttons, choice_from_message, free_text
from bot.core.changes import PendingChange, ask_confirmation
from bot.core.clock import china_today
from bot.core.confirmation import confirms
from bot.core.ownership import JourneyAction, JourneyForm
from bot.core.replies import Reply, reply
from bot.core.shop import STATE_NAMES, items_summary, shop_client
from bot.faq import load_policy

KINDS = {"return": "退货退款", "exchange": "换货", "repair": "维修"}
KIND_KEYWORDS = {
    "exchange": ("换货", "换一个", "换个", "换成", "调换", "换尺码", "换颜色", "换新"),
    "repair": ("维修", "修", "保修", "质保", "坏了", "故障"),
    "return": ("退货", "退掉", "退回", "不想要", "七天无理由", "7天无理由", "退了"),
}
REASONS = {
    "no_reason": "无理由退换（不想要了）",
    "quality": "质量问题/有故障",
    "size": "尺码或颜色不合适",
    "not_as_described": "与描述不符",
}
REASON_KEYWORDS = {
    "quality": ("质量", "故障", "坏", "不能用", "用不了", "开不了机", "没声音", "瑕疵", "破"),
    "size": ("尺码", "大了", "小了", "偏大", "偏小", "颜色", "不合身", "码数"),
    "not_as_described": ("不符", "不一样", "色差", "假货", "描述"),
    "no_reason": ("不想要", "不喜欢", "无理由", "买错", "拍错", "不需要"),
}
PICKUPS = {"door": "上门取件", "self": "自己寄回"}
PICKUP_KEYWORDS = {
    "door": ("上门", "取件", "来拿", "来取"),
    "self": ("自己寄", "自行寄", "驿站", "寄回", "自己送"),
}


def eligibility(order: Order, kind: str, today: date) -> Reply | None:
    """Why the order cannot get this after-sales service now (None when it can)."""
    if order.allows(kind):
        return None
    policy = load_policy()
    shown = {"order_id": order.order_id, "items": items_summary(order), "kind": KINDS[kind],
             "state": STATE_NAMES.get(order.state, order.state)}
    if order.state == "paid":
        return reply("utter_after_sales_not_shipped", **shown)
    if order.state in {"shipped", "out_for_delivery"}:
        return reply("utter_after_sales_not_delivered", **shown)
    if order.state == "pending_payment":
        return reply("utter_after_sales_not_paid", **shown)
    if order.state in {"cancelled", "refunding", "refunded"}:
        return reply("utter_after_sales_cancelled", **shown)
    if kind == "repair":
        return reply("utter_after_sales_warranty_over",
                     default_warranty_period=policy["default_warranty_period"], **shown)
    days = {"return_window_days": policy["return_window_days"],
            "quality_return_days": policy["quality_return_days"]}
    if order.return_deadline:
        return reply("utter_after_sales_window_over_by", **days, **shown,
                     return_deadline=f"{order.return_deadline:%m月%d日}")
    return reply("utter_after_sales_window_over", **days, **shown)


def service_blocker(order: Order, kind: str) -> str | None:
    """Why the order cannot get this service now: its state, or a request already open."""
    if not order.allows(kind):
        return order.state
    cases = shop_client().after_sales(order.order_id)
    if any(case.type == kind and case.status in {"open", "in_progress"} for case in cases):
        return "case_open"
    return None


class ValidateAfterSalesForm(JourneyForm):
    """Order lookup, return/exchange/repair, eligibility, reason and pick-up option."""

    def name(self) -> str:
        """Name used in the domain."""
        return "validate_after_sales_form"

    def blocker(self, order: Order, tracker: Tracker) -> str | None:
        """The order must allow the chosen service (delivered, within its window), and have
        no request of that kind in progress."""
        kind = tracker.get_slot("after_sales_type")
        if kind in KINDS:
            return service_blocker(order, kind)
        return None if order.state == "delivered" else order.state

    def extract_after_sales_type(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """Return, exchange or repair, from a button or the customer's words."""
        return choice_from_message(tracker, "after_sales_type", KIND_KEYWORDS)

    def validate_after_sales_type(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """One of the three services; the order already chosen is checked for it."""
        if value not in KINDS:
            return {"after_sales_type": None}
        order_id = tracker.get_slot("order_id")
        if not order_id:
            return {"after_sales_type": value}
        try:
            blocker = service_blocker(shop_client().order(order_id), value)
        except (ShopApiError, ShopApiUnavailable):  # the answer step checks again and explains
            return {"after_sales_type": value}
        return {"after_sales_type": value, "order_blocker": blocker}

    def extract_after_sales_reason(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """The reason from a button, the customer's words, or their own explanation."""
        found = choice_from_message(tracker, "after_sales_reason", REASON_KEYWORDS)
        if found:
            return {"after_sales_reason": REASONS[found["after_sales_reason"]]}
        return free_text(tracker, "after_sales_reason", 100)

    def validate_after_sales_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """Any short reason in words."""
        text = str(value or "").strip()
        return {"after_sales_reason": text[:100] if text else None}

    def extract_pickup_method(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """Door pick-up or sending it back, from a button or the customer's words."""
        return choice_from_message(tracker, "pickup_method", PICKUP_KEYWORDS)

    def validate_pickup_method(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """One of the two pick-up options."""
        return {"pickup_method": value if value in PICKUPS else None}


class ActionAskAfterSalesType(ChoiceQuestion):
    """Ask return, exchange or repair, with buttons."""

    slot = "after_sales_type"
    choices = KINDS

    def name(self) -> str:
        """Name used in the domain (the form calls action_ask_<slot>)."""
        return "action_ask_after_sales_type"


class ActionAskAfterSalesReason(Action):
    """Explain the policy for the order and ask the reason, with buttons."""

    def name(self) -> str:
        """Name used in the domain (the form calls action_ask_<slot>)."""
        return "action_ask_after_sales_reason"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The policy that applies (with the order's deadline), then the reasons as buttons."""
        kind = tracker.get_slot("after_sales_type")
        policy = load_policy()
        deadline = None
        try:
            order = shop_client().order(tracker.get_slot("order_id") or "")
            if order.return_deadline and kind in {"return", "exchange"}:
                deadline = f"{order.return_deadline:%m月%d日}"
        except (ShopApiError, ShopApiUnavailable):  # the deadline is a courtesy
            pass
        if kind == "repair":
            dispatcher.utter_message(response="utter_after_sales_policy_repair", **policy)
        elif deadline:
            dispatcher.utter_message(response="utter_after_sales_policy_by", **policy,
                                     kind=KINDS.get(kind, "退换"), return_deadline=deadline)
        else:
            dispatcher.utter_message(response="utter_after_sales_policy", **policy,
                                     kind=KINDS.get(kind, "退换"))
        dispatcher.utter_message(response="utter_ask_after_sales_reason",
                                 buttons=buttons(REASONS))
        return []


class ActionAskPickupMethod(ChoiceQuestion):
    """Ask how the goods come back, with buttons."""

    slot = "pickup_method"
    choices = PICKUPS

    def name(self) -> str:
        """Name used in the domain (the form calls action_ask_<slot>)."""
        return "action_ask_pickup_method"


class ActionAfterSales(JourneyAction):
    """Open the return, exchange or repair request and say what happens next."""

    journey_slots = ("after_sales_type", "after_sales_reason", "pickup_method")

    def name(self) -> str:
        """Name used in the domain."""
        return "action_after_sales"

    def answer_owned(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order_id: str
    ) -> list[dict[str, Any]]:
        """The request's number and next steps, or why the order cannot have it."""
        client = shop_client()
        order = client.order(order_id)
        kind = tracker.get_slot("after_sales_type")
        if kind not in KINDS:
            kind = next((k for k in KINDS if order.allows(k)), "return")
        refusal = eligibility(order, kind, china_today())
        if refusal:
            refusal.send(dispatcher)
            return []
        in_progress = next((case for case in client.after_sales(order_id) if case.type == kind
                            and case.status in {"open", "in_progress"}), None)
        if in_progress is not None:
            dispatcher.utter_message(response="utter_after_sales_case_exists", order_id=order_id,
                                     case_id=in_progress.case_id, kind=KINDS[kind])
            return []
        reason = tracker.get_slot("after_sales_reason") or KINDS[kind]
        pickup = tracker.get_slot("pickup_method") or "door"
        change = AfterSalesChange(order_id, type=kind, reason=reason, pickup=pickup)
        question = reply("utter_confirm_after_sales", order_id=order_id, kind=KINDS[kind],
                         items=items_summary(order), reason=reason, pickup=PICKUPS[pickup])
        return ask_confirmation(dispatcher, question, change,
                                yes="确认提交", no="先不申请了")


@dataclass(frozen=True)
class AfterSalesChange(PendingChange):
    """A return, exchange or repair request (`type`, one of KINDS) to open."""

    kind: ClassVar[str] = "after_sales"
    type: str | None = None
    reason: str | None = None
    pickup: str | None = None


@confirms(AfterSalesChange, asked_by="action_after_sales")
def confirm_after_sales(
    dispatcher: CollectingDispatcher, change: AfterSalesChange, key: str
) -> None:
    """Open the request the customer has just confirmed and say what happens next."""
    client = shop_client()
    order_id, kind = change.order_id, change.type
    if kind not in KINDS:
        dispatcher.utter_message(response="utter_change_incomplete")
        return
    reason = str(change.reason or KINDS[kind])
    pickup = change.pickup if change.pickup in PICKUPS else "door"
    policy = load_policy()
    try:
        case = client.open_after_sales(order_id, kind, reason, f"取件方式：{PICKUPS[pickup]}",
                                       idempotency_key=key)
    except ShopApiError as error:
        if error.code != "case_exists":
            raise
        dispatcher.utter_message(response="utter_after_sales_case_exists", order_id=order_id,
                                 case_id=(error.details or {}).get("case_id", ""),
                                 kind=KINDS[kind])
        return
    order = client.order(order_id)
    reply("utter_after_sales_opened_door" if pickup == "door" else "utter_after_sales_opened_self",
          order_id=order_id, items=items_summary(order), kind=KINDS[kind], case_id=case.case_id,
          reason=reason, **policy).send(dispatcher)
