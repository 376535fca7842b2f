"""End-to-end speed against a plain Rasa baseline, on this machine, over loopback.

    make bench          # full run: 10-15 min once both models are trained (cached)
    make bench-quick    # fewer turns per level, for development
    python -m evaluation.benchmark MODEL [--quick] [--no-baseline] [--label after]

Starts the services as real processes the way scripts/run.sh does (shop API, action server,
Rasa with the project's endpoints and channels) in a throwaway folder with fresh SQLite files,
then, for our model and for the baseline (evaluation/baseline_config.yml: JiebaTokenizer,
CountVectorsFeaturizer char + word, DIET, RulePolicy, TED, served by plain Rasa's `rest`
channel with the same endpoints, action server and shop API):

- replays the conversations of evaluation/bench_conversations.yml through the REST channel
  with 1, 10 and 50 conversations at once, each conversation's turns one after another;
- sends their customer messages to `/model/parse` (NLU alone) at the same concurrencies;
- scores topic accuracy on ../shared/data/topics_dev.tsv (totals only);
- reads CPU seconds and peak RSS of every process from /proc, and the training time, peak
  training memory and size of each model.

Both models are trained by the bench when missing, timed, and cached by fingerprint in
bot/models (ours under the Makefile's name, the baseline as bot/models/bench/baseline-<fp>),
so repeated runs do not retrain. Writes reports/bench/bench.md, latency.png and
results-<label>.json. Figures only, no thresholds: the machines are shared, compare runs made
on the same machine.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from evaluation.bench_handoff import HandoffFigures, classify_turns, measure_handoffs

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
CONVERSATIONS_FILE = ROOT / "evaluation" / "bench_conversations.yml"
BASELINE_CONFIG = ROOT / "evaluation" / "baseline_config.yml"
TOPICS_DEV = ROOT.parent / "shared" / "data" / "topics_dev.tsv"
CACHE_DIR = ROOT / "bot" / "models" / "bench"
OUT_DIR = ROOT / "reports" / "bench"
LEVELS = (1, 10, 50)
READY_SECONDS = 300
REQUEST_TIMEOUT = 120
TOKENS = {"RASA_AUTH_TOKEN": "bench-rasa-token", "ACTION_SERVER_TOKEN": "bench-action-token",
          "SHOP_API_TOKEN": "bench-shop-token", "HANDOFF_API_TOKEN": "bench-handoff-token"}
# Settings of the developer's environment that must not leak into the throwaway stack.
DROPPED = ("RASA_URL", "HANDOFF_DB_URL", "HANDOFF_EVENTS_URL", "WIDGET_SOCKET_URL", "WIDGET_URL",
           "TELEGRAM_TOKEN", "TELEGRAM_BOT_NAME", "TELEGRAM_WEBHOOK_URL", "WECHAT_TOKEN",
           "WECHAT_APPID", "WECHAT_SECRET", "WECHAT_AES_KEY", "APP_ENV", "HANDOFF_ENV",
           "APP_PROFILE")


@dataclass(frozen=True)
class Profile:
    """How much load each level gets: conversations (REST) and parses (NLU) per concurrency,
    and a time cap per level that keeps the whole run bounded."""

    conversations: dict[int, int]
    parses: dict[int, int]
    level_seconds: float
    handoffs: int = 40
    handoff_concurrency: int = 4


FULL = Profile(conversations={1: 26, 10: 60, 50: 100}, parses={1: 200, 10: 400, 50: 600},
               level_seconds=45, handoffs=60)
QUICK = Profile(conversations={1: 6, 10: 20, 50: 50}, parses={1: 40, 10: 100, 50: 150},
                level_seconds=25, handoffs=16)


# --------------------------------------------------------------------------- pure figures

def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks (numpy's
    default); NaN for no samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Level:
    """The figures of one path at one concurrency."""

    system: str
    path: str  # "rest" or "nlu"
    concurrency: int
    count: int
    errors: int
    seconds: float
    p50: float
    p95: float
    p99: float
    rate: float
    cpu: dict[str, float] = field(default_factory=dict)


def summarize(system: str, path: str, concurrency: int, latencies_ms: Sequence[float],
              errors: int, seconds: float) -> Level:
    """Percentiles and throughput of one level (errors are not counted as messages)."""
    return Level(system, path, concurrency, len(latencies_ms), errors, round(seconds, 2),
                 round(percentile(latencies_ms, 50), 1), round(percentile(latencies_ms, 95), 1),
                 round(percentile(latencies_ms, 99), 1),
                 round(len(latencies_ms) / seconds, 1) if seconds > 0 else 0.0)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table; floats with one decimal, NaN and None as an em dash, `|` escaped."""
    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "—"
        if isinstance(value, float):
            return f"{value:.1f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(ours: float | None, baseline: float | None) -> str:
    """ours / baseline as `1.23×`; an em dash when either is missing or the baseline is 0."""
    if ours is None or baseline is None or baseline == 0 or math.isnan(ours) or math.isnan(
            baseline):
        return "—"
    return f"{ours / baseline:.2f}×"


def parse_stat_cpu(stat: str, ticks: int = 100) -> float:
    """User + system CPU seconds of a process from the text of /proc/<pid>/stat."""
    fields = stat.rsplit(")", 1)[1].split()  # the name may hold spaces and parentheses
    return (int(fields[11]) + int(fields[12])) / ticks


def parse_status_mb(status: str, key: str = "VmHWM") -> float:
    """A memory line of /proc/<pid>/status (VmHWM: peak resident set) in MB; NaN if absent."""
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return math.nan


def load_conversations(path: Path = CONVERSATIONS_FILE) -> list[dict[str, Any]]:
    """The conversations of the bench file: each with an `id` and 1+ customer `turns`."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    conversations = data.get("conversations") or []
    for conversation in conversations:
        turns = conversation.get("turns")
        if not conversation.get("id") or not turns or not all(
                isinstance(t, str) and t.strip() for t in turns):
            raise ValueError(f"{path}: conversation {conversation.get('id')!r} needs an id "
                             f"and non-empty text turns")
    return conversations


def fingerprint(paths: Iterable[Path], extra: str = "") -> str:
    """12 hex digits of SHA-256 over the files' relative names and contents."""
    digest = hashlib.sha256(extra.encode())
    for path in sorted(paths):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


# --------------------------------------------------------------------------- processes

def cpu_seconds(pid: int) -> float:
    """CPU seconds a live process has used (NaN once it is gone)."""
    try:
        return parse_stat_cpu(Path(f"/proc/{pid}/stat").read_text(), os.sysconf("SC_CLK_TCK"))
    except (OSError, IndexError, ValueError):
        return math.nan


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a live process in MB."""
    try:
        return parse_status_mb(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return math.nan


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """A service started as its own process group, logging to a file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        with self.log.open("w") as handle:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self.started = time.monotonic()
        self.ready_seconds = math.nan

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, url: str) -> None:
        """Until `url` answers 200 (bounded), failing early if the process died."""
        import requests

        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}): "
                                   f"{self.log.read_text(errors='replace')[-2000:]}")
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    self.ready_seconds = time.monotonic() - self.started
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} not ready after {READY_SECONDS} s; see {self.log}")

    def stop(self) -> None:
        """TERM to its group, KILL after 20 s."""
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
            if self.process.poll() is not None:
                return
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue


def stack_env(tmp: Path) -> dict[str, str]:
    """The environment of a private stack: free ports, files under `tmp`, bench tokens, rate
    limits out of the way."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    ports = {name: free_port() for name in ("ACTION", "SHOP_API", "HANDOFF")}
    env.update(TOKENS)
    env.update({
        "ACTION_PORT": str(ports["ACTION"]),
        "ACTION_SERVER_URL": f"http://127.0.0.1:{ports['ACTION']}/webhook",
        "SHOP_API_PORT": str(ports["SHOP_API"]),
        "SHOP_API_URL": f"http://127.0.0.1:{ports['SHOP_API']}",
        # No handoff service runs: the conversations do not ask for a person.
        "HANDOFF_PORT": str(ports["HANDOFF"]),
        "HANDOFF_URL": f"http://127.0.0.1:{ports['HANDOFF']}",
        "SHOP_DB": str(tmp / "shop.db"),
        "HANDOFF_OUTBOX": str(tmp / "outbox.db"),
        "RATE_LIMIT_PER_SENDER": "1000000",
        "RATE_LIMIT_PER_ADDRESS": "1000000",
        "PYTHONPATH": str(ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    })
    return env


# --------------------------------------------------------------------------- training

@dataclass
class Trained:
    """A model and what training it cost (NaN when it was trained outside the bench)."""

    path: str
    train_seconds: float
    train_cpu_seconds: float
    train_peak_rss_mb: float
    size_mb: float
    cached: bool


def train(config: Path, model: Path, env: dict[str, str], measure: bool = True) -> Trained:
    """The model at `model`, trained (timed, into a temporary folder, then moved) unless it
    and its figures are cached in CACHE_DIR. With `measure` False an existing model is used
    as it is, without training figures."""
    sidecar = CACHE_DIR / (model.name.removesuffix(".tar.gz") + ".train.json")
    if not measure and model.is_file() and not sidecar.is_file():
        return Trained(str(model), math.nan, math.nan, math.nan, model.stat().st_size / 1e6,
                       cached=True)
    if model.is_file() and sidecar.is_file():
        figures = json.loads(sidecar.read_text())
        return Trained(str(model), figures["seconds"], figures["cpu_seconds"],
                       figures["peak_rss_mb"], model.stat().st_size / 1e6, cached=True)
    model.parent.mkdir(parents=True, exist_ok=True)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix=".bench-train-", dir=model.parent))
    stem = model.name.removesuffix(".tar.gz")
    command = [str(BIN / "rasa"), "train", "--data", "bot/data", "--domain", "domain",
               "--config", str(config), "--out", str(out), "--fixed-model-name", stem, "--force"]
    print(f"==> training {model.relative_to(ROOT)} ({config.name}) ...", flush=True)
    log = out / "train.log"
    start = time.monotonic()
    with log.open("w") as handle:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle,
                                   stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    built = out / model.name
    if process.returncode != 0 or not built.is_file():
        tail = log.read_text(errors="replace")[-3000:]
        shutil.rmtree(out, ignore_errors=True)
        raise RuntimeError(f"training with {config.name} failed:\n{tail}")
    os.replace(built, model)
    shutil.rmtree(out, ignore_errors=True)
    figures = {"seconds": round(seconds, 1),
               "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
               "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
               "trained_at": datetime.now().isoformat(timespec="seconds")}
    sidecar.write_text(json.dumps(figures, indent=2))
    print(f"    trained in {seconds:.0f} s", flush=True)
    return Trained(str(model), figures["seconds"], figures["cpu_seconds"],
                   figures["peak_rss_mb"], model.stat().st_size / 1e6, cached=False)


def baseline_model_path() -> Path:
    """The baseline's model, named after the fingerprint of its config, data and domain."""
    import rasa

    from bot.domain_files import domain_files

    inputs = [BASELINE_CONFIG, *domain_files(),
              *(p for p in (ROOT / "bot" / "data").rglob("*") if p.is_file())]
    return CACHE_DIR / f"baseline-{fingerprint(inputs, rasa.__version__)}.tar.gz"


# --------------------------------------------------------------------------- load

async def _post(session: Any, url: str, payload: dict[str, Any]) -> tuple[float, bool, Any]:
    """Latency in ms, success and JSON answer of one POST."""
    start = time.perf_counter()
    try:
        async with session.post(url, json=payload) as answer:
            body = await answer.json(content_type=None)
            ok = answer.status == 200
    except Exception:  # noqa: BLE001 - a failed request counts as an error, not a crash
        body, ok = None, False
    return (time.perf_counter() - start) * 1000, ok, body


async def replay(base: str, conversations: Sequence[dict[str, Any]], concurrency: int,
                 count: int, deadline_s: float, tag: str,
                 turns: list[tuple[str, int, str, float]] | None = None,
                 ) -> tuple[list[float], int, float, int]:
    """Replay `count` conversations (cycling through the file) with `concurrency` at once,
    each one's turns in order. Returns the turn latencies, errors, wall seconds and turns
    that got no reply; `turns`, when given, receives (sender, turn index, text, ms) of each."""
    import aiohttp

    queue: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait((i, conversations[i % len(conversations)]))
    latencies: list[float] = []
    errors = silent = 0
    url = f"{base}/webhooks/rest/webhook"
    start = time.perf_counter()
    stop_at = start + deadline_s

    async def worker(session: Any) -> None:
        nonlocal errors, silent
        while time.perf_counter() < stop_at:
            try:
                i, conversation = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            sender = f"bench-{tag}-{concurrency}-{i}-{conversation['id']}"[:128]
            for index, text in enumerate(conversation["turns"]):
                if time.perf_counter() >= stop_at:  # the level's time is up, also mid-way
                    return
                ms, ok, body = await _post(session, url, {"sender": sender, "message": text})
                if ok:
                    latencies.append(ms)
                    silent += not body
                    if turns is not None:
                        turns.append((sender, index, text, ms))
                else:
                    errors += 1

    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - start, silent


async def parse_load(base: str, texts: Sequence[str], concurrency: int, count: int,
                     deadline_s: float) -> tuple[list[float], int, float]:
    """POST /model/parse `count` times (cycling through `texts`) with `concurrency` at once."""
    import aiohttp

    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(texts[i % len(texts)])
    latencies: list[float] = []
    errors = 0
    url = f"{base}/model/parse?token={TOKENS['RASA_AUTH_TOKEN']}"
    start = time.perf_counter()
    stop_at = start + deadline_s

    async def worker(session: Any) -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            try:
                text = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            ms, ok, _ = await _post(session, url, {"text": text})
            if ok:
                latencies.append(ms)
            else:
                errors += 1

    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - start


async def parse_all(base: str, texts: Sequence[str], concurrency: int = 4) -> list[Any]:
    """The parse result of every text, in order (None where the request failed)."""
    import aiohttp

    url = f"{base}/model/parse?token={TOKENS['RASA_AUTH_TOKEN']}"
    results: list[Any] = [None] * len(texts)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(session: Any, i: int) -> None:
        async with semaphore:
            _, ok, body = await _post(session, url, {"text": texts[i]})
            results[i] = body if ok else None

    async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as session:
        await asyncio.gather(*(one(session, i) for i in range(len(texts))))
    return results


def topic_accuracy(base: str) -> dict[str, Any]:
    """Topic accuracy on topics_dev.tsv through /model/parse: totals only (no misses are
    printed or kept)."""
    from evaluation.topics import load_topic_map, predicted_intent, read_rows, topic_of

    if not TOPICS_DEV.is_file():
        return {"n": 0, "accuracy": math.nan}
    rows, _ = read_rows(TOPICS_DEV)
    parses = asyncio.run(parse_all(base, [row.text for row in rows]))
    topic_map = load_topic_map()
    correct = sum(parse is not None and topic_of(predicted_intent(parse)[0], topic_map)
                  == row.topic for row, parse in zip(rows, parses))
    return {"n": len(rows), "accuracy": correct / len(rows) if rows else math.nan,
            "failed": sum(parse is None for parse in parses)}


# --------------------------------------------------------------------------- one system

@dataclass
class SystemRun:
    """Everything measured for one model."""

    name: str
    model: Trained
    load_seconds: float = math.nan
    accuracy: dict[str, Any] = field(default_factory=dict)
    levels: list[Level] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    messages: int = 0
    silent_turns: int = 0
    # Single conversation: latencies of the turns that did / did not call the action server.
    turn_kinds: dict[str, list[float]] = field(default_factory=dict)
    handoff: HandoffFigures | None = None


def credentials_for(name: str, tmp: Path, env: dict[str, str]) -> Path:
    """Ours: the channels of scripts/run.sh; the baseline: plain Rasa's REST channel."""
    out = tmp / f"credentials-{name}.yml"
    if name == "ours":
        subprocess.run([str(BIN / "python"), "-m", "bot.channels.credentials", "--base",
                        "credentials.yml", "--out", str(out)], cwd=ROOT, env=env, check=True)
    else:
        out.write_text("rest:\n")
    return out


def measure_system(name: str, trained: Trained, env: dict[str, str], tmp: Path,
                   helpers: dict[str, Service], conversations: Sequence[dict[str, Any]],
                   profile: Profile, levels: Sequence[int]) -> SystemRun:
    """Start Rasa with `trained`, load it level by level, stop it."""
    run = SystemRun(name, trained)
    env = dict(env, TRACKER_DB=str(tmp / f"tracker-{name}.db"),
                EVENTS_DB=str(tmp / f"events-{name}.db"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    for helper in helpers.values():  # peak memory per system: reset the high-water mark
        try:
            Path(f"/proc/{helper.pid}/clear_refs").write_text("5")
        except OSError:
            pass
    rasa = Service(f"rasa-{name}", [
        str(BIN / "rasa"), "run", "--model", trained.path, "--enable-api",
        "--auth-token", TOKENS["RASA_AUTH_TOKEN"], "--interface", "127.0.0.1",
        "--port", str(port), "--endpoints", "endpoints.yml",
        "--credentials", str(credentials_for(name, tmp, env))], env, tmp)
    processes = {"rasa": rasa, **helpers}
    try:
        print(f"==> {name}: starting Rasa ...", flush=True)
        rasa.wait_ready(f"{base}/status?token={TOKENS['RASA_AUTH_TOKEN']}")
        run.load_seconds = round(rasa.ready_seconds, 1)
        texts = [t for c in conversations for t in c["turns"]]
        # Warm-up, not measured: first parses load the encoder, jieba, TensorFlow graphs.
        asyncio.run(replay(base, conversations, 2, min(4, len(conversations)), 60, "warm"))
        asyncio.run(parse_load(base, texts, 2, 20, 30))
        before = {key: cpu_seconds(p.pid) for key, p in processes.items()}
        before["bench"] = time.process_time()
        single_turns: list[tuple[str, int, str, float]] = []
        for path in ("nlu", "rest"):
            for level in levels:
                cpu_start = {key: cpu_seconds(p.pid) for key, p in processes.items()}
                turns: list[tuple[str, int, str, float]] = []
                if path == "rest":
                    lat, errors, seconds, silent = asyncio.run(replay(
                        base, conversations, level, profile.conversations[level],
                        profile.level_seconds, name, turns if level == 1 else None))
                    run.silent_turns += silent
                else:
                    lat, errors, seconds = asyncio.run(parse_load(
                        base, texts, level, profile.parses[level], profile.level_seconds))
                result = summarize(name, path, level, lat, errors, seconds)
                result.cpu = {key: round(cpu_seconds(p.pid) - cpu_start[key], 2)
                              for key, p in processes.items()}
                run.levels.append(result)
                run.messages += result.count
                single_turns += turns
                print(f"    {path:4} x{level:<3} {result.count:4} msgs  p50 {result.p50:7.1f}  "
                      f"p95 {result.p95:7.1f}  p99 {result.p99:7.1f} ms  {result.rate:6.1f} "
                      f"msg/s  errors {errors}", flush=True)
        after = {key: cpu_seconds(p.pid) for key, p in processes.items()}
        after["bench"] = time.process_time()
        run.cpu = {key: round(after[key] - before[key], 1) for key in before}
        if single_turns:  # after the CPU figures: reading the trackers costs Rasa CPU too
            run.turn_kinds = split_by_kind(base, single_turns)
        if name == "ours" and profile.handoffs:
            print(f"==> {name}: {profile.handoffs} handoffs to an agent ...", flush=True)
            run.handoff = handoff_latency(base, env, tmp, profile)
        print(f"==> {name}: topic accuracy on {TOPICS_DEV.name} ...", flush=True)
        run.accuracy = topic_accuracy(base)
        run.peak_rss_mb = {key: round(peak_rss_mb(p.pid), 1) for key, p in processes.items()}
    finally:
        rasa.stop()
    return run


def split_by_kind(base: str, turns: Sequence[tuple[str, int, str, float]]
                  ) -> dict[str, list[float]]:
    """Latencies of one level's turns by whether they called the action server."""
    sent: dict[str, dict[int, str]] = {}
    for sender, index, text, _ in turns:
        sent.setdefault(sender, {})[index] = text
    kinds = classify_turns(base, TOKENS["RASA_AUTH_TOKEN"], {
        sender: [texts.get(i, "") for i in range(max(texts) + 1)]
        for sender, texts in sent.items()})
    split: dict[str, list[float]] = {"no action server": [], "action server": []}
    for sender, index, _, ms in turns:
        if (sender, index) in kinds:
            split["action server" if kinds[(sender, index)] else "no action server"].append(ms)
    return split


def handoff_latency(base: str, env: dict[str, str], tmp: Path, profile: Profile
                    ) -> HandoffFigures:
    """Start the handoff service for the Rasa server at `base`, log an agent in and measure
    `profile.handoffs` handoffs from widget customers (evaluation/bench_handoff.py)."""
    import secrets

    import requests

    env = dict(env, RASA_URL=base, HANDOFF_DB=str(tmp / "handoff.db"),
               WIDGET_DB=str(tmp / "widget.db"))
    service = Service("handoff", [str(BIN / "python"), "-m", "handoff", "serve", "--port",
                                  env["HANDOFF_PORT"], "--no-access-log"], env, tmp)
    try:
        service.wait_ready(env["HANDOFF_URL"] + "/health")
        password = secrets.token_urlsafe(16)
        subprocess.run([str(BIN / "python"), "-m", "handoff", "create-agent", "bench-agent",
                        "--display-name", "小林", "--password-stdin"], input=password + "\n",
                       text=True, capture_output=True, cwd=ROOT, env=env, check=True, timeout=60)
        login = requests.post(env["HANDOFF_URL"] + "/api/v1/auth/login", timeout=30,
                              json={"username": "bench-agent", "password": password})
        login.raise_for_status()
        agent = {"Authorization": f"Bearer {login.json()['token']}"}
        return measure_handoffs(base, env["HANDOFF_URL"], agent, profile.handoffs,
                                profile.handoff_concurrency)
    finally:
        service.stop()


# --------------------------------------------------------------------------- report

def machine() -> dict[str, str]:
    """nproc, the CPU model from /proc/cpuinfo, memory and the date."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = parse_status_mb(Path("/proc/meminfo").read_text(), "MemTotal") / 1024
    except OSError:
        mem = math.nan
    return {"date": datetime.now().strftime("%Y-%m-%d %H:%M"), "nproc": str(os.cpu_count()),
            "cpu": cpu, "memory_gb": f"{mem:.1f}", "python": platform.python_version()}


def level_of(run: SystemRun | None, path: str, concurrency: int) -> Level | None:
    if run is None:
        return None
    return next((lv for lv in run.levels if lv.path == path and lv.concurrency == concurrency),
                None)


def report(runs: dict[str, SystemRun], info: dict[str, str], label: str) -> str:
    """The Markdown report: latency table, ratios, resources, models."""
    ours, base = runs.get("ours"), runs.get("baseline")
    lines = [f"# Benchmark ({label})", "",
             f"{info['date']} · {info['nproc']} CPUs ({info['cpu']}) · {info['memory_gb']} GB · "
             f"Python {info['python']} · loopback, every process on this machine", "",
             "Per-message latency in ms; msg/s = answered messages / wall time of the level. "
             "REST: whole conversations through `/webhooks/rest/webhook` (NLU, policies, "
             "forms, action server, shop API, SQLite tracker store and event broker); "
             "NLU: `/model/parse` alone.", ""]
    rows = []
    for run in runs.values():
        for lv in run.levels:
            rows.append([run.name, lv.path, lv.concurrency, lv.count, lv.p50, lv.p95, lv.p99,
                         lv.rate, lv.errors])
    lines += [markdown_table(["system", "path", "conversations / clients", "messages",
                              "p50", "p95", "p99", "msg/s", "errors"], rows), ""]
    if ours and base:
        lines += ["## Ours / baseline", ""]
        ratio_rows = []
        for path in ("rest", "nlu"):
            for level in sorted({lv.concurrency for lv in ours.levels}):
                a, b = level_of(ours, path, level), level_of(base, path, level)
                if a and b:
                    ratio_rows.append([path, level, ratio(a.rate, b.rate), ratio(a.p50, b.p50),
                                       ratio(a.p99, b.p99)])
        lines += [markdown_table(["path", "concurrency", "msg/s", "p50", "p99"], ratio_rows), ""]
    lines += turn_kind_section(runs) + handoff_section(runs)
    lines += ["## Models", ""]
    model_rows = []
    for run in runs.values():
        model_rows.append([run.name, Path(run.model.path).name, run.model.train_seconds,
                           run.model.train_peak_rss_mb, round(run.model.size_mb, 1),
                           run.load_seconds, _pct(run.accuracy.get("accuracy")),
                           run.accuracy.get("n")])
    if ours and base:
        model_rows.append(["ours / baseline", "", ratio(ours.model.train_seconds,
                                                        base.model.train_seconds),
                           ratio(ours.model.train_peak_rss_mb, base.model.train_peak_rss_mb),
                           ratio(ours.model.size_mb, base.model.size_mb),
                           ratio(ours.load_seconds, base.load_seconds),
                           ratio(ours.accuracy.get("accuracy"), base.accuracy.get("accuracy")),
                           ""])
    lines += [markdown_table(["system", "model", "training s", "training peak RSS MB",
                              "model MB", "start-up s", "topic accuracy (topics_dev)", "n"],
                             model_rows), ""]
    lines += ["## Processes (over all measured levels of each system)", ""]
    proc_rows = []
    for run in runs.values():
        for key in run.cpu:
            per_msg = run.cpu[key] * 1000 / run.messages if run.messages else math.nan
            proc_rows.append([run.name, key, run.cpu[key], round(per_msg, 1),
                              run.peak_rss_mb.get(key, math.nan)])
    lines += [markdown_table(["system", "process", "CPU s", "CPU ms / message",
                              "peak RSS MB"], proc_rows), "",
              "`bench` is this load generator (same machine, so it takes CPU from the "
              "servers too); the shop API and action server are shared by both systems and "
              "their peak RSS is reset before each system. Training figures are cached with "
              "the model and measured when the bench trained it. Turns the bot left "
              "unanswered: " + ", ".join(f"{r.name} {r.silent_turns}" for r in runs.values()),
              ""]
    return "\n".join(lines)


def turn_kind_section(runs: dict[str, SystemRun]) -> list[str]:
    """One conversation at a time, by whether the turn called the action server."""
    rows = []
    for run in runs.values():
        for kind, samples in run.turn_kinds.items():
            rows.append([run.name, kind, len(samples), round(percentile(samples, 50), 1),
                         round(percentile(samples, 95), 1), round(percentile(samples, 99), 1)])
    if not rows:
        return []
    return ["## One conversation, by kind of turn", "",
            "The REST turns of the 1-conversation level, split by whether the bot called the "
            "action server in that turn (a custom action, or a form with a validation action: "
            "read from the tracker afterwards). Targets for turns without backend calls: "
            "p50 <= 50 ms, p99 < 150 ms.", "",
            markdown_table(["system", "turns", "count", "p50", "p95", "p99"], rows), ""]


def handoff_section(runs: dict[str, SystemRun]) -> list[str]:
    """Handoff latencies as customer and agent feel them."""
    figures = next((r.handoff for r in runs.values() if r.handoff is not None), None)
    if figures is None:
        return []
    rows = []
    for name, label in (("queue_ms", "customer asks for a person -> handoff in the agent's "
                                     "queue (console event)"),
                        ("reply_ms", "agent reply -> customer's widget"),
                        ("customer_ms", "customer message during the handoff -> agent's "
                                        "console")):
        samples = figures.series(name)
        rows.append([label, len(samples), round(percentile(samples, 50), 1),
                     round(percentile(samples, 95), 1), round(percentile(samples, 99), 1),
                     round(max(samples), 1) if samples else math.nan])
    errors = [s.error for s in figures.samples if s.error]
    return ["## Handoff latency (ours)", "",
            f"{len(figures.samples)} handoffs, {figures.concurrency} customers at a time, in "
            f"{figures.seconds:.0f} s: widget customers over Socket.IO, one agent following the "
            "console's event stream (`/api/v1/stream`) and answering through the API. "
            "Target: handoff visible to agents within 1 s at p99.", "",
            markdown_table(["path", "samples", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows),
            "", f"Failed samples: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""),
            ""]


def _pct(value: Any) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.1%}"


def plot(runs: dict[str, SystemRun], out: Path) -> None:
    """Latency (p50 solid, p99 dashed) and throughput against concurrency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = {"ours": "tab:blue", "baseline": "tab:orange"}
    for run in runs.values():
        for path, marker in (("rest", "o"), ("nlu", "s")):
            levels = [lv for lv in run.levels if lv.path == path]
            x = [lv.concurrency for lv in levels]
            colour = colours.get(run.name, "tab:gray")
            axes[0].plot(x, [lv.p50 for lv in levels], marker=marker, color=colour,
                         label=f"{run.name} {path} p50")
            axes[0].plot(x, [lv.p99 for lv in levels], marker=marker, color=colour,
                         linestyle="--", alpha=0.6, label=f"{run.name} {path} p99")
            axes[1].plot(x, [lv.rate for lv in levels], marker=marker, color=colour,
                         label=f"{run.name} {path}")
    for axis, title, ylabel in ((axes[0], "latency per message", "ms"),
                                (axes[1], "throughput", "messages / s")):
        axis.set_xscale("log")
        axis.set_xticks(LEVELS)
        axis.set_xticklabels([str(v) for v in LEVELS])
        axis.set_xlabel("concurrent conversations / clients")
        axis.set_ylabel(ylabel)
        axis.set_title(title)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    axes[0].set_yscale("log")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- main

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="our model (the Makefile's MODEL)")
    parser.add_argument("--quick", action="store_true", help="fewer messages per level")
    parser.add_argument("--no-baseline", action="store_true", help="measure our model only")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)),
                        help="concurrencies, comma-separated (subset of 1,10,50)")
    parser.add_argument("--no-train", action="store_true",
                        help="use an existing model of ours as it is (no training figures)")
    parser.add_argument("--baseline-model", type=Path,
                        help="this baseline model instead of the one of the current data "
                             "(to compare runs of one pair of models while the data moves)")
    parser.add_argument("--label", default="latest", help="names results-<label>.json")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    levels = [int(v) for v in args.levels.split(",") if v]
    if any(level not in profile.conversations for level in levels):
        parser.error(f"levels must be among {LEVELS}")
    model = args.model if args.model.is_absolute() else ROOT / args.model
    conversations = load_conversations()
    started = time.monotonic()

    tmp = Path(tempfile.mkdtemp(prefix="shop-bench-"))
    env = stack_env(tmp)
    systems = {"ours": train(ROOT / "config.yml", model, env, measure=not args.no_train)}
    if not args.no_baseline:
        pinned = args.baseline_model
        systems["baseline"] = train(BASELINE_CONFIG, pinned.resolve() if pinned
                                    else baseline_model_path(), env, measure=not pinned)

    helpers: dict[str, Service] = {}
    runs: dict[str, SystemRun] = {}
    try:
        helpers["shop_api"] = Service("shop_api", [
            str(BIN / "python"), "-m", "shop_api", "--host", "127.0.0.1", "--port",
            env["SHOP_API_PORT"], "--db", env["SHOP_DB"], "--no-access-log"], env, tmp)
        helpers["actions"] = Service("actions", [
            str(BIN / "python"), "-m", "bot.action_server", "--host", "127.0.0.1", "--port",
            env["ACTION_PORT"]], env, tmp)
        helpers["shop_api"].wait_ready(env["SHOP_API_URL"] + "/health")
        helpers["actions"].wait_ready(f"http://127.0.0.1:{env['ACTION_PORT']}/health")
        for name, trained in systems.items():
            runs[name] = measure_system(name, trained, env, tmp, helpers, conversations,
                                        profile, levels)
    finally:
        for helper in helpers.values():
            helper.stop()
    info = machine()
    info["wall_seconds"] = f"{time.monotonic() - started:.0f}"
    args.out.mkdir(parents=True, exist_ok=True)
    quick = ", quick" if args.quick and args.label != "quick" else ""
    text = report(runs, info, f"{args.label}{quick}")
    text += f"\nWhole run: {info['wall_seconds']} s. Plot: latency.png.\n"
    (args.out / "bench.md").write_text(text, encoding="utf-8")
    plot(runs, args.out / "latency.png")
    (args.out / f"results-{args.label}.json").write_text(json.dumps(
        {"machine": info, "quick": args.quick,
         "runs": {name: asdict(run) for name, run in runs.items()}}, indent=2, default=str))
    shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(text)
    print(f"report: {args.out / 'bench.md'}, plot: {args.out / 'latency.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
