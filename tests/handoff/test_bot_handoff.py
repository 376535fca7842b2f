"""The bot's side of the handoff: the payload, the delivery with its idempotency key, the
outbox when the service is down, and what the customer is told. Actions run against saved
trackers; the service is the real one (handoff_api) or a closed port."""
from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.basics import ActionRequestHuman
from bot.actions.emotion import ActionEscalate
from bot.clients.handoff import HandoffClient, HandoffMisconfigured, HandoffUnavailable, Ticket
from bot.core.handoff import (
    CHINA,
    MAX_TURNS,
    Outbox,
    Reason,
    build_payload,
    hand_off,
    high_risk,
    idempotency_key,
    in_service_hours,
    retry_once,
    tell_queued,
)
from bot.faq import load_policy
from contracts.handoff import is_cancel
from contracts.masking import mask_sensitive
from contracts.notices import notice
from handoff.config import DEV_TOKEN, Settings, SettingsError
from tests.conftest import free_port
from tests.handoff.conftest import BOT_TOKEN, EventStream, Service
from tests.responses import message_text

T0 = 1_763_800_000.0


def user(text: str, intent: str, at: float, emotion: tuple[str, float] = ("calm", 0.1),
         confidence: float = 0.93) -> dict[str, Any]:
    parse = {"text": text, "intent": {"name": intent, "confidence": confidence},
             "entities": [], "emotion": {"label": emotion[0], "score": emotion[1]}}
    return {"event": "user", "text": text, "timestamp": at, "parse_data": parse,
            "input_channel": "rest"}


def bot(text: str, at: float, **metadata: Any) -> dict[str, Any]:
    return {"event": "bot", "text": text, "timestamp": at, "metadata": metadata}


def conversation(sender: str | None = None, last: str = "转人工",
                 last_intent: str = "request_human",
                 emotion: tuple[str, float] = ("upset", 0.7)) -> Tracker:
    events = [
        user("我的退款到哪了", "ask_refund_status", T0),
        bot("请发一下您的订单号", T0 + 1),
        user("573262229751 扣款的卡是6222 0212 3456 7890 123", "inform", T0 + 10),
        bot("订单 573262229751 的退款情况……", T0 + 11),
        bot("您好，我是客服小李", T0 + 12, handoff={"state": "agent_message", "agent": "小李"}),
        user(last, last_intent, T0 + 20, emotion=emotion),
    ]
    slots = {"order_id": "573262229751", "phone": None, "lookup_attempts": 0,
             "requested_slot": None}
    return Tracker(sender or f"bot-{uuid.uuid4().hex[:8]}", slots, events[-1]["parse_data"],
                   events, False, None, {"name": "action_listen"}, "action_listen")


def test_an_offered_request_put_back_by_the_bot_is_not_in_the_transcript() -> None:
    """「好的」 to the offer of a second request re-sends the request for the bot; the agent
    sees what the customer wrote, and the summary quotes the customer's last real words."""
    put_back = user("优惠券怎么用", "faq", T0 + 31)
    put_back["parse_data"] = {**put_back["parse_data"], "replayed_offer": True}
    del put_back["parse_data"]["emotion"]
    tracker = conversation(last="好的 快点", last_intent="affirm")
    tracker.events.append(put_back)
    tracker.latest_message = put_back["parse_data"]
    payload = build_payload(tracker, Reason.EXPLICIT_REQUEST, "normal")
    customer = [t["text"] for t in payload["transcript"] if t["sender"] == "customer"]
    assert customer[-1] == "好的 快点" and "优惠券怎么用" not in customer
    assert "客户最后说：「好的 快点」" in payload["summary"]
    assert payload["requested_at"] == T0 + 20
    assert payload["emotion"]["latest"] == {"label": "upset", "score": 0.7}


def dead_client() -> HandoffClient:
    return HandoffClient(f"http://127.0.0.1:{free_port()}", BOT_TOKEN, timeout=1)


@pytest.fixture
def service(handoff_api: tuple[Service, EventStream]) -> Service:
    return handoff_api[0]


@pytest.fixture
def client(service: Service) -> HandoffClient:
    return HandoffClient(service.url, BOT_TOKEN)


def test_the_payload_has_the_contract_fields_and_masks_card_numbers() -> None:
    payload = build_payload(conversation("c-42"), Reason.EXPLICIT_REQUEST, "normal")
    assert payload["conversation_id"] == "c-42" and payload["channel"] == "rest"
    assert payload["reason"] == "explicit_request" and payload["priority"] == "normal"
    assert payload["topic"] == "order_status"  # the bare order number is about an order
    assert payload["intent"] == {"name": "inform", "confidence": 0.93}
    assert payload["emotion"]["latest"] == {"label": "upset", "score": 0.7}
    assert payload["slots"] == {"order_id": "573262229751"}
    assert payload["requested_at"] == T0 + 20
    senders = [t["sender"] for t in payload["transcript"]]
    assert senders == ["customer", "bot", "customer", "bot", "agent", "customer"]
    card_turn = payload["transcript"][2]
    assert "6222***********0123" in card_turn["text"] and "0212 3456" not in card_turn["text"]
    assert card_turn["intent"]["name"] == "inform" and card_turn["timestamp"].endswith("+00:00")
    assert payload["transcript"][4]["agent"] == "小李"
    summary = payload["summary"]
    assert "客户主动要求人工" in summary and "订单号 573262229751" in summary
    assert "情绪：不满" in summary and "「转人工」" in summary


def test_the_idempotency_key_is_the_conversation_and_the_turn() -> None:
    tracker = conversation("c-7")
    assert idempotency_key(tracker) == idempotency_key(tracker) == f"c-7:{int((T0 + 20) * 1000)}"


def test_a_delivered_handoff_pauses_the_bot_and_gives_the_queue_place(
        client: HandoffClient, service: Service, tmp_path: Path) -> None:
    tracker = conversation()
    dispatcher = CollectingDispatcher()
    events = hand_off(dispatcher, tracker, Reason.EXPLICIT_REQUEST, client=client,
                      box=Outbox(tmp_path / "outbox.db"))
    assert {"event": "pause", "timestamp": None} in events
    assert dispatcher.messages[-1]["custom"]["handoff"]["state"] == "queued"
    [handoff] = service.handoffs_of(tracker.sender_id)
    assert handoff["reason"] == "explicit_request" and handoff["status"] == "queued"


def test_service_down_keeps_the_handoff_tells_the_truth_and_delivers_it_once_later(
        client: HandoffClient, service: Service, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    tracker = conversation()
    first = CollectingDispatcher()
    events = hand_off(first, tracker, Reason.EXPLICIT_REQUEST, client=dead_client(), box=box)
    assert not any(e.get("event") == "pause" for e in events)  # the bot keeps helping
    assert "暂时连接不上" in message_text(first.messages[-1])
    assert "已经保存" in message_text(first.messages[-1])
    # Asking again while it waits does not queue a second one.
    again = CollectingDispatcher()
    hand_off(again, tracker, Reason.EXPLICIT_REQUEST, client=dead_client(), box=box)
    assert "不需要重复申请" in message_text(again.messages[-1])
    assert len(box.pending()) == 1

    assert box.flush(client) == 1
    assert box.flush(client) == 0 and box.pending() == []
    [handoff] = service.handoffs_of(tracker.sender_id)
    assert handoff["bot_paused"] is False
    # A delivery whose answer was lost is repeated with the same key: still one handoff.
    key, payload = idempotency_key(tracker), build_payload(tracker, Reason.EXPLICIT_REQUEST,
                                                           "normal")
    assert client.create(payload, key).created is False
    assert len(service.handoffs_of(tracker.sender_id)) == 1


def test_the_outbox_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    assert Outbox(path).add("k1", {"conversation_id": "c", "reason": "complaint"})
    assert not Outbox(path).add("k1", {"conversation_id": "c", "reason": "complaint"})
    assert [key for key, _ in Outbox(path).pending()] == ["k1"]


def test_a_wrong_token_is_an_undelivered_handoff(service: Service) -> None:
    with pytest.raises(HandoffUnavailable, match="401"):
        HandoffClient(service.url, "wrong").create(
            build_payload(conversation(), Reason.COMPLAINT, "high"), "k-wrong")


def test_asking_for_a_human_with_high_risk_words_is_urgent(
        client: HandoffClient, service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HandoffClient, "from_env", classmethod(lambda cls: client))
    tracker = conversation(last="再不给我退款我就报警 找律师", last_intent="complaint",
                           emotion=("angry", 0.95))
    dispatcher = CollectingDispatcher()
    ActionEscalate().run(dispatcher, tracker, {})
    texts = [message_text(m) for m in dispatcher.messages]
    assert any("抱歉" in t for t in texts) and any("优先处理" in t for t in texts)
    [handoff] = service.handoffs_of(tracker.sender_id)
    assert (handoff["reason"], handoff["priority"]) == ("high_risk", "urgent")

    calm = conversation(emotion=("calm", 0.1))
    ActionRequestHuman().run(CollectingDispatcher(), calm, {})
    [handoff] = service.handoffs_of(calm.sender_id)
    assert (handoff["reason"], handoff["priority"]) == ("explicit_request", "normal")


def test_a_complaint_goes_with_high_priority(
        client: HandoffClient, service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HandoffClient, "from_env", classmethod(lambda cls: client))
    tracker = conversation(last="你们什么破服务 我要投诉", last_intent="complaint",
                           emotion=("upset", 0.6))
    ActionEscalate().run(CollectingDispatcher(), tracker, {})
    [handoff] = service.handoffs_of(tracker.sender_id)
    assert (handoff["reason"], handoff["priority"]) == ("complaint", "high")


def test_with_no_agent_online_the_customer_hears_when_someone_will_reply() -> None:
    dispatcher = CollectingDispatcher()
    tell_queued(dispatcher, Ticket("h1", "queued", 3, 15, agents_online=0, created=True))
    [message] = dispatcher.messages
    assert "服务时间" in message["text"] and "保留" in message["text"]
    assert message["custom"]["handoff"] == {"state": "queued", "position": 3,
                                            "eta_minutes": None, "agent": None}
    dispatcher = CollectingDispatcher()
    tell_queued(dispatcher, Ticket("h1", "queued", 2, 8, agents_online=1, created=True))
    assert "排在第 2 位" in dispatcher.messages[0]["text"]
    assert "约 8 分钟" in dispatcher.messages[0]["text"]


@pytest.mark.parametrize("hour, inside", [(8, False), (9, True), (21, True), (22, False),
                                          (3, False)])
def test_service_hours_are_read_in_china_time(hour: int, inside: bool) -> None:
    assert in_service_hours("每天 9:00-22:00", datetime(2026, 11, 22, hour, 30, tzinfo=CHINA)) \
        is inside
    assert in_service_hours("随时") is True


@pytest.mark.parametrize("text", ["算了不用了", "算了", "不用了", "不需要了！", "取消转人工",
                                  "不用人工了", "算了 不用了。", "那算了吧", "算了算了不等了"])
def test_never_mind_phrases_cancel(text: str) -> None:
    assert is_cancel(text)


@pytest.mark.parametrize("text", ["算了我还是要退款", "不用了吗", "取消订单",
                                  "我的订单不用了怎么退", "", "😡", "算了不用了" * 5])
def test_other_messages_do_not_cancel(text: str) -> None:
    assert not is_cancel(text)


@pytest.mark.parametrize("text, masked", [
    ("身份证110101199003078515", "身份证1101**********8515"),
    ("11010519491231002X", "1101**********002X"),
    ("卡号 6222-0212-3456-7890", "卡号 6222********7890"),
    ("订单573262229751 手机13812345678", "订单573262229751 手机13812345678"),
])
def test_card_and_id_numbers_are_masked(text: str, masked: str) -> None:
    assert mask_sensitive(text) == masked


def test_high_risk_words() -> None:
    assert all(high_risk(t) for t in ["我要报警", "找律师", "打12315", "曝光你们", "起诉"])
    assert not high_risk("我的快递到哪了")


def test_production_refuses_development_secrets() -> None:
    with pytest.raises(SettingsError, match="HANDOFF_API_TOKEN"):
        Settings.from_env({"HANDOFF_ENV": "production", "RASA_AUTH_TOKEN": "s3cret"})
    with pytest.raises(SettingsError, match="RASA_AUTH_TOKEN"):
        Settings.from_env({"HANDOFF_ENV": "production", "HANDOFF_API_TOKEN": "s3cret"})
    with pytest.raises(SettingsError, match="SHOP_API_TOKEN"):
        Settings.from_env({"HANDOFF_ENV": "production", "HANDOFF_API_TOKEN": "a",
                           "RASA_AUTH_TOKEN": "b"})
    with pytest.raises(SettingsError, match="WIDGET_UPLOADS_TOKEN"):
        Settings.from_env({"HANDOFF_ENV": "production", "HANDOFF_API_TOKEN": "a",
                           "RASA_AUTH_TOKEN": "b", "SHOP_API_TOKEN": "c"})
    settings = Settings.from_env({"HANDOFF_ENV": "production", "HANDOFF_API_TOKEN": "a",
                                  "RASA_AUTH_TOKEN": "b", "SHOP_API_TOKEN": "c",
                                  "WIDGET_UPLOADS_TOKEN": "d",
                                  "HANDOFF_DB_URL": "postgresql://u:p@db/handoff"})
    assert settings.db_url == "postgresql://u:p@db/handoff"


def test_the_payload_is_the_same_for_the_same_turn() -> None:
    tracker = conversation("same")
    first = build_payload(tracker, Reason.JOURNEY_FAILED, "normal")
    assert build_payload(tracker, Reason.JOURNEY_FAILED, "normal") == first
    assert "同一步骤多次失败" in first["summary"]


# --- a refused payload never blocks the outbox ------------------------------------------------

def test_a_payload_the_service_refuses_is_dead_lettered_and_the_next_one_is_delivered(
        client: HandoffClient, service: Service, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    box = Outbox(tmp_path / "outbox.db")
    refused, fine = conversation(), conversation()
    # Kept before the payload was clipped: a customer id the service refuses (400).
    box.add("k-refused", {**build_payload(refused, Reason.COMPLAINT, "high"),
                          "customer_id": "x" * 300})
    box.add("k-fine", build_payload(fine, Reason.EXPLICIT_REQUEST, "normal"))
    with caplog.at_level(logging.ERROR):
        assert box.flush(client) == 1
    assert box.pending() == []
    [dead] = box.dead_letters()
    assert dead["key"] == "k-refused" and "400" in dead["error"]
    assert "k-refused" in caplog.text and "dead-lettered" in caplog.text
    assert len(service.handoffs_of(fine.sender_id)) == 1
    assert service.handoffs_of(refused.sender_id) == []
    assert box.flush(client) == 0  # the dead letter is not tried again


def long_conversation(turns: int, metadata: dict[str, Any]) -> Tracker:
    events = []
    for i in range(turns):
        events.append(user("我的退款到哪了" * 1000 if i == turns - 1 else f"第 {i} 条", "inform",
                           T0 + i))
        events.append(bot("请稍等", T0 + i + 0.5))
    events[-2]["parse_data"]["metadata"] = metadata
    events.pop()
    return Tracker(f"bot-{uuid.uuid4().hex[:8]}", {"order_id": "5" * 6000},
                   events[-1]["parse_data"], events, False, None, {"name": "action_listen"},
                   "action_listen")


def test_huge_fields_are_clipped_so_the_service_takes_the_payload(
        client: HandoffClient, service: Service) -> None:
    tracker = long_conversation(400, {"customer_id": "客" * 400})
    payload = build_payload(tracker, Reason.EXPLICIT_REQUEST, "normal")
    assert len(payload["customer_id"]) <= 255 and payload["customer_id_verified"] is False
    turns = payload["transcript"]
    assert len(turns) <= MAX_TURNS and all(len(t["text"]) <= 5000 for t in turns)
    assert "较早的" in turns[0]["text"] and turns[-1]["text"].endswith("（已截断）")
    assert len(payload["summary"]) <= 5000 and len(payload["slots"]["order_id"]) <= 500
    assert client.create(payload, idempotency_key(tracker)).created
    [handoff] = service.handoffs_of(tracker.sender_id)
    assert handoff["customer_id_verified"] is False


def test_a_refused_token_is_a_configuration_error_that_keeps_the_entries_in_order(
        client: HandoffClient, service: Service, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    box = Outbox(tmp_path / "outbox.db")
    first, second = conversation(), conversation()
    box.add("k-1", build_payload(first, Reason.COMPLAINT, "high"))
    box.add("k-2", build_payload(second, Reason.COMPLAINT, "high"))
    with caplog.at_level(logging.ERROR):
        assert box.flush(HandoffClient(service.url, "wrong")) == 0
    assert "configuration" in caplog.text and "401" in caplog.text
    assert [key for key, _ in box.pending()] == ["k-1", "k-2"] and box.dead_letters() == []
    # Fixed configuration: both go, oldest first.
    assert box.flush(client) == 2
    first_at = service.handoffs_of(first.sender_id)[0]["created_at"]
    assert first_at <= service.handoffs_of(second.sender_id)[0]["created_at"]


def test_the_client_refuses_the_development_token_in_production(
        caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: a sent request would say so
    with caplog.at_level(logging.ERROR):
        refusing = HandoffClient.from_env({"HANDOFF_ENV": "production", "HANDOFF_URL": url})
    assert "HANDOFF_API_TOKEN" in caplog.text
    with pytest.raises(HandoffMisconfigured, match="development"):
        refusing.create({"conversation_id": "c"}, "k")
    for env in ({"HANDOFF_ENV": "production", "HANDOFF_API_TOKEN": "s3cret"},
                {"HANDOFF_API_TOKEN": DEV_TOKEN}, {}):
        assert HandoffClient.from_env({**env, "HANDOFF_URL": url}).refusal is None


# --- the customer's turn and the outbox worker -------------------------------------------------

def test_a_customer_turn_delivers_only_its_own_handoff_and_the_worker_the_backlog(
        client: HandoffClient, service: Service, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    waiting = conversation()
    box.add("k-waiting", {**build_payload(waiting, Reason.COMPLAINT, "high"), "bot_paused": False})
    tracker = conversation()
    dispatcher = CollectingDispatcher()
    hand_off(dispatcher, tracker, Reason.EXPLICIT_REQUEST, client=client, box=box)
    assert dispatcher.messages[-1]["custom"]["handoff"]["state"] == "queued"
    assert len(service.handoffs_of(tracker.sender_id)) == 1
    # Someone else's backlog is not this customer's turn's business ...
    assert [key for key, _ in box.pending()] == ["k-waiting"]
    assert service.handoffs_of(waiting.sender_id) == []
    # ... the worker's round delivers it.
    assert retry_once(box, client, keep_days=7) == 1
    assert len(service.handoffs_of(waiting.sender_id)) == 1


def test_a_payload_refused_in_the_turn_is_dead_lettered_and_the_customer_told(
        client: HandoffClient, service: Service, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    tracker = conversation("x" * 300)  # a conversation id the service cannot take
    dispatcher = CollectingDispatcher()
    events = hand_off(dispatcher, tracker, Reason.EXPLICIT_REQUEST, client=client, box=box)
    assert not any(e.get("event") == "pause" for e in events)
    assert "没有提交成功" in message_text(dispatcher.messages[-1])
    assert box.pending() == [] and len(box.dead_letters()) == 1


def test_delivered_rows_older_than_the_keep_days_are_purged(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    for key in ("old", "recent", "waiting", "dead"):
        box.add(key, {"conversation_id": key})
    box.mark("old")
    box.mark("recent")
    box.mark_dead("dead", "400")
    with sqlite3.connect(box.path) as db:
        db.execute("UPDATE outbox SET delivered_at = ? WHERE key = 'old'",
                   (time.time() - 8 * 86400,))
    assert box.purge(keep_days=7) == 1
    with sqlite3.connect(box.path) as db:
        keys = sorted(k for (k,) in db.execute("SELECT key FROM outbox"))
    assert keys == ["dead", "recent", "waiting"]


# --- who the customer is ---------------------------------------------------------------------

def test_a_customer_id_from_client_metadata_is_unverified_and_wechat_is_verified() -> None:
    rest = conversation("rest-1")
    rest.latest_message["metadata"] = {"customer_id": "vip-001"}
    payload = build_payload(rest, Reason.EXPLICIT_REQUEST, "normal")
    assert (payload["customer_id"], payload["customer_id_verified"]) == ("vip-001", False)

    wechat = conversation("wechat_oAbC123")
    for event in wechat.events:
        if event["event"] == "user":
            event["input_channel"] = "wechat"
    wechat.latest_message["metadata"] = {"channel": "wechat", "wechat": {"openid": "oAbC123"},
                                         "customer_id": "vip-001"}
    payload = build_payload(wechat, Reason.EXPLICIT_REQUEST, "normal")
    assert (payload["customer_id"], payload["customer_id_verified"]) == ("wechat_oAbC123", True)


def test_the_queued_notice_has_one_wording() -> None:
    dispatcher = CollectingDispatcher()
    tell_queued(dispatcher, Ticket("h1", "queued", 2, 8, agents_online=1, created=True))
    text = dispatcher.messages[0]["text"]
    hours = str(load_policy()["service_hours"])
    assert text == notice("queued", position=2, eta_minutes=8, service_hours=hours)
    assert "排在第 2 位" in text and "算了不用了" in text


def test_the_handoff_masks_cards_and_ids_as_the_journeys_recognise_them() -> None:
    from contracts.masking import mask_text
    text = "卡 6222021234567890123，身份证 11010519491231002X，订单 573262229751"
    assert mask_sensitive(text) == mask_text(text)
    assert mask_sensitive("手机13812345678") == "手机13812345678"  # agents need the phone


# --- issue 23: what the customer is promised, and what the agent reads ---------------------

def test_what_the_bot_tells_the_customer_is_in_the_handoffs_transcript(
        client: HandoffClient, service: Service, tmp_path: Path) -> None:
    tracker = conversation()
    dispatcher = CollectingDispatcher()
    hand_off(dispatcher, tracker, Reason.EXPLICIT_REQUEST, client=client,
             box=Outbox(tmp_path / "outbox.db"))
    said = dispatcher.messages[-1]["text"]
    [handoff] = service.handoffs_of(tracker.sender_id)
    transcript = service.get(f"/api/v1/handoffs/{handoff['id']}").json()["transcript"]
    assert transcript[-1]["sender"] == "bot" and transcript[-1]["text"] == said


def test_a_long_wait_is_not_announced_as_is() -> None:
    dispatcher = CollectingDispatcher()
    tell_queued(dispatcher, Ticket("h1", "queued", 77, 385, agents_online=1, created=True))
    [message] = dispatcher.messages
    assert "385" not in message["text"], message["text"]
    assert "留言" in message["text"] and "回电" in message["text"]
    assert message["custom"]["handoff"]["eta_minutes"] is None


def test_the_summary_speaks_to_agents_not_to_developers() -> None:
    payload = build_payload(conversation(last="还是不行", last_intent="nlu_fallback"),
                            Reason.REPEATED_FALLBACK, "normal")
    for internal in ("置信度", "nlu_fallback", "ask_refund_status", "inform", "order_id", "%"):
        assert internal not in payload["summary"], payload["summary"]
    assert "订单与物流" in payload["summary"] and "订单号 573262229751" in payload["summary"]
