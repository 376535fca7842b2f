"""The REST channel never answers a customer with nothing: a turn that failed behind the bot
(action server down, an action crashed, handling the message raised) gets an apology with the
hotline, once, unless a human agent has the conversation; with and without `?stream=true`."""
from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels import rest
from bot.channels.rest import CANCELLING, FORWARDED, ShopRestInput
from bot.channels.silent import NOT_DELIVERED, not_handled
from bot.faq import load_policy

# What the stand-in for Rasa does with a message: raise, as when the tracker store or the lock
# store is down; else answer `reply`, or nothing as when the action server is unreachable.
CRASH = RuntimeError("tracker store unreachable")


def post(reply: str | None, paused: bool, monkeypatch: pytest.MonkeyPatch,
         text: str = "我的快递到哪了", crash: bool = False,
         stream: bool = False) -> list[dict[str, Any]]:
    """Send one message through the channel's routes to a stand-in for Rasa that answers
    `reply` (or nothing) and then raises if `crash`; the JSON messages the customer gets."""

    async def fake_paused(sender_id: str | None) -> bool:
        return paused

    monkeypatch.setattr(rest, "is_paused", fake_paused)

    async def on_new_message(message: UserMessage) -> None:
        if reply is not None:
            await message.output_channel.send_text_message(message.sender_id, reply)
        if crash:
            raise CRASH

    app = Sanic(f"rest_silent_{uuid.uuid4().hex[:8]}")
    app.blueprint(ShopRestInput().blueprint(on_new_message), url_prefix="/webhooks/rest")
    try:
        _, response = app.test_client.post(
            "/webhooks/rest/webhook" + ("?stream=true" if stream else ""),
            json={"sender": "c1", "message": text},
        )
    finally:
        Sanic._app_registry.pop(app.name, None)
    assert response.status == 200
    if stream:
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]
    return response.json


def test_a_turn_that_produced_nothing_gets_an_apology_with_the_hotline(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    [message] = post(None, paused=False, monkeypatch=monkeypatch)
    assert message["text"] == not_handled()
    assert load_policy()["hotline"] in message["text"] and "没能处理好" in message["text"]
    assert any(r.levelno == logging.ERROR and "c1" in r.getMessage() for r in caplog.records)


def test_a_turn_whose_handling_raised_gets_one_apology_and_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    assert post(None, paused=False, monkeypatch=monkeypatch, crash=True) == [
        {"recipient_id": "c1", "text": not_handled()}
    ]
    [crash] = [r for r in caplog.records if r.exc_info and "c1" in r.getMessage()]
    assert crash.levelno == logging.ERROR and crash.exc_info[1] is CRASH


def test_no_apology_on_top_of_an_answer_cut_short_by_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    messages = post("您的订单已发货。", paused=False, monkeypatch=monkeypatch, crash=True)
    assert [m["text"] for m in messages] == ["您的订单已发货。"]


def test_a_normal_answer_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    messages = post("您的订单已发货。", paused=False, monkeypatch=monkeypatch)
    assert messages == [{"recipient_id": "c1", "text": "您的订单已发货。"}]


def test_while_an_agent_has_the_conversation_the_message_is_forwarded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [message] = post(None, paused=True, monkeypatch=monkeypatch)
    assert message["text"] == FORWARDED


def test_while_an_agent_has_the_conversation_a_crash_asks_to_send_the_message_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    # Not "forwarded": after a crash the agent may never have got the message.
    [message] = post(None, paused=True, monkeypatch=monkeypatch, crash=True)
    assert message["text"] == NOT_DELIVERED
    assert any(r.exc_info and r.exc_info[1] is CRASH for r in caplog.records)


@pytest.mark.parametrize("crash", [False, True], ids=["no_reply", "crash"])
def test_a_streamed_failed_turn_gets_the_apology_and_ends(
    monkeypatch: pytest.MonkeyPatch, crash: bool,
) -> None:
    messages = post(None, paused=False, monkeypatch=monkeypatch, crash=crash, stream=True)
    assert messages == [{"recipient_id": "c1", "text": not_handled()}]


def test_a_streamed_answer_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    messages = post("您的订单已发货。", paused=False, monkeypatch=monkeypatch, stream=True)
    assert messages == [{"recipient_id": "c1", "text": "您的订单已发货。"}]


def test_a_streamed_message_while_an_agent_has_the_conversation_is_forwarded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    messages = post(None, paused=True, monkeypatch=monkeypatch, text="算了不用了", stream=True)
    assert [m["text"] for m in messages] == [CANCELLING]


def test_restart_over_rest_is_answered_not_apologised_for(rasa_server: str) -> None:
    import requests

    response = requests.post(f"{rasa_server}/webhooks/rest/webhook",
                             json={"sender": "restart-check", "message": "/restart"}, timeout=60)
    texts = [m.get("text") for m in response.json()]
    assert texts == ["好的，我们重新开始。请问有什么可以帮您？"]
