"""The agent workbench in headless Chromium (issue 23): the customer's orders from the real demo
shop API beside the chat, identity, summary and emotion trend; canned replies filled from the
context; internal notes that never reach the customer; tags, transfers, search and filters
over a realistic queue of 30 conversations, worked without reloading; the new-conversation
alert. Screenshots go to tests/artifacts/handoff/ (and with HANDOFF_DOCS_SCREENSHOT=1 to
docs/img/ for the README)."""
from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import ROOT
from tests.handoff.conftest import FakeRasa, Service, console_login
from tests.handoff.test_console_shift import click_queue_item, transcript_texts
from tests.handoff.test_desk_api import SHIPPED, payload, start_service

DOCS_IMG = ROOT / "docs" / "img"
XSS = '<img src=x onerror="window.__xss=1">'
# A shift's queue: what customers handed off, in the summary's words, with the reason,
# priority and channel (our own examples).
SHIFT = [
    ("快递显示已签收但客户说没收到，要求查监控。", "complaint", "high", "socketio"),
    ("退款审核被拒，客户不认可拒绝理由。", "explicit_request", "normal", "wechat"),
    ("客户说要去 12315 投诉商品质量问题。", "high_risk", "urgent", "socketio"),
    ("同一笔订单被扣了两次款，客户很着急。", "emotion_angry_message", "high", "socketio"),
    ("想把发票抬头改成公司，税号校验一直不通过。", "journey_failed", "normal", "rest"),
    ("机器人两次没听懂客户的问题（问以旧换新）。", "repeated_fallback", "normal", "telegram"),
    ("耳机左耳没有声音，签收第 8 天，问还能不能退。", "explicit_request", "normal", "socketio"),
    ("物流四天没有更新，客户等着送人。", "emotion_rising_frustration", "high", "wechat"),
    ("收到的外套尺码和下单的不一样，要换货。", "explicit_request", "normal", "socketio"),
    ("账号被锁，手机号已经不用了，找回不了。", "journey_failed", "normal", "wechat"),
]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, logs_dir: Path, fake_rasa: FakeRasa,
         shop_api: dict[str, str]) -> Iterator[Service]:
    """A handoff service of this module, reading orders from the real demo shop API."""
    service = start_service(tmp_path_factory.mktemp("workbench"), logs_dir, fake_rasa,
                            shop_api["SHOP_API_URL"], "handoff_workbench")
    yield service
    service.stop()


def create(service: Service, conversation_id: str | None = None, summary: str | None = None,
           **kwargs: Any) -> dict:
    conversation_id = conversation_id or f"wb-{uuid.uuid4().hex[:8]}"
    body = payload(conversation_id, **kwargs)
    if summary:
        body["summary"] = summary
    resp = service.post("/api/v1/handoffs", body,
                        headers={**service.bot, "Idempotency-Key": conversation_id})
    assert resp.status_code == 201, resp.text
    return resp.json()


def wait(driver: Any, check: Any, timeout: float = 20) -> Any:
    """Wait for `check`; the queue re-renders on every push, so a node read a moment ago may
    be gone: look again."""
    return WebDriverWait(driver, timeout, poll_frequency=0.05, ignored_exceptions=(
        StaleElementReferenceException, NoSuchElementException)).until(check)


def keep(driver: Any, artifacts: Path, name: str, docs_name: str | None = None) -> None:
    path = artifacts / name
    driver.save_screenshot(str(path))
    if docs_name and os.environ.get("HANDOFF_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(path, DOCS_IMG / docs_name)


def text_of(driver: Any, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def queue_ids(driver: Any) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('.queue-item')].map(n => n.dataset.id)")


def test_a_conversation_with_order_cards_canned_replies_and_internal_notes(
        browser: Any, desk: Service, fake_rasa: FakeRasa, artifacts: Path) -> None:
    desk.agent("wb-zhou", "小周")
    handoff = create(desk, summary="客户投诉顺丰三天没有更新物流，情绪越来越激动，要求尽快处理。")
    console_login(browser, desk.url, "wb-zhou")
    browser.execute_script("window.__sameTab = true;")
    click_queue_item(browser, handoff["id"])
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR,
                                            f'.order-card[data-order-id="{SHIPPED}"]'))

    # Context beside the chat: the named order first, from the shop API, in Chinese.
    cards = browser.find_elements(By.CSS_SELECTOR, ".order-card")
    first = cards[0].text
    assert f"订单 {SHIPPED}" in first and "已发货" in first and "顺丰速运" in first, first
    assert "客户在对话中提到的订单" in first and "实付 ¥" in first and "×" in first
    assert len(cards) > 1  # the customer's other orders, found by the phone
    assert "身份未验证" in text_of(browser, "c-identity")
    assert "核对收货人" in text_of(browser, "c-orders-note")
    assert "顺丰三天没有更新物流" in text_of(browser, "d-summary")
    dots = browser.find_elements(By.CSS_SELECTOR, "#c-emotion .dot")
    assert [d.get_attribute("class") for d in dots][-3:] == ["dot calm", "dot upset", "dot angry"]
    assert "升温" in text_of(browser, "c-emotion-text")

    # A canned reply, its placeholders filled from the context.
    browser.find_element(By.ID, "claim").click()
    wait(browser, lambda d: d.find_element(By.ID, "reply").is_enabled())
    # The customer's widget hears that the agent read their messages and is typing.
    def activity(kind: str) -> list[dict[str, Any]]:
        return [b for c, b, _ in fake_rasa.calls if c == "socketio" and isinstance(b, dict)
                and b.get("conversation_id") == handoff["conversation_id"] and b.get(kind)]
    wait(browser, lambda d: activity("read"))
    Select(browser.find_element(By.ID, "canned")).select_by_visible_text("查看订单")
    box = browser.find_element(By.ID, "reply")
    box.send_keys(" ")  # typing (the canned reply filled the box without a keystroke)
    wait(browser, lambda d: activity("typing"))
    assert activity("typing")[0]["agent"] == "小周"
    box.send_keys(Keys.BACKSPACE)
    assert box.get_attribute("value") == (f"亲您好，我正在查看订单 {SHIPPED} 的情况，"
                                          "请稍等一两分钟。")
    browser.find_element(By.ID, "send").click()
    wait(browser, lambda d: any(t.startswith("亲您好，我正在查看订单")
                                for t in transcript_texts(d)))
    sent = [e.get("text") or "" for e in fake_rasa.events_for(handoff["conversation_id"])]
    assert any(t.startswith("亲您好，我正在查看订单 573262229751") for t in sent)

    # An internal note: in the console for agents, never sent to the customer.
    browser.find_element(By.ID, "note-mode").click()
    box.send_keys("客户上周也投诉过同一个快递，处理完记得回访")
    browser.find_element(By.ID, "send").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#transcript .msg.note"))
    note = browser.find_element(By.CSS_SELECTOR, "#transcript .msg.note").text
    assert "内部备注" in note and "客户看不到" in note
    time.sleep(0.5)
    sent = [e.get("text") or "" for e in fake_rasa.events_for(handoff["conversation_id"])]
    assert not any("回访" in t for t in sent)
    browser.find_element(By.ID, "note-mode").click()

    # A tag, typed with Enter (shown as text, even when it looks like markup).
    browser.find_element(By.ID, "tag-input").send_keys("物流延误\n")
    wait(browser, lambda d: "物流延误" in text_of(d, "tag-list"))
    wait(browser, lambda d: "物流延误" in d.find_element(
        By.CSS_SELECTOR, f'.queue-item[data-id="{handoff["id"]}"]').text)
    keep(browser, artifacts, "console-conversation.png", "console-conversation.png")

    # Customer text, summaries and tags are shown as text, never run as HTML.
    body = {**payload(f"wb-x-{uuid.uuid4().hex[:6]}"), "summary": "客户发来一段代码：" + XSS}
    body["transcript"].append({"sender": "customer", "text": XSS, "timestamp": time.time()})
    hostile = desk.post("/api/v1/handoffs", body,
                        headers={**desk.bot, "Idempotency-Key": body["conversation_id"]}).json()
    click_queue_item(browser, hostile["id"])
    wait(browser, lambda d: XSS in text_of(d, "d-summary") and XSS in transcript_texts(d))
    browser.find_element(By.ID, "tag-input").send_keys("<b>x</b>\n")
    wait(browser, lambda d: "<b>x</b>" in text_of(d, "tag-list"))
    assert browser.execute_script("return window.__xss") is None
    assert browser.execute_script("return window.__sameTab") is True


def test_an_agent_works_a_queue_of_30_conversations_without_reloading(
        browser: Any, tmp_path: Path, logs_dir: Path, fake_rasa: FakeRasa,
        shop_api: dict[str, str], artifacts: Path) -> None:
    desk = start_service(tmp_path, logs_dir, fake_rasa, shop_api["SHOP_API_URL"],
                         "handoff_queue30")
    try:
        work_the_queue(browser, desk, fake_rasa, artifacts)
    finally:
        desk.stop()


def work_the_queue(browser: Any, desk: Service, fake_rasa: FakeRasa, artifacts: Path) -> None:
    desk.agent("wb-lin", "小林")
    desk.agent("wb-tang", "小唐")
    batch = uuid.uuid4().hex[:6]
    made = []
    for n in range(30):
        summary, reason, priority, channel = SHIFT[n % len(SHIFT)]
        made.append(create(desk, f"web-{batch}-{n:02d}", summary=summary, reason=reason,
                           priority=priority, channel=channel))
    console_login(browser, desk.url, "wb-lin")
    browser.execute_script("window.__sameTab = true;")
    wait(browser, lambda d: len(queue_ids(d)) == 30)
    wait(browser, lambda d: "实时" in text_of(d, "online"))
    assert browser.title == "（30）人工客服工作台"
    click_queue_item(browser, made[2]["id"])
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".order-card"))
    keep(browser, artifacts, "console-queue-30.png", "console-queue.png")
    search = browser.find_element(By.ID, "f-q")

    # A new conversation: a chime and the tab title, until the agent comes back to the page.
    sounds = browser.execute_script("return state.sounds")
    newest = create(desk, f"web-{batch}-new", priority="urgent", reason="high_risk",
                    summary="客户说再不退款就找律师。")
    wait(browser, lambda d: "新会话" in d.title, timeout=10)
    assert browser.execute_script("return state.sounds") == sounds + 1
    wait(browser, lambda d: newest["id"] in queue_ids(d), timeout=10)
    browser.find_element(By.ID, "queue").click()
    wait(browser, lambda d: "新会话" not in d.title)
    assert browser.title.startswith("（")  # still the number waiting

    # Filters, each answered without reloading.
    Select(browser.find_element(By.ID, "f-priority")).select_by_visible_text("紧急")
    urgent = {h["id"] for h in made if h["priority"] == "urgent"} | {newest["id"]}
    wait(browser, lambda d: set(queue_ids(d)) == urgent)
    Select(browser.find_element(By.ID, "f-priority")).select_by_visible_text("全部优先级")
    Select(browser.find_element(By.ID, "f-channel")).select_by_visible_text("微信")
    wechat = {h["id"] for h in made if h["channel"] == "wechat"}
    wait(browser, lambda d: set(queue_ids(d)) == wechat)
    Select(browser.find_element(By.ID, "f-channel")).select_by_visible_text("全部渠道")
    Select(browser.find_element(By.ID, "f-reason")).select_by_visible_text("客户投诉")
    complaints = {h["id"] for h in made if h["reason"] == "complaint"}
    wait(browser, lambda d: set(queue_ids(d)) == complaints)
    Select(browser.find_element(By.ID, "f-reason")).select_by_visible_text("全部原因")
    search.clear()
    search.send_keys(made[7]["conversation_id"])
    wait(browser, lambda d: queue_ids(d) == [made[7]["id"]])
    search.clear()
    search.send_keys("扣了两次款")  # a summary's words
    double = {h["id"] for h in made if "扣了两次款" in h["summary"]}
    wait(browser, lambda d: set(queue_ids(d)) == double)
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys(Keys.DELETE)  # as a person empties the box (an input event)
    wait(browser, lambda d: len(queue_ids(d)) == 31)

    # Work through several: claim, reply, transfer one to after-sales, resolve another.
    for handoff in made[:3]:
        click_queue_item(browser, handoff["id"])
        wait(browser, lambda d: d.find_element(By.ID, "claim").is_enabled())
        browser.find_element(By.ID, "claim").click()
        wait(browser, lambda d: d.find_element(By.ID, "reply").is_enabled())
        browser.find_element(By.ID, "reply").send_keys("您好，我来帮您处理\n")
        wait(browser, lambda d: "您好，我来帮您处理" in transcript_texts(d))
    Select(browser.find_element(By.ID, "transfer-to")).select_by_visible_text("售后组（回到队列）")
    browser.find_element(By.ID, "transfer").click()
    wait(browser, lambda d: "已转到售后组" in text_of(d, "d-status"))
    told = [e.get("text") or "" for e in fake_rasa.events_for(made[2]["conversation_id"])]
    assert any("正在为您转接售后客服" in t for t in told)
    Select(browser.find_element(By.ID, "f-group")).select_by_visible_text("售后组")
    wait(browser, lambda d: queue_ids(d) == [made[2]["id"]])
    wait(browser, lambda d: "售后" in d.find_element(By.CSS_SELECTOR,
                                                   ".queue-item .badge.group").text)
    Select(browser.find_element(By.ID, "f-group")).select_by_visible_text("全部分组")
    click_queue_item(browser, made[1]["id"])
    wait(browser, lambda d: d.find_element(By.ID, "resolve").is_enabled())
    browser.find_element(By.ID, "resolve").click()
    wait(browser, lambda d: made[1]["id"] not in queue_ids(d))
    assert len(queue_ids(browser)) == 30
    assert browser.execute_script("return window.__sameTab") is True  # never reloaded
    keep(browser, artifacts, "console-queue-worked.png")


def test_alerts_and_a_filtered_queue_keep_working_after_the_service_restarts(
        browser: Any, tmp_path: Path, logs_dir: Path, fake_rasa: FakeRasa,
        shop_api: dict[str, str], artifacts: Path) -> None:
    desk = start_service(tmp_path, logs_dir, fake_rasa, shop_api["SHOP_API_URL"],
                         "handoff_restart")
    try:
        desk.agent("wb-restart", "小郑")
        first = create(desk, priority="urgent", reason="high_risk", summary="客户说要报警。")
        create(desk, priority="normal", summary="客户问发票。")
        console_login(browser, desk.url, "wb-restart")
        browser.execute_script("window.__sameTab = true;")
        Select(browser.find_element(By.ID, "f-priority")).select_by_visible_text("紧急")
        wait(browser, lambda d: queue_ids(d) == [first["id"]])
        wait(browser, lambda d: "实时" in text_of(d, "online"))

        desk.stop()
        wait(browser, lambda d: "实时" not in text_of(d, "online"), timeout=15)
        desk.start()
        wait(browser, lambda d: "实时" in text_of(d, "online"), timeout=15)
        sounds = browser.execute_script("return state.sounds")
        later = create(desk, priority="urgent", reason="high_risk", summary="客户说要起诉。")
        create(desk, priority="normal", summary="客户问退货地址。")  # filtered out
        wait(browser, lambda d: queue_ids(d) == [first["id"], later["id"]], timeout=10)
        wait(browser, lambda d: "新会话" in d.title, timeout=10)
        assert browser.execute_script("return state.sounds") > sounds
        assert browser.title.endswith("（4）人工客服工作台")  # all waiting, whatever the filter
        assert browser.execute_script("return window.__sameTab") is True
        keep(browser, artifacts, "console-after-restart-filtered.png")
    finally:
        desk.stop()
