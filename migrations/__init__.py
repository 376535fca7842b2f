"""One Alembic environment per store, each owned by one deployable service (docs/data.md).

`python -m migrations` (make migration / make migrate) works with them from the command line;
the services migrate themselves at start (contracts.db.migrate).
"""
from __future__ import annotations

import importlib
from typing import Any

# Store -> where its SQLAlchemy metadata lives (module:attribute). The service that owns it:
# handoff: the handoff service; shop_api: the demo shop API; widget: the widget server
# (satisfaction ratings); outbox: the action server (handoffs not yet delivered); wechat: the
# Rasa server's WeChat channel (callbacks seen, buttons offered).
STORES = {
    "handoff": "handoff.store:metadata",
    "shop_api": "shop_api.store:metadata",
    "widget": "widget.csat:metadata",
    "outbox": "bot.outbox:metadata",
    "wechat": "bot.channels.store:metadata",
}


def metadata_of(service: str) -> Any:
    """The SQLAlchemy metadata of a store's tables."""
    if service not in STORES:
        raise ValueError(f"unknown store {service!r}: one of {', '.join(STORES)}")
    module, _, attribute = STORES[service].partition(":")
    return getattr(importlib.import_module(module), attribute)
