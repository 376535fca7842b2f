"""The WeChat Official Account channel end to end: a real `rasa run` with the channel switched on
by its environment variables, callbacks in WeChat's format over real HTTP, answers arriving at a
local fake of WeChat's API."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.channels import fake_wechat as fw
from tests.conftest import BIN, ROOT, free_port, start_process, stop_process, wait_until_up


@pytest.fixture(scope="module")
def fake() -> Iterator[fw.FakeWeChat]:
    """The fake WeChat API."""
    with fw.FakeWeChat() as server:
        yield server


@pytest.fixture(scope="module")
def rasa_wechat(
    model_path: Path, action_server: str, logs_dir: Path, fake: fw.FakeWeChat,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """`rasa run` with the credentials scripts/run.sh builds when the WECHAT_* variables are set
    (safe mode, plaintext also accepted so both modes are tested on one server)."""
    tmp = tmp_path_factory.mktemp("wechat")
    env = {
        "WECHAT_TOKEN": fw.TOKEN, "WECHAT_APPID": fw.APPID, "WECHAT_SECRET": fw.SECRET,
        "WECHAT_AES_KEY": fw.AES_KEY, "WECHAT_API_BASE": fake.base_url,
        "WECHAT_STATE_DB": str(tmp / "state.db"), "WECHAT_ALLOW_PLAINTEXT": "true",
        "ACTION_SERVER_URL": action_server, "TRACKER_DB": str(tmp / "tracker.db"),
    }
    credentials = tmp / "credentials.yml"
    subprocess.run(
        [sys.executable, "-m", "bot.channels.credentials", "--base", "credentials.yml",
         "--out", str(credentials)], cwd=ROOT, env={**os.environ, **env}, check=True,
    )
    port = free_port()
    log = logs_dir / "rasa_wechat.log"
    process = start_process(
        [str(BIN / "rasa"), "run", "--model", str(model_path), "--enable-api",
         "--auth-token", os.environ["RASA_AUTH_TOKEN"], "--port", str(port),
         "--endpoints", "endpoints.yml", "--credentials", str(credentials)], log, env,
    )
    try:
        wait_until_up(
            f"http://127.0.0.1:{port}/status?token={os.environ['RASA_AUTH_TOKEN']}", process, log
        )
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)
        print(f"rasa log: {log}")


def openid() -> str:
    """A fresh WeChat user."""
    return "o" + secrets.token_urlsafe(20)


def msg_id() -> int:
    """A fresh 64-bit message id like WeChat's."""
    return secrets.randbits(63)


def post_plain(base: str, xml: str, query: dict[str, str] | None = None) -> requests.Response:
    return requests.post(
        f"{base}/webhooks/wechat/webhook", params=query or fw.plain_query(),
        data=xml.encode("utf-8"), headers={"Content-Type": "text/xml"}, timeout=10,
    )


def post_encrypted(base: str, xml: str, **kwargs: str) -> requests.Response:
    query, body = fw.encrypted_callback(xml, **kwargs)
    return requests.post(
        f"{base}/webhooks/wechat/webhook", params=query, data=body.encode("utf-8"),
        headers={"Content-Type": "text/xml"}, timeout=10,
    )


def tracker_user_texts(base: str, user: str) -> list[str]:
    tracker = requests.get(
        f"{base}/conversations/wechat_{user}/tracker",
        params={"token": os.environ["RASA_AUTH_TOKEN"]}, timeout=10,
    ).json()
    return [e["text"] for e in tracker["events"] if e["event"] == "user"]


def test_url_verification_handshake_echoes_echostr(rasa_wechat: str) -> None:
    query = {**fw.plain_query(), "echostr": "7613290453467180235"}
    response = requests.get(f"{rasa_wechat}/webhooks/wechat/webhook", params=query, timeout=10)
    assert response.status_code == 200
    assert response.text == "7613290453467180235"


def test_handshake_with_a_wrong_token_is_refused(rasa_wechat: str) -> None:
    query = {**fw.plain_query(token="not-the-token"), "echostr": "7613290453467180235"}
    response = requests.get(f"{rasa_wechat}/webhooks/wechat/webhook", params=query, timeout=10)
    assert response.status_code == 403
    assert "7613290453467180235" not in response.text


def test_plaintext_message_is_acknowledged_and_answered_in_chinese(
    rasa_wechat: str, fake: fw.FakeWeChat
) -> None:
    user = openid()
    response = post_plain(rasa_wechat, fw.text_xml(user, "你好", msg_id()))
    assert response.status_code == 200
    assert response.text == "success"
    (answer,) = fake.wait_for_texts(user)
    assert "您好" in answer


def test_safe_mode_message_is_decrypted_and_answered(
    rasa_wechat: str, fake: fw.FakeWeChat
) -> None:
    user = openid()
    response = post_encrypted(rasa_wechat, fw.text_xml(user, "今天天气怎么样", msg_id()))
    assert response.status_code == 200
    assert response.text == "success"
    (answer,) = fake.wait_for_texts(user)
    assert "订单" in answer
    assert tracker_user_texts(rasa_wechat, user) == ["今天天气怎么样"]


def test_forged_callbacks_are_refused_and_never_reach_the_bot(
    rasa_wechat: str, fake: fw.FakeWeChat
) -> None:
    user = openid()
    xml = fw.text_xml(user, "你好", msg_id())
    assert post_plain(rasa_wechat, xml, fw.plain_query(token="guessed")).status_code == 403
    unsigned = {k: v for k, v in fw.plain_query().items() if k != "signature"}
    assert post_plain(rasa_wechat, xml, unsigned).status_code == 403
    stale = fw.plain_query(timestamp=1_500_000_000)
    assert post_plain(rasa_wechat, xml, stale).status_code == 403
    assert post_encrypted(rasa_wechat, xml, token="guessed").status_code == 403
    other_app = post_encrypted(rasa_wechat, xml, appid="wxanotheraccount")
    assert other_app.status_code == 403
    other_key = post_encrypted(rasa_wechat, xml, aes_key="A" * 43)
    assert other_key.status_code == 403
    # The same message, properly signed, still goes through: nothing was recorded before.
    assert post_plain(rasa_wechat, xml).text == "success"
    assert len(fake.wait_for_texts(user)) == 1
    assert tracker_user_texts(rasa_wechat, user) == ["你好"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("<xml><ToUserName>gh</ToUserName>", 400),
        ("", 400),
        ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaa">]><xml>&a;</xml>', 400),
        ("<xml>" + "<Content>长</Content>" * 6000 + "</xml>", 413),
    ],
)
def test_malformed_callbacks_get_a_client_error(rasa_wechat: str, body: str, status: int) -> None:
    assert post_plain(rasa_wechat, body).status_code == status


def test_retried_callback_is_processed_once(rasa_wechat: str, fake: fw.FakeWeChat) -> None:
    user, first = openid(), msg_id()
    xml = fw.text_xml(user, "你好", first)
    # WeChat retries three times, each time with a fresh timestamp, nonce and signature.
    assert post_encrypted(rasa_wechat, xml).text == "success"
    assert post_encrypted(rasa_wechat, xml).text == "success"
    assert post_plain(rasa_wechat, xml).text == "success"
    fake.wait_for_texts(user, 1)
    assert post_plain(rasa_wechat, fw.text_xml(user, "谢谢", first + 1)).text == "success"
    assert len(fake.wait_for_texts(user, 2)) == 2
    assert tracker_user_texts(rasa_wechat, user) == ["你好", "谢谢"]
    assert len(fake.texts_to(user)) == 2


def test_subscribe_gets_a_welcome_and_non_text_messages_a_clear_answer(
    rasa_wechat: str, fake: fw.FakeWeChat
) -> None:
    user = openid()
    assert post_plain(rasa_wechat, fw.event_xml(user, "subscribe")).text == "success"
    (welcome,) = fake.wait_for_texts(user)
    assert "感谢关注" in welcome and "转人工" in welcome
    assert post_plain(rasa_wechat, fw.media_xml(user, "image", msg_id())).text == "success"
    assert "图片" in fake.wait_for_texts(user, 2)[1]
    assert post_encrypted(rasa_wechat, fw.media_xml(user, "voice", msg_id())).text == "success"
    assert "语音" in fake.wait_for_texts(user, 3)[2]


def test_expired_access_token_is_fetched_again(rasa_wechat: str, fake: fw.FakeWeChat) -> None:
    user = openid()
    assert post_plain(rasa_wechat, fw.text_xml(user, "你好", msg_id())).text == "success"
    fake.wait_for_texts(user)
    fetched = fake.token_requests
    fake.expire_tokens()
    assert post_plain(rasa_wechat, fw.text_xml(user, "谢谢", msg_id())).text == "success"
    assert len(fake.wait_for_texts(user, 2)) == 2
    assert fake.token_requests == fetched + 1
    assert 42001 in fake.rejected_sends


def test_agent_reply_pushed_through_the_http_api_reaches_the_wechat_user(
    rasa_wechat: str, fake: fw.FakeWeChat
) -> None:
    user = openid()
    assert post_plain(rasa_wechat, fw.text_xml(user, "你好", msg_id())).text == "success"
    fake.wait_for_texts(user)
    agent_text = "您好，我是客服小李，您的问题我来跟进。"
    response = requests.post(
        f"{rasa_wechat}/conversations/wechat_{user}/tracker/events",
        params={"token": os.environ["RASA_AUTH_TOKEN"], "output_channel": "latest",
                "execute_side_effects": "true"},
        json=[{"event": "bot", "text": agent_text,
               "data": {"custom": {"handoff": {"state": "agent_message", "agent": "小李"}}},
               "metadata": {"handoff": {"state": "agent_message", "agent": "小李"}}}],
        timeout=10,
    )
    assert response.status_code == 200, response.text
    texts = fake.wait_for_texts(user, 2)
    assert texts[1] == agent_text
    assert len(fake.texts_to(user)) == 2  # the handoff payload is not sent as raw JSON


def test_buttons_are_numbered_and_a_number_picks_one(
    rasa_wechat: str, fake: fw.FakeWeChat
) -> None:
    user = openid()
    for count, text in enumerate(["我的快递到哪了", "不知道订单号", "13812345678"], start=1):
        assert post_plain(rasa_wechat, fw.text_xml(user, text, msg_id())).text == "success"
        fake.wait_for_texts(user, count)
    choices = fake.texts_to(user)[-1]
    assert "请回复序号选择：\n1. " in choices
    assert post_plain(rasa_wechat, fw.text_xml(user, "1", msg_id())).text == "success"
    answer = fake.wait_for_texts(user, 4)[-1]
    assert "订单" in answer and "状态" in answer
    picked = tracker_user_texts(rasa_wechat, user)[-1]
    assert picked.startswith("/"), picked  # the button's payload, not the digit


def test_answers_arrive_in_the_order_of_the_messages(
    rasa_wechat: str, fake: fw.FakeWeChat
) -> None:
    user, first = openid(), msg_id()
    assert post_plain(rasa_wechat, fw.text_xml(user, "你好", first)).text == "success"
    assert post_plain(rasa_wechat, fw.text_xml(user, "今天天气怎么样", first + 1)).text == "success"
    greeting, out_of_scope = fake.wait_for_texts(user, 2)
    assert "您好" in greeting
    assert "订单" in out_of_scope
    assert tracker_user_texts(rasa_wechat, user) == ["你好", "今天天气怎么样"]
