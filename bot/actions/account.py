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
from bot.core.replies import Reply, reply
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
        guide(issue, account, mask_phone(phone)).send(dispatcher)
        if issue in {"password", "login", "locked"}:
            dispatcher.utter_message(response="utter_never_share_password")
        return reset


def guide(issue: str, account: Account, phone: str) -> Reply:
    """The steps for the problem, given what the account looks like. The phone was only typed,
    not proven to be the customer's: a lock is named with how locks end in general, never
    its reason, its end or anything else about the account's owner."""
    values = {**load_policy(), "phone": phone}
    if not account.registered:
        return reply("utter_account_register_new" if issue == "register"
                     else "utter_account_not_found", **values)
    if issue == "register":
        return reply("utter_account_already_registered_locked" if account.locked
                     else "utter_account_already_registered", **values)
    if issue in {"locked", "login", "password"} and account.locked:
        return reply("utter_account_locked", **values)
    if issue in {"locked", "login"}:
        return reply("utter_account_login_steps" if account.phone_bound
                     else "utter_account_login_wechat", **values)
    if issue == "password":
        return reply("utter_account_password" if account.phone_bound
                     else "utter_account_password_unbound", **values)
    if issue == "code_not_received":
        return reply("utter_account_code_steps" if account.phone_bound
                     else "utter_account_code_unbound", **values)
    if issue == "change_phone":
        return reply("utter_account_change_phone" if account.phone_bound
                     else "utter_account_change_phone_unbound", **values)
    return reply("utter_account_real_name", **values)
