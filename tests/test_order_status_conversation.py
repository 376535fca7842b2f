"""A customer asks where their order is, over the whole stack: NLU, form, actions, shop API."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from shop_api.seed import scenario
from tests.conftest import (
    BIN,
    Chat,
    action_endpoint,
    free_port,
    start_process,
    stop_process,
    wait_until_up,
)


def test_order_number_in_the_question_gets_the_status_at_once(chat) -> None:
    reply = chat.say(f"帮我查下订单{scenario('shipped')}到哪了")
    assert "运输中" in reply and "预计" in reply


def test_bot_asks_for_the_order_number_then_answers(chat) -> None:
    assert "订单号" in chat.say("我的快递到哪了")
    reply = chat.say(scenario("out_for_delivery"))
    assert "派送中" in reply


def test_customer_without_order_number_picks_from_their_phones_orders(chat) -> None:
    chat.say("我的订单到哪了")
    [asked] = chat.send("不知道订单号")  # one question, not the phone prompt and the order one
    assert "手机号" in asked["text"]
    replies = chat.send("13812345678")
    buttons = [b for r in replies for b in r.get("buttons", [])]
    assert buttons, replies
    shipped = next(b for b in buttons if scenario("shipped") in b["payload"])
    assert "运输中" in chat.say(shipped["payload"])


def test_three_wrong_order_numbers_end_in_a_human_offer(chat) -> None:
    chat.say("查一下我的订单")
    assert "12位" in chat.say("订单号是12345")
    chat.say("订单号是23456")
    assert "转人工" in chat.say("订单号是34567")


def test_the_order_under_discussion_is_remembered_and_replaced(chat) -> None:
    assert "运输中" in chat.say(f"订单{scenario('shipped')}到哪了")
    assert "运输中" in chat.say("这个订单到哪了")
    assert "已签收" in chat.say(f"那另一个订单{scenario('delivered')}呢")


@pytest.fixture
def chat_with_failing_shop(model_path: Path, logs_dir: Path, tmp_path: Path) -> Iterator[tuple]:
    """A bot whose shop API can be stopped mid-conversation."""
    from rasa.core.agent import Agent

    shop_port, action_port = free_port(), free_port()
    env = {"SHOP_API_URL": f"http://127.0.0.1:{shop_port}", "SHOP_API_TOKEN": "t"}
    shop = start_process([str(BIN / "python"), "-m", "shop_api", "--port", str(shop_port),
                          "--db", str(tmp_path / "shop.db")], logs_dir / "shop2.log", env)
    actions = start_process([str(BIN / "python"), "-m", "bot.action_server",
                             "--port", str(action_port)], logs_dir / "actions2.log", env)
    loop = asyncio.new_event_loop()
    try:
        wait_until_up(f"{env['SHOP_API_URL']}/health", shop, logs_dir / "shop2.log")
        wait_until_up(f"http://127.0.0.1:{action_port}/health", actions, logs_dir / "actions2.log")
        endpoint = action_endpoint(f"http://127.0.0.1:{action_port}/webhook")
        agent = Agent.load(str(model_path), action_endpoint=endpoint)
        yield Chat(agent, loop, "shop-down"), shop
    finally:
        stop_process(actions)
        stop_process(shop)
        loop.close()


def test_shop_api_down_gets_a_specific_apology_and_a_human(chat_with_failing_shop) -> None:
    chat, shop = chat_with_failing_shop
    assert "运输中" in chat.say(f"订单{scenario('shipped')}到哪了")
    stop_process(shop)
    reply = chat.say(f"那{scenario('delivered')}这个订单呢")
    assert "订单系统" in reply and "转人工" in reply


def test_refund_of_the_order_under_discussion(chat) -> None:
    assert "已签收" in chat.say(f"查下订单{scenario('duplicate_charge_refunded')}")
    reply = chat.say("这个订单的退款呢")
    assert "重复扣款退回" in reply and "已退款" in reply


def test_refund_status_asks_for_the_order_then_answers(chat) -> None:
    assert "订单号" in chat.say("我的退款到哪了")
    assert "退款处理中" in chat.say(scenario("refund_processing_alipay"))
