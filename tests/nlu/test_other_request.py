"""Two requests in one message: the second is found, kept and offered once the first is
answered. Sentences here are written for the tests."""
from __future__ import annotations

import pytest

from bot.nlu.other_request import (
    OTHER_REQUEST,
    load_topics,
    offered_request,
    open_other_request,
    pick_other_request,
    request_parts,
)

IGNORED = frozenset({"greet", "thank", "inform", "out_of_scope", "complaint"})
REMIND = "action_remind_other_request"


@pytest.mark.parametrize("text, parts", [
    ("我的快递到哪了 另外发票怎么开", ["我的快递到哪了", "发票怎么开"]),
    ("帮我查下订单到哪了，还有退款什么时候到账", ["帮我查下订单到哪了", "退款什么时候到账"]),
    ("退款到账了吗？另外我想开个发票", ["退款到账了吗", "我想开个发票"]),
    ("发票抬头写错了，顺便问一下物流怎么一直不更新", ["发票抬头写错了", "物流怎么一直不更新"]),
    ("密码忘了登不上去 对了我的积分呢还在不在", ["密码忘了登不上去", "我的积分呢还在不在"]),
    # spaces and commas join the parts of one request as often as two: no split
    ("少了一双袜子 清单上有", ["少了一双袜子 清单上有"]),
    # (full-width punctuation is folded by the normaliser)
    ("物流咨询，您好，我的包裹到哪了", ["物流咨询,您好,我的包裹到哪了"]),
    # 对了 / 还有 inside words ("不对了", "还有问题") and 另外一件 ("the other item") are no joins
    ("收到的颜色不对了 我要换货", ["收到的颜色不对了 我要换货"]),
    ("我买的东西还有问题 我要退货", ["我买的东西还有问题 我要退货"]),
    ("另外一件什么时候发", ["另外一件什么时候发"]),
    ("尺码好像不对了，能换吗 另外发票怎么开", ["尺码好像不对了,能换吗", "发票怎么开"]),
    # strong joins need no space
    ("我的快递到哪了另外发票怎么开", ["我的快递到哪了", "发票怎么开"]),
    # 还有没有 / 还有货 is "is there still", not a join
    ("这件衣服还有没有L码的", ["这件衣服还有没有L码的"]),
    ("收到的杯子碎了 另外帮我看看还有没有同款", ["收到的杯子碎了", "帮我看看还有没有同款"]),
    # markup is dropped: a part is shown to the customer again
    ("我的快递到哪了 另外<script>alert(1)</script><b>发票</b>怎么开",
     ["我的快递到哪了", "发票 怎么开"]),
    # a part too short to be a request of its own is dropped
    ("好的 另外谢谢", []),
    ("", []),
])
def test_a_message_splits_only_at_explicit_joins(text: str, parts: list[str]) -> None:
    assert request_parts(text) == parts


def fake_classifier(labels: dict[str, tuple[str, float]]):
    return lambda parts: [labels[p] for p in parts]


TOPICS = load_topics("bot/topics.yml")


def test_the_part_in_another_topic_is_the_other_request() -> None:
    parts = ["我的快递到哪了", "发票怎么开"]
    classify = fake_classifier({"我的快递到哪了": ("ask_order_status", 0.97),
                                "发票怎么开": ("request_invoice", 0.8)})
    other = pick_other_request("request_invoice", parts, classify, TOPICS, 0.5, IGNORED)
    assert other == {"text": "我的快递到哪了", "intent": "ask_order_status", "confidence": 0.97}
    other = pick_other_request("ask_order_status", parts, classify, TOPICS, 0.5, IGNORED)
    assert other and other["text"] == "发票怎么开"


@pytest.mark.parametrize("main, labels", [
    # the same topic: one request said twice (order status and a stuck parcel differ)
    ("cancel_order", {"a": ("cancel_order", 0.9), "b": ("change_order", 0.9)}),
    # not sure enough of the part
    ("ask_order_status", {"a": ("ask_order_status", 0.9), "b": ("request_invoice", 0.4)}),
    # a thank-you or an out-of-scope remark is not a request to take up later
    ("ask_order_status", {"a": ("ask_order_status", 0.9), "b": ("thank", 0.99)}),
    ("ask_order_status", {"a": ("ask_order_status", 0.9), "b": ("out_of_scope", 0.99)}),
    # a complaint goes to a person, who reads the whole message
    ("complaint", {"a": ("complaint", 0.9), "b": ("ask_order_status", 0.9)}),
    # two FAQ questions: their topics are not known here
    ("faq", {"a": ("faq", 0.9), "b": ("faq", 0.9)}),
])
def test_no_other_request(main: str, labels: dict[str, tuple[str, float]]) -> None:
    assert pick_other_request(main, ["a", "b"], fake_classifier(labels), TOPICS, 0.5,
                              IGNORED) is None


def user(other: dict | None = None) -> dict:
    return {"event": "user", "parse_data": {OTHER_REQUEST: other} if other else {}}


def action(name: str) -> dict:
    return {"event": "action", "name": name}


def test_an_open_request_is_offered_once_and_only_for_a_while() -> None:
    other = {"text": "发票怎么开", "intent": "request_invoice", "confidence": 0.8}
    events = [action("action_listen"), user(other), action("order_status_form"), user(),
              action("action_order_status")]
    assert open_other_request(events, REMIND, 6) == other
    assert open_other_request([*events, action(REMIND)], REMIND, 6) is None
    assert open_other_request([*events, *[user()] * 5], REMIND, 6) is None
    assert open_other_request([user(), user()], REMIND, 6) is None


def test_the_reminder_waits_while_the_bot_asks_something_back() -> None:
    from bot.policies.other_request import asked_back

    buttons = {"buttons": [{"title": "申请退货", "payload": "/request_return"}]}
    answered = [user({"text": "发票怎么开"}), {"event": "bot", "text": "…", "data": buttons}]
    assert not asked_back(answered)  # an answer's next-step button asks nothing
    suggested = [user(), {"event": "bot", "data": buttons},
                 {"event": "slot", "name": "suggested_faq", "value": ["a", "b"]}]
    assert asked_back(suggested)
    rephrase = [user(), {"event": "bot", "metadata": {"utter_action": "utter_ask_rephrase"}}]
    assert asked_back(rephrase)
    # what was asked in an earlier turn does not count
    assert not asked_back([*suggested, user(), {"event": "bot", "data": {}}])


def test_the_offered_request_is_the_one_offered_right_before_the_answer() -> None:
    other = {"text": "有没有优惠券", "intent": "faq/promotion_coupon_use", "confidence": 0.7}
    offered = [action("action_listen"), user(other), action("order_status_form"),
               action("action_listen"), user(), action("action_order_status"), action(REMIND),
               action("action_listen"), user()]
    assert offered_request(offered) == other
    # the bot said something else after the offer, or the customer wrote again since
    assert offered_request([*offered[:-2], action("action_answer_faq"),
                            action("action_listen"), user()]) is None
    assert offered_request([*offered, action("action_affirm"), action("action_listen"),
                            user()]) is None
    # no offer at all
    assert offered_request([user(other), action("action_order_status"), user()]) is None


def test_a_request_taken_up_keeps_its_intent_and_the_details_of_the_answer() -> None:
    from bot.actions.other_request import request_parse

    answer = {"entities": [{"entity": "order_id", "value": "573262229751"}],
              "emotion": {"label": "calm", "score": 0.9}}
    parse = request_parse("我的快递到哪了", "ask_order_status", answer)
    assert parse["intent"]["name"] == "ask_order_status"
    assert parse["entities"] == [{"entity": "order_id", "value": "573262229751"}]
    # marked as put back, with no emotion of its own (the answer's was already counted)
    assert parse["replayed_offer"] is True and "emotion" not in parse
    # an FAQ entry is the FAQ intent plus the entry's key; numbers in the request itself win
    parse = request_parse("订单601005551087能开发票吗", "faq/invoice_how_to", answer)
    assert parse["intent"]["name"] == "faq"
    assert {e["entity"]: e["value"] for e in parse["entities"]} == {
        "faq_key": "invoice_how_to", "order_id": "601005551087"}


def test_a_request_put_back_is_not_a_customer_turn() -> None:
    from bot.emotion_tracking import customer_turns

    angry = {"label": "angry", "score": 0.9}
    events = [{"event": "user", "text": "快点！", "parse_data": {"emotion": angry}},
              {"event": "user", "text": "优惠券怎么用",
               "parse_data": {"replayed_offer": True, "intent": {"name": "faq"}}}]
    assert [turn["text"] for turn in customer_turns(events)] == ["快点！"]
