"""The services' typed settings (contracts.settings): defaults, clear errors, refusals in
production."""
from __future__ import annotations

import os

import pytest

from bot.settings import ActionSettings, RasaSettings
from contracts.profile import DEV_SECRETS
from contracts.settings import ServiceSettings, SettingsError, project_env
from contracts.widget import SessionSecret
from handoff.config import Settings as HandoffSettings
from shop_api.__main__ import Settings as ShopSettings
from widget.app import WidgetConfig

SERVICES: list[type[ServiceSettings]] = [HandoffSettings, ShopSettings, WidgetConfig,
                                         ActionSettings, RasaSettings, SessionSecret]
REAL = {name: f"s3cret-{name.lower()}" for name in DEV_SECRETS}


def secrets_of(cls: type[ServiceSettings]) -> list[str]:
    """The environment variables of a settings class's secret fields."""
    return [cls.variable(name) for name, field in cls.__fields__.items()
            if field.field_info.extra.get("secret")]


def test_development_defaults_need_no_environment() -> None:
    handoff = HandoffSettings.from_env({})
    assert (handoff.port, handoff.api_token, handoff.widget_url) == (
        8000, DEV_SECRETS["HANDOFF_API_TOKEN"], "http://127.0.0.1:8080")
    widget = WidgetConfig.from_env({})
    assert (widget.port, widget.rasa_url, widget.uploads_dir) == (
        8080, "http://127.0.0.1:5005", "var/widget/uploads")
    action = ActionSettings.from_env({})
    assert (action.port, action.shop_api_url, action.outbox_retry_seconds) == (
        5055, "http://127.0.0.1:8100", 10.0)
    assert RasaSettings.from_env({}).rate_limit_per_sender == 20


def test_the_example_environment_is_valid_for_every_service() -> None:
    env = project_env({"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    for cls in SERVICES:
        cls.from_env(env)  # raises SettingsError on any variable it cannot read


def test_empty_variables_keep_the_default_unless_empty_means_off() -> None:
    handoff = HandoffSettings.from_env({"HANDOFF_PORT": "", "HANDOFF_EVENTS_URL": "",
                                        "HANDOFF_DB": "var/x/h.db", "WIDGET_PORT": "9090"})
    assert handoff.port == 8000
    assert handoff.events_url == ""  # HANDOFF_EVENTS_URL= turns the event tail off
    assert handoff.db_url.startswith("sqlite:///") and handoff.db_url.endswith("/var/x/h.db")
    assert handoff.widget_url == "http://127.0.0.1:9090"
    assert HandoffSettings.from_env({"HANDOFF_DB_URL": "postgresql://u@db/h",
                                     "HANDOFF_DB": "ignored.db"}).db_url == "postgresql://u@db/h"


@pytest.mark.parametrize(("cls", "name", "value", "reason"), [
    (HandoffSettings, "HANDOFF_PORT", "eighty", "not a valid integer"),
    (HandoffSettings, "HANDOFF_PORT", "70000", "not a TCP port"),
    (HandoffSettings, "HANDOFF_SESSION_HOURS", "-1", "greater than 0"),
    (WidgetConfig, "WIDGET_PORT", "0", "greater than or equal to 1"),
    (ActionSettings, "HANDOFF_TIMEOUT", "soon", "not a valid float"),
    (ActionSettings, "HANDOFF_OUTBOX_RETRY_SECONDS", "-5", "greater than or equal to 0"),
    (RasaSettings, "RATE_LIMIT_PER_SENDER", "many", "not a valid integer"),
])
def test_a_bad_value_is_refused_naming_the_variable(
        cls: type[ServiceSettings], name: str, value: str, reason: str) -> None:
    with pytest.raises(SettingsError) as refused:
        cls.from_env({name: value})
    assert f"{name}={value!r}" in str(refused.value)
    assert reason in str(refused.value)


@pytest.mark.parametrize("cls", SERVICES, ids=lambda cls: cls.__name__)
def test_production_refuses_each_development_secret(cls: type[ServiceSettings]) -> None:
    secrets = secrets_of(cls)
    assert secrets, f"{cls.__name__} declares no secret"
    production = {"APP_PROFILE": "production", **REAL}
    cls.from_env(production)  # real secrets: accepted
    for name in secrets:
        for bad in (DEV_SECRETS[name], ""):
            with pytest.raises(SettingsError, match=f"refusing to start in production: {name}"):
                cls.from_env({**production, name: bad})
        cls.from_env({**production, name: bad}, refuse=False)  # a degrading caller decides


def test_secrets_stay_out_of_logged_settings() -> None:
    settings = HandoffSettings.from_env({"HANDOFF_API_TOKEN": "hunter2", "HANDOFF_PORT": "81"})
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings)
    assert "port=81" in repr(settings)


def test_the_environment_wins_over_the_example_file() -> None:
    env = project_env({"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HANDOFF_PORT": "8123"})
    assert env["HANDOFF_PORT"] == "8123"
    assert env["SHOP_API_TOKEN"] == DEV_SECRETS["SHOP_API_TOKEN"]  # from .env.example
