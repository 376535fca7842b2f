"""A parcel that shows delivered but never arrived is a delivery problem; asking whether it was
delivered, or where it is, stays an order-status question. Sentences here are written for the
tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlu.delivery_guard import DeliveredNotReceivedGuard, DeliveredNotReceivedRules


@pytest.fixture(scope="module")
def rules() -> DeliveredNotReceivedRules:
    return DeliveredNotReceivedRules.load()


@pytest.mark.parametrize("text", [
    "订单都完成了 我的耳机到哪了",
    "物流写着已签收 可我家门口什么都没有",
    "怎么就交易成功了 东西我还没拿到",
    "显示妥投 包裹哪去了",
    "快递显示已送达 我一直在家 根本没人送",
])
def test_delivered_but_missing_is_recognised(rules: DeliveredNotReceivedRules, text: str) -> None:
    assert rules.delivered_but_missing(text)


@pytest.mark.parametrize("text", [
    "我的快递到哪了",
    "签收了吗 到哪了",
    "帮我看下是不是已经签收了",
    "付款完成了 东西什么时候发",
    "订单已完成 发票怎么开",
    "",
])
def test_status_questions_are_not(rules: DeliveredNotReceivedRules, text: str) -> None:
    assert not rules.delivered_but_missing(text)


def test_only_order_status_is_overruled_and_confidences_swap(
    rules: DeliveredNotReceivedRules,
) -> None:
    ranking = [
        {"name": "ask_order_status", "confidence": 0.6},
        {"name": "report_delivery_issue", "confidence": 0.3},
        {"name": "greet", "confidence": 0.1},
    ]
    text = "显示已签收 我没收到"
    intent, new_ranking = rules.overrule(ranking[0], ranking, text)
    assert intent == {"name": "report_delivery_issue", "confidence": 0.6}
    assert [(r["name"], r["confidence"]) for r in new_ranking] == [
        ("report_delivery_issue", 0.6), ("ask_order_status", 0.3), ("greet", 0.1)
    ]
    invoice = [{"name": "request_invoice", "confidence": 0.8}]
    assert rules.overrule(invoice[0], invoice, text) is None


def test_the_guard_reads_the_rules_file_named_in_its_config(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text("delivered_status: [已完成]\nnot_received: [没见到]\n"
                    "intents: [ask_order_status]\ntarget: report_delivery_issue\n",
                    encoding="utf-8")
    guard = DeliveredNotReceivedGuard.create({"rules_path": str(path)}, None, None, None)
    assert guard._rules.delivered_but_missing("已完成 东西没见到")
    assert not guard._rules.delivered_but_missing("已签收 东西没收到")
    path.write_text("delivered_status: []\nnot_received: [没见到]\n", encoding="utf-8")
    with pytest.raises(ValueError):
        DeliveredNotReceivedRules.load(path)


def test_the_guard_runs_in_the_default_pipeline(chat) -> None:
    """Through the trained model: delivered-but-missing starts the delivery-problem journey,
    a plain where-is-it question stays with order status."""
    assert chat.parse("订单显示已完成 可我的东西到现在都没见到 到哪了")["intent"]["name"] == (
        "report_delivery_issue"
    )
    assert chat.parse("我买的台灯到哪了")["intent"]["name"] == "ask_order_status"
