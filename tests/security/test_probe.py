"""Hostile-input probe against the whole stack as real processes (security/probe.py).

Starts every service the way `make run` does (scripts/run.sh) on free ports, with throwaway
databases, logs the run.sh output to a temporary folder, waits until each service answers its
health check, then sends the whole catalogue of security/cases.py over HTTP and socket.io.
Select it with `pytest tests/security` (or `-k probe`); it takes several minutes.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from security.cases import build_catalogue
from security.probe import HEALTH_PATHS, Config, Probe

pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
READY_SECONDS = 240
# Optional channels and settings of the developer's environment that must not leak into the
# throwaway stack.
DROPPED = ("RASA_URL", "HANDOFF_DB_URL", "HANDOFF_EVENTS_URL", "WIDGET_SOCKET_URL", "WIDGET_URL",
           "TELEGRAM_TOKEN", "TELEGRAM_BOT_NAME", "TELEGRAM_WEBHOOK_URL", "WECHAT_TOKEN",
           "WECHAT_APPID", "WECHAT_SECRET", "WECHAT_AES_KEY", "APP_ENV", "HANDOFF_ENV")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_env(tmp: Path) -> dict[str, str]:
    """The environment of a private stack: free ports, files under `tmp`, distinct tokens."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    ports = {name: free_port() for name in ("RASA", "ACTION", "SHOP_API", "HANDOFF", "WIDGET")}
    for folder in ("rasa", "shop", "handoff", "widget", "wechat"):
        (tmp / folder).mkdir(parents=True, exist_ok=True)
    env.update({
        "RASA_PORT": str(ports["RASA"]),
        "ACTION_PORT": str(ports["ACTION"]),
        "ACTION_SERVER_URL": f"http://127.0.0.1:{ports['ACTION']}/webhook",
        "SHOP_API_PORT": str(ports["SHOP_API"]),
        "SHOP_API_URL": f"http://127.0.0.1:{ports['SHOP_API']}",
        "HANDOFF_PORT": str(ports["HANDOFF"]),
        "HANDOFF_URL": f"http://127.0.0.1:{ports['HANDOFF']}",
        "WIDGET_PORT": str(ports["WIDGET"]),
        "TRACKER_DB": str(tmp / "rasa" / "tracker.db"),
        "EVENTS_DB": str(tmp / "rasa" / "events.db"),
        "SHOP_DB": str(tmp / "shop" / "shop.db"),
        "HANDOFF_DB": str(tmp / "handoff" / "handoff.db"),
        "HANDOFF_OUTBOX": str(tmp / "handoff" / "outbox.db"),
        "WIDGET_DB": str(tmp / "widget" / "widget.db"),
        "WECHAT_STATE_DB": str(tmp / "wechat" / "state.db"),
        "RASA_AUTH_TOKEN": "probe-rasa-token",
        "ACTION_SERVER_TOKEN": "probe-action-token",
        "SHOP_API_TOKEN": "probe-shop-token",
        "HANDOFF_API_TOKEN": "probe-handoff-token",
        "PYTHONPATH": str(ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    })
    return env


def _log_tail(log: Path) -> str:
    parts = [f"--- run.sh output\n{log.read_text(errors='replace')[-3000:]}"]
    for service_log in sorted((ROOT / "var" / "log").glob("*.log")):
        parts.append(f"--- {service_log.name}\n{service_log.read_text(errors='replace')[-1500:]}")
    return "\n".join(parts)


def wait_for_stack(config: Config, process: subprocess.Popen, log: Path) -> None:
    """Until every service answers its health check (bounded), failing early if run.sh died."""
    deadline = time.monotonic() + READY_SECONDS
    waiting = dict(HEALTH_PATHS)
    while waiting and time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"scripts/run.sh exited with {process.returncode}:\n{_log_tail(log)}")
        for service, path in list(waiting.items()):
            try:
                if requests.get(config.urls[service] + path, timeout=2).status_code == 200:
                    del waiting[service]
            except requests.RequestException:
                pass
        time.sleep(1)
    if waiting:
        pytest.fail(f"not up after {READY_SECONDS}s: {sorted(waiting)}\n{_log_tail(log)}")


@pytest.fixture(scope="module")
def stack(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    """The whole stack of `make run`, in its own process group; killed at the end."""
    tmp = tmp_path_factory.mktemp("probe-stack")
    env = stack_env(tmp)
    log = tmp / "run.log"
    with log.open("w") as handle:
        process = subprocess.Popen(
            ["scripts/with-env.sh", "scripts/run.sh", str(model_path), "--actions bot.actions"],
            cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        config = Config.from_env(env)
        wait_for_stack(config, process, log)
        yield config
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    try:  # whatever is left of the group (services that ignored TERM)
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def test_hostile_requests_get_clear_answers(stack: Config, tmp_path: Path) -> None:
    """No 5xx, crash or hang; 4xx or a clear reply as each case expects; services stay up."""
    started = time.monotonic()
    probe = Probe(stack)
    cases = build_catalogue(probe)
    assert len(cases) >= 170
    probe.run_all(cases, verbose=False)
    report = (f"## Hostile-input probe: {len(cases)} cases in "
              f"{time.monotonic() - started:.0f}s\n\n{probe.table()}\n")
    (tmp_path / "probe-report.md").write_text(report, encoding="utf-8")
    if os.environ.get("PROBE_REPORT"):
        Path(os.environ["PROBE_REPORT"]).write_text(report, encoding="utf-8")
    print(report)
    totals = probe.summary()
    assert probe.ok(), (
        f"{totals['5xx']} 5xx, {totals['crash']} crashes, {totals['hang']} hangs, "
        f"{totals['failed']} failed cases, {totals['health_failures']} failed health checks\n\n"
        + report)
