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


def fix_for(error: str, method: str) -> str:
    """The steps that fix a failed payment, worded for the payment method."""
    policy = load_policy()
    name = PAYMENT_METHODS.get(method, "您的支付方式")
    if error == "insufficient_balance":
        source = {
            "alipay": "支付宝余额或余额宝",
            "wechat_pay": "微信零钱或绑定的银行卡",
            "huabei": "花呗可用额度",
            "jd_baitiao": "白条可用额度",
            "credit_card": "信用卡可用额度",
        }.get(method, "卡内余额")
        return (f"{name}提示余额不足，说明{source}不够支付这笔订单。可以先充值或还款后再付，"
                "也可以在收银台换一种付款方式（其他银行卡、微信/支付宝、信用卡）。")
    if error == "limit_exceeded":
        return (f"{name}超出了单笔或单日支付限额（限额由银行或支付机构设定）。可以：\n"
                "1. 换一张限额更高的卡，或用信用卡、其他支付方式付款；\n"
                "2. 在手机银行里调高网上支付/快捷支付限额后再付；\n"
                f"本店单笔订单最高可支付 {policy['payment_order_limit']} 元。")
    if error == "card_not_enabled_online":
        return ("这张银行卡还没有开通网上支付（快捷支付）功能。请在手机银行 App 的「银行卡管理」"
                "里开通，或拨打银行客服电话开通，开通后就能正常付款；也可以先换一张卡或用微信/支付宝付款。")
    if error == "network_timeout":
        return ("付款时网络超时了。请先别急着重复付款：\n"
                "1. 到「我的-订单」刷新一下，支付结果一般 "
                f"{policy['payment_sync_minutes']} 分钟内同步；\n"
                "2. 如果订单仍是待付款，换个网络（Wi-Fi/4G 切换）后重新付款；\n"
                "3. 如果钱已扣了但订单没变，不用担心，告诉我「扣款了订单没变」帮您查。")
    if error == "risk_control":
        return (f"这笔支付被{name}的安全系统拦截了，一般是因为新设备、异地登录或金额较大。"
                "请按支付页面提示完成身份验证（短信验证码、人脸识别）后再付，或联系"
                f"{name}官方客服解除限制；也可以换一种付款方式。")
    if error == "order_expired":
        return (f"订单下单后 {policy['order_auto_cancel_minutes']} 分钟内未付款会自动关闭，"
                "关闭的订单无法再付款。请重新下单后付款；如果关闭后仍被扣了款，"
                f"这笔钱会在 {policy['payment_exception_refund_days']} 内自动原路退回。")
    if error == "wrong_password":
        return (f"支付密码是在{name}里设置的，请不要把密码告诉任何人（包括客服）。"
                f"忘记的话可以在{name} App 里通过「忘记支付密码」重置，重置后再付款。")
    return ("可以按这几步排查：\n1. 确认网络正常，刷新订单页面看是否已付款；\n"
            "2. 换一种付款方式（其他银行卡、微信/支付宝）试试；\n"
            "3. 截图保存付款页面的提示，发送「转人工」由客服帮您核查。")


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
        dispatcher.utter_message(text=fix_for(error, method))
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
        dispatcher.utter_message(text=explain_charges(order.order_id, order.state, payments,
                                                      refunds))
        return []


def explain_charges(
    order_id: str, state: str, payments: list[Payment], refunds: dict[str, Refund]
) -> str:
    """What the order's payment record says about the customer's money."""
    policy = load_policy()
    taken = [p for p in payments if p.status in {"success", "refunded"}]
    if not taken:
        return (f"订单 {order_id} 在我们这边没有成功的扣款记录。如果您的账户确实显示扣款，"
                "通常是支付机构的在途款项，未成功的支付会在 "
                f"{policy['payment_exception_refund_days']} 内自动退回原账户。超过时间还没退回，"
                "请截图扣款记录，发送「转人工」帮您核查。")
    first = taken[0]
    method = method_name(first.method)
    if len(taken) > 1:
        lines = [f"查到了，订单 {order_id} 确实被扣了 {len(taken)} 次款，非常抱歉："]
        for number, payment in enumerate(taken, start=1):
            lines.append(f"· 第{number}笔 {payment.amount} 元（{method_name(payment.method)}，"
                         f"{payment.created_at:%m月%d日 %H:%M}）"
                         + ("" if number == 1 else _duplicate_refund(payment, refunds)))
        lines.append("重复的扣款由系统自动原路退回，您不需要再操作。")
        return "\n".join(lines)
    if state == "pending_payment":
        return (f"查到了，订单 {order_id} 的 {first.amount} 元已经通过{method}扣款成功，"
                "但支付结果还没同步到订单，所以订单暂时显示待付款。一般 "
                f"{policy['payment_sync_minutes']} 分钟内会自动变为已付款，请不要重复付款。\n"
                f"如果一直没有同步、订单超时关闭，这笔钱会在 {refund_days(first.method)} 内"
                f"自动原路退回{method}。")
    if state in {"cancelled", "refunding", "refunded"} and first.refund_id:
        refund = refunds.get(first.refund_id)
        return (f"订单 {order_id} 的 {first.amount} 元扣款已经在退款：" +
                (_arrival(refund) if refund else f"一般 {refund_days(first.method)} 到账。"))
    return (f"订单 {order_id} 只有一笔扣款：{first.amount} 元（{method}，"
            f"{first.created_at:%m月%d日 %H:%M}），订单已付款，没有重复扣款。"
            "如果您的账单里看到两笔，另一笔可能属于其他订单或是银行的预授权，预授权会自动解除；"
            "需要核对的话发送「转人工」。")


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
