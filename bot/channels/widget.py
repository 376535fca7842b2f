"""Rasa's socket.io channel, made safe and complete for the website widget.

Rasa 3.6's own `SocketIOInput` has three problems for a customer-facing widget:

- a bot message with a `custom` payload (the handoff states of the shared contract,
  `{"handoff": {...}}`) makes `AsyncServer.emit()` raise, so the message never arrives and a
  push through the HTTP API answers 500;
- a client may ask for any `session_id`, e.g. the id of a REST or messaging-app conversation,
  and then read the bot's pushes to that customer or write in their name;
- each closed WebSocket logs an ERROR traceback in Sanic 21.12.

`WidgetSocketIOInput` keeps the channel name `socketio` and Rasa's event names, and sends every
bot message as ONE `bot_uttered` event: text, quick replies, image, custom payload (a handoff
state also when it came in the event's metadata), the response name and the timestamp. A turn
that failed behind the bot (nothing said, or handling the message raised) gets the apology of
`bot.channels.silent` instead of silence, unless a human agent has the conversation.
"""
from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import rasa.core.channels.channel
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager, AsyncServer

from bot.channels.edge import (
    TOO_FAST,
    EdgeError,
    check_message,
    is_too_long,
    limiters,
    too_long_reply,
)
from bot.channels.silent import failed_turn_reply, handling_failed, is_paused
from bot.settings import RasaSettings
from contracts.errors import error_body
from contracts.http_input import InputError, is_clean_text, load_json
from contracts.widget import (
    SESSION_ID,
    bearer_matches,
    is_session_id,
    secret_from_env,
    session_token,
    token_matches,
    widget_message,
)

logger = logging.getLogger(__name__)

# Session ids are minted here (uuid4 hex); any other shape is refused and replaced.
MAX_METADATA_CHARS = 2000
MAX_DISPLAY_CHARS = 200
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
INVALID_MESSAGE = "抱歉，这条消息我没能识别（内容为空或含有无法显示的字符），请重新输入一下。"
# Keys of a bot message the widget renders; everything else (model id, ...) stays on the server.


ACTIVITY_MAX_BYTES = 1024


def agent_activity_payload(data: dict[str, Any]) -> dict[str, Any] | None:
    """The widget's `agent_activity` event: `typing` and/or `read` (booleans) and the agent's
    display name; None when the request holds neither flag or a wrong type."""
    typing, read, agent = data.get("typing"), data.get("read"), data.get("agent")
    if typing is None and read is None:
        return None
    if any(v is not None and not isinstance(v, bool) for v in (typing, read)):
        return None
    if agent is not None and (not isinstance(agent, str) or len(agent) > 40):
        return None
    return {"typing": typing, "read": read is True, "agent": agent}


def client_manager(settings: RasaSettings | None = None) -> AsyncRedisManager | None:
    """The rooms of every Rasa replica shared through Redis (WIDGET_SOCKET_REDIS_URL, else
    REDIS_URL, which the production profile sets for the lock store): a message pushed through
    one replica's HTTP API (an agent's reply relayed by the handoff service, which nginx may
    send to any replica) reaches the widget connected to another. None, the in-process
    manager, without either (one Rasa process, `make run`)."""
    settings = settings or RasaSettings.from_env(refuse=False)
    url = settings.widget_socket_redis_url
    return AsyncRedisManager(url, channel="shop-widget") if url else None


class WidgetSocketIOOutput(OutputChannel):
    """Sends each bot message to the widget's room as one `bot_uttered` event."""

    @classmethod
    def name(cls) -> str:
        """Same name as Rasa's channel, so `output_channel=latest` finds it."""
        return "socketio"

    def __init__(self, sio: AsyncServer, bot_message_evt: str) -> None:
        self.sio = sio
        self.bot_message_evt = bot_message_evt
        # Messages sent through this instance (one instance per customer turn).
        self.sent = 0

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """Send the whole message at once instead of one event per part."""
        payload = widget_message(message)
        if payload["text"] or len(payload) > 1:
            await self.sio.emit(self.bot_message_evt, payload, room=recipient_id)
            self.sent += 1

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Send a plain text message."""
        await self.send_response(recipient_id, {"text": text, **kwargs})

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        """Send a custom payload (as `custom` of the message, never as emit() arguments)."""
        await self.send_response(recipient_id, {"custom": json_message})


class WidgetSocketIOInput(SocketIOInput):
    """socket.io input channel for the widget (see the module docstring)."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Same credentials as Rasa's `socketio` channel."""
        credentials = credentials or {}
        return cls(
            credentials.get("user_message_evt", "user_uttered"),
            credentials.get("bot_message_evt", "bot_uttered"),
            credentials.get("namespace"),
            credentials.get("session_persistence", True),
            credentials.get("socketio_path", "/socket.io"),
            credentials.get("jwt_key"),
            credentials.get("jwt_method", "HS256"),
            credentials.get("metadata_key", "metadata"),
        )

    def _admit(self, sender_id: str, text: Any, address: str) -> tuple[str, str | None]:
        """The cleaned text of a message, and what to tell the customer instead of passing it
        on (None: pass it on)."""
        if not hasattr(self, "per_sender"):
            self.per_sender, self.per_address = limiters()
        try:
            cleaned = check_message(text)
        except EdgeError:
            return "", INVALID_MESSAGE
        if not self.per_address.allow(address) or not self.per_sender.allow(sender_id):
            return cleaned, TOO_FAST
        return cleaned, too_long_reply() if is_too_long(cleaned) else None

    def get_output_channel(self) -> OutputChannel | None:
        """Output channel for pushes through the HTTP API (`output_channel=latest`)."""
        return WidgetSocketIOOutput(self.sio, self.bot_message_evt) if self.sio else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The socket.io server on `socketio_path`, with the event handlers."""
        # Any shop origin may connect, over WebSocket (no CORS in browsers) as over HTTP long
        # polling (CORS headers for every origin, without credentials: no cookie is used, a
        # session is proven by its token). `rasa run --cors` would repeat these headers.
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins="*", cors_credentials=False,
                          client_manager=client_manager())
        self.sio = sio
        blueprint = _SocketBlueprint(sio, self.socketio_path or "/socket.io", "socketio_webhook")

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        sio.on("connect", self._on_connect, namespace=self.namespace)
        sio.on("session_request", self._on_session_request, namespace=self.namespace)

        async def handle_message(sid: str, data: Any) -> None:
            await self._on_user_message(sid, data, on_new_message)

        sio.on(self.user_message_evt, handle_message, namespace=self.namespace)

        @blueprint.route("/agent_activity", methods=["POST"])
        async def agent_activity(request: Request) -> HTTPResponse:
            return await self._agent_activity(request)

        return blueprint

    async def _agent_activity(self, request: Request) -> HTTPResponse:
        """What the handoff service tells a widget besides messages (nothing is stored in the
        conversation): the agent is typing, or has read the customer's messages. Needs the
        Rasa server's token (RASA_AUTH_TOKEN) as a bearer token."""
        if not bearer_matches(request.headers.get("authorization"),
                              os.environ.get("RASA_AUTH_TOKEN", "")):
            return response.json(error_body("unauthorized", "Missing or wrong bearer token."),
                                 status=401)
        try:
            data = load_json(request.body, ACTIVITY_MAX_BYTES, depth=2)
        except InputError as error:
            return response.json(error.body(), status=error.status)
        activity = agent_activity_payload(data)
        if activity is None or not is_session_id(data.get("conversation_id")):
            return response.json(error_body(
                "invalid_activity", "Expected a typing or read activity for a widget session."),
                status=400)
        await self.sio.emit("agent_activity", activity, room=data["conversation_id"],
                            namespace=self.namespace)
        return response.json({"status": "sent"})

    async def _on_connect(self, sid: str, environ: dict, auth: dict | None = None) -> bool:
        if not self.jwt_key:
            return True
        token = auth.get("token") if isinstance(auth, dict) else None
        payload = None
        if token:
            payload = rasa.core.channels.channel.decode_bearer_token(
                token, self.jwt_key, self.jwt_algorithm
            )
        return bool(payload)

    async def _on_session_request(self, sid: str, data: Any) -> None:
        """Confirm the session the client asks for when it proves it holds it (its token),
        else a new one; then send the session's token (`session_token` event)."""
        assert self.sio is not None
        requested = data.get("session_id") if isinstance(data, dict) else None
        token = data.get("session_token") if isinstance(data, dict) else None
        secret = secret_from_env()
        if not (isinstance(requested, str) and is_session_id(requested)
                and token_matches(secret, requested, token)):
            requested = None
        session_id = requested or uuid.uuid4().hex
        if self.session_persistence:
            entered = self.sio.enter_room(sid, session_id, namespace=self.namespace)
            if isinstance(entered, Awaitable):  # a coroutine from python-socketio >= 5.10
                await entered
        await self.sio.save_session(sid, {"session_id": session_id}, namespace=self.namespace)
        await self.sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)
        await self.sio.emit("session_token", {"session_id": session_id,
                                              "token": session_token(secret, session_id)},
                            room=sid, namespace=self.namespace)

    async def _on_user_message(
        self, sid: str, data: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        """Hand a customer message to Rasa, in the session confirmed for this socket."""
        assert self.sio is not None
        if not isinstance(data, dict):
            logger.warning("socket.io: ignored a user message that is not an object from %s", sid)
            return
        if self.session_persistence:
            session = await self.sio.get_session(sid, namespace=self.namespace)
            sender_id = session.get("session_id")
            if not sender_id or data.get("session_id") not in (None, sender_id):
                logger.warning("socket.io: ignored a message for an unconfirmed session")
                return
        else:
            sender_id = sid
        output = WidgetSocketIOOutput(self.sio, self.bot_message_evt)
        text, refusal = self._admit(sender_id, data.get("message"),
                                    environ_address(self.sio, sid))
        if refusal:
            await output.send_text_message(sender_id, refusal)
            return
        message = UserMessage(
            text,
            output,
            sender_id,
            input_channel=self.name(),
            metadata=_metadata(data.get(self.metadata_key)),
        )
        failed = await handling_failed(on_new_message, message, "widget")
        # Nothing said: something behind the bot failed (action server down, an action crashed,
        # handling the message raised), or an agent has the conversation. `failed_turn_reply`
        # decides what to say, once; never on top of a real answer.
        if output.sent:
            return
        reply = failed_turn_reply("widget", sender_id, failed, await is_paused(sender_id))
        if reply is None:
            return
        try:
            await output.send_text_message(sender_id, reply)
        except Exception:  # noqa: BLE001 - socket.io itself is broken: nothing more to do
            logger.exception("could not send the apology to %s", sender_id)


def _metadata(raw: Any) -> dict[str, Any]:
    """What the widget may say about a message: its client-side id, the text it showed
    for a button and the id of a photo it stored on the widget server. Anything else (a
    customer id, a verified flag) is the client's claim and dropped: identity comes from the
    channel."""
    if isinstance(raw, str) and len(raw) <= MAX_METADATA_CHARS:
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            return {}
    if not isinstance(raw, dict):
        return {}
    kept: dict[str, Any] = {}
    client_id = raw.get("client_id")
    if isinstance(client_id, str) and CLIENT_ID.match(client_id):
        kept["client_id"] = client_id
    image_id = raw.get("image_id")  # a photo stored by the widget server (widget/uploads.py)
    if isinstance(image_id, str) and SESSION_ID.match(image_id):
        kept["image_id"] = image_id
    shown = raw.get("display_text")
    if isinstance(shown, str) and shown and len(shown) <= MAX_DISPLAY_CHARS \
            and is_clean_text(shown):
        kept["display_text"] = shown
    return kept


def environ_address(sio: AsyncServer, sid: str) -> str:
    """The client address of a socket (for the per-address rate limit)."""
    try:
        environ = sio.get_environ(sid) or {}
    except (KeyError, AttributeError):
        return "unknown"
    request = environ.get("sanic.request")
    address = getattr(request, "remote_addr", "") or getattr(request, "ip", "")
    return address or environ.get("REMOTE_ADDR") or "unknown"


class _SocketBlueprint(Blueprint):
    """Mounts the Engine.IO endpoint, marked as a WebSocket handler.

    Sanic logs "Invalid response type None" with a traceback whenever a WebSocket handled by
    Engine.IO closes, unless the handler carries `is_websocket`; polling requests still get
    their HTTP response.
    """

    def __init__(self, sio: AsyncServer, socketio_path: str, name: str) -> None:
        super().__init__(name)
        self.ctx.sio = sio
        self.ctx.socketio_path = "/" + socketio_path.strip("/") + "/"

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        """Add the Engine.IO route to `app` and enable WebSockets."""
        eio = self.ctx.sio.eio

        async def engineio_endpoint(request: Request) -> HTTPResponse | None:
            return await eio.handle_request(request)

        engineio_endpoint.is_websocket = True  # type: ignore[attr-defined]
        app.add_route(engineio_endpoint, self.ctx.socketio_path,
                      methods=["GET", "POST", "OPTIONS"], name="widget_engineio")
        app.enable_websocket()
        super().register(app, options)
