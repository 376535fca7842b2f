"""HTTP layer of the widget server: demo shop page, widget files, history and ratings."""
from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import uuid
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from pydantic import Field, validator
from sanic import Sanic
from sanic.exceptions import SanicException
from sanic.log import error_logger, logger
from sanic.request import Request
from sanic.response import HTTPResponse, raw
from sanic.response import json as json_response

from contracts.errors import error_body
from contracts.http_input import InputError, load_json
from contracts.profile import DEV_SECRETS
from contracts.settings import ServiceSettings
from contracts.widget import DEV_SECRET, HEADER, bearer_matches, is_session_id, token_matches
from widget.csat import CsatStore
from widget.history import conversation_messages
from widget.uploads import MAX_BYTES, PhotoStore, UploadError, check_photo

HERE = Path(__file__).resolve().parent
STATIC_FILES = {
    "shop-chat.js": "text/javascript; charset=utf-8",
    "shop-chat.css": "text/css; charset=utf-8",
}
# socket.io-client's browser build (scripts/vendor-socketio.sh), served inside shop-chat.js.
SOCKET_IO = HERE / "static" / "vendor" / "socket.io.min.js"
TRIGGERS = {"goodbye", "bot_back", "closed"}
MAX_COMMENT_CHARS = 500
MAX_BODY_BYTES = 8 * 1024
HOST_NAME = re.compile(r"^[A-Za-z0-9.:-]{1,253}$")
_EPISODE = re.compile(r"^[A-Za-z0-9:._-]{1,64}$")
_CODES = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed",
          413: "payload_too_large"}
_dumps = partial(json.dumps, ensure_ascii=False)
DEV_UPLOADS_TOKEN = DEV_SECRETS["WIDGET_UPLOADS_TOKEN"]


class WidgetConfig(ServiceSettings):
    """What the widget server needs to know: its settings (contracts.settings), read from the
    environment once by `WidgetConfig.from_env()`."""

    host: str = Field("127.0.0.1", env="WIDGET_HOST")
    port: int = Field(8080, env="WIDGET_PORT", ge=1, le=65535)
    # Store of the satisfaction ratings: a SQLite file or a database URL.
    db_path: str = Field("var/widget/widget.db", env="WIDGET_DB")
    rasa_port: int = Field(5005, env="RASA_PORT", ge=1, le=65535)
    rasa_url: str = Field("", env="RASA_URL")  # empty: Rasa on this host at `rasa_port`
    rasa_token: str = Field("", env="RASA_AUTH_TOKEN")
    public_socket_url: str = Field("", env="WIDGET_SOCKET_URL")  # empty: the page's host
    # Proves a browser holds a session (contracts/widget.py).
    session_secret: str = Field(DEV_SECRET, env="WIDGET_SESSION_SECRET", secret=True)
    # Bearer token of the supervisor's figures (/api/csat/summary); empty: not served.
    admin_token: str = Field("", env="WIDGET_ADMIN_TOKEN")
    # Customers' photos (empty: an uploads/ folder beside a SQLite store), and the bearer
    # token the handoff service reads them with (agents).
    uploads_dir: str = Field("", env="WIDGET_UPLOADS")
    uploads_token: str = Field(DEV_UPLOADS_TOKEN, env="WIDGET_UPLOADS_TOKEN", secret=True)

    @validator("rasa_url", always=True)
    def _rasa_url(cls, value: str, values: dict[str, Any]) -> str:  # noqa: N805
        """RASA_URL, or Rasa's port on this host."""
        return (value or f"http://127.0.0.1:{values.get('rasa_port', 5005)}").rstrip("/")

    @validator("uploads_dir", always=True)
    def _uploads_dir(cls, value: str, values: dict[str, Any]) -> str:  # noqa: N805
        """WIDGET_UPLOADS, or an uploads/ folder beside the store."""
        return value or default_uploads_dir(values.get("db_path") or "var/widget/widget.db")


def default_uploads_dir(db: str) -> str:
    """Customers' photos beside a SQLite store; under var/ when the store is a database URL."""
    if "://" in db and not db.startswith("sqlite"):
        return "var/widget/uploads"
    path = Path(db.split(":///", 1)[1] if db.startswith("sqlite") else db)
    return str(path.parent / "uploads")


class ApiError(Exception):
    """An error answered with the shared error body (contracts.errors) and a status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def create_app(config: WidgetConfig) -> Sanic:
    """The widget server."""
    app = Sanic(f"widget_{uuid.uuid4().hex}")
    # A photo (5 MB) is the largest body; JSON routes bound theirs themselves (load_json).
    app.config.REQUEST_MAX_SIZE = MAX_BYTES + 64 * 1024
    app.ctx.config = config
    app.register_listener(_start, "before_server_start")
    app.register_listener(_stop, "after_server_stop")
    app.register_middleware(_security_headers, "response")
    app.exception(Exception)(_error)
    app.add_route(demo_page, "/", methods=["GET", "HEAD"])
    app.add_route(health, "/health", methods=["GET"])
    app.add_route(static_file, "/widget/<name:str>", methods=["GET", "HEAD"])
    app.add_route(history, "/api/history/<session_id:str>", methods=["GET"])
    app.add_route(rate, "/api/csat", methods=["POST"])
    app.add_route(csat_summary, "/api/csat/summary", methods=["GET"])
    app.add_route(upload_photo, "/api/uploads/<session_id:str>", methods=["POST"])
    app.add_route(photo, "/api/uploads/<session_id:str>/<image_id:str>", methods=["GET"])
    for uri in ("/api/history/<session_id:str>", "/api/csat", "/api/uploads/<session_id:str>"):
        app.add_route(_preflight, uri, methods=["OPTIONS"], name=f"preflight_{uri[5:9]}")
    return app


# ---- plumbing ------------------------------------------------------------------------


async def _start(app: Sanic, _loop: Any) -> None:
    app.ctx.csat = CsatStore(app.ctx.config.db_path)
    app.ctx.photos = PhotoStore(app.ctx.config.uploads_dir)
    app.ctx.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))


async def _stop(app: Sanic, _loop: Any) -> None:
    await app.ctx.http.close()
    app.ctx.csat.close()


def _json(body: dict[str, Any], status: int = 200) -> HTTPResponse:
    return json_response(body, status=status, dumps=_dumps,
                         content_type="application/json; charset=utf-8")


async def _preflight(request: Request, **_: Any) -> HTTPResponse:
    """Answer CORS preflights of the API: a shop may embed the widget from another origin."""
    return HTTPResponse(status=204, headers={
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type, X-Session-Token",
        "Access-Control-Max-Age": "600",
    })


async def _security_headers(request: Request, response: HTTPResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path.startswith("/api/"):
        # No cookies are used: the session id in the URL or body is the only credential.
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Cache-Control"] = "no-store"


def _error(request: Request | None, exception: Exception) -> HTTPResponse:
    """Map every exception to a status code and the shared error body (contracts.errors)."""
    if isinstance(exception, ApiError):
        return _json(error_body(exception.code, exception.message), exception.status)
    if isinstance(exception, SanicException):
        status = exception.status_code
        return _json(error_body(_CODES.get(status, "error"), str(exception)), status)
    where = f"{request.method} {request.path}" if request else "a request"
    error_logger.error("unexpected error on %s", where, exc_info=exception)
    return _json(error_body("internal_error", "Unexpected error; try again later."), 500)


def _session_id(value: Any) -> str:
    if not is_session_id(value):
        raise ApiError(400, "invalid_session_id", "session_id must be 32 lowercase hex digits.")
    return value


def _owned_session(request: Request, value: Any, token: Any) -> str:
    """A session id the caller proves it holds (the token the chat server gave it)."""
    session_id = _session_id(value)
    config: WidgetConfig = request.app.ctx.config
    if not token_matches(config.session_secret, session_id, token):
        raise ApiError(403, "invalid_session_token",
                       f"This session needs its token ({HEADER} header).")
    return session_id


async def _tracker_events(request: Request, session_id: str) -> list[dict[str, Any]]:
    """All events of a conversation, read with the server-side token of Rasa's HTTP API."""
    config: WidgetConfig = request.app.ctx.config
    url = f"{config.rasa_url.rstrip('/')}/conversations/{quote(session_id)}/tracker"
    params = {"include_events": "ALL", "token": config.rasa_token}
    try:
        async with request.app.ctx.http.get(url, params=params) as answer:
            if answer.status != 200:
                logger.warning("Rasa answered %s for a tracker", answer.status)
                raise ApiError(502, "rasa_error", "The chat server did not give the history.")
            body = await answer.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        logger.warning("Rasa unreachable for a tracker: %s", error)
        raise ApiError(503, "rasa_unavailable", "The chat server is unreachable.") from error
    events = body.get("events") if isinstance(body, dict) else None
    return events if isinstance(events, list) else []


# ---- routes --------------------------------------------------------------------------


async def demo_page(request: Request) -> HTTPResponse:
    """The demo shop page, with the widget embedded by one script tag."""
    page = (HERE / "demo" / "index.html").read_text(encoding="utf-8")
    page = page.replace("{{SOCKET_URL}}", html.escape(_socket_url(request), quote=True))
    return HTTPResponse(page, content_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})


def _socket_url(request: Request) -> str:
    """Where the browser reaches Rasa: configured, or the page's host on Rasa's port."""
    config: WidgetConfig = request.app.ctx.config
    if config.public_socket_url:
        return config.public_socket_url
    try:
        host = urlsplit(f"//{request.host}").hostname or "localhost"
    except ValueError:  # a Host header that is no host name
        host = "localhost"
    if not HOST_NAME.match(host):
        host = "localhost"
    host = f"[{host}]" if ":" in host else host
    return f"{request.scheme}://{host}:{config.rasa_port}"


async def health(request: Request) -> HTTPResponse:
    """Liveness and database check."""
    request.app.ctx.csat.summary()
    return _json({"status": "ok"})


async def static_file(request: Request, name: str) -> HTTPResponse:
    """The widget's script and style sheet (UTF-8 declared: shop pages may be GBK)."""
    if name not in STATIC_FILES:
        raise ApiError(404, "not_found", "No such file.")
    body = widget_script() if name == "shop-chat.js" else (HERE / "static" / name).read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return HTTPResponse(status=304, headers=headers)
    return raw(body, content_type=STATIC_FILES[name], headers=headers)


def widget_script() -> bytes:
    """shop-chat.js as served: the vendored socket.io-client, then the widget, in one file
    (the shop embeds one script tag, and its Content-Security-Policy needs only this host).
    The library sees a CommonJS `module`, so it defines neither `window.io` nor an AMD module
    on the shop's page; the widget finds it as `io` in the enclosing scope."""
    library = re.sub(rb"//# sourceMappingURL=\S*", b"", SOCKET_IO.read_bytes())
    return b"".join([
        b"/* shop-chat.js: socket.io-client (MIT licence below) and the shop chat widget. */\n",
        b"(function () {\nvar module = { exports: {} }, exports = module.exports, define;\n",
        library, b"\nvar io = module.exports;\n",
        (HERE / "static" / "shop-chat.js").read_bytes(), b"\n})();\n",
    ])


async def history(request: Request, session_id: str) -> HTTPResponse:
    """The messages of a widget conversation, for a reload or a reconnect."""
    session_id = _owned_session(request, session_id, request.headers.get(HEADER))
    events = await _tracker_events(request, session_id)
    return _json({"session_id": session_id, "messages": conversation_messages(events)})


MAX_PHOTOS_PER_SESSION = 30


async def upload_photo(request: Request, session_id: str) -> HTTPResponse:
    """A photo the customer sends (raw bytes as the body): checked by its content,
    re-encoded without metadata, stored; answers its id."""
    session_id = _owned_session(request, session_id, request.headers.get(HEADER))
    store: PhotoStore = request.app.ctx.photos
    folder = store.folder / session_id
    if folder.is_dir() and sum(1 for _ in folder.iterdir()) >= MAX_PHOTOS_PER_SESSION:
        raise ApiError(429, "too_many_photos", "这次咨询发送的图片太多了，请直接描述问题。")
    try:
        checked = check_photo(request.body or b"")
    except UploadError as error:
        raise ApiError(error.status, error.code, error.message) from error
    image_id = store.save(session_id, checked)
    logger.info("photo %s stored for a widget session (%d bytes)", image_id, len(checked.data))
    return _json({"image_id": image_id, "width": checked.width, "height": checked.height}, 201)


async def photo(request: Request, session_id: str, image_id: str) -> HTTPResponse:
    """A stored photo, for its customer (session token) or the handoff service (bearer
    token): never sniffable, never a page (nosniff, attachment-safe name, a sandbox CSP)."""
    config: WidgetConfig = request.app.ctx.config
    if not bearer_matches(request.headers.get("authorization"), config.uploads_token):
        session_id = _owned_session(request, session_id, request.headers.get(HEADER))
    found = request.app.ctx.photos.load(session_id, image_id)
    if found is None:
        raise ApiError(404, "not_found", "No such photo.")
    data, mime = found
    extension = "png" if mime == "image/png" else "jpg"
    return raw(data, content_type=mime, headers={
        "Content-Disposition": f'inline; filename="photo-{image_id[:8]}.{extension}"',
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cross-Origin-Resource-Policy": "same-site"})


async def rate(request: Request) -> HTTPResponse:
    """Store the customer's satisfaction rating of a conversation ending."""
    try:
        body = load_json(request.body, MAX_BODY_BYTES, depth=4)
    except InputError as error:
        code = "invalid_json" if error.code == "not_an_object" else error.code
        raise ApiError(error.status, code, error.message) from error
    session_id = _session_id(body.get("session_id"))
    rating = body.get("rating")
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ApiError(400, "invalid_rating", "rating must be an integer from 1 to 5.")
    episode = body.get("episode")
    if not isinstance(episode, str) or not _EPISODE.match(episode):
        raise ApiError(400, "invalid_episode", "episode must be 1-64 letters, digits or :._-")
    trigger = body.get("trigger")
    if not isinstance(trigger, str) or trigger not in TRIGGERS:
        raise ApiError(400, "invalid_trigger", f"trigger must be one of {sorted(TRIGGERS)}.")
    comment = body.get("comment", "")
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS:
        raise ApiError(400, "invalid_comment",
                       f"comment must be text of at most {MAX_COMMENT_CHARS} characters.")
    _owned_session(request, session_id, request.headers.get(HEADER) or body.get("session_token"))
    if not conversation_messages(await _tracker_events(request, session_id)):
        raise ApiError(404, "unknown_conversation", "No widget conversation has this id.")
    saved = request.app.ctx.csat.save(session_id, episode, rating, comment.strip(), trigger)
    return _json({"rating": saved["rating"], "episode": saved["episode"]}, 201)


async def csat_summary(request: Request) -> HTTPResponse:
    """How many ratings, their average and the count per star (supervisors: bearer token)."""
    config: WidgetConfig = request.app.ctx.config
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if not config.admin_token or scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode("utf-8", "replace"), config.admin_token.encode()):
        raise ApiError(401, "unauthorized", "Missing or wrong bearer token.")
    return _json(request.app.ctx.csat.summary())
