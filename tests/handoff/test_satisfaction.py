"""The satisfaction question in the widget around a handoff (issue 23): one question per
conversation, at its real end, however many endings there were (hand back, resolve, thanks,
结束咨询); 结束咨询 really ends the conversation, and the next one gets its own question."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.widget.conftest import handoff_event, push, widget_server  # noqa: F401 (fixtures)
from tests.widget.test_widget_browser import Widget


def test_one_satisfaction_question_per_conversation_and_end_really_ends(
        browser: Any, widget_server: str, push: Callable, artifacts: Path,  # noqa: F811
        rasa_server: str) -> None:
    widget = Widget(browser, widget_server + "/", artifacts)
    widget.open()
    widget.type_and_send("你好")
    widget.wait_for_reply(after=1)
    session = widget.session_id()
    push(session, [handoff_event("已为您转接人工客服。", "queued", position=1, eta_minutes=5)])
    push(session, [handoff_event("客服小王已接入。", "agent_joined", agent="小王")])
    push(session, [handoff_event("人工客服已为您处理完毕。", "bot_back")])
    widget.wait(lambda: widget.find_all(".scw-csat"), "the rating question")
    push(session, [handoff_event("本次人工服务已结束。", "bot_back")])
    count = len(widget.messages())
    widget.type_and_send("谢谢")
    widget.wait_for_reply(after=count + 1)
    time.sleep(0.5)
    cards = widget.find_all(".scw-csat")
    assert len(cards) == 1, [c.text for c in cards]  # hand back, resolve, thanks: one
    widget.click(".scw-end")
    widget.wait(lambda: any("本次咨询已结束" in t for t in widget.texts("system")),
                "the end notice")
    widget.wait(lambda: any("重新开始" in t for t in widget.texts("bot")), "the bot restarted")
    cards = widget.find_all(".scw-csat")
    assert len(cards) == 1, [c.text for c in cards]
    widget.screenshot("handoff-one-rating.png")
    widget.click('.scw-star[data-rating="4"]')
    widget.wait(lambda: "感谢您的评价" in widget.find(".scw-csat").text, "thanks")

    # A new conversation: its own question at its own end, the rated one stays answered.
    count = len(widget.messages())
    widget.type_and_send("你好")
    widget.wait_for_reply(after=count + 1)
    widget.click(".scw-end")
    widget.wait(lambda: len(widget.find_all(".scw-csat")) == 2, "the second conversation's")
    # The widget re-renders its messages (times, read marks): read the card when it is settled.
    widget.wait(lambda: "感谢您的评价" in widget.find_all(".scw-csat")[0].text,
                "the first conversation's rating kept")
