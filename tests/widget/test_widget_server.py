"""The widget's server side over real HTTP and WebSocket: socket.io channel, history, ratings,
demo page and files. The browser tests are in test_widget_browser.py."""
from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import websocket

from contracts.widget import HEADER, widget_message
from tests.conftest import free_port, start_process, stop_process, wait_until_up
from tests.widget.conftest import csat_summary, handoff_event, session_id, token_of
from widget.app import SOCKET_IO, widget_script
from widget.history import conversation_messages


class SocketClient:
    """A minimal Socket.IO v5 client over a raw WebSocket: the channel's packets as sent."""

    def __init__(self, rasa_url: str) -> None:
        url = rasa_url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(url, timeout=30)
        assert self.ws.recv().startswith("0{")
        self.ws.send("40")
        assert self.ws.recv().startswith("40")

    def emit(self, name: str, data: Any) -> None:
        self.ws.send("42" + json.dumps([name, data], ensure_ascii=False))

    def next_event(self) -> tuple[str, Any]:
        """The next socket.io event, answering pings on the way."""
        while True:
            packet = self.ws.recv()
            if packet == "2":
                self.ws.send("3")
            elif packet.startswith("42"):
                name, data = json.loads(packet[2:])
                return name, data

    def session(self, requested: str | None, token: str | None = None) -> str:
        """Ask for a session (with its token to resume it); keeps the token given."""
        self.emit("session_request", {"session_id": requested, "session_token": token})
        name, confirmed = self.next_event()
        assert name == "session_confirm"
        name, given = self.next_event()
        assert name == "session_token" and given["session_id"] == confirmed
        self.token = given["token"]
        return confirmed

    def close(self) -> None:
        self.ws.close()


def tracker(rasa_server: str, conversation_id: str) -> dict[str, Any]:
    answer = requests.get(f"{rasa_server}/conversations/{conversation_id}/tracker",
                          params={"token": os.environ["RASA_AUTH_TOKEN"]}, timeout=10)
    assert answer.status_code == 200
    return answer.json()


# ---- socket.io channel ---------------------------------------------------------------


def test_socket_refuses_foreign_session_ids_and_answers_in_its_own(rasa_server: str) -> None:
    client = SocketClient(rasa_server)
    try:
        confirmed = client.session("demo-1")  # e.g. a REST customer's conversation id
        assert confirmed != "demo-1" and len(confirmed) == 32
        client.emit("user_uttered", {"message": "你好", "session_id": "demo-1"})
        client.emit("user_uttered", {"message": "你好", "session_id": confirmed})
        name, reply = client.next_event()
        assert name == "bot_uttered" and "您好" in reply["text"]
    finally:
        client.close()
    assert not [e for e in tracker(rasa_server, "demo-1")["events"] if e["event"] == "user"]


def test_handoff_state_pushed_through_http_api_arrives_as_one_message(
    rasa_server: str, push: Callable
) -> None:
    client = SocketClient(rasa_server)
    try:
        sid = client.session(session_id())
        client.emit("user_uttered", {"message": "你好", "session_id": sid})
        client.next_event()
        push(sid, [handoff_event("已为您转接人工客服，请稍候。", "queued", position=2,
                                 eta_minutes=3)])
        name, message = client.next_event()
    finally:
        client.close()
    assert name == "bot_uttered"
    assert message["text"] == "已为您转接人工客服，请稍候。"
    assert message["custom"]["handoff"] == {"state": "queued", "position": 2, "eta_minutes": 3,
                                            "agent": None}


def test_a_resumed_session_receives_pushes_to_it(rasa_server: str, push: Callable) -> None:
    first = SocketClient(rasa_server)
    sid = first.session(session_id())
    first.emit("user_uttered", {"message": "你好", "session_id": sid})
    first.next_event()
    first.close()
    again = SocketClient(rasa_server)  # a reload: new socket, same session
    try:
        assert again.session(sid, first.token) == sid
        push(sid, [{"event": "bot", "text": "您好，我是客服小王。",
                    "metadata": {"handoff": {"state": "agent_message", "agent": "小王"}}}])
        _, message = again.next_event()
    finally:
        again.close()
    assert message["text"] == "您好，我是客服小王。"
    assert message["custom"]["handoff"]["agent"] == "小王"


def test_widget_message_shape() -> None:
    message = widget_message({
        "text": "请选择", "buttons": [{"title": "退货", "payload": "/faq"}],
        "custom": {"data": {"handoff": {"state": "bot_back"}}},
        "model_id": "secret-ish", "utter_action": "utter_x", "timestamp": 1.5,
    })
    assert message == {"text": "请选择", "quick_replies": [{"title": "退货", "payload": "/faq"}],
                       "custom": {"handoff": {"state": "bot_back"}}, "response": "utter_x",
                       "timestamp": 1.5}


# ---- history -------------------------------------------------------------------------


def _user(text: str, channel: str = "socketio", **metadata: Any) -> dict[str, Any]:
    return {"event": "user", "text": text, "timestamp": 1.0, "input_channel": channel,
            "metadata": metadata}


def _bot(text: str, **data: Any) -> dict[str, Any]:
    return {"event": "bot", "text": text, "timestamp": 2.0, "data": data,
            "metadata": {"model_id": "m1"}}


def test_history_shows_button_titles_not_payloads() -> None:
    events = [_user("你好", client_id="c1"),
              _bot("请选择", buttons=[{"title": "怎么退货", "payload": "/faq{\"k\":\"r\"}"}]),
              _user("/faq{\"k\":\"r\"}"), _user("/faq{\"k\":\"x\"}", display_text="专票")]
    messages = conversation_messages(events)
    assert [m["text"] for m in messages] == ["你好", "请选择", "怎么退货", "专票"]
    assert messages[0]["client_id"] == "c1"
    assert "model_id" not in json.dumps(messages)


def test_history_is_empty_for_conversations_of_other_channels() -> None:
    assert conversation_messages([_user("你好", channel="rest"), _bot("您好")]) == []
    assert conversation_messages([]) == []


def test_history_endpoint_rebuilds_a_widget_conversation(
    rasa_server: str, widget_server: str
) -> None:
    client = SocketClient(rasa_server)
    try:
        sid = client.session(session_id())
        client.emit("user_uttered", {"message": "你好 <b>hi</b>", "session_id": sid,
                                     "metadata": {"client_id": "c123"}})
        client.next_event()
    finally:
        client.close()
    assert requests.get(f"{widget_server}/api/history/{sid}", timeout=10).status_code == 403
    answer = requests.get(f"{widget_server}/api/history/{sid}", timeout=10,
                          headers={HEADER: client.token})
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    messages = answer.json()["messages"]
    assert messages[0] == {"from": "customer", "text": "你好 <b>hi</b>", "client_id": "c123",
                           "timestamp": messages[0]["timestamp"]}
    assert messages[1]["from"] == "bot" and messages[1]["text"]


@pytest.mark.parametrize("bad_id", ["demo-1", "ABCDEF0123456789ABCDEF0123456789", "x" * 300])
def test_history_refuses_ids_the_channel_never_issues(widget_server: str, bad_id: str) -> None:
    answer = requests.get(f"{widget_server}/api/history/{bad_id}", timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_session_id"


def test_history_of_a_conversation_that_never_used_the_widget_is_empty(
    widget_server: str, rasa_server: str
) -> None:
    sid = session_id()
    refused = requests.post(f"{rasa_server}/webhooks/rest/webhook",
                            json={"sender": sid, "message": "你好"}, timeout=30)
    assert refused.status_code == 400  # REST cannot write into a widget-shaped conversation
    answer = requests.get(f"{widget_server}/api/history/{sid}", timeout=10,
                          headers={HEADER: token_of(sid)})
    assert answer.json()["messages"] == []


def test_history_and_ratings_say_when_rasa_is_unreachable(
    logs_dir: Path, tmp_path: Path
) -> None:
    port, closed = free_port(), free_port()
    log = logs_dir / "widget-no-rasa.log"
    process = start_process(
        [sys.executable, "-m", "widget", "--port", str(port), "--db", str(tmp_path / "w.db"),
         "--no-access-log"], log, {"RASA_URL": f"http://127.0.0.1:{closed}"})
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/health", process, log)
        sid = session_id()
        answer = requests.get(f"{base}/api/history/{sid}", timeout=10,
                              headers={HEADER: token_of(sid)})
        assert answer.status_code == 503 and answer.json()["error"] == "rasa_unavailable"
        answer = requests.post(f"{base}/api/csat", json={
            "session_id": sid, "rating": 4, "episode": "c:1", "trigger": "closed"},
            timeout=10, headers={HEADER: token_of(sid)})
        assert answer.status_code == 503
    finally:
        stop_process(process)


# ---- satisfaction ratings ------------------------------------------------------------


@pytest.mark.parametrize("body, code", [
    (b"{not json", "invalid_json"),
    (b"[1, 2]", "invalid_json"),
    (json.dumps({"session_id": "demo-1", "rating": 5}).encode(), "invalid_session_id"),
    (json.dumps({"session_id": "a" * 32, "rating": 6, "episode": "e",
                 "trigger": "closed"}).encode(), "invalid_rating"),
    (json.dumps({"session_id": "a" * 32, "rating": True, "episode": "e",
                 "trigger": "closed"}).encode(), "invalid_rating"),
    (json.dumps({"session_id": "a" * 32, "rating": "5", "episode": "e",
                 "trigger": "closed"}).encode(), "invalid_rating"),
    (json.dumps({"session_id": "a" * 32, "rating": 5, "episode": "<script>",
                 "trigger": "closed"}).encode(), "invalid_episode"),
    (json.dumps({"session_id": "a" * 32, "rating": 5, "episode": "e",
                 "trigger": "whatever"}).encode(), "invalid_trigger"),
    (json.dumps({"session_id": "a" * 32, "rating": 5, "episode": "e", "trigger": "closed",
                 "comment": "很" * 501}, ensure_ascii=False).encode(), "invalid_comment"),
])
def test_bad_ratings_get_a_clear_answer(widget_server: str, body: bytes, code: str) -> None:
    answer = requests.post(f"{widget_server}/api/csat", data=body,
                           headers={"Content-Type": "application/json"}, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"] == code


def test_rating_needs_the_session_token(widget_server: str) -> None:
    sid = session_id()
    for token in (None, "0" * 40, token_of(session_id())):
        answer = requests.post(f"{widget_server}/api/csat", json={
            "session_id": sid, "rating": 1, "episode": "c:1", "trigger": "closed"},
            timeout=10, headers={HEADER: token} if token else {})
        assert answer.status_code == 403, token
        assert answer.json()["error"] == "invalid_session_token"


def test_history_needs_the_session_token(widget_server: str) -> None:
    sid = session_id()
    for headers in ({}, {HEADER: "x" * 40}, {HEADER: token_of(session_id())}):
        answer = requests.get(f"{widget_server}/api/history/{sid}", timeout=10, headers=headers)
        assert answer.status_code == 403 and answer.json()["error"] == "invalid_session_token"


def test_a_session_is_resumed_only_with_its_token(rasa_server: str) -> None:
    first = SocketClient(rasa_server)
    sid = first.session(None)
    first.close()
    other = SocketClient(rasa_server)
    try:
        assert other.session(sid) != sid  # an id alone (seen in a log, say) is not enough
        assert other.session(sid, token_of(session_id())) != sid
    finally:
        other.close()


def test_csat_summary_is_for_supervisors(widget_server: str) -> None:
    assert requests.get(f"{widget_server}/api/csat/summary", timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer wrong"}
    assert requests.get(f"{widget_server}/api/csat/summary", headers=wrong,
                        timeout=10).status_code == 401


def test_rating_needs_a_widget_conversation(widget_server: str) -> None:
    sid = session_id()
    answer = requests.post(f"{widget_server}/api/csat", json={
        "session_id": sid, "rating": 5, "episode": "c:1", "trigger": "closed"},
        timeout=10, headers={HEADER: token_of(sid)})
    assert answer.status_code == 404
    assert answer.json()["error"] == "unknown_conversation"


def test_rating_is_stored_once_per_ending(rasa_server: str, widget_server: str) -> None:
    client = SocketClient(rasa_server)
    try:
        sid = client.session(session_id())
        client.emit("user_uttered", {"message": "谢谢", "session_id": sid})
        client.next_event()
    finally:
        client.close()
    before = csat_summary(widget_server)
    for rating, comment in ((2, ""), (4, "回复很快，谢谢")):
        answer = requests.post(f"{widget_server}/api/csat", json={
            "session_id": sid, "rating": rating, "episode": "g:1", "trigger": "goodbye",
            "comment": comment}, timeout=10, headers={HEADER: client.token})
        assert answer.status_code == 201, answer.text
    after = csat_summary(widget_server)
    assert after["ratings"] == before["ratings"] + 1  # the second answer replaced the first
    assert after["by_star"]["4"] == before["by_star"]["4"] + 1
    assert after["by_star"]["2"] == before["by_star"]["2"]


def test_cors_preflight_for_shops_on_another_origin(widget_server: str) -> None:
    answer = requests.options(f"{widget_server}/api/csat", headers={
        "Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST"},
        timeout=10)
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]


# ---- page and files ------------------------------------------------------------------


def test_demo_page_embeds_the_widget_with_one_script_tag(
    widget_server: str, rasa_server: str
) -> None:
    page = requests.get(f"{widget_server}/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert page.text.count("<script") == 1
    rasa_port = urlsplit(rasa_server).port
    assert f'src="/widget/shop-chat.js" data-socket-url="http://127.0.0.1:{rasa_port}"' \
        in page.text


def test_widget_files_declare_utf8_for_shops_with_gbk_pages(widget_server: str) -> None:
    script = requests.get(f"{widget_server}/widget/shop-chat.js", timeout=10)
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert "请输入您的问题" in script.text
    etag = script.headers["ETag"]
    again = requests.get(f"{widget_server}/widget/shop-chat.js",
                         headers={"If-None-Match": etag}, timeout=10)
    assert again.status_code == 304
    assert requests.get(f"{widget_server}/widget/shop-chat.css", timeout=10).headers[
        "Content-Type"] == "text/css; charset=utf-8"
    assert requests.get(f"{widget_server}/widget/..%2fapp.py", timeout=10).status_code == 404


def test_the_widget_script_is_the_pinned_socket_io_client_then_the_widget() -> None:
    recorded = (SOCKET_IO.parent / "socket.io.VERSION").read_text(encoding="utf-8")
    assert f"sha256 of socket.io.min.js: {hashlib.sha256(SOCKET_IO.read_bytes()).hexdigest()}" \
        in recorded, "the vendored file differs from the one scripts/vendor-socketio.sh fetched"
    script = widget_script().decode("utf-8")
    library = script.index("Socket.IO v4.8.1")
    assert library < script.index("var io = module.exports;") < script.index("请输入您的问题")
    assert "sourceMappingURL" not in script  # no request for a map the server does not have


def test_long_polling_from_a_shop_on_another_origin(rasa_server: str) -> None:
    shop = "https://shop.example.com"
    answer = requests.get(f"{rasa_server}/socket.io/", params={"EIO": "4", "transport": "polling"},
                          headers={"Origin": shop}, timeout=10)
    assert answer.status_code == 200 and answer.text.startswith("0{")
    assert answer.headers["Access-Control-Allow-Origin"] == shop
    assert "Access-Control-Allow-Credentials" not in answer.headers
