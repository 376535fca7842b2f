"""A customer's photo of a broken item, end to end with real processes (issue 23): the customer
asks for a human in the widget (real Rasa, action server and handoff service), an agent takes
the conversation, the customer sends a photo, and the agent sees it in the console in
Chromium. Screenshots go to tests/artifacts/handoff/."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import requests
from PIL import Image

from tests.handoff.conftest import Service, console_login, wait_for
from tests.handoff.test_console_shift import click_queue_item, wait
from tests.widget.conftest import widget_server  # noqa: F401 - the fixture, used below
from tests.widget.test_widget_browser import Widget


def broken_item_photo(path: Path) -> Path:
    """A photo as a phone takes it: JPEG with EXIF (camera and orientation)."""
    image = Image.new("RGB", (320, 240), (180, 150, 120))
    for x in range(120, 200):
        image.putpixel((x, x - 20), (20, 20, 20))  # the crack
    exif = Image.Exif()
    exif[0x010F] = "PhoneCam"
    image.save(path, "JPEG", exif=exif.tobytes())
    return path


def test_a_customer_photo_reaches_the_agent(
        browser: Any, widget_server: str, handoff_service: Service,  # noqa: F811
        artifacts: Path, tmp_path: Path) -> None:
    agent = handoff_service.agent("photo-wang", "小王")
    widget = Widget(browser, widget_server + "/", artifacts)
    widget.open()
    widget.type_and_send("转人工")
    widget.wait(lambda: "排队中" in widget.status() or "人工" in widget.status(), "queued")
    session = widget.session_id()
    [handoff] = wait_for(lambda: handoff_service.handoffs_of(session))
    assert handoff_service.post(f"/api/v1/handoffs/{handoff['id']}/claim",
                                headers=agent).status_code == 200
    widget.wait(lambda: "人工客服已接入" in widget.status(), "the agent joined")
    widget.wait(lambda: widget.find(".scw-photo").is_displayed(), "the photo button")

    chooser = widget.find(".scw-photo-input")
    browser.execute_script("arguments[0].hidden = false", chooser)
    chooser.send_keys(str(broken_item_photo(tmp_path / "broken.jpg")))
    widget.wait(lambda: widget.find_all(".scw-from-customer .scw-image"), "the photo sent")
    widget.screenshot("widget-photo-sent.png")

    def photo_message() -> dict[str, Any] | None:
        messages = handoff_service.get(f"/api/v1/handoffs/{handoff['id']}/messages",
                                       headers=agent).json()["messages"]
        return next((m for m in messages if m.get("image_id")), None)

    message = wait_for(photo_message)
    assert message["text"] == "[图片]"
    url = f"/api/v1/handoffs/{handoff['id']}/images/{message['image_id']}"
    got = handoff_service.get(url, headers=agent)
    assert got.status_code == 200 and got.headers["Content-Type"] == "image/jpeg"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in got.headers["Content-Security-Policy"]
    assert b"PhoneCam" not in got.content  # the camera's metadata was stripped
    assert Image.open(io.BytesIO(got.content)).size == (320, 240)
    assert handoff_service.get(url).status_code == 403  # the bot's token: agents only
    assert requests.get(handoff_service.url + url, timeout=10).status_code == 401
    other = url.replace(message["image_id"], "0" * 32)
    assert handoff_service.get(other, headers=agent).status_code == 404

    browser.switch_to.new_window("tab")
    console_login(browser, handoff_service.url, "photo-wang")
    click_queue_item(browser, handoff["id"])
    wait(browser, lambda d: d.execute_script(
        "const i = document.querySelector('#transcript img.photo');"
        "return !!i && i.complete && i.naturalWidth === 320"))
    browser.save_screenshot(str(artifacts / "console-customer-photo.png"))
