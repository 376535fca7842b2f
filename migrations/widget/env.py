"""Alembic environment of the widget store (contracts.db.run_env does the work)."""
from contracts.db import run_env
from widget.csat import metadata

run_env(metadata)
