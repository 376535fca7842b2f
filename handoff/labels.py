"""Chinese names for what the bot records under internal names, so agents never read `inform`,
`nlu_fallback`, `order_id` or a classifier's confidence in the console.

Intents are named by what the customer wanted (`ask_refund_status` → 查询退款进度); an intent
without its own name gets its topic's name (bot/topics.yml); slots get the field's name
(`order_id` → 订单号), and the bot's bookkeeping slots are not shown at all.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from contracts.handoff import HIDDEN_SLOTS, SLOT_LABELS

TOPICS_FILE = Path(__file__).resolve().parents[1] / "bot" / "topics.yml"

TOPIC_LABELS = {
    "greeting": "问候与寒暄", "order_status": "订单与物流", "order_change": "修改/取消订单",
    "delivery_issue": "配送异常", "payment": "支付与扣款", "refund": "退款",
    "after_sales": "退换货与维修", "invoice": "发票", "account": "账号",
    "promotion": "优惠与会员", "product": "商品咨询", "complaint": "投诉", "human": "转人工",
    "out_of_scope": "与购物无关", "policy": "规则与政策", "other": "其他",
}
INTENT_LABELS = {
    "greet": "打招呼", "goodbye": "告别", "thank": "道谢", "affirm": "确认", "deny": "否定",
    "bot_challenge": "问是不是机器人", "ask_capabilities": "问能做什么",
    "request_human": "要求转人工", "out_of_scope": "与购物无关的问题", "nonsense": "无意义内容",
    "inform": "补充信息（订单号、手机号等）", "nlu_fallback": "机器人没有听懂",
    "faq": "常见问题", "ask_order_status": "查询订单/物流", "no_order_id": "没有订单号",
    "ask_refund_status": "查询退款进度", "complaint": "投诉", "cancel_order": "取消订单",
    "change_order": "修改订单", "report_delivery_issue": "配送问题",
    "payment_failed": "支付失败", "payment_charged": "扣款疑问", "request_refund": "申请退款",
    "request_return": "退换货", "request_invoice": "发票", "account_help": "账号问题",
    "ask_product": "商品咨询", "ask_promotion": "优惠活动", "ask_payment": "支付方式",
    "restart": "重新开始对话",
}
VALUE_LABELS = {True: "是", False: "否"}
# "（inform，置信度 98%）" in summaries written by an older bot.
_INTERNAL_NOTE = re.compile(r"（[A-Za-z_/]+(?:，|,)\s*置信度\s*\d+%）")


@lru_cache(maxsize=1)
def intent_topics() -> dict[str, str]:
    """intent -> topic, from bot/topics.yml (empty when the file is not there)."""
    try:
        data = yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return {intent: topic for topic, intents in (data.get("topics") or {}).items()
            for intent in intents or ()}


def topic_label(topic: str | None) -> str:
    """The topic's Chinese name ("未知" when none)."""
    if not topic:
        return "未知"
    return TOPIC_LABELS.get(topic, "其他")


def intent_label(name: str | None) -> str | None:
    """What the customer wanted, in Chinese; None when the bot recorded nothing."""
    if not name:
        return None
    if name in INTENT_LABELS:
        return INTENT_LABELS[name]
    topic = intent_topics().get(name)
    if name.startswith("faq/"):
        return "常见问题"  # the topic says which
    return topic_label(topic) if topic else "其他"


def slot_list(slots: dict[str, Any]) -> list[dict[str, str]]:
    """The details the customer gave, as [{"label", "value"}] with Chinese field names."""
    shown = []
    for name, value in (slots or {}).items():
        if name in HIDDEN_SLOTS or value in (None, "", [], {}):
            continue
        if isinstance(value, bool):
            text = VALUE_LABELS[value]
        elif isinstance(value, (list, tuple)):
            text = "、".join(str(v) for v in value)
        else:
            text = str(value)
        shown.append({"label": SLOT_LABELS.get(name, "其他信息"), "value": text})
    return shown


def clean_summary(summary: str) -> str:
    """A summary without an intent name and confidence in brackets."""
    return _INTERNAL_NOTE.sub("", summary or "")
