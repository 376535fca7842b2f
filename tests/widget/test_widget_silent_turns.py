"""The widget channel never leaves a customer's message unanswered: a turn that failed behind
the bot gets the apology with the hotline, unless a human agent has the conversation."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage

from bot.channels.rest import not_handled
from widget import channel
from widget.channel import WidgetSocketIOInput


class RecordingServer:
    """Stands in for the socket.io server: remembers what was emitted to which room."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict[str, Any], str]] = []

    async def emit(self, event: str, data: dict[str, Any], room: str, **_: Any) -> None:
        self.emitted.append((event, data, room))


def turn(reply: str | None, paused: bool, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """One customer message through the channel to a stand-in for Rasa; the texts emitted."""

    async def fake_paused(sender_id: str | None) -> bool:
        return paused

    monkeypatch.setattr(channel, "is_paused", fake_paused)

    async def on_new_message(message: UserMessage) -> None:
        if reply is not None:
            await message.output_channel.send_text_message(message.sender_id, reply)

    widget_input = WidgetSocketIOInput.from_credentials({"session_persistence": False})
    server = RecordingServer()
    widget_input.sio = server  # type: ignore[assignment]
    asyncio.run(widget_input._on_user_message("sid-1", {"message": "运费险怎么赔"}, on_new_message))
    assert all(room == "sid-1" for _, _, room in server.emitted)
    return [data["text"] for _, data, _ in server.emitted]


def test_a_failed_turn_gets_the_apology(monkeypatch: pytest.MonkeyPatch) -> None:
    assert turn(None, paused=False, monkeypatch=monkeypatch) == [not_handled()]


def test_an_answered_turn_gets_only_its_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = "运费险会自动理赔。"
    assert turn(answer, paused=False, monkeypatch=monkeypatch) == [answer]


def test_while_an_agent_has_the_conversation_nothing_is_added(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The widget shows the handoff state itself; the agent's replies are pushed separately.
    assert turn(None, paused=True, monkeypatch=monkeypatch) == []
