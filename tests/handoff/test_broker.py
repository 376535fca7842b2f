"""The handoff service's RabbitMQ consumer (handoff/broker.py) against a real RabbitMQ server.

The server is started for the module with the project's script (scripts/prod/servers.sh) on
free ports in a fresh directory; without Debian's rabbitmq-server the tests are skipped, saying
so. Events are published as Rasa's Pika broker publishes them (JSON with `sender_id`)."""
from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from handoff.broker import BrokerConsumer
from handoff.store import Store

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ROOT / "scripts" / "prod" / "servers.sh"


@pytest.fixture(scope="module")
def amqp() -> Iterator[tuple[str, dict[str, str]]]:
    """A private RabbitMQ on loopback for this module: its URL and servers.sh's environment."""
    if not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists():
        pytest.skip("rabbitmq-server not installed: run scripts/prod/install.sh (make test does)")
    folder = Path(tempfile.mkdtemp(prefix="amqp-tests-"))
    port = amqp_port()
    env = {**os.environ, "PROD_RUN_DIR": str(folder), "PROD_AMQP_PORT": str(port),
           "PROD_START_SECONDS": "90"}
    try:
        started = subprocess.run([str(SERVERS), "start", "rabbitmq"], env=env, timeout=150,
                                 capture_output=True, text=True, check=False)
        if started.returncode != 0:
            pytest.fail(f"RabbitMQ did not start: {started.stderr}")
        urls = subprocess.run([str(SERVERS), "env"], env=env, capture_output=True, text=True,
                              check=True, timeout=30).stdout
        yield next(line.split("=", 1)[1] for line in urls.splitlines()
                   if line.startswith("RABBITMQ_URL=")), env
    finally:
        subprocess.run([str(SERVERS), "stop", "rabbitmq"], env=env, timeout=90,
                       capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def new_queue() -> str:
    return "q-" + uuid.uuid4().hex


def amqp_port() -> int:
    """A port for AMQP with the next two (epmd, Erlang distribution) free, below the kernel's
    ephemeral range so no client connection can take one meanwhile."""
    for _ in range(100):
        port = random.randrange(20000, 32000)
        if all(_free(port + offset) for offset in range(3)):
            return port
    raise RuntimeError("no free ports for RabbitMQ")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="module")
def amqp_url(amqp: tuple[str, dict[str, str]]) -> str:
    return amqp[0]


def user_event(conversation: str, text: str, at: float) -> dict[str, Any]:
    return {"sender_id": conversation, "event": "user", "text": text, "timestamp": at,
            "parse_data": {"intent": {"name": "inform", "confidence": 0.9}}}


async def publish(url: str, queue: str, events: list[dict[str, Any]]) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(queue, durable=True)
        for event in events:
            await channel.default_exchange.publish(
                aio_pika.Message(json.dumps(event).encode(),
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT), queue)


async def waiting(url: str, queue: str) -> int:
    """Messages ready in the queue (not delivered, or delivered and not acknowledged)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, durable=True, passive=True)
        return declared.declaration_result.message_count or 0


def open_handoff(store: Store, conversation: str) -> dict[str, Any]:
    fields = {"conversation_id": conversation, "channel": "rest", "customer_id": None,
              "reason": "explicit_request", "priority": "normal", "topic": None,
              "summary": "摘要", "payload": "{}", "bot_paused": True, "requested_at": 100.0}
    return store.create_handoff(f"{conversation}:1", fields, [
        {"sender": "customer", "text": "转人工", "timestamp": 100.0, "meta": "{}"}]).handoff


def live_texts(store: Store, handoff: dict[str, Any]) -> list[str]:
    return [m["text"] for m in store.messages(handoff["id"]) if m["source"] == "live"]


async def consume_until(consumer: BrokerConsumer, done: Any, timeout: float = 30) -> None:
    task = asyncio.create_task(consumer.run())
    try:
        for _ in range(int(timeout * 10)):
            if done():
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the consumer did not get there in time")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def no_reaction(added: list) -> None:
    return None


def test_each_customer_message_is_recorded_once_and_acknowledged(amqp_url: str,
                                                                 tmp_path: Path) -> None:
    store, queue, conversation = Store(f"sqlite:///{tmp_path / 'h.db'}"), new_queue(), "c-1"
    handoff = open_handoff(store, conversation)
    message = user_event(conversation, "我的订单号是573262229751", 200.0)
    events = [message, message,  # delivered twice, as after a publisher's retry
              {"sender_id": conversation, "event": "bot", "text": "好的", "timestamp": 201.0},
              user_event("someone-else", "你好", 202.0),
              user_event(conversation, "麻烦快一点", 203.0)]
    asyncio.run(publish(amqp_url, queue, events))
    consumer = BrokerConsumer(store, amqp_url, queue, no_reaction)
    asyncio.run(consume_until(consumer, lambda: consumer.processed == len(events)))
    assert live_texts(store, handoff) == ["我的订单号是573262229751", "麻烦快一点"]
    assert asyncio.run(waiting(amqp_url, queue)) == 0


def test_a_message_not_acknowledged_comes_again_and_is_not_recorded_twice(
        amqp_url: str, tmp_path: Path) -> None:
    store, queue, conversation = Store(f"sqlite:///{tmp_path / 'h.db'}"), new_queue(), "c-2"
    handoff = open_handoff(store, conversation)
    asyncio.run(publish(amqp_url, queue, [user_event(conversation, "还在吗", 300.0)]))
    stuck = asyncio.Event()

    async def dies_before_ack(added: list) -> None:  # recorded, then the service is killed
        stuck.set()
        await asyncio.Event().wait()

    first = BrokerConsumer(store, amqp_url, queue, dies_before_ack)
    asyncio.run(consume_until(first, stuck.is_set))
    assert live_texts(store, handoff) == ["还在吗"] and first.processed == 0
    second = BrokerConsumer(store, amqp_url, queue, no_reaction)
    asyncio.run(consume_until(second, lambda: second.processed == 1))
    assert live_texts(store, handoff) == ["还在吗"]
    assert asyncio.run(waiting(amqp_url, queue)) == 0


def test_the_consumer_comes_back_after_the_broker_restarts(amqp: tuple[str, dict[str, str]],
                                                           tmp_path: Path) -> None:
    url, env = amqp
    store, queue, conversation = Store(f"sqlite:///{tmp_path / 'h.db'}"), new_queue(), "c-3"
    handoff = open_handoff(store, conversation)
    consumer = BrokerConsumer(store, url, queue, no_reaction)

    async def scenario() -> None:
        task = asyncio.create_task(consumer.run())
        try:
            await publish(url, queue, [user_event(conversation, "在吗", 400.0)])
            await until(lambda: consumer.processed == 1)
            restarted = await asyncio.create_subprocess_exec(
                str(SERVERS), "restart", "rabbitmq", env=env,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            assert await restarted.wait() == 0
            await publish(url, queue, [user_event(conversation, "我还在等", 500.0)])
            await until(lambda: consumer.processed == 2, timeout=60)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert live_texts(store, handoff) == ["在吗", "我还在等"]


async def until(done: Any, timeout: float = 30) -> None:
    for _ in range(int(timeout * 10)):
        if done():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("not in time")
