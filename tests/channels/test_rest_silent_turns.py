"""The REST channel never answers a customer with nothing: a turn that failed behind the bot
(action server down, an action crashed) gets an apology with the hotline."""
from __future__ import annotations

from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels import rest
from bot.channels.rest import FORWARDED, ShopRestInput, not_handled
from bot.faq import load_policy


def post(app_name: str, reply: str | None, paused: bool, monkeypatch: pytest.MonkeyPatch,
         text: str = "我的快递到哪了") -> list[dict[str, Any]]:
    """Send one message through the channel's routes to a stand-in for Rasa that answers
    `reply` (or nothing) and return the JSON the customer gets."""

    async def fake_paused(sender_id: str | None) -> bool:
        return paused

    monkeypatch.setattr(rest, "is_paused", fake_paused)

    async def on_new_message(message: UserMessage) -> None:
        if reply is not None:
            await message.output_channel.send_text_message(message.sender_id, reply)

    app = Sanic(app_name)
    app.blueprint(ShopRestInput().blueprint(on_new_message), url_prefix="/webhooks/rest")
    _, response = app.test_client.post(
        "/webhooks/rest/webhook", json={"sender": "c1", "message": text}
    )
    assert response.status == 200
    return response.json


def test_a_turn_that_produced_nothing_gets_an_apology_with_the_hotline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [message] = post("silent_turn", None, paused=False, monkeypatch=monkeypatch)
    assert message["text"] == not_handled()
    assert load_policy()["hotline"] in message["text"] and "没能处理好" in message["text"]


def test_a_normal_answer_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    messages = post("normal_turn", "您的订单已发货。", paused=False, monkeypatch=monkeypatch)
    assert [m["text"] for m in messages] == ["您的订单已发货。"]


def test_while_an_agent_has_the_conversation_the_message_is_forwarded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [message] = post("paused_turn", None, paused=True, monkeypatch=monkeypatch)
    assert message["text"] == FORWARDED


def test_restart_over_rest_is_answered_not_apologised_for(rasa_server: str) -> None:
    import requests

    response = requests.post(f"{rasa_server}/webhooks/rest/webhook",
                             json={"sender": "restart-check", "message": "/restart"}, timeout=60)
    texts = [m.get("text") for m in response.json()]
    assert texts == ["好的，我们重新开始。请问有什么可以帮您？"]
