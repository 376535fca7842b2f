"""Hostile-input probe against the whole stack as real processes (security/probe.py).

Starts every service the way `make run` does (scripts/run.sh) on free ports, with throwaway
databases, logs the run.sh output to a temporary folder, waits until each service answers its
health check, then sends the whole catalogue of security/cases.py over HTTP and socket.io.
Select it with `pytest tests/security` (or `-k probe`); it takes several minutes.
"""
from __future__ import annotations

import os
import re
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
           "WECHAT_APPID", "WECHAT_SECRET", "WECHAT_AES_KEY", "APP_ENV", "HANDOFF_ENV",
           "APP_PROFILE")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_env(tmp: Path) -> dict[str, str]:
    """The environment of a private stack: free ports, files under `tmp`, distinct tokens."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    ports = {name: free_port() for name in ("RASA", "ACTION", "SHOP_API", "HANDOFF", "WIDGET")}
    for folder in ("run", "rasa", "shop", "handoff", "widget", "wechat"):
        (tmp / folder).mkdir(parents=True, exist_ok=True)
    env.update({
        "RUN_DIR": str(tmp / "run"),  # scripts/run.sh: logs, supervisor socket and config
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
    for service_log in sorted((log.parent / "run" / "log").glob("*.log")):
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


def _session_pids(session: int) -> list[int]:
    """Processes of the session run.sh leads (a supervisor puts each service in its own process
    group, but they all stay in this session)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # fields after the name: state ppid pgrp session ...
            pids.append(int(stat.parent.name))
    return pids


def _stop_group(process: subprocess.Popen) -> None:
    """TERM to run.sh's group (it stops its services), then KILL whatever is left of the
    session it leads."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 15
    while _session_pids(process.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in _session_pids(process.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def restarted_services(config: Config, seconds: float) -> list[str]:
    """Services the supervisor restarted during the last `seconds` (a crash the health checks
    may not see); empty when run.sh runs no supervisor."""
    conf = Path(config.env["RUN_DIR"]) / "supervisord.conf"
    ctl = ROOT / ".venv" / "bin" / "supervisorctl"
    if not conf.is_file() or not ctl.is_file():
        return []
    done = subprocess.run([str(ctl), "-c", str(conf), "status"], capture_output=True, text=True,
                          timeout=30)
    restarted = []
    for line in done.stdout.splitlines():
        name, _, rest = line.partition(" ")
        match = re.search(r"uptime (?:(\d+) days?, )?(\d+):(\d+):(\d+)", rest)
        if "RUNNING" not in rest or not match:
            restarted.append(line.strip())
            continue
        days, hours, minutes, secs = (int(g or 0) for g in match.groups())
        if ((days * 24 + hours) * 60 + minutes) * 60 + secs < seconds:
            restarted.append(line.strip())
    return restarted


def test_hostile_requests_get_clear_answers(stack: Config, tmp_path: Path) -> None:
    """No 5xx, crash or hang; 4xx or a clear reply as each case expects; services stay up."""
    started = time.monotonic()
    probe = Probe(stack)
    cases = build_catalogue(probe)
    assert len(cases) >= 170
    probe.run_all(cases, verbose=False)
    report = (f"## Hostile-input probe: {len(cases)} cases in "
              f"{time.monotonic() - started:.0f}s\n\n{probe.table()}\n")
    restarted = restarted_services(stack, time.monotonic() - started)
    if restarted:
        report += "\n### Restarted by the supervisor during the probe\n\n" + "\n".join(
            f"- {line}" for line in restarted) + "\n"
    (tmp_path / "probe-report.md").write_text(report, encoding="utf-8")
    if os.environ.get("PROBE_REPORT"):
        Path(os.environ["PROBE_REPORT"]).write_text(report, encoding="utf-8")
    print(report)
    totals = probe.summary()
    assert probe.ok() and not restarted, (
        f"{totals['5xx']} 5xx, {totals['crash']} crashes, {totals['hang']} hangs, "
        f"{totals['failed']} failed cases, {totals['health_failures']} failed health checks, "
        f"{len(restarted)} services restarted\n\n"
        + report)
