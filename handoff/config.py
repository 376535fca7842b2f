"""Settings of the handoff service: the only reader of the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from contracts.profile import is_production

ROOT = Path(__file__).resolve().parents[1]
DEV_TOKEN = "dev-only-handoff-token"
DEV_RASA_TOKEN = "dev-only-rasa-token"


class SettingsError(ValueError):
    """The configuration cannot be used (e.g. a development secret in production)."""


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from the environment, with local defaults."""

    port: int = 8000
    host: str = "127.0.0.1"
    db_url: str = f"sqlite:///{ROOT / 'var' / 'handoff' / 'handoff.db'}"
    api_token: str = DEV_TOKEN
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str = DEV_RASA_TOKEN
    # Rasa's SQL event broker table (customer messages while a conversation is handed off);
    # empty disables the tail.
    events_url: str = f"sqlite:///{ROOT / 'var' / 'rasa' / 'events.db'}"
    # How often the event stream is read: customer messages reach the console (pushed) within
    # about this delay.
    events_poll_seconds: float = 0.2
    # RabbitMQ (production profile): when set, customer messages come from Rasa's Pika event
    # broker's queue instead of the SQL table (handoff/broker.py).
    broker_url: str = ""
    broker_queue: str = "shop_events"
    # How often open handoffs are compared with Rasa's conversations (broker only).
    reconcile_seconds: float = 30.0
    production: bool = False
    session_hours: float = 12.0
    # An agent counts as online when the console called the API this recently.
    online_seconds: float = 60.0
    # Handling time assumed for the queue's expected wait until enough handoffs were closed.
    default_handle_minutes: float = 5.0
    rasa_timeout: float = 5.0
    # Reverse proxies in front of the service (nginx: 1), so the login lockout counts the
    # customer's address from X-Forwarded-For instead of the proxy's.
    proxies_count: int = 0
    # Beyond this expected wait the customer is offered a message or a call-back instead.
    long_wait_minutes: int = 30
    # A queued handoff whose customer has written nothing for this long is closed as
    # "abandoned" (checked every sweep_seconds).
    abandon_hours: float = 12.0
    sweep_seconds: float = 60.0
    # The shop's API, read over HTTP for the order cards beside a conversation (never
    # imported: a separately deployed service).
    shop_api_url: str = "http://127.0.0.1:8100"
    shop_api_token: str = "dev-only-shop-token"
    shop_timeout: float = 3.0
    # The widget server keeps customers' photos; the service reads them for agents.
    widget_url: str = "http://127.0.0.1:8080"
    widget_uploads_token: str = "dev-only-uploads-token"
    # Rasa's tracker store, read (read-only) for the supervisor's reports; empty: no reports.
    tracker_url: str = f"sqlite:///{ROOT / 'var' / 'rasa' / 'tracker.db'}"
    # The widget's satisfaction ratings (its `csat` table, read-only); empty: none.
    csat_url: str = f"sqlite:///{ROOT / 'var' / 'widget' / 'widget.db'}"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read HANDOFF_* (and RASA_URL / RASA_AUTH_TOKEN); refuse dev secrets in production."""
        env = dict(os.environ if env is None else env)
        production = is_production(env)
        settings = cls(
            port=int(env.get("HANDOFF_PORT") or cls.port),
            host=env.get("HANDOFF_HOST") or cls.host,
            db_url=_db_url(env.get("HANDOFF_DB_URL"), env.get("HANDOFF_DB"), cls.db_url),
            api_token=env.get("HANDOFF_API_TOKEN") or DEV_TOKEN,
            rasa_url=(env.get("RASA_URL") or cls.rasa_url).rstrip("/"),
            rasa_token=env.get("RASA_AUTH_TOKEN") or DEV_RASA_TOKEN,
            events_url=_db_url(
                env.get("HANDOFF_EVENTS_URL"), env.get("EVENTS_DB"), cls.events_url,
                allow_empty="HANDOFF_EVENTS_URL" in env,
            ),
            events_poll_seconds=float(env.get("HANDOFF_EVENTS_POLL_SECONDS") or 0.2),
            broker_url=env.get("HANDOFF_BROKER_URL") or "",
            broker_queue=env.get("HANDOFF_BROKER_QUEUE") or cls.broker_queue,
            reconcile_seconds=float(env.get("HANDOFF_RECONCILE_SECONDS") or 30),
            production=production,
            session_hours=float(env.get("HANDOFF_SESSION_HOURS") or 12),
            online_seconds=float(env.get("HANDOFF_ONLINE_SECONDS") or 60),
            default_handle_minutes=float(env.get("HANDOFF_HANDLE_MINUTES") or 5),
            proxies_count=int(env.get("HANDOFF_PROXIES_COUNT") or 0),
            long_wait_minutes=int(env.get("HANDOFF_LONG_WAIT_MINUTES") or 30),
            abandon_hours=float(env.get("HANDOFF_ABANDON_HOURS") or 12),
            sweep_seconds=float(env.get("HANDOFF_SWEEP_SECONDS") or 60),
            shop_api_url=(env.get("SHOP_API_URL") or cls.shop_api_url).rstrip("/"),
            shop_api_token=env.get("SHOP_API_TOKEN") or cls.shop_api_token,
            widget_url=(env.get("WIDGET_URL")
                        or f"http://127.0.0.1:{env.get('WIDGET_PORT') or 8080}").rstrip("/"),
            widget_uploads_token=env.get("WIDGET_UPLOADS_TOKEN") or cls.widget_uploads_token,
            tracker_url=_db_url(env.get("TRACKER_DB_URL"), env.get("TRACKER_DB"),
                                cls.tracker_url, allow_empty="TRACKER_DB_URL" in env),
            csat_url=_db_url(env.get("HANDOFF_CSAT_DB_URL"), env.get("WIDGET_DB"),
                             cls.csat_url, allow_empty="HANDOFF_CSAT_DB_URL" in env),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse a configuration that must not serve real customers."""
        if not self.api_token.strip():
            raise SettingsError("HANDOFF_API_TOKEN is empty")
        if self.production and self.api_token == DEV_TOKEN:
            raise SettingsError(
                "HANDOFF_API_TOKEN is the development default; set a secret for production"
            )
        if self.production and self.rasa_token == DEV_RASA_TOKEN:
            raise SettingsError("RASA_AUTH_TOKEN is the development default")
        if self.production and self.shop_api_token == "dev-only-shop-token":
            raise SettingsError("SHOP_API_TOKEN is the development default")
        if self.production and self.widget_uploads_token == "dev-only-uploads-token":
            raise SettingsError("WIDGET_UPLOADS_TOKEN is the development default")


def _db_url(url: str | None, path: str | None, default: str, allow_empty: bool = False) -> str:
    """An SQLAlchemy URL: given as is, or built from a SQLite file path (relative to the root)."""
    if url or (allow_empty and url == ""):
        return url or ""
    if path:
        file = Path(path)
        return f"sqlite:///{file if file.is_absolute() else ROOT / file}"
    return default
