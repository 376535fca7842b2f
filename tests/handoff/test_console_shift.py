"""The agent console in headless Chromium, as a support team works a shift in it (issue 23):
Chinese labels instead of the bot's internal names, a layout that holds at desktop and phone
widths, a login that survives a new tab and ends everywhere on logout, and customer messages
pushed live (server-sent events) that keep coming after the service restarts.
Screenshots go to tests/artifacts/handoff/."""
from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bot.core.handoff import Reason, build_payload
from tests.handoff.conftest import EventStream, Service, console_login
from tests.handoff.test_bot_handoff import conversation

INTERNAL = ("inform", "nlu_fallback", "ask_refund_status", "request_human", "置信度",
            "order_id", "payment_method", "explicit_request", "high_risk")

# Every element whose own text wraps onto a second line although it is short (a badge, a
# waiting time, a percentage, a button): [text, number of line boxes].
WRAPPED_JS = """
const out = [];
for (const node of document.querySelectorAll('#desk-view *')) {
  if (!node.offsetParent || node.children.length) continue;
  const text = node.textContent.trim();
  if (!text || text.length > 12) continue;
  const range = document.createRange();
  range.selectNodeContents(node);
  const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
  if (tops.size > 1) out.push([text, tops.size]);
}
return out;
"""
BUTTON_TOPS_JS = """
return ['claim', 'handback', 'resolve'].map(id => {
  const r = document.getElementById(id).getBoundingClientRect();
  return [Math.round(r.top), Math.round(r.height)];
});
"""


def wait(driver: Any, check: Any, timeout: float = 20) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: check(d))


def transcript_texts(driver: Any) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#transcript .msg .text")]


def queued_from_the_bot(service: Service, reason: Reason = Reason.HIGH_RISK,
                        priority: str = "urgent") -> dict[str, Any]:
    """A handoff made by the bot's own payload code (summary, slots, intents)."""
    tracker = conversation(f"shift-{uuid.uuid4().hex[:6]}", last="再不处理我就去12315投诉",
                           last_intent="complaint", emotion=("angry", 0.93))
    body = build_payload(tracker, reason, priority)
    created = service.post("/api/v1/handoffs", body,
                           headers={**service.bot, "Idempotency-Key": tracker.sender_id})
    assert created.status_code == 201, created.text
    return created.json()


def click_queue_item(driver: Any, handoff_id: str) -> None:
    """Click a conversation in the queue (again if a push re-rendered the list meanwhile)."""
    def attempt(d: Any) -> bool:
        try:
            d.find_element(By.CSS_SELECTOR, f'.queue-item[data-id="{handoff_id}"]').click()
            return d.execute_script("return state.selected") == handoff_id
        except (NoSuchElementException, StaleElementReferenceException):
            return False
    wait(driver, attempt)


def open_in_console(driver: Any, service: Service, handoff: dict[str, Any], user: str) -> None:
    console_login(driver, service.url, user)
    click_queue_item(driver, handoff["id"])
    wait(driver, lambda d: len(transcript_texts(d)) >= 3)


def test_the_console_shows_chinese_labels_and_keeps_its_layout(
        browser: Any, phone: Any, handoff_api: tuple[Service, EventStream],
        artifacts: Path) -> None:
    service, stream = handoff_api
    service.agent("shift-layout", "小林")
    handoff = queued_from_the_bot(service)
    stream.user(handoff["conversation_id"], "听不懂吗", intent="nlu_fallback")
    for driver, name in ((browser, "desktop"), (phone, "phone")):
        open_in_console(driver, service, handoff, "shift-layout")
        wait(driver, lambda d: "听不懂吗" in transcript_texts(d))
        time.sleep(0.3)
        driver.save_screenshot(str(artifacts / f"console-labels-{name}.png"))
        page = driver.find_element(By.TAG_NAME, "body").text
        shown = [word for word in INTERNAL if word in page]
        assert not shown, (name, shown)
        assert "订单号" in driver.find_element(By.ID, "d-slots").text
        assert driver.execute_script(WRAPPED_JS) == [], name
        tops = driver.execute_script(BUTTON_TOPS_JS)
        assert len({top for top, _ in tops}) == 1, (name, tops)  # one row, no reflow
        assert all(height < 44 for _, height in tops), (name, tops)  # each on one line


def test_the_login_survives_a_new_tab_and_logout_ends_it_everywhere(
        browser: Any, handoff_api: tuple[Service, EventStream], artifacts: Path) -> None:
    service, _ = handoff_api
    service.agent("shift-tabs", "小唐")
    console_login(browser, service.url, "shift-tabs")
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(f"{service.url}/console/")
    wait(browser, lambda d: d.find_element(By.ID, "desk-view").is_displayed()
         or d.find_element(By.ID, "login-view").is_displayed())
    assert browser.find_element(By.ID, "desk-view").is_displayed(), "the new tab logged out"
    assert "小唐" in browser.find_element(By.ID, "me-name").text
    # The token is never readable by scripts (an HttpOnly cookie).
    assert "handoff" not in browser.execute_script("return document.cookie")
    browser.find_element(By.ID, "logout").click()
    wait(browser, lambda d: d.find_element(By.ID, "login-view").is_displayed())
    browser.switch_to.window(first)
    wait(browser, lambda d: d.find_element(By.ID, "login-view").is_displayed(), timeout=10)
    browser.get(f"{service.url}/console/")
    wait(browser, lambda d: d.find_element(By.ID, "login-view").is_displayed())
    browser.save_screenshot(str(artifacts / "console-logged-out-everywhere.png"))


def test_customer_messages_are_pushed_live_and_the_push_survives_a_restart(
        browser: Any, own_handoff_service: tuple[Service, EventStream],
        artifacts: Path) -> None:
    service, stream = own_handoff_service
    service.agent("shift-live", "小李")
    handoff = queued_from_the_bot(service, Reason.EXPLICIT_REQUEST, "normal")
    open_in_console(browser, service, handoff, "shift-live")
    wait(browser, lambda d: "实时" in d.find_element(By.ID, "online").text)
    browser.execute_script("window.__sameTab = true;")
    delays = []
    for text in ("第一条消息", "第二条消息", "第三条消息", "第四条消息", "第五条消息"):
        time.sleep(0.5)
        sent = time.monotonic()
        stream.user(handoff["conversation_id"], text)
        wait(browser, lambda d, t=text: t in transcript_texts(d), timeout=10)
        delays.append(time.monotonic() - sent)
    # Pushed, not polled: well under a second (the median, so that one slow moment of a
    # shared test machine does not decide).
    assert sorted(delays)[2] < 1.0, delays

    # The service restarts: the console reconnects by itself and the messages keep coming.
    service.stop()
    wait(browser, lambda d: "实时" not in d.find_element(By.ID, "online").text, timeout=15)
    service.start()
    stream.user(handoff["conversation_id"], "重启以后的消息")
    wait(browser, lambda d: "重启以后的消息" in transcript_texts(d), timeout=15)
    wait(browser, lambda d: "实时" in d.find_element(By.ID, "online").text, timeout=15)
    assert browser.execute_script("return window.__sameTab") is True  # no reload
    browser.save_screenshot(str(artifacts / "console-live-after-restart.png"))
    # A new handoff appears in the queue without reloading either.
    other = queued_from_the_bot(service, Reason.COMPLAINT, "high")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR,
                                            f'.queue-item[data-id="{other["id"]}"]'), timeout=5)
