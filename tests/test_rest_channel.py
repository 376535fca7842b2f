"""The bot over real HTTP: the REST channel customers' integrations use and the HTTP API."""
from __future__ import annotations

import uuid

import requests


def send(base: str, text: str, sender: str | None = None) -> list[dict]:
    response = requests.post(
        f"{base}/webhooks/rest/webhook",
        json={"sender": sender or f"rest-{uuid.uuid4().hex}", "message": text},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def test_done_when_conversation_over_rest(rasa_server: str) -> None:
    sender = f"rest-{uuid.uuid4().hex}"
    assert "您好" in texts(send(rasa_server, "你好", sender))
    assert "人工客服" in texts(send(rasa_server, "转人工", sender))
    # That conversation now waits for an agent (tests/handoff/); the bot answers the others.
    assert "订单" in texts(send(rasa_server, "今天天气怎么样"))


def test_conversation_is_stored_with_the_original_text(rasa_server: str) -> None:
    import os

    sender = f"rest-{uuid.uuid4().hex}"
    send(rasa_server, "你好 <script>alert(1)</script>", sender)
    tracker = requests.get(
        f"{rasa_server}/conversations/{sender}/tracker",
        params={"token": os.environ["RASA_AUTH_TOKEN"]},
        timeout=10,
    ).json()
    user_texts = [e["text"] for e in tracker["events"] if e["event"] == "user"]
    assert user_texts == ["你好 <script>alert(1)</script>"]
    bot_texts = [e["text"] for e in tracker["events"] if e["event"] == "bot"]
    assert bot_texts and all("<script>" not in t for t in bot_texts)


def test_http_api_rejects_a_wrong_token(rasa_server: str) -> None:
    response = requests.get(
        f"{rasa_server}/conversations/someone/tracker", params={"token": "wrong"}, timeout=10
    )
    assert response.status_code == 401


def test_malformed_json_gets_a_client_error_not_a_crash(rasa_server: str) -> None:
    response = requests.post(
        f"{rasa_server}/webhooks/rest/webhook",
        data='{"sender": "x", "message": ',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert 400 <= response.status_code < 500
    assert "您好" in texts(send(rasa_server, "你好"))  # and the server still answers


def test_huge_message_over_rest_gets_an_answer(rasa_server: str) -> None:
    assert "有点长" in texts(send(rasa_server, "退款" * 2500))
    # Past the body cap the request itself is refused, with a reason a person can read.
    response = requests.post(f"{rasa_server}/webhooks/rest/webhook", timeout=30,
                             json={"sender": "rest-huge", "message": "退款" * 20000})
    assert response.status_code == 413 and "字节" in response.json()["message"]
