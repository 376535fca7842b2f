"""Serve the demo shop API: `python -m shop_api --port 8100 --db var/shop/shop.db`."""
from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import Field
from sanic.log import logger

from contracts.logs import SANIC_LOGGERS, install_masking
from contracts.profile import DEV_SECRETS, is_production
from contracts.settings import ServiceSettings
from shop_api.app import create_app
from shop_api.seed import prepare

DEV_TOKEN = DEV_SECRETS["SHOP_API_TOKEN"]


class Settings(ServiceSettings):
    """Settings from the environment; the only reader of it in the shop API."""

    token: str = Field(DEV_TOKEN, env="SHOP_API_TOKEN", secret=True)
    environment: str = "development"

    @classmethod
    def env_values(cls, env: Mapping[str, str]) -> dict[str, Any]:
        """SHOP_API_TOKEN and the profile (production refuses the development token)."""
        return {**super().env_values(env),
                "environment": "production" if is_production(env) else "development"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m shop_api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--db", default="var/shop/shop.db",
                        help="SQLite file or database URL (postgresql://...); created and "
                             "seeded with demo data if missing")
    parser.add_argument("--reset", action="store_true", help="delete the database and reseed")
    parser.add_argument("--no-access-log", action="store_true", help="do not log each request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Prepare the database and serve until interrupted."""
    args = parse_args(argv)
    settings = Settings.from_env()
    app = create_app(str(args.db), settings.token)  # also sets up Sanic's loggers
    install_masking(*(logging.getLogger(name) for name in SANIC_LOGGERS))
    logger.info(prepare(args.db, reset=args.reset))
    if settings.token == DEV_TOKEN:
        logger.warning("using the development token; set SHOP_API_TOKEN outside development")
    app.run(host=args.host, port=args.port, access_log=not args.no_access_log, motd=False)


if __name__ == "__main__":
    main()
