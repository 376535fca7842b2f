"""A button's title typed instead of clicked answers the question it belongs to: the matcher
(bot/typed_choice.py) and the conversation over the whole stack. Sentences written for the
tests."""
from __future__ import annotations

import pytest

from bot.actions.invoice import TITLE_TYPES
from bot.core.answers import buttons
from bot.typed_choice import latest_bot_buttons, payload_choice, title_forms, typed_payload
from shop_api.seed import scenario
from tests.actions.journey_helpers import owner
from tests.conftest import Chat

TITLE_BUTTONS = buttons(TITLE_TYPES)  # [个人] [单位/公司]
METHOD_BUTTONS = [{"title": "微信支付", "payload": '/inform{"choice":"wechat"}'},
                  {"title": "银行卡（储蓄卡）", "payload": '/inform{"choice":"debit"}'},
                  {"title": "信用卡", "payload": '/inform{"choice":"credit"}'}]


def test_title_forms_cover_alternatives_and_brackets() -> None:
    assert {"单位", "公司"} <= title_forms("单位/公司")
    assert {"银行卡", "储蓄卡"} <= title_forms("银行卡（储蓄卡）")


@pytest.mark.parametrize("typed, choice", [
    ("个人", "personal"), ("个人。", "personal"), ("个人吧", "personal"),
    ("开个人的", "personal"), ("公司", "company"), ("单位的", "company"),
    ("公司抬头", "company"), ("个人发票", "personal"),
])
def test_typed_titles_pick_their_button(typed: str, choice: str) -> None:
    assert payload_choice(typed_payload(typed, TITLE_BUTTONS)) == choice


@pytest.mark.parametrize("typed", ["给我找个人", "找个人", "不是个人", "不开公司", "转人工",
                                   "公司名称写什么", "", "人"])
def test_other_messages_pick_none(typed: str) -> None:
    assert typed_payload(typed, TITLE_BUTTONS) is None


def test_prefixes_and_bracketed_words_and_ambiguity() -> None:
    assert payload_choice(typed_payload("微信", METHOD_BUTTONS)) == "wechat"
    assert payload_choice(typed_payload("储蓄卡", METHOD_BUTTONS)) == "debit"
    # 「卡」 is in two titles: no guess
    assert typed_payload("卡", METHOD_BUTTONS) is None
    # too little of a long title is no pick
    long = [{"title": "商品或包装破损", "payload": '/inform{"choice":"damaged"}'}]
    assert typed_payload("商品", long) is None
    assert payload_choice(typed_payload("商品或包装", long)) == "damaged"
    # buttons that are not choices (a handoff, an order picker) are never picked
    assert typed_payload("转人工", [{"title": "转人工", "payload": "/request_human"}]) is None
    picker = [{"title": "11月22日 洁柔 抽纸", "payload": '/inform{"order_id":"569006026773"}'}]
    assert typed_payload("11月22日", picker) is None


def test_only_the_bots_latest_buttons_count() -> None:
    asked = {"event": "bot", "data": {"buttons": TITLE_BUTTONS}}
    user = {"event": "user", "text": "个人"}
    assert latest_bot_buttons([asked, user]) == TITLE_BUTTONS
    # the customer already wrote something else after the question
    assert latest_bot_buttons([asked, {"event": "user"}, {"event": "bot", "data": {}}, user]) == []


@pytest.mark.parametrize("typed", ["个人", "公司抬头"])
def test_typed_title_type_continues_the_invoice(chat: Chat, typed: str) -> None:
    """「个人」 read as a request for a person (a handoff), 「公司抬头」 as an FAQ question (the
    title FAQ, then the same question again)."""
    order_id = scenario("return_window_expired")  # delivered, no invoice; no test issues one
    chat.say(f"订单{order_id}要开发票")
    assert "个人还是单位" in chat.say(owner(order_id))
    reply = chat.say(typed)
    assert "请发一下发票抬头" in reply
    assert "人工客服" not in reply and "个人还是单位" not in reply
