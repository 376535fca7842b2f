"""Build the effective credentials file of `rasa run`: credentials.yml (the channels that always
run: REST, socket.io) plus each optional messaging channel whose environment variables are set.

Rasa fails on a `${VAR}` whose variable is missing, and the Telegram connector registers its
webhook on the internet at start-up, so optional channels cannot sit in credentials.yml itself.
The generated sections refer to the variables as `${VAR}` (Rasa substitutes them when it reads
the file), so no secret is written to disk.

    python -m bot.channels.credentials --base credentials.yml --out var/credentials.yml
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class OptionalChannel:
    """A channel switched on by its environment variables."""

    section: str
    label: str
    required: dict[str, str]  # credentials key -> environment variable
    optional: dict[str, str]
    webhook_path: str
    aliases: tuple[str, ...] = ()  # other section names of the same channel

    def configured_in(self, base: Mapping[str, object]) -> bool:
        """True when the base file already has a section for this channel."""
        return any(name in base for name in (self.section, *self.aliases))


CHANNELS = (
    OptionalChannel(
        section="bot.channels.telegram.TelegramInput",
        label="Telegram",
        required={"access_token": "TELEGRAM_TOKEN", "verify": "TELEGRAM_BOT_NAME",
                  "webhook_url": "TELEGRAM_WEBHOOK_URL"},
        optional={},
        webhook_path="/webhooks/telegram/webhook",
        aliases=("telegram",),
    ),
    OptionalChannel(
        section="bot.channels.wechat.WeChatInput",
        label="WeChat Official Account",
        required={"token": "WECHAT_TOKEN", "appid": "WECHAT_APPID", "secret": "WECHAT_SECRET"},
        optional={"encoding_aes_key": "WECHAT_AES_KEY", "api_base": "WECHAT_API_BASE",
                  "state_db": "WECHAT_STATE_DB", "allow_plaintext": "WECHAT_ALLOW_PLAINTEXT",
                  "reply_mode": "WECHAT_REPLY_MODE"},
        webhook_path="/webhooks/wechat/webhook",
    ),
)


class ChannelConfigError(Exception):
    """Some but not all of a channel's required variables are set."""


def _is_set(env: Mapping[str, str], name: str) -> bool:
    return bool(env.get(name, "").strip())


def enabled_channels(env: Mapping[str, str]) -> list[OptionalChannel]:
    """The optional channels whose required variables are all set; a half-configured channel is
    an error rather than silently off."""
    enabled = []
    for channel in CHANNELS:
        names = list(channel.required.values())
        present = [n for n in names if _is_set(env, n)]
        if present and len(present) < len(names):
            missing = ", ".join(n for n in names if n not in present)
            raise ChannelConfigError(f"{channel.label}: set {missing} as well (or unset all)")
        if present:
            enabled.append(channel)
    return enabled


def section_yaml(channel: OptionalChannel, env: Mapping[str, str]) -> str:
    """The credentials section of `channel`, values as `${VAR}` references."""
    keys = dict(channel.required)
    keys.update({k: v for k, v in channel.optional.items() if _is_set(env, v)})
    lines = [f"{channel.section}:"] + [f"  {key}: ${{{var}}}" for key, var in keys.items()]
    return "\n".join(lines) + "\n"


def build(base_text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """The effective credentials text and the names of every channel in it."""
    base = yaml.safe_load(base_text) or {}
    if not isinstance(base, dict):
        raise ChannelConfigError("the base credentials file must be a mapping of channels")
    text = base_text if base_text.endswith("\n") or not base_text else base_text + "\n"
    names = list(base)
    added = [c for c in enabled_channels(env) if not c.configured_in(base)]
    if added:
        text += "\n# Added from the environment by bot/channels/credentials.py\n"
        text += "".join(section_yaml(c, env) for c in added)
        names += [c.section for c in added]
    yaml.safe_load(text)  # the result must still be valid YAML
    return text, names


def main(argv: list[str] | None = None) -> int:
    """Write the effective credentials file and say which channels it switches on."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="credentials.yml")
    parser.add_argument("--out", default="var/credentials.yml")
    args = parser.parse_args(argv)
    try:
        text, names = build(Path(args.base).read_text(encoding="utf-8"), os.environ)
    except (ChannelConfigError, yaml.YAMLError, OSError) as exc:
        print(f"ERROR: credentials: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"==> channels: {', '.join(names) or 'none'} ({out})")
    for channel in CHANNELS:
        if channel.configured_in(dict.fromkeys(names)):
            print(f"    {channel.label} callback path: {channel.webhook_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
