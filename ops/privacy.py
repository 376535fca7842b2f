"""Run the services' privacy commands and add up what they deleted.

Each service answers ``python -m <service>.privacy`` (contracts/privacy.py) with its own
settings. Here they run as local processes with this environment; in a deployment where the
services live apart, PRIVACY_COMMAND_<SERVICE> (BOT, HANDOFF, WIDGET) replaces the command,
e.g. ``kubectl exec deploy/handoff -- python -m handoff.privacy``.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

SERVICES = ("bot", "handoff", "widget")
TIMEOUT_SECONDS = 600


class ServiceError(RuntimeError):
    """A service's privacy command failed: what it deleted is unknown."""


@dataclass
class Outcome:
    """What the services answered: rows per service store and table, and the failures."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    sender_ids: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Rows deleted (or that a dry run would delete) in all stores."""
        return sum(sum(tables.values()) for tables in self.counts.values())


def command_of(service: str, env: dict[str, str] | None = None) -> list[str]:
    """The command line of a service's privacy command."""
    env = os.environ if env is None else env
    custom = env.get(f"PRIVACY_COMMAND_{service.upper()}")
    return shlex.split(custom) if custom else [sys.executable, "-m", f"{service}.privacy"]


def call(service: str, args: list[str], stdin: str | None = None) -> dict[str, Any]:
    """Run one service's command; its JSON answer, or ServiceError."""
    try:
        done = subprocess.run([*command_of(service), *args], capture_output=True, text=True,
                              input=stdin, timeout=TIMEOUT_SECONDS, check=False)
    except (OSError, ValueError, subprocess.TimeoutExpired) as error:
        raise ServiceError(f"{service}: {error}") from error
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise ServiceError(f"{service}: {reason}")
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as error:
        raise ServiceError(f"{service}: no answer ({error})") from error


def _collect(outcome: Outcome, service: str, answer: dict[str, Any]) -> None:
    for store, tables in (answer.get("stores") or {}).items():
        outcome.counts[store] = {t: int(n) for t, n in tables.items()}


def purge(before: float, dry_run: bool) -> Outcome:
    """Every service deletes its rows older than `before`."""
    outcome = Outcome()
    args = ["purge", f"--before={before}", *(["--dry-run"] if dry_run else [])]
    for service in SERVICES:
        try:
            _collect(outcome, service, call(service, args))
        except ServiceError as error:
            outcome.failures[service] = str(error)
    return outcome


def forget(customer: str, dry_run: bool) -> Outcome:
    """Find the customer's conversations in every service, then delete them everywhere."""
    outcome = Outcome()
    sender_ids = {customer}
    for service in SERVICES:
        try:
            sender_ids |= set(call(service, ["subjects", customer]).get("sender_ids") or [])
        except ServiceError as error:
            outcome.failures[service] = str(error)
    if outcome.failures:  # a service that cannot say whose data it has: delete nothing
        return outcome
    outcome.sender_ids = sorted(sender_ids)
    # Sender ids are whatever clients chose: they travel as JSON, not as arguments.
    args = ["forget", f"--customer={customer}", "--sender-ids-on-stdin",
            *(["--dry-run"] if dry_run else [])]
    for service in SERVICES:
        try:
            _collect(outcome, service, call(service, args, json.dumps(outcome.sender_ids)))
        except ServiceError as error:
            outcome.failures[service] = str(error)
    return outcome


def report(outcome: Outcome, title: str, dry_run: bool) -> str:
    """The outcome as a table people read."""
    verb = "would delete" if dry_run else "deleted"
    lines = [title, f"{'store':<14} {'table':<16} {verb:>12}"]
    for store, tables in outcome.counts.items():
        lines += [f"{store:<14} {table:<16} {rows:>12}" for table, rows in tables.items()]
    lines.append(f"{'total':<31} {outcome.total:>12}")
    lines += [f"FAILED {reason}" for reason in outcome.failures.values()]
    return "\n".join(lines)
