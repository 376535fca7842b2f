"""Serve the demo shop page with the chat widget: `python -m widget --port 8080`."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from contracts.logs import SANIC_LOGGERS, install_masking
from widget.app import WidgetConfig, create_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; each left out comes from the settings (WIDGET_HOST, WIDGET_PORT,
    WIDGET_DB: widget.app.WidgetConfig)."""
    parser = argparse.ArgumentParser(prog="python -m widget", description=__doc__)
    parser.add_argument("--host", help="default: WIDGET_HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, help="default: WIDGET_PORT or 8080")
    parser.add_argument("--db", help="store of the satisfaction ratings: a SQLite file (created "
                                     "if missing) or a database URL (postgresql://...); "
                                     "default: WIDGET_DB or var/widget/widget.db")
    parser.add_argument("--no-access-log", action="store_true", help="do not log each request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted."""
    args = parse_args(argv)
    options = {"WIDGET_HOST": args.host, "WIDGET_PORT": args.port, "WIDGET_DB": args.db}
    config = WidgetConfig.from_env(
        {**os.environ, **{name: str(value) for name, value in options.items() if value}})
    app = create_app(config)
    install_masking(*(logging.getLogger(name) for name in SANIC_LOGGERS))
    app.run(host=config.host, port=config.port, access_log=not args.no_access_log, motd=False)


if __name__ == "__main__":
    sys.exit(main())
