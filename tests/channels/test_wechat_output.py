"""How bot answers become WeChat messages (numbered buttons, one message per turn, long answers
split) and the access-token handling of the API client, against the fake WeChat API over HTTP."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.channels.store import ChannelStore
from bot.channels.wechat import (
    MAX_TEXT_BYTES,
    WeChatInput,
    WeChatOutput,
    choose_button,
    dedup_key,
    parse_xml,
    render,
    split_text,
)
from bot.channels.wechat_api import WeChatApi, WeChatApiError
from tests.channels import fake_wechat as fw

BUTTONS = [{"title": "退货运费谁出", "payload": "/faq/returns_shipping_fee"},
           {"title": "都不是", "payload": "/deny"}]


@pytest.fixture
def fake() -> Iterator[fw.FakeWeChat]:
    with fw.FakeWeChat() as server:
        yield server


@pytest.fixture
def output(fake: fw.FakeWeChat, tmp_path: Path) -> WeChatOutput:
    return WeChatOutput(WeChatApi(fw.APPID, fw.SECRET, fake.base_url),
                        ChannelStore(tmp_path / "state.db"))


def test_buttons_become_numbered_lines() -> None:
    text, buttons = render({"text": "您是想问以下哪个问题？", "buttons": BUTTONS})
    assert text == "您是想问以下哪个问题？\n请回复序号选择：\n1. 退货运费谁出\n2. 都不是"
    assert buttons == BUTTONS


def test_a_number_or_the_exact_title_picks_a_button() -> None:
    assert choose_button("1", BUTTONS) == "/faq/returns_shipping_fee"
    assert choose_button(" 2。", BUTTONS) == "/deny"
    assert choose_button("都不是", BUTTONS) == "/deny"
    assert choose_button("3", BUTTONS) is None
    assert choose_button("退货运费谁出呀", BUTTONS) is None


def test_a_turn_goes_out_as_one_message_with_buttons_numbered_across(
    output: WeChatOutput, fake: fw.FakeWeChat
) -> None:
    messages = [
        {"text": "让您久等了，非常抱歉。"},
        {"text": "请选择订单：", "buttons": BUTTONS[:1]},
        {"text": "", "buttons": BUTTONS[1:]},
        {"custom": {"handoff": {"state": "queued", "position": 2}}},
    ]
    asyncio.run(output.deliver_turn("wechat_o1", messages))
    assert fake.texts_to("o1") == [
        "让您久等了，非常抱歉。\n\n请选择订单：\n请回复序号选择：\n1. 退货运费谁出"
        "\n\n请回复序号选择：\n2. 都不是"
    ]
    assert output.store.offered_buttons("wechat_o1") == BUTTONS


def test_a_turn_without_buttons_forgets_the_previous_ones(output: WeChatOutput) -> None:
    output.store.offer_buttons("wechat_o1", BUTTONS, ttl=60)
    asyncio.run(output.deliver_turn("wechat_o1", [{"text": "好的"}]))
    assert output.store.offered_buttons("wechat_o1") == []


def test_a_silent_turn_sends_nothing(output: WeChatOutput, fake: fw.FakeWeChat) -> None:
    asyncio.run(output.deliver_turn("wechat_o1", []))
    assert fake.messages == []


def test_long_answers_are_split_under_the_size_limit(
    output: WeChatOutput, fake: fw.FakeWeChat
) -> None:
    long_text = "\n".join(f"第{i}条：" + "物流信息更新" * 20 for i in range(40))
    asyncio.run(output.send_text("wechat_o1", long_text))
    parts = fake.texts_to("o1")
    assert len(parts) > 1
    assert all(len(p.encode("utf-8")) <= MAX_TEXT_BYTES for p in parts)
    assert "\n".join(parts) == long_text


def test_split_cuts_a_single_huge_line_without_losing_characters() -> None:
    line = "😀你好a" * 2000
    parts = split_text(line, limit=100)
    assert "".join(parts) == line
    assert all(len(p.encode("utf-8")) <= 100 for p in parts)


def test_the_token_is_fetched_once_and_reused(fake: fw.FakeWeChat) -> None:
    api = WeChatApi(fw.APPID, fw.SECRET, fake.base_url)
    for i in range(3):
        api.send_text("o1", f"消息{i}")
    assert fake.token_requests == 1
    assert fake.texts_to("o1") == ["消息0", "消息1", "消息2"]


def test_a_rejected_token_is_replaced_once(fake: fw.FakeWeChat) -> None:
    api = WeChatApi(fw.APPID, fw.SECRET, fake.base_url)
    api.send_text("o1", "一")
    fake.valid_tokens.clear()  # e.g. another server fetched a new token: 40001
    api.send_text("o1", "二")
    assert fake.rejected_sends == [40001]
    assert fake.token_requests == 2
    assert fake.texts_to("o1") == ["一", "二"]


def test_system_busy_is_retried_once(fake: fw.FakeWeChat) -> None:
    api = WeChatApi(fw.APPID, fw.SECRET, fake.base_url)
    fake.busy_sends = 1
    api.send_text("o1", "一")
    assert fake.texts_to("o1") == ["一"]
    fake.busy_sends = 2
    with pytest.raises(WeChatApiError) as error:
        api.send_text("o1", "二")
    assert error.value.errcode == -1
    assert fake.texts_to("o1") == ["一"]


def test_a_wrong_secret_is_a_clear_error(fake: fw.FakeWeChat) -> None:
    with pytest.raises(WeChatApiError) as error:
        WeChatApi(fw.APPID, "wrong", fake.base_url).send_text("o1", "你好")
    assert error.value.errcode == 40125


def test_an_unreachable_api_is_logged_not_raised_into_rasa(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.conftest import free_port

    output = WeChatOutput(WeChatApi(fw.APPID, fw.SECRET, f"http://127.0.0.1:{free_port()}"),
                          ChannelStore(tmp_path / "state.db"))
    asyncio.run(output.send_response("wechat_o1", {"text": "你好"}))
    assert "not delivered" in caplog.text


def test_dedup_keys_of_messages_and_events() -> None:
    message = parse_xml(fw.text_xml("o1", "你好", 42, create_time=1700000000))
    assert dedup_key(message) == "msg:42"
    event = parse_xml(fw.event_xml("o1", "subscribe", create_time=1700000000))
    assert dedup_key(event) == "event:o1:1700000000:subscribe:"


def test_voice_with_speech_recognition_is_read_as_text() -> None:
    voice = {"MsgType": "voice", "Recognition": "我的快递到哪了"}
    assert WeChatInput.text_of(voice) == "我的快递到哪了"
    assert WeChatInput.text_of({"MsgType": "voice"}) is None
    assert WeChatInput.text_of({"MsgType": "event", "Event": "unsubscribe"}) is None
    assert WeChatInput.reply_without_bot({"MsgType": "event", "Event": "unsubscribe"}) is None
    assert "文字" in WeChatInput.reply_without_bot({"MsgType": "miniprogrampage"})


@pytest.mark.parametrize(
    ("credentials", "problem"),
    [
        ({"appid": fw.APPID, "secret": fw.SECRET}, "token"),
        ({"token": fw.TOKEN, "appid": "", "secret": fw.SECRET}, "appid"),
        ({"token": fw.TOKEN, "appid": fw.APPID, "secret": fw.SECRET,
          "encoding_aes_key": "too-short"}, "43 characters"),
        ({"token": fw.TOKEN, "appid": fw.APPID, "secret": fw.SECRET,
          "reply_mode": "carrier-pigeon"}, "reply_mode"),
        ({"token": fw.TOKEN, "appid": fw.APPID, "secret": fw.SECRET,
          "dedup_ttl": "an hour"}, "dedup_ttl: value is not a valid float"),
    ],
)
def test_bad_credentials_stop_the_server_with_a_clear_message(
    credentials: dict[str, str], problem: str, tmp_path: Path
) -> None:
    from rasa.shared.exceptions import RasaException

    with pytest.raises(RasaException, match=problem):
        WeChatInput.from_credentials({**credentials, "state_db": str(tmp_path / "s.db")})


def test_safe_mode_refuses_plaintext_callbacks_unless_allowed(tmp_path: Path) -> None:
    from bot.channels.wechat import WeChatCallbackError

    base = {"token": fw.TOKEN, "appid": fw.APPID, "secret": fw.SECRET,
            "encoding_aes_key": fw.AES_KEY, "state_db": str(tmp_path / "s.db")}
    body = fw.text_xml("o1", "你好", 7).encode()
    strict = WeChatInput.from_credentials(base)
    with pytest.raises(WeChatCallbackError) as refused:
        strict.read_callback(fw.plain_query(), body)
    assert refused.value.status == 403
    query, encrypted = fw.encrypted_callback(fw.text_xml("o1", "你好", 7))
    assert strict.read_callback(query, encrypted.encode())["Content"] == "你好"
    lenient = WeChatInput.from_credentials({**base, "allow_plaintext": "true"})
    assert lenient.read_callback(fw.plain_query(), body)["Content"] == "你好"
