"""Settings of the handoff service: the only reader of the environment (contracts.settings)."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, validator

from contracts.profile import DEV_SECRETS, is_production
from contracts.settings import ServiceSettings, SettingsError

ROOT = Path(__file__).resolve().parents[1]
DEV_TOKEN = DEV_SECRETS["HANDOFF_API_TOKEN"]
DEV_RASA_TOKEN = DEV_SECRETS["RASA_AUTH_TOKEN"]

__all__ = ["DEV_RASA_TOKEN", "DEV_TOKEN", "ROOT", "Settings", "SettingsError"]


class Settings(ServiceSettings):
    """Everything the service reads from the environment, with local defaults.

    A database setting takes an SQLAlchemy URL (`HANDOFF_DB_URL=postgresql://...`) or, from its
    second variable, a SQLite file relative to the project (`HANDOFF_DB=var/handoff/h.db`)."""

    port: int = Field(8000, env="HANDOFF_PORT")
    host: str = Field("127.0.0.1", env="HANDOFF_HOST")
    db_url: str = Field(f"sqlite:///{ROOT / 'var' / 'handoff' / 'handoff.db'}",
                        env=["HANDOFF_DB_URL", "HANDOFF_DB"])
    api_token: str = Field(DEV_TOKEN, env="HANDOFF_API_TOKEN", secret=True)
    rasa_url: str = Field("http://127.0.0.1:5005", env="RASA_URL")
    rasa_token: str = Field(DEV_RASA_TOKEN, env="RASA_AUTH_TOKEN", secret=True)
    # Rasa's SQL event broker table (customer messages while a conversation is handed off);
    # HANDOFF_EVENTS_URL= (empty) disables the tail.
    events_url: str = Field(f"sqlite:///{ROOT / 'var' / 'rasa' / 'events.db'}",
                            env=["HANDOFF_EVENTS_URL", "EVENTS_DB"], keep_empty=True)
    # How often the event stream is read: customer messages reach the console (pushed) within
    # about this delay.
    events_poll_seconds: float = Field(0.2, env="HANDOFF_EVENTS_POLL_SECONDS", gt=0)
    # RabbitMQ (production profile): when set, customer messages come from Rasa's Pika event
    # broker's queue instead of the SQL table (handoff/broker.py).
    broker_url: str = Field("", env="HANDOFF_BROKER_URL")
    broker_queue: str = Field("shop_events", env="HANDOFF_BROKER_QUEUE")
    # How often open handoffs are compared with Rasa's conversations (broker only).
    reconcile_seconds: float = Field(30.0, env="HANDOFF_RECONCILE_SECONDS", gt=0)
    # The production profile (contracts.profile: APP_PROFILE, APP_ENV or HANDOFF_ENV).
    production: bool = False
    session_hours: float = Field(12.0, env="HANDOFF_SESSION_HOURS", gt=0)
    # An agent counts as online when the console called the API this recently.
    online_seconds: float = Field(60.0, env="HANDOFF_ONLINE_SECONDS", gt=0)
    # Handling time assumed for the queue's expected wait until enough handoffs were closed.
    default_handle_minutes: float = Field(5.0, env="HANDOFF_HANDLE_MINUTES", gt=0)
    rasa_timeout: float = Field(5.0, gt=0)
    # Reverse proxies in front of the service (nginx: 1), so the login lockout counts the
    # customer's address from X-Forwarded-For instead of the proxy's.
    proxies_count: int = Field(0, env="HANDOFF_PROXIES_COUNT", ge=0)
    # Beyond this expected wait the customer is offered a message or a call-back instead.
    long_wait_minutes: int = Field(30, env="HANDOFF_LONG_WAIT_MINUTES", ge=1)
    # A queued handoff whose customer has written nothing for this long is closed as
    # "abandoned" (checked every sweep_seconds).
    abandon_hours: float = Field(12.0, env="HANDOFF_ABANDON_HOURS", gt=0)
    sweep_seconds: float = Field(60.0, env="HANDOFF_SWEEP_SECONDS", gt=0)
    # The shop's API, read over HTTP for the order cards beside a conversation (never
    # imported: a separately deployed service).
    shop_api_url: str = Field("http://127.0.0.1:8100", env="SHOP_API_URL")
    shop_api_token: str = Field(DEV_SECRETS["SHOP_API_TOKEN"], env="SHOP_API_TOKEN",
                                secret=True)
    shop_timeout: float = Field(3.0, gt=0)
    # The widget server keeps customers' photos; the service reads them for agents
    # (WIDGET_URL, by default the widget server's port on this host).
    widget_port: int = Field(8080, env="WIDGET_PORT", ge=1, le=65535)
    widget_url: str = Field("", env="WIDGET_URL")
    widget_uploads_token: str = Field(DEV_SECRETS["WIDGET_UPLOADS_TOKEN"],
                                      env="WIDGET_UPLOADS_TOKEN", secret=True)
    # Rasa's tracker store, read (read-only) for the supervisor's reports; empty: no reports.
    tracker_url: str = Field(f"sqlite:///{ROOT / 'var' / 'rasa' / 'tracker.db'}",
                             env=["TRACKER_DB_URL", "TRACKER_DB"], keep_empty=True)
    # The widget's satisfaction ratings (its `csat` table, read-only); empty: none.
    csat_url: str = Field(f"sqlite:///{ROOT / 'var' / 'widget' / 'widget.db'}",
                          env=["HANDOFF_CSAT_DB_URL", "WIDGET_DB"], keep_empty=True)

    @validator("port")
    def _a_port(cls, value: int) -> int:  # noqa: N805 - pydantic validators take the class
        """A TCP port."""
        if not 0 < value < 65536:
            raise ValueError("not a TCP port (1-65535)")
        return value

    @validator("db_url", "events_url", "tracker_url", "csat_url")
    def _database_url(cls, value: str) -> str:  # noqa: N805
        """A URL as given; a plain path is a SQLite file (relative to the project)."""
        if not value or "://" in value:
            return value
        file = Path(value)
        return f"sqlite:///{file if file.is_absolute() else ROOT / file}"

    @validator("rasa_url", "shop_api_url")
    def _no_trailing_slash(cls, value: str) -> str:  # noqa: N805
        """Base URLs without a trailing slash (paths are appended)."""
        return value.rstrip("/")

    @validator("widget_url", always=True)
    def _widget_url(cls, value: str, values: dict[str, Any]) -> str:  # noqa: N805
        """WIDGET_URL, or the widget server's port on this host."""
        return (value or f"http://127.0.0.1:{values.get('widget_port', 8080)}").rstrip("/")

    @classmethod
    def env_values(cls, env: Mapping[str, str]) -> dict[str, Any]:
        """The variables, and whether the production profile is selected."""
        return {**super().env_values(env), "production": is_production(env)}
