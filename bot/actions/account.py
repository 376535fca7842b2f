"""Account help: register, cannot log in, verification code not received, password, change the
bound phone, locked or frozen account, real-name verification. The steps match the state of the
account behind the customer's phone. The bot never asks for a password, a card or an ID number."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.clients.shop_api import Account, ShopApiError, ShopApiUnavailable
from bot.core.answers import ChoiceQuestion, choice_from_message, free_text, warn_if_sensitive
from bot.core.courtesy import acknowledge_if_upset
from bot.core.handoff import Reason, hand_off
from bot.core.lookup import PHONE, StopOnFailure, failed_attempt, offer_human
from bot.core.shop import shop_client
from bot.faq import load_policy
from contracts.masking import mask_phone

ISSUES = {
    "login": "登录不上",
    "code_not_received": "收不到验证码",
    "password": "忘记/修改密码",
    "change_phone": "换绑手机号",
    "locked": "账号被锁定/冻结",
    "real_name": "实名认证",
    "register": "注册账号",
}
# Checked in this order: "换了手机号收不到验证码" is about changing the phone.
ISSUE_KEYWORDS = {
    "change_phone": ("换绑", "换手机", "更换手机", "改手机号", "换号", "手机号不用了", "解绑",
                     "绑定的手机", "换个手机号", "修改手机号", "绑定新"),
    "code_not_received": ("验证码", "短信", "校验码", "动态码"),
    "locked": ("锁", "冻结", "封号", "被封", "限制登录", "封了", "异常"),
    "real_name": ("实名", "身份认证", "身份验证", "认证"),
    "password": ("密码",),
    "register": ("注册", "开户", "新用户", "创建账号"),
    "login": ("登录", "登陆", "登不上", "上不去", "进不去", "登不了", "无法登"),
}


class ValidateAccountForm(StopOnFailure, FormValidationAction):
    """What the problem is, and the phone of the account (never a password); stops asking
    after three phones that were not phones."""

    def name(self) -> str:
        """Name used in the domain."""
        return "validate_account_form"

    def extract_account_issue(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """The problem, from a button or the customer's words; warn about shared secrets."""
        warn_if_sensitive(dispatcher, tracker)
        return choice_from_message(tracker, "account_issue", ISSUE_KEYWORDS)

    def validate_account_issue(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """One of the account problems the bot knows."""
        return {"account_issue": value if value in ISSUES else None}

    def extract_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """The answer to the question for the phone, checked by validate_phone."""
        if any(e.get("entity") == "phone" for e in tracker.latest_message.get("entities") or []):
            return {}  # the domain's mapping has taken it
        return free_text(tracker, "phone", 40)

    def validate_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """A mainland mobile number."""
        match = PHONE.search(str(value or ""))
        if not match:
            return {"phone": None, **failed_attempt(dispatcher, tracker, "utter_phone_invalid")}
        return {"phone": match.group(), "lookup_attempts": 0}


class ActionAskAccountIssue(ChoiceQuestion):
    """Ask what the account problem is, with buttons."""

    slot = "account_issue"
    choices = ISSUES

    def name(self) -> str:
        """Name used in the domain (the form calls action_ask_<slot>)."""
        return "action_ask_account_issue"


class ActionAccountHelp(Action):
    """Guide the customer through the steps that fit their account's state."""

    def name(self) -> str:
        """Name used in the domain."""
        return "action_account_help"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Look the account up by phone and answer for its state."""
        acknowledge_if_upset(dispatcher, tracker)
        reset = [SlotSet("account_issue", None), SlotSet("journey_failure", None),
                 SlotSet("lookup_attempts", 0)]
        failure = tracker.get_slot("journey_failure")
        issue, phone = tracker.get_slot("account_issue"), tracker.get_slot("phone")
        if failure or issue not in ISSUES or not phone:
            offer_human(dispatcher, failure or "attempts")
            if (failure or "attempts") == "attempts":  # three answers in a row were not phones
                return [*reset, *hand_off(dispatcher, tracker, Reason.JOURNEY_FAILED)]
            return reset
        try:
            account = shop_client().account(phone)
        except ShopApiUnavailable:
            offer_human(dispatcher, "backend_down")
            return reset
        except ShopApiError:
            dispatcher.utter_message(response="utter_phone_invalid")
            return [*reset, SlotSet("phone", None)]
        dispatcher.utter_message(text=guide(issue, account, mask_phone(phone)))
        if issue in {"password", "login", "locked"}:
            dispatcher.utter_message(response="utter_never_share_password")
        return reset


def guide(issue: str, account: Account, phone: str) -> str:
    """The steps for the problem, given what the account looks like."""
    policy = load_policy()
    if not account.registered:
        if issue == "register":
            return (f"手机号 {phone} 还没有注册，可以直接注册：打开 App 或网站，"
                    "点「登录/注册」，输入手机号获取短信验证码，设置登录密码即可完成。"
                    f"新用户注册后可领 {policy['new_user_coupon_value']} 元新人券包"
                    f"（{policy['new_user_coupon_days']} 天内有效）。")
        return (f"手机号 {phone} 下没有查到账号。请确认是不是注册时用的手机号；如果当初是用微信/"
                "QQ 注册的，请用同一方式登录。还没注册的话，点「登录/注册」用这个手机号注册即可。")
    lock = _lock_text(account, policy, phone)
    if issue == "register":
        return (f"手机号 {phone} 已经注册过了，不能重复注册。"
                "直接在登录页选「短信验证码登录」就能进入；忘了密码可以点「忘记密码」重新设置。"
                + (f"\n另外，{lock}" if lock else ""))
    if issue in {"locked", "login", "password"} and lock:
        return lock
    if issue == "locked":
        return _login_steps(account, phone)
    if issue == "login":
        return _login_steps(account, phone)
    if issue == "password":
        return ("重置密码的步骤：在登录页点「忘记密码」→ 输入手机号 " + phone +
                f" 获取短信验证码 → 设置新的登录密码（{policy['password_rule']}）。"
                "改密码后其他设备需要重新登录。" +
                ("" if account.phone_bound else "\n您的账号还没有绑定手机号，收不到验证码，"
                 "请用注册时的微信登录后，在「设置-账号与安全」先绑定手机号。"))
    if issue == "code_not_received":
        if not account.phone_bound:
            return ("您的账号是用微信注册的，还没有绑定手机号，所以收不到短信验证码。请用微信登录，"
                    "在「设置-账号与安全-绑定手机号」绑定后就能用验证码了。")
        return ("收不到验证码可以按这几步排查：\n1. 检查手机信号，看看短信是否被安全软件"
                "拦截到「骚扰短信」里；\n"
                f"2. 等 {policy['sms_code_resend_seconds']} 秒后再点「重新获取」，"
                f"同一号码每天最多获取 {policy['sms_code_daily_limit']} 次；\n"
                "3. 手机欠费停机也收不到，充值后再试；\n4. 还是收不到的话，选择「语音验证码」，"
                "会用电话播报验证码。")
    if issue == "change_phone":
        if not account.phone_bound:
            return ("您的账号还没有绑定手机号：用微信登录后，在「设置-账号与安全-绑定手机号」"
                    "直接绑定新号码即可。")
        return (f"换绑手机号：在「我的-设置-账号与安全-更换手机号」，先用当前号码 {phone} "
                "接收验证码，再输入新号码接收验证码即可完成。\n如果原来的号码已经停用、收不到"
                "验证码，可以在同一页面选「原手机号不可用」提交申诉，上传本人手持证件照片，"
                f"{policy['phone_change_review_days']}内审核。证件照片请只在 App 里上传，"
                "不要在聊天里发证件号码。")
    return ("实名认证的状态可以在 App「我的-设置-账号与安全-实名认证」里查看：已认证的会显示"
            "「已认证」，不需要再认证；还没认证的按提示填写并完成人脸识别，几分钟内就有结果。"
            "身份证信息只在 App 的认证页面里填写，请不要在聊天里发送身份证号。")


def _lock_text(account: Account, policy: dict[str, Any], phone: str) -> str:
    """That the account is locked, and how locks end in general (empty when it is not
    locked). The phone was only typed, not proven to be the customer's: never the reason of
    the lock, its end or anything else about the account's owner."""
    if not account.locked:
        return ""
    return (f"手机号 {phone} 的账号目前处于锁定状态。一般有两种情况：\n"
            f"1. 密码连续输错 {policy['login_fail_limit']} 次，账号会被临时锁定 "
            f"{policy['login_lock_minutes']} 分钟，到时间后自动解锁；等不及的话，可以在登录页点"
            "「忘记密码」用短信验证码重置密码，重置成功后立即解锁；\n"
            "2. 因为账号安全原因被冻结，需要人工核实身份后才能解冻，我无法直接解除，"
            f"请发送「转人工」，客服会在服务时间（{policy['service_hours']}）内帮您处理。")


def _login_steps(account: Account, phone: str) -> str:
    """A checklist for an account that is open but the customer cannot get in."""
    if not account.phone_bound:
        return ("您的账号是用微信注册的，还没有绑定手机号，所以用手机号登录不了。请在登录页选"
                "「微信登录」，登录后在「设置-账号与安全」绑定手机号。")
    policy = load_policy()
    return (f"手机号 {phone} 的账号目前没有被锁定。登录不上可以试试：\n"
            "1. 在登录页选「短信验证码登录」，不需要密码；\n"
            "2. 忘了密码就点「忘记密码」重新设置，不要反复试，"
            f"密码连续输错 {policy['login_fail_limit']} 次账号会被临时锁定 "
            f"{policy['login_lock_minutes']} 分钟；\n3. 更新 App 到最新版本，"
            "或切换 Wi-Fi/4G 网络后再试；\n还是不行的话，截图错误提示发送「转人工」。")
