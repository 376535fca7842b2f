"""Questions about a credit line itself are out of scope; paying the shop with one is payment.
Sentences here are written for the tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlu.credit_guard import CreditLineRules

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rules() -> CreditLineRules:
    return CreditLineRules.load()


@pytest.mark.parametrize("text", [
    "借呗还款的时候扣了两次钱",
    "花呗这个月的账单怎么少了一笔",
    "白条额度突然降了",
    "信用卡还款日过了一天会怎样",
    "微粒贷提前还清要手续费吗",
    # A repayment is a credit line's even when the customer does not name it.
    "这个月的还款明明扣了 怎么还显示逾期",
    "卡里钱够的 为什么自动还款失败",
])
def test_a_question_about_the_credit_line_itself_is_recognised(
    rules: CreditLineRules, text: str
) -> None:
    assert rules.about_credit_line(text)


@pytest.mark.parametrize("text", [
    "花呗付不了",
    "用白条买的耳机 退款退到哪",
    "下单的时候信用卡被拒了",
    "这个能用花呗分期吗",
    "白条分6期有手续费吗",
    "分期还款的订单能提前付清吗",
    "花呗付款失败 订单还在吗",
    "我的快递到哪了",
    "",
])
def test_paying_the_shop_with_a_credit_product_is_not(rules: CreditLineRules, text: str) -> None:
    assert not rules.about_credit_line(text)


def test_only_payment_intents_are_overruled_and_confidences_swap(rules: CreditLineRules) -> None:
    ranking = [
        {"name": "payment_charged", "confidence": 0.7},
        {"name": "out_of_scope", "confidence": 0.2},
        {"name": "ask_refund_status", "confidence": 0.1},
    ]
    text = "借呗还款扣了两次"
    intent, new_ranking = rules.overrule(ranking[0], ranking, text)
    assert intent == {"name": "out_of_scope", "confidence": 0.7}
    assert [(r["name"], r["confidence"]) for r in new_ranking] == [
        ("out_of_scope", 0.7), ("payment_charged", 0.2), ("ask_refund_status", 0.1)
    ]
    refund = [{"name": "ask_refund_status", "confidence": 0.8}]
    assert rules.overrule(refund[0], refund, text) is None
    assert rules.overrule(ranking[0], ranking, "付款扣了两次") is None


def test_out_of_scope_missing_from_the_ranking_is_added(rules: CreditLineRules) -> None:
    ranking = [{"name": "ask_payment", "confidence": 0.9}]
    intent, new_ranking = rules.overrule(ranking[0], ranking, "花呗怎么提额")
    assert intent["name"] == "out_of_scope"
    assert [r["name"] for r in new_ranking] == ["out_of_scope", "ask_payment"]


def test_the_guard_runs_in_the_default_pipeline(chat) -> None:
    """Through the trained model: the credit line goes to the out-of-scope answer, a failed
    payment with the same product stays in the payment journey."""
    assert chat.parse("借呗还款的时候扣了两次钱")["intent"]["name"] == "out_of_scope"
    assert chat.parse("花呗付款失败了怎么办")["intent"]["name"] == "payment_failed"
    reply = chat.say("借呗的额度怎么提高")
    assert "帮不上忙" in reply or "超出了我能回答的范围" in reply


def test_rules_file_lists_are_not_empty(tmp_path: Path) -> None:
    empty = tmp_path / "rules.yml"
    empty.write_text("credit_products: []\nintents: [ask_payment]\n", encoding="utf-8")
    with pytest.raises(ValueError):
        CreditLineRules.load(empty)
