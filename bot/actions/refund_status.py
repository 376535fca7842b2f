"""Where is my refund: each refund of the order with its status, amount, method and the
date the money should arrive."""
from __future__ import annotations

from datetime import date

from rasa_sdk.executor import CollectingDispatcher

from bot.actions.order_lookup import OrderJourneyAction, OrderLookupValidation, shop_client
from bot.clients.shop_api import Refund

METHOD_NAMES = {
    "alipay": "支付宝",
    "wechat_pay": "微信支付",
    "debit_card": "储蓄卡",
    "credit_card": "信用卡",
}
STATUS_NAMES = {
    "pending": "待审核",
    "processing": "退款处理中",
    "succeeded": "已退款",
    "rejected": "未通过",
}
KIND_NAMES = {
    "customer_request": "退款申请",
    "cancellation": "取消订单退款",
    "duplicate_charge": "重复扣款退回",
}


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
        lines = [f"订单 {order_id} 的退款情况："]
        lines += [describe_refund(r, date.today()) for r in refunds]
        dispatcher.utter_message(text="\n".join(lines))
        if any(r.status == "succeeded" for r in refunds):
            dispatcher.utter_message(response="utter_refund_arrived_where")


def describe_refund(refund: Refund, today: date) -> str:
    """One refund in a sentence: what, how much, where to, and when."""
    method = METHOD_NAMES.get(refund.method, refund.method)
    kind = KIND_NAMES.get(refund.kind, "退款")
    status = STATUS_NAMES.get(refund.status, refund.status)
    text = f"· {kind} {refund.amount} 元，退回{method}，{status}"
    if refund.status == "succeeded" and refund.completed_at:
        return text + f"（{refund.completed_at:%m月%d日}已退回）。"
    if refund.status == "rejected":
        return text + f"，原因：{refund.rejection_reason or '请查看售后详情'}。"
    if refund.expected_arrival:
        late = "，已超过预计时间，非常抱歉，可以发送「转人工」帮您加急" \
            if refund.expected_arrival < today else ""
        return text + f"，预计 {refund.expected_arrival:%m月%d日} 前到账{late}。"
    return text + "。"
