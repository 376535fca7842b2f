"""The handoff service's API over real HTTP: authentication, idempotent creation, the queue,
claiming, replying, handing back, live customer messages and cancellation from the event
stream, and clear answers to bad input. Rasa is a recording stand-in here; the end-to-end
tests use the real one."""
from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from handoff import auth
from handoff.app import ApiError, HandoffService
from handoff.config import Settings
from tests.handoff.conftest import EventStream, FakeRasa, Service, wait_for


def payload(conversation_id: str, **extra: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "conversation_id": conversation_id, "channel": "rest", "customer_id": "u-1",
        "reason": "explicit_request", "priority": "normal", "topic": "refund",
        "intent": {"name": "ask_refund_status", "confidence": 0.91},
        "emotion": {"latest": {"label": "upset", "score": 0.7}},
        "slots": {"order_id": "573262229751"},
        "summary": "转人工原因：客户主动要求人工。咨询：退款。",
        "transcript": [
            {"sender": "customer", "text": "我的退款到哪了 卡号 6222 0212 3456 7890 123",
             "timestamp": now - 5, "intent": {"name": "ask_refund_status", "confidence": 0.9}},
            {"sender": "bot", "text": "请发一下您的订单号", "timestamp": now - 4},
            {"sender": "customer", "text": "转人工", "timestamp": now - 1},
        ],
        "requested_at": now - 1,
        **extra,
    }


def create(service: Service, conversation_id: str, key: str | None = None,
           **extra: Any) -> requests.Response:
    return service.post("/api/v1/handoffs", payload(conversation_id, **extra),
                        headers={**service.bot, "Idempotency-Key": key or conversation_id})


def new_id() -> str:
    return f"api-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def service(handoff_api: tuple[Service, EventStream]) -> Service:
    return handoff_api[0]


@pytest.fixture
def stream(handoff_api: tuple[Service, EventStream]) -> EventStream:
    return handoff_api[1]


def test_every_api_endpoint_needs_a_valid_token(service: Service) -> None:
    assert service.get("/api/v1/handoffs", headers={}).status_code == 401
    assert service.get("/api/v1/handoffs",
                       headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert service.get("/api/v1/handoffs", headers={"Authorization": "Basic x"}).status_code == 401
    # Agents cannot create handoffs, the bot cannot act as an agent.
    agent = service.agent("api-li", "小李")
    assert create(service, new_id()).status_code == 201
    assert service.post("/api/v1/handoffs", payload(new_id()), headers=agent).status_code == 403
    assert service.post("/api/v1/handoffs/hx/claim").status_code == 403
    assert service.get("/health", headers={}).json() == {"status": "ok"}


def test_login_refuses_a_wrong_password_and_a_logged_out_session(service: Service) -> None:
    service.agent("api-zhao", "小赵")
    wrong = service.post("/api/v1/auth/login", {"username": "api-zhao", "password": "nope"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "bad_credentials"
    assert service.post("/api/v1/auth/login", {"username": "nobody", "password": "x" * 12}
                        ).status_code == 401
    login = service.post("/api/v1/auth/login", {"username": "api-zhao",
                                                "password": "correct-horse-42"}).json()
    headers = {"Authorization": f"Bearer {login['token']}"}
    assert service.get("/api/v1/me", headers=headers).json()["agent"]["display_name"] == "小赵"
    assert service.post("/api/v1/auth/logout", headers=headers).status_code == 200
    assert service.get("/api/v1/me", headers=headers).status_code == 401


def test_repeated_wrong_passwords_lock_the_account_for_a_minute(service: Service) -> None:
    service.create_agent("api-guess", "小郭")
    for _ in range(5):
        wrong = service.post("/api/v1/auth/login", {"username": "api-guess", "password": "x"})
        assert wrong.status_code == 401
    locked = service.post("/api/v1/auth/login", {"username": "api-guess",
                                                 "password": "correct-horse-42"})
    assert locked.status_code == 429 and "1 分钟" in locked.json()["message"]


def test_a_guesser_behind_the_same_proxy_cannot_lock_an_agent_out(service: Service) -> None:
    service.create_agent("api-proxied", "小冯")
    guesser = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(6):
        service.post("/api/v1/auth/login", {"username": "api-proxied", "password": "x"},
                     headers=guesser)
    locked = service.post("/api/v1/auth/login", {"username": "api-proxied",
                                                 "password": "correct-horse-42"}, headers=guesser)
    assert locked.status_code == 429
    agent = service.post("/api/v1/auth/login", {"username": "api-proxied",
                                                "password": "correct-horse-42"},
                         headers={"X-Forwarded-For": "198.51.100.20"})
    assert agent.status_code == 200 and agent.json()["token"]


@pytest.mark.parametrize("raw", [
    b'{"username": "x\\ud800", "password": "yyyyyyyyyyyy"}',
    b'{"username": "a\\u0000b", "password": "yyyyyyyyyyyy"}',
])
def test_logins_with_invalid_characters_get_a_400(service: Service, raw: bytes) -> None:
    resp = requests.post(f"{service.url}/api/v1/auth/login", data=raw, timeout=10,
                         headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_text"


def test_creating_an_agent_twice_or_with_a_short_password_fails_clearly(service: Service) -> None:
    service.agent("api-wu")
    again = service.create_agent("api-wu", "小吴")
    assert again.returncode == 1 and "exists" in again.stderr


def test_the_same_idempotency_key_creates_one_handoff(service: Service) -> None:
    conversation = new_id()
    first = create(service, conversation, key=f"{conversation}:1")
    again = create(service, conversation, key=f"{conversation}:1")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    # Another request while one is open joins the open one.
    assert create(service, conversation, key=f"{conversation}:2").json()["id"] == first.json()["id"]
    assert len(service.handoffs_of(conversation)) == 1


def test_a_handoff_carries_the_contract_fields_and_masks_card_numbers(service: Service) -> None:
    body = create(service, new_id()).json()
    for field in ("id", "conversation_id", "status", "reason", "priority", "summary",
                  "transcript"):
        assert field in body
    assert body["status"] == "queued" and body["position"] >= 1 and body["eta_minutes"] >= 1
    first = body["transcript"][0]
    assert set(first) >= {"sender", "text", "timestamp"}
    assert "6222***********0123" in first["text"] and "3456 7890" not in first["text"]
    assert [t["sender"] for t in body["transcript"]][:3] == ["customer", "bot", "customer"]
    # ... then what the bot told the customer about the queue (issue 23).
    assert body["transcript"][-1]["source"] == "notice"
    fetched = service.get(f"/api/v1/handoffs/{body['id']}").json()
    assert fetched["slots"] == {"order_id": "573262229751"} and fetched["intent"]["confidence"]


@pytest.mark.parametrize("body, status, error", [
    (b"{not json", 400, "malformed_json"),
    (b"[]", 400, "invalid_payload"),
    (b'{"conversation_id": "x", "reason": "bored", "transcript": []}', 400, "invalid_payload"),
    (b'{"conversation_id": "", "reason": "complaint", "transcript": []}', 400, "invalid_payload"),
    (b'{"conversation_id": "x", "reason": "complaint", "transcript": [{"sender": "cat"}]}',
     400, "invalid_payload"),
])
def test_bad_payloads_get_a_clear_400(service: Service, body: bytes, status: int,
                                      error: str) -> None:
    resp = requests.post(f"{service.url}/api/v1/handoffs", data=body, timeout=10,
                         headers={**service.bot, "Idempotency-Key": "k-bad"})
    assert resp.status_code == status and resp.json()["error"] == error, resp.text


@pytest.mark.parametrize("stamp", [1e300, -5, 4102444800 * 2, "9999-12-31T00:00:00", "soon"])
def test_a_poisoned_timestamp_is_refused_and_the_queue_stays_readable(
        service: Service, stamp: Any) -> None:
    bad = payload(new_id())
    bad["transcript"][0]["timestamp"] = stamp
    resp = requests.post(f"{service.url}/api/v1/handoffs", json=bad, timeout=10,
                         headers={**service.bot, "Idempotency-Key": f"k-{uuid.uuid4().hex}"})
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_payload", resp.text
    assert service.get("/api/v1/handoffs").status_code == 200


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"a":' * 50 + b"1" + b"}" * 50,
                                 b'{"conversation_id": "\\ud800"}', b"\xff\xfe"])
def test_hostile_bodies_get_a_400_not_a_500(service: Service, raw: bytes) -> None:
    resp = requests.post(f"{service.url}/api/v1/handoffs", data=raw, timeout=10,
                         headers={**service.bot, "Idempotency-Key": "k-hostile"})
    assert resp.status_code == 400, resp.text


@pytest.mark.parametrize("after", ["9" * 40, "-1", "1e9", "０"])
def test_message_feeds_refuse_an_after_that_is_not_a_small_integer(
        service: Service, after: str) -> None:
    body = create(service, new_id()).json()
    resp = service.get(f"/api/v1/handoffs/{body['id']}/messages?after={quote(after)}")
    assert resp.status_code == 400 and resp.json()["error"] == "bad_after"


def test_a_very_long_console_file_name_is_a_404(service: Service) -> None:
    resp = requests.get(f"{service.url}/console/static/{'a' * 5000}.js", timeout=10)
    assert resp.status_code == 404


def test_a_missing_idempotency_key_is_refused(service: Service) -> None:
    resp = service.post("/api/v1/handoffs", payload(new_id()))
    assert resp.status_code == 400 and resp.json()["error"] == "missing_idempotency_key"


def test_the_queue_is_sorted_by_priority_then_waiting_time(service: Service) -> None:
    normal, urgent, high = new_id(), new_id(), new_id()
    create(service, normal)
    create(service, urgent, priority="urgent", reason="high_risk")
    create(service, high, priority="high", reason="complaint")
    queue = [h["conversation_id"] for h in
             service.get("/api/v1/handoffs?status=queued").json()["handoffs"]]
    mine = [c for c in queue if c in (normal, urgent, high)]
    assert mine == [urgent, high, normal]
    positions = {h["conversation_id"]: h["position"] for h in
                 service.get("/api/v1/handoffs").json()["handoffs"]}
    assert positions[urgent] < positions[high] < positions[normal]
    assert service.get("/api/v1/handoffs?status=bogus").status_code == 400


def test_claim_reply_and_hand_back_reach_the_customer_through_rasa(
        service: Service, fake_rasa: FakeRasa) -> None:
    conversation = new_id()
    handoff = create(service, conversation).json()
    agent, other = service.agent("api-wang", "小王"), service.agent("api-chen", "小陈")
    base = f"/api/v1/handoffs/{handoff['id']}"

    # Replying before claiming is refused; claiming pauses the bot and tells the customer.
    assert service.post(f"{base}/messages", {"text": "您好"}, headers=agent).status_code == 409
    claimed = service.post(f"{base}/claim", headers=agent)
    assert claimed.status_code == 200 and claimed.json()["agent"] == "小王"
    events = fake_rasa.events_for(conversation)
    assert events[0] == {"event": "pause"}
    assert events[1]["data"]["custom"]["handoff"] == {
        "state": "agent_joined", "position": None, "eta_minutes": None, "agent": "小王"}
    assert "小王" in events[1]["text"]
    assert all(q == {"output_channel": "latest", "execute_side_effects": "true",
                     "token": "dev-only-rasa-token"}
               for c, _, q in fake_rasa.calls if c == conversation)

    # Another agent cannot take it over or write into it.
    assert service.post(f"{base}/claim", headers=other).status_code == 409
    assert service.post(f"{base}/messages", {"text": "hi"}, headers=other).status_code == 409

    reply = service.post(f"{base}/messages", {"text": "您好，我是客服小王，马上帮您查。"},
                         headers=agent)
    assert reply.status_code == 201
    relayed = fake_rasa.events_for(conversation)[-1]
    assert relayed["text"] == "您好，我是客服小王，马上帮您查。"
    assert relayed["data"]["custom"]["handoff"]["state"] == "agent_message"
    assert relayed["metadata"]["handoff"]["agent"] == "小王"

    # REST integrations read the same messages from the customer feed.
    feed = service.get(f"/api/v1/conversations/{conversation}/messages").json()["messages"]
    assert [m["custom"]["handoff"]["state"] for m in feed] == ["agent_joined", "agent_message"]
    later = service.get(f"/api/v1/conversations/{conversation}/messages?after={feed[0]['id']}")
    assert len(later.json()["messages"]) == 1

    back = service.post(f"{base}/handback", headers=agent)
    assert back.status_code == 200 and back.json()["status"] == "handed_back"
    tail = fake_rasa.events_for(conversation)[-3:]
    assert tail[0]["data"]["custom"]["handoff"]["state"] == "bot_back"
    assert tail[1:] == [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
    assert service.post(f"{base}/resolve", headers=agent).status_code == 409


@pytest.mark.parametrize("text, code", [("", "empty_message"), ("   ", "empty_message"),
                                        ("长" * 2001, "message_too_long"),
                                        (None, "empty_message")])
def test_bad_agent_messages_get_a_clear_answer(service: Service, text: Any, code: str) -> None:
    handoff = create(service, new_id()).json()
    agent = service.agent("api-sun", "小孙")
    service.post(f"/api/v1/handoffs/{handoff['id']}/claim", headers=agent)
    resp = service.post(f"/api/v1/handoffs/{handoff['id']}/messages", {"text": text},
                        headers=agent)
    assert resp.status_code == 400 and resp.json()["error"] == code


def test_when_rasa_is_down_a_claim_fails_and_changes_nothing(
        service: Service, fake_rasa: FakeRasa) -> None:
    handoff = create(service, new_id()).json()
    agent = service.agent("api-zhou", "小周")
    fake_rasa.fail = True
    try:
        resp = service.post(f"/api/v1/handoffs/{handoff['id']}/claim", headers=agent)
    finally:
        fake_rasa.fail = False
    assert resp.status_code == 502 and resp.json()["error"] == "rasa_unreachable"
    assert service.get(f"/api/v1/handoffs/{handoff['id']}").json()["status"] == "queued"


def test_unknown_handoff_is_404(service: Service) -> None:
    agent = service.agent("api-li", "小李")
    assert service.get("/api/v1/handoffs/hnope").status_code == 404
    assert service.post("/api/v1/handoffs/hnope/claim", headers=agent).status_code == 404


def test_customer_messages_arrive_live_from_the_event_stream(
        service: Service, stream: EventStream) -> None:
    conversation = new_id()
    handoff = create(service, conversation).json()
    stream.user(conversation, "订单号是573262229751，<script>alert(1)</script>")
    stream.user("someone-else", "这条不属于这个会话")

    def live() -> list[dict[str, Any]]:
        rows = service.get(f"/api/v1/handoffs/{handoff['id']}/messages?after=0").json()
        return [m for m in rows["messages"] if m["source"] == "live"]

    [message] = wait_for(live)
    # Stored as the customer wrote it; the console escapes it.
    assert message["text"] == "订单号是573262229751，<script>alert(1)</script>"
    assert message["sender"] == "customer" and message["intent"]["name"] == "inform"


def test_saying_never_mind_while_queued_cancels_and_resumes_the_bot(
        service: Service, stream: EventStream, fake_rasa: FakeRasa) -> None:
    conversation = new_id()
    handoff = create(service, conversation).json()
    stream.user(conversation, "算了不用了", intent="deny")

    def status() -> str | None:
        current = service.get(f"/api/v1/handoffs/{handoff['id']}").json()["status"]
        return current if current == "cancelled" else None

    wait_for(status)
    # The status changes first; the notice and the resume reach Rasa just after.
    events = wait_for(lambda: (lambda found: found if len(found) >= 3 else None)(
        fake_rasa.events_for(conversation)))
    assert events[0]["data"]["custom"]["handoff"]["state"] == "cancelled"
    assert events[1:] == [{"event": "resume"}, {"event": "action", "name": "action_listen"}]


def test_a_restarted_conversation_ends_its_handoff_and_the_agent_is_told(
        service: Service, stream: EventStream) -> None:
    conversation = new_id()
    handoff = create(service, conversation).json()
    agent = service.agent("api-he", "小何")
    assert service.post(f"/api/v1/handoffs/{handoff['id']}/claim", headers=agent).ok
    stream.restart(conversation)

    def ended() -> dict[str, Any] | None:
        current = service.get(f"/api/v1/handoffs/{handoff['id']}").json()
        return current if current["status"] == "handed_back" else None

    final = wait_for(ended)
    assert "重新开始了对话" in final["transcript"][-1]["text"]


def test_the_bot_can_cancel_a_waiting_handoff_but_not_resolve_it(service: Service) -> None:
    handoff = create(service, new_id()).json()
    assert service.post(f"/api/v1/handoffs/{handoff['id']}/resolve").status_code == 403
    cancelled = service.post(f"/api/v1/handoffs/{handoff['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def test_console_and_openapi_are_served(service: Service) -> None:
    page = requests.get(f"{service.url}/console/", timeout=10)
    assert page.status_code == 200 and "人工客服工作台" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    spec = requests.get(f"{service.url}/openapi.yaml", timeout=10)
    assert spec.status_code == 200 and "/api/v1/handoffs" in spec.text


@pytest.mark.parametrize("page", ["/console/", "/console/reports"])
def test_every_script_of_the_console_pages_is_served_as_javascript_with_the_same_policy(
        service: Service, page: str) -> None:
    html = requests.get(f"{service.url}{page}", timeout=10)
    scripts = re.findall(r'<script src="([^"]+)"', html.text)
    # The helpers shared by the console and the reports page come first (common.js).
    assert scripts[scripts.index("/console/static/common.js") + 1].endswith(
        "/console.js" if page == "/console/" else "/reports.js")
    for src in scripts:
        got = requests.get(f"{service.url}{src}", timeout=10)
        assert got.status_code == 200, src
        assert got.headers["Content-Type"].startswith("text/javascript"), src
        assert got.headers["X-Content-Type-Options"] == "nosniff", src
        assert got.headers["Content-Security-Policy"] == html.headers["Content-Security-Policy"]


def test_a_late_handoff_is_answered_before_the_queued_notice_goes_to_rasa(
        service: Service, fake_rasa: FakeRasa) -> None:
    # Rasa holds the conversation (its lock taken by the turn that posts this handoff): the
    # service must answer the POST without waiting for Rasa, then send the notice.
    conversation = new_id()
    fake_rasa.held.add(conversation)
    fake_rasa.released.clear()
    try:
        resp = requests.post(f"{service.url}/api/v1/handoffs", timeout=3,
                             json=payload(conversation, bot_paused=False),
                             headers={**service.bot, "Idempotency-Key": conversation})
        assert resp.status_code == 201 and fake_rasa.events_for(conversation) == []
    finally:
        fake_rasa.released.set()
        fake_rasa.held.discard(conversation)
    [event] = wait_for(lambda: fake_rasa.events_for(conversation))
    assert event["data"]["custom"]["handoff"]["state"] == "queued"
    assert "排在第" in event["text"] and "算了不用了" in event["text"]
    feed = service.get(f"/api/v1/conversations/{conversation}/messages").json()["messages"]
    assert [m["custom"]["handoff"]["state"] for m in feed] == ["queued"]


def test_unverified_customer_ids_are_marked(service: Service) -> None:
    assert create(service, new_id()).json()["customer_id_verified"] is False
    verified = create(service, new_id(), customer_id="wechat_oAbC", customer_id_verified=True)
    assert verified.json()["customer_id_verified"] is True


def test_login_does_the_same_work_for_unknown_users_and_throttles_per_address(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = HandoffService(Settings(db_url=f"sqlite:///{tmp_path / 'h.db'}", events_url=""))
    service.store.add_agent("li", "小李", auth.hash_password("correct-horse-42"))
    auth.dummy_hash()  # computed once, at the first unknown login at the latest
    hashed, checked = [], []
    monkeypatch.setattr(auth, "hash_password", lambda p: hashed.append(p) or "x")
    verify = auth.verify_password
    monkeypatch.setattr(auth, "verify_password",
                        lambda p, h: checked.append(h) or verify(p, h))

    async def attempt(user: str, password: str, address: str = "10.0.0.1") -> int:
        try:
            await service.login(user, password, address)
            return 200
        except ApiError as error:
            return error.status

    async def scenario() -> None:
        assert await attempt("nobody", "whatever-123") == 401
        assert await attempt("li", "wrong-password") == 401
        # One scrypt run each, no extra hashing for the unknown user.
        assert len(checked) == 2 and hashed == []
        for _ in range(4):
            await attempt("li", "wrong-password")
        assert await attempt("li", "correct-horse-42") == 429  # this address is throttled
        assert await attempt("li", "correct-horse-42", "10.0.0.2") == 200  # not the agent

    asyncio.run(scenario())
