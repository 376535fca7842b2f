"""The effective credentials file: REST (and whatever credentials.yml holds) always, optional
channels only when their environment variables are set, read back by Rasa itself."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.channels.credentials import ChannelConfigError, build

ROOT = Path(__file__).resolve().parents[2]
BASE = "# channels\nrest:\nsocketio:\n  user_message_evt: user_uttered\n"
WECHAT = {"WECHAT_TOKEN": "t0ken", "WECHAT_APPID": "wx123", "WECHAT_SECRET": "s3cret"}
TELEGRAM = {"TELEGRAM_TOKEN": "123:abc", "TELEGRAM_BOT_NAME": "shop_bot",
            "TELEGRAM_WEBHOOK_URL": "https://bot.example.com/webhooks/telegram/webhook"}


def test_without_channel_variables_the_base_file_is_used_as_is() -> None:
    text, names = build(BASE, {})
    assert text == BASE
    assert names == ["rest", "socketio"]


def test_channels_are_added_as_variable_references_never_as_secrets() -> None:
    text, names = build(BASE, {**WECHAT, **TELEGRAM, "WECHAT_AES_KEY": "k" * 43})
    assert names == ["rest", "socketio", "bot.channels.telegram.TelegramInput",
                     "bot.channels.wechat.WeChatInput"]
    assert "s3cret" not in text and "123:abc" not in text
    data = yaml.safe_load(text)
    assert data["bot.channels.telegram.TelegramInput"] == {"access_token": "${TELEGRAM_TOKEN}",
                                "verify": "${TELEGRAM_BOT_NAME}",
                                "webhook_url": "${TELEGRAM_WEBHOOK_URL}"}
    assert data["bot.channels.wechat.WeChatInput"] == {
        "token": "${WECHAT_TOKEN}", "appid": "${WECHAT_APPID}", "secret": "${WECHAT_SECRET}",
        "encoding_aes_key": "${WECHAT_AES_KEY}"}
    assert data["socketio"] == {"user_message_evt": "user_uttered"}


def test_empty_variables_count_as_unset() -> None:
    _, names = build(BASE, {"WECHAT_TOKEN": "", "WECHAT_APPID": " ", "WECHAT_SECRET": ""})
    assert names == ["rest", "socketio"]


@pytest.mark.parametrize("drop", list(WECHAT))
def test_a_half_configured_channel_is_an_error(drop: str) -> None:
    env = {k: v for k, v in WECHAT.items() if k != drop}
    with pytest.raises(ChannelConfigError, match=drop):
        build(BASE, env)


def test_a_channel_already_in_the_base_file_is_not_added_twice() -> None:
    base = BASE + "bot.channels.telegram.TelegramInput:\n  access_token: ${TELEGRAM_TOKEN}\n"
    text, names = build(base, TELEGRAM)
    assert text == base
    assert names.count("bot.channels.telegram.TelegramInput") == 1


def test_rasa_s_own_telegram_section_counts_as_telegram() -> None:
    base = BASE + "telegram:\n  access_token: ${TELEGRAM_TOKEN}\n"
    assert build(base, TELEGRAM) == (base, ["rest", "socketio", "telegram"])


def test_rasa_reads_the_generated_file_with_the_values_substituted(tmp_path: Path) -> None:
    out = tmp_path / "credentials.yml"
    env = {"PATH": "/usr/bin:/bin", **WECHAT, "WECHAT_API_BASE": "http://127.0.0.1:9"}
    result = subprocess.run(
        [sys.executable, "-m", "bot.channels.credentials", "--base", "credentials.yml",
         "--out", str(out)], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, check=True,
    )
    assert "/webhooks/wechat/webhook" in result.stdout
    read = subprocess.run(
        [sys.executable, "-c", "import sys, json, rasa.shared.utils.io as io; "
         "print(json.dumps(io.read_config_file(sys.argv[1])))", str(out)],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        check=True,
    )
    channels = yaml.safe_load(read.stdout)
    assert "bot.channels.rest.ShopRestInput" in channels
    assert channels["bot.channels.wechat.WeChatInput"] == {
        "token": "t0ken", "appid": "wx123", "secret": "s3cret", "api_base": "http://127.0.0.1:9"}


def test_the_command_refuses_a_half_configured_channel(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.channels.credentials", "--out", str(tmp_path / "c.yml")],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TELEGRAM_TOKEN": "x"},
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "TELEGRAM_BOT_NAME" in result.stderr
    assert not (tmp_path / "c.yml").exists()
