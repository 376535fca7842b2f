"""The Telegram connector can push to a user from inside the running server (agent replies of
the handoff service use output_channel=latest); Rasa's own connector cannot."""
from __future__ import annotations

import asyncio
import warnings

import pytest
from rasa.core.channels.telegram import TelegramInput as RasaTelegramInput
from rasa.core.channels.telegram import TelegramOutput

from bot.channels.telegram import TelegramInput

ARGS = ("123456:test-token", "shop_bot", "https://bot.example.com/webhooks/telegram/webhook")


def test_output_channel_inside_the_server_needs_no_network() -> None:
    async def push() -> TelegramOutput:
        return TelegramInput(*ARGS).get_output_channel()

    output = asyncio.run(push())
    assert isinstance(output, TelegramOutput)
    assert output.name() == TelegramInput.name() == "telegram"


def test_rasa_s_own_connector_fails_there() -> None:
    async def push() -> TelegramOutput:
        return RasaTelegramInput(*ARGS).get_output_channel()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the never-awaited set_webhook
        with pytest.raises(RuntimeError, match="running event loop"):
            asyncio.run(push())


def test_from_credentials_keeps_rasa_s_keys() -> None:
    channel = TelegramInput.from_credentials(
        {"access_token": ARGS[0], "verify": ARGS[1], "webhook_url": ARGS[2]}
    )
    assert (channel.access_token, channel.verify, channel.webhook_url) == ARGS
