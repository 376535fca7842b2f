"""Alembic environment of the wechat store (contracts.db.run_env does the work)."""
from bot.channels.store import metadata
from contracts.db import run_env

run_env(metadata)
