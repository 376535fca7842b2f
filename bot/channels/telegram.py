"""Rasa's built-in Telegram connector with one fix: messages pushed through the HTTP API with
`output_channel=latest` (an agent's reply relayed by the handoff service) reach the user.

The stock `TelegramInput.get_output_channel` registers the webhook with `asyncio.run`, which
raises inside the running server, so every push to a Telegram user failed. Here the webhook is
registered once at start-up, as before, and pushes reuse it.
"""
from __future__ import annotations

import asyncio

from rasa.core.channels.telegram import TelegramInput as RasaTelegramInput
from rasa.core.channels.telegram import TelegramOutput


class TelegramInput(RasaTelegramInput):
    """Telegram channel (name "telegram", webhook /webhooks/telegram/webhook)."""

    def get_output_channel(self) -> TelegramOutput:
        """At start-up: Rasa's behaviour (sets the webhook). In the running server: no set-up."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return super().get_output_channel()
        return TelegramOutput(self.access_token)
