"""Messages that are only web markup are told to use words; markup around words is read."""
from __future__ import annotations

import pytest

from bot.nlu.guard import only_markup


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>",
    "<SCRIPT>alert('x')",
    "<img src=x onerror=alert(1)>",
    "<p></p><br/>",
    "<style>body{display:none}</style>",
])
def test_only_markup(text: str) -> None:
    assert only_markup(text)


@pytest.mark.parametrize("text", [
    "<b>我的订单到哪了</b>",
    "你好 <script>alert(1)</script>",
    "hello <i>world</i>",
    "价格 1<2 但是 3>2 吗",
    "a<b",
    "我的订单",
    "",
])
def test_words_with_or_without_markup_are_not(text: str) -> None:
    assert not only_markup(text)


def test_a_rejected_message_keeps_no_second_request() -> None:
    """An over-long message becomes a fallback: no part of it is offered again later."""
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.guard import InputGuard
    from bot.nlu.other_request import OTHER_REQUEST
    from bot.nlu.tokenizer import TRUNCATED_TO

    message = Message(data={"text": "查物流 另外发票怎么开" * 60, TRUNCATED_TO: 500,
                            "intent": {"name": "ask_order_status", "confidence": 0.9},
                            OTHER_REQUEST: {"text": "发票怎么开", "intent": "faq"}})
    [guarded] = InputGuard.create({}, None, None, None).process([message])
    assert guarded.get("intent")["name"] == "nlu_fallback" and not guarded.get(OTHER_REQUEST)
