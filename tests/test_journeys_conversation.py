"""The customer journeys over the whole stack: NLU, forms, rules, the real action server and
the real demo shop API. Each test uses demo orders that no other test changes."""
from __future__ import annotations

from shop_api.seed import scenario
from tests.actions.journey_helpers import owner
from tests.conftest import Chat, stop_process
from tests.test_order_status_conversation import chat_with_failing_shop  # noqa: F401 (fixture)


def payloads(replies: list[dict]) -> list[str]:
    """Every button payload in the bot's replies."""
    return [b["payload"] for r in replies for b in r.get("buttons") or []]


def text(replies: list[dict]) -> str:
    """The bot's reply texts joined."""
    return "\n".join(r.get("text") or "" for r in replies)


def test_cancel_asks_for_confirmation_and_cancels_on_yes(chat: Chat) -> None:
    order_id = scenario("payment_failed_risk")
    reply = chat.say(f"订单{order_id}不想要了，帮我取消掉")
    assert "请发一下下单时用的手机号" in reply and "元" not in reply  # nothing before the proof
    replies = chat.send(owner(order_id))
    assert "确认取消这个订单吗" in text(replies) and payloads(replies) == ["/affirm", "/deny"]
    assert f"订单 {order_id} 已取消" in chat.say("确认")


def test_cancel_declined_keeps_the_order(chat: Chat) -> None:
    chat.say(f"我要取消订单 {scenario('charged_but_unpaid')}")
    replies = chat.send(f"我的手机号是{owner(scenario('charged_but_unpaid'))}")
    assert "确认取消这个订单吗" in text(replies)
    assert "保持不变" in chat.say("/deny")


def test_too_late_to_cancel_says_what_is_possible(chat: Chat) -> None:
    reply = chat.say(f"帮我取消一下订单{scenario('shipped')}")
    assert "手机号" in reply and "已经发出" not in reply
    reply = chat.say(owner(scenario("shipped")))
    assert "已经发出" in reply and "拒收" in reply and "确认取消" not in reply


def test_change_address_with_confirmation(chat: Chat) -> None:
    order_id = scenario("payment_failed_timeout")
    chat.say(f"订单{order_id}的收货地址写错了，想改一下")
    replies = chat.send(owner(order_id))
    assert "新的收货地址" in text(replies)
    replies = chat.send("福建省厦门市思明区软件园二期观日路24号")
    assert "新地址：福建省厦门市思明区软件园二期观日路24号" in text(replies)
    reply = chat.say("确认修改")  # the button's words, typed as on a text-only channel
    assert "已经改好了" in reply and "福建省厦门市思明区****" in reply and "观日路" not in reply


def test_someone_elses_phone_gets_nothing_and_three_end_with_a_human(chat: Chat) -> None:
    order_id = scenario("paid_debit_card")
    reply = chat.say(f"订单{order_id}我要退款")
    assert "下单时用的手机号" in reply
    for _ in range(2):
        reply = chat.say("13900007777")
        assert "不是用手机号 139****7777 下的" in reply and "退款" not in reply
    reply = chat.say("13900007777")
    assert "人工" in reply and "元" not in reply


def test_delivery_issue_opens_a_case_with_its_number(chat: Chat) -> None:
    chat.say(f"订单{scenario('delivered')}收到的鞋盒子被压坏了")
    replies = chat.send(owner(scenario("delivered")))
    assert "具体情况" in text(replies) or "描述" in text(replies)
    replies = chat.send("鞋盒整个塌了，左脚鞋面有一道折痕")
    assert "确认为您登记售后处理吗" in text(replies) and "售后单号" not in text(replies)
    reply = chat.say("确认")
    assert "售后单号 AS" in reply


def test_payment_failed_asks_method_and_message_then_fixes(chat: Chat) -> None:
    replies = chat.send("付款一直失败是怎么回事")
    assert '/inform{"payment_method":"alipay"}' in payloads(replies)
    replies = chat.send('/inform{"payment_method":"bank_card"}')
    assert any("choice" in p for p in payloads(replies))
    assert "开通" in chat.say("提示这张卡没有开通网上支付")


def test_charged_twice_explains_the_automatic_refund(chat: Chat) -> None:
    reply = chat.say(f"订单{scenario('duplicate_charge')}怎么扣了我两次钱")
    assert "扣了 2 次款" in reply and "自动原路退回" in reply


def test_refund_request_with_reason_and_confirmation(chat: Chat) -> None:
    chat.say(f"订单{scenario('paid_credit_card')}我想申请退款")
    replies = chat.send(owner(scenario("paid_credit_card")))
    assert "原因" in text(replies)
    replies = chat.send("/inform{\"choice\":\"changed_mind\"}")
    assert "确认申请退款吗" in text(replies)
    assert "退款单号 RF" in chat.say("/affirm")


def test_this_order_can_be_returned_uses_the_order_under_discussion(chat: Chat) -> None:
    assert "已签收" in chat.say(f"查一下订单{scenario('partial_refund')}")
    assert "下单时用的手机号" in chat.say("这个能退货吗")
    replies = chat.send(owner(scenario("partial_refund")))
    assert "7天无理由" in text(replies) and "原因" in text(replies)
    assert "上门" in chat.say("不想要了")
    replies = chat.send("/inform{\"choice\":\"door\"}")
    assert "确认提交退货退款申请吗" in text(replies) and "售后单号" not in text(replies)
    reply = chat.say("确认提交")
    assert "售后单号 AS" in reply and "上门取件" in reply


def test_invoice_for_a_company_with_tax_number_check(chat: Chat) -> None:
    chat.say(f"订单{scenario('delivered_not_received')}要开发票")
    assert "个人" in chat.say(owner(scenario("delivered_not_received")))
    chat.say("/inform{\"choice\":\"company\"}")
    chat.say("青岛海之蓝贸易有限公司")
    assert "税号不对" in chat.say("91440300MA5G2RNT43")
    reply = chat.say("91440300MA5G2RNT42")
    assert "电子发票已申请" in reply and "91440300MA5G2RNT42" in reply


def test_account_locked_gets_steps_for_its_state(chat: Chat) -> None:
    replies = chat.send("账号登录不上了")
    assert "手机号" in text(replies) and "密码" in text(replies)
    reply = chat.say(scenario("account_locked"))
    assert "目前处于锁定状态" in reply and "186****1111" in reply and "30 分钟" in reply


def test_card_number_gets_a_warning_and_is_not_echoed(chat: Chat) -> None:
    reply = chat.say("我的银行卡号6222021234567890123扣款了订单没变")
    assert "不要在聊天里发送完整的银行卡号" in reply and "6222021234567890123" not in reply


def test_shop_api_down_mid_journey(chat_with_failing_shop) -> None:  # noqa: F811
    chat, shop = chat_with_failing_shop
    chat.say(f"订单{scenario('paid_credit_card')}我要取消")
    assert "确认取消这个订单吗" in chat.say(owner(scenario("paid_credit_card")))
    stop_process(shop)  # the shop API goes down before the customer says yes
    reply = chat.say("确认")
    assert "订单系统" in reply and "人工" in reply
    reply = chat.say(f"那订单{scenario('paid_debit_card')}的发票呢")  # and for a new journey
    assert "订单系统" in reply and "人工" in reply


def test_topic_changes_mid_journey_and_the_order_under_discussion(chat: Chat) -> None:
    assert "派送中" in chat.say(f"订单{scenario('out_for_delivery')}到哪了")
    assert "下单时用的手机号" in chat.say("这个能改地址吗")  # the order under discussion
    reply = chat.say(owner(scenario("out_for_delivery")))
    assert "没办法再修改" in reply  # too late
    replies = chat.send("那另一个订单能改吗")  # another order: the customer's are listed
    other = f'/inform{{"order_id":"{scenario("paid_after_retry")}"}}'
    assert "请点选" in text(replies) and other in payloads(replies)
    replies = chat.send(other)
    assert '/inform{"choice":"phone"}' in payloads(replies)
    reply = chat.say("满多少包邮")  # an FAQ question in the middle, then the form asks again
    assert "包邮" in reply and "修改订单的什么信息" in reply
    assert "手机号" in chat.say('/inform{"choice":"phone"}')  # and back to the change
    replies = chat.send("13900001111")
    assert "139****1111" in text(replies) and "确认修改吗" in text(replies)
    assert "保持不变" in chat.say("/deny")
