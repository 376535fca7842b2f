"""The action server runs actions in worker threads: one conversation waiting on a slow shop
API does not hold up another conversation's action."""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import BIN, free_port, start_process, stop_process, wait_until_up

TOKEN = "test-action-token"
# How long the stuck shop API holds a request before giving up (only reached when the
# second action could not run while the first one waited: the failure this test catches).
STUCK_SECONDS = 8


class StuckShop(ThreadingHTTPServer):
    """A shop API whose every answer waits until the test releases it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _StuckHandler)


class _StuckHandler(BaseHTTPRequestHandler):
    server: StuckShop

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.entered.set()
        released = self.server.release.wait(STUCK_SECONDS)
        body = json.dumps({"error": "unavailable"} if not released else
                          {"error": "order_not_found", "message": "no such order"}).encode()
        self.send_response(404 if released else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stuck_shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[StuckShop]:
    server = StuckShop()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SHOP_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("SHOP_API_TOKEN", "test-shop-token")
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def action_call(action: str, sender: str, **slots: Any) -> dict[str, Any]:
    return {
        "next_action": action, "sender_id": sender, "version": "3.6.2", "domain": {},
        "tracker": {
            "sender_id": sender, "slots": slots, "events": [], "paused": False,
            "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen",
            "latest_message": {"text": "", "intent": {"name": "inform"}, "entities": []},
        },
    }


@pytest.fixture
def action_server(stuck_shop: StuckShop, tmp_path: Path) -> Iterator[str]:
    """The real action server (its own process: rasa-sdk registers every Action subclass it
    can see, test doubles included), pointed at the stuck shop."""
    port = free_port()
    log = tmp_path / "actions.log"
    process = start_process(
        [str(BIN / "python"), "-m", "bot.action_server", "--port", str(port)], log,
        {"SHOP_API_URL": os.environ["SHOP_API_URL"], "SHOP_API_TOKEN": "test-shop-token",
         "ACTION_SERVER_TOKEN": TOKEN})
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process, log)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        stop_process(process)


def test_an_action_waiting_on_the_shop_does_not_block_another_conversation(
        stuck_shop: StuckShop, action_server: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    finished: list[str] = []

    def post(name: str, body: dict[str, Any]) -> int:
        status = requests.post(action_server, json=body, headers=headers,
                               timeout=3 * STUCK_SECONDS).status_code
        finished.append(name)
        return status

    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(post, "order lookup", action_call(
            "action_order_status", "customer-a", order_id="202612060001",
            phone="13800138000"))
        # The first conversation's action is now waiting on the shop API ...
        assert stuck_shop.entered.wait(STUCK_SECONDS), "the lookup never reached the shop API"
        # ... and a second conversation's action still gets its answer.
        other = post("out of scope", action_call("action_out_of_scope", "customer-b"))
        stuck_shop.release.set()
        assert (slow.result(), other) == (200, 200)
    assert finished == ["out of scope", "order lookup"]
