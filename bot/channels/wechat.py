"""WeChat Official Account (微信公众号) channel for the Rasa server.

Register it in the credentials file as `bot.channels.wechat.WeChatInput` (scripts/run.sh does
this when the WECHAT_* variables are set; docs/channels.md explains the set-up). WeChat calls
`/webhooks/wechat/webhook`:

- GET: the URL-verification handshake; a valid signature is answered with `echostr`.
- POST: a user message or event as XML, plaintext or encrypted (safe mode, `encrypt_type=aes`).
  The callback is verified, decrypted, de-duplicated (WeChat retries when it gets no answer
  within 5 s) and acknowledged at once with "success"; the bot answers afterwards through the
  customer-service message API, one message per turn (WeChat allows 5 per user message).
  With reply_mode "passive" (accounts without that API) the answer is the callback's response
  instead, when the bot is done within 4 s; otherwise WeChat's retry collects it.

A turn that failed behind the bot (the action server is down, an action or the channel itself
crashed) is answered in either mode with the apology of `bot.channels.silent` (hotline
included) and logged as an error, unless a human agent has the conversation: then the bot is
meant to be quiet and the agent answers (a message whose handling raised is asked for again,
`failed_turn_reply`).

Customers are `wechat_<openid>` in the tracker store; messages carry metadata
`{"channel": "wechat", "wechat": {...}}`. Messages pushed through Rasa's HTTP API with
`output_channel=latest` (agent replies of the handoff service) reach the user the same way.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Extra, Field, ValidationError, validator
from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    OutputChannel,
    UserMessage,
)
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.edge import clean_text, defuse_command, is_too_long, too_long_reply
from bot.channels.silent import failed_turn_reply, is_paused
from bot.channels.store import ChannelStore
from bot.channels.wechat_api import DEFAULT_API_BASE, WeChatApi, WeChatApiError
from bot.channels.wechat_crypto import WeChatCrypto, WeChatCryptoError, sign, signature_ok

logger = logging.getLogger(__name__)

CHANNEL_NAME = "wechat"
SENDER_PREFIX = "wechat_"  # no URL-reserved character: Rasa does not unquote ids
# openids are 28 characters of letters, digits, - and _ (anything else is not WeChat).
OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_BODY_BYTES = 64 * 1024
# A text customer-service message is kept under this size; longer answers are split.
MAX_TEXT_BYTES = 2000
DEFAULT_STATE_DB = "var/wechat/state.db"
DEFAULT_DEDUP_TTL = 3600.0
DEFAULT_MAX_CLOCK_SKEW = 300.0
BUTTONS_TTL = 3600.0
ACK = "success"
REPLY_MODES = ("api", "passive")
# Passive mode: how long a callback waits for the bot (WeChat gives up after 5 s and retries
# twice more), and how long an answer waits for a retry to collect it.
PASSIVE_WAIT = 4.0
PENDING_KEEP = 20.0

WELCOME = (
    "您好，感谢关注！我是店铺的智能客服，可以帮您查询订单物流和退款进度，也能解答退换货、"
    "发票、支付、优惠活动等问题。直接发文字给我就可以；需要人工客服时，回复「转人工」即可。"
)
UNSUPPORTED = {
    "image": "收到您发来的图片了。不过我暂时还看不了图片，麻烦您用文字描述一下遇到的问题；"
             "如果需要客服查看图片，请回复「转人工」。",
    "voice": "抱歉，我暂时听不了语音，麻烦您打字告诉我遇到的问题，我马上帮您处理。",
    "video": "收到您发来的视频了。不过我暂时还看不了视频，麻烦您用文字描述一下遇到的问题；"
             "如果需要客服查看，请回复「转人工」。",
    "location": "收到您的位置了。如果是想修改收货地址，请发一下订单号和新地址，"
                "或回复「转人工」由客服帮您处理。",
    "link": "收到您分享的链接了。我暂时打不开链接，麻烦您用文字说一下想咨询什么。",
}
UNSUPPORTED["shortvideo"] = UNSUPPORTED["video"]
UNSUPPORTED_OTHER = "抱歉，这类消息我暂时看不懂，麻烦您用文字告诉我想咨询什么。"
BUTTONS_HINT = "请回复序号选择："


class WeChatCallbackError(Exception):
    """A callback that is refused; `status` is the HTTP status answered to the caller."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class WeChatSettings(BaseModel):
    """The channel's configuration, from its section of the credentials file (Rasa reads that
    file; `bot/channels/credentials.py` fills it from WECHAT_* variables). A missing or
    malformed value stops the server with a message naming the key."""

    token: str = Field(..., repr=False)
    appid: str
    secret: str = Field(..., repr=False)
    encoding_aes_key: str | None = Field(None, repr=False)
    api_base: str = DEFAULT_API_BASE
    state_db: str = DEFAULT_STATE_DB
    dedup_ttl: float = Field(DEFAULT_DEDUP_TTL, gt=0)
    max_clock_skew: float = Field(DEFAULT_MAX_CLOCK_SKEW, gt=0)
    allow_plaintext: bool = False
    reply_mode: str = "api"

    class Config:
        allow_mutation = False
        extra = Extra.ignore  # Rasa's own keys of the section

    @validator("token", "appid", "secret", pre=True)
    def _required(cls, value: Any) -> str:  # noqa: N805 - pydantic validators take the class
        """Present and not empty."""
        if not str(value or "").strip():
            raise ValueError("missing")
        return str(value)

    @validator("allow_plaintext", pre=True)
    def _flag(cls, value: Any) -> bool:  # noqa: N805
        """1 / true / yes (any case) switch it on; anything else, or nothing, leaves it off."""
        return str(value or "").strip().lower() in ("1", "true", "yes")

    @validator("reply_mode", pre=True)
    def _reply_mode(cls, value: Any) -> str:  # noqa: N805
        """One of REPLY_MODES (default api)."""
        mode = str(value or "api").strip().lower()
        if mode not in REPLY_MODES:
            raise ValueError(f"must be one of {REPLY_MODES}")
        return mode

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any]) -> WeChatSettings:
        """Validate the credentials section; a missing or malformed value stops the server."""
        given = {key: value for key, value in credentials.items()
                 if key in ("token", "appid", "secret", "reply_mode")
                 or value not in (None, "")}
        given.setdefault("token", None)
        given.setdefault("appid", None)
        given.setdefault("secret", None)
        try:
            settings = cls(**given)
        except ValidationError as error:
            problems = "; ".join(f"{item['loc'][0]}: {item['msg']}" for item in error.errors())
            raise RasaException(f"WeChat channel: bad credentials ({problems})") from None
        if settings.encoding_aes_key:
            try:
                WeChatCrypto(settings.encoding_aes_key, settings.appid)
            except WeChatCryptoError as exc:
                raise RasaException(f"WeChat channel: {exc}") from exc
        return settings


def parse_xml(body: bytes | str) -> dict[str, str]:
    """The child elements of a WeChat `<xml>` document as a flat dict of stripped strings."""
    raw = body.decode("utf-8", errors="strict") if isinstance(body, bytes) else body
    # WeChat never sends a DTD; refusing one rules out entity expansion tricks.
    if "<!doctype" in raw.lower() or "<!entity" in raw.lower():
        raise ValueError("DTDs are not accepted")
    root = ET.fromstring(raw)
    if root.tag != "xml":
        raise ValueError("root element is not <xml>")
    return {child.tag: (child.text or "").strip() for child in root}


def dedup_key(message: dict[str, str]) -> str:
    """WeChat's retries repeat the MsgId; events have none, so the sender and time name them."""
    if message.get("MsgId"):
        return f"msg:{message['MsgId']}"
    return "event:{}:{}:{}:{}".format(
        message.get("FromUserName", ""), message.get("CreateTime", ""),
        message.get("Event", ""), message.get("EventKey", ""),
    )


def render(message: dict[str, Any], first_number: int = 1) -> tuple[str, list[dict[str, Any]]]:
    """A Rasa bot message as WeChat text, its buttons as numbered lines; returns the text and
    the buttons (in numbering order). Handoff state payloads are for web channels: dropped."""
    lines = []
    if message.get("text"):
        lines.append(str(message["text"]))
    buttons = [b for b in (message.get("buttons") or message.get("quick_replies") or [])
               if isinstance(b, dict) and b.get("title")]
    if buttons:
        lines.append(BUTTONS_HINT)
        lines.extend(f"{first_number + i}. {b['title']}" for i, b in enumerate(buttons))
    if message.get("image"):
        lines.append(f"图片：{message['image']}")
    if message.get("attachment"):
        lines.append(f"附件：{message['attachment']}")
    for element in message.get("elements") or []:
        if isinstance(element, dict) and element.get("title"):
            lines.append(" - ".join(filter(None, [element["title"], element.get("subtitle")])))
    return "\n".join(lines), buttons


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Split `text` into parts of at most `limit` UTF-8 bytes, at line breaks where possible."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode("utf-8")) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        while len(line.encode("utf-8")) > limit:
            cut = limit // 4
            while len(line[:cut + 1].encode("utf-8")) <= limit:
                cut += 1
            parts.append(line[:cut])
            line = line[cut:]
        current = line
    if current:
        parts.append(current)
    return parts


def choose_button(text: str, buttons: list[dict[str, Any]]) -> str | None:
    """The payload of the button a user picked by its number or exact title, if any."""
    answer = text.strip().rstrip(".。")
    for number, button in enumerate(buttons, start=1):
        if answer == str(number) or answer == str(button.get("title", "")).strip():
            return str(button.get("payload") or button.get("title"))
    return None


def cdata(text: str) -> str:
    """`text` as an XML CDATA section (a "]]>" inside is split across two sections)."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def reply_xml(message: dict[str, str], text: str) -> str:
    """A passive text reply to `message` (sender and receiver swapped)."""
    return (
        f"<xml><ToUserName>{cdata(message.get('FromUserName', ''))}</ToUserName>"
        f"<FromUserName>{cdata(message.get('ToUserName', ''))}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(text)}</Content></xml>"
    )


def _log_failure(task: asyncio.Task) -> None:
    """Log a background task's exception now, not when (if ever) the task is collected."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("WeChat background task failed", exc_info=task.exception())


def openid_of(recipient_id: str) -> str:
    """The WeChat openid of a tracker's sender id."""
    return recipient_id[len(SENDER_PREFIX):] if recipient_id.startswith(SENDER_PREFIX) else (
        recipient_id
    )


class WeChatOutput(OutputChannel):
    """Sends bot messages to a WeChat user through the customer-service message API.

    Each bot message goes out at once (messages pushed through the HTTP API, e.g. an agent's
    reply); `deliver_turn` sends all the answers of one turn as one message instead, since
    WeChat allows only a few messages per user message.
    """

    def __init__(self, api: WeChatApi, store: ChannelStore) -> None:
        self.api, self.store = api, store

    @classmethod
    def name(cls) -> str:
        """Same name as the input channel, so `output_channel=latest` finds it."""
        return CHANNEL_NAME

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """Render one bot message and send it."""
        text, buttons = render(message)
        if buttons:
            self.store.offer_buttons(recipient_id, buttons, BUTTONS_TTL)
        if text:
            await self.send_text(recipient_id, text)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Send plain text."""
        await self.send_text(recipient_id, text)

    def render_turn(self, recipient_id: str, messages: list[dict[str, Any]]) -> str:
        """The bot messages of one turn joined into one text, buttons numbered across; the
        buttons are remembered so that the user's number can be mapped back."""
        parts: list[str] = []
        offered: list[dict[str, Any]] = []
        for message in messages:
            text, buttons = render(message, first_number=len(offered) + 1)
            offered.extend(buttons)
            if text:
                parts.append(text)
        self.store.offer_buttons(recipient_id, offered, BUTTONS_TTL)
        return "\n\n".join(parts)

    async def deliver_turn(self, recipient_id: str, messages: list[dict[str, Any]]) -> None:
        """Send the bot messages of one turn as one message."""
        text = self.render_turn(recipient_id, messages)
        if text:
            await self.send_text(recipient_id, text)

    async def send_text(self, recipient_id: str, text: str) -> None:
        """Send `text` (split when too long); failures are logged, never raised into Rasa."""
        loop = asyncio.get_running_loop()
        openid = openid_of(recipient_id)
        for part in split_text(text):
            try:
                await loop.run_in_executor(None, self.api.send_text, openid, part)
            except WeChatApiError as exc:
                logger.error("WeChat message to %s not delivered: %s", openid, exc)
                return


class WeChatInput(InputChannel):
    """Receives WeChat Official Account callbacks and hands user messages to the bot."""

    @classmethod
    def name(cls) -> str:
        """URL prefix and channel name: /webhooks/wechat/webhook, input_channel "wechat"."""
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WeChatInput:
        """Build the channel from its credentials-file section."""
        if not credentials:
            cls.raise_missing_credentials_exception()
        assert credentials  # (Rasa's raise_missing_credentials_exception does not return)
        return cls(WeChatSettings.from_credentials(credentials))

    def __init__(self, settings: WeChatSettings) -> None:
        self.settings = settings
        self.crypto = (
            WeChatCrypto(settings.encoding_aes_key, settings.appid)
            if settings.encoding_aes_key else None
        )
        self.api = WeChatApi(settings.appid, settings.secret, settings.api_base)
        self.store = ChannelStore(settings.state_db)
        self._tasks: set[asyncio.Task] = set()
        # Passive mode: answers being computed or waiting for WeChat's retry, by dedup key.
        self._pending: dict[str, asyncio.Task] = {}
        self._delivered: set[str] = set()
        self.pending_keep = PENDING_KEEP
        # One turn-and-send at a time per user, so answers reach WeChat in order.
        self._user_locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def get_output_channel(self) -> WeChatOutput:
        """Output for messages pushed through the HTTP API (`output_channel=latest`)."""
        return WeChatOutput(self.api, self.store)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        """Routes: GET / (health), GET /webhook (handshake), POST /webhook (callbacks)."""
        webhook = Blueprint("wechat_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["GET"])
        async def handshake(request: Request) -> HTTPResponse:
            try:
                self.verify_url(request.args, extra=())
            except WeChatCallbackError as exc:
                logger.warning("WeChat handshake refused: %s", exc.reason)
                return response.text(exc.reason, status=exc.status)
            return response.text(request.args.get("echostr", ""))

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                message = self.read_callback(request.args, request.body or b"")
            except WeChatCallbackError as exc:
                logger.warning("WeChat callback refused: %s", exc.reason)
                return response.text(exc.reason, status=exc.status)
            key = dedup_key(message)
            if not self.store.claim(key, self.settings.dedup_ttl):
                if key in self._pending:
                    return await self.passive_reply(key, request.args, message)
                logger.info("WeChat retry of %s ignored (already processed)", key)
                return response.text(ACK)
            if self.settings.reply_mode == "passive":
                self._pending[key] = self._start(self.answer(message, on_new_message))
                asyncio.get_running_loop().call_later(self.pending_keep, self._settle, key, message)
                return await self.passive_reply(key, request.args, message)
            self._start(self.process(message, on_new_message))
            return response.text(ACK)

        return webhook

    def _start(self, coroutine: Awaitable[Any]) -> asyncio.Task:
        """Run `coroutine` in the background, keeping a reference until it is done."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)
        return task

    async def passive_reply(self, key: str, args: Any, message: dict[str, str]) -> HTTPResponse:
        """Answer in the callback's response if the bot is done in time; otherwise acknowledge,
        and WeChat's retry of the same callback collects the answer."""
        try:
            text = await asyncio.wait_for(asyncio.shield(self._pending[key]), PASSIVE_WAIT)
        except asyncio.TimeoutError:
            logger.info("WeChat answer to %s not ready in time; waiting for the retry", key)
            return response.text(ACK)
        if not text:
            return response.text(ACK)
        parts = split_text(text)
        xml = reply_xml(message, parts[0] + ("\n……" if len(parts) > 1 else ""))
        if args.get("encrypt_type") == "aes" and self.crypto:
            xml = self.encrypted_reply(self.crypto, xml)
        self._delivered.add(key)
        return response.text(xml, content_type="application/xml; charset=utf-8")

    def _settle(self, key: str, message: dict[str, str]) -> None:
        """Forget a passive answer; one that no callback collected goes out through the API
        (which only accounts with the customer-service API can use)."""
        task = self._pending.pop(key, None)
        if key in self._delivered:
            self._delivered.discard(key)
        elif task is not None:
            task.add_done_callback(lambda done: self._send_late(key, done, message))

    def _send_late(self, key: str, task: asyncio.Task, message: dict[str, str]) -> None:
        """Send a finished passive answer that no callback collected."""
        if task.cancelled() or not task.result():
            return
        logger.warning("WeChat answer to %s was too slow for a passive reply; sending it", key)
        output = WeChatOutput(self.api, self.store)
        self._start(output.send_text(SENDER_PREFIX + message["FromUserName"], task.result()))

    def encrypted_reply(self, crypto: WeChatCrypto, xml: str) -> str:
        """A passive reply in safe mode: encrypted and signed."""
        encrypted = crypto.encrypt(xml)
        timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
        signature = sign(self.settings.token, timestamp, nonce, encrypted)
        return (f"<xml><Encrypt>{cdata(encrypted)}</Encrypt>"
                f"<MsgSignature>{cdata(signature)}</MsgSignature>"
                f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>")

    def verify_url(self, args: Any, extra: tuple[str, ...]) -> None:
        """Check the timestamp and the signature of the URL (`extra`: signed body parts)."""
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        if not timestamp or not nonce:
            raise WeChatCallbackError(403, "missing timestamp or nonce")
        try:
            age = abs(time.time() - int(timestamp))
        except ValueError as exc:
            raise WeChatCallbackError(403, "malformed timestamp") from exc
        if self.settings.max_clock_skew and age > self.settings.max_clock_skew:
            raise WeChatCallbackError(403, "stale timestamp")
        name = "msg_signature" if extra else "signature"
        if not signature_ok(args.get(name), self.settings.token, timestamp, nonce, *extra):
            raise WeChatCallbackError(403, "invalid signature")

    def read_callback(self, args: Any, body: bytes) -> dict[str, str]:
        """Verify (and decrypt) a POSTed callback; returns the message's fields."""
        if len(body) > MAX_BODY_BYTES:
            raise WeChatCallbackError(413, "callback too large")
        encrypted = args.get("encrypt_type", "raw") == "aes"
        if self.crypto and not encrypted and not self.settings.allow_plaintext:
            # The body of a plaintext callback is not signed: refuse it once safe mode is on
            # (allow_plaintext is for switching modes in the WeChat console without downtime).
            raise WeChatCallbackError(403, "plaintext callback refused: safe mode is configured")
        if not encrypted:
            self.verify_url(args, extra=())
            return self._checked(self._parse(body))
        if not self.crypto:
            raise WeChatCallbackError(403, "encrypted callback but no EncodingAESKey configured")
        cipher_text = self._parse(body).get("Encrypt", "")
        if not cipher_text:
            raise WeChatCallbackError(400, "encrypted callback without <Encrypt>")
        self.verify_url(args, extra=(cipher_text,))
        try:
            return self._checked(self._parse(self.crypto.decrypt(cipher_text)))
        except WeChatCryptoError as exc:
            raise WeChatCallbackError(403, f"cannot decrypt: {exc}") from exc

    @staticmethod
    def _checked(message: dict[str, str]) -> dict[str, str]:
        """A message must say who sent it and what it is."""
        if not message.get("FromUserName") or not message.get("MsgType"):
            raise WeChatCallbackError(400, "callback without FromUserName or MsgType")
        if not OPENID.match(message["FromUserName"]):
            raise WeChatCallbackError(400, "FromUserName is not an openid")
        return message

    @staticmethod
    def _parse(body: bytes | str) -> dict[str, str]:
        try:
            message = parse_xml(body)
        except (ET.ParseError, ValueError, UnicodeDecodeError) as exc:
            raise WeChatCallbackError(400, "malformed XML") from exc
        return message

    async def answer(
        self, message: dict[str, str], on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> str | None:
        """The text a verified callback is answered with (None: nothing to say)."""
        sender_id = SENDER_PREFIX + message["FromUserName"]
        try:
            text = self.text_of(message)
            if text is None:
                return self.reply_without_bot(message)
            text = defuse_command(clean_text(text)) or "你好"
            if is_too_long(text):
                return too_long_reply()
            offered = self.store.offered_buttons(sender_id)
            text = (choose_button(text, offered) or text) if offered else text
            collector = CollectingOutputChannel()
            await on_new_message(UserMessage(
                text, collector, sender_id, input_channel=self.name(),
                message_id=message.get("MsgId") or None, metadata=self.metadata_of(message),
            ))
            # Also for an empty turn: the buttons offered before are then forgotten.
            reply = WeChatOutput(self.api, self.store).render_turn(sender_id, collector.messages)
            if collector.messages:
                if not reply:
                    logger.warning("WeChat turn of %s had no message WeChat can show", sender_id)
                return reply
            failed = False
        except Exception:  # the user must hear something, whatever broke
            logger.exception("WeChat message from %s could not be answered", sender_id)
            failed = True
        return failed_turn_reply("WeChat", sender_id, failed, await is_paused(sender_id))

    async def process(
        self, message: dict[str, str], on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        """Answer a verified callback through the send API (after the acknowledgement)."""
        sender_id = SENDER_PREFIX + message["FromUserName"]
        async with self._in_order(sender_id):
            text = await self.answer(message, on_new_message)
            if text:
                await WeChatOutput(self.api, self.store).send_text(sender_id, text)

    @contextlib.asynccontextmanager
    async def _in_order(self, sender_id: str) -> AsyncIterator[None]:
        """Hold the user's lock; it is forgotten once nobody holds or waits for it."""
        lock, users = self._user_locks.get(sender_id, (asyncio.Lock(), 0))
        self._user_locks[sender_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._user_locks[sender_id]
            if users == 1:
                del self._user_locks[sender_id]
            else:
                self._user_locks[sender_id] = (lock, users - 1)

    @staticmethod
    def text_of(message: dict[str, str]) -> str | None:
        """What the user said in text, or None for messages the bot cannot read."""
        kind = message.get("MsgType", "")
        if kind == "text":
            return message.get("Content", "")
        if kind == "voice" and message.get("Recognition"):
            return message["Recognition"]
        return None

    @staticmethod
    def reply_without_bot(message: dict[str, str]) -> str | None:
        """The channel's own answer to events and non-text messages (None: stay silent)."""
        kind = message.get("MsgType", "")
        if kind == "event":
            return WELCOME if message.get("Event", "").lower() == "subscribe" else None
        return UNSUPPORTED.get(kind, UNSUPPORTED_OTHER)

    @staticmethod
    def metadata_of(message: dict[str, str]) -> dict[str, Any]:
        """Metadata stored with the user message; `channel` tells the handoff where to answer."""
        return {
            "channel": CHANNEL_NAME,
            "wechat": {
                "openid": message.get("FromUserName"),
                "account": message.get("ToUserName"),
                "msg_id": message.get("MsgId"),
                "msg_type": message.get("MsgType"),
                "create_time": message.get("CreateTime"),
            },
        }
