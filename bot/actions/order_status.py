"""Where is my order: answer with state, carrier, latest tracking event and ETA."""
from __future__ import annotations

from datetime import date

from rasa_sdk.executor import CollectingDispatcher

from bot.actions.order_lookup import (
    STATE_NAMES,
    OrderJourneyAction,
    OrderLookupValidation,
    shop_client,
)
from bot.clients.shop_api import Order
from bot.faq import load_policy
from bot.masking import mask_signer, mask_text


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
        """Describe the order in the words of its state."""
        order = shop_client().order(order_id)
        dispatcher.utter_message(text=describe(order, date.today()))


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
    if order.state in {"shipped", "out_for_delivery"} and order.eta:
        if order.eta < today:
            lines.append(f"原定 {order.eta:%m月%d日} 送达，已经晚了，非常抱歉。"
                         "如需催件或登记异常，直接告诉我，或发送「转人工」。")
        else:
            lines.append(f"预计 {order.eta:%m月%d日} 送达。")
    if order.state == "delivered":
        lines.append("如果您没有收到包裹，请告诉我，我帮您登记处理。")
    if order.state in {"cancelled", "refunding", "refunded"} and order.cancel_reason:
        lines.append(f"原因：{order.cancel_reason}。")
    return "\n".join(lines)
