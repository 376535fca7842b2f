"""Several Rasa replicas share through Redis what must not be per process: the widget's
socket.io rooms (what one replica pushes, e.g. an agent's reply relayed through its HTTP API,
reaches a widget connected to another; delivered across real replicas in `make test-scale`)
and the customers' rate limits (a real Redis server here)."""
from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from socketio import AsyncRedisManager

from bot.channels.edge import RateLimiter, SharedRateLimiter, limiters
from bot.channels.widget import client_manager
from bot.settings import RasaSettings
from tests.conftest import free_port


def test_replicas_share_rooms_through_the_redis_of_the_production_profile() -> None:
    manager = client_manager(RasaSettings.from_env({"REDIS_URL": "redis://:secret@127.0.0.1:26379/0"}))
    assert isinstance(manager, AsyncRedisManager)
    assert manager.redis_url == "redis://:secret@127.0.0.1:26379/0"
    own = client_manager(RasaSettings.from_env({"REDIS_URL": "redis://127.0.0.1:1/0",
                                                "WIDGET_SOCKET_REDIS_URL": "redis://127.0.0.1:2/0"}))
    assert own.redis_url == "redis://127.0.0.1:2/0"


def test_one_process_keeps_its_rooms_in_memory() -> None:
    assert client_manager(RasaSettings.from_env({})) is None


# --- rate limits shared by the replicas ------------------------------------------------------

@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway Redis server on a free loopback port (Debian's redis-server, which
    `make test` installs with the production servers)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed (scripts/prod/install.sh installs it)")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(folder)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_two_replicas_count_one_customer_together(redis_url: str) -> None:
    env = {"REDIS_URL": redis_url, "RATE_LIMIT_PER_SENDER": "4", "RATE_LIMIT_PER_ADDRESS": "50"}
    settings = RasaSettings.from_env(env)
    (sender_a, _), (sender_b, _) = limiters(settings), limiters(settings)
    assert isinstance(sender_a, SharedRateLimiter)
    allowed = [limiter.allow("widget-customer-1") for limiter in
               (sender_a, sender_b, sender_a, sender_b, sender_a, sender_b)]
    assert allowed == [True, True, True, True, False, False]
    assert sender_b.allow("widget-customer-2")  # another customer is not affected
    # The window slides: an hour later the customer may write again.
    assert sender_a.allow("widget-customer-1", now=time.time() + 3600)


def test_without_redis_each_replica_still_limits() -> None:
    env = {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "RATE_LIMIT_PER_SENDER": "2"}
    sender, _ = limiters(RasaSettings.from_env(env))
    assert [sender.allow("c") for _ in range(3)] == [True, True, False]
    assert limiters(RasaSettings.from_env({}))[0].__class__ is RateLimiter
