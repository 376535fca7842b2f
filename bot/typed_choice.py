"""A button's title typed instead of clicked: 「个人」 for the [个人] button.

Web and app customers often type the option they see rather than click it. The typed word
then goes through NLU like any message, and short option words read as other requests:
「个人」 as a request for a person (找个人), 「花呗」 as out of scope, 「支付宝」 as an FAQ
question, so the form's question was answered with a handoff or an FAQ entry. This module
matches a typed message against the buttons of the bot's latest message and returns the
button's payload; `bot.policies.typed_choice.TypedChoicePolicy` keeps the form running for
it, and the form's `chosen()` (bot/core/answers.py) reads the choice from the payload.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

# Punctuation and filler around a typed option: 「个人吧」, 「个人。」, 「选个人」 → 个人.
_EDGES = re.compile(r"^(?:选|就|要|是|开)?|(?:吧|的|啊|呀|哈|嗯|了)*$")
_PUNCTUATION = re.compile(r"[\s\W_]+")
_BRACKETS = re.compile(r"[（(]([^）)]*)[）)]")
# Buttons that answer a form's choice question (not order pickers, handoffs or links).
CHOICE_PAYLOAD = re.compile(r'^/inform(\{"(?:choice|payment_method)":.*\})$')


def _plain(text: str) -> str:
    text = _PUNCTUATION.sub("", unicodedata.normalize("NFKC", text or "")).lower()
    return _EDGES.sub("", text)


def title_forms(title: str) -> set[str]:
    """What a customer may type for a button title: the title, each of its 「/」 alternatives,
    and the words in and outside its brackets (「银行卡（储蓄卡）」: 银行卡, 储蓄卡)."""
    title = unicodedata.normalize("NFKC", title or "")
    forms = {title, _BRACKETS.sub("", title), *_BRACKETS.findall(title)}
    forms |= {part for form in list(forms) for part in form.split("/")}
    return {plain for form in forms if (plain := _plain(form))}


# A typed option may add a word that names the thing asked about (「公司抬头」 for
# [单位/公司]) or drop the end of a title (「微信」 for [微信支付]: at least half of it). Anything
# else around the title (「找个人」, 「不是个人」, 「不换货」) is a message of its own.
SUFFIXES = ("抬头", "发票", "票", "支付", "付款", "方式")


def _matches(typed: str, form: str) -> bool:
    if typed == form:
        return True
    if typed.startswith(form):
        return typed[len(form):] in SUFFIXES
    return len(typed) * 2 >= len(form) and form.startswith(typed)


def typed_payload(text: str, buttons: Iterable[dict[str, Any]]) -> str | None:
    """The payload of the choice button whose title the text is (or nearly is: a word naming
    the thing asked about, or the start of a title), if exactly one button matches."""
    typed = _plain(text)
    if not typed:
        return None
    choices = [b for b in buttons if CHOICE_PAYLOAD.match(str(b.get("payload") or ""))]
    exact = {str(b["payload"]) for b in choices
             if typed in title_forms(str(b.get("title") or ""))}
    if exact:
        return exact.pop() if len(exact) == 1 else None
    near = {str(b["payload"]) for b in choices
            if any(_matches(typed, form) for form in title_forms(str(b.get("title") or "")))}
    return near.pop() if len(near) == 1 else None


def payload_choice(payload: str | None, entity: str = "choice") -> str | None:
    """The choice a `/inform{"choice": ...}` payload sends."""
    match = CHOICE_PAYLOAD.match(payload or "")
    if not match:
        return None
    try:
        value = json.loads(match.group(1)).get(entity)
    except (ValueError, AttributeError):
        return None
    return str(value) if value is not None else None


def latest_bot_buttons(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The buttons of the bot's latest message before the customer's latest one (events as
    dicts, oldest first); none if the bot said nothing with buttons in between."""
    seen_user = False
    for event in reversed(list(events)):
        kind = event.get("event")
        if kind == "user":
            if seen_user:
                return []
            seen_user = True
        elif kind == "bot" and seen_user:
            buttons = (event.get("data") or {}).get("buttons") or []
            if buttons:
                return list(buttons)
    return []
