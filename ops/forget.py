"""Forget one customer (PIPL): delete their conversations and handoffs in every store.

    python -m ops.forget CUSTOMER [--dry-run]           # make forget CUSTOMER=... [DRY_RUN=1]

CUSTOMER is a sender id (conversation id), a WeChat openid, the customer id a client sends in
message metadata, or the phone number the customer gave the bot. Every service first names
the conversations it links to the customer; then every service deletes those conversations
and the customer's rows in its own store, and the counts are printed per store and table.
Running it again deletes nothing more (prints zeros). With --dry-run nothing is deleted.
"""
from __future__ import annotations

import argparse
import sys

from contracts.privacy import CustomerError, check_customer
from ops import privacy


def main(argv: list[str] | None = None) -> int:
    """Forget a customer and print what was deleted."""
    parser = argparse.ArgumentParser(prog="python -m ops.forget", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("customer")
    parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    args = parser.parse_args(argv)
    try:
        customer = check_customer(args.customer)
    except CustomerError as error:
        print(f"forget: {error}; give a sender id, WeChat openid, customer id or phone number",
              file=sys.stderr)
        return 2
    outcome = privacy.forget(customer, args.dry_run)
    title = f"forget {customer}" + (" (dry run)" if args.dry_run else "")
    if outcome.sender_ids:
        title += f"\nconversations: {', '.join(outcome.sender_ids)}"
    print(privacy.report(outcome, title, args.dry_run))
    if outcome.failures and not outcome.counts:
        print("nothing deleted: every service must answer before anything is deleted",
              file=sys.stderr)
    return 1 if outcome.failures else 0


if __name__ == "__main__":
    sys.exit(main())
