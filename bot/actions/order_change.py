"""Change or cancel an order: only while the state allows it, always after an explicit yes, and
with what is still possible once it is too late. The four changes (cancel, address, phone,
delivery time) are registered below; action_confirm_change makes them once confirmed."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, ClassVar

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.clients.shop_api import CancelResult, Order
from bot.core.answers import ChoiceQuestion, buttons, choice_from_message, free_text, latest_intent
from bot.core.changes import PendingChange, ask_confirmation, describe_denial
from bot.core.clock import china_today
from bot.core.confirmation import confirms
from bot.core.lookup import PHONE, failed_attempt
from bot.core.ownership import JourneyAction, JourneyForm
from bot.core.refunds import METHOD_NAMES, refund_days
from bot.core.replies import Reply, reply
from bot.core.shop import STATE_NAMES, items_summary, shop_client
from contracts.masking import mask_address, mask_name, mask_phone

CHANGE_FIELDS = {
    "address": "收货地址",
    "phone": "收货人电话",
    "delivery_slot": "配送时间",
    # The bot cannot change what is in an order; it says what the customer can do instead.
    "items": "加减商品或拆单",
}
FIELD_KEYWORDS = {
    "address": ("地址", "收货地", "寄到", "送到别", "搬家"),
    "phone": ("电话", "手机", "号码", "联系方式"),
    # Before the delivery time: 「拆开分两次发 明天先发一件」 is about the items.
    "items": ("拆单", "拆开", "拆成", "分开发", "分开寄", "分两个包裹", "分两次发", "加一件",
              "再加一", "加购", "少一件", "减一件", "去掉一件", "删掉一件", "不要其中", "换颜色",
              "换个颜色", "换尺码", "换个码", "换码", "换规格", "换型号", "换款"),
    "delivery_slot": ("时间", "时段", "日期", "哪天", "预约", "改期", "晚点送", "早点送",
                      "明天", "后天", "周末", "上午", "下午", "晚上"),
}
WINDOWS = {
    "09:00-12:00": "上午 9:00-12:00",
    "12:00-18:00": "下午 12:00-18:00",
    "18:00-21:00": "晚上 18:00-21:00",
}
WINDOW_KEYWORDS = {
    "09:00-12:00": ("上午", "早上", "早晨", "9点", "九点", "09:00"),
    "12:00-18:00": ("中午", "下午", "12点", "两点", "2点", "12:00"),
    "18:00-21:00": ("晚上", "傍晚", "下班", "6点后", "六点后", "18:00"),
}
WEEKDAYS = "一二三四五六日"
SLOT_HORIZON_DAYS = 14
MUNICIPALITIES = ("北京", "上海", "天津", "重庆")
PROVINCES = (
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江",
    "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州",
    "云南", "陕西", "甘肃", "青海", "内蒙古", "广西", "西藏", "宁夏", "新疆",
)
REGION_SUFFIX = re.compile(r"^(?:壮族|回族|维吾尔|维吾尔族)?(?:自治区|省|市)")
CITY = re.compile(r"^[\u4e00-\u9fa5]{1,8}?(?:市|自治州|地区|盟)")


def day_label(day: date) -> str:
    """A delivery day as customers read it: 11月25日（周二）."""
    return f"{day:%m月%d日}（周{WEEKDAYS[day.weekday()]}）"


def parse_day(text: str, today: date) -> date | None:
    """The delivery day named in a message: 明天, 后天, 25号, 11月25日, 周六, or an ISO date."""
    if match := re.search(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(match.group())
        except ValueError:
            return None
    for word, days in (("大后天", 3), ("后天", 2), ("明天", 1), ("明日", 1)):
        if word in text:
            return today + timedelta(days=days)
    if match := re.search(r"(?:(\d{1,2})月)?(\d{1,2})[日号]", text):
        month = int(match.group(1) or today.month)
        try:
            day = date(today.year, month, int(match.group(2)))
        except ValueError:
            return None
        if day < today:  # 3号 said on the 28th is next month's (or next year's)
            day = date(today.year + (month == 12), month % 12 + 1, day.day) \
                if not match.group(1) else date(today.year + 1, month, day.day)
        return day
    if match := re.search(r"(?:周|星期|礼拜)([一二三四五六日天])", text):
        weekday = WEEKDAYS.index(match.group(1).replace("天", "日"))
        ahead = (weekday - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    return None


def parse_address(text: str) -> dict[str, str] | None:
    """Province, city and detail of a mainland address anywhere in a message, or None."""
    text = re.sub(r"\s+", "", PHONE.sub("", text or ""))
    found = min(((text.find(name), name) for name in PROVINCES if name in text), default=None)
    if found is None:
        return None
    rest = text[found[0] + len(found[1]):]
    suffix = REGION_SUFFIX.match(rest)
    rest = rest[suffix.end():] if suffix else rest
    if found[1] in MUNICIPALITIES:
        province = city = found[1] + "市"
    else:
        province = found[1] + (suffix.group() if suffix else
                               ("自治区" if found[1] in {"内蒙古", "广西", "西藏", "宁夏", "新疆"}
                                else "省"))
        city_match = CITY.match(rest)
        if not city_match:
            return None
        city, rest = city_match.group(), rest[city_match.end():]
    detail = rest.strip("，,。.：:")
    if not 4 <= len(detail) <= 100 or not re.search(r"\d|号|路|街|村|镇|区|县|楼|室", detail):
        return None
    return {"province": province, "city": city, "detail": detail}


def full_address(province: str, city: str, detail: str) -> str:
    """An address as written in China; a municipality is named once (北京市朝阳区…)."""
    return f"{province}{city if city != province else ''}{detail}"


def describe_item_change(order: Order) -> Reply:
    """What a customer who wants to add, remove or swap items, or split the parcel, can do."""
    response = "utter_item_change_unpaid" if order.state == "pending_payment" \
        else "utter_item_change_paid"
    return reply(response, order_id=order.order_id, items=items_summary(order))


# ---- cancel -------------------------------------------------------------------------------


class ValidateCancelOrderForm(JourneyForm):
    """Order lookup of the cancel journey; a state that cannot be cancelled ends the form."""

    def name(self) -> str:
        """Name used in the domain."""
        return "validate_cancel_order_form"

    def blocker(self, order: Order, tracker: Tracker) -> str | None:
        """Only orders not shipped yet can be cancelled."""
        return None if order.allows("cancel") else order.state


class ActionCancelOrder(JourneyAction):
    """Show the order and what cancelling means, and ask for a yes; or explain why not."""

    def name(self) -> str:
        """Name used in the domain."""
        return "action_cancel_order"

    def answer_owned(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order_id: str
    ) -> list[dict[str, Any]]:
        """Ask 确认取消吗 with the consequences, or say what is possible instead."""
        order = shop_client().order(order_id)
        if not order.allows("cancel"):
            describe_denial(order, "cancel").send(dispatcher)
            return []
        shown = {"order_id": order.order_id, "items": items_summary(order),
                 "amount": order.amount, "state": STATE_NAMES.get(order.state, order.state)}
        if order.paid_at:
            question = reply("utter_confirm_cancel_paid", refund_days=refund_days(
                order.payment_method), method=METHOD_NAMES.get(order.payment_method or "",
                                                               "原支付方式"), **shown)
        else:
            question = reply("utter_confirm_cancel_unpaid", **shown)
        return ask_confirmation(dispatcher, question, CancelChange(order.order_id),
                                yes="确认取消", no="不取消了")


# ---- change address, phone, delivery time -------------------------------------------------


class ValidateChangeOrderForm(JourneyForm):
    """Order lookup, what to change, and the new value, while the order has not shipped."""

    def name(self) -> str:
        """Name used in the domain."""
        return "validate_change_order_form"

    def blocker(self, order: Order, tracker: Tracker) -> str | None:
        """Address, phone and delivery time change only before shipping."""
        return None if order.allows("change_address") else order.state

    def asks(self, slot: str, tracker: Tracker) -> bool:
        """Only the new value the chosen change needs."""
        needs = {"new_address": "address", "new_phone": "phone",
                 "delivery_day": "delivery_slot", "delivery_window": "delivery_slot"}
        return slot not in needs or tracker.get_slot("change_field") == needs[slot]

    def extract_change_field(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """Address, phone or delivery time, from a button or the customer's words."""
        found = choice_from_message(tracker, "change_field", FIELD_KEYWORDS)
        text = tracker.latest_message.get("text") or ""
        if found.get("change_field") == "address" and parse_address(text):
            found["new_address"] = text  # 地址改成广东省深圳市…: the new address came with it
        elif found.get("change_field") == "phone" and (phone := PHONE.search(text)):
            found["new_phone"] = phone.group()
        elif found.get("change_field") == "delivery_slot":
            if day := parse_day(text, china_today()):
                found["delivery_day"] = day.isoformat()
            window = choice_from_message(tracker, "delivery_window", WINDOW_KEYWORDS)
            found.update(window)
        return found

    def validate_change_field(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """The three changes the shop allows, or a change of the items (explained, not made)."""
        return {"change_field": value if value in CHANGE_FIELDS else None}

    def extract_new_address(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """The message, when it answers the question for the new address."""
        return free_text(tracker, "new_address", well_formed=lambda t: bool(parse_address(t)))

    def validate_new_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """A mainland address with province, city and a detailed part."""
        if parse_address(str(value or "")) is None:
            return {"new_address": None,
                    **_strike(dispatcher, tracker, "utter_address_invalid")}
        return {"new_address": str(value), "lookup_attempts": 0}

    def extract_new_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """The message, when it answers the question for the new phone."""
        return free_text(tracker, "new_phone", 40, well_formed=lambda t: bool(PHONE.search(t)))

    def validate_new_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """An 11-digit mainland mobile number.

        The recipient's new phone is not the customer's own: the `phone` slot (whose orders
        the customer may see) keeps the value it had before this message."""
        match = PHONE.search(str(value or ""))
        if not match:
            return {"new_phone": None, **_strike(dispatcher, tracker, "utter_phone_invalid")}
        result = {"new_phone": match.group(), "lookup_attempts": 0}
        if tracker.get_slot("phone") != previous_phone(tracker):
            result["phone"] = previous_phone(tracker)
        return result

    def extract_delivery_day(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """A day from a button or the message (明天, 25号, 周六 ...)."""
        if tracker.get_slot("delivery_day") or latest_intent(tracker) in {"deny", "request_human"}:
            return {}
        text = tracker.latest_message.get("text") or ""
        picked = next((e["value"] for e in tracker.latest_message.get("entities") or []
                       if e.get("entity") == "choice"), None)
        day = parse_day(str(picked or text), china_today())
        if day is None:
            return {}
        return {"delivery_day": day.isoformat()}

    def validate_delivery_day(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """A day from tomorrow up to two weeks ahead."""
        today = china_today()
        try:
            day = date.fromisoformat(str(value))
        except ValueError:
            day = None
        if day is None or not today < day <= today + timedelta(days=SLOT_HORIZON_DAYS):
            return {"delivery_day": None,
                    **_strike(dispatcher, tracker, "utter_delivery_day_invalid",
                              days=SLOT_HORIZON_DAYS)}
        return {"delivery_day": day.isoformat(), "lookup_attempts": 0}

    def extract_delivery_window(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """Morning, afternoon or evening, from a button or the customer's words."""
        if not tracker.get_slot("change_field") == "delivery_slot":
            return {}
        return choice_from_message(tracker, "delivery_window", WINDOW_KEYWORDS)

    def validate_delivery_window(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """One of the shop's three delivery windows."""
        return {"delivery_window": value if value in WINDOWS else None}


def previous_phone(tracker: Tracker) -> str | None:
    """The customer's phone as it was before their latest message."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_user = True
        elif seen_user and event.get("event") == "slot" and event.get("name") == "phone":
            return event.get("value")
    return None


def _strike(
    dispatcher: CollectingDispatcher, tracker: Tracker, response: str, **kwargs: Any
) -> dict[str, Any]:
    """A failed answer to a journey question: explain, count, and give up after the third."""
    result = failed_attempt(dispatcher, tracker, response, **kwargs)
    result.pop("order_id", None)  # the order under discussion stays; only this answer failed
    return result


class ActionAskChangeField(ChoiceQuestion):
    """Ask what to change, with buttons."""

    slot = "change_field"
    choices = CHANGE_FIELDS

    def name(self) -> str:
        """Name used in the domain (the form calls action_ask_<slot>)."""
        return "action_ask_change_field"


class ActionAskDeliveryDay(Action):
    """Ask for the delivery day with the next days as buttons."""

    def name(self) -> str:
        """Name used in the domain (the form calls action_ask_<slot>)."""
        return "action_ask_delivery_day"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Tomorrow and the five days after as buttons; any day within two weeks is fine."""
        today = china_today()
        days = {(today + timedelta(days=n)).isoformat(): day_label(today + timedelta(days=n))
                for n in range(1, 7)}
        dispatcher.utter_message(response="utter_ask_delivery_day", buttons=buttons(days),
                                 days=SLOT_HORIZON_DAYS)
        return []


class ActionAskDeliveryWindow(ChoiceQuestion):
    """Ask for the delivery window with the three windows as buttons."""

    slot = "delivery_window"
    choices = WINDOWS

    def name(self) -> str:
        """Name used in the domain (the form calls action_ask_<slot>)."""
        return "action_ask_delivery_window"


class ActionChangeOrder(JourneyAction):
    """Show the change and ask for a yes; or explain why the order cannot change any more."""

    journey_slots = ("change_field", "new_address", "new_phone", "delivery_day",
                     "delivery_window")

    def name(self) -> str:
        """Name used in the domain."""
        return "action_change_order"

    def answer_owned(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order_id: str
    ) -> list[dict[str, Any]]:
        """Ask 确认修改吗 with the old and new value, or say what is still possible."""
        order = shop_client().order(order_id)
        field = tracker.get_slot("change_field")
        if not order.allows("change_address"):
            describe_denial(order, "change").send(dispatcher)
            return []
        if field == "items":
            describe_item_change(order).send(dispatcher, buttons=[
                {"title": "取消订单", "payload": "/cancel_order"},
                {"title": "转人工", "payload": "/request_human"},
            ])
            return []
        change = self._change(tracker, field, order_id)
        if change is None:  # the answers were lost (e.g. a typed payload): start again
            dispatcher.utter_message(response="utter_change_incomplete")
            return []
        return ask_confirmation(dispatcher, self._before_after(order, change), change,
                                yes="确认修改", no="先不改了")

    @staticmethod
    def _change(tracker: Tracker, field: str | None, order_id: str) -> PendingChange | None:
        if field == "address":
            address = parse_address(tracker.get_slot("new_address") or "")
            return AddressChange(order_id, address) if address else None
        if field == "phone":
            phone = tracker.get_slot("new_phone")
            return PhoneChange(order_id, phone) if phone else None
        day, window = tracker.get_slot("delivery_day"), tracker.get_slot("delivery_window")
        if field == "delivery_slot" and day and window in WINDOWS:
            return DeliverySlotChange(order_id, day, window)
        return None

    @staticmethod
    def _before_after(order: Order, change: PendingChange) -> Reply:
        """The question 确认修改吗 with the old and the new value."""
        address = order.address
        shown = {"order_id": order.order_id, "items": items_summary(order)}
        if isinstance(change, AddressChange):
            new = change.address
            return reply("utter_confirm_address_change",
                         old_address=mask_address(address.province, address.city, address.detail),
                         new_address=full_address(new["province"], new["city"], new["detail"]),
                         name=mask_name(address.name), phone=address.phone, **shown)
        if isinstance(change, PhoneChange):
            return reply("utter_confirm_phone_change", old_phone=address.phone,
                         new_phone=mask_phone(change.phone), **shown)
        assert isinstance(change, DeliverySlotChange)
        new_slot = f"{day_label(date.fromisoformat(change.date))} {WINDOWS[change.window]}"
        if not order.delivery_slot:
            return reply("utter_confirm_delivery_slot_booking", new_slot=new_slot, **shown)
        old = order.delivery_slot
        return reply("utter_confirm_delivery_slot_change", new_slot=new_slot, **shown,
                     old_slot=f"{old.date:%m月%d日} {WINDOWS.get(old.window, '')}")


# ---- the changes, made once the customer said yes (action_confirm_change) ----------------


@dataclass(frozen=True)
class CancelChange(PendingChange):
    """Cancel the order; what was paid goes back the way it came."""

    kind: ClassVar[str] = "cancel"


@dataclass(frozen=True)
class AddressChange(PendingChange):
    """A new delivery address (province, city, detail); recipient and phone stay."""

    kind: ClassVar[str] = "address"
    address: dict[str, str]


@dataclass(frozen=True)
class PhoneChange(PendingChange):
    """A new phone of the recipient."""

    kind: ClassVar[str] = "phone"
    phone: str


@dataclass(frozen=True)
class DeliverySlotChange(PendingChange):
    """A new delivery day (ISO date) and window (one of WINDOWS)."""

    kind: ClassVar[str] = "delivery_slot"
    date: str
    window: str


def state_changed(order: Order, change: PendingChange) -> Reply:
    """The order shipped (or was cancelled) between the question and the yes: what is left."""
    return describe_denial(order, "cancel" if isinstance(change, CancelChange) else "change")


@confirms(CancelChange, asked_by="action_cancel_order", state_changed=state_changed)
def cancel_order(dispatcher: CollectingDispatcher, change: CancelChange, key: str) -> None:
    """Cancel the order and say where the money goes."""
    result = shop_client().cancel_order(change.order_id, reason="客户通过在线客服取消",
                                        idempotency_key=key)
    describe_cancel(result).send(dispatcher)


# One function makes both kinds; mypy types the inner decorator's result as taking a PhoneChange.
@confirms(AddressChange, asked_by="action_change_order",  # type: ignore[arg-type]
          state_changed=state_changed)
@confirms(PhoneChange, asked_by="action_change_order", state_changed=state_changed)
def change_recipient(
    dispatcher: CollectingDispatcher, change: AddressChange | PhoneChange, key: str
) -> None:
    """Change the address or the recipient's phone and show the delivery details, masked."""
    body = change.address if isinstance(change, AddressChange) else {"phone": change.phone}
    order = shop_client().change_address(change.order_id, body, idempotency_key=key)
    address = order.address
    dispatcher.utter_message(
        response="utter_recipient_changed", order_id=change.order_id,
        name=mask_name(address.name), phone=mask_phone(address.phone),
        address=mask_address(address.province, address.city, address.detail))


@confirms(DeliverySlotChange, asked_by="action_change_order", state_changed=state_changed)
def change_delivery_slot(
    dispatcher: CollectingDispatcher, change: DeliverySlotChange, key: str
) -> None:
    """Book the new delivery day and window."""
    day = date.fromisoformat(change.date)
    shop_client().change_delivery_slot(change.order_id, day, change.window, idempotency_key=key)
    dispatcher.utter_message(response="utter_delivery_slot_changed", order_id=change.order_id,
                             day=day_label(day), window=WINDOWS[change.window])


def describe_cancel(result: CancelResult) -> Reply:
    """The cancellation and the refunds it opened, with their arrival dates (one line each,
    composed here: a list)."""
    if not result.refunds:
        return reply("utter_cancelled_unpaid", order_id=result.order.order_id)
    lines = []
    for refund in result.refunds:
        method = METHOD_NAMES.get(refund.method, refund.method)
        when = f"预计 {refund.expected_arrival:%m月%d日} 前到账" if refund.expected_arrival else \
            f"一般 {refund_days(refund.method)} 到账"
        lines.append(f"已付的 {refund.amount} 元会原路退回{method}，{when}。")
    return reply("utter_cancelled", order_id=result.order.order_id, refunds="\n".join(lines))
