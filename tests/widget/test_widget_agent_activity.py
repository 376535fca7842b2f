"""What a customer sees of the agent besides messages, in real Chromium against a real
`rasa run` (issue 23): the time of every message, how far their own messages got (已发送,
已送达, 已读), and 「客服小周正在输入…」 while the agent types. The handoff service sends the
typing and read signals to the widget channel's `agent_activity` route; here the test calls
that route as the service does. Screenshots go to tests/artifacts/widget/."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import requests

from tests.widget.conftest import session_id
from tests.widget.test_widget_browser import Widget

CUSTOMER_META_JS = """
const root = document.getElementById('shop-chat-root').shadowRoot;
return [...root.querySelectorAll('.scw-from-customer .scw-meta')].map(m => m.textContent);
"""


def activity(rasa: str, body: Any, token: str | None = None, raw: bytes | None = None
             ) -> requests.Response:
    token = os.environ["RASA_AUTH_TOKEN"] if token is None else token
    return requests.post(f"{rasa}/webhooks/socketio/agent_activity", timeout=10,
                         headers={"Authorization": f"Bearer {token}",
                                  "Content-Type": "application/json"},
                         json=None if raw is not None else body, data=raw)


def test_times_marks_and_the_agent_typing(browser: Any, widget_server: str,
                                          rasa_server: str, artifacts: Path) -> None:
    widget = Widget(browser, widget_server + "/", artifacts)
    widget.open()
    widget.type_and_send("你好")
    widget.wait_for_reply(after=1)
    # The bot answered: the customer's message was delivered; each message has its time.
    widget.wait(lambda: browser.execute_script(CUSTOMER_META_JS), "the customer's marks")
    [meta] = browser.execute_script(CUSTOMER_META_JS)
    assert re.fullmatch(r"\d\d:\d\d已送达", meta), meta
    assert all(re.match(r"\d\d:\d\d", m.text) for m in widget.find_all(".scw-meta"))
    session = widget.session_id()

    assert activity(rasa_server, {"conversation_id": session, "typing": True,
                                  "agent": "小周"}).status_code == 200
    widget.wait(lambda: widget.find(".scw-typing").is_displayed(), "the typing indicator")
    assert widget.find(".scw-typing-who").text == "客服小周正在输入…"
    widget.screenshot("agent-typing.png")
    assert activity(rasa_server, {"conversation_id": session, "typing": False,
                                  "agent": "小周"}).status_code == 200
    widget.wait(lambda: not widget.find(".scw-typing").is_displayed(), "typing stopped")

    assert activity(rasa_server, {"conversation_id": session, "read": True,
                                  "agent": "小周"}).status_code == 200
    widget.wait(lambda: browser.execute_script(CUSTOMER_META_JS)[0].endswith("已读"),
                "the read mark")
    widget.screenshot("agent-read.png")
    # Another customer's widget hears nothing of it.
    assert activity(rasa_server, {"conversation_id": session_id(), "typing": True,
                                  "agent": "小周"}).status_code == 200
    browser.refresh()
    widget = Widget(browser, widget_server + "/", artifacts)
    widget.wait(lambda: browser.execute_script(CUSTOMER_META_JS), "the history")
    assert browser.execute_script(CUSTOMER_META_JS)[0].endswith("已读")  # kept on reload
    assert not widget.find(".scw-typing").is_displayed()


def test_the_activity_route_refuses_strangers_and_bad_input(rasa_server: str) -> None:
    good = {"conversation_id": session_id(), "typing": True, "agent": "小周"}
    assert activity(rasa_server, good, token="").status_code == 401
    assert activity(rasa_server, good, token="wrong-token").status_code == 401
    for bad in ({**good, "conversation_id": "../other"}, {**good, "typing": "yes"},
                {"conversation_id": good["conversation_id"]}, {**good, "agent": "x" * 41},
                {**good, "read": 1}, [good]):
        assert activity(rasa_server, bad).status_code == 400, bad
    assert activity(rasa_server, None, raw=b'{"conversation_id": ').status_code == 400
    assert activity(rasa_server, None, raw=b"{" + b" " * 2048 + b"}").status_code == 413
