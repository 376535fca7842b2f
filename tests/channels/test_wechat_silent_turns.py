"""The WeChat channel never leaves a customer without an answer: a turn that failed behind the
bot (Rasa said nothing, or handling the message raised) gets the apology with the hotline, in
both reply modes, once, and only while no human agent has the conversation.

The channel runs on a real Sanic server in this process (so the tracker store that tells a
paused conversation can be a stand-in for Rasa's), gets WeChat callbacks over HTTP and sends
through the fake WeChat API over HTTP.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from rasa.core.channels.channel import UserMessage
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ConversationPaused
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic

from bot.channels.silent import NOT_DELIVERED, not_handled
from bot.channels.wechat import WeChatInput, WeChatSettings, parse_xml
from bot.faq import load_policy
from tests.channels import fake_wechat as fw
from tests.conftest import free_port

# What the stand-in for Rasa does with a message: nothing, as Rasa when the action server is
# unreachable or an action crashed; raise, as when the tracker store is down; else answer.
FAILS_SILENTLY = "我的快递到哪了"
CRASHES = "退款什么时候到账"
TRACKERS = InMemoryTrackerStore(Domain.empty())


async def stand_in_bot(message: UserMessage) -> None:
    """Answers like Rasa: nothing while the conversation is paused (a human agent has it)."""
    if message.text == CRASHES:
        raise RuntimeError("tracker store unreachable")
    tracker = await TRACKERS.retrieve(message.sender_id)
    if message.text == FAILS_SILENTLY or (tracker and tracker.is_paused()):
        return
    await message.output_channel.send_response(message.sender_id, {"text": f"收到：{message.text}"})


class ChannelServer:
    """The WeChat channel on a Sanic server in a background thread."""

    def __init__(self, channel: WeChatInput) -> None:
        self.channel = channel
        self.app = Sanic(f"wechat_silent_{uuid.uuid4().hex[:8]}")
        # What bot.channels.silent.is_paused looks up in the Rasa server's app.
        self.app.ctx.agent = SimpleNamespace(tracker_store=TRACKERS)
        self.app.blueprint(channel.blueprint(stand_in_bot), url_prefix="/webhooks/wechat")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhooks/wechat/webhook"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ChannelServer:
        self.server = self.loop.run_until_complete(self.app.create_server(
            host="127.0.0.1", port=self.port, return_asyncio_server=True, access_log=False))
        self.loop.run_until_complete(self.server.startup())
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.server.server.close()
        self.loop.close()
        Sanic._app_registry.pop(self.app.name, None)

    def post(self, xml: str) -> requests.Response:
        """A plaintext callback as WeChat sends it."""
        return requests.post(self.url, params=fw.plain_query(), data=xml.encode("utf-8"),
                             headers={"Content-Type": "text/xml"}, timeout=10)

    def settle(self) -> None:
        """Wait until the turns acknowledged so far are answered (or not) through the API."""

        async def pending() -> None:
            await asyncio.gather(*list(self.channel._tasks), return_exceptions=True)

        asyncio.run_coroutine_threadsafe(pending(), self.loop).result(timeout=30)


@pytest.fixture(scope="module")
def fake() -> Iterator[fw.FakeWeChat]:
    with fw.FakeWeChat() as server:
        yield server


@contextlib.contextmanager
def serving(fake: fw.FakeWeChat, state_dir: Path, reply_mode: str) -> Iterator[ChannelServer]:
    settings = WeChatSettings(token=fw.TOKEN, appid=fw.APPID, secret=fw.SECRET,
                              api_base=fake.base_url, state_db=str(state_dir / "state.db"),
                              reply_mode=reply_mode)
    with ChannelServer(WeChatInput(settings)) as server:
        yield server


@pytest.fixture(scope="module")
def api_mode(fake: fw.FakeWeChat, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[ChannelServer]:
    with serving(fake, tmp_path_factory.mktemp("wechat_api"), "api") as server:
        yield server


@pytest.fixture(scope="module")
def passive_mode(fake: fw.FakeWeChat, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[ChannelServer]:
    with serving(fake, tmp_path_factory.mktemp("wechat_passive"), "passive") as server:
        yield server


def new_user(paused: bool = False) -> str:
    """A fresh WeChat openid; `paused`: a human agent has taken the conversation over."""
    openid = "o" + secrets.token_urlsafe(16)
    if paused:
        tracker = DialogueStateTracker.from_events(f"wechat_{openid}", [ConversationPaused()])
        asyncio.run(TRACKERS.save(tracker))
    return openid


def msg_id() -> int:
    return secrets.randbits(63)


def passive_text(response: requests.Response) -> str | None:
    """The text of a passive reply, None for a bare acknowledgement."""
    assert response.status_code == 200
    if response.text == "success":
        return None
    return parse_xml(response.content)["Content"]


def test_a_turn_that_produced_nothing_gets_one_apology_with_the_hotline(
    api_mode: ChannelServer, fake: fw.FakeWeChat, caplog: pytest.LogCaptureFixture,
) -> None:
    user = new_user()
    assert api_mode.post(fw.text_xml(user, FAILS_SILENTLY, msg_id())).text == "success"
    api_mode.settle()
    assert fake.texts_to(user) == [not_handled()]
    assert load_policy()["hotline"] in fake.texts_to(user)[0]
    assert "没能处理好" in fake.texts_to(user)[0]
    assert any(r.levelno == logging.ERROR and f"wechat_{user}" in r.getMessage()
               for r in caplog.records)


def test_a_crash_while_handling_the_message_gets_the_apology_and_is_logged(
    api_mode: ChannelServer, fake: fw.FakeWeChat, caplog: pytest.LogCaptureFixture,
) -> None:
    user = new_user()
    assert api_mode.post(fw.text_xml(user, CRASHES, msg_id())).text == "success"
    api_mode.settle()
    assert fake.texts_to(user) == [not_handled()]
    [crash] = [r for r in caplog.records if r.exc_info and f"wechat_{user}" in r.getMessage()]
    assert "tracker store unreachable" in str(crash.exc_info[1])


def test_while_an_agent_has_the_conversation_nothing_is_added(
    api_mode: ChannelServer, fake: fw.FakeWeChat
) -> None:
    user = new_user(paused=True)
    for text in ("在吗", FAILS_SILENTLY):
        assert api_mode.post(fw.text_xml(user, text, msg_id())).text == "success"
    api_mode.settle()
    assert fake.texts_to(user) == []


def test_while_an_agent_has_the_conversation_a_crash_asks_to_send_the_message_again(
    api_mode: ChannelServer, fake: fw.FakeWeChat
) -> None:
    user = new_user(paused=True)
    assert api_mode.post(fw.text_xml(user, CRASHES, msg_id())).text == "success"
    api_mode.settle()
    assert fake.texts_to(user) == [NOT_DELIVERED]


def test_a_normal_answer_gets_no_apology_added(
    api_mode: ChannelServer, fake: fw.FakeWeChat
) -> None:
    user = new_user()
    assert api_mode.post(fw.text_xml(user, "你好", msg_id())).text == "success"
    assert api_mode.post(fw.text_xml(user, "运费险怎么赔", msg_id())).text == "success"
    api_mode.settle()
    assert fake.texts_to(user) == ["收到：你好", "收到：运费险怎么赔"]


def test_events_the_bot_need_not_answer_stay_unanswered(
    api_mode: ChannelServer, fake: fw.FakeWeChat
) -> None:
    user = new_user()
    assert api_mode.post(fw.event_xml(user, "unsubscribe")).text == "success"
    api_mode.settle()
    assert fake.texts_to(user) == []


@pytest.mark.parametrize("text", [FAILS_SILENTLY, CRASHES], ids=["no_reply", "crash"])
def test_passive_mode_answers_a_failed_turn_with_the_apology(
    passive_mode: ChannelServer, fake: fw.FakeWeChat, text: str
) -> None:
    user = new_user()
    assert passive_text(passive_mode.post(fw.text_xml(user, text, msg_id()))) == not_handled()
    assert fake.texts_to(user) == []  # not through the customer-service API as well


def test_passive_mode_stays_quiet_while_an_agent_has_the_conversation_unless_it_crashed(
    passive_mode: ChannelServer, fake: fw.FakeWeChat
) -> None:
    user = new_user(paused=True)
    for text in ("在吗", FAILS_SILENTLY):
        assert passive_text(passive_mode.post(fw.text_xml(user, text, msg_id()))) is None
    reply = passive_text(passive_mode.post(fw.text_xml(user, CRASHES, msg_id())))
    assert reply == NOT_DELIVERED
    assert fake.texts_to(user) == []


def test_passive_mode_normal_answer_gets_no_apology_added(passive_mode: ChannelServer) -> None:
    user = new_user()
    assert passive_text(passive_mode.post(fw.text_xml(user, "你好", msg_id()))) == "收到：你好"
