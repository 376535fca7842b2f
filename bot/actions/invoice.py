"""E-invoices: show the invoice of an order, request one (personal, or a company with its tax
number), or change its title or tax number (re-issued once, after an explicit yes; the change
is registered below)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.clients.shop_api import Invoice, Order, ShopApiError, ShopApiUnavailable
from bot.core.answers import ChoiceQuestion, choice_from_message, free_text
from bot.core.changes import PendingChange, ask_confirmation, idempotency_key
from bot.core.clock import china_today
from bot.core.confirmation import confirms
from bot.core.lookup import backend_down, failed_attempt
from bot.core.ownership import BLOCKER_SLOT, JourneyAction, JourneyForm
from bot.core.replies import Reply, reply
from bot.core.shop import STATE_NAMES, items_summary, shop_client
from bot.faq import load_policy

ACTIONS = {"issue": "开电子发票", "change": "改抬头或税号"}
ACTION_KEYWORDS = {
    "change": ("抬头", "税号", "换开", "重开", "改发票", "修改发票", "开错", "写错", "重新开"),
}
TITLE_TYPES = {"personal": "个人", "company": "单位/公司"}
TITLE_TYPE_KEYWORDS = {
    "company": ("公司", "单位", "企业", "报销", "税号", "有限", "集团", "工作室"),
    "personal": ("个人", "自己", "私人"),
}
INVOICE_STATES = {"paid", "shipped", "out_for_delivery", "delivered"}
# 统一社会信用代码 (GB 32100-2015): 18 characters of this alphabet, the last a check character.
TAX_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
TAX_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
TITLE_PREFIX = re.compile(r"^(?:发票抬头|抬头|公司名称|名称)\s*[是为:：]?\s*")
ORGANISATION = re.compile(r"[\u4e00-\u9fa5].*(?:公司|集团|厂|商行|店|中心|研究院|研究所|学校|"
                          r"学院|大学|医院|工作室|事务所|银行|协会|合作社|门市部|经营部)$")
PERSON_NAME = re.compile(r"^(?:[\u4e00-\u9fa5]{2,5}|个人)$")
TAX_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{15,20}(?![0-9A-Za-z])")


def is_tax_number(code: str) -> bool:
    """Whether `code` is a 统一社会信用代码 with the right check character."""
    if len(code) != 18 or any(char not in TAX_ALPHABET for char in code):
        return False
    total = sum(TAX_ALPHABET.index(char) * weight for char, weight in zip(code, TAX_WEIGHTS))
    return TAX_ALPHABET[(31 - total % 31) % 31] == code[-1]


def invoice_blocker(order: Order, invoice: Invoice | None, action: str) -> str | None:
    """Why this invoice request cannot be done for the order (None when it can)."""
    if action == "change":
        if invoice is None:
            return "no_invoice"
        if invoice.status == "issued" and invoice.reissue_count >= load_policy()[
                "invoice_reissue_limit"]:
            return "reissue_limit"
        return None
    if invoice is not None:
        return None  # the answer shows the invoice there is
    if order.state not in INVOICE_STATES:
        return order.state
    deadline = load_policy()["invoice_request_deadline_days"]
    if order.delivered_at and (china_today() - order.delivered_at.date()).days > deadline:
        return "expired"
    return None


class ValidateInvoiceForm(JourneyForm):
    """Order lookup, issue or change, then the title (and tax number for a company)."""

    def name(self) -> str:
        """Name used in the domain."""
        return "validate_invoice_form"

    def asks(self, slot: str, tracker: Tracker) -> bool:
        """The title once the order is known and needs one; the tax number for a company."""
        if slot in {"invoice_action", "order_id"}:
            return True
        if not tracker.get_slot("order_id"):
            return False
        if tracker.get_slot("invoice_status") in {"pending", "issued"} and \
                tracker.get_slot("invoice_action") != "change":
            return False  # the answer shows the invoice the order already has
        return slot != "tax_number" or tracker.get_slot("title_type") == "company"

    def extract_invoice_action(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """Change the title or tax number when the customer says so; otherwise issue."""
        if tracker.get_slot("invoice_action"):
            return {}
        found = choice_from_message(tracker, "invoice_action", ACTION_KEYWORDS)
        return found or {"invoice_action": "issue"}

    def validate_invoice_action(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """Issue or change."""
        return {"invoice_action": value if value in ACTIONS else "issue"}

    def validate_order_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """The order lookup, then whether the order has an invoice and what can be done."""
        result = super().validate_order_id(value, dispatcher, tracker, domain)
        order_id = result.get("order_id")
        if not order_id:
            return result
        client = shop_client()
        try:
            order = client.order(order_id)
            invoice = current_invoice(order_id)
        except ShopApiUnavailable:
            return backend_down()
        except ShopApiError:
            return failed_attempt(dispatcher, tracker, "utter_order_not_found", order_id=order_id)
        action = tracker.get_slot("invoice_action") or "issue"
        return {**result, "invoice_status": invoice.status if invoice else "none",
                BLOCKER_SLOT: invoice_blocker(order, invoice, action)}

    def extract_title_type(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """Personal or company, from a button or the customer's words."""
        return choice_from_message(tracker, "title_type", TITLE_TYPE_KEYWORDS)

    def validate_title_type(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """Personal or company."""
        return {"title_type": value if value in TITLE_TYPES else None}

    def extract_invoice_title(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """The title, when the message answers the question for it (a company's or a person's
        name counts even when the NLU took it for something else)."""
        title = TITLE_PREFIX.sub("", (tracker.latest_message.get("text") or "").strip())
        pattern = ORGANISATION if tracker.get_slot("title_type") == "company" else PERSON_NAME
        return free_text(tracker, "invoice_title", 100,
                         well_formed=lambda _: bool(pattern.search(title)))

    def validate_invoice_title(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """A name in words (a company title is its full registered name)."""
        title = TITLE_PREFIX.sub("", str(value or "")).strip()
        if len(re.findall(r"[\u4e00-\u9fa5]", title)) < 2 or TAX_CANDIDATE.search(title):
            return {"invoice_title": None,
                    **_strike(dispatcher, tracker, "utter_invoice_title_invalid")}
        return {"invoice_title": title, "lookup_attempts": 0}

    def extract_tax_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """A tax number anywhere in the message, or the answer to the question for it."""
        text = tracker.latest_message.get("text") or ""
        match = TAX_CANDIDATE.search(text.upper())
        if match and (tracker.get_slot("requested_slot") == "tax_number" or is_tax_number(
                match.group())):
            return {"tax_number": match.group()}
        return free_text(tracker, "tax_number", 40)

    def validate_tax_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """An 18-character 统一社会信用代码 whose check character is right."""
        code = re.sub(r"[\s-]", "", str(value or "")).upper()
        if not is_tax_number(code):
            return {"tax_number": None,
                    **_strike(dispatcher, tracker, "utter_tax_number_invalid")}
        return {"tax_number": code, "lookup_attempts": 0}


def current_invoice(order_id: str) -> Invoice | None:
    """The order's invoice, or None when none was requested."""
    try:
        return shop_client().invoice(order_id)
    except ShopApiError as error:
        if error.code == "invoice_not_found":
            return None
        raise


def _strike(
    dispatcher: CollectingDispatcher, tracker: Tracker, response: str
) -> dict[str, Any]:
    result = failed_attempt(dispatcher, tracker, response)
    result.pop("order_id", None)
    return result


class ActionAskTitleType(ChoiceQuestion):
    """Ask whether the invoice is for a person or a company, with buttons."""

    slot = "title_type"
    choices = TITLE_TYPES

    def name(self) -> str:
        """Name used in the domain (the form calls action_ask_<slot>)."""
        return "action_ask_title_type"


class ActionInvoice(JourneyAction):
    """Show, request or change the order's e-invoice."""

    journey_slots = ("invoice_action", "title_type", "invoice_title", "tax_number",
                     "invoice_status")

    def name(self) -> str:
        """Name used in the domain."""
        return "action_invoice"

    def answer_owned(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order_id: str
    ) -> list[dict[str, Any]]:
        """Do what was asked, or explain why it cannot be done."""
        client = shop_client()
        order = client.order(order_id)
        invoice = current_invoice(order_id)
        action = tracker.get_slot("invoice_action") or "issue"
        policy = load_policy()
        blocker = invoice_blocker(order, invoice, action)
        if blocker:
            explain_blocker(order, invoice, blocker).send(dispatcher)
            return []
        if action == "issue" and invoice is not None:
            describe_invoice(invoice, order).send(dispatcher)
            return []
        title_type, title = tracker.get_slot("title_type"), tracker.get_slot("invoice_title")
        tax = tracker.get_slot("tax_number") if title_type == "company" else None
        if title_type not in TITLE_TYPES or not title or (title_type == "company" and not tax):
            dispatcher.utter_message(response="utter_change_incomplete")
            return []
        if action == "change":  # voids an issued invoice: only after an explicit yes
            change = TitleChange(order_id, title_type, title, tax)
            return ask_confirmation(dispatcher, describe_title_change(invoice, order, change),
                                    change, yes="确认修改", no="先不改了")
        key = idempotency_key(tracker, "invoice", action, order_id, title, tax)
        try:
            invoice = client.request_invoice(order_id, title_type, title, tax,
                                             idempotency_key=key)
        except ShopApiError as error:
            if error.status != 409:
                raise
            dispatcher.utter_message(response="utter_invoice_refused", **policy)
            return []
        dispatcher.utter_message(response="utter_invoice_requested")
        describe_invoice(invoice, order).send(dispatcher)
        return []


def title_label(title_type: str, title: str, tax_number: str | None, kind: str = "") -> str:
    """An invoice title as shown in a reply: 单位/公司抬头「…」，税号 … (`kind`: 抬头 or empty)."""
    tax = f"，税号 {tax_number}" if tax_number else ""
    return f"{TITLE_TYPES.get(title_type, '')}{kind}「{title}」{tax}"


def describe_title_change(invoice: Invoice | None, order: Order, change: TitleChange) -> Reply:
    """What the new title replaces, and what happens to an invoice already issued."""
    shown = {"order_id": order.order_id, "items": items_summary(order),
             "new_title": title_label(change.title_type, change.title, change.tax_number)}
    if invoice is None:
        return reply("utter_confirm_invoice_title", **shown)
    old = title_label(invoice.title_type, invoice.title, invoice.tax_number)
    if invoice.status == "issued":
        return reply("utter_confirm_invoice_title_reissue", old_title=old,
                     invoice_reissue_limit=load_policy()["invoice_reissue_limit"], **shown)
    return reply("utter_confirm_invoice_title_replace", old_title=old, **shown)


@dataclass(frozen=True)
class TitleChange(PendingChange):
    """A new title (and tax number, for a company) of the order's invoice."""

    kind: ClassVar[str] = "invoice_title"
    title_type: str
    title: str
    tax_number: str | None = None


@confirms(TitleChange, asked_by="action_invoice")
def confirm_title_change(dispatcher: CollectingDispatcher, change: TitleChange, key: str) -> None:
    """Change the title the customer has just confirmed, and show the invoice."""
    client = shop_client()
    order_id = change.order_id
    try:
        invoice = client.change_invoice_title(order_id, change.title_type, change.title,
                                              change.tax_number, idempotency_key=key)
    except ShopApiError as error:
        if error.status != 409:
            raise
        dispatcher.utter_message(response="utter_invoice_refused", **load_policy())
        return
    dispatcher.utter_message(response="utter_invoice_reissued" if invoice.status == "issued"
                             else "utter_invoice_title_changed")
    describe_invoice(invoice, client.order(order_id)).send(dispatcher)


def describe_invoice(invoice: Invoice, order: Order) -> Reply:
    """The invoice's title, status, number and where to get it."""
    policy = load_policy()
    shown = {"order_id": order.order_id, "items": items_summary(order), "amount": invoice.amount,
             "title": title_label(invoice.title_type, invoice.title, invoice.tax_number, "抬头")}
    if invoice.status == "issued":
        remaining = policy["invoice_reissue_limit"] - invoice.reissue_count
        return reply("utter_invoice_issued" if remaining > 0 else "utter_invoice_issued_final",
                     invoice_number=invoice.invoice_number, **shown)
    return reply("utter_invoice_pending", einvoice_issue_days=policy["einvoice_issue_days"],
                 **shown)


def explain_blocker(order: Order, invoice: Invoice | None, blocker: str) -> Reply:
    """Why the invoice request cannot be done, and what is possible."""
    policy = load_policy()
    state = STATE_NAMES.get(order.state, order.state)
    if blocker == "no_invoice":
        return reply("utter_invoice_none_to_change", order_id=order.order_id)
    if blocker == "reissue_limit":
        return reply("utter_invoice_reissue_limit", order_id=order.order_id,
                     invoice_reissue_limit=policy["invoice_reissue_limit"])
    if blocker == "pending_payment":
        return reply("utter_invoice_not_paid", order_id=order.order_id)
    if blocker in {"cancelled", "refunded", "refunding"}:
        return reply("utter_invoice_order_cancelled", order_id=order.order_id, state=state)
    return reply("utter_invoice_too_late", order_id=order.order_id, state=state,
                 invoice_request_deadline_days=policy["invoice_request_deadline_days"])
