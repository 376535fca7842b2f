"""Alembic environment of the handoff store (contracts.db.run_env does the work)."""
from contracts.db import run_env
from handoff.store import metadata

run_env(metadata)
