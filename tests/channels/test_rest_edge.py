"""The REST channel's edge: what a hostile or careless client sends never reaches Rasa as is.

In process, with a stand-in for Rasa that records what it was given, so each test sees exactly
which sender, text, channel and metadata would have reached the tracker store."""
from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels import rest
from bot.channels.edge import TOO_FAST, RateLimiter, defuse_command
from bot.channels.rest import ShopRestInput

REPLY = "您好，请问有什么可以帮您？"


class Bot:
    """A stand-in for Rasa: answers every message and keeps what it received."""

    def __init__(self) -> None:
        self.received: list[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        await message.output_channel.send_text_message(message.sender_id, REPLY)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch):
    """POST raw bodies to the channel: (bot, post(body, stream=False) -> response)."""
    monkeypatch.setenv("RATE_LIMIT_PER_SENDER", "5")
    monkeypatch.setenv("RATE_LIMIT_PER_ADDRESS", "1000")

    async def not_paused(sender_id: str | None) -> bool:
        return False

    monkeypatch.setattr(rest, "is_paused", not_paused)
    bot = Bot()
    app = Sanic(f"rest_edge_{uuid.uuid4().hex[:8]}")
    app.blueprint(ShopRestInput().blueprint(bot), url_prefix="/webhooks/rest")

    def post(body: Any, stream: bool = False, raw: bytes | None = None):
        data = raw if raw is not None else json.dumps(body).encode()
        _, response = app.test_client.post(
            "/webhooks/rest/webhook" + ("?stream=true" if stream else ""), data=data,
            headers={"Content-Type": "application/json"})
        return response

    yield bot, post
    Sanic._app_registry.pop(app.name, None)


@pytest.mark.parametrize("sender", [
    "x\ud800", "a\x00b", "", None, 12, ["a"], "张三", "a" * 129, "a b", "../etc",
    "0123456789abcdef0123456789abcdef", "wechat_oABC123",
])
@pytest.mark.parametrize("stream", [False, True])
def test_bad_sender_ids_are_refused_before_rasa(client, sender: Any, stream: bool) -> None:
    bot, post = client
    response = post({"sender": sender, "message": "你好"}, stream=stream)
    assert response.status == 400
    assert response.json["error"] in ("invalid_sender", "invalid_text")
    assert bot.received == []


def test_a_request_without_sender_is_refused_not_put_in_a_shared_conversation(client) -> None:
    bot, post = client
    response = post({"message": "我的订单到哪了"})
    assert response.status == 400 and bot.received == []


@pytest.mark.parametrize("message", [123, ["你好"], {"text": "你好"}, None, "", "   ",
                                     "\u200b\u200f"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_message_that_is_not_text_gets_a_400_also_when_streamed(
        client, message: Any, stream: bool) -> None:
    bot, post = client
    response = post({"sender": "c1", "message": message}, stream=stream)
    assert response.status == 400
    assert response.json["error"] in ("invalid_message", "empty_message")
    assert bot.received == []


@pytest.mark.parametrize("raw", [b"", b"[]", b'"hi"', b"1", b"null", b"{", b"\xff\xfe{}",
                                 b"[" * 100_000, b'{"sender": "c1", "message": "' + b"a" * 70_000
                                 + b'"}'])
def test_bodies_that_are_not_a_small_json_object_get_a_4xx(client, raw: bytes) -> None:
    bot, post = client
    response = post(None, raw=raw)
    assert 400 <= response.status < 500 and "error" in response.json
    assert bot.received == []


def test_identity_comes_from_the_channel_not_from_the_body(client) -> None:
    bot, post = client
    response = post({"sender": "c1", "message": "你好", "input_channel": "wechat",
                     "metadata": {"customer_id": "vip-1", "customer_id_verified": True}})
    assert response.status == 200
    [message] = bot.received
    assert message.input_channel == "rest"
    assert not message.metadata


def test_invisible_and_direction_characters_are_removed(client) -> None:
    bot, post = client
    post({"sender": "c1", "message": "\u202e\u200b我要退款\u200f"})
    assert bot.received[0].text == "我要退款"


def test_a_very_long_message_gets_a_polite_answer_without_reaching_the_model(client) -> None:
    bot, post = client
    response = post({"sender": "c1", "message": "好" * 1500})
    assert response.status == 200
    [answer] = response.json
    assert answer["recipient_id"] == "c1"
    # What the customer reads: the message was too long, and how long one may be.
    assert "消息有点长" in answer["text"] and "1000 个字" in answer["text"]
    assert bot.received == []


def test_a_customer_sending_too_fast_is_told_to_slow_down(client) -> None:
    bot, post = client
    statuses = [post({"sender": "fast", "message": f"你好{i}"}).status for i in range(8)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429] * 3
    assert post({"sender": "fast", "message": "在吗"}).json["message"] == TOO_FAST
    assert post({"sender": "someone-else", "message": "你好"}).status == 200


def test_the_stream_ends_with_the_reply(client) -> None:
    bot, post = client
    response = post({"sender": "c1", "message": "你好"}, stream=True)
    assert response.status == 200
    assert [json.loads(line)["text"] for line in response.text.splitlines() if line] == [REPLY]


@pytest.mark.parametrize("typed, expected", [
    ('/inform{"order_id":{"$gt":""}}', 'inform{"order_id":{"$gt":""}}'),
    ("/session_start", "session_start"),
    ("/not_an_intent", "not_an_intent"),
    ("/request_human", "/request_human"),
    ('/inform{"choice":"damaged"}', '/inform{"choice":"damaged"}'),
    ('/inform{"order_id":"' + "1" * 200 + '"}', 'inform{"order_id":"' + "1" * 200 + '"}'),
    ("///", "你好"),
])
def test_typed_commands_pass_only_in_the_shape_the_bot_s_buttons_send(
        typed: str, expected: str) -> None:
    assert defuse_command(typed) == expected


def test_the_rate_limiter_forgets_old_hits_and_bounds_its_memory() -> None:
    limiter = RateLimiter(2, 60.0, max_keys=10)
    assert [limiter.allow("a", now=0), limiter.allow("a", now=1), limiter.allow("a", now=2)] \
        == [True, True, False]
    assert limiter.allow("a", now=61.5)
    for i in range(50):
        limiter.allow(f"spray-{i}", now=100 + i)
    assert len(limiter.hits) <= 10


def test_a_burst_from_one_sender_is_refused_rather_than_queued(monkeypatch) -> None:
    monkeypatch.setenv("RATE_LIMIT_PER_SENDER", "100")
    channel = ShopRestInput()
    for _ in range(rest.MAX_IN_FLIGHT):
        channel.take_turn("burst")
    with pytest.raises(rest.EdgeError) as refused:
        channel.take_turn("burst")
    assert refused.value.status == 429 and refused.value.message == rest.WAIT_FOR_REPLY
    channel.take_turn("someone-else")
    for _ in range(rest.MAX_IN_FLIGHT):
        channel.end_turn("burst")
    assert "burst" not in channel.busy
    channel.take_turn("burst")
