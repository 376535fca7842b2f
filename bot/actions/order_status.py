"""Where is my order: answer with state, carrier, latest tracking event and ETA."""
from __future__ import annotations

import json
from datetime import date
from typing import NamedTuple

from rasa_sdk.executor import CollectingDispatcher

from bot.clients.shop_api import Order
from bot.core.answers import CHOICE_ENTITY
from bot.core.clock import CHINA, china_today
from bot.core.lookup import OrderJourneyAction, OrderLookupValidation
from bot.core.shop import STATE_NAMES, shop_client
from bot.faq import load_policy
from bot.nlu.other_request import ASKS_BACK
from contracts.masking import mask_signer, mask_text


class ValidateOrderStatusForm(OrderLookupValidation):
    """Order lookup of the order-status journey."""

    def name(self) -> str:
        """Name used in the domain."""
        return "validate_order_status_form"


class ActionOrderStatus(OrderJourneyAction):
    """Answer with the order's state, carrier, latest tracking event and ETA."""

    def name(self) -> str:
        """Name used in the domain."""
        return "action_order_status"

    def answer(self, dispatcher: CollectingDispatcher, order_id: str) -> None:
        """Describe the order in the words of its state; a late or stuck parcel gets buttons
        to report it or to reach a person."""
        order = shop_client().order(order_id)
        today = china_today()
        buttons = delay_buttons(order, today)
        # The delay offer asks the customer something: a second request waits for the answer.
        extra = {ASKS_BACK: True} if buttons else {}
        dispatcher.utter_message(text=describe(order, today), buttons=buttons, **extra)


IN_TRANSIT = {"shipped", "out_for_delivery"}


class Delay(NamedTuple):
    """How a parcel on its way is behind: past its delivery date, and the days its tracking
    has stood still once that reaches the policy's `tracking_stall_days` (else 0)."""

    late: bool
    stuck_days: int


def delay(order: Order, today: date) -> Delay:
    """The delay of the order's parcel (none for an order that is not on its way)."""
    if order.state not in IN_TRANSIT:
        return Delay(False, 0)
    stalled, policy = stalled_days(order, today), load_policy()
    return Delay(order.eta is not None and order.eta < today,
                 stalled if stalled >= int(policy["tracking_stall_days"]) else 0)


def is_delayed(order: Order, today: date) -> bool:
    """Whether a parcel on its way is past its delivery date, or its tracking has not moved
    for the policy's number of days."""
    late, stuck_days = delay(order, today)
    return late or stuck_days > 0


def delay_buttons(order: Order, today: date) -> list[dict[str, str]]:
    """For a late or stuck parcel, a delivery problem (topics.md): one tap opens that journey
    for the same order (already named as stuck when the tracking stands still), or reaches a
    person. None for a parcel on time."""
    late, stuck_days = delay(order, today)
    if not late and not stuck_days:
        return []
    report = "/report_delivery_issue" + (
        json.dumps({CHOICE_ENTITY: "stuck"}, separators=(",", ":")) if stuck_days else "")
    return [{"title": "登记物流异常", "payload": report},
            {"title": "转人工", "payload": "/request_human"}]


def stalled_days(order: Order, today: date) -> int:
    """Whole days since the latest tracking event of a parcel on its way (0 otherwise)."""
    event = order.latest_event
    if order.state not in IN_TRANSIT or event is None:
        return 0
    moved = event.time.astimezone(CHINA) if event.time.tzinfo else event.time
    return max(0, (today - moved.date()).days)


def describe(order: Order, today: date) -> str:
    """The status answer in Chinese, worded for the order's state."""
    policy = load_policy()
    state = STATE_NAMES.get(order.state, order.state)
    first = order.items[0].name if order.items else "商品"
    lines = [f"订单 {order.order_id}（{first}{'等' if len(order.items) > 1 else ''}）"
             f"当前状态：{state}。"]
    if order.state == "pending_payment":
        lines.append(f"订单还未付款，请在下单后 {policy['order_auto_cancel_minutes']} 分钟内"
                     "完成支付，超时订单会自动取消。")
    elif order.state == "paid":
        lines.append(f"已付款，仓库正在备货，一般在付款后 {policy['dispatch_hours']} 小时内发出。")
    if order.carrier and order.state in {"shipped", "out_for_delivery", "delivered"}:
        lines.append(f"承运快递：{order.carrier}，运单号 {order.tracking_number}。")
    event = order.latest_event
    if event and order.state in {"shipped", "out_for_delivery", "delivered"}:
        lines.append(f"最新物流：{event.time:%m月%d日 %H:%M} {event.location} "
                     f"{mask_text(mask_signer(event.description))}")
    if order.state in IN_TRANSIT and order.eta and order.eta >= today:
        lines.append(f"预计 {order.eta:%m月%d日} 送达。")
    late, stuck_days = delay(order, today)
    if late or stuck_days:
        reasons = ([f"包裹原定 {order.eta:%m月%d日} 送达，现在已经晚了"] if late else []) + (
            [f"物流{'也' if late else '已经'}有 {stuck_days} 天没更新了"] if stuck_days else [])
        lines.append("，".join(reasons) + "，非常抱歉。需要的话我可以帮您登记物流异常，让快递"
                     "公司核查包裹位置；也可以发送「转人工」找人工客服。")
    if order.state == "delivered":
        lines.append("如果您没有收到包裹，请告诉我，我帮您登记处理。")
    if order.state in {"cancelled", "refunding", "refunded"} and order.cancel_reason:
        lines.append(f"原因：{order.cancel_reason}。")
    return "\n".join(lines)
