"""`make test-scale`: the production profile on this machine, under load and while it breaks.

    python -m evaluation.scale MODEL [--conversations 240] [--out reports/scale.md]

Installs PostgreSQL, Redis, RabbitMQ and nginx from Debian when missing, starts the topology
of `make run-prod` (scripts/prod/run.sh: two Rasa replicas behind nginx, action server, shop
API, handoff service consuming RabbitMQ) in var/scale with throwaway secrets, then:

1. throughput through nginx with two replicas, then with one (the other stopped), then the
   second is started again;
2. the main run: `--conversations` customers at once, each sending the messages of one
   conversation of evaluation/scale_conversations.yml one after another with a pause; during
   it one replica is killed (SIGKILL; supervisord restarts it), then the handoff service and
   RabbitMQ are restarted. A client whose request fails (connection refused or reset, 502/504,
   timeout) sends the same message again with the same message_id, as a real client would;
3. checks: every message answered (the client got a non-empty answer), and in every
   conversation's tracker each message exactly once, in the order sent (0 lost, 0 duplicated);
   exactly one handoff in the handoff store for each conversation that asked for one; every
   customer message after the handoff in its transcript exactly once (they travel through
   RabbitMQ); the time until the conversations hit by the kill were answered again; and a
   widget customer connected to one replica gets what is pushed through the other's HTTP API
   (socket.io rooms shared through Redis).

Prints the figures and writes them to reports/scale.md; exits 1 when a check fails. Bounded:
each message has MESSAGE_DEADLINE seconds, the whole run `--budget` seconds.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
CONVERSATIONS = ROOT / "evaluation" / "scale_conversations.yml"
RUN_DIR = ROOT / "var" / "scale"
# The servers of this run; not the defaults of scripts/prod/servers.sh, so a `make run-prod`
# can run beside it.
SERVER_PORTS = {"PROD_PG_PORT": 24432, "PROD_REDIS_PORT": 24379, "PROD_AMQP_PORT": 24672}
READY_SECONDS = 420
ATTEMPT_TIMEOUT = 60.0
MESSAGE_DEADLINE = 240.0
RETRYABLE = {502, 503, 504}
# What a client meets when the replica holding its request dies.
CONNECTION_FAILURES = {"HTTP 502", "ServerDisconnectedError", "ClientOSError",
                       "ClientConnectorError", "ClientPayloadError"}
# When the disruptions happen, in seconds after the main run started.
KILL_AT, HANDOFF_RESTART_AT, BROKER_RESTART_AT = 15.0, 30.0, 45.0


@dataclass
class Sent:
    """One customer message and what happened to it."""

    conversation: str
    index: int
    message_id: str
    text: str
    started: float = 0.0
    answered: float | None = None
    attempts: int = 0
    failed_at: float | None = None  # first failed attempt (then sent again)
    failure: str = ""  # what that attempt met: "connection" (refused, reset, 502) or other
    replies: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""


@dataclass
class Stack:
    """The running topology: its process, ports and secrets."""

    process: subprocess.Popen
    env: dict[str, str]
    base: int

    @property
    def public(self) -> str:
        """nginx, customer channels."""
        return f"http://127.0.0.1:{self.base}"

    @property
    def internal(self) -> str:
        """nginx, Rasa's HTTP API."""
        return f"http://127.0.0.1:{self.base + 1}"

    def ctl(self, *args: str) -> str:
        """supervisorctl of the topology."""
        command = [str(BIN / "supervisorctl"), "-c", str(RUN_DIR / "supervisord.conf"), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        return result.stdout.strip()

    def servers(self, *args: str) -> None:
        """scripts/prod/servers.sh with this run's settings."""
        subprocess.run([str(ROOT / "scripts" / "prod" / "servers.sh"), *args], env=self.env,
                       check=True, timeout=120, stdout=subprocess.DEVNULL)


def free_base() -> int:
    """A base port with the 30 ports above it free on loopback."""
    for _ in range(50):
        base = random.randrange(27000, 32000, 100)  # below the ephemeral range, above the servers
        if all(_free(base + offset) for offset in range(30)):
            return base
    raise SystemExit("no free port range found")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def start_stack(model: str, log: Path) -> Stack:
    """Install what is missing, start servers and topology; return once it printed READY."""
    subprocess.run([str(ROOT / "scripts" / "prod" / "install.sh")], check=True, timeout=600)
    # A clean machine each run: fresh servers, databases and queues.
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    base = free_base()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("RASA_", "HANDOFF_"))},
           **{k: str(v) for k, v in SERVER_PORTS.items()},
           "PROD_RUN_DIR": str(RUN_DIR), "PROD_PORT": str(base), "PROD_WIDGET": "0",
           # One test client stands for every customer: the per-address limit would stop it.
           "RATE_LIMIT_PER_ADDRESS": "1000000", "HANDOFF_OUTBOX_RETRY_SECONDS": "2",
           "HANDOFF_RECONCILE_SECONDS": "10",
           "PROD_READY_SECONDS": str(READY_SECONDS)}
    for name in ("RASA_AUTH_TOKEN", "ACTION_SERVER_TOKEN", "SHOP_API_TOKEN",
                 "HANDOFF_API_TOKEN", "WIDGET_SESSION_SECRET", "WIDGET_UPLOADS_TOKEN"):
        env[name] = secrets.token_hex(16)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    out = log.open("w")
    process = subprocess.Popen([str(ROOT / "scripts" / "prod" / "run.sh"), model], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    deadline = time.monotonic() + READY_SECONDS + 120
    assert process.stdout is not None
    for line in process.stdout:
        out.write(line)
        out.flush()
        if line.strip() == "READY":
            break
        if time.monotonic() > deadline:
            break
    else:
        _stop_servers(process, env)
        raise SystemExit(f"the topology exited before it was ready; see {log}")
    if time.monotonic() > deadline:
        _stop_servers(process, env)
        raise SystemExit(f"the topology was not ready in time; see {log}")
    # Keep draining its output so it never blocks on a full pipe.
    import threading
    threading.Thread(target=lambda: [out.write(line) for line in process.stdout],  # type: ignore
                     daemon=True).start()
    stack = Stack(process, env, base)
    stack.env.update(dict(line.split("=", 1) for line in subprocess.run(
        [str(ROOT / "scripts" / "prod" / "servers.sh"), "env"], env=env, capture_output=True,
        text=True, check=True).stdout.split()))
    return stack


def _stop_servers(process: subprocess.Popen, env: dict[str, str]) -> None:
    """A topology that never became ready: stop what it started, servers included (they would
    hold their ports against the next run)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    subprocess.run([str(ROOT / "scripts" / "prod" / "servers.sh"), "stop"], env=env,
                   timeout=120, check=False)


def stop_stack(stack: Stack | None) -> None:
    """Stop the topology (SIGTERM to its group) and the servers."""
    if stack is None:
        return
    if stack.process.poll() is None:
        os.killpg(stack.process.pid, signal.SIGTERM)
        try:
            stack.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(stack.process.pid, signal.SIGKILL)
    subprocess.run([str(ROOT / "scripts" / "prod" / "servers.sh"), "stop"], env=stack.env,
                   timeout=120, check=False)


# --- the client --------------------------------------------------------------------------------

async def send(session: aiohttp.ClientSession, url: str, item: Sent) -> None:
    """Send one message until it is answered, again with the same message_id after a failure."""
    body = {"sender": item.conversation, "message": item.text, "message_id": item.message_id}
    item.started = time.monotonic()
    while time.monotonic() - item.started < MESSAGE_DEADLINE:
        item.attempts += 1
        try:
            async with session.post(url, json=body,
                                    timeout=aiohttp.ClientTimeout(total=ATTEMPT_TIMEOUT)) as resp:
                if resp.status == 200:
                    replies = await resp.json(content_type=None)
                    if isinstance(replies, list) and replies:
                        item.replies, item.answered = replies, time.monotonic()
                        return
                    item.error = "empty answer"
                elif resp.status == 429 or resp.status in RETRYABLE:
                    item.error = f"HTTP {resp.status}"
                else:
                    item.error = f"HTTP {resp.status}: {(await resp.text())[:200]}"
                    return
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            item.error = type(error).__name__
        if item.failed_at is None:
            item.failed_at = time.monotonic()
            item.failure = "connection" if item.error in CONNECTION_FAILURES else item.error
        await asyncio.sleep(0.5 + random.random())


async def converse(session: aiohttp.ClientSession, url: str, name: str, texts: list[str],
                   pause: tuple[float, float], delay: float) -> list[Sent]:
    """One customer: the conversation's messages one after another."""
    await asyncio.sleep(delay)
    sent = []
    for index, text in enumerate(texts):
        item = Sent(name, index, f"{name}-{index}", text)
        sent.append(item)
        await send(session, url, item)
        if item.answered is None:
            break  # a customer whose message was never answered stops here: counted as lost
        await asyncio.sleep(random.uniform(*pause))
    return sent


async def drive(url: str, plan: list[tuple[str, list[str]]], pause: tuple[float, float],
                spread: float) -> list[Sent]:
    """All conversations of `plan` at once; returns every message sent."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await asyncio.gather(*(
            converse(session, url, name, texts, pause, random.uniform(0, spread))
            for name, texts in plan))
    return [item for conversation in results for item in conversation]


def throughput(stack: Stack, label: str, conversations: int, scripts: list[list[str]]
               ) -> tuple[float, int]:
    """Messages per second through nginx, all conversations at once, no pauses."""
    run = secrets.token_hex(3)
    plan = [(f"tput-{label}-{run}-{n}", scripts[n % len(scripts)]) for n in range(conversations)]
    started = time.monotonic()
    sent = asyncio.run(drive(f"{stack.public}/webhooks/rest/webhook", plan, (0, 0), 0))
    elapsed = time.monotonic() - started
    answered = sum(1 for item in sent if item.answered)
    return answered / elapsed, answered


# --- the checks --------------------------------------------------------------------------------

def tracker_messages(stack: Stack, conversations: list[str]) -> dict[str, list[dict]]:
    """The user events of each conversation, from Rasa's HTTP API through nginx."""
    async def fetch_all() -> dict[str, list[dict]]:
        async with aiohttp.ClientSession() as session:
            async def one(conversation: str) -> tuple[str, list[dict]]:
                url = f"{stack.internal}/conversations/{conversation}/tracker"
                async with session.get(url, params={"token": stack.env["RASA_AUTH_TOKEN"]},
                                       timeout=aiohttp.ClientTimeout(total=60)) as resp:
                    events = (await resp.json()).get("events") or []
                return conversation, events
            pairs = []
            for start in range(0, len(conversations), 20):
                pairs += await asyncio.gather(*(one(c) for c in conversations[start:start + 20]))
            return dict(pairs)
    return asyncio.run(fetch_all())


def check_trackers(sent: list[Sent], events: dict[str, list[dict]]) -> dict[str, int]:
    """Lost, duplicated and out-of-order messages in the trackers, against what was sent."""
    lost = duplicated = out_of_order = 0
    by_conversation: dict[str, list[Sent]] = {}
    for item in sent:
        by_conversation.setdefault(item.conversation, []).append(item)
    for conversation, items in by_conversation.items():
        ids = [e.get("message_id") for e in events.get(conversation, [])
               if e.get("event") == "user"]
        wanted = [item.message_id for item in items if item.answered]
        lost += sum(1 for mid in wanted if mid not in ids)
        duplicated += sum(ids.count(mid) - 1 for mid in set(ids) if ids.count(mid) > 1)
        seen = [mid for mid in dict.fromkeys(ids) if mid in wanted]
        out_of_order += int(seen != [mid for mid in wanted if mid in seen])
    return {"lost": lost, "duplicated": duplicated, "out_of_order": out_of_order}


def live_after_pause(events: list[dict]) -> list[str]:
    """Texts of the customer messages after the conversation was paused for a human."""
    paused, texts = False, []
    for event in events:
        if event.get("event") == "pause":
            paused = True
        elif paused and event.get("event") == "user":
            texts.append(event.get("text") or "")
    return texts


def check_handoffs(stack: Stack, prefix: str, expected: set[str], events: dict[str, list[dict]]
                   ) -> dict[str, int]:
    """Handoffs and their live customer messages in the handoff store (PostgreSQL), waiting up
    up to two minutes for the outbox, the broker queue and late backfills to finish."""
    engine = sa.create_engine(stack.env["HANDOFF_DB_URL"])
    wanted_live = {c: live_after_pause(events.get(c, [])) for c in expected}
    deadline = time.monotonic() + 120
    while True:
        with engine.connect() as db:
            counts = dict(db.execute(sa.text(
                "SELECT conversation_id, count(*) FROM handoffs WHERE conversation_id LIKE :p "
                "GROUP BY conversation_id"), {"p": f"{prefix}%"}).all())
            live: dict[str, list[str]] = {}
            for conversation, text in db.execute(sa.text(
                    "SELECT conversation_id, text FROM messages WHERE conversation_id LIKE :p "
                    "AND sender = 'customer' AND source = 'live' ORDER BY id"),
                    {"p": f"{prefix}%"}).all():
                live.setdefault(conversation, []).append(text)
        figures = {
            "expected": len(expected),
            "stored": sum(1 for c in expected if counts.get(c)),
            "lost": sum(1 for c in expected if not counts.get(c)),
            "duplicated": sum(n - 1 for n in counts.values() if n > 1),
            "bot_initiated": sum(1 for c in counts if c not in expected),
            "live_expected": sum(len(t) for t in wanted_live.values()),
            "live_lost": sum(1 for c, texts in wanted_live.items() for t in texts
                             if t not in live.get(c, [])),
            "live_duplicated": sum(live.get(c, []).count(t) - 1 for c, texts in wanted_live.items()
                                   for t in set(texts) if live.get(c, []).count(t) > 1),
        }
        if (figures["lost"] == 0 and figures["live_lost"] == 0) or time.monotonic() > deadline:
            engine.dispose()
            return figures
        time.sleep(2)


# --- the run -------------------------------------------------------------------------------

def replica_back(stack: Stack, replica: int, since: float, budget: float = 300) -> float | None:
    """Seconds from `since` until the replica answers /status again."""
    port = stack.base + 9 + replica
    url = f"http://127.0.0.1:{port}/status?token={stack.env['RASA_AUTH_TOKEN']}"
    while time.monotonic() - since < budget:
        try:
            subprocess.run(["curl", "-fs", "-o", "/dev/null", "--max-time", "2", url], check=True)
            return time.monotonic() - since
        except subprocess.CalledProcessError:
            time.sleep(1)
    return None


AGENT_PUSH = "您好，我是客服小周，您的问题我这就帮您查。"


def cross_replica_pushes(stack: Stack, rounds: int = 6) -> list[float | None]:
    """A widget customer connected to one replica directly gets a message pushed through the
    other replica's HTTP API (as the handoff service relays an agent's reply: nginx sends it
    to any replica); seconds until it arrived, None when it never did (10 s)."""
    import requests

    from evaluation.bench_handoff import wait_for_text
    from evaluation.demo_traffic import WidgetCustomer

    token = stack.env["RASA_AUTH_TOKEN"]
    delays: list[float | None] = []
    for n in range(rounds):
        near, far = (1, 2) if n % 2 == 0 else (2, 1)
        customer = WidgetCustomer(f"http://127.0.0.1:{stack.base + 9 + near}")
        try:
            customer.say("你好")
            pushed = time.monotonic()
            answer = requests.post(
                f"http://127.0.0.1:{stack.base + 9 + far}/conversations/{customer.sender}"
                "/tracker/events", timeout=30,
                params={"token": token, "output_channel": "latest",
                        "execute_side_effects": "true"},
                json=[{"event": "bot", "text": AGENT_PUSH}])
            arrived = wait_for_text(customer, AGENT_PUSH, timeout=10) \
                if answer.status_code == 200 else None
            delays.append(None if arrived is None else arrived - pushed)
        finally:
            customer.close()
    return delays


async def disrupt(stack: Stack, started: float, marks: dict[str, float]) -> None:
    """Kill a replica, restart the handoff service, restart RabbitMQ, at their times."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(KILL_AT)
    pid = int(await loop.run_in_executor(None, stack.ctl, "pid", "rasa1"))
    os.kill(pid, signal.SIGKILL)
    marks["kill"] = time.monotonic()
    back = loop.run_in_executor(None, replica_back, stack, 1, marks["kill"])
    await asyncio.sleep(max(0.0, started + HANDOFF_RESTART_AT - time.monotonic()))
    marks["handoff_restart"] = time.monotonic()
    await loop.run_in_executor(None, stack.ctl, "restart", "handoff")
    await asyncio.sleep(max(0.0, started + BROKER_RESTART_AT - time.monotonic()))
    marks["broker_restart"] = time.monotonic()
    await loop.run_in_executor(None, stack.servers, "restart", "rabbitmq")
    marks["replica_back"] = await back or -1.0


async def main_run(stack: Stack, plan: list[tuple[str, list[str]]], marks: dict[str, float]
                   ) -> list[Sent]:
    """The conversations, with the disruptions beside them."""
    started = time.monotonic()
    marks["start"] = started
    chaos = asyncio.create_task(disrupt(stack, started, marks))
    sent = await drive(f"{stack.public}/webhooks/rest/webhook", plan, (2.0, 6.0), 15.0)
    await chaos
    marks["end"] = time.monotonic()
    return sent


def percentile(values: list[float], share: float) -> float:
    """The `share` percentile of `values` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(figures: list[tuple[str, str]], out: Path) -> str:
    """The figures as a Markdown table, printed and written to `out`."""
    lines = ["# make test-scale", "",
             f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores "
             "(shared machine: compare runs on the same machine). Production profile on loopback: "
             "PostgreSQL, Redis, RabbitMQ, nginx, Rasa replicas (evaluation/scale.py).", "",
             "| figure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in figures]
    text = "\n".join(lines) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def run(args: argparse.Namespace) -> int:
    """Start, measure, disrupt, check, stop; 0 when every check passed."""
    scripts = yaml.safe_load(CONVERSATIONS.read_text())["conversations"]
    began = time.monotonic()
    stack = None
    try:
        stack = start_stack(args.model, RUN_DIR / "scale-run.log")
        ready = time.monotonic() - began
        print(f"==> topology ready in {ready:.0f} s", flush=True)
        texts = [s["messages"] for s in scripts]
        throughput(stack, "warm", 8, texts)  # first turns of a fresh process are slow
        stack.ctl("stop", "rasa2")
        rate1, n1 = throughput(stack, "one", args.tput_conversations, texts)
        stack.ctl("start", "rasa2")
        replica_back(stack, 2, time.monotonic())
        throughput(stack, "warm2", 4, texts)
        rate2, n2 = throughput(stack, "two", args.tput_conversations, texts)
        print(f"==> throughput: 1 replica {rate1:.1f} msg/s, 2 replicas {rate2:.1f} msg/s",
              flush=True)
        pushes = cross_replica_pushes(stack)
        print(f"==> widget pushes through the other replica delivered: "
              f"{sum(d is not None for d in pushes)} / {len(pushes)}", flush=True)
        prefix = f"scale-{secrets.token_hex(3)}-"
        plan, expected = [], set()
        for n in range(args.conversations):
            script = scripts[n % len(scripts)]
            name = f"{prefix}{n:03d}-{script['name']}"
            plan.append((name, script["messages"]))
            if script.get("handoff"):
                expected.add(name)
        marks: dict[str, float] = {}
        print(f"==> {len(plan)} conversations at once; kill rasa1 at {KILL_AT:.0f} s, restart "
              f"handoff at {HANDOFF_RESTART_AT:.0f} s, RabbitMQ at {BROKER_RESTART_AT:.0f} s",
              flush=True)
        sent = asyncio.run(main_run(stack, plan, marks))
        events = tracker_messages(stack, [name for name, _ in plan])
        tracker = check_trackers(sent, events)
        handoffs = check_handoffs(stack, prefix, expected, events)
    finally:
        stop_stack(stack)
    answered = [item for item in sent if item.answered]
    unanswered = [item for item in sent if not item.answered]
    planned = sum(len(texts) for _, texts in plan)
    # The requests the killed replica was serving fail at once (connection reset, 502).
    hit = [item for item in sent if item.failed_at and item.failure == "connection"
           and marks["kill"] <= item.failed_at < marks["kill"] + 5]
    recovery = max((item.answered - marks["kill"] for item in hit if item.answered), default=0.0)
    latencies = [item.answered - item.started for item in answered]
    figures = [
        ("conversations at once", str(len(plan))),
        ("customer messages planned / sent", f"{planned} / {len(sent)}"),
        ("answered (client got a non-empty answer)", str(len(answered))),
        ("lost (never answered, or missing in the tracker)",
         str(len(unanswered) + (planned - len(sent)) + tracker["lost"])),
        ("duplicated in the trackers", str(tracker["duplicated"])),
        ("conversations out of order", str(tracker["out_of_order"])),
        ("messages sent again after a failure (same message_id)",
         str(sum(1 for item in sent if item.attempts > 1))),
        ("handoffs requested / in the store", f"{handoffs['expected']} / {handoffs['stored']}"),
        ("handoffs lost / duplicated", f"{handoffs['lost']} / {handoffs['duplicated']}"),
        ("handoffs the bot started itself (emotion, repeated failures)",
         str(handoffs["bot_initiated"])),
        ("messages to agents (after the handoff) expected / lost / duplicated",
         f"{handoffs['live_expected']} / {handoffs['live_lost']} / {handoffs['live_duplicated']}"),
        ("messages hit by the replica kill", str(len(hit))),
        ("time until they were all answered again", f"{recovery:.1f} s"),
        ("killed replica serving again after", f"{marks.get('replica_back', -1):.1f} s"),
        ("latency p50 / p95 / max (main run, incl. retries)",
         f"{percentile(latencies, .5):.2f} / {percentile(latencies, .95):.2f} / "
         f"{max(latencies, default=0):.2f} s"),
        ("main run duration", f"{marks['end'] - marks['start']:.0f} s"),
        ("widget messages pushed through the other replica delivered (max delay)",
         f"{sum(d is not None for d in pushes)} / {len(pushes)} "
         f"({max((d for d in pushes if d is not None), default=0):.2f} s)"),
        ("throughput through nginx, 2 replicas", f"{rate2:.1f} msg/s ({n2} messages)"),
        ("throughput through nginx, 1 replica", f"{rate1:.1f} msg/s ({n1} messages)"),
        ("topology ready after (servers, 2 replicas loading)", f"{ready:.0f} s"),
        ("whole run", f"{time.monotonic() - began:.0f} s"),
    ]
    print(report(figures, args.out))
    failures = []
    if unanswered or planned != len(sent) or tracker["lost"]:
        failures.append("messages lost")
        for item in unanswered[:5]:
            print(f"  unanswered: {item.message_id} {item.text!r} ({item.error})", file=sys.stderr)
    if tracker["duplicated"] or tracker["out_of_order"]:
        failures.append("messages duplicated or out of order")
    if handoffs["lost"] or handoffs["duplicated"]:
        failures.append("handoffs lost or duplicated")
    if handoffs["live_lost"] or handoffs["live_duplicated"]:
        failures.append("messages to agents lost or duplicated")
    if any(d is None for d in pushes):
        failures.append("widget messages pushed through the other replica lost")
    if failures:
        print("FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    print("==> test-scale passed: 0 lost, 0 duplicated")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--tput-conversations", type=int, default=40)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "scale.md")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
