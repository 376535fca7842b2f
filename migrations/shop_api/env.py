"""Alembic environment of the shop_api store (contracts.db.run_env does the work)."""
from contracts.db import run_env
from shop_api.store import metadata

run_env(metadata)
