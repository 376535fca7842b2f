"""A REST message sent again with its message_id is handled once (bot/channels/once.py).

In process, with Rasa's real in-memory lock store and tracker store and a stand-in for Rasa's
message processor that saves each turn (customer message and answer together, as Rasa does)
and counts how often it ran."""
from __future__ import annotations

import asyncio
import json
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Sanic

from bot.channels import rest
from bot.channels.once import earlier_answers, handle_once
from bot.channels.rest import ShopRestInput


class Processor:
    """Rasa's MessageProcessor, reduced: answers "收到：<text>", saves the turn, counts runs."""

    def __init__(self, store: InMemoryTrackerStore) -> None:
        self.store, self.runs = store, 0

    async def handle_message(self, message: UserMessage) -> None:
        self.runs += 1
        await asyncio.sleep(0.05)  # a turn takes time: a second copy arrives meanwhile
        tracker = await self.store.get_or_create_tracker(message.sender_id)
        answer = f"收到：{message.text}"
        tracker.update(UserUttered(message.text, message_id=message.message_id))
        tracker.update(BotUttered(answer, {"buttons": [{"title": "好的", "payload": "好的"}]}))
        await self.store.save(tracker)
        await message.output_channel.send_response(
            message.sender_id, {"text": answer, "buttons": [{"title": "好的", "payload": "好的"}]})


def agent() -> SimpleNamespace:
    """The parts of rasa.core.agent.Agent that handle_once uses."""
    store = InMemoryTrackerStore(Domain.empty())
    return SimpleNamespace(lock_store=InMemoryLockStore(), tracker_store=store,
                           processor=Processor(store))


async def deliver(bot: SimpleNamespace, text: str, message_id: str) -> list[dict[str, Any]]:
    collector = CollectingOutputChannel()
    await handle_once(bot, UserMessage(text, collector, "c-1", message_id=message_id))
    return collector.messages


def test_a_message_sent_again_is_answered_again_but_handled_once() -> None:
    bot = agent()
    first = asyncio.run(deliver(bot, "我的快递到哪了", "m-1"))
    again = asyncio.run(deliver(bot, "我的快递到哪了", "m-1"))
    assert bot.processor.runs == 1
    assert again == first and first[0]["text"] == "收到：我的快递到哪了"
    assert first[0]["buttons"] == [{"title": "好的", "payload": "好的"}]


def test_two_copies_at_once_are_handled_once() -> None:
    bot = agent()

    async def both() -> list[list[dict[str, Any]]]:
        return await asyncio.gather(deliver(bot, "退款到账了吗", "m-7"),
                                    deliver(bot, "退款到账了吗", "m-7"))

    first, second = asyncio.run(both())
    assert bot.processor.runs == 1
    assert first == second
    tracker = asyncio.run(bot.tracker_store.retrieve("c-1"))
    assert [e.message_id for e in tracker.events if isinstance(e, UserUttered)] == ["m-7"]


def test_new_messages_are_handled_and_answers_belong_to_their_message() -> None:
    bot = agent()
    asyncio.run(deliver(bot, "你好", "m-1"))
    asyncio.run(deliver(bot, "查订单", "m-2"))
    assert bot.processor.runs == 2
    tracker = asyncio.run(bot.tracker_store.retrieve("c-1"))
    assert [a["text"] for a in earlier_answers(tracker, "m-1")] == ["收到：你好"]
    assert [a["text"] for a in earlier_answers(tracker, "m-2")] == ["收到：查订单"]
    assert earlier_answers(tracker, "m-3") is None


@pytest.fixture
def post(monkeypatch: pytest.MonkeyPatch):
    """POST to the REST channel of an app whose agent is the stand-in: (agent, post)."""
    monkeypatch.setenv("RATE_LIMIT_PER_SENDER", "50")

    async def not_paused(sender_id: str | None) -> bool:
        return False

    monkeypatch.setattr(rest, "is_paused", not_paused)
    bot = agent()
    app = Sanic(f"rest_once_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = bot
    app.blueprint(ShopRestInput().blueprint(bot.processor.handle_message),
                  url_prefix="/webhooks/rest")

    def send(body: dict[str, Any]):
        _, response = app.test_client.post("/webhooks/rest/webhook", data=json.dumps(body),
                                           headers={"Content-Type": "application/json"})
        return response

    yield bot, send
    Sanic._app_registry.pop(app.name, None)


def test_rest_client_retrying_with_its_message_id_gets_the_answer_once(post) -> None:
    bot, send = post
    body = {"sender": "shop-42", "message": "发票怎么开", "message_id": "a1b2-3"}
    first, again = send(body), send(body)
    assert first.status == again.status == 200
    assert again.json == first.json and first.json[0]["text"] == "收到：发票怎么开"
    assert bot.processor.runs == 1
    send({"sender": "shop-42", "message": "发票怎么开"})  # no id: a new message, as in Rasa
    assert bot.processor.runs == 2


@pytest.mark.parametrize("message_id", ["", "a" * 65, "有中文", "a b", 12, ["x"]])
def test_a_malformed_message_id_is_refused(post, message_id: Any) -> None:
    bot, send = post
    response = send({"sender": "shop-42", "message": "你好", "message_id": message_id})
    assert response.status == 400 and response.json["error"] == "invalid_message_id"
    assert bot.processor.runs == 0
