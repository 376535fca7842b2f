"""Each journey test module gets its own demo shop: a copy of the seeded database behind its
own real shop API server, so what one module changes (orders cancelled, addresses changed,
refunds and invoices opened) is never seen by another, whatever order they run in.

The server is the real application (`shop_api.app.create_app`) on loopback HTTP, run in a
thread of the test process: starting one costs a tenth of a second, where a new process
would cost one or two. The conversation tests keep the session's shop API process
(tests/conftest.py), which the session's action server talks to.
"""
from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from sanic import Sanic

from shop_api.app import create_app
from shop_api.seed import prepare
from tests.conftest import free_port

TOKEN = "test-shop-token"


@pytest.fixture(scope="session")
def seeded_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo shop database, seeded once per session; modules get copies of it."""
    path = tmp_path_factory.mktemp("shop-template") / "shop.db"
    prepare(path)
    return path


@pytest.fixture(scope="module")
def shop_api(
    seeded_shop: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """This module's own shop: a fresh copy of the seeded data behind its own server."""
    db = tmp_path_factory.mktemp("shop") / "shop.db"
    with closing(sqlite3.connect(seeded_shop)) as source, closing(sqlite3.connect(db)) as copy:
        source.backup(copy)
    with shop_server(db) as url:
        yield {"SHOP_API_URL": url, "SHOP_API_TOKEN": TOKEN}


@contextmanager
def shop_server(db: Path) -> Iterator[str]:
    """The shop API over `db`, served on a free loopback port by a thread; yields its URL."""
    app = create_app(str(db), TOKEN)
    app.config.MOTD = False
    # Sanic rewrites its HTTP class on each app's start-up; in test mode (as sanic-testing
    # sets it) it starts from the original methods again, so a second app can start.
    Sanic.test_mode = True
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(app.create_server(
                host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False))
            loop.run_until_complete(server.startup())
            loop.run_until_complete(server.before_start())
            loop.run_until_complete(server.after_start())
        except BaseException as error:  # reported to the test below, not lost in the thread
            failure.append(error)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(server.before_stop())
        server.close()
        loop.run_until_complete(server.wait_closed())
        for connection in list(server.connections):
            connection.close_if_idle()
        loop.run_until_complete(server.after_stop())

    thread = threading.Thread(target=run, name=f"shop-api-{port}", daemon=True)
    thread.start()
    if not ready.wait(30) or failure:
        raise RuntimeError(f"the shop API did not start: {failure or 'timeout'}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
