"""The handoff service's HTTP API and agent console (Sanic).

The bot authenticates with `Authorization: Bearer <HANDOFF_API_TOKEN>`, agents with the
session token they get from logging in; every `/api/v1` route except login checks one of them.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from contracts.errors import error_body
from contracts.handoff import is_cancel
from contracts.http_input import InputError, is_printable_id, load_json
from contracts.masking import mask_sensitive
from contracts.notices import notice as notice_text
from contracts.notices import queued_notice
from handoff import auth, labels
from handoff.broker import BrokerConsumer
from handoff.config import Settings
from handoff.events import (
    EventTail,
    customer_message,
    is_request_for_human,
    is_thanks,
    record_message,
)
from handoff.live import Hub
from handoff.relay import LISTEN, PAUSE, RasaRelay, RelayError, bot_event, custom_state
from handoff.schema import REASONS, PayloadError, iso, validate_payload
from handoff.shop import ShopClient
from handoff.store import GROUPS, OPEN, STATUSES, ConflictError, NotFoundError, Store

logger = logging.getLogger(__name__)
# Tries to read a late handoff's missed messages from Rasa (backfill_from_rasa).
BACKFILL_ATTEMPTS = 9
# Open handoffs compared with Rasa per round (the API lists 200; the queue can be longer).
RECONCILE_LIMIT = 5000
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
MAX_AGENT_TEXT = 2000
MAX_BODY = 2 * 1024 * 1024
# Failed logins of one account in a row before it is locked for LOGIN_LOCK_SECONDS.
LOGIN_FAILURES = 5
RESTARTED_NOTE = "客户重新开始了对话，机器人已恢复应答，本次转人工已结束。"
ABANDONED_NOTE = ("客户已 {hours} 小时没有发消息，也没有客服接入：本次转人工已自动结束"
                  "（abandoned），机器人已恢复应答。")
# The console's session cookie: HttpOnly (no script reads it), SameSite=Strict (never sent
# with another site's request); a request it authorises that changes something must also
# carry CONSOLE_HEADER, which a cross-site form cannot set.
SESSION_COOKIE = "handoff_session"
CONSOLE_HEADER = "x-handoff-console"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# A customer message while queued gets the full acknowledgement at most this often; the
# ones in between a short "收到".
ACK_FULL_EVERY_SECONDS = 120
SSE_HEARTBEAT_SECONDS = 15
LOGIN_LOCK_SECONDS = 60
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
STATIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}\.[a-z]{1,8}$")
MAX_DEPTH = 10
# The error codes this API has always used for the shared input errors (openapi.yaml).
HANDOFF_CODES = {"invalid_json": "malformed_json", "not_an_object": "invalid_payload"}


class ApiError(Exception):
    """An error answered with the shared error body (contracts.errors)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        """Keep the status, a machine-readable code and a human-readable message."""
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_json(status: int, code: str, message: str) -> HTTPResponse:
    """The JSON body of every error (contracts.errors)."""
    return response.json(error_body(code, message), status=status, dumps=_dumps)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def ok(data: Any, status: int = 200) -> HTTPResponse:
    """A JSON answer with Chinese kept readable."""
    return response.json(data, status=status, dumps=_dumps)


def body_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object of bounded size and depth with clean strings, or a 4xx."""
    try:
        return load_json(request.body, MAX_BODY, depth=MAX_DEPTH)
    except InputError as error:
        code = HANDOFF_CODES.get(error.code, error.code)
        raise ApiError(error.status, code, error.message) from error


def requires(*roles: str) -> Callable:
    """Allow a route to the bot ("bot"), logged-in agents ("agent") and/or only agents with
    the supervisor role ("supervisor")."""
    def decorator(handler: Callable) -> Callable:
        @wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            token = auth.bearer(request.headers.get("authorization"))
            from_cookie = False
            if not token:
                token = request.cookies.get(SESSION_COOKIE) or None
                from_cookie = token is not None
            if not token:
                raise ApiError(401, "unauthorized", "missing Authorization: Bearer token")
            service: HandoffService = request.app.ctx.service
            if from_cookie and request.method not in SAFE_METHODS \
                    and request.headers.get(CONSOLE_HEADER) != "1":
                raise ApiError(403, "forbidden",
                               f"a console session needs the {CONSOLE_HEADER} header")
            request.ctx.session_token = token
            if not from_cookie and auth.same_secret(token, service.settings.api_token):
                if "bot" not in roles:
                    raise ApiError(403, "forbidden", "this action needs a logged-in agent")
                request.ctx.agent = None
            else:
                agent = service.store.agent_for_session(auth.token_hash(token))
                if agent is None:
                    raise ApiError(401, "unauthorized", "invalid or expired token")
                if "agent" not in roles and "supervisor" not in roles:
                    raise ApiError(403, "forbidden", "this endpoint is for the bot")
                if "agent" not in roles and agent.get("role") != "supervisor":
                    raise ApiError(403, "forbidden", "this page is for supervisors")
                request.ctx.agent = agent
            return await handler(request, *args, **kwargs)
        return wrapper
    return decorator


class HandoffService:
    """The service's behaviour, independent of HTTP routing."""

    def __init__(self, settings: Settings) -> None:
        """Open the store; the relay and the event tail start with the server."""
        self.settings = settings
        self.store = Store(settings.db_url)
        self.relay = RasaRelay(settings.rasa_url, settings.rasa_token, settings.rasa_timeout)
        # One source of customer messages: the broker's queue when configured, else the table.
        self.tail = EventTail(self.store, settings.events_url) \
            if settings.events_url and not settings.broker_url else None
        self.consumer = BrokerConsumer(self.store, settings.broker_url, settings.broker_queue,
                                       self.react) if settings.broker_url else None
        # (username, client address) -> (failures in a row, locked until); per process,
        # forgotten on restart. Per address too, so a guesser elsewhere cannot lock an agent
        # out of their own console.
        self.login_failures: dict[tuple[str, str], tuple[int, float]] = {}
        # Notices sent after the answer (kept referenced until done).
        self.background: set[asyncio.Task] = set()
        # The consoles' live streams (server-sent events).
        self.hub = Hub()
        # The shop API client of the agent workbench, made on first use (handoff.desk.shop).
        self.shop: ShopClient | None = None

    def later(self, coroutine: Any) -> None:
        """Run a coroutine after the current answer, keeping it referenced until done."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def check_login_allowed(self, username: str, address: str = "") -> None:
        """Refuse logins that failed too often just now for this account from this address
        (password guessing)."""
        failures, until = self.login_failures.get((username, address), (0, 0.0))
        if failures >= LOGIN_FAILURES and time.time() < until:
            raise ApiError(429, "too_many_attempts", "登录失败次数过多，请 1 分钟后再试")

    def record_login(self, username: str, success: bool, address: str = "") -> None:
        """Count a failed login, or clear the count after a successful one."""
        if success:
            self.login_failures.pop((username, address), None)
            return
        if len(self.login_failures) > 10_000:  # bounded memory under a spray of names
            now = time.time()
            self.login_failures = {k: v for k, v in self.login_failures.items() if v[1] > now}
        failures = self.login_failures.get((username, address), (0, 0.0))[0] + 1
        self.login_failures[(username, address)] = (failures, time.time() + LOGIN_LOCK_SECONDS)

    async def login(self, username: str, password: str, address: str = "") -> tuple[str, dict]:
        """Check an agent's password and open a session: (token, agent).

        The same work for an unknown user as for a known one (one scrypt run, against a
        dummy hash computed once), run off the event loop; the same answer for both."""
        self.check_login_allowed(username, address)
        agent = self.store.agent_by_username(username)
        stored = agent["password_hash"] if agent else auth.dummy_hash()
        loop = asyncio.get_running_loop()
        matches = await loop.run_in_executor(None, auth.verify_password, password, stored)
        if not matches or agent is None:
            self.record_login(username, success=False, address=address)
            await asyncio.sleep(0.3)
            raise ApiError(401, "bad_credentials", "用户名或密码不正确")
        self.record_login(username, success=True, address=address)
        token = auth.new_session_token()
        self.store.add_session(auth.token_hash(token), agent["id"], self.settings.session_hours)
        self.store.agent_for_session(auth.token_hash(token))  # counts the agent as online now
        return token, agent

    # --- views ----------------------------------------------------------------------------

    def view(self, handoff: dict[str, Any], full: bool = False) -> dict[str, Any]:
        """A handoff as the API returns it."""
        payload = handoff["payload"]
        position = self.store.queue_position(handoff)
        online = self.store.agents_online(self.settings.online_seconds)
        data = {
            "id": handoff["id"],
            "conversation_id": handoff["conversation_id"],
            "status": handoff["status"],
            "reason": handoff["reason"],
            "reason_label": REASONS.get(handoff["reason"], handoff["reason"]),
            "priority": handoff["priority"],
            "summary": labels.clean_summary(handoff["summary"]),
            "channel": handoff["channel"],
            "customer_id": handoff["customer_id"],
            # Only an authenticated channel (WeChat) vouches for the id; False when unknown.
            "customer_id_verified": payload.get("customer_id_verified") is True,
            "topic": handoff["topic"],
            "topic_label": labels.topic_label(handoff["topic"]),
            "intent": payload.get("intent"),
            "intent_label": labels.intent_label((payload.get("intent") or {}).get("name")),
            "emotion": payload.get("emotion"),
            "slots": payload.get("slots") or {},
            "details": labels.slot_list(payload.get("slots") or {}),
            "agent": handoff.get("agent_name"),
            "agent_username": handoff.get("agent_username"),
            "bot_paused": handoff["bot_paused"],
            "position": position,
            "eta_minutes": self.store.expected_wait(position, online,
                                                    self.settings.default_handle_minutes),
            "agents_online": online,
            "created_at": iso(handoff["created_at"]),
            "requested_at": iso(handoff["requested_at"]),
            "claimed_at": iso(handoff["claimed_at"]),
            "closed_at": iso(handoff["closed_at"]),
            "waiting_seconds": int((handoff["claimed_at"] or time.time()) - handoff["created_at"]),
        }
        if full:
            data["transcript"] = [message_view(m) for m in self.store.messages(handoff["id"])]
        return data

    def views(self, rows: list[dict[str, Any]], full: bool = False) -> list[dict[str, Any]]:
        """Handoffs as the API returns them, with their tags and group (read in one go)."""
        ids = [h["id"] for h in rows]
        tags, groups = self.store.tags_of(ids), self.store.groups_of(ids)
        views = []
        for handoff in rows:
            data = self.view(handoff, full=full)
            group = groups.get(handoff["id"])
            data["tags"] = tags.get(handoff["id"], [])
            data["group"] = {"name": group, "label": GROUPS[group]} if group in GROUPS else None
            views.append(data)
        return views

    # --- actions --------------------------------------------------------------------------

    async def create(self, data: Any, key: str | None) -> tuple[dict[str, Any], bool]:
        """Create (or find again) a handoff from the bot's payload."""
        fields, transcript = validate_payload(data)
        key = key or (data.get("idempotency_key") if isinstance(data, dict) else None)
        if not isinstance(key, str) or not key.strip() or len(key) > 255 \
                or not is_printable_id(key):
            raise ApiError(400, "missing_idempotency_key",
                           "send an Idempotency-Key header (or idempotency_key) of 1-255 chars")
        fields["payload"] = json.dumps(_stored_payload(data), ensure_ascii=False)
        result = self.store.create_handoff(key.strip(), fields, transcript)
        handoff = result.handoff
        added: list[tuple[dict[str, Any], Any]] = []
        if result.created and handoff["bot_paused"]:
            # The bot tells the customer their place in this very turn, with the same words
            # (contracts.notices.queued_notice from the numbers of this answer): filed here, so
            # the agent reads what was promised, in this handoff's transcript.
            queued = self.queued(handoff)
            self.store.add_message(handoff, "bot", queued.text, "notice", {
                "custom": custom_state("queued", position=self.view(handoff)["position"],
                                       eta_minutes=queued.eta_minutes),
                "notice": queued.name})
        if result.created and self.tail is not None:
            added = await asyncio.get_running_loop().run_in_executor(
                None, self.tail.backfill, handoff)
            handoff = self.store.handoff(handoff["id"])
        elif result.created and self.consumer is not None:
            self.later(self.backfill_from_rasa(handoff))
        if result.created:
            self.hub.publish("queue", {"handoff_id": handoff["id"], "status": "queued"})
            # Whatever goes to Rasa (a cancel found in the backfill, the "queued" notice) is
            # sent after this answer: Rasa may be holding the conversation's lock for the very
            # turn that is posting this handoff, and would wait for us while we wait for it.
            self.later(self.after_create(handoff, added))
        return handoff, result.created

    def queued(self, handoff: dict[str, Any]) -> Any:
        """The notice for a queued handoff, as the bot words it (contracts.notices)."""
        view = self.view(handoff)
        payload = handoff["payload"]
        return queued_notice(view["position"], view["eta_minutes"], view["agents_online"],
                             str(payload.get("service_hours") or ""),
                             payload.get("in_service_hours") is not False,
                             self.settings.long_wait_minutes)

    async def backfill_from_rasa(self, handoff: dict[str, Any],
                                 attempts: int = BACKFILL_ATTEMPTS) -> None:
        """With the message broker, customer messages published before the handoff arrived
        (late, from the bot's outbox) found no handoff and are gone from the queue: read them
        from Rasa's conversation instead. Same keys as the queue's, so each is added once.
        Rasa busy or a replica gone: tried again for about two minutes."""
        for attempt in range(attempts):
            try:
                events = await self.relay.events(handoff["conversation_id"])
                break
            except RelayError as error:
                logger.warning("backfill of %s failed (%s)", handoff["id"], error)
                await asyncio.sleep(min(2 ** attempt, 20))
        else:
            logger.error("no backfill for %s: Rasa unreachable", handoff["id"])
            return
        added = []
        for event in events:
            message = customer_message(0, handoff["conversation_id"], json.dumps(event), key="")
            if message:
                added.extend(await asyncio.get_running_loop().run_in_executor(
                    None, record_message, self.store, message, handoff))
        await self.react(added)

    async def reconcile_forever(self) -> None:
        """With the message broker: every `reconcile_seconds`, compare each open handoff with
        Rasa's conversation and add the customer messages the queue did not bring (published
        from a replica's memory after its turn was saved: a replica killed in between, or
        killed while RabbitMQ was down, never publishes them). Same keys: nothing twice."""
        while True:
            await asyncio.sleep(self.settings.reconcile_seconds)
            try:
                for handoff in self.store.list_handoffs(OPEN, limit=RECONCILE_LIMIT):
                    await self.backfill_from_rasa(handoff, attempts=1)
            except Exception:  # keep reconciling whatever one round did
                logger.exception("reconciling open handoffs with Rasa failed")

    async def after_create(self, handoff: dict[str, Any],
                           added: list[tuple[dict[str, Any], Any]]) -> None:
        """Act on messages found by the backfill; a handoff delivered late from the bot's
        outbox (bot not paused) gets the "queued" notice with the customer's place."""
        try:
            await self.react(added)
            handoff = self.store.handoff(handoff["id"])
            if handoff["bot_paused"] or handoff["status"] != "queued":
                return
            queued = self.queued(handoff)
            await self.notify(handoff, "queued", position=self.view(handoff)["position"],
                              eta_minutes=queued.eta_minutes, strict=False, text=queued.text,
                              notice=queued.name)
        except Exception:  # a background task: log, never lose it silently
            logger.exception("after creating %s", handoff["id"])

    async def claim(self, handoff_id: str, agent: dict[str, Any]) -> dict[str, Any]:
        """An agent takes the conversation: the bot is paused and the customer told."""
        current = self.store.handoff(handoff_id)
        if current["status"] == "claimed" and current["agent_id"] == agent["id"]:
            return current
        handoff = self.store.transition(handoff_id, "claim", agent["id"])
        # Told nobody was there (off hours, or nobody online): say someone came early.
        promised = {m["meta"].get("notice") for m in self.store.notices_of(handoff_id)}
        early = bool(promised & {"queued_no_agent", "queued_off_hours"})
        try:
            await self.notify(handoff, "agent_joined", agent=agent["display_name"], pause=True,
                              notice="agent_joined_early" if early else None)
        except RelayError:
            self.store.revert(handoff_id, current)
            raise
        self.hub.publish("status", {"handoff_id": handoff_id, "status": "claimed"})
        return handoff

    async def close(self, handoff_id: str, action: str, agent: dict[str, Any] | None) -> dict:
        """Resolve, hand back or cancel: the customer is told and the bot resumes."""
        current = self.store.handoff(handoff_id)
        handoff = self.store.transition(handoff_id, action, agent["id"] if agent else None)
        state = "cancelled" if action == "cancel" else "bot_back"
        question = self.open_question(handoff) if action != "cancel" else None
        name = "resolved" if action == "resolve" else None
        if question:
            name = "bot_back_open"
        try:
            await self.notify(handoff, state, agent=handoff.get("agent_name"), resume=True,
                              notice=name, question=question or "", listen=not question,
                              publish=not question)
        except RelayError:
            self.store.revert(handoff_id, current)
            raise
        if question:
            # The bot answers the open question now, as if it had just been asked (the
            # consoles hear of the hand back once it has).
            await self.pick_up(handoff)
            self.hub.publish("message", {"handoff_id": handoff_id})
        self.hub.publish("status", {"handoff_id": handoff_id, "status": handoff["status"]})
        return handoff

    def open_question(self, handoff: dict[str, Any]) -> str | None:
        """The customer's last message when nobody answered it yet (it is the newest turn of
        the handoff and not a thanks or a goodbye), shortened for a notice; else None."""
        last = self.store.last_turn(handoff["id"])
        if not last or last["sender"] != "customer":
            return None
        intent = (last["meta"].get("intent") or {}).get("name")
        if is_thanks(last["text"], intent) or is_request_for_human(last["text"], intent):
            return None  # nothing to answer (or the request for a human itself)
        text = " ".join(last["text"].split())
        return text if len(text) <= 40 else text[:40] + "…"

    async def pick_up(self, handoff: dict[str, Any]) -> None:
        """Let the bot answer the customer's open question after the resume; whatever Rasa
        collected (REST) goes to the customer feed. A failure leaves the bot listening."""
        try:
            said = await self.relay.continue_conversation(handoff["conversation_id"])
        except RelayError as error:
            logger.warning("the bot could not pick up %s: %s", handoff["id"], error)
            try:
                await self.relay.send(handoff["conversation_id"], LISTEN)
            except RelayError:
                pass
            return
        for message in said:
            if isinstance(message.get("text"), str) and message["text"].strip():
                self.store.add_message(handoff, "bot", message["text"], "notice",
                                       {"notice": "bot_answer"}, to_customer=True)

    async def agent_message(self, handoff_id: str, agent: dict[str, Any], text: Any) -> dict:
        """Relay an agent's message to the customer's channel, then record it."""
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "empty_message", "text: a non-empty string is required")
        if len(text) > MAX_AGENT_TEXT:
            raise ApiError(400, "message_too_long", f"text: at most {MAX_AGENT_TEXT} characters")
        handoff = self.store.handoff(handoff_id)
        if handoff["status"] != "claimed" or handoff["agent_id"] != agent["id"]:
            raise ConflictError("claim the handoff before replying" if handoff["status"] == "queued"
                           else f"the handoff is {handoff['status']} and held by "
                                f"{handoff.get('agent_name') or 'nobody'}")
        custom = custom_state("agent_message", agent=agent["display_name"])
        await self.relay.send(handoff["conversation_id"],
                              [bot_event(text.strip(), custom, handoff["id"])])
        message_id = self.store.add_message(handoff, "agent", text.strip(), "agent",
                                            {"custom": custom, "agent": agent["display_name"]},
                                            to_customer=True)
        self.hub.publish("message", {"handoff_id": handoff_id})
        return {"id": message_id, "text": text.strip()}

    async def notify(self, handoff: dict[str, Any], state: str, agent: str | None = None,
                     position: int | None = None, eta_minutes: int | None = None,
                     pause: bool = False, resume: bool = False, strict: bool = True,
                     notice: str | None = None, text: str | None = None,
                     question: str = "", listen: bool = True, publish: bool = True) -> None:
        """Tell the customer about a state change through Rasa (pausing or resuming the bot
        in the same call) and keep the notice for REST clients and the agent's view.
        `listen=False` leaves the turn open after a resume (the bot answers next)."""
        text = text or notice_text(notice or state, agent=agent, position=position,
                                   eta_minutes=eta_minutes, question=question)
        custom = custom_state(state, agent=agent, position=position, eta_minutes=eta_minutes)
        events = (PAUSE if pause else []) + [bot_event(text, custom, handoff["id"])]
        if resume:
            events += [{"event": "resume"}] + (LISTEN if listen else [])
        try:
            await self.relay.send(handoff["conversation_id"], events)
        except RelayError as error:
            logger.warning("could not notify %s (%s): %s", handoff["id"], state, error)
            if strict:
                raise
        self.store.add_message(handoff, "bot", text, "notice",
                               {"custom": custom, "notice": notice or state}, to_customer=True)
        if publish:
            self.hub.publish("message", {"handoff_id": handoff["id"]})

    async def react(self, added: list[tuple[dict[str, Any], Any]]) -> None:
        """Act on new customer messages: "算了不用了" while queued cancels the handoff; a
        restart of the conversation (which unpauses the bot) ends it."""
        for handoff, message in added:
            self.hub.publish("message", {"handoff_id": handoff["id"]})
            if message.restart:
                self.end_after_restart(handoff)
            elif handoff["status"] == "queued" and is_cancel(message.text):
                try:
                    await self.close(handoff["id"], "cancel", None)
                    logger.info("handoff %s cancelled by the customer", handoff["id"])
                except (ConflictError, RelayError) as error:
                    logger.warning("could not cancel %s: %s", handoff["id"], error)
            elif handoff["status"] == "queued":
                await self.answer_while_queued(handoff, message)

    async def answer_while_queued(self, handoff: dict[str, Any], message: Any) -> None:
        """The paused bot says nothing: the service answers a queued customer. Asking for a
        human again gets the place in the queue; any other message an acknowledgement (the
        full one at most every two minutes, a short "收到" in between)."""
        current = self.store.handoff(handoff["id"])
        if current["status"] != "queued" or not current["bot_paused"]:
            return  # an agent has it, or the bot is not paused and answers by itself
        view = self.view(current)
        intent = (message.intent or {}).get("name")
        if is_request_for_human(message.text, intent):
            name = "still_queued" if view["agents_online"] else "still_queued_no_agent"
            eta = view["eta_minutes"]
            if eta is not None and eta > self.settings.long_wait_minutes:
                eta = None
        else:
            acks = [m for m in self.store.notices_of(current["id"])
                    if m["meta"].get("notice") == "message_received"]
            recent = acks and time.time() - acks[-1]["timestamp"] < ACK_FULL_EVERY_SECONDS
            name, eta = ("message_received_again" if recent else "message_received"), None
        try:
            await self.notify(current, "queued", position=view["position"], eta_minutes=eta,
                              notice=name)
        except RelayError:
            pass  # logged by notify; the customer's message is with the agent anyway

    def end_after_restart(self, handoff: dict[str, Any]) -> None:
        """The customer restarted the chat and the bot answers again: close the handoff and
        tell the agent (the customer already sees the bot)."""
        action = "cancel" if handoff["status"] == "queued" else "handback"
        try:
            closed = self.store.transition(handoff["id"], action)
        except ConflictError:
            return
        self.store.add_message(closed, "bot", RESTARTED_NOTE, "notice")
        self.hub.publish("status", {"handoff_id": handoff["id"], "status": closed["status"]})
        logger.info("handoff %s ended: the customer restarted the conversation", handoff["id"])

    async def sweep(self) -> list[dict[str, Any]]:
        """Close abandoned handoffs: queued, and the customer has written nothing for
        `abandon_hours` (neither the request nor a message while waiting is newer). The
        customer is told and the bot resumes; when Rasa cannot be reached the handoff stays
        queued and the next sweep tries again. Returns the handoffs closed."""
        before = time.time() - self.settings.abandon_hours * 3600
        closed = []
        for handoff in self.store.silent_since(before):
            try:
                ended = self.store.transition(handoff["id"], "abandon")
            except ConflictError:
                continue  # claimed or cancelled meanwhile
            try:
                await self.notify(ended, "cancelled", resume=True, notice="abandoned")
            except RelayError:
                self.store.revert(handoff["id"], handoff)
                continue
            hours = f"{self.settings.abandon_hours:g}"
            self.store.add_message(ended, "bot", ABANDONED_NOTE.format(hours=hours), "notice")
            self.hub.publish("status", {"handoff_id": handoff["id"], "status": "abandoned"})
            logger.info("handoff %s abandoned: no word from the customer for %s h",
                        handoff["id"], hours)
            closed.append(ended)
        return closed

    async def sweep_forever(self) -> None:
        """Sweep abandoned handoffs every `sweep_seconds` until the server stops."""
        while True:
            try:
                await self.sweep()
            except Exception:  # keep sweeping whatever one round did
                logger.exception("sweeping abandoned handoffs failed")
            await asyncio.sleep(self.settings.sweep_seconds)

    async def tail_forever(self) -> None:
        """Follow the event stream until the server stops."""
        tail = self.tail
        if tail is None:
            return
        loop = asyncio.get_running_loop()
        while True:
            try:
                added = await loop.run_in_executor(None, tail.poll)
                await self.react(added)
            except Exception:  # keep following the stream whatever one batch did
                logger.exception("event stream poll failed")
            await asyncio.sleep(self.settings.events_poll_seconds)


def message_view(message: dict[str, Any]) -> dict[str, Any]:
    """A transcript entry: `{sender, text, timestamp}` plus its id, source and details."""
    meta = message["meta"]
    return {"id": message["id"], "sender": message["sender"], "text": message["text"],
            "timestamp": iso(message["timestamp"]), "source": message["source"],
            "intent": meta.get("intent"), "emotion": meta.get("emotion"),
            "intent_label": labels.intent_label((meta.get("intent") or {}).get("name")),
            "agent": meta.get("agent"), "custom": meta.get("custom"),
            "image_id": meta.get("image_id")}


def _stored_payload(data: dict[str, Any]) -> dict[str, Any]:
    """The payload's details besides the transcript (kept as JSON), card numbers masked."""
    keep = ("intent", "emotion", "slots", "topic", "channel", "customer_id",
            "customer_id_verified", "requested_at", "bot_version", "service_hours",
            "in_service_hours")
    stored = {k: data[k] for k in keep if k in data}
    if not isinstance(stored.get("service_hours"), str):
        stored.pop("service_hours", None)
    else:
        stored["service_hours"] = stored["service_hours"][:64]
    if not isinstance(stored.get("in_service_hours"), bool):
        stored.pop("in_service_hours", None)
    if isinstance(stored.get("slots"), dict):
        stored["slots"] = {str(k)[:64]: mask_sensitive(v) if isinstance(v, str) else v
                           for k, v in list(stored["slots"].items())[:50]}
    return stored


def _statuses(value: str | None) -> tuple[str, ...]:
    if not value or value == "open":
        return OPEN
    if value == "all":
        return STATUSES
    wanted = tuple(s.strip() for s in value.split(",") if s.strip())
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown:
        raise ApiError(400, "bad_status", f"status: open, all or any of {', '.join(STATUSES)}")
    return wanted


def _after(request: Request) -> int:
    raw = request.args.get("after") or "0"
    if len(raw) > 18 or not raw.isascii() or not raw.isdigit():
        raise ApiError(400, "bad_after", "after: a message id (integer)")
    return int(raw)


def create_app(settings: Settings | None = None, name: str = "handoff") -> Sanic:
    """The Sanic application (an app factory, so tests can build several)."""
    settings = settings or Settings.from_env()
    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = MAX_BODY
    # Behind a reverse proxy, the client's address comes from X-Forwarded-For (login lockout).
    app.config.PROXIES_COUNT = settings.proxies_count
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.service = HandoffService(settings)
    _routes(app)
    from handoff import desk  # imports this module: registered once both are loaded

    desk.routes(app)
    _console(app)
    from handoff.report_routes import bp as reports_blueprint

    app.blueprint(reports_blueprint)

    @app.exception(ApiError)
    async def api_error(request: Request, error: ApiError) -> HTTPResponse:
        return error_json(error.status, error.code, error.message)

    @app.exception(PayloadError)
    async def payload_error(request: Request, error: PayloadError) -> HTTPResponse:
        return error_json(400, "invalid_payload", str(error))

    @app.exception(NotFoundError)
    async def not_found(request: Request, error: NotFoundError) -> HTTPResponse:
        text = str(error)
        return error_json(404, "not_found", text if " " in text else f"no handoff {text}")

    @app.exception(ConflictError)
    async def conflict(request: Request, error: ConflictError) -> HTTPResponse:
        return error_json(409, "conflict", str(error))

    @app.exception(RelayError)
    async def relay_error(request: Request, error: RelayError) -> HTTPResponse:
        return error_json(502, "rasa_unreachable",
                          f"the customer's conversation could not be reached: {error}")

    @app.middleware("response")
    async def security_headers(request: Request, resp: HTTPResponse) -> None:
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers.setdefault("Content-Security-Policy", (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"))

    @app.after_server_start
    async def start_tail(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
        service: HandoffService = app.ctx.service
        if service.tail is not None:
            app.ctx.tail_task = loop.create_task(service.tail_forever())
        if service.consumer is not None:
            app.ctx.consumer_task = loop.create_task(service.consumer.run())
            app.ctx.reconcile_task = loop.create_task(service.reconcile_forever())
        app.ctx.sweep_task = loop.create_task(service.sweep_forever())

    @app.before_server_stop
    async def stop_tail(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
        for name in ("tail_task", "consumer_task", "reconcile_task", "sweep_task"):
            task = getattr(app.ctx, name, None)
            if task:
                task.cancel()
        app.ctx.service.hub.close_all()  # open streams end, so the server stops at once
        await app.ctx.service.relay.close()
        if app.ctx.service.shop is not None:
            await app.ctx.service.shop.close()

    return app


def _routes(app: Sanic) -> None:  # noqa: C901 - one place that lists every route
    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return ok({"status": "ok"})

    @app.get("/openapi.yaml")
    async def openapi(request: Request) -> HTTPResponse:
        return await response.file(HERE / "openapi.yaml", mime_type="application/yaml")

    @app.post("/api/v1/auth/login")
    async def login(request: Request) -> HTTPResponse:
        data = body_json(request)
        service: HandoffService = request.app.ctx.service
        username = data.get("username") if isinstance(data, dict) else None
        password = data.get("password") if isinstance(data, dict) else None
        if not isinstance(username, str) or not isinstance(password, str):
            raise ApiError(400, "invalid_login", "username and password are required")
        token, agent = await service.login(username.strip(), password,
                                           request.remote_addr or request.ip or "")
        answer = ok({"token": token, "agent": _agent_view(agent)})
        _set_session_cookie(answer, token, service.settings.session_hours * 3600,
                            secure=service.settings.production or request.scheme == "https")
        return answer

    @app.post("/api/v1/auth/logout")
    @requires("agent")
    async def logout(request: Request) -> HTTPResponse:
        service: HandoffService = request.app.ctx.service
        token_hash = auth.token_hash(request.ctx.session_token)
        service.store.end_session(token_hash)
        service.hub.end_session(token_hash)  # this session's other tabs are told at once
        answer = ok({"status": "logged_out"})
        _set_session_cookie(answer, "", 0, secure=service.settings.production
                            or request.scheme == "https")
        return answer

    @app.get("/api/v1/stream")
    @requires("agent")
    async def stream(request: Request) -> HTTPResponse | None:
        """Server-sent events for the console: `queue`, `status` and `message` with the
        handoff's id (the console then fetches what changed), a comment every 15 s (which
        also keeps the agent counted as online), `logout` when the session ends."""
        service: HandoffService = request.app.ctx.service
        token_hash = auth.token_hash(request.ctx.session_token)
        subscriber = service.hub.subscribe(token_hash)
        try:
            resp = await request.respond(content_type="text/event-stream; charset=utf-8",
                                         headers={"Cache-Control": "no-cache",
                                                  "X-Accel-Buffering": "no"})
            await resp.send("retry: 2000\n\nevent: hello\ndata: {}\n\n")
            while True:
                try:
                    kind, data = await asyncio.wait_for(subscriber.get(),
                                                        SSE_HEARTBEAT_SECONDS)
                except asyncio.TimeoutError:
                    if service.store.agent_for_session(token_hash) is None:
                        await resp.send("event: logout\ndata: {}\n\n")
                        break
                    await resp.send(": ping\n\n")
                    continue
                if kind == "close":
                    break
                await resp.send(f"event: {kind}\ndata: {_dumps(data)}\n\n")
                if kind == "logout":
                    break
            await resp.eof()
        except (asyncio.CancelledError, ConnectionError):
            pass  # the console went away
        finally:
            service.hub.unsubscribe(subscriber)
        return None

    @app.get("/api/v1/me")
    @requires("agent")
    async def me(request: Request) -> HTTPResponse:
        return ok({"agent": _agent_view(request.ctx.agent)})

    @app.post("/api/v1/handoffs")
    @requires("bot")
    async def create(request: Request) -> HTTPResponse:
        service: HandoffService = request.app.ctx.service
        handoff, created = await service.create(body_json(request),
                                                request.headers.get("idempotency-key"))
        return ok(service.view(handoff, full=True), status=201 if created else 200)

    @app.get("/api/v1/handoffs")
    @requires("bot", "agent")
    async def list_handoffs(request: Request) -> HTTPResponse:
        from handoff.desk import queue_filter

        service: HandoffService = request.app.ctx.service
        rows = service.store.list_handoffs(_statuses(request.args.get("status")),
                                           where=queue_filter(request.args))
        return ok({"handoffs": service.views(rows), "queued_total": service.store.queued_count(),
                   "agents_online": service.store.agents_online(service.settings.online_seconds)})

    @app.get("/api/v1/handoffs/<handoff_id:str>")
    @requires("bot", "agent")
    async def get_handoff(request: Request, handoff_id: str) -> HTTPResponse:
        service: HandoffService = request.app.ctx.service
        data = service.views([service.store.handoff(handoff_id)], full=True)[0]
        if request.ctx.agent is None:  # agents' internal notes stay with agents
            data["transcript"] = [m for m in data["transcript"] if m["source"] != "note"]
        return ok(data)

    @app.get("/api/v1/handoffs/<handoff_id:str>/messages")
    @requires("bot", "agent")
    async def new_messages(request: Request, handoff_id: str) -> HTTPResponse:
        service: HandoffService = request.app.ctx.service
        handoff = service.store.handoff(handoff_id)
        rows = service.store.messages(handoff_id, _after(request))
        if request.ctx.agent is None:  # agents' internal notes stay with agents
            rows = [m for m in rows if m["source"] != "note"]
        return ok({"status": handoff["status"], "agent": handoff.get("agent_name"),
                   "messages": [message_view(m) for m in rows]})

    @app.post("/api/v1/handoffs/<handoff_id:str>/messages")
    @requires("agent")
    async def post_message(request: Request, handoff_id: str) -> HTTPResponse:
        data = body_json(request)
        text = data.get("text") if isinstance(data, dict) else None
        message = await request.app.ctx.service.agent_message(handoff_id, request.ctx.agent,
                                                              text)
        return ok(message, status=201)

    @app.post("/api/v1/handoffs/<handoff_id:str>/claim")
    @requires("agent")
    async def claim(request: Request, handoff_id: str) -> HTTPResponse:
        service: HandoffService = request.app.ctx.service
        return ok(service.view(await service.claim(handoff_id, request.ctx.agent)))

    for action in ("resolve", "handback", "cancel"):
        _close_route(app, action)

    @app.get("/api/v1/conversations/<conversation_id:path>/messages")
    @requires("bot")
    async def customer_feed(request: Request, conversation_id: str) -> HTTPResponse:
        service: HandoffService = request.app.ctx.service
        rows = service.store.customer_messages(conversation_id, _after(request))
        return ok({"conversation_id": conversation_id,
                   "messages": [{"id": m["id"], "text": m["text"],
                                 "custom": m["meta"].get("custom"),
                                 "timestamp": iso(m["timestamp"])} for m in rows]})


def _close_route(app: Sanic, action: str) -> None:
    roles = ("bot", "agent") if action == "cancel" else ("agent",)

    @requires(*roles)
    async def close(request: Request, handoff_id: str) -> HTTPResponse:
        service: HandoffService = request.app.ctx.service
        return ok(service.view(await service.close(handoff_id, action, request.ctx.agent)))

    app.add_route(close, f"/api/v1/handoffs/<handoff_id:str>/{action}", methods=["POST"],
                  name=f"{action}_handoff")


def _set_session_cookie(resp: HTTPResponse, token: str, max_age: float, secure: bool) -> None:
    """The console's session cookie (an empty one with max-age 0 deletes it)."""
    resp.cookies[SESSION_COOKIE] = token
    cookie = resp.cookies[SESSION_COOKIE]
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    cookie["path"] = "/api/"
    cookie["max-age"] = int(max_age)
    if secure:
        cookie["secure"] = True


def _agent_view(agent: dict[str, Any]) -> dict[str, Any]:
    return {"username": agent["username"], "display_name": agent["display_name"],
            "role": agent.get("role") or "agent"}


def _console(app: Sanic) -> None:
    @app.get("/")
    async def root(request: Request) -> HTTPResponse:
        return response.redirect("/console/")

    @app.get("/console/")
    async def console(request: Request) -> HTTPResponse:
        return await response.file(STATIC / "console.html",
                                   mime_type="text/html; charset=utf-8")

    @app.get("/console/static/<name:str>")
    async def console_file(request: Request, name: str) -> HTTPResponse:
        kind = STATIC_TYPES.get(Path(name).suffix) if STATIC_NAME.match(name) else None
        if kind is None or not (STATIC / name).is_file():
            raise ApiError(404, "not_found", "no such file")
        return await response.file(STATIC / name, mime_type=f"{kind}; charset=utf-8")
