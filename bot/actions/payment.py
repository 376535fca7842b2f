"""Payment problems. A failed payment: the method and what the customer saw (or the order's
payment record) give the fix that matches. Charged but the order unpaid, or charged twice: the
order's payments show what happened, and the automatic refund says when the money is back."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.clients.shop_api import Payment, Refund, ShopApiError, ShopApiUnavailable
from bot.core.answers import ChoiceQuestion, chosen, classify, latest_intent, warn_if_sensitive
from bot.core.courtesy import acknowledge_if_upset
from bot.core.handoff import Reason, hand_off
from bot.core.lookup import ORDER_ID, StopOnFailure, offer_human
from bot.core.ownership import JourneyAction, JourneyForm
from bot.core.refunds import METHOD_NAMES, refund_days
from bot.core.replies import Reply, reply
from bot.core.shop import shop_client
from bot.faq import load_policy

# Values of the `payment_method` entity (normalised by the NLU) and how customers name them.
PAYMENT_METHODS = {
    "alipay": "支付宝",
    "wechat_pay": "微信支付",
    "bank_card": "银行卡（储蓄卡）",
    "credit_card": "信用卡",
    "huabei": "花呗",
    "jd_baitiao": "白条",
    "other": "其他方式",
}
# The shop API says debit_card where customers say 银行卡.
API_METHODS = {"debit_card": "bank_card"}
ERRORS = {
    "insufficient_balance": "余额不足",
    "limit_exceeded": "超出限额",
    "card_not_enabled_online": "银行卡未开通网上支付",
    "network_timeout": "一直转圈/网络超时",
    "risk_control": "提示交易有风险/被拦截",
    "order_expired": "订单已失效/超时",
    "wrong_password": "支付密码错误",
    "other": "其他提示",
}
ERROR_KEYWORDS = {
    "insufficient_balance": ("余额不足", "余额不够", "钱不够", "零钱不足", "零钱不够", "余额"),
    "limit_exceeded": ("限额", "超额", "超限", "额度", "超出", "上限"),
    "card_not_enabled_online": ("未开通", "没开通", "不支持该卡", "网上支付", "快捷支付",
                                "无法使用该卡", "卡不支持", "网银"),
    "network_timeout": ("超时", "转圈", "没反应", "卡住", "网络", "加载", "一直在处理", "白屏"),
    "risk_control": ("风险", "风控", "拦截", "安全", "异常交易", "冻结"),
    "order_expired": ("订单已关闭", "订单关闭", "已失效", "订单失效", "已取消", "过期", "订单超时"),
    "wrong_password": ("密码错", "密码不对", "密码输错"),
}


def method_name(method: str | None) -> str:
    """A payment method as customers name it; an unknown one is 原支付方式, never its code."""
    return METHOD_NAMES.get(method or "") or PAYMENT_METHODS.get(
        API_METHODS.get(method or "", method or ""), "原支付方式")


# Where the money of a payment method comes from, for 余额不足.
BALANCE_SOURCES = {
    "alipay": "支付宝余额或余额宝",
    "wechat_pay": "微信零钱或绑定的银行卡",
    "huabei": "花呗可用额度",
    "jd_baitiao": "白条可用额度",
    "credit_card": "信用卡可用额度",
}
# The fix of each error (ERRORS), worded for the method in the domain.
FIXES = {
    "insufficient_balance": "utter_payment_fix_insufficient_balance",
    "limit_exceeded": "utter_payment_fix_limit_exceeded",
    "card_not_enabled_online": "utter_payment_fix_card_not_enabled_online",
    "network_timeout": "utter_payment_fix_network_timeout",
    "risk_control": "utter_payment_fix_risk_control",
    "order_expired": "utter_payment_fix_order_expired",
    "wrong_password": "utter_payment_fix_wrong_password",
}


def fix_for(error: str, method: str) -> Reply:
    """The steps that fix a failed payment, worded for the payment method."""
    return reply(FIXES.get(error, "utter_payment_fix_other"), **load_policy(),
                 method=PAYMENT_METHODS.get(method, "您的支付方式"),
                 source=BALANCE_SOURCES.get(method, "卡内余额"))


class ValidatePaymentFailedForm(StopOnFailure, FormValidationAction):
    """The payment method and what the customer saw; an order's failed payment fills both.
    Stops when three answers in a row were not understood."""

    def name(self) -> str:
        """Name used in the domain."""
        return "validate_payment_failed_form"

    def extract_payment_error(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """What the customer saw: a button, their words, or the failed payment of their order."""
        if tracker.get_slot("payment_error"):
            return {}
        warn_if_sensitive(dispatcher, tracker)
        value = chosen(tracker, ERRORS)
        text = tracker.latest_message.get("text") or ""
        if value is None and latest_intent(tracker) not in {"deny", "request_human"}:
            value = classify(text, ERROR_KEYWORDS)
        if value is None:
            recorded = recorded_failure(text)
            if recorded:
                return recorded
        if value is None and tracker.get_slot("requested_slot") == "payment_error" \
                and latest_intent(tracker) in {"inform", "nlu_fallback", "payment_failed"}:
            value = "other"  # a message we cannot match still gets the general checklist
        return {"payment_error": value} if value else {}

    def validate_payment_error(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """One of the known failure kinds."""
        return {"payment_error": value if value in ERRORS else None}

    def validate_payment_method(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """One of the normalised payment methods (a typed payload may carry anything)."""
        if isinstance(value, list):
            value = value[0] if value else None
        value = API_METHODS.get(str(value), str(value)) if value else None
        if value not in PAYMENT_METHODS:
            return {"payment_method": None}
        return {"payment_method": value}


def recorded_failure(text: str) -> dict[str, Any] | None:
    """The method and failure of the latest failed payment of an order named in the message."""
    match = ORDER_ID.search(text)
    if not match:
        return None
    try:
        payments = shop_client().payments(match.group())
    except (ShopApiError, ShopApiUnavailable):
        return None  # the customer still gets the questions; the answer does not need the API
    failed = [p for p in payments if p.status == "failed" and p.failure_code in ERRORS]
    if not failed:
        return None
    latest = failed[-1]
    return {"payment_error": latest.failure_code,
            "payment_method": API_METHODS.get(latest.method, latest.method)}


class ActionAskPaymentMethod(Action):
    """Ask how the customer paid, with the methods as buttons."""

    def name(self) -> str:
        """Name used in the domain (the form calls action_ask_<slot>)."""
        return "action_ask_payment_method"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Alipay, WeChat Pay, bank card, credit card, Huabei ..."""
        options = [
            {"title": title, "payload": f'/inform{{"payment_method":"{value}"}}'}
            for value, title in PAYMENT_METHODS.items()
        ]
        dispatcher.utter_message(response="utter_ask_payment_method", buttons=options)
        return []


class ActionAskPaymentError(ChoiceQuestion):
    """Ask what the payment page said, with the common messages as buttons."""

    slot = "payment_error"
    choices = ERRORS

    def name(self) -> str:
        """Name used in the domain (the form calls action_ask_<slot>)."""
        return "action_ask_payment_error"


class ActionPaymentFailed(Action):
    """Give the fix that matches the method and the failure, then forget them."""

    def name(self) -> str:
        """Name used in the domain."""
        return "action_payment_failed"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The fix, and how long an unpaid order waits."""
        acknowledge_if_upset(dispatcher, tracker)
        reset = [SlotSet("payment_error", None), SlotSet("payment_method", None),
                 SlotSet("journey_failure", None), SlotSet("lookup_attempts", 0)]
        error = tracker.get_slot("payment_error")
        if tracker.get_slot("journey_failure") or error not in ERRORS:
            failure = tracker.get_slot("journey_failure") or "attempts"
            offer_human(dispatcher, failure)
            if failure == "attempts":
                return [*reset, *hand_off(dispatcher, tracker, Reason.JOURNEY_FAILED)]
            return reset
        method = tracker.get_slot("payment_method") or "other"
        fix_for(error, method).send(dispatcher)
        if error not in {"order_expired"}:
            dispatcher.utter_message(response="utter_payment_retry_in_time", **load_policy())
        return reset


# ---- charged but unpaid, or charged twice --------------------------------------------------


class ValidatePaymentChargedForm(JourneyForm):
    """Order lookup of the charged-but-unpaid / charged-twice journey."""

    owner_check = False  # explains the shop's payment record; changes nothing

    def name(self) -> str:
        """Name used in the domain."""
        return "validate_payment_charged_form"


class ActionPaymentCharged(JourneyAction):
    """Check the order's payments and explain the automatic refund and when it arrives."""

    owner_check = False  # see ValidatePaymentChargedForm

    def name(self) -> str:
        """Name used in the domain."""
        return "action_payment_charged"

    def answer_owned(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order_id: str
    ) -> list[dict[str, Any]]:
        """Duplicate charge, payment notice not arrived yet, or no charge on the shop's side."""
        client = shop_client()
        order = client.order(order_id)
        payments = client.payments(order_id)
        refunds = {refund.refund_id: refund for refund in client.refunds(order_id)}
        explain_charges(order.order_id, order.state, payments, refunds).send(dispatcher)
        return []


def explain_charges(
    order_id: str, state: str, payments: list[Payment], refunds: dict[str, Refund]
) -> Reply:
    """What the order's payment record says about the customer's money (several payments are
    listed one line each, composed here)."""
    policy = load_policy()
    taken = [p for p in payments if p.status in {"success", "refunded"}]
    if not taken:
        return reply("utter_charge_none", order_id=order_id,
                     payment_exception_refund_days=policy["payment_exception_refund_days"])
    first = taken[0]
    method = method_name(first.method)
    if len(taken) > 1:
        lines = []
        for number, payment in enumerate(taken, start=1):
            lines.append(f"· 第{number}笔 {payment.amount} 元（{method_name(payment.method)}，"
                         f"{payment.created_at:%m月%d日 %H:%M}）"
                         + ("" if number == 1 else _duplicate_refund(payment, refunds)))
        return reply("utter_charge_duplicate", order_id=order_id, count=len(taken),
                     payments="\n".join(lines))
    shown = {"order_id": order_id, "amount": first.amount, "method": method}
    if state == "pending_payment":
        return reply("utter_charge_not_synced", refund_days=refund_days(first.method),
                     payment_sync_minutes=policy["payment_sync_minutes"], **shown)
    if state in {"cancelled", "refunding", "refunded"} and first.refund_id:
        refund = refunds.get(first.refund_id)
        progress = _arrival(refund) if refund else f"一般 {refund_days(first.method)} 到账。"
        return reply("utter_charge_refunding", progress=progress, **shown)
    return reply("utter_charge_single", time=f"{first.created_at:%m月%d日 %H:%M}", **shown)


def _duplicate_refund(payment: Payment, refunds: dict[str, Refund]) -> str:
    refund = refunds.get(payment.refund_id or "")
    if refund is None:
        return f"，会在 {refund_days(payment.method)} 内自动退回"
    return "，" + _arrival(refund)


def _arrival(refund: Refund) -> str:
    method = method_name(refund.method)
    if refund.status == "succeeded":
        when = f"{refund.completed_at:%m月%d日}" if refund.completed_at else ""
        return f"已于{when}退回{method}。"
    if refund.expected_arrival:
        return f"正在退回{method}，预计 {refund.expected_arrival:%m月%d日} 前到账。"
    return f"正在退回{method}，一般 {refund_days(refund.method)} 到账。"
