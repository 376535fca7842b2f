"""Settings of the bot's two processes, read from the environment (contracts.settings).

`RasaSettings`: the Rasa server's customer channels (REST, widget). `ActionSettings`: the
action server and the clients it calls the shop API and the handoff service with. Both refuse
development secrets in the production profile (contracts.profile).
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, validator

from contracts.profile import DEV_SECRETS
from contracts.settings import ServiceSettings, SettingsError

ROOT = Path(__file__).resolve().parents[1]
SHOP_API_URL = "http://127.0.0.1:8100"
HANDOFF_URL = "http://127.0.0.1:8000"
OUTBOX = "var/handoff/outbox.db"
OUTBOX_KEEP_DAYS = 7.0

__all__ = ["ActionSettings", "RasaSettings", "SettingsError"]


class RasaSettings(ServiceSettings):
    """The Rasa server's customer channels (the widget's session secret: contracts/widget.py)."""

    rasa_token: str = Field(DEV_SECRETS["RASA_AUTH_TOKEN"], env="RASA_AUTH_TOKEN", secret=True)
    # Messages a minute per sender and per client address (bot/channels/edge.py).
    rate_limit_per_sender: int = Field(20, env="RATE_LIMIT_PER_SENDER", ge=1)
    rate_limit_per_address: int = Field(300, env="RATE_LIMIT_PER_ADDRESS", ge=1)
    # Several replicas (production profile): the rate limits and the widget's socket.io rooms
    # are shared through this Redis; empty, each process keeps its own (one Rasa process).
    rate_limit_redis_url: str = Field("", env=["RATE_LIMIT_REDIS_URL", "REDIS_URL"])
    widget_socket_redis_url: str = Field("", env=["WIDGET_SOCKET_REDIS_URL", "REDIS_URL"])


class ActionSettings(ServiceSettings):
    """The action server, its shop API client and its handoff client and outbox."""

    host: str = Field("127.0.0.1", env="ACTION_HOST")
    port: int = Field(5055, env="ACTION_PORT", ge=1, le=65535)
    action_token: str = Field(DEV_SECRETS["ACTION_SERVER_TOKEN"], env="ACTION_SERVER_TOKEN",
                              secret=True)
    shop_api_url: str = Field(SHOP_API_URL, env="SHOP_API_URL")
    shop_api_token: str = Field(DEV_SECRETS["SHOP_API_TOKEN"], env="SHOP_API_TOKEN",
                                secret=True)
    handoff_url: str = Field(HANDOFF_URL, env="HANDOFF_URL")
    handoff_api_token: str = Field(DEV_SECRETS["HANDOFF_API_TOKEN"], env="HANDOFF_API_TOKEN",
                                   secret=True)
    handoff_timeout: float = Field(3.0, env="HANDOFF_TIMEOUT", gt=0)
    # Handoffs the service did not take yet: a SQLite file (relative to the project) or a
    # database URL; retried every outbox_retry_seconds (0: no background retries), delivered
    # rows kept outbox_keep_days.
    outbox: str = Field(OUTBOX, env="HANDOFF_OUTBOX")
    outbox_retry_seconds: float = Field(10.0, env="HANDOFF_OUTBOX_RETRY_SECONDS", ge=0)
    outbox_keep_days: float = Field(OUTBOX_KEEP_DAYS, env="HANDOFF_OUTBOX_KEEP_DAYS", ge=0)

    @validator("shop_api_url", "handoff_url")
    def _no_trailing_slash(cls, value: str) -> str:  # noqa: N805 - pydantic validator
        """Base URLs without a trailing slash (paths are appended)."""
        return value.rstrip("/")

    def outbox_target(self) -> str | Path:
        """The outbox's database URL, or its SQLite file (absolute)."""
        if "://" in self.outbox:
            return self.outbox
        path = Path(self.outbox)
        return path if path.is_absolute() else ROOT / path
