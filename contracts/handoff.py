"""What the bot and the handoff service share about a handoff, beside the HTTP contract in
handoff/openapi.yaml: the reasons, fields and emotions by the words agents read, the
priorities, the payload's size bounds, and the phrases with which a waiting customer
withdraws the request.

The bot writes these into the handoff it posts; the service validates them (handoff/schema.py),
shows them in the console and counts them in the reports, so both sides use this one module.
"""
from __future__ import annotations

import re
import unicodedata

# Why the bot handed off (the payload's `reason`), with the label agents and supervisors read.
REASONS = {
    "explicit_request": "客户主动要求人工",
    "complaint": "客户投诉",
    "high_risk": "客户提到报警、律师、12315、曝光或起诉",
    "emotion_angry_message": "客户情绪激动",
    "emotion_frustration": "客户不满持续累积",
    "emotion_rising_frustration": "客户情绪持续升温",
    "repeated_fallback": "机器人连续两次没有听懂",
    "journey_failed": "同一步骤多次失败",
    "business_rule": "业务规则（大额、VIP 等）",
}
PRIORITIES = ("urgent", "high", "normal")
# Bounds of the payload: one text (a message, the summary) and an id.
MAX_TEXT = 5000
MAX_ID = 255

# The conversation's fields (slots) by the names agents read, in the bot's summary and the
# console; the bot's bookkeeping slots are never shown.
SLOT_LABELS = {
    "order_id": "订单号", "phone": "手机号", "payment_method": "支付方式",
    "order_blocker": "订单受阻原因", "pending_change": "待确认的修改", "change_field": "修改项目",
    "new_address": "新地址", "new_phone": "新手机号", "delivery_day": "送货日期",
    "delivery_window": "送货时段", "issue_type": "问题类型", "issue_detail": "问题描述",
    "payment_error": "支付报错", "refund_reason": "退款原因", "after_sales_type": "售后类型",
    "after_sales_reason": "售后原因", "pickup_method": "取件方式", "invoice_action": "发票操作",
    "invoice_status": "发票状态", "title_type": "抬头类型", "invoice_title": "发票抬头",
    "tax_number": "税号", "account_issue": "账号问题", "note": "备注",
}
HIDDEN_SLOTS = frozenset({"requested_slot", "suggested_faq", "lookup_attempts",
                          "journey_failure", "handoff_reason", "handoff_priority",
                          "session_started_metadata"})
EMOTION_LABELS = {"calm": "平静", "upset": "不满", "angry": "生气"}

# A customer who no longer wants a human while waiting: "算了不用了", "不用转人工了" ...
_CANCEL = re.compile(
    r"^(?:那|哦|噢|嗯|好吧|好的)?(?:算了|不用了|不需要了|不要了|不等了|取消|我不等了)+"
    r"(?:吧|啦|了|呀|啊|哈|谢谢|不用了|不需要了|不要了|人工|转人工|客服|人工客服)*$"
    r"|^(?:不用|不要|不需要|取消)(?:转)?(?:人工|客服|人工客服)了?$"
)
NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def is_cancel(text: str) -> bool:
    """Whether a short message withdraws the request for a human."""
    cleaned = NOT_WORD.sub("", unicodedata.normalize("NFKC", text or ""))
    return bool(cleaned) and len(cleaned) <= 12 and bool(_CANCEL.match(cleaned))
