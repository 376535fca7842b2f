"""The deployment profile every service reads the same way: development or production.

`APP_PROFILE=production` selects the production profile (PostgreSQL, Redis, RabbitMQ, several
Rasa replicas: docs/production.md). The older switches `APP_ENV=production` (action server,
shop API, widget) and `HANDOFF_ENV=production` (handoff service and its client) still select it,
so existing deployments keep refusing what they refused. In production no development default
secret is accepted: each service refuses to start with a message naming the variable.

`python -m contracts.profile check` checks the whole environment at once (scripts/prod/run.sh
calls it before starting anything).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping

PRODUCTION = "production"
SWITCHES = ("APP_PROFILE", "APP_ENV", "HANDOFF_ENV")
# Every secret with a development default, and that default (.env.example).
DEV_SECRETS = {
    "RASA_AUTH_TOKEN": "dev-only-rasa-token",
    "ACTION_SERVER_TOKEN": "dev-only-action-token",
    "SHOP_API_TOKEN": "dev-only-shop-token",
    "HANDOFF_API_TOKEN": "dev-only-handoff-token",
    "WIDGET_SESSION_SECRET": "dev-only-widget-secret",
    "WIDGET_UPLOADS_TOKEN": "dev-only-uploads-token",
}
# Connection URLs the production profile needs (secrets inside them come from the environment).
PRODUCTION_URLS = ("TRACKER_DB_URL", "REDIS_URL", "RABBITMQ_URL")
# Passwords that must not reach production either (the local test servers use them).
DEV_PASSWORD_MARK = "dev-only"


def is_production(env: Mapping[str, str] | None = None) -> bool:
    """Whether the production profile is selected (APP_PROFILE, or the older APP_ENV /
    HANDOFF_ENV, set to `production`)."""
    env = os.environ if env is None else env
    return any((env.get(name) or "").strip().lower() == PRODUCTION for name in SWITCHES)


def dev_secret_problem(name: str, value: str | None) -> str | None:
    """Why `value` cannot serve as secret `name` in production, or None when it can."""
    if not value or not value.strip():
        return f"{name} is not set; production needs a secret from the environment"
    if value == DEV_SECRETS.get(name) or DEV_PASSWORD_MARK in value:
        return f"{name} is a development default; set a secret for production"
    return None


def refuse_dev_secret(name: str, value: str | None, env: Mapping[str, str] | None = None
                      ) -> None:
    """Exit with a clear message when production is selected and `value` is not a real
    secret for `name`; do nothing in development."""
    if is_production(env):
        problem = dev_secret_problem(name, value)
        if problem:
            raise SystemExit(f"refusing to start in production: {problem}")


def problems(env: Mapping[str, str]) -> list[str]:
    """Everything that keeps `env` from running the production profile."""
    found = [problem for name in DEV_SECRETS
             if (problem := dev_secret_problem(name, env.get(name)))]
    for name in PRODUCTION_URLS:
        value = env.get(name) or ""
        if not value:
            found.append(f"{name} is not set")
        elif DEV_PASSWORD_MARK in value:
            found.append(f"{name} carries a development password")
    return found


def main(argv: list[str] | None = None) -> int:
    """`check`: print what the environment lacks for production; exit 1 if anything."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["check"]:
        print("usage: python -m contracts.profile check", file=sys.stderr)
        return 2
    if not is_production():
        print("profile: development (APP_PROFILE is not production): nothing to check")
        return 0
    found = problems(os.environ)
    for problem in found:
        print(f"refusing to start in production: {problem}", file=sys.stderr)
    if not found:
        print("profile: production; secrets and URLs set")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
