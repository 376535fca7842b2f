"""Retention (PIPL): delete conversations, events, handoffs, transcripts, widget ratings,
outbox rows and channel state older than RETENTION_DAYS, in every service's store.

    python -m ops.retention [--days N] [--dry-run]      # once (make retention)
    python -m ops.retention --every 3600                # `make run` keeps this running

Each round asks every service to purge its own store (ops/privacy.py); a round that fails
in one service still purges the others and is tried again at the next round.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from ops import privacy

logger = logging.getLogger("ops.retention")
DAY = 86400


def retention_days(value: str | None) -> float:
    """RETENTION_DAYS: a positive number of days."""
    try:
        days = float(value or "")
    except ValueError:
        raise ValueError(f"RETENTION_DAYS must be a number of days, not {value!r}") from None
    if not days > 0:
        raise ValueError("RETENTION_DAYS must be more than 0")
    return days


def run_once(days: float, dry_run: bool = False, now: float | None = None) -> privacy.Outcome:
    """One round: every service deletes what is older than `days`."""
    before = (time.time() if now is None else now) - days * DAY
    outcome = privacy.purge(before, dry_run)
    cutoff = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(before))
    print(privacy.report(outcome, f"retention: older than {days:g} days (before {cutoff})",
                         dry_run), flush=True)
    return outcome


def main(argv: list[str] | None = None) -> int:
    """Run once, or every `--every` seconds until stopped."""
    parser = argparse.ArgumentParser(prog="python -m ops.retention", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", help="instead of RETENTION_DAYS")
    parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    parser.add_argument("--every", type=float, help="seconds between rounds (runs until stopped)")
    args = parser.parse_args(argv)
    try:
        days = retention_days(args.days or os.environ.get("RETENTION_DAYS"))
    except ValueError as error:
        print(f"retention: {error}", file=sys.stderr)
        return 2
    while True:
        outcome = run_once(days, args.dry_run)
        if not args.every:
            return 1 if outcome.failures else 0
        time.sleep(args.every)


if __name__ == "__main__":
    sys.exit(main())
