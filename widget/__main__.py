"""Serve the demo shop page with the chat widget: `python -m widget --port 8080`."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from contracts.logs import SANIC_LOGGERS, install_masking
from contracts.widget import secret_from_env
from widget.app import WidgetConfig, create_app

DEV_UPLOADS_TOKEN = "dev-only-uploads-token"


def uploads_token(environ: Mapping[str, str]) -> str:
    """WIDGET_UPLOADS_TOKEN (the handoff service reads customers' photos with it); the
    development default is refused when APP_ENV=production."""
    token = environ.get("WIDGET_UPLOADS_TOKEN") or DEV_UPLOADS_TOKEN
    if environ.get("APP_ENV") == "production" and token == DEV_UPLOADS_TOKEN:
        raise SystemExit("WIDGET_UPLOADS_TOKEN is the development default; set a secret.")
    return token


def default_uploads_dir(db: str) -> str:
    """Customers' photos beside a SQLite store; under var/ when the store is a database URL."""
    if "://" in db and not db.startswith("sqlite"):
        return "var/widget/uploads"
    path = Path(db.split(":///", 1)[1] if db.startswith("sqlite") else db)
    return str(path.parent / "uploads")


def config_from_env(db_path: str | Path, environ: Mapping[str, str] = os.environ) -> WidgetConfig:
    """The widget server's settings; the only reader of the environment here."""
    rasa_port = int(environ.get("RASA_PORT") or 5005)
    return WidgetConfig(
        db_path=str(db_path),
        rasa_url=environ.get("RASA_URL") or f"http://127.0.0.1:{rasa_port}",
        rasa_token=environ.get("RASA_AUTH_TOKEN", ""),
        rasa_port=rasa_port,
        public_socket_url=environ.get("WIDGET_SOCKET_URL", ""),
        session_secret=secret_from_env(environ),
        admin_token=environ.get("WIDGET_ADMIN_TOKEN", ""),
        uploads_dir=environ.get("WIDGET_UPLOADS") or default_uploads_dir(str(db_path)),
        uploads_token=uploads_token(environ),
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m widget", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("WIDGET_HOST") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("WIDGET_PORT") or 8080))
    parser.add_argument("--db", default=os.environ.get("WIDGET_DB") or "var/widget/widget.db",
                        help="store of the satisfaction ratings: a SQLite file (created if "
                             "missing) or a database URL (postgresql://...)")
    parser.add_argument("--no-access-log", action="store_true", help="do not log each request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted."""
    args = parse_args(argv)
    app = create_app(config_from_env(args.db))
    install_masking(*(logging.getLogger(name) for name in SANIC_LOGGERS))
    app.run(host=args.host, port=args.port, access_log=not args.no_access_log, motd=False)


if __name__ == "__main__":
    sys.exit(main())
