"""High-risk words as their own handoff trigger: the rule (words, negations, benign mentions,
numbers) and the escalation policy acting on a calm message of any intent."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.high_risk import high_risk
from bot.policies.emotion_escalation import EmotionEscalationPolicy


@pytest.mark.parametrize("text", [
    "我要报警", "找律师", "打12315", "曝光你们", "起诉", "再不给我退款我就报警 找律师",
    "你们不退款我就去报警", "不退我就起诉", "别逼我发微博曝光", "我已经打了12315了",
])
def test_threats_are_high_risk(text: str) -> None:
    assert high_risk(text)


@pytest.mark.parametrize("text", [
    "我们公司律师说发票抬头要写全称",  # a benign mention
    "借呗逾期了会不会被起诉",  # the customer fears being sued: not a threat to the shop
    "信用卡被盗刷了，银行要我先报警",
    "我不会报警的，就是想快点退款",  # negated
    "没打算起诉，帮我查下订单",
    "订单573123150000到哪了",  # 12315 inside an order number
    "我的快递到哪了", "", None, "😡",
])
def test_benign_mentions_negations_and_numbers_are_not(text: str | None) -> None:
    assert not high_risk(text)


def policy() -> EmotionEscalationPolicy:
    return EmotionEscalationPolicy({"priority": 7, "thresholds_path": None}, None, None,
                                   SimpleNamespace(is_finetuning=False))


def calm_message(text: str, intent: str = "ask_order_status") -> DialogueStateTracker:
    parse = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": [],
             "emotion": {"label": "calm", "score": 0.2}}
    return DialogueStateTracker.from_events("risk", [
        ActionExecuted("action_listen"), UserUttered(text, parse["intent"], [], parse)])


def test_a_calm_high_risk_message_of_any_intent_escalates() -> None:
    # Not a complaint, not angry: only the words make it go to a human.
    assert policy()._should_escalate(calm_message("订单573262229751还没到，我已经打了12315"))
    benign = calm_message("我们公司律师说发票要写全称", "request_invoice")
    assert not policy()._should_escalate(benign)
    assert not policy()._should_escalate(calm_message("订单573262229751到哪了"))
