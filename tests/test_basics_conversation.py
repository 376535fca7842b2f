"""Customers talking to the trained bot in process: the basics answer sensibly in Chinese."""
from __future__ import annotations

import pytest

HELP_HINT = "订单"  # every "what I can do" style answer names orders


@pytest.mark.parametrize("text", ["你好", "在吗", "hello 客服在不在"])
def test_greeting_offers_help(chat, text: str) -> None:
    reply = chat.say(text)
    assert "您好" in reply and HELP_HINT in reply


@pytest.mark.parametrize("text", ["转人工", "我要找真人客服", "不想跟机器人聊 给我人工"])
def test_asking_for_a_human_is_acknowledged_honestly(chat, text: str) -> None:
    reply = chat.say(text)
    assert "人工客服" in reply and "服务时间" in reply


@pytest.mark.parametrize("text", ["今天天气怎么样", "给我讲个笑话吧", "借呗怎么提额"])
def test_out_of_scope_says_what_the_bot_can_do(chat, text: str) -> None:
    reply = chat.say(text)
    assert "帮不上忙" in reply or "超出了我能回答的范围" in reply
    assert HELP_HINT in reply


def test_bot_admits_it_is_a_bot_and_says_how_to_reach_a_human(chat) -> None:
    reply = chat.say("你是机器人吗")
    assert "不是真人" in reply and "转人工" in reply


def test_thanks_and_goodbye(chat) -> None:
    thanks = chat.say("谢谢啦")
    assert "不客气" in thanks or "不用谢" in thanks
    assert "再见" in chat.say("好的拜拜")


def test_order_number_in_full_width_digits_is_understood(chat) -> None:
    parse = chat.parse("订单号１２３４５６７８９０１２")
    assert {"entity": "order_id", "value": "123456789012"}.items() <= parse["entities"][0].items()
    reply = chat.say("订单号１２３４５６７８９０１２")
    assert "123456789012" in reply and "什么问题" in reply


def test_phone_number_is_never_echoed_in_full(chat) -> None:
    reply = chat.say("我手机号13912345678")
    assert "13912345678" not in reply and "139****5678" in reply


def test_traditional_chinese_is_understood(chat) -> None:
    assert chat.parse("請問你是機器人嗎")["intent"]["name"] == "bot_challenge"


def test_empty_message_gets_a_clear_answer(chat) -> None:
    assert "空消息" in chat.say("   \u200b ")


def test_emoji_only_message_is_asked_for_words(chat) -> None:
    assert "用文字" in chat.say("👍👍")


def test_a_message_of_only_web_markup_is_asked_for_words(chat) -> None:
    # It used to get an FAQ suggestion (「电子发票怎么开」) from the leftover letters.
    for markup in ("<script>alert(1)</script>", "<img src=x onerror=alert(document.cookie)>"):
        reply = chat.say(markup)
        assert "网页代码" in reply and "<" not in reply
    assert chat.parse("<b>我的订单到哪了</b>")["intent"]["name"] == "ask_order_status"


@pytest.mark.parametrize("text", [
    "<img src=x onerror=alert(1)>我的订单呢",
    "我的订单呢<script>alert('hi')</script>",
])
def test_words_beside_markup_are_read_as_if_the_markup_were_not_there(chat, text) -> None:
    # The tag's letters used to drown a short question: 「…>我的订单呢」 was not understood.
    parse = chat.parse(text)
    assert parse["intent"]["name"] == "ask_order_status" and parse["intent"]["confidence"] > 0.6
    assert "订单号" in chat.say(text)


def test_huge_message_is_capped_and_explained(chat) -> None:
    parse = chat.parse("我的订单" * 5000)
    assert parse["truncated_to"] == 500 and parse["original_length"] == 20000
    reply = chat.say("我的订单" * 5000)
    assert "有点长" in reply and "500" in reply


def test_gibberish_twice_in_a_row_offers_a_human(chat) -> None:
    first = chat.say("qwpoeiruty zmxncbv")
    second = chat.say("lkjhg poiuy")
    assert "换个说法" in first or "没看懂" in first
    assert "转人工" in second


def test_pinyin_typed_with_the_input_method_off_is_understood(chat) -> None:
    assert chat.parse("wo yao kai fapiao")["intent"]["name"] == "request_invoice"
    reply = chat.say("kuaidi dao na le")
    assert "订单号" in reply and "没看懂" not in reply
