"""Passive reply mode (accounts without the customer-service API): the answer is the
callback's HTTP response, encrypted and signed in safe mode; an answer slower than WeChat's
5 s is collected by WeChat's retry. Real HTTP against the channel on a Sanic server."""
from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator

import pytest
import requests

from bot.channels.wechat import parse_xml
from bot.channels.wechat_crypto import WeChatCrypto, sign
from tests.channels import fake_wechat as fw
from tests.conftest import free_port, start_process, stop_process, wait_until_up


@pytest.fixture(scope="module")
def fake() -> Iterator[fw.FakeWeChat]:
    with fw.FakeWeChat() as server:
        yield server


@pytest.fixture(scope="module")
def passive(fake: fw.FakeWeChat, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("passive")
    port, log = free_port(), tmp / "passive.log"
    env = {"WECHAT_TOKEN": fw.TOKEN, "WECHAT_APPID": fw.APPID, "WECHAT_SECRET": fw.SECRET,
           "WECHAT_AES_KEY": fw.AES_KEY, "WECHAT_API_BASE": fake.base_url,
           "WECHAT_STATE_DB": str(tmp / "state.db")}
    process = start_process([sys.executable, "-m", "tests.channels.passive_server", str(port)],
                            log, env)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/webhooks/wechat/", process, log, timeout=60)
        yield f"http://127.0.0.1:{port}/webhooks/wechat/webhook"
    finally:
        stop_process(process)


def post(url: str, query: dict[str, str], body: str, timeout: float = 10) -> requests.Response:
    return requests.post(url, params=query, data=body.encode("utf-8"), timeout=timeout)


def test_plaintext_callback_is_answered_in_its_response(
    passive: str, fake: fw.FakeWeChat
) -> None:
    user = "o" + secrets.token_hex(8)
    response = post(passive, fw.plain_query(), fw.text_xml(user, "你好", 1))
    assert response.status_code == 200
    reply = parse_xml(response.content)
    assert reply["ToUserName"] == user
    assert reply["FromUserName"] == fw.ACCOUNT
    assert reply["MsgType"] == "text"
    assert reply["Content"] == "收到：你好"
    assert fake.texts_to(user) == []  # nothing through the customer-service API




def test_safe_mode_callback_gets_an_encrypted_signed_answer(passive: str) -> None:
    user = "o" + secrets.token_hex(8)
    query, body = fw.encrypted_callback(fw.text_xml(user, "查订单 ]]> <b>", 2))
    response = post(passive, query, body)
    assert response.status_code == 200
    outer = parse_xml(response.content)
    assert set(outer) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert outer["MsgSignature"] == sign(fw.TOKEN, outer["TimeStamp"], outer["Nonce"],
                                         outer["Encrypt"])
    reply = parse_xml(WeChatCrypto(fw.AES_KEY, fw.APPID).decrypt(outer["Encrypt"]))
    assert reply["ToUserName"] == user
    assert reply["Content"] == "收到：查订单 ]]> <b>"


def test_a_slow_answer_is_collected_by_wechat_s_retry(passive: str, fake: fw.FakeWeChat) -> None:
    user = "o" + secrets.token_hex(8)
    xml = fw.text_xml(user, "慢慢说", 3)
    first = post(passive, fw.plain_query(), xml)
    assert first.text == "success"  # acknowledged without the answer, which was not ready
    retry = post(passive, fw.plain_query(), xml)  # WeChat retries the same MsgId
    assert parse_xml(retry.content)["Content"] == "收到：慢慢说"
    assert fake.texts_to(user) == []


def test_forged_callback_is_refused_in_passive_mode_too(passive: str) -> None:
    user = "o" + secrets.token_hex(8)
    response = post(passive, fw.plain_query(token="guessed"), fw.text_xml(user, "你好", 4))
    assert response.status_code == 403


def test_an_answer_no_retry_collects_goes_out_through_the_api(
    passive: str, fake: fw.FakeWeChat
) -> None:
    user = "o" + secrets.token_hex(8)
    assert post(passive, fw.plain_query(), fw.text_xml(user, "慢一些", 5)).text == "success"
    # WeChat's retries were lost: once the answer stops waiting for them, it is sent.
    assert fake.wait_for_texts(user, timeout=15) == ["收到：慢一些"]
