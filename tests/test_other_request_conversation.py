"""Two requests in one message, over the whole stack (NLU, policies, the real action server and
demo shop): the bot answers one and then offers the other, once. Sentences written for the
tests."""
from __future__ import annotations

from shop_api.seed import scenario
from tests.conftest import Chat
from tests.test_journeys_conversation import payloads, text

REMINDER = "您刚才还提到"


def test_faq_question_answered_then_the_order_question_offered(chat: Chat) -> None:
    parse = chat.parse("我的快递到哪了 另外发票怎么开")
    assert parse["other_request"]["text"] == "我的快递到哪了"
    replies = chat.send("我的快递到哪了 另外发票怎么开")
    assert "发票" in replies[0]["text"]
    assert f"{REMINDER}「我的快递到哪了」" in text(replies)
    assert payloads(replies) == ["我的快递到哪了"]
    # the button resends the customer's words: the order-status journey starts
    assert "订单号" in chat.say("我的快递到哪了")


def test_journey_finished_first_then_the_second_request_offered_once(chat: Chat) -> None:
    reply = chat.say("快递到哪了帮我查查物流 顺便问下有没有优惠券")
    assert "订单号" in reply and REMINDER not in reply  # not while the journey asks
    replies = chat.send(scenario("shipped"))
    assert "运输中" in replies[0]["text"]
    assert f"{REMINDER}「有没有优惠券」" in text(replies)
    assert payloads(replies) == ["有没有优惠券"]
    # offered once: the next answer does not repeat it
    assert REMINDER not in chat.say("我的快递到哪了 单号" + scenario("shipped"))


def test_a_single_request_gets_no_reminder(chat: Chat) -> None:
    assert "other_request" not in chat.parse("这件衣服还有没有L码的")
    chat.say("我的快递到哪了")
    assert REMINDER not in chat.say(scenario("shipped"))


def test_two_faq_questions_of_different_topics(chat: Chat) -> None:
    """The intent classifier sees one FAQ intent; the FAQ retriever tells the parts apart."""
    parse = chat.parse("七天无理由退货怎么算 还有积分多久过期")
    assert parse["other_request"]["text"] == "积分多久过期"
    assert parse["other_request"]["intent"].startswith("faq/promotion")
    replies = chat.send("七天无理由退货怎么算 还有积分多久过期")
    assert "无理由退货" in replies[0]["text"]
    # after the answer's own next-step buttons, the reminder with the second question
    assert f"{REMINDER}「积分多久过期」" in replies[-1]["text"]
    assert payloads(replies)[-1] == "积分多久过期"


def test_a_yes_in_words_takes_up_the_offered_request(chat: Chat) -> None:
    """On messaging apps buttons may not show: 「好的」 to the offer takes the request up."""
    replies = chat.send("优惠券怎么用 另外帮我查下快递")
    assert f"{REMINDER}「帮我查下快递」" in text(replies)
    assert "订单号" in chat.say("好的")  # the order-status journey asks for the order
    assert "运输中" in chat.say(scenario("shipped"))


def test_the_order_number_sent_after_the_offer_answers_the_offered_request(chat: Chat) -> None:
    replies = chat.send("我的快递到哪了 另外发票怎么开")
    assert f"{REMINDER}「我的快递到哪了」" in text(replies)
    reply = chat.say(scenario("shipped"))
    assert "运输中" in reply and "已记下订单号" not in reply


def test_an_faq_question_offered_after_a_journey_is_answered_on_yes(chat: Chat) -> None:
    chat.say("快递到哪了帮我查查物流 顺便问下有没有优惠券")
    assert f"{REMINDER}「有没有优惠券」" in text(chat.send(scenario("shipped")))
    reply = chat.say("要")
    assert "优惠券" in reply and REMINDER not in reply


def test_a_new_question_or_a_no_after_the_offer_does_not_take_it_up(chat: Chat) -> None:
    chat.send("优惠券怎么用 另外帮我查下快递")
    reply = chat.say("发票怎么开")
    assert "发票" in reply and "订单号" not in reply
    chat.send("优惠券怎么用 另外帮我查下快递")
    assert "订单号" not in chat.say("不用了")


def test_an_impatient_yes_gets_the_answer_and_its_mood_is_counted_once(chat: Chat) -> None:
    """The request put back is not a second customer message: its mood is not counted again."""
    replies = chat.send(f"我的快递{scenario('shipped')}怎么还没到 烦死了 另外优惠券怎么用")
    assert f"{REMINDER}「优惠券怎么用」" in text(replies)
    reply = chat.say("好的 快点")
    assert "领券中心" in reply and "优先处理" not in reply


def test_a_late_parcel_offer_is_answered_before_the_second_request_is_offered(chat: Chat) -> None:
    """One set of buttons at a time: the second request waits for the late-parcel offer."""
    chat.say("快递到哪了帮我查查物流 顺便问下有没有优惠券")
    replies = chat.send(scenario("shipped_stuck"))
    assert "登记物流异常" in payloads_titles(replies) and REMINDER not in text(replies)
    # a new question answers the offer: the second request is offered after its answer
    replies = chat.send("发票怎么开")
    assert "发票" in replies[0]["text"]
    assert f"{REMINDER}「有没有优惠券」" in text(replies)


def payloads_titles(replies: list[dict]) -> list[str]:
    return [button["title"] for reply in replies for button in reply.get("buttons") or []]
