"""A policy question that would start a journey gets the FAQ answer first and the journey as
an offer, over the whole stack (NLU, FaqFirstPolicy, the real action server and demo shop);
requests and running journeys are not disturbed. Sentences written for the tests."""
from __future__ import annotations

from shop_api.seed import scenario
from tests.actions.journey_helpers import owner
from tests.conftest import Chat
from tests.test_journeys_conversation import payloads, text

OFFER = "需要的话"
HOW_TO = "发票抬头写错了怎么改"


def test_a_how_to_question_gets_the_answer_then_the_offer(chat: Chat) -> None:
    assert chat.parse(HOW_TO)["intent"]["name"] == "request_invoice"
    replies = chat.send(HOW_TO)
    assert "换开发票" in replies[0]["text"]  # the FAQ entry's answer
    assert OFFER in replies[-1]["text"] and "开票或换开" in replies[-1]["text"]
    assert payloads(replies)[-1] == "/affirm"
    # the button starts the invoice journey with the question as its first message
    reply = chat.say("/affirm")
    assert "请发一下您的订单号" in reply and OFFER not in reply


def test_a_request_to_do_it_goes_straight_into_the_journey(chat: Chat) -> None:
    replies = chat.send("发票抬头写错了 帮我改一下")
    assert "换开发票" not in text(replies) and OFFER not in text(replies)
    assert "请发一下您的订单号" in text(replies)


def test_a_yes_in_words_with_the_order_number_takes_the_journey_up(chat: Chat) -> None:
    order_id = scenario("delivered_not_received")
    replies = chat.send(HOW_TO)
    assert OFFER in replies[-1]["text"]
    # no need to ask the order number again: it came with the yes
    reply = chat.say(f"好的 {order_id}")
    assert "下单时用的手机号" in reply and OFFER not in reply
    # the journey's own answer about this order's invoice
    assert f"订单 {order_id} 还没有开过发票" in chat.say(owner(order_id))


def test_no_thanks_after_the_offer_leaves_it(chat: Chat) -> None:
    chat.send(HOW_TO)
    reply = chat.say("不用了")
    assert "没关系" in reply and "订单号" not in reply


def test_a_shipping_question_offers_the_order_lookup_taken_up_with_a_yes(chat: Chat) -> None:
    replies = chat.send("发到广州一般几天能到")
    assert "2-4天" in replies[0]["text"] and "帮您查订单和物流" in replies[-1]["text"]
    assert "请发一下您的订单号" in chat.say("要")


def test_a_running_journey_is_not_interrupted(chat: Chat) -> None:
    """Inside the invoice form, the same question is part of the journey: no FAQ, no offer."""
    order_id = scenario("delivered_not_received")
    chat.say(f"订单{order_id}要开发票")
    replies = chat.send("税号写错了能重开吗")
    assert OFFER not in text(replies) and "换开发票" not in text(replies)
    assert "下单时用的手机号" in text(replies)  # the form still asks its question
