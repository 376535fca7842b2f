"""Personal data in the widget server's store: the satisfaction ratings (with the customer's
comment) of widget conversations. ``python -m widget.privacy`` (contracts/privacy.py).

A rating belongs to a conversation by its `session_id`, the conversation's sender id. The
widget's history is not stored here: it is read from Rasa's tracker store (bot.privacy)."""
from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

from contracts import privacy
from contracts.db import database_url, make_engine
from widget.csat import csat


class CsatData:
    """The ratings table of one widget store."""

    name = "widget"

    def __init__(self, url: str) -> None:
        """A store at a database URL (a missing SQLite file is an empty store)."""
        self.engine = None if privacy.sqlite_file_missing(url) else make_engine(url)

    def _ready(self) -> bool:
        return self.engine is not None and bool(privacy.existing(self.engine, ("csat",)))

    def subjects(self, customer: str) -> set[str]:
        """Nothing here names a customer beyond the conversation itself."""
        return set()

    def forget(self, sender_ids: set[str], customer: str, dry_run: bool) -> privacy.Counts:
        """Delete the ratings of these conversations."""
        deleted = 0
        if self._ready():
            with privacy.deleting(self.engine, dry_run) as conn:
                for batch in privacy.in_batches(sorted(sender_ids)):
                    deleted += conn.execute(csat.delete().where(
                        csat.c.session_id.in_(batch))).rowcount
        return {"csat": deleted}

    def purge(self, before: float, dry_run: bool) -> privacy.Counts:
        """Delete ratings last changed before `before` (stored as UTC ISO text)."""
        if not self._ready():
            return {"csat": 0}
        cutoff = datetime.fromtimestamp(before, timezone.utc).isoformat(timespec="seconds")
        with privacy.deleting(self.engine, dry_run) as conn:
            return {"csat": conn.execute(csat.delete().where(
                csat.c.updated_at < cutoff)).rowcount}


def stores() -> list[privacy.PersonalData]:
    """The widget server's stores of personal data (WIDGET_DB)."""
    return [CsatData(database_url(os.environ.get("WIDGET_DB") or "var/widget/widget.db"))]


main = privacy.service_cli("python -m widget.privacy", stores)

if __name__ == "__main__":
    sys.exit(main())
