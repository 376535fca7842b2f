"""A real shop API server per test module, started with `python -m shop_api` on a temp db."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.shop_api.openapi_check import OpenApi

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-shop-token"


@dataclass(frozen=True)
class ShopServer:
    """A running shop API."""

    url: str
    token: str
    db: Path


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_shop_api(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start `python -m shop_api` with arguments, its output in `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "shop_api", *args], cwd=ROOT,
        stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, **env},
    )


def wait_for_health(url: str, process: subprocess.Popen, log: Path, timeout: float = 20) -> None:
    """Poll /health until it answers, failing with the log if the server died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"shop API exited:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"shop API not up after {timeout}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def shop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopServer]:
    """A fresh seeded server for the module (tests change orders, so modules do not share)."""
    folder = tmp_path_factory.mktemp("shop")
    port, db, log = free_port(), folder / "shop.db", folder / "shop.log"
    args = ["--host", "127.0.0.1", "--port", str(port), "--db", str(db), "--no-access-log"]
    process = run_shop_api(args, {"SHOP_API_TOKEN": TOKEN, "APP_ENV": "test"}, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, process, log)
        yield ShopServer(url, TOKEN, db)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def spec() -> OpenApi:
    """The OpenAPI contract."""
    return OpenApi()


class Api:
    """Real HTTP calls to the server; every answer is checked against the contract."""

    def __init__(self, server: ShopServer, spec: OpenApi) -> None:
        self.server, self.spec = server, spec
        self.session = requests.Session()

    def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """Send a request with the server's token (or `token`) and check the answer."""
        headers = {"Authorization": f"Bearer {token or self.server.token}",
                   **kwargs.pop("headers", {})}
        response = self.session.request(method, self.server.url + path, headers=headers,
                                        timeout=10, **kwargs)
        self.spec.check(response)
        return response

    def get(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """GET that must answer 200; returns the JSON body."""
        response = self.call("GET", path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        """POST a JSON body."""
        return self.call("POST", path, json=body, **kwargs)


@pytest.fixture(scope="module")
def api(shop_server: ShopServer, spec: OpenApi) -> Api:
    """The contract-checking HTTP helper for the module's server."""
    return Api(shop_server, spec)
