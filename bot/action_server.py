"""The action server: rasa-sdk's app behind a shared secret, on loopback by default.

`rasa run actions` listens on 0.0.0.0 and lets anyone post a forged tracker to `/webhook`
(an order of someone else, a cancellation with the server's shop token, a handoff marked as a
verified customer). Here only the Rasa server may call it: every route but `/health` needs
`Authorization: Bearer $ACTION_SERVER_TOKEN` (endpoints.yml sends it), bodies are bounded in
size, depth and, when compressed, in what they inflate to, and errors never echo the request.

Usage: python -m bot.action_server [--port 5055] [--host 127.0.0.1] [--actions bot.actions]
"""
from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import logging
import zlib
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import rasa_sdk.endpoint
from rasa_sdk import utils
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.settings import ActionSettings
from contracts.errors import error_body
from contracts.http_input import json_depth_ok
from contracts.logs import install_masking

logger = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/health"})
MAX_BODY = 4 * 1024 * 1024
MAX_INFLATED = 8 * 1024 * 1024
MAX_DEPTH = 64
DEV_TOKEN = "dev-only-action-token"
# Actions in flight at once: each waits mostly on the shop API or the handoff service.
ACTION_WORKERS = 16
_dumps = partial(json.dumps, ensure_ascii=False)


def _error(status: int, code: str, message: str) -> HTTPResponse:
    return response.json(error_body(code, message), status=status, dumps=_dumps)


def inflate(body: bytes, limit: int = MAX_INFLATED) -> bytes | None:
    """A deflate (zlib) body inflated to at most `limit` bytes; None if larger or broken."""
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(body, limit)
    except zlib.error:
        return None
    if inflater.unconsumed_tail or not inflater.eof:
        return None
    return data


def authorized(request: Request, token: str) -> bool:
    """Whether the request carries the shared secret as a bearer token."""
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode("utf-8", "replace"), token.encode())


class ThreadedActionExecutor(ActionExecutor):
    """rasa-sdk's executor, running every action in a worker thread.

    The journeys call the shop API and the handoff service with blocking HTTP (requests):
    run on the server's event loop, one conversation's slow shop call held up every other
    conversation's action. Each call now runs, with its own event loop for the async parts
    (form validation), in a bounded thread pool; the loop only parses and answers requests.
    """

    def __init__(self, workers: int = ACTION_WORKERS) -> None:
        super().__init__()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="action")

    async def run(self, action_call: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run_in_thread, action_call)

    def _run_in_thread(self, action_call: Any) -> Any:
        return asyncio.run(super().run(action_call))


def create_app(actions: str) -> Sanic:
    """rasa-sdk's app, with the threaded executor in place of its own."""
    original = rasa_sdk.endpoint.ActionExecutor
    rasa_sdk.endpoint.ActionExecutor = ThreadedActionExecutor
    try:
        return rasa_sdk.endpoint.create_app(actions, cors_origins=None)
    finally:
        rasa_sdk.endpoint.ActionExecutor = original


def guarded_app(actions: str, token: str) -> Sanic:
    """rasa-sdk's app with the shared secret and the body limits in front."""
    if not token:
        raise ValueError("ACTION_SERVER_TOKEN must not be empty")
    app = create_app(actions)
    app.config.REQUEST_MAX_SIZE = MAX_BODY

    async def guard(request: Request) -> HTTPResponse | None:
        if request.path in PUBLIC_PATHS:
            return None
        if not authorized(request, token):
            return _error(401, "unauthorized", "Missing or wrong bearer token.")
        if request.method != "POST":
            return None
        body = request.body or b""
        encoding = request.headers.get("content-encoding", "").lower()
        if encoding == "deflate":
            inflated = inflate(body)
            if inflated is None:
                return _error(413, "payload_too_large", "Compressed body too large or broken.")
            body = inflated
        elif encoding not in ("", "identity"):
            return _error(415, "unsupported_encoding", "Only deflate bodies are accepted.")
        if not json_depth_ok(body, MAX_DEPTH):
            return _error(400, "invalid_json", "JSON nested too deeply.")
        try:
            data = json.loads(body or b"null")
        except (ValueError, RecursionError):
            return _error(400, "invalid_json", "The body is not valid JSON.")
        if not isinstance(data, dict) or not isinstance(data.get("next_action"), str) \
                or not isinstance(data.get("tracker"), dict):
            return _error(400, "invalid_request",
                          "The body must be an action call with next_action and tracker.")
        return None

    app.register_middleware(guard, "request")
    app.error_handler.add(Exception, _server_error)
    return app


def _server_error(request: Request, exception: Exception) -> HTTPResponse:
    """Errors by status, never with the request body (it holds the whole conversation)."""
    if isinstance(exception, SanicException):
        return _error(exception.status_code, "error", str(exception))
    logger.error("action server error on %s", request.path, exc_info=exception)
    return _error(500, "internal_error", "The action failed; see the action server's log.")


def main(argv: list[str] | None = None) -> None:
    """Run the action server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    settings = ActionSettings.from_env()  # refuses development secrets in production
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--actions", default="bot.actions")
    args = parser.parse_args(argv)
    token = settings.action_token
    utils.configure_colored_logging("INFO")
    utils.update_sanic_log_level()
    install_masking(logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), logging.getLogger())
    app = guarded_app(args.actions, token)
    logger.info("action server on http://%s:%s", args.host, args.port)
    app.run(args.host, args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
