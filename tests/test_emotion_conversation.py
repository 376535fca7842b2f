"""Emotion in conversation: care for upset customers, a human for angry ones, calm ones alone."""
from __future__ import annotations

ESCALATION = "优先处理"


def test_increasingly_angry_customer_is_handed_to_a_human(chat) -> None:
    replies = [
        chat.say("我上周买的东西怎么还没到"),
        chat.say("到底什么时候能到啊？？？"),
        chat.say("说了多少遍了还没到 你们到底怎么回事"),
        chat.say("垃圾平台 骗子 再不给我解决我就投诉12315"),
    ]
    assert any(ESCALATION in reply for reply in replies), replies
    assert ESCALATION not in replies[0]


def test_calm_customer_asking_the_same_questions_is_not_escalated(chat) -> None:
    replies = [
        chat.say("我上周买的东西还没到"),
        chat.say("请问大概什么时候能到"),
        chat.say("好的 那我再等等"),
        chat.say("退货的运费谁出"),
    ]
    assert all(ESCALATION not in reply for reply in replies), replies


def test_every_parse_carries_the_emotion_contract(chat) -> None:
    for text in ["你好", "你们这什么破服务！！！", "", "😡"]:
        emotion = chat.parse(text)["emotion"]
        assert emotion["label"] in {"calm", "upset", "angry"}
        assert 0.0 <= emotion["score"] <= 1.0


def test_a_complaint_is_apologised_for_and_marked_for_a_human(chat) -> None:
    reply = chat.say("你们这什么破服务 我要投诉")
    assert ESCALATION in reply and "抱歉" in reply


def test_anger_at_something_else_gets_sympathy_not_an_apology(chat) -> None:
    """The shop did not cause the traffic: no 「抱歉给您带来…体验」, but a person still comes."""
    replies = [r.get("text") or "" for r in chat.send("早上挤地铁被人踩了一脚 气死了")]
    assert "抱歉" not in replies[0] and "体验" not in replies[0]  # the first line is the mood
    assert ESCALATION in "".join(replies) and "人工客服" in "".join(replies)
    # anger at the shop: an apology first
    assert "抱歉" in chat.send("你们这什么垃圾服务 气死我了")[0]["text"]
