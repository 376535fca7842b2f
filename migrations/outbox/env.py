"""Alembic environment of the outbox store (contracts.db.run_env does the work)."""
from bot.outbox import metadata
from contracts.db import run_env

run_env(metadata)
