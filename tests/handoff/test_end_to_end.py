"""The handoff end to end, with real processes: a customer on the REST channel of a real Rasa
server, the real action server, the handoff service following Rasa's event stream, and an
agent using the service's API as the console does."""
from __future__ import annotations

import os
import time
import uuid
from typing import Any
from urllib.parse import quote

import requests

from bot.channels.rest import CANCELLING, FORWARDED
from tests.handoff.conftest import Service, wait_for

TOKEN = os.environ.get("RASA_AUTH_TOKEN", "")


def say(rasa: str, sender: str, text: str) -> list[dict[str, Any]]:
    resp = requests.post(f"{rasa}/webhooks/rest/webhook", timeout=60,
                         json={"sender": sender, "message": text})
    assert resp.status_code == 200, resp.text
    return resp.json()


def texts(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def states(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r["custom"]["handoff"] for r in replies if "handoff" in (r.get("custom") or {})]


def tracker(rasa: str, sender: str) -> dict[str, Any]:
    resp = requests.get(f"{rasa}/conversations/{quote(sender)}/tracker", timeout=30,
                        params={"token": TOKEN})
    assert resp.status_code == 200, resp.text
    return resp.json()


def bot_texts(rasa: str, sender: str) -> list[str]:
    return [e.get("text") or "" for e in tracker(rasa, sender)["events"] if e["event"] == "bot"]


def open_handoff(service: Service, sender: str) -> dict[str, Any]:
    found = wait_for(lambda: service.handoffs_of(sender))
    assert len(found) == 1, found
    return service.get(f"/api/v1/handoffs/{found[0]['id']}").json()


def drain_queue(service: Service, agent: dict[str, str]) -> None:
    """Close what earlier tests left queued in the session's service (their handoffs arrive
    from the bot's outbox): behind a long queue the customer is offered a message instead of
    a waiting time, which is not what this test is about."""
    rows = service.get("/api/v1/handoffs?status=queued").json()["handoffs"]
    for row in rows:
        if service.post(f"/api/v1/handoffs/{row['id']}/claim", headers=agent).status_code == 200:
            service.post(f"/api/v1/handoffs/{row['id']}/resolve", headers=agent)


def test_an_agent_takes_over_a_rest_conversation_and_hands_it_back(
        rasa_server: str, handoff_service: Service) -> None:
    sender = f"e2e-{uuid.uuid4().hex[:8]}"
    agent = handoff_service.agent("e2e-wang", "小王")  # an agent is online
    drain_queue(handoff_service, agent)
    assert "您好" in texts(say(rasa_server, sender, "你好"))

    # The customer asks for a human and hears their place in the queue and the wait.
    replies = say(rasa_server, sender, "转人工")
    [queued] = states(replies)
    assert queued["state"] == "queued" and queued["position"] >= 1 and queued["eta_minutes"] >= 1
    assert "排在第" in texts(replies) and "算了不用了" in texts(replies)
    assert tracker(rasa_server, sender)["paused"] is True

    # The handoff arrives with the whole transcript, reason and summary.
    handoff = open_handoff(handoff_service, sender)
    assert handoff["status"] == "queued" and handoff["reason"] == "explicit_request"
    assert handoff["channel"] == "rest" and "客户主动要求人工" in handoff["summary"]
    said = [(t["sender"], t["text"]) for t in handoff["transcript"]]
    assert said[0] == ("customer", "你好") and ("customer", "转人工") in said
    assert any(sender_ == "bot" and "您好" in text for sender_, text in said)
    assert handoff["transcript"][0]["intent"]["name"] == "greet"

    # The agent claims it and replies; both reach the customer's conversation.
    base = f"/api/v1/handoffs/{handoff['id']}"
    assert handoff_service.post(f"{base}/claim", headers=agent).status_code == 200
    reply = "您好，我是客服小王，您的问题我来跟进。请问是哪个订单？"
    assert handoff_service.post(f"{base}/messages", {"text": reply},
                                headers=agent).status_code == 201
    events = tracker(rasa_server, sender)["events"]
    relayed = [e for e in events if e["event"] == "bot" and e.get("text") == reply]
    assert relayed and relayed[0]["metadata"]["handoff"]["state"] == "agent_message"
    assert any("小王" in t and "接入" in t for t in bot_texts(rasa_server, sender))
    # REST answers only inside its own request: REST integrations poll the customer feed.
    feed = handoff_service.get(f"/api/v1/conversations/{sender}/messages").json()["messages"]
    assert [m["custom"]["handoff"]["state"] for m in feed] == ["agent_joined", "agent_message"]
    assert feed[-1]["text"] == reply

    # The customer answers: the bot only says it went to the agent, who sees it live.
    assert texts(say(rasa_server, sender, "订单号573262229751，退款一直没到")) == FORWARDED

    def live() -> list[dict[str, Any]]:
        rows = handoff_service.get(f"{base}/messages?after=0", headers=agent).json()["messages"]
        return [m for m in rows if m["source"] == "live"]

    [message] = wait_for(live)
    assert message["text"] == "订单号573262229751，退款一直没到"

    # Hand back: the customer is told and the bot answers again.
    assert handoff_service.post(f"{base}/handback", headers=agent).status_code == 200
    assert tracker(rasa_server, sender)["paused"] is False
    assert any("智能助手" in t for t in bot_texts(rasa_server, sender))
    assert "您好" in texts(say(rasa_server, sender, "你好"))
    final = handoff_service.get(base).json()
    assert final["status"] == "handed_back"
    assert [t["sender"] for t in final["transcript"]].count("agent") == 1


def test_never_mind_while_waiting_cancels_and_the_bot_resumes(
        rasa_server: str, handoff_service: Service) -> None:
    sender = f"e2e-{uuid.uuid4().hex[:8]}"
    say(rasa_server, sender, "转人工")
    handoff = open_handoff(handoff_service, sender)
    assert texts(say(rasa_server, sender, "算了不用了")) == CANCELLING

    def cancelled() -> bool:
        return handoff_service.get(f"/api/v1/handoffs/{handoff['id']}").json()["status"] \
            == "cancelled"

    wait_for(cancelled)
    assert tracker(rasa_server, sender)["paused"] is False
    assert any("已为您取消人工客服" in t for t in bot_texts(rasa_server, sender))
    assert "您好" in texts(say(rasa_server, sender, "你好"))


def test_a_handoff_made_while_the_service_is_down_is_delivered_once_when_it_returns(
        rasa_server: str, handoff_service: Service) -> None:
    sender = f"e2e-{uuid.uuid4().hex[:8]}"
    handoff_service.stop()
    try:
        replies = say(rasa_server, sender, "我要人工客服")
        # Told honestly, and the bot keeps helping meanwhile.
        assert "暂时连接不上" in texts(replies) and "不需要重复申请" in texts(replies)
        assert states(replies)[0]["position"] is None
        assert tracker(rasa_server, sender)["paused"] is False
        again = texts(say(rasa_server, sender, "转人工"))
        assert "已经保存" in again
    finally:
        handoff_service.start()
    handoff = open_handoff(handoff_service, sender)  # the outbox retries every second
    assert handoff["status"] == "queued" and handoff["bot_paused"] is False
    # The service tells the customer their place once the handoff arrives.
    feed = wait_for(lambda: handoff_service.get(
        f"/api/v1/conversations/{sender}/messages").json()["messages"])
    assert feed[0]["custom"]["handoff"]["state"] == "queued"
    time.sleep(3)  # several more retry rounds of the outbox
    assert len(handoff_service.handoffs_of(sender)) == 1
    # Asking again now joins the same handoff.
    say(rasa_server, sender, "转人工")
    assert len(handoff_service.handoffs_of(sender)) == 1


def test_high_risk_words_go_to_the_front_of_the_queue(
        rasa_server: str, handoff_service: Service) -> None:
    for text in ["再不给我退款我就去报警", "我已经找了律师准备起诉你们", "我要打12315投诉你们",
                 "你们这样我就发微博曝光"]:
        sender = f"e2e-{uuid.uuid4().hex[:8]}"
        replies = say(rasa_server, sender, text)
        assert "优先处理" in texts(replies), (text, texts(replies))
        handoff = open_handoff(handoff_service, sender)
        assert (handoff["reason"], handoff["priority"]) == ("high_risk", "urgent"), text


def test_restarting_the_conversation_while_waiting_ends_the_handoff(
        rasa_server: str, handoff_service: Service) -> None:
    sender = f"e2e-{uuid.uuid4().hex[:8]}"
    say(rasa_server, sender, "转人工")
    handoff = open_handoff(handoff_service, sender)
    say(rasa_server, sender, "/restart")

    def ended() -> dict[str, Any] | None:
        current = handoff_service.get(f"/api/v1/handoffs/{handoff['id']}").json()
        return current if current["status"] == "cancelled" else None

    wait_for(ended)
    assert tracker(rasa_server, sender)["paused"] is False
    assert "您好" in texts(say(rasa_server, sender, "你好"))
    assert len(handoff_service.handoffs_of(sender)) == 1


def test_a_hand_back_with_an_open_question_lets_the_real_bot_answer_it(
        rasa_server: str, handoff_service: Service) -> None:
    sender = f"e2e-{uuid.uuid4().hex[:8]}"
    agent = handoff_service.agent("e2e-zhao", "小赵")
    say(rasa_server, sender, "转人工")
    handoff = open_handoff(handoff_service, sender)
    base = f"/api/v1/handoffs/{handoff['id']}"
    assert handoff_service.post(f"{base}/claim", headers=agent).status_code == 200
    assert handoff_service.post(f"{base}/messages", {"text": "您好，请问有什么可以帮您？"},
                                headers=agent).status_code == 201
    say(rasa_server, sender, "我的退款什么时候到账")
    wait_for(lambda: [m for m in handoff_service.get(f"{base}/messages?after=0", headers=agent)
                      .json()["messages"] if m["source"] == "live"])
    assert handoff_service.post(f"{base}/handback", headers=agent).status_code == 200
    events = tracker(rasa_server, sender)["events"]
    bots = [e for e in events if e["event"] == "bot"]
    notice = next(i for i, e in enumerate(bots)
                  if (e.get("metadata") or {}).get("handoff", {}).get("state") == "bot_back")
    assert "处理完毕" not in bots[notice]["text"] and "退款什么时候到账" in bots[notice]["text"]
    answers = [e["text"] for e in bots[notice + 1:] if not (e.get("metadata") or {}).get("handoff")]
    assert answers, "the bot did not pick the question up"
    assert tracker(rasa_server, sender)["paused"] is False
    assert events[-1]["event"] == "action" and events[-1]["name"] == "action_listen"
    # REST integrations read the bot's answer from the customer feed as well.
    feed = handoff_service.get(f"/api/v1/conversations/{sender}/messages").json()["messages"]
    assert answers[0] in [m["text"] for m in feed]
