"""The agent console in real headless Chromium against the real bot: log in, find the
conversation in the queue, read the transcript (customer text escaped), claim, reply (Enter
while composing pinyin does not send), see the customer's answer live, hand back.
Screenshots are kept in tests/artifacts/handoff/ (HANDOFF_DOCS_SCREENSHOT=1 also refreshes
docs/img/handoff-console.png for docs/handoff.md)."""
from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from bot.channels.rest import FORWARDED
from tests.conftest import ROOT
from tests.handoff.conftest import PASSWORD, Service, wait_for
from tests.handoff.test_console_shift import click_queue_item
from tests.handoff.test_end_to_end import bot_texts, say, texts

HOSTILE = "我的订单号<img src=x onerror=alert(1)>是多少<script>alert(2)</script>"


def wait(driver: Any, check: Any, timeout: float = 20) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: check(d))


def transcript_texts(driver: Any) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#transcript .msg .text")]


def test_an_agent_takes_over_in_the_console_and_hands_back(
        browser: Any, rasa_server: str, handoff_service: Service, artifacts: Path) -> None:
    sender = f"web-{uuid.uuid4().hex[:6]}"
    handoff_service.agent("console-wang", "小王")  # creates the account
    say(rasa_server, sender, "你好")
    say(rasa_server, sender, "发票抬头开错了怎么办")
    assert "排在第" in texts(say(rasa_server, sender, "还是帮我转人工吧"))
    [handoff] = wait_for(lambda: handoff_service.handoffs_of(sender))

    # Log in (a wrong password first).
    browser.get(f"{handoff_service.url}/console/")
    browser.find_element(By.ID, "username").send_keys("console-wang")
    browser.find_element(By.ID, "password").send_keys("wrong-password")
    browser.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    wait(browser, lambda d: "不正确" in d.find_element(By.ID, "login-error").text)
    browser.find_element(By.ID, "password").clear()
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    wait(browser, lambda d: d.find_element(By.ID, "desk-view").is_displayed())
    assert "小王" in browser.find_element(By.ID, "me-name").text

    # The queue lists the conversation; opening it shows reason, summary and transcript.
    click_queue_item(browser, handoff["id"])
    wait(browser, lambda d: any("转人工" in t for t in transcript_texts(d)))
    assert any("发票" in t for t in transcript_texts(browser))
    assert browser.find_element(By.ID, "d-reason").text == "客户主动要求人工"
    assert "客户主动要求人工" in browser.find_element(By.ID, "d-summary").text
    assert browser.find_element(By.ID, "reply").get_attribute("disabled")  # not claimed yet

    browser.find_element(By.ID, "claim").click()
    wait(browser, lambda d: d.find_element(By.ID, "reply").is_enabled())
    assert "接入" in browser.find_element(By.ID, "d-status").text
    wait(browser, lambda d: any("小王" in t and "接入" in t for t in bot_texts(rasa_server,
                                                                              sender)))

    # Enter while a pinyin candidate is being chosen must not send.
    box = browser.find_element(By.ID, "reply")
    box.send_keys("nihao")
    browser.execute_script(
        "arguments[0].dispatchEvent(new CompositionEvent('compositionstart', {data: ''}));", box)
    box.send_keys(Keys.ENTER)
    browser.execute_script("arguments[0].dispatchEvent(new KeyboardEvent('keydown', "
                           "{key: 'Enter', keyCode: 229, isComposing: true, bubbles: true}));", box)
    browser.execute_script(
        "arguments[0].dispatchEvent(new CompositionEvent('compositionend', {data: '你好'}));", box)
    browser.execute_script("arguments[0].dispatchEvent(new KeyboardEvent('keydown', "
                           "{key: 'Enter', isComposing: true, bubbles: true}));", box)
    assert not [t for t in bot_texts(rasa_server, sender) if "nihao" in t]
    assert "nihao" in box.get_attribute("value")

    # A real Enter after composing sends; the reply reaches the customer's conversation.
    box.clear()
    reply = "您好，我是客服小王，发票换开我来帮您处理，麻烦发一下订单号。"
    box.send_keys(reply)
    box.send_keys(Keys.ENTER)
    wait(browser, lambda d: reply in transcript_texts(d))
    assert box.get_attribute("value") == ""
    assert reply in bot_texts(rasa_server, sender)
    assert not [t for t in bot_texts(rasa_server, sender) if "nihao" in t]

    # The customer's answer appears live (the REST customer is told it went to the agent).
    assert texts(say(rasa_server, sender, "订单号是573262229751")) == FORWARDED
    wait(browser, lambda d: "订单号是573262229751" in transcript_texts(d))
    browser.save_screenshot(str(artifacts / "console-claimed.png"))

    # Hand back: the customer is told, the bot answers again.
    browser.find_element(By.ID, "handback").click()
    wait(browser, lambda d: "已转回机器人" in d.find_element(By.ID, "d-sub").text)
    wait(browser, lambda d: any("智能助手" in t for t in transcript_texts(d)))
    assert "您好" in texts(say(rasa_server, sender, "你好"))
    browser.save_screenshot(str(artifacts / "console-handed-back.png"))
    if os.environ.get("HANDOFF_DOCS_SCREENSHOT"):
        (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
        docs = ROOT / "docs" / "img"
        shutil.copy(artifacts / "console-claimed.png", docs / "handoff-console.png")
        shutil.copy(artifacts / "console-handed-back.png", docs / "handoff-console-back.png")
    print(f"console screenshots: {artifacts}")


def test_customer_text_is_shown_as_text_never_as_html(browser: Any,
                                                      handoff_service: Service) -> None:
    conversation = f"web-{uuid.uuid4().hex[:6]}"
    turn = {"sender": "customer", "text": HOSTILE, "timestamp": time.time()}
    created = handoff_service.post(
        "/api/v1/handoffs", {"conversation_id": conversation, "reason": "complaint",
                             "priority": "high", "summary": f"客户说：{HOSTILE}",
                             "slots": {"note": HOSTILE}, "transcript": [turn]},
        headers={**handoff_service.bot, "Idempotency-Key": conversation})
    assert created.status_code == 201
    headers = handoff_service.agent("console-li", "<b>小李</b>")
    assert headers
    browser.get(f"{handoff_service.url}/console/")
    browser.find_element(By.ID, "username").send_keys("console-li")
    browser.find_element(By.ID, "password").send_keys(PASSWORD + Keys.ENTER)
    wait(browser, lambda d: d.find_element(By.ID, "desk-view").is_displayed())
    click_queue_item(browser, created.json()["id"])
    wait(browser, lambda d: HOSTILE in transcript_texts(d))
    assert HOSTILE in browser.find_element(By.ID, "d-summary").text
    assert HOSTILE in browser.find_element(By.ID, "d-slots").text
    assert "<b>小李</b>" in browser.find_element(By.ID, "me-name").text
    assert not browser.find_elements(By.CSS_SELECTOR, "main img, main script, header b")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 (raises when no alert is open)


def test_the_console_asks_to_log_in_and_rejects_a_forged_session(
        browser: Any, handoff_service: Service) -> None:
    browser.get(f"{handoff_service.url}/console/")
    browser.add_cookie({"name": "handoff_session", "value": "forged", "path": "/api/"})
    browser.get(f"{handoff_service.url}/console/")
    wait(browser, lambda d: d.find_element(By.ID, "login-view").is_displayed())
    assert not browser.find_element(By.ID, "desk-view").is_displayed()
