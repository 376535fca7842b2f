"""Shared fixtures: one trained model per session, a real action server, the bot in process
and a real Rasa server speaking REST."""
from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from contracts.settings import project_env

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


# Every test client shares one loopback address: its limit would throttle the whole suite.
# The per-sender limit stays as configured (tests/channels/test_rest_edge.py checks both).
os.environ.setdefault("RATE_LIMIT_PER_ADDRESS", "100000")
# The project settings as `make test` has them (scripts/with-env.sh: .env, then .env.example).
os.environ.update(project_env())
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
# Services started by the tests import bot.* from the project root.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


def free_port() -> int:
    """Ask the OS for a free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Handoffs in tests never reach the developer's service or outbox: a free port (the
# handoff_service fixture of tests/handoff/ serves it; elsewhere handoffs wait in the outbox)
# and throwaway files, also for the Rasa server's event stream.
_HANDOFF_TMP = Path(tempfile.mkdtemp(prefix="handoff-tests-"))
atexit.register(shutil.rmtree, _HANDOFF_TMP, ignore_errors=True)
os.environ["HANDOFF_URL"] = f"http://127.0.0.1:{free_port()}"
os.environ["HANDOFF_OUTBOX"] = str(_HANDOFF_TMP / "outbox.db")
os.environ["HANDOFF_OUTBOX_RETRY_SECONDS"] = "1"
os.environ["EVENTS_DB"] = str(_HANDOFF_TMP / "events.db")
# The widget server's address is fixed before any service starts: the handoff service reads
# customers' photos from it (tests/widget/conftest.py starts it there).
os.environ["WIDGET_URL"] = f"http://127.0.0.1:{free_port()}"


# Test tiers, marked from the fixtures a test uses (so a marker can never be forgotten):
# `make test-fast` runs what needs neither the trained model nor a browser nor PostgreSQL.
TIER_FIXTURES = {
    "model": {"model_path", "agent", "chat", "rasa_server"},
    "browser": {"browser", "phone"},
    "postgres": {"postgres_server"},
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in TIER_FIXTURES.items():
            if used & fixtures:
                item.add_marker(marker)


def action_endpoint(url: str):
    """Where the in-process bot calls the action server, with the shared secret."""
    from rasa.utils.endpoints import EndpointConfig

    return EndpointConfig(
        url=url, headers={"Authorization": f"Bearer {os.environ['ACTION_SERVER_TOKEN']}"})


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    """Poll `url` until it answers 200, failing early with the log if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not up after {timeout}s:\n{log.read_text()[-3000:]}")


def start_process(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """Start a service in the project root with its output in `log`."""
    handle = log.open("w")
    return subprocess.Popen(
        args, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
    )


def stop_process(process: subprocess.Popen) -> None:
    """Stop a service and wait for it."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def model_path() -> Path:
    """Train once per session through the Makefile, or reuse the model whose fingerprint matches.

    TEST_MODEL=path uses that model as it is (for working on code that does not shape the
    model, e.g. actions or services, while the training data is being changed elsewhere)."""
    if os.environ.get("TEST_MODEL"):
        path = Path(os.environ["TEST_MODEL"]).resolve()
        assert path.is_file(), f"TEST_MODEL {path} does not exist"
        return path
    # The name is fixed first and passed on, so an edit of the data while training (on a
    # developer's machine) cannot make the two make calls disagree about the file.
    out = subprocess.run(
        ["make", "-s", "model-path"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    path = ROOT / out.stdout.strip()
    fingerprint = path.name.removeprefix("shop-").removesuffix(".tar.gz")
    subprocess.run(["make", "-s", "train", f"FINGERPRINT={fingerprint}"], cwd=ROOT, check=True)
    assert path.is_file(), f"training did not produce {path}"
    return path


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder for the logs of the services the tests start."""
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def shop_api(tmp_path_factory: pytest.TempPathFactory, logs_dir: Path) -> Iterator[dict[str, str]]:
    """A real demo shop API on a fresh seeded database; yields the env that points to it."""
    port = free_port()
    db = tmp_path_factory.mktemp("shop") / "shop.db"
    token = "test-shop-token"
    log = logs_dir / "shop_api.log"
    process = start_process(
        [sys.executable, "-m", "shop_api", "--port", str(port), "--db", str(db),
         "--no-access-log"], log, {"SHOP_API_TOKEN": token},
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process, log)
        yield {"SHOP_API_URL": f"http://127.0.0.1:{port}", "SHOP_API_TOKEN": token}
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def action_server(logs_dir: Path, shop_api: dict[str, str]) -> Iterator[str]:
    """A real rasa-sdk action server running bot.actions against the demo shop API."""
    port = free_port()
    log = logs_dir / "actions.log"
    process = start_process(
        [str(BIN / "python"), "-m", "bot.action_server", "--port", str(port)],
        log, shop_api,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process, log)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def event_loop_session() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for every in-process conversation."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def agent(model_path: Path, action_server: str, event_loop_session: asyncio.AbstractEventLoop):
    """The trained bot loaded in this process, calling the real action server."""
    from rasa.core.agent import Agent

    return Agent.load(str(model_path), action_endpoint=action_endpoint(action_server))


class Chat:
    """A customer talking to the in-process bot."""

    def __init__(self, agent: Any, loop: asyncio.AbstractEventLoop, sender: str) -> None:
        self.agent, self.loop, self.sender = agent, loop, sender

    def send(self, text: str) -> list[dict[str, Any]]:
        """Send one message and return the bot's replies."""
        return self.loop.run_until_complete(self.agent.handle_text(text, sender_id=self.sender))

    def say(self, text: str) -> str:
        """Send one message and return the bot's reply texts joined, for simple assertions."""
        return "\n".join(reply.get("text", "") for reply in self.send(text))

    def parse(self, text: str) -> dict[str, Any]:
        """The NLU parse result of a message."""
        return self.loop.run_until_complete(self.agent.parse_message(text))


@pytest.fixture
def chat(agent: Any, event_loop_session: asyncio.AbstractEventLoop, request) -> Chat:
    """A fresh conversation with the in-process bot."""
    return Chat(agent, event_loop_session, sender=f"test-{request.node.name}-{time.time_ns()}")


@pytest.fixture(scope="session")
def rasa_tracker_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracker store (SQLite) of the session's `rasa_server`."""
    return tmp_path_factory.mktemp("tracker") / "tracker.db"


@pytest.fixture(scope="session")
def widget_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The widget server's store (ratings) of the session's `widget_server`."""
    return tmp_path_factory.mktemp("widget") / "widget.db"


@pytest.fixture(scope="session")
def rasa_server(
    model_path: Path, action_server: str, logs_dir: Path, rasa_tracker_db: Path
) -> Iterator[str]:
    """A real `rasa run` with the REST channel and the HTTP API; yields its base URL."""
    port = free_port()
    log = logs_dir / "rasa.log"
    env = {
        "ACTION_SERVER_URL": action_server,
        "TRACKER_DB": str(rasa_tracker_db),
    }
    args = [
        str(BIN / "rasa"), "run", "--model", str(model_path), "--enable-api",
        "--auth-token", os.environ["RASA_AUTH_TOKEN"], "--port", str(port),
        "--endpoints", "endpoints.yml", "--credentials", "credentials.yml",
    ]
    process = start_process(args, log, env)
    try:
        token = os.environ["RASA_AUTH_TOKEN"]
        wait_until_up(f"http://127.0.0.1:{port}/status?token={token}", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a throwaway PostgreSQL server for this session (tests/postgres.py); the
    test is skipped, with the reason, where none can start (no server binaries)."""
    from tests import postgres

    reason = postgres.unavailable_reason()
    if reason:
        pytest.skip(reason)
    with postgres.throwaway_server() as url:
        yield url

