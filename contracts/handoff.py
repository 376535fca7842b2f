"""What the bot and the handoff service share about a handoff, beside the HTTP contract in
handoff/openapi.yaml: the reasons with the words agents read, the priorities, the payload's
size bounds, and the phrases with which a waiting customer withdraws the request.

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
