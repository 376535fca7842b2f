"""The agent's workbench (issue 23): context beside the chat (order cards from the shop API,
identity, summary, emotion trend), canned replies with placeholders, internal notes, tags,
transfers to a group or a colleague, and the queue's search and filters.

Every route is for logged-in agents (the console's cookie plus its header, or a bearer
session token); every body goes through contracts.http_input via `body_json`.
"""
from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import aiohttp
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from contracts.http_input import is_clean_text, is_printable_id
from contracts.notices import notice as notice_text
from handoff import labels
from handoff.app import MAX_AGENT_TEXT, ApiError, HandoffService, body_json, ok, requires
from handoff.relay import RelayError
from handoff.schema import PRIORITIES, REASONS
from handoff.shop import ShopClient, ShopError
from handoff.store import GROUPS, ConflictError, QueueFilter

logger = logging.getLogger(__name__)
MAX_TAGS = 8
MAX_TAG_CHARS = 16
MAX_TITLE_CHARS = 32
MAX_QUERY_CHARS = 100
EMOTION_TEXT = {"calm": "平静", "upset": "不满", "angry": "生气"}
DEFAULT_SALUTATION = "亲"
PLACEHOLDER = re.compile(r"\{([^{}]{1,16})\}")


# --- context beside the chat ---------------------------------------------------------------

def emotion_level(emotion: Any) -> float:
    """0 (calm) to 2 (strongly angry): upset counts its score, angry one more."""
    if not isinstance(emotion, dict) or emotion.get("label") not in ("upset", "angry"):
        return 0.0
    score = emotion.get("score")
    score = float(score) if isinstance(score, (int, float)) else 0.5
    return round(min(1.0, max(0.0, score)) + (1.0 if emotion["label"] == "angry" else 0.0), 2)


def emotion_trend(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The customer's emotion message by message, and which way it went in plain Chinese."""
    points = []
    for message in messages:
        emotion = message["meta"].get("emotion")
        if message["sender"] != "customer" or not isinstance(emotion, dict):
            continue
        label = emotion.get("label")
        known = label if isinstance(label, str) and label in EMOTION_TEXT else "calm"
        points.append({"message_id": message["id"], "timestamp": message["timestamp"],
                       "label": known, "label_text": EMOTION_TEXT[known],
                       "level": emotion_level(emotion)})
    return {"points": points[-30:], "direction": _direction(points)}


def _direction(points: list[dict[str, Any]]) -> str:
    if not points:
        return "没有情绪记录"
    if len(points) == 1:
        return f"只有一条消息：{points[0]['label_text']}"
    first = sum(p["level"] for p in points[:2]) / len(points[:2])
    last = sum(p["level"] for p in points[-2:]) / len(points[-2:])
    if last >= first + 0.3:
        return "情绪在升温，越来越激动"
    if last <= first - 0.3:
        return "情绪在平复"
    return "情绪平稳" if last < 0.5 else "一直不满，没有缓和"


def order_hints(handoff: dict[str, Any]) -> tuple[list[str], str | None]:
    """The order numbers and the phone the customer gave the bot (its slots)."""
    slots = handoff["payload"].get("slots") or {}
    order_id = slots.get("order_id")
    phone = slots.get("phone") or slots.get("new_phone")
    order_ids = [order_id] if isinstance(order_id, str) else []
    return order_ids, phone if isinstance(phone, str) else None


def placeholders(handoff: dict[str, Any], orders: list[dict[str, Any]],
                 agent: dict[str, Any]) -> dict[str, str]:
    """Values for canned replies' placeholders; a value not known is left out, so the console
    keeps the placeholder visible for the agent to fill."""
    values = {"客服": agent["display_name"], "客户称呼": DEFAULT_SALUTATION}
    order_ids, _ = order_hints(handoff)
    named = next((o for o in orders if o["named_by_customer"]), None)
    if order_ids:
        values["订单号"] = order_ids[0]
    elif orders:
        values["订单号"] = orders[0]["order_id"]
    recipient = (named or (orders[0] if orders else {})).get("recipient")
    if isinstance(recipient, str) and recipient.strip() and handoff["payload"].get(
            "customer_id_verified") is True:
        values["客户称呼"] = recipient.strip()
    return values


async def context(service: HandoffService, handoff_id: str,
                  agent: dict[str, Any]) -> dict[str, Any]:
    """Everything beside the chat for one handoff."""
    handoff = service.store.handoff(handoff_id)
    verified = handoff["payload"].get("customer_id_verified") is True
    order_ids, phone = order_hints(handoff)
    orders: list[dict[str, Any]] = []
    orders_error = None
    if order_ids or phone:
        try:
            orders = await shop(service).orders_for(order_ids, phone)
        except ShopError as error:
            logger.warning("shop API for %s: %s", handoff_id, error)
            orders_error = "订单系统暂时查不到，请稍后刷新，或到订单后台查询。"
    return {
        "handoff_id": handoff_id,
        "customer": {"id": handoff["customer_id"], "verified": verified,
                     "label": "已验证身份（渠道认证）" if verified
                     else "身份未验证（编号由客户端提供）"},
        "summary": labels.clean_summary(handoff["summary"]),
        "emotion": emotion_trend(service.store.messages(handoff_id)),
        "orders": orders,
        "orders_error": orders_error,
        "orders_hint": None if order_ids or phone else "客户还没有提供订单号或手机号。",
        "placeholders": placeholders(handoff, orders, agent),
        "tags": service.store.tags_of([handoff_id])[handoff_id],
        "group": _group_view(service.store.groups_of([handoff_id])[handoff_id]),
    }


def shop(service: HandoffService) -> ShopClient:
    """The service's shop API client, made on first use."""
    client = service.shop
    if client is None:
        settings = service.settings
        client = ShopClient(settings.shop_api_url, settings.shop_api_token,
                            settings.shop_timeout)
        service.shop = client
    return client


def _group_view(group: str | None) -> dict[str, str] | None:
    return {"name": group, "label": GROUPS[group]} if group in GROUPS else None


# --- inputs ----------------------------------------------------------------------------------

def text_field(data: dict[str, Any], name: str, limit: int) -> str:
    """A required, non-empty, clean string of at most `limit` characters."""
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"invalid_{name}", f"{name}: a non-empty string is required")
    if len(value) > limit or not is_clean_text(value):
        raise ApiError(400, f"invalid_{name}", f"{name}: at most {limit} characters")
    return value.strip()


def tag_list(data: dict[str, Any]) -> list[str]:
    """`tags`: a list of at most MAX_TAGS short printable labels."""
    tags = data.get("tags")
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise ApiError(400, "invalid_tags", f"tags: a list of at most {MAX_TAGS} labels")
    cleaned = []
    for tag in tags:
        if not isinstance(tag, str) or not is_printable_id(tag.strip(), MAX_TAG_CHARS) \
                or any(unicodedata.category(char) == "Cf" for char in tag):
            raise ApiError(400, "invalid_tags", f"tags: each 1-{MAX_TAG_CHARS} characters, no "
                           "control or format characters (RTL marks, zero-width)")
        cleaned.append(tag.strip())
    return cleaned


def queue_filter(args: Any) -> QueueFilter:
    """The queue's search and filters from the query string; 400 on anything unknown."""
    def one(name: str, allowed: Any = None, limit: int = 64) -> str | None:
        value = (args.get(name) or "").strip()
        if not value:
            return None
        if len(value) > limit or not is_printable_id(value, limit) \
                or (allowed is not None and value not in allowed):
            raise ApiError(400, f"bad_{name}", f"{name}: not a valid value")
        return value

    text = one("q", limit=MAX_QUERY_CHARS)
    return QueueFilter(priority=one("priority", PRIORITIES), reason=one("reason", REASONS),
                       channel=one("channel"), text=text, tag=one("tag", limit=MAX_TAG_CHARS),
                       group=one("group", GROUPS), since=_instant(args, "since"),
                       until=_instant(args, "until"))


def _instant(args: Any, name: str) -> float | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        if len(raw) > 40:
            raise ValueError(raw)
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as error:
        raise ApiError(400, f"bad_{name}", f"{name}: an ISO 8601 date or time") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


# --- actions ---------------------------------------------------------------------------------

async def add_note(service: HandoffService, handoff_id: str, agent: dict[str, Any],
                   text: str) -> dict[str, Any]:
    """An internal note: kept with the handoff for agents, never sent to the customer."""
    handoff = service.store.handoff(handoff_id)
    note_id = service.store.add_message(handoff, "agent", text, "note",
                                        {"agent": agent["display_name"]}, to_customer=False)
    service.hub.publish("message", {"handoff_id": handoff_id})
    return {"id": note_id, "text": text}


async def transfer(service: HandoffService, handoff_id: str, agent: dict[str, Any],
                   data: dict[str, Any]) -> dict[str, Any]:
    """Pass a handoff to a group's queue (`group`) or straight to a colleague (`agent`,
    their username); the customer is told, the bot stays paused."""
    group, username = data.get("group"), data.get("agent")
    if (group is None) == (username is None):
        raise ApiError(400, "invalid_transfer", "give either group or agent")
    if group is not None:
        if not isinstance(group, str) or group not in GROUPS:  # a list is not hashable
            raise ApiError(400, "invalid_group", f"group: one of {', '.join(GROUPS)}")
        handoff = service.store.transfer(handoff_id, agent["id"], to_group=group)
        text = notice_text("transferred_group", group=GROUPS[group])
        state, extra = "queued", {"position": service.view(handoff)["position"]}
    else:
        if not isinstance(username, str) or not is_printable_id(username, 64):
            raise ApiError(400, "invalid_agent", "agent: a username")
        colleague = service.store.agent_by_username(username)
        if colleague is None:
            raise ApiError(404, "no_such_agent", "没有这个客服账号")
        if colleague["id"] == agent["id"]:
            raise ConflictError("the handoff is already yours")
        handoff = service.store.transfer(handoff_id, agent["id"], to_agent_id=colleague["id"])
        text = notice_text("transferred_agent", agent=colleague["display_name"])
        state, extra = "agent_joined", {"agent": colleague["display_name"]}
    try:
        await service.notify(handoff, state, text=text, strict=False,
                             notice=f"transferred_{'group' if group else 'agent'}", **extra)
    except RelayError:  # strict=False: logged by notify, the transfer stands
        pass
    service.hub.publish("status", {"handoff_id": handoff_id, "status": handoff["status"],
                                   "transferred": True})
    return service.views([service.store.handoff(handoff_id)])[0]


async def activity(service: HandoffService, handoff_id: str, agent: dict[str, Any],
                   data: dict[str, Any]) -> dict[str, Any]:
    """The holding agent is typing (`typing`: true/false) or has read the customer's messages
    (`read`: true): passed to the customer's widget (the website channel only)."""
    typing, read = data.get("typing"), data.get("read")
    if (typing is None and read is None) or any(
            v is not None and not isinstance(v, bool) for v in (typing, read)):
        raise ApiError(400, "invalid_activity", "typing and/or read: booleans")
    handoff = service.store.handoff(handoff_id)
    if handoff["status"] != "claimed" or handoff["agent_id"] != agent["id"]:
        raise ConflictError("only the agent holding the conversation")
    if handoff["channel"] != "socketio":
        return {"relayed": False}
    sent = await service.relay.activity(handoff["conversation_id"], {
        "typing": typing, "read": read is True, "agent": agent["display_name"]})
    return {"relayed": sent}


def canned_view(row: dict[str, Any]) -> dict[str, Any]:
    """A canned reply as the API returns it, with the placeholders it uses."""
    return {"id": row["id"], "title": row["title"], "text": row["text"],
            "placeholders": sorted(set(PLACEHOLDER.findall(row["text"])))}


def _canned_body(request: Request) -> tuple[str, str]:
    data = body_json(request)
    return (text_field(data, "title", MAX_TITLE_CHARS),
            text_field(data, "text", MAX_AGENT_TEXT))


def _reply_id(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise ApiError(404, "not_found", "no such canned reply")
    return int(raw)


IMAGE_ID = re.compile(r"^[0-9a-f]{32}$")
IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png"}


async def customer_photo(service: HandoffService, handoff_id: str, image_id: str
                         ) -> tuple[bytes, str]:
    """A photo the customer sent in this handoff, read from the widget server with the
    service's token; 404 unless one of the handoff's messages carries it."""
    if not IMAGE_ID.match(image_id):
        raise ApiError(404, "not_found", "no such photo")
    handoff = service.store.handoff(handoff_id)
    if not any(m["meta"].get("image_id") == image_id
               for m in service.store.messages(handoff_id)):
        raise ApiError(404, "not_found", "no such photo in this conversation")
    settings = service.settings
    url = (f"{settings.widget_url}/api/uploads/"
           f"{quote(handoff['conversation_id'], safe='')}/{image_id}")
    timeout = aiohttp.ClientTimeout(total=5)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(
                url, headers={"Authorization": f"Bearer {settings.widget_uploads_token}"}
        ) as resp:
            kind = resp.headers.get("Content-Type", "").split(";")[0]
            if resp.status == 404:
                raise ApiError(404, "not_found", "the photo is no longer kept")
            if resp.status != 200 or kind not in IMAGE_TYPES:
                raise ApiError(502, "widget_unreachable", "the photo could not be read")
            return await resp.read(), kind
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        raise ApiError(502, "widget_unreachable", "the photo could not be read") from error


# --- routes ----------------------------------------------------------------------------------

def routes(app: Sanic) -> None:
    """Register the workbench's routes."""
    @app.get("/api/v1/handoffs/<handoff_id:str>/context")
    @requires("agent")
    async def handoff_context(request: Request, handoff_id: str) -> HTTPResponse:
        return ok(await context(request.app.ctx.service, handoff_id, request.ctx.agent))

    @app.post("/api/v1/handoffs/<handoff_id:str>/notes")
    @requires("agent")
    async def post_note(request: Request, handoff_id: str) -> HTTPResponse:
        text = text_field(body_json(request), "text", MAX_AGENT_TEXT)
        return ok(await add_note(request.app.ctx.service, handoff_id, request.ctx.agent, text),
                  status=201)

    @app.post("/api/v1/handoffs/<handoff_id:str>/activity")
    @requires("agent")
    async def post_activity(request: Request, handoff_id: str) -> HTTPResponse:
        return ok(await activity(request.app.ctx.service, handoff_id, request.ctx.agent,
                                 body_json(request)))

    @app.put("/api/v1/handoffs/<handoff_id:str>/tags")
    @requires("agent")
    async def put_tags(request: Request, handoff_id: str) -> HTTPResponse:
        service: HandoffService = request.app.ctx.service
        tags = service.store.set_tags(handoff_id, tag_list(body_json(request)))
        service.hub.publish("status", {"handoff_id": handoff_id, "tags": True})
        return ok({"handoff_id": handoff_id, "tags": tags})

    @app.post("/api/v1/handoffs/<handoff_id:str>/transfer")
    @requires("agent")
    async def post_transfer(request: Request, handoff_id: str) -> HTTPResponse:
        return ok(await transfer(request.app.ctx.service, handoff_id, request.ctx.agent,
                                 body_json(request)))

    @app.get("/api/v1/handoffs/<handoff_id:str>/images/<image_id:str>")
    @requires("agent")
    async def get_photo(request: Request, handoff_id: str, image_id: str) -> HTTPResponse:
        data, kind = await customer_photo(request.app.ctx.service, handoff_id, image_id)
        return response.raw(data, content_type=kind, headers={
            "Content-Disposition":
                f'inline; filename="photo-{image_id[:8]}.{IMAGE_TYPES[kind]}"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600"})

    @app.get("/api/v1/agents")
    @requires("agent")
    async def list_agents(request: Request) -> HTTPResponse:
        service: HandoffService = request.app.ctx.service
        return ok({"agents": [{"username": a["username"], "display_name": a["display_name"]}
                              for a in service.store.agents_list()],
                   "groups": [{"name": k, "label": v} for k, v in GROUPS.items()],
                   "reasons": [{"name": k, "label": v} for k, v in REASONS.items()],
                   "tags": service.store.all_tags()})

    @app.get("/api/v1/canned-replies")
    @requires("agent")
    async def list_canned(request: Request) -> HTTPResponse:
        return ok({"canned_replies": [canned_view(r)
                                      for r in request.app.ctx.service.store.canned()]})

    @app.post("/api/v1/canned-replies")
    @requires("agent")
    async def add_canned(request: Request) -> HTTPResponse:
        title, text = _canned_body(request)
        row = request.app.ctx.service.store.add_canned(title, text, request.ctx.agent["id"])
        return ok(canned_view(row), status=201)

    @app.put("/api/v1/canned-replies/<reply_id:str>")
    @requires("agent")
    async def change_canned(request: Request, reply_id: str) -> HTTPResponse:
        title, text = _canned_body(request)
        return ok(canned_view(request.app.ctx.service.store.update_canned(
            _reply_id(reply_id), title, text)))

    @app.delete("/api/v1/canned-replies/<reply_id:str>")
    @requires("agent")
    async def delete_canned(request: Request, reply_id: str) -> HTTPResponse:
        request.app.ctx.service.store.delete_canned(_reply_id(reply_id))
        return ok({"deleted": True})
