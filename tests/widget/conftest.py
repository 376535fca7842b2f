"""Fixtures of the widget tests: the widget server against the session's real `rasa run`
(whose credentials.yml has the widget's socket.io channel) and headless Chromium."""
from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from contracts.widget import session_token
from tests.conftest import ROOT, start_process, stop_process, wait_until_up

ARTIFACTS = ROOT / "tests" / "artifacts" / "widget"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


ADMIN_TOKEN = "test-widget-admin"


def token_of(session: str) -> str:
    """The token the widget channel gives the browser for `session` (the test secret)."""
    return session_token(os.environ["WIDGET_SESSION_SECRET"], session)


def csat_summary(widget_server: str) -> dict:
    """The supervisor's satisfaction figures."""
    answer = requests.get(f"{widget_server}/api/csat/summary", timeout=10,
                          headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture(scope="session")
def widget_server(rasa_server: str, logs_dir: Path, widget_db: Path) -> Iterator[str]:
    """The widget server (demo page, widget files, history, ratings) on a free port."""
    port = int(os.environ["WIDGET_URL"].rsplit(":", 1)[1])  # where the handoff service looks
    log = logs_dir / "widget.log"
    db = widget_db
    env = {
        "RASA_URL": rasa_server,
        "RASA_PORT": str(urlsplit(rasa_server).port),
        "RASA_AUTH_TOKEN": os.environ["RASA_AUTH_TOKEN"],
        "WIDGET_SOCKET_URL": "",
        "WIDGET_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    process = start_process(
        [sys.executable, "-m", "widget", "--port", str(port), "--db", str(db), "--no-access-log"],
        log, env,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where the screenshots go (git-ignored); printed at the end of the session."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _chrome(width: int, height: int, phone: bool = False) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("chromium/chromedriver missing: run `make browser`")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}", "--lang=zh-CN"):
        options.add_argument(argument)
    if phone:  # a desktop window cannot be narrower than ~500 px: emulate the device
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 3, "touch": True},
            "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
                         "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148",
        })
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture
def browser() -> Iterator[Any]:
    """A desktop-sized headless Chromium with a fresh profile (empty localStorage)."""
    driver = _chrome(1280, 860)
    yield driver
    driver.quit()


@pytest.fixture
def phone() -> Iterator[Any]:
    """A phone-sized headless Chromium (390 x 844 CSS pixels, as an iPhone 12-15)."""
    driver = _chrome(390, 844, phone=True)
    yield driver
    driver.quit()


@pytest.fixture
def push(rasa_server: str) -> Callable[[str, list[dict[str, Any]]], None]:
    """Append events to a conversation through Rasa's HTTP API and send the bot messages to
    the customer's channel: what the handoff service does for agent messages and states."""

    def _push(session_id: str, events: list[dict[str, Any]]) -> None:
        answer = requests.post(
            f"{rasa_server}/conversations/{session_id}/tracker/events",
            params={"output_channel": "latest", "execute_side_effects": "true",
                    "token": os.environ["RASA_AUTH_TOKEN"]},
            json=events, timeout=30,
        )
        assert answer.status_code == 200, answer.text

    return _push


def handoff_event(text: str, state: str, **fields: Any) -> dict[str, Any]:
    """A bot event carrying a handoff state in the shared contract's custom payload."""
    handoff = {"state": state, "position": None, "eta_minutes": None, "agent": None, **fields}
    return {"event": "bot", "text": text, "data": {"custom": {"handoff": handoff}},
            "timestamp": time.time()}


def session_id() -> str:
    """A session id of the shape the channel issues."""
    return uuid.uuid4().hex
