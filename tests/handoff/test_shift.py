"""What a customer waiting for a human and an agent working a shift get from the handoff
service (issue 23): the queued notice kept with its own handoff, an early agent announced,
long waits and abandoned handoffs, answers while queued, an honest hand back, live pushes to
the console, a login that survives a new tab, and `make agent` fed from a pipe."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from handoff import auth
from handoff.app import HandoffService
from handoff.config import Settings
from tests.conftest import ROOT
from tests.handoff.conftest import PASSWORD, EventStream, FakeRasa, Service, wait_for
from tests.handoff.test_service_api import create, new_id, payload

OFF_HOURS = {"service_hours": "每天 9:00-22:00", "in_service_hours": False}
IN_HOURS = {"service_hours": "每天 9:00-22:00", "in_service_hours": True}


class Relay:
    """Stands in for Rasa in the in-process tests: records what would reach the customer."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[dict[str, Any]]]] = []

    async def send(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        self.sent.append((conversation_id, events))

    async def continue_conversation(self, conversation_id: str, **_: Any) -> list[dict]:
        return []

    async def close(self) -> None:
        pass

    def texts(self, conversation_id: str) -> list[str]:
        return [e["text"] for c, events in self.sent if c == conversation_id
                for e in events if e.get("event") == "bot"]


def in_process(tmp_path: Path, **settings: Any) -> tuple[HandoffService, Relay]:
    service = HandoffService(Settings(db_url=f"sqlite:///{tmp_path / 'h.db'}", events_url="",
                                      **settings))
    relay = Relay()
    service.relay = relay  # type: ignore[assignment]
    return service, relay


def online_agent(service: HandoffService, username: str) -> dict[str, Any]:
    """An agent account with a live session (counted as online)."""
    service.store.add_agent(username, username, auth.hash_password(PASSWORD))
    token = auth.new_session_token()
    agent = service.store.agent_by_username(username) or {}
    service.store.add_session(auth.token_hash(token), agent["id"], 1)
    service.store.agent_for_session(auth.token_hash(token))
    return agent


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


# --- the queued notice, off hours, long waits, abandoned handoffs ---------------------------

def test_the_queued_notice_is_in_the_transcript_of_its_own_handoff(service: Service) -> None:
    body = create(service, new_id(), **IN_HOURS).json()
    last = body["transcript"][-1]
    assert last["sender"] == "bot" and "算了不用了" in last["text"], body["transcript"]
    fetched = service.get(f"/api/v1/handoffs/{body['id']}").json()
    assert fetched["transcript"][-1]["text"] == last["text"]


def test_off_hours_an_agent_who_claims_early_is_announced(tmp_path: Path) -> None:
    service, relay = in_process(tmp_path)
    conversation = new_id()
    handoff, _ = run(service.create(payload(conversation, **OFF_HOURS), conversation))
    [promise] = [m for m in service.view(handoff, full=True)["transcript"]
                 if m["sender"] == "bot" and m["source"] == "notice"]
    assert "非服务时间" in promise["text"]
    agent = online_agent(service, "early-bird")
    run(service.claim(handoff["id"], agent))
    [joined] = relay.texts(conversation)
    assert "提前" in joined and "early-bird" in joined


def test_a_long_queue_offers_a_message_or_a_call_back_instead_of_the_wait(
        tmp_path: Path) -> None:
    service, _ = in_process(tmp_path)
    online_agent(service, "alone")
    for _ in range(76):
        run(service.create(payload(new_id(), **IN_HOURS), new_id()))
    handoff, _ = run(service.create(payload("the-77th", **IN_HOURS), "the-77th"))
    view = service.view(handoff, full=True)
    assert view["position"] == 77 and view["eta_minutes"] == 385
    notice = view["transcript"][-1]
    assert "385" not in notice["text"], notice["text"]
    assert "留言" in notice["text"] and "回电" in notice["text"]
    assert notice["custom"]["handoff"]["eta_minutes"] is None


def test_abandoned_handoffs_are_closed_and_leave_the_queue(tmp_path: Path) -> None:
    service, relay = in_process(tmp_path, abandon_hours=12)
    old, fresh, talking = new_id(), new_id(), new_id()
    for conversation in (old, fresh, talking):
        run(service.create(payload(conversation), conversation))
    long_ago = time.time() - 13 * 3600
    with service.store.engine.begin() as db:
        from handoff.store import handoffs
        db.execute(handoffs.update().where(handoffs.c.conversation_id.in_([old, talking]))
                   .values(created_at=long_ago, requested_at=long_ago))
    # The customer of `talking` wrote a minute ago: still there.
    talking_handoff = service.store.open_handoff_for(talking)
    service.store.add_message(talking_handoff, "customer", "还在吗", "live",
                              timestamp=time.time() - 60)
    closed = run(service.sweep())
    assert [h["conversation_id"] for h in closed] == [old]
    statuses = {h["conversation_id"]: h["status"]
                for h in service.store.list_handoffs(("queued", "abandoned"))}
    assert statuses == {old: "abandoned", fresh: "queued", talking: "queued"}
    assert any("转人工" in t for t in relay.texts(old))  # told how to ask again
    assert [e for c, events in relay.sent if c == old for e in events
            if e.get("event") == "resume"]


# --- messages while queued -----------------------------------------------------------------

def test_a_message_while_queued_is_acknowledged(service: Service, stream: EventStream,
                                                fake_rasa: FakeRasa) -> None:
    conversation = new_id()
    create(service, conversation)
    stream.user(conversation, "订单号是573262229751，东西一直没到")

    def acknowledged() -> list[str]:
        return [e["text"] for e in fake_rasa.events_for(conversation) if e.get("event") == "bot"]

    [ack] = wait_for(acknowledged, timeout=10)
    assert "客服" in ack and "第" in ack


def test_asking_for_a_human_again_while_queued_gets_the_place_in_the_queue(
        service: Service, stream: EventStream, fake_rasa: FakeRasa) -> None:
    conversation = new_id()
    create(service, conversation)
    stream.user(conversation, "转人工", intent="request_human")

    def answered() -> list[str]:
        return [e["text"] for e in fake_rasa.events_for(conversation) if e.get("event") == "bot"]

    [answer] = wait_for(answered, timeout=10)
    assert "排在第" in answer and "不需要重复" in answer


# --- hand back ----------------------------------------------------------------------------

def test_hand_back_with_an_open_question_lets_the_bot_pick_it_up(
        service: Service, stream: EventStream, fake_rasa: FakeRasa) -> None:
    conversation = new_id()
    handoff = create(service, conversation).json()
    agent = service.agent("shift-qian", "小钱")
    base = f"/api/v1/handoffs/{handoff['id']}"
    assert service.post(f"{base}/claim", headers=agent).ok
    assert service.post(f"{base}/messages", {"text": "发票已经帮您换开了"}, headers=agent).ok
    stream.user(conversation, "那我的退款什么时候到账", intent="ask_refund_status")
    wait_for(lambda: [m for m in service.get(f"{base}/messages?after=0").json()["messages"]
                      if m["source"] == "live"])
    fake_rasa.predictions[conversation] = ["action_refund_status"]
    assert service.post(f"{base}/handback", headers=agent).ok
    notice = [e for e in fake_rasa.events_for(conversation) if e.get("event") == "bot"][-1]
    assert "处理完毕" not in notice["text"], notice["text"]
    assert "退款什么时候到账" in notice["text"] and "继续" in notice["text"]
    assert (conversation, "action_refund_status") in fake_rasa.executed
    # Nothing left to do: the turn ends listening.
    assert fake_rasa.events_for(conversation)[-1] == {"event": "action", "name": "action_listen"}


def test_hand_back_after_the_customer_said_thanks_says_it_is_done(
        service: Service, stream: EventStream, fake_rasa: FakeRasa) -> None:
    conversation = new_id()
    handoff = create(service, conversation).json()
    agent = service.agent("shift-qian", "小钱")
    base = f"/api/v1/handoffs/{handoff['id']}"
    assert service.post(f"{base}/claim", headers=agent).ok
    assert service.post(f"{base}/messages", {"text": "已经帮您处理好了"}, headers=agent).ok
    stream.user(conversation, "好的谢谢", intent="thank")
    wait_for(lambda: [m for m in service.get(f"{base}/messages?after=0").json()["messages"]
                      if m["source"] == "live"])
    assert service.post(f"{base}/handback", headers=agent).ok
    notice = [e for e in fake_rasa.events_for(conversation) if e.get("event") == "bot"][-1]
    assert "处理完毕" in notice["text"]
    assert not [c for c, _ in fake_rasa.executed if c == conversation]


# --- the console: live pushes, login across tabs --------------------------------------------

def read_events(response: requests.Response, found: list[tuple[float, str, dict]],
                stop: threading.Event) -> None:
    kind = "message"
    for line in response.iter_lines(decode_unicode=True):
        if stop.is_set():
            return
        if line.startswith("event:"):
            kind = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            found.append((time.monotonic(), kind, json.loads(line.split(":", 1)[1])))
            kind = "message"


def test_customer_messages_are_pushed_to_the_console_well_under_a_second(
        service: Service, stream: EventStream) -> None:
    conversation = new_id()
    handoff = create(service, conversation).json()
    agent = service.agent("shift-sun", "小孙")
    response = requests.get(f"{service.url}/api/v1/stream", headers=agent, stream=True,
                            timeout=(5, 30))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    found: list[tuple[float, str, dict]] = []
    stop = threading.Event()
    threading.Thread(target=read_events, args=(response, found, stop), daemon=True).start()
    try:
        for text in ("第一条", "第二条", "第三条"):
            time.sleep(0.4)
            found.clear()
            sent = time.monotonic()
            stream.user(conversation, text)
            arrived = wait_for(lambda: [at for at, _, data in found
                                        if data.get("handoff_id") == handoff["id"]], timeout=5,
                               interval=0.02)
            assert arrived[0] - sent < 0.8, (text, arrived[0] - sent)
    finally:
        stop.set()
        response.close()


def test_the_console_session_is_an_http_only_cookie_and_logout_ends_it(
        service: Service) -> None:
    service.agent("shift-cookie", "小库")  # creates the account
    session = requests.Session()
    login = session.post(f"{service.url}/api/v1/auth/login", timeout=10,
                         json={"username": "shift-cookie", "password": PASSWORD})
    assert login.status_code == 200
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    console = {"X-Handoff-Console": "1"}
    assert session.get(f"{service.url}/api/v1/me", timeout=10).status_code == 200
    # A cookie alone does not authorise a change (no cross-site requests).
    handoff = create(service, new_id()).json()
    assert session.post(f"{service.url}/api/v1/handoffs/{handoff['id']}/claim",
                        timeout=10).status_code == 403
    assert session.post(f"{service.url}/api/v1/handoffs/{handoff['id']}/claim",
                        headers=console, timeout=10).status_code == 200
    token = login.json()["token"]
    assert session.post(f"{service.url}/api/v1/auth/logout", headers=console,
                        timeout=10).status_code == 200
    assert session.get(f"{service.url}/api/v1/me", timeout=10).status_code == 401
    assert service.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}
                       ).status_code == 401


# --- make agent ---------------------------------------------------------------------------

def test_make_agent_takes_the_password_from_a_pipe(tmp_path: Path) -> None:
    name = f"pipe{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "HANDOFF_DB": str(tmp_path / "agents.db")}
    env.pop("MAKEFLAGS", None)
    done = subprocess.run(["make", "-s", "agent", f"NAME={name}", "DISPLAY=小管"],
                          input=PASSWORD + "\n", text=True, capture_output=True, cwd=ROOT,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and f"agent {name} created" in done.stdout
    # Typed twice (as the prompt asks) works too; two different lines are refused clearly.
    again = subprocess.run([sys.executable, "-m", "handoff", "create-agent", name + "x"],
                           input=f"{PASSWORD}\n{PASSWORD}\n", text=True, capture_output=True,
                           cwd=ROOT, env=env, timeout=60)
    assert again.returncode == 0, again.stderr
    differ = subprocess.run([sys.executable, "-m", "handoff", "create-agent", name + "y"],
                            input=f"{PASSWORD}\nsomething-else\n", text=True,
                            capture_output=True, cwd=ROOT, env=env, timeout=60)
    assert differ.returncode != 0 and "Traceback" not in differ.stderr
    empty = subprocess.run([sys.executable, "-m", "handoff", "create-agent", name + "z"],
                           input="", text=True, capture_output=True, cwd=ROOT, env=env,
                           timeout=60)
    assert empty.returncode != 0 and "Traceback" not in empty.stderr


@pytest.fixture
def service(handoff_api: tuple[Service, EventStream]) -> Service:
    return handoff_api[0]


@pytest.fixture
def stream(handoff_api: tuple[Service, EventStream]) -> EventStream:
    return handoff_api[1]
