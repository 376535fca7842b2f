"""The widget channel never leaves a customer's message unanswered: a turn that failed behind
the bot (nothing said, or handling the message raised) gets the apology with the hotline, once,
unless a human agent has the conversation."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage

from bot.channels import widget as channel
from bot.channels.silent import NOT_DELIVERED, not_handled
from bot.channels.widget import WidgetSocketIOInput
from bot.faq import load_policy

# What the stand-in for Rasa raises when asked to: as when the tracker store is down.
CRASH = RuntimeError("tracker store unreachable")


class RecordingServer:
    """Stands in for the socket.io server: remembers what was emitted to which room."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict[str, Any], str]] = []

    async def emit(self, event: str, data: dict[str, Any], room: str, **_: Any) -> None:
        self.emitted.append((event, data, room))


def turn(reply: str | None, paused: bool, monkeypatch: pytest.MonkeyPatch,
         crash: bool = False) -> list[str]:
    """One customer message through the channel to a stand-in for Rasa that answers `reply`
    (or nothing) and then raises if `crash`; the texts emitted to the widget."""

    async def fake_paused(sender_id: str | None) -> bool:
        return paused

    monkeypatch.setattr(channel, "is_paused", fake_paused)

    async def on_new_message(message: UserMessage) -> None:
        if reply is not None:
            await message.output_channel.send_text_message(message.sender_id, reply)
        if crash:
            raise CRASH

    widget_input = WidgetSocketIOInput.from_credentials({"session_persistence": False})
    server = RecordingServer()
    widget_input.sio = server  # type: ignore[assignment]
    asyncio.run(widget_input._on_user_message("sid-1", {"message": "运费险怎么赔"}, on_new_message))
    assert all(event == "bot_uttered" and room == "sid-1" for event, _, room in server.emitted)
    return [data["text"] for _, data, _ in server.emitted]


def test_a_failed_turn_gets_the_apology(monkeypatch: pytest.MonkeyPatch) -> None:
    assert turn(None, paused=False, monkeypatch=monkeypatch) == [not_handled()]
    assert load_policy()["hotline"] in not_handled()


def test_a_turn_whose_handling_raised_gets_one_apology_and_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    # Before, the exception escaped the socket.io handler and the widget showed nothing.
    assert turn(None, paused=False, monkeypatch=monkeypatch, crash=True) == [not_handled()]
    [crash] = [r for r in caplog.records if r.exc_info and "sid-1" in r.getMessage()]
    assert crash.levelno == logging.ERROR and crash.exc_info[1] is CRASH


def test_no_apology_on_top_of_an_answer_cut_short_by_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answer = "运费险会自动理赔。"
    assert turn(answer, paused=False, monkeypatch=monkeypatch, crash=True) == [answer]


def test_an_answered_turn_gets_only_its_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = "运费险会自动理赔。"
    assert turn(answer, paused=False, monkeypatch=monkeypatch) == [answer]


def test_while_an_agent_has_the_conversation_nothing_is_added(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The widget shows the handoff state itself; the agent's replies are pushed separately.
    assert turn(None, paused=True, monkeypatch=monkeypatch) == []


def test_while_an_agent_has_the_conversation_a_crash_asks_to_send_the_message_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The message may never have reached the agent: the customer is told, nothing is lost.
    assert turn(None, paused=True, monkeypatch=monkeypatch, crash=True) == [NOT_DELIVERED]
