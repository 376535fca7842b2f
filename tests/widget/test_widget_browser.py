"""The widget in real headless Chromium against a real `rasa run`: what a customer does and
sees. Screenshots go to tests/artifacts/widget/."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import free_port
from tests.widget.conftest import csat_summary, handoff_event

WAIT_SECONDS = 30

MESSAGES_JS = """
const root = document.getElementById('shop-chat-root').shadowRoot;
return [...root.querySelectorAll('.scw-row')].map(row => [
  row.className.match(/scw-from-(\\w+)/)[1],
  (row.querySelector('.scw-bubble') || {}).textContent || '',
  [...row.querySelectorAll('.scw-button')].map(b => b.textContent),
]);
"""

COMPOSE_JS = """
const [input, steps] = arguments;
for (const [kind, value] of steps) {
  if (kind === 'start') input.dispatchEvent(new CompositionEvent('compositionstart', {data: ''}));
  if (kind === 'value') {
    input.value = value;
    input.dispatchEvent(new InputEvent('input', {data: value, isComposing: true}));
  }
  if (kind === 'end') input.dispatchEvent(new CompositionEvent('compositionend', {data: value}));
  if (kind === 'enter' || kind === 'enter229') {
    const event = new KeyboardEvent('keydown', {
      key: 'Enter', code: 'Enter', isComposing: value, bubbles: true, cancelable: true});
    // Safari ends the composition first, then sends the confirming Enter as keyCode 229.
    if (kind === 'enter229') Object.defineProperty(event, 'keyCode', {get: () => 229});
    input.dispatchEvent(event);
  }
}
"""


class Widget:
    """The chat widget on the demo shop page, seen through its shadow root."""

    def __init__(self, driver: Any, url: str, shots: Path) -> None:
        self.driver, self.shots = driver, shots
        driver.get(url)
        self.wait(lambda: self.driver.execute_script("return !!window.ShopChat"), "no widget")

    def wait(self, condition: Callable[[], Any], what: str) -> Any:
        def check(_: Any) -> Any:
            try:
                return condition()
            except StaleElementReferenceException:
                return False

        return WebDriverWait(self.driver, WAIT_SECONDS).until(check, f"waited for: {what}")

    def find(self, css: str) -> Any:
        return self.driver.find_element(By.ID, "shop-chat-root").shadow_root.find_element(
            By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[Any]:
        return self.driver.find_element(By.ID, "shop-chat-root").shadow_root.find_elements(
            By.CSS_SELECTOR, css)

    def open(self) -> None:
        self.find(".scw-launcher").click()
        self.wait(lambda: self.find(".scw-panel").is_displayed(), "the chat panel")
        self.wait(lambda: self.find(".scw-panel").get_attribute("data-connection") == "online",
                  "connected")

    def click(self, css: str, text: str | None = None) -> None:
        """Click the first element matching `css` (and `text`), again if the list re-rendered."""
        def attempt() -> bool:
            matches = [e for e in self.find_all(css) if text is None or e.text == text]
            if not matches:
                return False
            matches[0].click()
            return True

        self.wait(attempt, f"clicking {css} {text or ''}")

    def messages(self) -> list[tuple[str, str, list[str]]]:
        return [tuple(m) for m in self.driver.execute_script(MESSAGES_JS)]

    def texts(self, sender: str) -> list[str]:
        return [text for who, text, _ in self.messages() if who == sender]

    def type_and_send(self, text: str) -> None:
        box = self.find(".scw-input")
        box.send_keys(text)
        box.send_keys(Keys.ENTER)

    def wait_for_reply(self, after: int) -> tuple[str, str, list[str]]:
        """The first bot message after the first `after` messages."""
        self.wait(lambda: any(m[0] != "customer" for m in self.messages()[after:]), "a reply")
        return next(m for m in self.messages()[after:] if m[0] != "customer")

    def status(self) -> str:
        bar = self.find(".scw-status")
        return bar.text if bar.is_displayed() else ""

    def session_id(self) -> str:
        return self.driver.execute_script("return ShopChat.sessionId()")

    def screenshot(self, name: str) -> Path:
        path = self.shots / name
        self.driver.save_screenshot(str(path))
        print(f"screenshot: {path}")
        return path


def test_chinese_chat_with_ime_buttons_reload_and_rating(
    browser: Any, widget_server: str, artifacts: Path
) -> None:
    widget = Widget(browser, widget_server + "/", artifacts)
    widget.open()
    box = widget.find(".scw-input")

    # Enter that picks a pinyin candidate must not send the half-typed text.
    browser.execute_script(COMPOSE_JS, box, [["start", ""], ["value", "wodekuaidi"],
                                             ["enter", True], ["enter", False]])
    assert widget.texts("customer") == []
    assert box.get_attribute("value") == "wodekuaidi"
    browser.execute_script(COMPOSE_JS, box, [["value", "我的快递到哪了"],
                                             ["end", "我的快递到哪了"], ["enter229", False]])
    assert widget.texts("customer") == []
    browser.execute_script(COMPOSE_JS, box, [["enter", False]])
    widget.wait(lambda: widget.texts("customer") == ["我的快递到哪了"], "the question sent")
    assert box.get_attribute("value") == ""
    _, answer, _ = widget.wait_for_reply(after=1)
    assert "订单" in answer

    # The phone instead of an order number: the customer's orders come back as buttons.
    count = len(widget.messages())
    widget.type_and_send("13812345678")
    widget.wait(lambda: any(m[2] for m in widget.messages()[count + 1:]), "order buttons")
    buttons = next(m[2] for m in widget.messages()[count + 1:] if m[2])
    assert len(buttons) >= 2
    widget.screenshot("desktop-answer-with-buttons.png")

    # A quick reply sends its payload and shows its title as the customer's words.
    count = len(widget.messages())
    widget.click(".scw-button", buttons[0])
    widget.wait(lambda: widget.texts("customer")[-1:] == [buttons[0]], "the button's title")
    widget.wait_for_reply(after=count + 1)
    before_reload = widget.messages()
    session = widget.session_id()

    # Reload: same session, same conversation, the panel still open.
    browser.refresh()
    widget.wait(lambda: widget.messages() == before_reload, "the conversation after reload")
    assert widget.session_id() == session
    widget.wait(lambda: [b.is_enabled() for b in widget.find_all(".scw-button")
                         if b.text == buttons[1]] == [False], "answered quick replies spent")

    # Even with the browser's copy gone, the server's history brings it back.
    browser.execute_script(
        "const key = Object.keys(localStorage).find(k => k.startsWith('shop-chat:'));"
        "const state = JSON.parse(localStorage.getItem(key)); state.messages = [];"
        "localStorage.setItem(key, JSON.stringify(state));")
    browser.refresh()
    widget.wait(lambda: widget.messages() == before_reload, "the conversation from the server")
    assert widget.session_id() == session

    # Thanking the bot ends the conversation: a satisfaction question, then a comment.
    before = csat_summary(widget_server)
    count = len(widget.messages())
    widget.type_and_send("谢谢")
    widget.wait_for_reply(after=count + 1)
    widget.wait(lambda: widget.find(".scw-csat").is_displayed(), "the rating question")
    assert "满意吗" in widget.find(".scw-csat").text
    widget.click('.scw-star[data-rating="2"]')
    widget.wait(lambda: widget.find(".scw-csat-comment").is_displayed(), "a comment box")
    widget.find(".scw-csat-comment").send_keys("希望回答再具体一点")
    widget.click(".scw-csat-submit")
    widget.wait(lambda: "已收到您的建议" in widget.find(".scw-csat").text, "thanks for it")
    after = csat_summary(widget_server)
    assert after["by_star"]["2"] == before["by_star"]["2"] + 1
    widget.screenshot("desktop-rating.png")

    # A second tab of the shop shares the conversation; the first one shows what it sends.
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    second = Widget(browser, widget_server + "/", artifacts)
    second.wait(lambda: second.find(".scw-panel").get_attribute("data-connection") == "online",
                "the second tab connected")
    assert second.session_id() == session
    count = len(second.messages())
    second.type_and_send("还有一个问题")
    second.wait_for_reply(after=count + 1)
    browser.switch_to.window(first)
    widget.wait(lambda: widget.texts("customer")[-1:] == ["还有一个问题"], "the other tab's turn")
    widget.wait_for_reply(after=count + 1)


def test_handoff_states_agent_messages_and_a_dropped_connection(
    browser: Any, widget_server: str, artifacts: Path, push: Callable
) -> None:
    widget = Widget(browser, widget_server + "/", artifacts)
    widget.open()
    widget.type_and_send("你好")
    widget.wait_for_reply(after=1)
    session = widget.session_id()

    push(session, [handoff_event("已为您转接人工客服，请稍候。", "queued", position=2,
                                 eta_minutes=3)])
    widget.wait(lambda: "排队中" in widget.status(), "the queue state")
    assert "第 2 位" in widget.status() and "约 3 分钟" in widget.status()
    assert "已为您转接人工客服，请稍候。" in widget.texts("system")

    push(session, [handoff_event("客服小王已接入。", "agent_joined", agent="小王")])
    widget.wait(lambda: "人工客服已接入" in widget.status(), "the agent state")
    assert "小王" in widget.status()
    assert "人工客服 小王" in widget.find(".scw-subtitle").text

    hostile = '<img src=x onerror="window.hacked=1"><b>粗体</b> 详见 javascript:alert(1)'
    push(session, [handoff_event("您好，我是小王，请问订单号是多少？", "agent_message",
                                 agent="小王"),
                   handoff_event(hostile, "agent_message", agent="小王")])
    widget.wait(lambda: hostile in widget.texts("agent"), "the agent's messages")
    assert widget.texts("agent")[0] == "您好，我是小王，请问订单号是多少？"
    assert widget.find(".scw-from-agent .scw-sender").text == "人工客服 · 小王"
    assert not widget.find_all(".scw-bubble img, .scw-bubble b, .scw-bubble a")
    assert browser.execute_script("return window.hacked") is None
    widget.screenshot("desktop-agent.png")

    # The network drops; the agent writes meanwhile; the widget catches up when it is back.
    browser.execute_script("window.dispatchEvent(new Event('offline'))")
    widget.wait(lambda: widget.find(".scw-connection").is_displayed(), "the offline notice")
    push(session, [handoff_event("刚才网络不好，这条您收到了吗？", "agent_message", agent="小王")])
    assert "刚才网络不好，这条您收到了吗？" not in widget.texts("agent")
    browser.execute_script("window.dispatchEvent(new Event('online'))")
    widget.wait(lambda: "刚才网络不好，这条您收到了吗？" in widget.texts("agent"),
                "the message sent while offline")
    assert not widget.find(".scw-connection").is_displayed()

    push(session, [handoff_event("本次人工服务已结束，已为您转回智能客服。", "bot_back")])
    widget.wait(lambda: "已转回机器人" in widget.status(), "back to the bot")
    widget.wait(lambda: widget.find(".scw-csat").is_displayed(), "the rating question")
    before = csat_summary(widget_server)
    widget.click('.scw-star[data-rating="5"]')
    widget.wait(lambda: "感谢您的评价" in widget.find(".scw-csat").text, "thanks")
    assert csat_summary(widget_server)["by_star"]["5"] == before["by_star"]["5"] + 1
    widget.screenshot("desktop-handoff-rated.png")
    # All of it over WebSockets: where they open, no long polling (no CORS, no sticky sessions).
    assert browser.execute_script(POLLING_REQUESTS_JS) == 0


def test_phone_sized_screen(phone: Any, widget_server: str, artifacts: Path) -> None:
    widget = Widget(phone, widget_server + "/", artifacts)
    widget.screenshot("phone-shop.png")
    widget.open()
    width, height = phone.execute_script("return [innerWidth, innerHeight]")
    rect = widget.find(".scw-panel").rect
    assert (rect["x"], rect["y"]) == (0, 0)
    assert rect["width"] == pytest.approx(width, abs=1)
    assert rect["height"] == pytest.approx(height, abs=1)
    assert not widget.find(".scw-launcher").is_displayed()

    widget.click(".scw-welcome .scw-button")  # a suggested question
    _, answer, _ = widget.wait_for_reply(after=1)
    assert answer
    # Typed while the network is down: shown as pending with the typing indicator, sent and
    # answered once the connection is back.
    phone.execute_script("window.dispatchEvent(new Event('offline'))")
    widget.wait(lambda: widget.find(".scw-connection").is_displayed(), "the offline notice")
    hostile = "<b>我的订单</b><script>window.hacked=1</script>"
    widget.type_and_send(hostile)
    widget.wait(lambda: hostile in widget.texts("customer"), "the message shown as typed")
    last = widget.find_all(".scw-from-customer")[-1]
    assert last.find_element(By.CSS_SELECTOR, ".scw-pending").text == "发送中…"
    assert widget.find(".scw-typing").is_displayed()
    assert not widget.find_all(".scw-bubble b, .scw-bubble script")
    count = len(widget.messages())
    phone.execute_script("window.dispatchEvent(new Event('online'))")
    widget.wait_for_reply(after=count)
    assert not widget.find_all(".scw-pending")
    assert not widget.find(".scw-typing").is_displayed()
    assert phone.execute_script("return window.hacked") is None
    widget.screenshot("phone-chat.png")

    widget.find(".scw-close").click()
    assert widget.find(".scw-launcher").is_displayed()
    stored = phone.execute_script(
        "return Object.entries(localStorage).find(([k]) => k.startsWith('shop-chat:'))[1]")
    assert json.loads(stored)["sessionId"] == widget.session_id()


# Every WebSocket the page opens goes to a closed port and fails, as behind a proxy or a
# network that blocks WebSockets; the attempts are counted.
BLOCK_WEBSOCKETS_JS = """
const Real = window.WebSocket;
window.wsAttempts = 0;
window.WebSocket = class extends Real {
  constructor(url, protocols) { window.wsAttempts += 1; super('ws://127.0.0.1:%d/', protocols); }
};
"""

POLLING_REQUESTS_JS = """
return performance.getEntriesByType('resource')
  .filter(e => e.name.includes('/socket.io/') && e.name.includes('transport=polling')).length;
"""


def test_the_chat_works_over_long_polling_where_websockets_are_blocked(
    browser: Any, widget_server: str, artifacts: Path, push: Callable
) -> None:
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                            {"source": BLOCK_WEBSOCKETS_JS % free_port()})
    widget = Widget(browser, widget_server + "/", artifacts)
    widget.open()
    widget.wait(lambda: browser.execute_script("return window.wsAttempts") >= 1,
                "an attempt to upgrade to a WebSocket")
    widget.type_and_send("我的快递到哪了")
    _, answer, _ = widget.wait_for_reply(after=1)
    assert "订单" in answer
    # Pushed by the server (an agent's message) while the widget only polls.
    push(widget.session_id(), [handoff_event("您好，我是小王，正在为您查询。", "agent_message",
                                             agent="小王")])
    widget.wait(lambda: "您好，我是小王，正在为您查询。" in widget.texts("agent"),
                "the agent's message over polling")
    assert widget.find(".scw-panel").get_attribute("data-connection") == "online"
    assert browser.execute_script(POLLING_REQUESTS_JS) >= 3
    assert browser.execute_script("return typeof window.io") == "undefined"  # the shop's own
    widget.screenshot("desktop-polling-only.png")
