"""Typed settings every service reads the same way (pydantic `BaseSettings`).

Each service declares one settings class: a field per setting, the environment variable(s) it
comes from (`Field(default, env=...)`, the first name set wins) and its development default.
`from_env()` reads the environment once, at process start, and:

- treats an empty variable as unset (`.env.example` lists optional settings as `NAME=`), except
  for fields marked `keep_empty=True`, whose first variable set to "" means "off";
- names the variable in the error when a value has the wrong type (`HANDOFF_PORT=abc`);
- refuses, in the production profile (contracts.profile), every field marked `secret=True`
  that is missing or a development default (contracts.profile.DEV_SECRETS).

The environment itself is assembled in one place: `scripts/with-env.sh` (the environment wins,
then `.env`, then `.env.example`), which every Makefile target and production script runs
under; no service reads `.env` itself.
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseSettings, Extra, ValidationError

from contracts.profile import dev_secret_problem, is_production

S = TypeVar("S", bound="ServiceSettings")
WITH_ENV = Path(__file__).resolve().parents[1] / "scripts" / "with-env.sh"


class SettingsError(SystemExit):
    """The configuration cannot be used; the message names the variable. A SystemExit, so a
    service that meets it at start stops with the message instead of a traceback."""

    def __str__(self) -> str:
        return str(self.code)


class ServiceSettings(BaseSettings):
    """Base of the services' settings: immutable, typed, read from a mapping of names."""

    class Config:
        case_sensitive = True
        allow_mutation = False
        extra = Extra.forbid

        @classmethod
        def customise_sources(cls, init_settings: Any, env_settings: Any,
                              file_secret_settings: Any) -> tuple[Any, ...]:
            """Only the values given: `from_env` reads the environment (so that an explicit
            mapping can stand in for it, and empty variables count as unset)."""
            return (init_settings,)

    @classmethod
    def from_env(cls: type[S], env: Mapping[str, str] | None = None, *,
                 refuse: bool = True) -> S:
        """The settings from `env` (default: the process environment); SettingsError names
        the variable that is wrong, or (unless `refuse` is false: a caller that degrades
        instead) the secret production refuses."""
        env = os.environ if env is None else env
        values = cls.env_values(env)
        try:
            settings = cls(**values)
        except ValidationError as error:
            raise SettingsError(cls._describe(error, env)) from None
        if refuse and is_production(env):
            settings.refuse_dev_secrets()
        return settings

    @classmethod
    def env_values(cls, env: Mapping[str, str]) -> dict[str, Any]:
        """The raw values of the fields set in `env`, by field name."""
        values: dict[str, Any] = {}
        for name, field in cls.__fields__.items():
            extra = field.field_info.extra
            for index, env_name in enumerate(extra.get("env_names", ())):
                value = env.get(env_name)
                if value is None or (value.strip() == "" and not (
                        extra.get("keep_empty") and index == 0)):
                    continue
                values[name] = value.strip()
                break
        return values

    def refuse_dev_secrets(self, *fields: str) -> None:
        """Raise SettingsError when a secret field (all, or those named) is missing or a
        development default (contracts.profile)."""
        for name in fields or self.__fields__:
            problem = self.secret_problem(name)
            if problem:
                raise SettingsError(f"refusing to start in production: {problem}")

    def secret_problem(self, field: str) -> str | None:
        """Why a secret field cannot serve in production, or None (also for other fields)."""
        if not self.__fields__[field].field_info.extra.get("secret"):
            return None
        return dev_secret_problem(self.variable(field), getattr(self, field))

    def __repr_args__(self) -> list[tuple[str | None, Any]]:
        """Secrets never reach a log through repr()."""
        return [(name, "**********" if self.__fields__[name].field_info.extra.get("secret")
                 else value) for name, value in self.__dict__.items()]

    @classmethod
    def variable(cls, field: str) -> str:
        """The (first) environment variable of a field."""
        return _first(cls.__fields__[field].field_info.extra.get("env_names", ())) or field

    @classmethod
    def _describe(cls, error: ValidationError, env: Mapping[str, str]) -> str:
        """The validation errors by environment variable: `HANDOFF_PORT='abc': value is not a
        valid integer`. Values of secret fields are never shown."""
        lines = []
        for item in error.errors():
            field = cls.__fields__.get(str(item["loc"][0]) if item["loc"] else "")
            if field is None:
                lines.append(item["msg"])
                continue
            names = field.field_info.extra.get("env_names", ())
            variable = next((n for n in names if (env.get(n) or "").strip()),
                            _first(names) or field.name)
            value = env.get(variable)
            shown = "" if value is None or field.field_info.extra.get("secret") \
                else f"={value!r}"
            lines.append(f"{variable}{shown}: {item['msg']}")
        return "invalid settings: " + "; ".join(lines)


def _first(names: Any) -> str:
    """The first of a field's env names (declaration order when given as a list)."""
    return next(iter(names), "")


def project_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the project's commands run with: `base` (default: this process's)
    completed by scripts/with-env.sh from `.env`, then `.env.example`. That script is the one
    reader of those files; Python callers (the test session, the evaluation report) ask it."""
    result = subprocess.run([str(WITH_ENV), "env", "-0"], env=dict(os.environ if base is None
                                                                    else base),
                            capture_output=True, check=True, timeout=30)
    pairs = (item.partition("=") for item in result.stdout.decode("utf-8").split("\0"))
    return {key: value for key, sep, value in pairs if sep}
