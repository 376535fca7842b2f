"""Refunds as the customer hears them: the payment method's name, how long the money takes to
come back, and one refund of an order in a sentence."""
from __future__ import annotations

from datetime import date

from bot.clients.shop_api import Refund
from bot.faq import load_policy

METHOD_NAMES = {"alipay": "支付宝", "wechat_pay": "微信支付", "debit_card": "银行卡（储蓄卡）",
                "credit_card": "信用卡", "huabei": "花呗"}
# The refund-status answer names the methods more briefly (「退回储蓄卡」).
REFUND_METHOD_NAMES = {
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


def refund_days(method: str | None) -> str:
    """How long a refund takes to arrive by the payment method, from the shop's policy."""
    policy = load_policy()
    key = {"alipay": "refund_days_alipay", "wechat_pay": "refund_days_wechat",
           "debit_card": "refund_days_debit_card", "credit_card": "refund_days_credit_card",
           "huabei": "refund_days_huabei"}.get(method or "", "refund_days_alipay")
    return policy[key]


def describe_refund(refund: Refund, today: date) -> str:
    """One refund in a sentence: what, how much, where to, and when (`today` in China's
    time, bot/core/clock.py: a refund due today is not late yet)."""
    method = REFUND_METHOD_NAMES.get(refund.method, refund.method)
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
