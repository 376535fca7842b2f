"""Fixtures of the handoff tests: the handoff service as a real process, and a stand-in for
Rasa's HTTP API (a real HTTP server that records the events the service appends)."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import ROOT, free_port, start_process, stop_process, wait_until_up

PASSWORD = "correct-horse-42"
BOT_TOKEN = "test-handoff-token"


class Service:
    """A handoff service process that tests can stop and start again on the same port."""

    def __init__(self, port: int, env: dict[str, str], log: Path) -> None:
        self.port, self.env, self.log = port, env, log
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None
        self._agents: dict[str, str] = {}

    def start(self) -> None:
        self.process = start_process([sys.executable, "-m", "handoff", "serve", "--port",
                                      str(self.port), "--no-access-log"], self.log, self.env)
        wait_until_up(f"{self.url}/health", self.process, self.log, timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    @property
    def bot(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.env['HANDOFF_API_TOKEN']}"}

    def create_agent(self, username: str, display_name: str,
                     role: str = "agent") -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "handoff", "create-agent", username, "--display-name",
             display_name, "--role", role, "--password-stdin"], input=PASSWORD + "\n", text=True,
            capture_output=True, cwd=ROOT, env={**os.environ, **self.env})

    def agent(self, username: str, display_name: str | None = None,
              role: str = "agent") -> dict[str, str]:
        """Headers of a logged-in agent (the account is created on first use)."""
        if username not in self._agents:
            self.create_agent(username, display_name or username, role)
            resp = requests.post(f"{self.url}/api/v1/auth/login", timeout=10,
                                 json={"username": username, "password": PASSWORD})
            assert resp.status_code == 200, resp.text
            self._agents[username] = resp.json()["token"]
        return {"Authorization": f"Bearer {self._agents[username]}"}

    def get(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        headers = self.bot if headers is None else headers
        return requests.get(self.url + path, headers=headers, timeout=10)

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None,
             **kwargs: Any) -> requests.Response:
        headers = self.bot if headers is None else headers
        return requests.post(self.url + path, json=body, headers=headers, timeout=10, **kwargs)

    def handoffs_of(self, conversation_id: str) -> list[dict[str, Any]]:
        rows = self.get("/api/v1/handoffs?status=all").json()["handoffs"]
        return [h for h in rows if h["conversation_id"] == conversation_id]


class FakeRasa:
    """Records `POST /conversations/{id}/tracker/events` calls; `fail` makes it answer 500;
    a conversation in `held` is not answered until `release` (Rasa holding its lock).

    `/predict` answers with the actions queued in `predictions[conversation]` (then
    action_listen) and `/execute` records the action in `executed` (the bot picking up a
    question after a hand back)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[dict[str, Any]], dict[str, str]]] = []
        self.fail = False
        self.held: set[str] = set()
        self.released = threading.Event()
        self.predictions: dict[str, list[str]] = {}
        self.executed: list[tuple[str, str]] = []
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        # Every POST: also the widget's /webhooks/socketio/agent_activity (recorded as
        # conversation "socketio").
        self.server.expect_request(re.compile("/.*"), method="POST") \
            .respond_with_handler(self._answer)
        self.server.start()
        self.url = self.server.url_for("/").rstrip("/")

    def _answer(self, request: Request) -> Response:
        """`/conversations/{id}/{tracker/events,predict,execute}`, as described above."""
        # The second path segment: the conversation (or the webhook's channel).
        body = request.get_json(silent=True) if request.data else None
        conversation = unquote(request.path.split("/")[2])
        kind = request.path.rsplit("/", 1)[-1]
        if conversation in self.held:
            self.released.wait(timeout=30)
        answer: dict[str, Any] = {}
        if kind == "predict":
            queued = self.predictions.get(conversation) or []
            action = queued[0] if queued else "action_listen"
            answer = {"scores": [{"action": action, "score": 1.0}],
                      "policy": "RulePolicy", "confidence": 1.0}
        elif kind == "execute" and not self.fail:
            name = (body or {}).get("name", "")
            self.executed.append((conversation, name))
            queued = self.predictions.get(conversation) or []
            if queued and queued[0] == name:
                queued.pop(0)
            answer = {"tracker": {}, "messages": [{"text": f"（{name} 的回答）"}]}
        elif not self.fail:
            self.calls.append((conversation, body, dict(request.args)))
        return Response(json.dumps(answer), 500 if self.fail else 200,
                        content_type="application/json")

    def events_for(self, conversation_id: str) -> list[dict[str, Any]]:
        return [e for c, body, _ in self.calls if c == conversation_id for e in body]


class EventStream:
    """Rasa's SQL event broker table, written the way SQLEventBroker writes it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, "
                       "sender_id VARCHAR(255), data TEXT)")

    def restart(self, conversation_id: str) -> None:
        self._write(conversation_id, {"event": "restart", "sender_id": conversation_id,
                                      "timestamp": time.time()})

    def _write(self, conversation_id: str, event: dict[str, Any]) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute("INSERT INTO events (sender_id, data) VALUES (?, ?)",
                       (conversation_id, json.dumps(event, ensure_ascii=False)))

    def user(self, conversation_id: str, text: str, intent: str = "inform") -> None:
        event = {"event": "user", "sender_id": conversation_id, "text": text,
                 "timestamp": time.time(), "input_channel": "rest",
                 "parse_data": {"intent": {"name": intent, "confidence": 0.9},
                                "emotion": {"label": "calm", "score": 0.1}}}
        self._write(conversation_id, event)


@pytest.fixture(scope="session")
def fake_rasa() -> Iterator[FakeRasa]:
    rasa = FakeRasa()
    yield rasa
    rasa.released.set()
    rasa.server.stop()


@pytest.fixture(scope="session")
def handoff_api(tmp_path_factory: pytest.TempPathFactory, logs_dir: Path,
                fake_rasa: FakeRasa) -> Iterator[tuple[Service, EventStream]]:
    """A handoff service against the Rasa stand-in and an event table the test writes."""
    folder = tmp_path_factory.mktemp("handoff-api")
    stream = EventStream(folder / "events.db")
    env = {"HANDOFF_DB": str(folder / "handoff.db"), "HANDOFF_API_TOKEN": BOT_TOKEN,
           "RASA_URL": fake_rasa.url, "HANDOFF_EVENTS_URL": f"sqlite:///{stream.path}",
           "HANDOFF_EVENTS_POLL_SECONDS": "0.2",
           # As behind nginx: the client address comes from X-Forwarded-For.
           "HANDOFF_PROXIES_COUNT": "1"}
    if os.environ.get("HANDOFF_TEST_POSTGRES_URL"):  # the same tests on PostgreSQL
        env["HANDOFF_DB_URL"] = os.environ["HANDOFF_TEST_POSTGRES_URL"]
    service = Service(free_port(), env, logs_dir / "handoff_api.log")
    service.start()
    yield service, stream
    service.stop()


@pytest.fixture(scope="session")
def handoff_service(tmp_path_factory: pytest.TempPathFactory, logs_dir: Path,
                    rasa_server: str, rasa_tracker_db: Path, widget_db: Path) -> Iterator[Service]:
    """The handoff service the real action server posts to (HANDOFF_URL, set in
    tests/conftest.py), following the real Rasa server's event stream; its reports read
    that server's tracker store and the session's widget ratings."""
    folder = tmp_path_factory.mktemp("handoff-service")
    port = int(os.environ["HANDOFF_URL"].rsplit(":", 1)[1])
    env = {"HANDOFF_DB": str(folder / "handoff.db"),
           # The token the action server was started with.
           "HANDOFF_API_TOKEN": os.environ["HANDOFF_API_TOKEN"], "RASA_URL": rasa_server,
           "HANDOFF_EVENTS_URL": f"sqlite:///{os.environ['EVENTS_DB']}",
           "HANDOFF_EVENTS_POLL_SECONDS": "0.2",
           "TRACKER_DB": str(rasa_tracker_db), "HANDOFF_CSAT_DB_URL": f"sqlite:///{widget_db}"}
    service = Service(port, env, logs_dir / "handoff_service.log")
    service.start()
    yield service
    service.stop()


def wait_for(check: Any, timeout: float = 20, interval: float = 0.2) -> Any:
    """Poll `check()` until it returns something truthy; fail with the last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "tests" / "artifacts" / "handoff"


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's headless Chromium, desktop-sized, with a fresh profile."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("chromium/chromedriver missing: run `make browser`")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1400,960", "--lang=zh-CN"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where the console screenshots go (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def phone() -> Iterator[Any]:
    """A phone-sized headless Chromium (390 x 844 CSS pixels), emulating the device."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=390,844", "--lang=zh-CN"):
        options.add_argument(argument)
    options.add_experimental_option("mobileEmulation", {
        "deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 3, "touch": True},
        "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
                     "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148"})
    driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def own_handoff_service(tmp_path: Path, logs_dir: Path, fake_rasa: FakeRasa
                        ) -> Iterator[tuple[Service, EventStream]]:
    """A handoff service of this test alone (it may be stopped and started again)."""
    stream = EventStream(tmp_path / "events.db")
    env = {"HANDOFF_DB": str(tmp_path / "handoff.db"), "HANDOFF_API_TOKEN": BOT_TOKEN,
           "RASA_URL": fake_rasa.url, "HANDOFF_EVENTS_URL": f"sqlite:///{stream.path}"}
    service = Service(free_port(), env, logs_dir / f"handoff_{tmp_path.name}.log")
    service.start()
    yield service, stream
    service.stop()


def console_login(driver: Any, url: str, username: str) -> None:
    """Log in to the console at `url` (the account exists)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{url}/console/")
    WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "login-view").is_displayed()
                                    or d.find_element(By.ID, "desk-view").is_displayed())
    if driver.find_element(By.ID, "desk-view").is_displayed():
        return
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "desk-view").is_displayed())
