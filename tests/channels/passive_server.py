"""The WeChat channel alone on a Sanic server, in passive reply mode, with a stand-in for the
bot (it echoes; messages starting with 慢 take 4.5 s, longer than the channel waits): the
passive-mode tests need neither a model nor a second `rasa run`.
Usage: python -m tests.channels.passive_server PORT (with the WECHAT_* variables set)."""
from __future__ import annotations

import asyncio
import os
import sys

from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels.wechat import WeChatInput


async def stand_in_bot(message: UserMessage) -> None:
    """Answer like a bot would, through the message's output channel."""
    if message.text.startswith("慢"):
        await asyncio.sleep(4.5)
    await message.output_channel.send_response(
        message.sender_id, {"text": f"收到：{message.text}"}
    )


def main() -> None:
    """Serve the channel on the port given."""
    channel = WeChatInput.from_credentials({
        "token": os.environ["WECHAT_TOKEN"], "appid": os.environ["WECHAT_APPID"],
        "secret": os.environ["WECHAT_SECRET"], "encoding_aes_key": os.environ["WECHAT_AES_KEY"],
        "api_base": os.environ["WECHAT_API_BASE"], "state_db": os.environ["WECHAT_STATE_DB"],
        "reply_mode": "passive", "allow_plaintext": "true",
    })
    channel.pending_keep = 6.0  # answers wait 6 s for WeChat's retry instead of 20
    app = Sanic("wechat_passive_test")
    app.blueprint(channel.blueprint(stand_in_bot), url_prefix="/webhooks/wechat")
    app.run(host="127.0.0.1", port=int(sys.argv[1]), access_log=False)


if __name__ == "__main__":
    main()
