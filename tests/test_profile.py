"""The production profile: one switch for every service, development secrets refused at start."""
from __future__ import annotations

import subprocess
import sys

import pytest

from contracts.profile import DEV_SECRETS, is_production, problems, refuse_dev_secret
from contracts.widget import secret_from_env
from handoff.config import Settings, SettingsError
from shop_api.__main__ import Settings as ShopSettings

SECRETS = {name: f"s3cret-{name.lower()}" for name in DEV_SECRETS}
URLS = {"TRACKER_DB_URL": "postgresql://shop:pw@db/rasa", "REDIS_URL": "redis://:pw@r:6379/0",
        "RABBITMQ_URL": "amqp://shop:pw@mq:5672/%2F"}


@pytest.mark.parametrize("switch", ["APP_PROFILE", "APP_ENV", "HANDOFF_ENV"])
def test_each_switch_selects_production_for_every_service(switch: str) -> None:
    env = {switch: "production"}
    assert is_production(env)
    with pytest.raises(SystemExit, match="SHOP_API_TOKEN"):
        ShopSettings.from_env(env)
    with pytest.raises(SystemExit, match="WIDGET_SESSION_SECRET"):
        secret_from_env(env)
    with pytest.raises(SettingsError, match="HANDOFF_API_TOKEN"):
        Settings.from_env(env)


def test_development_keeps_its_defaults() -> None:
    assert not is_production({"APP_PROFILE": "development"})
    assert ShopSettings.from_env({}).token == DEV_SECRETS["SHOP_API_TOKEN"]
    refuse_dev_secret("RASA_AUTH_TOKEN", None, {})  # nothing to refuse in development


@pytest.mark.parametrize("value", [None, "", "  ", "dev-only-rasa-token", "dev-only-x"])
def test_production_refuses_missing_and_development_secrets(value: str | None) -> None:
    with pytest.raises(SystemExit, match="refusing to start in production: RASA_AUTH_TOKEN"):
        refuse_dev_secret("RASA_AUTH_TOKEN", value, {"APP_PROFILE": "production"})


def test_the_whole_environment_is_checked_at_once() -> None:
    assert problems({**SECRETS, **URLS}) == []
    found = problems({**SECRETS, "SHOP_API_TOKEN": "dev-only-shop-token", **URLS,
                      "REDIS_URL": ""})
    assert found == ["SHOP_API_TOKEN is a development default; set a secret for production",
                     "REDIS_URL is not set"]


def test_check_command_exits_non_zero_with_the_reasons() -> None:
    env = {"APP_PROFILE": "production", "PATH": "/usr/bin:/bin", **SECRETS, **URLS,
           "RASA_AUTH_TOKEN": "dev-only-rasa-token"}
    result = subprocess.run([sys.executable, "-m", "contracts.profile", "check"], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "RASA_AUTH_TOKEN is a development default" in result.stderr
    del env["RASA_AUTH_TOKEN"]
    env["RASA_AUTH_TOKEN"] = "a-real-secret"
    ok = subprocess.run([sys.executable, "-m", "contracts.profile", "check"], env=env,
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
