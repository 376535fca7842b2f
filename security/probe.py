"""Hostile-input probe: sends the catalogue of `security.cases` to the running services over
real HTTP and socket.io, and prints a Markdown table per endpoint.

    scripts/with-env.sh .venv/bin/python -m security.probe        # against `make run`
    ... -m security.probe --only rasa,handoff --list               # list the selected cases

Every hostile request must get a 2xx with a clear reply or a 4xx: never a 5xx, a dropped
connection ("crash") or no answer within 15 s ("hang"). Each service must still answer its
health check after each endpoint group, and on the customer channels the same customer must
then get a normal answer to 「你好」. Exit status 1 when anything failed.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 15.0
EXPECTATIONS = ("4xx", "2xx", "2xx_reply", "not_5xx")
# The bot's own "something failed behind me" apology (bot/channels/silent.py): a reply, but
# not a normal answer.
APOLOGY_MARK = "系统刚才出了点问题"
VALID_SENDER = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
GREETING = "你好"
SERVICES = ("rasa", "actions", "shop", "handoff", "widget")
HEALTH_PATHS = {"rasa": "/", "actions": "/health", "shop": "/health", "handoff": "/health",
                "widget": "/health"}


# ---- configuration -------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """Where the services are and the secrets the probe may present (names of .env.example)."""

    urls: dict[str, str]
    rasa_token: str
    action_token: str
    shop_token: str
    handoff_token: str
    widget_admin_token: str
    env: dict[str, str]
    run_id: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Read the service URLs and tokens the way scripts/with-env.sh provides them."""
        env = dict(os.environ if environ is None else environ)
        host = "http://127.0.0.1"
        action_url = env.get("ACTION_SERVER_URL") or f"{host}:{env.get('ACTION_PORT', '5055')}"
        urls = {
            "rasa": env.get("RASA_URL") or f"{host}:{env.get('RASA_PORT', '5005')}",
            "actions": re.sub(r"/webhook/?$", "", action_url),
            "shop": env.get("SHOP_API_URL") or f"{host}:{env.get('SHOP_API_PORT', '8100')}",
            "handoff": env.get("HANDOFF_URL") or f"{host}:{env.get('HANDOFF_PORT', '8000')}",
            "widget": env.get("WIDGET_URL") or f"{host}:{env.get('WIDGET_PORT', '8080')}",
        }
        return cls(
            urls={k: v.rstrip("/") for k, v in urls.items()},
            rasa_token=env.get("RASA_AUTH_TOKEN", ""),
            action_token=env.get("ACTION_SERVER_TOKEN", ""),
            shop_token=env.get("SHOP_API_TOKEN", ""),
            handoff_token=env.get("HANDOFF_API_TOKEN", ""),
            # The widget's admin token for /api/csat/summary: not known to the probe unless set;
            # the probe only ever presents wrong ones.
            widget_admin_token=env.get("WIDGET_ADMIN_TOKEN", ""),
            env=env,
            run_id=f"p{int(time.time()) % 10**7}{secrets.token_hex(2)}",
        )


# ---- cases and results ---------------------------------------------------------------


@dataclass
class Result:
    """What one request (or one scripted sequence) got."""

    outcome: str  # "2xx" | "3xx" | "4xx" | "5xx" | "crash" | "hang"
    status: int | None = None
    body: bytes = b""
    detail: str = ""
    elapsed: float = 0.0
    # Failures found inside a scripted sequence (custom cases).
    problems: list[str] = field(default_factory=list)

    def json(self) -> Any:
        """The body as JSON, or None."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def got(self) -> str:
        """Short description for the failure list."""
        head = str(self.status) if self.status is not None else self.outcome
        text = self.detail or self.body[:160].decode("utf-8", "replace").replace("\n", " ")
        return f"{head} {text}".strip()


Check = Callable[["Probe", "Case", Result], list[str]]
Runner = Callable[["Probe", "Case"], Result]


@dataclass
class Case:
    """One hostile request (or a short scripted sequence when `run` is set)."""

    id: str
    service: str  # one of SERVICES
    endpoint: str  # table row, e.g. "POST /webhooks/rest/webhook"
    klass: str  # class of hostile input, for grouping failures
    method: str = "GET"
    path: str = "/"  # already percent-encoded, with the query string
    headers: dict[str, Any] = field(default_factory=dict)
    body: bytes | None = None
    expect: str = "4xx"  # see EXPECTATIONS
    # On a customer channel: a 2xx must carry bot text, and `sender` (or a fresh valid id
    # when the case's sender is not valid) must then get a normal answer to 「你好」.
    customer: bool = False
    sender: Any = None
    stream: bool = False  # the answer is Rasa's newline-delimited stream
    follow_up: Check | None = None
    run: Runner | None = None

    def __post_init__(self) -> None:
        if self.expect not in EXPECTATIONS:
            raise ValueError(f"{self.id}: unknown expectation {self.expect}")
        if self.service not in SERVICES:
            raise ValueError(f"{self.id}: unknown service {self.service}")

    @property
    def label(self) -> str:
        """The endpoint row of the table."""
        return f"{self.service} {self.endpoint}"


@dataclass
class Verdict:
    """A case, what it got and why it failed (empty: passed)."""

    case: Case
    result: Result
    failures: list[str]


def classify(status: int) -> str:
    """The outcome bucket of an HTTP status."""
    return f"{status // 100}xx" if 200 <= status < 600 else "5xx"


def bot_texts(body: bytes) -> list[str]:
    """Bot texts of a REST answer: a JSON list, or the newline-delimited stream."""
    try:
        data = json.loads(body)
        items = data if isinstance(data, list) else [data]
    except ValueError:
        items = []
        for line in body.splitlines():
            try:
                items.append(json.loads(line))
            except ValueError:
                continue
    return [str(m.get("text")) for m in items if isinstance(m, dict) and m.get("text")]


# ---- the probe -----------------------------------------------------------------------


class Probe:
    """Sends cases, checks expectations and services' health, keeps the verdicts."""

    def __init__(self, config: Config, out: Any = sys.stdout) -> None:
        self.config = config
        self.out = out
        self.verdicts: list[Verdict] = []
        self.health_failures: list[tuple[str, str, str]] = []  # (after endpoint, service, got)
        self.health_checks: dict[str, int] = {s: 0 for s in SERVICES}
        self.state: dict[str, Any] = {}  # shared between cases (handoff ids, agent, ...)

    # -- HTTP --

    def url(self, service: str, path: str) -> str:
        return self.config.urls[service] + path

    def send(self, service: str, method: str, path: str, headers: Mapping[str, Any] | None = None,
             body: bytes | None = None, timeout: float = TIMEOUT) -> Result:
        """One request on a fresh connection; the whole answer must arrive within `timeout`."""
        started = time.monotonic()
        try:
            with requests.request(method, self.url(service, path), headers=dict(headers or {}),
                                  data=body, timeout=timeout, stream=True,
                                  allow_redirects=False) as answer:
                chunks = []
                for chunk in answer.iter_content(65536):
                    chunks.append(chunk)
                    if time.monotonic() - started > timeout:
                        return Result("hang", answer.status_code, b"".join(chunks),
                                      f"answer not complete after {timeout:.0f}s",
                                      time.monotonic() - started)
                return Result(classify(answer.status_code), answer.status_code, b"".join(chunks),
                              elapsed=time.monotonic() - started)
        except requests.Timeout as error:
            return Result("hang", elapsed=time.monotonic() - started,
                          detail=f"no answer within {timeout:.0f}s ({type(error).__name__})")
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
            return Result("crash", detail=f"connection failed: {_short(error)}",
                          elapsed=time.monotonic() - started)
        except requests.RequestException as error:  # e.g. an invalid header value client-side
            return Result("crash", detail=f"request failed: {_short(error)}",
                          elapsed=time.monotonic() - started)

    def rest(self, sender: str, text: str, stream: bool = False) -> Result:
        """A well-formed customer message on the REST channel."""
        body = json.dumps({"sender": sender, "message": text}, ensure_ascii=False).encode()
        path = "/webhooks/rest/webhook" + ("?stream=true" if stream else "")
        return self.send("rasa", "POST", path, {"Content-Type": "application/json"}, body)

    def normal_answer(self, sender: str) -> str | None:
        """None when `sender` gets a normal answer to 「你好」, else what went wrong."""
        result = self.rest(sender, GREETING)
        texts = bot_texts(result.body)
        if result.outcome != "2xx":
            return f"「你好」 from {sender} then got {result.got()}"
        if not texts:
            return f"「你好」 from {sender} then got no reply text"
        if any(APOLOGY_MARK in t for t in texts):
            return f"「你好」 from {sender} then got the failure apology"
        return None

    def tracker(self, conversation_id: str) -> dict[str, Any] | None:
        """A conversation's tracker through Rasa's HTTP API (None if unavailable)."""
        from urllib.parse import quote

        result = self.send("rasa", "GET", f"/conversations/{quote(conversation_id, safe='')}"
                           f"/tracker?token={quote(self.config.rasa_token)}")
        data = result.json() if result.outcome == "2xx" else None
        return data if isinstance(data, dict) else None

    def health(self, after: str) -> None:
        """Every service's health check; failures are recorded against the endpoint group."""
        for service in SERVICES:
            path = HEALTH_PATHS[service]
            result = self.send(service, "GET", path, timeout=TIMEOUT)
            self.health_checks[service] += 1
            if result.status != 200:
                self.health_failures.append((after, service, result.got()))

    # -- cases --

    def run_case(self, case: Case) -> Verdict:
        """Send one case and check everything it promises."""
        if case.run is not None:
            try:
                result = case.run(self, case)
            except Exception as error:  # noqa: BLE001 - a broken case is a failed case
                result = Result("crash", detail=f"probe error: {_short(error)}")
        else:
            headers = {k: self.fill(v) if isinstance(v, str) else v
                       for k, v in case.headers.items()}
            body = case.body
            if body is not None and b"{" in body[:100_000]:
                for key, value in self.state.items():
                    if isinstance(value, str):
                        body = body.replace(b"{" + key.encode() + b"}", value.encode())
            result = self.send(case.service, case.method, self.fill(case.path), headers, body)
        failures = list(result.problems) + self.expectation_failures(case, result)
        if case.follow_up is not None and result.outcome not in ("crash", "hang"):
            try:
                failures += case.follow_up(self, case, result)
            except Exception as error:  # noqa: BLE001
                failures.append(f"follow-up error: {_short(error)}")
        if case.customer and case.service == "rasa" and case.run is None:
            valid = isinstance(case.sender, str) and VALID_SENDER.match(case.sender) and not (
                _other_channel_form(case.sender))
            sender = case.sender if valid else self.sender(case.id, "next")
            problem = self.normal_answer(sender)
            if problem:
                failures.append(problem)
        verdict = Verdict(case, result, failures)
        self.verdicts.append(verdict)
        return verdict

    def expectation_failures(self, case: Case, result: Result) -> list[str]:
        """Whether the outcome is one the case allows."""
        if result.outcome in ("5xx", "crash", "hang"):
            return [f"expected {case.expect}, got {result.outcome}"]
        status = result.status or 0
        ok = {
            "4xx": 400 <= status < 500,
            "2xx": 200 <= status < 300,
            "2xx_reply": 200 <= status < 300,
            "not_5xx": status < 500,
        }[case.expect]
        if case.run is not None and result.status is None:  # socket.io: outcome only
            ok = {"4xx": result.outcome == "4xx", "2xx": result.outcome == "2xx",
                  "2xx_reply": result.outcome == "2xx", "not_5xx": True}[case.expect]
        if not ok:
            return [f"expected {case.expect}, got {result.status or result.outcome}"]
        needs_text = case.expect == "2xx_reply" or (case.customer and 200 <= status < 300)
        if needs_text and case.run is None and not bot_texts(result.body):
            return [f"expected {case.expect}: a 2xx without reply text"]
        if (case.customer or case.run is not None) and APOLOGY_MARK in result.detail + "".join(
                bot_texts(result.body)):
            return ["answered with the bot's failure apology: handling the message raised"]
        return []

    def fill(self, text: str) -> str:
        """Replace `{key}` by the shared state of earlier cases (handoff id, agent token, ...)."""
        for key, value in self.state.items():
            if isinstance(value, str):
                text = text.replace("{" + key + "}", value)
        return text

    def sender(self, case_id: str, suffix: str = "") -> str:
        """A valid, unique REST sender id for this run."""
        return f"probe.{self.config.run_id}.{case_id}" + (f".{suffix}" if suffix else "")

    def run_all(self, cases: Iterable[Case], verbose: bool = True) -> list[Verdict]:
        """Run the cases in order; after each endpoint group check every service's health."""
        current = None
        for case in cases:
            if current is not None and case.label != current:
                self.health(current)
            current = case.label
            verdict = self.run_case(case)
            if verbose:
                mark = "FAIL" if verdict.failures else "ok"
                print(f"{mark:4} {case.id:12} {case.label[:48]:48} {verdict.result.got()[:60]}",
                      file=self.out, flush=True)
        if current is not None:
            self.health(current)
        return self.verdicts

    # -- report --

    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.failures]

    def summary(self) -> dict[str, int]:
        """Totals over every case (and the health checks as crashes)."""
        totals = {"cases": len(self.verdicts), "5xx": 0, "crash": 0, "hang": 0,
                  "failed": len(self.failed()), "health_failures": len(self.health_failures)}
        for verdict in self.verdicts:
            if verdict.result.outcome in ("5xx", "crash", "hang"):
                totals[verdict.result.outcome] += 1
        return totals

    def ok(self) -> bool:
        totals = self.summary()
        return not (totals["5xx"] or totals["crash"] or totals["hang"] or totals["failed"]
                    or totals["health_failures"])

    def table(self) -> str:
        """Markdown table per endpoint, the health checks, and every failed case."""
        rows: dict[str, dict[str, int]] = {}
        for verdict in self.verdicts:
            row = rows.setdefault(verdict.case.label, {k: 0 for k in (
                "cases", "2xx", "3xx", "4xx", "5xx", "crash", "hang", "failed")})
            row["cases"] += 1
            row[verdict.result.outcome] += 1
            row["failed"] += bool(verdict.failures)
        lines = ["| endpoint | cases | 2xx | 3xx | 4xx | 5xx | crashes | hangs "
                 "| failed expectations |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        total = {k: 0 for k in ("cases", "2xx", "3xx", "4xx", "5xx", "crash", "hang", "failed")}
        for label, row in rows.items():
            lines.append(f"| {label} | " + " | ".join(str(row[k]) for k in total) + " |")
            for key in total:
                total[key] += row[key]
        for service in SERVICES:
            down = sum(1 for _, s, _ in self.health_failures if s == service)
            if self.health_checks[service]:
                lines.append(f"| {service} health after each group | {self.health_checks[service]}"
                             f" | {self.health_checks[service] - down} | 0 | 0 | 0 | {down} | 0 |"
                             f" {down} |")
        lines.append("| **all cases** | " + " | ".join(f"**{total[k]}**" for k in total) + " |")
        out = ["\n".join(lines)]
        failed = self.failed()
        if failed or self.health_failures:
            out.append(f"\n### Failed cases ({len(failed)})\n")
            out.append("| id | endpoint | class | expected | got | why |")
            out.append("|---|---|---|---|---|---|")
            for v in failed:
                out.append(f"| {v.case.id} | {v.case.label} | {v.case.klass} | {v.case.expect} | "
                           f"{_cell(v.result.got(), 70)} | {_cell('; '.join(v.failures), 160)} |")
            if self.health_failures:
                out.append(f"\n### Health check failures ({len(self.health_failures)})\n")
                for after, service, got in self.health_failures:
                    out.append(f"- {service} after `{after}`: {_cell(got, 100)}")
        return "\n".join(out)

    # -- set-up that needs the project, not HTTP --

    def ensure_agent(self, role: str = "agent") -> tuple[str, str] | None:
        """An account for the handoff cases (`role` agent or supervisor), made with the handoff
        CLI (same store as the service: the probe's environment). None when it could not be
        made."""
        key = "agent" if role == "agent" else role
        if key in self.state:
            return self.state[key]
        suffix = "" if role == "agent" else f"_{role[:3]}"
        name, password = f"probe_{self.config.run_id}{suffix}", secrets.token_urlsafe(12)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "handoff", "create-agent", name, "--password-stdin",
                 "--display-name", "探针主管" if role == "supervisor" else "探针客服",
                 "--role", role],
                input=password + "\n", text=True, capture_output=True, cwd=ROOT,
                env={**self.config.env, "PYTHONPATH": str(ROOT)}, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            print(f"could not create the probe {role}: {error}", file=self.out)
            self.state[key] = None
            return None
        if done.returncode != 0:
            print(f"could not create the probe {role}: {done.stderr.strip()}", file=self.out)
            self.state[key] = None
            return None
        self.state[key] = (name, password)
        return self.state[key]
        name, password = f"probe_{self.config.run_id}", secrets.token_urlsafe(12)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "handoff", "create-agent", name, "--password-stdin",
                 "--display-name", "探针客服"],
                input=password + "\n", text=True, capture_output=True, cwd=ROOT,
                env={**self.config.env, "PYTHONPATH": str(ROOT)}, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            print(f"could not create the probe agent: {error}", file=self.out)
            self.state["agent"] = None
            return None
        if done.returncode != 0:
            print(f"could not create the probe agent: {done.stderr.strip()}", file=self.out)
            self.state["agent"] = None
            return None
        self.state["agent"] = (name, password)
        return self.state["agent"]


def _short(error: BaseException) -> str:
    text = str(error).replace("\n", " ")
    return f"{type(error).__name__}: {text[:120]}"


def _cell(text: str, limit: int) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _other_channel_form(sender: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-f]{32}", sender)) or sender.startswith("wechat_")


# ---- socket.io -----------------------------------------------------------------------


class WidgetClient:
    """A website-widget customer over socket.io (python-socketio's client, WebSocket only)."""

    def __init__(self, base_url: str) -> None:
        import socketio  # the venv's python-socketio

        self.base_url = base_url
        self.sio = socketio.Client(reconnection=False, logger=False, engineio_logger=False)
        self.confirms: queue.Queue = queue.Queue()
        self.tokens: queue.Queue = queue.Queue()  # the channel's `session_token` events
        self.utterances: queue.Queue = queue.Queue()
        self.disconnected = False
        self.sio.on("session_confirm", self.confirms.put)
        self.sio.on("session_token", self.tokens.put)
        self.sio.on("bot_uttered", self.utterances.put)
        self.sio.on("disconnect", self._gone)

    def _gone(self, *_: Any) -> None:
        self.disconnected = True

    def connect(self) -> None:
        self.sio.connect(self.base_url, socketio_path="socket.io", transports=["websocket"],
                         wait_timeout=TIMEOUT)

    @property
    def connected(self) -> bool:
        return self.sio.connected and not self.disconnected

    def session(self, data: Any = None, timeout: float = TIMEOUT) -> tuple[str | None, str | None]:
        """Ask for a session; (session id, session token if the server issues one)."""
        self.sio.emit("session_request", {} if data is None else data)
        try:
            confirmed = self.confirms.get(timeout=timeout)
        except queue.Empty:
            return None, None
        if isinstance(confirmed, dict):
            session = confirmed.get("session_id")
            token = confirmed.get("token") or confirmed.get("session_token")
        else:
            session, token = (confirmed if isinstance(confirmed, str) else None), None
        if session and not token:  # bot/channels/widget.py sends it as its own event, just after
            try:
                issued = self.tokens.get(timeout=3)
            except queue.Empty:
                issued = None
            if isinstance(issued, dict) and issued.get("session_id") == session:
                token = issued.get("token")
        return session, token

    def emit(self, event: str, data: Any) -> None:
        self.sio.emit(event, data)

    def replies(self, timeout: float = TIMEOUT, settle: float = 0.7) -> list[dict[str, Any]]:
        """Bot messages: waits up to `timeout` for the first, then `settle` for more."""
        out = []
        try:
            out.append(self.utterances.get(timeout=timeout))
            while True:
                out.append(self.utterances.get(timeout=settle))
        except queue.Empty:
            return out

    def drain(self) -> list[dict[str, Any]]:
        out = []
        while True:
            try:
                out.append(self.utterances.get_nowait())
            except queue.Empty:
                return out

    def say(self, text: str, session_id: str | None, timeout: float = TIMEOUT) -> list[str]:
        """Send a message and return the texts of the bot's answer."""
        self.drain()
        self.emit("user_uttered", {"message": text, "session_id": session_id})
        return [str(m.get("text")) for m in self.replies(timeout) if isinstance(m, dict)
                and m.get("text")]

    def close(self) -> None:
        try:
            self.sio.disconnect()
        except Exception:  # noqa: BLE001 - already gone
            pass


# ---- command line --------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the catalogue against the services of the environment; 1 when anything failed."""
    from security.cases import build_catalogue

    parser = argparse.ArgumentParser(prog="python -m security.probe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated services: " + ",".join(SERVICES))
    parser.add_argument("--list", action="store_true", help="list the cases, send nothing")
    parser.add_argument("--quiet", action="store_true", help="no line per case")
    args = parser.parse_args(argv)
    config = Config.from_env()
    probe = Probe(config)
    cases = build_catalogue(probe)
    if args.only:
        wanted = {s.strip() for s in args.only.split(",")}
        cases = [c for c in cases if c.service in wanted]
    if args.list:
        for case in cases:
            print(f"{case.id:12} {case.label:52} {case.klass:28} expect {case.expect}")
        print(f"{len(cases)} cases")
        return 0
    started = time.monotonic()
    probe.run_all(cases, verbose=not args.quiet)
    print(f"\n## Hostile-input probe ({len(cases)} cases, {time.monotonic() - started:.0f} s)\n")
    print(probe.table())
    return 0 if probe.ok() else 1


if __name__ == "__main__":
    # Run the importable module's main, so cases and runner share one set of classes.
    from security.probe import main as _main

    sys.exit(_main())
