"""Two measurements of `make bench` beside the load levels (evaluation/benchmark.py):

- **Turn kinds.** A single conversation's turns split by whether the action server was called
  (a custom action or a form with a validation action ran): the issue's target for turns
  "without backend calls" is read on the others. The kind of each turn is read afterwards
  from the conversation's tracker (Rasa's HTTP API), outside the timed requests.
- **Handoff latency**, as the people involved feel it, through real processes: a customer in
  the website widget (Socket.IO over a WebSocket, as the widget speaks it) asks for a person;
  an agent's console follows the handoff service's server-sent events
  (`/api/v1/stream`, what the console listens to). Measured per handoff:
  1. customer message to the handoff visible in the agent's queue (the `queue` event);
  2. agent reply (`POST .../messages`) to the message on the customer's widget;
  3. customer message during the handoff to the agent's console (the `message` event; it
     travels through Rasa's event broker and the service's event tail).
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

# Rasa's own actions: they run inside the Rasa server (action_extract_slots may call the
# action server for custom slot mappings; this bot has none).
REQUEST_HUMAN = "转人工"
AGENT_REPLY = "您好，我是客服小林，您的问题我来跟进，请稍等。"
CUSTOMER_FOLLOW_UP = "好的，订单号是573262229751，谢谢"


# --------------------------------------------------------------------------- turn kinds

def action_server_actions(domain: dict[str, Any]) -> set[str]:
    """Names whose execution calls the action server: the domain's custom actions, and its
    forms that have a `validate_<form>` action."""
    actions = set(domain.get("actions") or [])
    forms = set(domain.get("forms") or {})
    return actions | {form for form in forms if f"validate_{form}" in actions}


def turn_kinds(events: Iterable[dict[str, Any]], backend: set[str]) -> list[tuple[str, bool]]:
    """For each user message of a tracker, in order: its text and whether an action in
    `backend` ran before the next user message."""
    kinds: list[tuple[str, bool]] = []
    for event in events:
        if event.get("event") == "user":
            kinds.append((event.get("text") or "", False))
        elif event.get("event") == "action" and kinds and event.get("name") in backend:
            kinds[-1] = (kinds[-1][0], True)
    return kinds


def align(sent: Sequence[str], kinds: Sequence[tuple[str, bool]]) -> dict[int, bool]:
    """Turn index of each message the client sent -> its kind, matching the tracker's user
    messages by text in order (the bot may add user messages of its own, e.g. a request it
    puts back for the customer)."""
    found: dict[int, bool] = {}
    position = 0
    for index, text in enumerate(sent):
        for at in range(position, len(kinds)):
            if kinds[at][0] == text:
                found[index] = kinds[at][1]
                position = at + 1
                break
    return found


def classify_turns(base: str, token: str, sent: dict[str, Sequence[str]]
                   ) -> dict[tuple[str, int], bool]:
    """(sender, turn index) -> whether that turn called the action server, for the messages
    `sent` per sender."""
    import requests

    domain = requests.get(f"{base}/domain", params={"token": token}, timeout=30,
                          headers={"Accept": "application/json"}).json()
    backend = action_server_actions(domain)
    kinds: dict[tuple[str, int], bool] = {}
    for sender, texts in sent.items():
        answer = requests.get(f"{base}/conversations/{quote(sender, safe='')}/tracker",
                              params={"token": token}, timeout=30)
        if answer.status_code != 200:
            continue
        events = answer.json().get("events") or []
        for index, used in align(texts, turn_kinds(events, backend)).items():
            kinds[(sender, index)] = used
    return kinds


# --------------------------------------------------------------------------- handoff latency

class ConsoleStream(threading.Thread):
    """An agent console's event stream: the arrival time of every event per handoff."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.arrivals: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.ready = threading.Event()
        self.lock = threading.Lock()
        self._response: Any = None

    def run(self) -> None:
        import requests

        with requests.get(self.url, headers=self.headers, stream=True,
                          timeout=(5, 60)) as response:
            self._response = response
            kind = None
            for raw in response.iter_lines(decode_unicode=True):
                line = raw or ""
                if line.startswith("event: "):
                    kind = line[7:]
                    if kind == "hello":
                        self.ready.set()
                elif line.startswith("data: ") and kind and kind != "hello":
                    handoff_id = json.loads(line[6:]).get("handoff_id")
                    if handoff_id:
                        with self.lock:
                            self.arrivals[(kind, handoff_id)].append(time.monotonic())

    def first_after(self, kind: str, handoff_id: str, since: float,
                    timeout: float = 10.0) -> float | None:
        """The first arrival of `kind` for the handoff at or after `since`, waiting up to
        `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                times = [t for t in self.arrivals.get((kind, handoff_id), []) if t >= since]
            if times:
                return min(times)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.005)

    def close(self) -> None:
        if self._response is not None:
            try:
                self._response.close()
            except Exception:  # noqa: BLE001 - closing a stream that may be gone already
                pass


@dataclass
class HandoffSample:
    """One customer's handoff: the three latencies in ms (None when it never arrived)."""

    queue_ms: float | None = None
    reply_ms: float | None = None
    customer_ms: float | None = None
    error: str = ""


@dataclass
class HandoffFigures:
    """What the handoff part of the bench found."""

    samples: list[HandoffSample] = field(default_factory=list)
    concurrency: int = 1
    seconds: float = 0.0

    def series(self, name: str) -> list[float]:
        return [getattr(s, name) for s in self.samples if getattr(s, name) is not None]

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if s.error)


def wait_for_text(customer: Any, text: str, timeout: float = 15.0) -> float | None:
    """Read the customer's socket until a bot message with `text` arrives; its arrival time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            name, data = customer._next(timeout=max(0.05, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - a socket timeout: nothing arrived in time
            return None
        if name == "bot_uttered" and isinstance(data, dict) and data.get("text") == text:
            return time.monotonic()
    return None


def one_handoff(rasa: str, service: str, agent: dict[str, str],
                console: ConsoleStream) -> HandoffSample:
    """A widget customer asks for a person, the agent claims and answers, the customer
    writes once more; then the agent resolves it."""
    import requests

    from evaluation.demo_traffic import WidgetCustomer

    sample = HandoffSample()
    customer = None
    try:
        customer = WidgetCustomer(rasa)
        customer.say("你好")
        asked = time.monotonic()
        customer.say(REQUEST_HUMAN)
        rows = requests.get(f"{service}/api/v1/handoffs?status=queued", headers=agent,
                            timeout=30).json()["handoffs"]
        mine = [h for h in rows if h["conversation_id"] == customer.sender]
        if not mine:
            sample.error = "no handoff in the queue"
            return sample
        handoff_id = mine[0]["id"]
        seen = console.first_after("queue", handoff_id, asked)
        sample.queue_ms = None if seen is None else (seen - asked) * 1000
        base = f"{service}/api/v1/handoffs/{handoff_id}"
        if requests.post(f"{base}/claim", headers=agent, timeout=30).status_code != 200:
            sample.error = "claim refused"
            return sample
        # The customer's socket is read while the agent's request is still being answered:
        # the service relays first and records afterwards.
        arrival: list[float | None] = []
        reader = threading.Thread(target=lambda: arrival.append(
            wait_for_text(customer, AGENT_REPLY)), daemon=True)
        reader.start()
        sent = time.monotonic()
        answer = requests.post(f"{base}/messages", json={"text": AGENT_REPLY}, headers=agent,
                               timeout=30)
        reader.join(20)
        if answer.status_code != 201:
            sample.error = f"reply refused ({answer.status_code})"
            return sample
        arrived = arrival[0] if arrival else None
        sample.reply_ms = None if arrived is None else (arrived - sent) * 1000
        # The service publishes the agent's own message once it has relayed and stored it
        # (after the customer may already have it): wait for that event, so the next one is
        # the customer's.
        if console.first_after("message", handoff_id, sent) is None:
            sample.error = "the agent's message never reached the console"
            return sample
        written = time.monotonic()
        customer._emit("user_uttered", {"message": CUSTOMER_FOLLOW_UP,
                                        "session_id": customer.sender})
        shown = console.first_after("message", handoff_id, written)
        sample.customer_ms = None if shown is None else (shown - written) * 1000
        requests.post(f"{base}/resolve", headers=agent, timeout=30)
    except Exception as error:  # noqa: BLE001 - one failed sample is reported, not fatal
        sample.error = f"{type(error).__name__}: {error}"[:200]
    finally:
        if customer is not None:
            customer.close()
    return sample


def measure_handoffs(rasa: str, service: str, agent: dict[str, str], count: int,
                     concurrency: int) -> HandoffFigures:
    """`count` handoffs, `concurrency` customers at a time, one agent console watching."""
    console = ConsoleStream(f"{service}/api/v1/stream", agent)
    console.start()
    if not console.ready.wait(30):
        raise RuntimeError("the console's event stream did not open")
    figures = HandoffFigures(concurrency=concurrency)
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(concurrency) as pool:
            futures = [pool.submit(one_handoff, rasa, service, agent, console)
                       for _ in range(count)]
            figures.samples = [f.result() for f in futures]
    finally:
        console.close()
    figures.seconds = time.monotonic() - started
    return figures


def new_agent_name() -> str:
    return f"bench-{uuid.uuid4().hex[:8]}"
