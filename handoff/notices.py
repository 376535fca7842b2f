"""Customer-facing handoff notices, one wording each, shared by the bot's handoff action and
the handoff service (which sends them through Rasa next to their `custom` state)."""
from __future__ import annotations

# `service_hours_note` is "（服务时间每天 9:00-22:00）" where the hours are known (the bot reads
# bot/policy.yml), empty otherwise.
QUEUED = ("已为您转接人工客服{service_hours_note}，您现在排在第 {position} 位，"
          "预计等待约 {eta_minutes} 分钟。"
          "客服接入后会直接在这里回复您，等待期间您发的消息客服都能看到。"
          "如果不需要了，发送「算了不用了」即可。")

NOTICES = {
    "queued": QUEUED,
    "queued_no_agent": "已为您转接人工客服{service_hours_note}，您现在排在第 {position} 位。"
                       "现在暂时没有客服在线，客服上线后会按顺序在这里回复您，您的请求会一直保留。"
                       "如果不需要了，发送「算了不用了」即可。",
    "agent_joined": "您好，人工客服{agent}已接入，正在查看您之前的对话，请稍候。",
    "bot_back": "人工客服已为您处理完毕，接下来由智能助手继续为您服务。"
                "还有其他问题直接发给我就好。",
    "resolved": "本次人工服务已结束，感谢您的耐心。接下来由智能助手继续为您服务，"
                "还有其他问题直接发给我就好。",
    "cancelled": "好的，已为您取消人工客服。我继续为您服务，请问还有什么可以帮您？",
}


def notice(name: str, agent: str | None = None, position: int | None = None,
           eta_minutes: int | None = None, service_hours: str = "") -> str:
    """The text of a notice, filled in."""
    note = f"（服务时间{service_hours}）" if service_hours else ""
    return NOTICES[name].format(agent=agent or "", position=position,
                                eta_minutes=eta_minutes, service_hours_note=note)
