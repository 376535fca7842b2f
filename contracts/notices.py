"""Customer-facing handoff notices, one wording each, shared by the bot's handoff action and
the handoff service (which sends them through Rasa next to their `custom` state).

The "queued" notice is chosen by one function, `queued_notice`, on both sides: the bot says
it in the customer's turn, the service files the very same text in the handoff's transcript,
so the agent reads what the customer was promised.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

# Beyond this expected wait (minutes) the customer is not shown the number but offered to
# leave a message or a time for a call-back (HANDOFF_LONG_WAIT_MINUTES).
DEFAULT_LONG_WAIT_MINUTES = 30
CANCEL_HINT = "如果不需要了，发送「算了不用了」即可。"

# `service_hours_note` is "（服务时间每天 9:00-22:00）" where the hours are known (the bot reads
# bot/policy.yml), empty otherwise.
QUEUED = ("已为您转接人工客服{service_hours_note}，您现在排在第 {position} 位，"
          "预计等待约 {eta_minutes} 分钟。"
          "客服接入后会直接在这里回复您，等待期间您发的消息客服都能看到。" + CANCEL_HINT)

NOTICES = {
    "queued": QUEUED,
    # Expected wait beyond the threshold: no number, a message or a call-back instead.
    "queued_long": "已为您转接人工客服{service_hours_note}，您现在排在第 {position} 位。"
                   "目前咨询的人比较多，等待可能超过 {long_wait} 分钟，您不用一直守着："
                   "可以直接在这里留言，写下问题和订单号，客服会按顺序处理并在这里回复您；"
                   "也可以留下方便接听的时间和手机号，客服会回电给您。"
                   "您的请求已保留，不需要重复申请。" + CANCEL_HINT,
    "queued_no_agent": "已为您登记人工客服。现在暂时没有客服在线，"
                       "客服上线后{service_hours_note}会按顺序在这里回复您，"
                       "您的请求已保留，不需要重复申请。"
                       "您可以先把问题和订单号发在这里，客服一上线就能看到。" + CANCEL_HINT,
    "queued_off_hours": "已为您登记人工客服。现在是非服务时间，人工客服的服务时间是"
                        "{service_hours}，客服上班后会按顺序在这里回复您，"
                        "您的请求已保留，不需要重复申请。"
                        "您可以先把问题和订单号发在这里。" + CANCEL_HINT,
    "agent_joined": "您好，人工客服{agent}已接入，正在查看您之前的对话，请稍候。",
    # The customer was told nobody is there (off hours, nobody online), and someone came.
    "agent_joined_early": "您好，人工客服{agent}已提前上线并接入了您的对话，"
                          "正在查看您之前的对话和留言，请稍候。",
    "bot_back": "人工客服已为您处理完毕，接下来由智能助手继续为您服务。"
                "还有其他问题直接发给我就好。",
    # Handed back while the customer's last question had no answer yet: the bot goes on.
    "bot_back_open": "人工客服已把对话转回智能助手。您刚才说的「{question}」还没有得到答复，"
                     "我来继续为您处理。",
    "resolved": "本次人工服务已结束，感谢您的耐心。接下来由智能助手继续为您服务，"
                "还有其他问题直接发给我就好。",
    "cancelled": "好的，已为您取消人工客服。我继续为您服务，请问还有什么可以帮您？",
    # Answers to the customer while queued (the bot is paused and would say nothing).
    "still_queued": "您已经在人工客服的队列里了，现在排在第 {position} 位{eta_note}，"
                    "不需要重复申请，客服接入后会直接在这里回复您。",
    "still_queued_no_agent": "您已经在人工客服的队列里了，现在排在第 {position} 位，"
                             "不需要重复申请。现在暂时没有客服在线，客服上线后会按顺序在这里回复您。",
    "message_received": "收到，您的消息客服都能看到，接入后会第一时间回复您"
                        "（您现在排在第 {position} 位）。",
    "message_received_again": "收到，已转给人工客服。",
    # An agent passed the conversation on (the console's 转接): to a group's queue, or to a
    # colleague directly.
    "transferred_group": "为了更好地解决您的问题，正在为您转接{group}客服，请稍候，"
                         "接入后会直接在这里回复您，之前的对话记录对方都能看到。",
    "transferred_agent": "您的问题已转给客服{agent}继续处理，之前的对话记录{agent}都能看到，"
                         "请稍候。",
    "abandoned": "您的转人工请求等待时间较长，已自动结束。如果还需要人工客服，随时发送"
                 "「转人工」；其他问题也可以直接问我。",
}


@dataclass(frozen=True)
class Queued:
    """The notice a queued customer gets: its name, text and the wait shown to the widget."""

    name: str
    text: str
    eta_minutes: int | None


def long_wait_minutes() -> int:
    """HANDOFF_LONG_WAIT_MINUTES (30): read by the bot and the service alike."""
    try:
        return max(1, int(os.environ.get("HANDOFF_LONG_WAIT_MINUTES")
                          or DEFAULT_LONG_WAIT_MINUTES))
    except ValueError:
        return DEFAULT_LONG_WAIT_MINUTES


def queued_notice(position: int | None, eta_minutes: int | None, agents_online: int,
                  service_hours: str = "", in_hours: bool = True,
                  long_wait: int | None = None) -> Queued:
    """What a customer just queued is told: with nobody online, when someone will reply
    (off hours said so); a long wait, a message or a call-back instead of the number;
    otherwise the place and the expected wait."""
    long_wait = long_wait or long_wait_minutes()
    position = position or 1
    if agents_online <= 0:
        name = "queued_no_agent" if in_hours else "queued_off_hours"
        return Queued(name, notice(name, position=position, service_hours=service_hours), None)
    if eta_minutes is not None and eta_minutes > long_wait:
        return Queued("queued_long", notice("queued_long", position=position,
                                            service_hours=service_hours,
                                            long_wait=long_wait), None)
    eta = eta_minutes or 1
    return Queued("queued", notice("queued", position=position, eta_minutes=eta,
                                   service_hours=service_hours), eta)


def notice(name: str, agent: str | None = None, position: int | None = None,
           eta_minutes: int | None = None, service_hours: str = "", question: str = "",
           long_wait: int | None = None, group: str = "") -> str:
    """The text of a notice, filled in."""
    note = f"（服务时间{service_hours}）" if service_hours else ""
    eta_note = f"，预计等待约 {eta_minutes} 分钟" if eta_minutes else ""
    return NOTICES[name].format(agent=agent or "", position=position,
                                eta_minutes=eta_minutes, service_hours_note=note,
                                service_hours=service_hours or "每天 9:00-22:00",
                                question=question, eta_note=eta_note,
                                long_wait=long_wait or long_wait_minutes(), group=group)
