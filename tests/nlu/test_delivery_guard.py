"""A parcel that shows delivered but never arrived, or whose tracking has not moved for days,
is a delivery problem; asking whether it was delivered, or where it is, stays an order-status
question. Sentences here are written for the tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlu.delivery_guard import DeliveryProblemGuard, DeliveryProblemRules


@pytest.fixture(scope="module")
def rules() -> DeliveryProblemRules:
    return DeliveryProblemRules.load()


@pytest.mark.parametrize("text", [
    "订单都完成了 我的耳机到哪了",
    "物流写着已签收 可我家门口什么都没有",
    "怎么就交易成功了 东西我还没拿到",
    "显示妥投 包裹哪去了",
    "快递显示已送达 我一直在家 根本没人送",
])
def test_delivered_but_missing_is_recognised(rules: DeliveryProblemRules, text: str) -> None:
    assert rules.problem(text) == "delivered_not_received"


@pytest.mark.parametrize("text", [
    "我的羽绒服3天了物流一点没动 到哪了",
    "快递停在转运中心好几天了 还能到吗",
    "一个礼拜了物流都没更新 我的东西呢",
    "单号查了十二天还是没有变化",
    "物流卡在派送站两天了 什么时候送",
    "物流十一天没更新了",
    "二十一天了物流一直不动",
])
def test_stalled_for_days_is_recognised(rules: DeliveryProblemRules, text: str) -> None:
    assert rules.problem(text) == "stalled_for_days"


@pytest.mark.parametrize("text", [
    "我的快递到哪了",
    "签收了吗 到哪了",
    "帮我看下是不是已经签收了",
    "付款完成了 东西什么时候发",
    "订单已完成 发票怎么开",
    # a day is not stuck yet; an order that has not shipped is a dispatch question
    "今天一天物流都没动 明天能到吗",
    "发货第二天物流就没动了 正常吗",
    "12月3日的单子 物流没更新 到哪了",
    # a promised delivery time is not a wait
    "物流信息停在深圳 说2天内到",
    "说好3天到 物流不动 到哪了",
    "三天了还没发货 物流一直没信息",
    "显示打包中好几天了 没有物流",
    # waiting for days without saying the tracking stalled is a plain where-is-it question
    "等了五天了 到哪了",
    "",
])
def test_status_questions_are_not(rules: DeliveryProblemRules, text: str) -> None:
    assert rules.problem(text) is None


def test_only_order_status_is_overruled_and_confidences_swap(
    rules: DeliveryProblemRules,
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
    path.write_text("intents: [ask_order_status]\ntarget: report_delivery_issue\nrules:\n"
                    "  - name: seen\n    all:\n      - words: [已完成]\n"
                    "      - pattern: '没见\\S'\n    unless: [见到了吗]\n",
                    encoding="utf-8")
    guard = DeliveryProblemGuard.create({"rules_path": str(path)}, None, None, None)
    assert guard._rules.problem("已完成 东西没见到") == "seen"
    assert guard._rules.problem("已签收 东西没收到") is None
    assert guard._rules.problem("已完成 见到了吗 没见过") is None


@pytest.mark.parametrize("body", [
    "intents: [ask_order_status]\ntarget: report_delivery_issue\nrules: []\n",
    "intents: [ask_order_status]\ntarget: report_delivery_issue\n"
    "rules:\n  - name: empty\n    all:\n      - words: []\n",
    "intents: [ask_order_status]\ntarget: report_delivery_issue\n"
    "rules:\n  - name: no_groups\n",
    "rules:\n  - name: no_target\n    all:\n      - words: [已完成]\n",
])
def test_a_rule_that_would_match_everything_or_nothing_is_an_error(
    tmp_path: Path, body: str
) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ValueError):
        DeliveryProblemRules.load(path)


def test_the_guard_runs_in_the_default_pipeline(chat) -> None:
    """Through the trained model: delivered-but-missing and stalled-for-days start the
    delivery-problem journey, a plain where-is-it question stays with order status."""
    assert chat.parse("订单显示已完成 可我的东西到现在都没见到 到哪了")["intent"]["name"] == (
        "report_delivery_issue"
    )
    assert chat.parse("四天了物流信息一直没更新 包裹到哪了")["intent"]["name"] == (
        "report_delivery_issue"
    )
    assert chat.parse("我买的台灯到哪了")["intent"]["name"] == "ask_order_status"
