"""Demo traffic for the reports page: customers talk to the running bot, agents answer.

Usage: python -m evaluation.demo_traffic [--conversations 300] [--seed 25] [--workers 2]

Needs a running `make run`. Every conversation goes through the bot's own channels over real
HTTP: most through the REST channel, about a third through the website widget's socket.io
channel (those customers then rate the conversation in the widget server, as the widget
does). Nothing is written into a database by hand. The conversations mix topics (orders and
delivery, FAQ questions, refunds, invoices, payment, changes), some customers ask for a human,
some are upset or angry, some ask things the bot does not understand. Afterwards demo agents
(accounts demo-xiaowang, demo-xiaoli, demo-xiaozhao, created or given a new random password
with `python -m handoff`) claim most queued handoffs, reply, and resolve or hand back, so
waits and handling times exist; a few are left in the queue.

The texts are written for this demo; they are not taken from any data set.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import subprocess
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
ORDERS = ["573262229751", "601005551087", "642772014288", "677303879507", "704584422232",
          "522630583082", "822461416274", "836999069892", "762799556063", "204006103405"]
HELLO = ["你好", "在吗", "您好", "hi 在不在", None, None, None]
THANKS = ["好的谢谢", "知道了，谢谢", "行，谢啦", "明白了", None]
HUMAN = ["转人工", "我要找人工客服", "人工", "能不能让真人来处理", "叫你们客服出来"]
MISSED = [
    "帮我订一张明天去成都的高铁票", "帮我订张去北京的机票", "订一张周五去上海的机票",
    "今天北京天气怎么样", "明天会下雨吗", "这周末天气好不好", "给我讲个笑话", "讲个笑话听听",
    "你会唱歌吗", "手机充不进电怎么办", "帮我充一百块话费", "话费怎么充",
    "附近有什么好吃的火锅", "推荐一部好看的电影", "最近有什么好看的电视剧",
    "我家猫不吃饭怎么办", "帮我写一篇请假条", "股票明天会涨吗", "基金要不要卖",
    "那个东西就是那个嘛", "你们那个啥能不能弄一下", "asdkjh", "？？？"]
MISSED_AGAIN: list[str | None] = [None, None, "算了", "你听不懂吗", "帮我订张去深圳的机票",
                                  "后天天气怎么样", *HUMAN[:2]]
# Each journey: (weight, name, turns); a turn is a list of phrasings, None: skip the turn.
JOURNEYS: list[tuple[int, str, list[list[str | None]]]] = [
    (14, "order_status", [HELLO, ["我的快递到哪了", "帮我查下物流", "订单什么时候能到",
                                  "买的东西怎么还没发货", "查一下我的包裹"],
                          ["{order}", "订单号{order}", "单号是 {order}"], THANKS]),
    (10, "faq_shipping", [HELLO, ["运费怎么算", "满多少包邮", "偏远地区能发货吗", "下单后几天能到",
                                  "能指定哪天送货吗", "你们发什么快递"], THANKS]),
    (7, "faq_promotion", [["优惠券怎么用", "领的券为什么用不了", "积分能抵现吗", "会员有什么优惠",
                           "双十一的优惠还有吗"], THANKS]),
    (6, "invoice", [HELLO, ["发票怎么开", "能开增值税专用发票吗", "电子发票在哪里下载",
                            "发票抬头写错了能改吗"], THANKS]),
    (9, "refund", [["我要退款", "怎么申请退款", "退款多久能到账", "退款到哪了"],
                   ["{order}", "订单 {order}"], THANKS]),
    (6, "refund_human", [["退款一直没到账", "我的退款怎么还没退回来", "申请了退款一直没人处理"],
                         ["{order}"], HUMAN]),
    (6, "angry", [["你们这什么破服务，等了一个礼拜了还没发货！", "气死我了，东西是坏的还不给退",
                   "太过分了，客服电话一直打不通", "垃圾平台，再也不买了",
                   "说好昨天到今天还没到，你们到底怎么回事"],
                  ["我要投诉", "必须给我个说法", "赶紧给我处理", None]]),
    (6, "upset_delay", [["等了好几天了快递还没到，有点着急", "物流四天没更新了，怎么回事啊",
                         "都超过预计时间了还没送到"], ["{order}"], ["那麻烦快点", "好吧", None]]),
    (5, "change", [["怎么修改收货地址", "地址填错了能改吗", "我想取消订单", "能改一下收货电话吗"],
                   ["{order}"], THANKS]),
    (5, "payment", [["付款一直失败", "支付的时候提示超出限额", "钱扣了订单还显示待付款",
                     "可以用花呗分期吗"], THANKS]),
    (4, "human_direct", [HELLO, HUMAN]),
    (14, "misunderstood", [MISSED, MISSED_AGAIN]),
    (4, "greeting_only", [["你好", "在吗"], ["没事了", "先不用了，谢谢", None]]),
]


@dataclass
class Outcome:
    """What happened in one conversation."""

    sender: str
    journey: str
    channel: str
    messages: int = 0
    handed_off: bool = False
    token: str | None = None
    errors: list[str] = field(default_factory=list)


class RestCustomer:
    """A customer on the bot's REST channel."""

    channel = "rest"

    def __init__(self, rasa_url: str, sender: str) -> None:
        self.url, self.sender, self.token = f"{rasa_url}/webhooks/rest/webhook", sender, None

    def say(self, text: str) -> list[dict[str, Any]]:
        """Send a message; the bot's replies (retried after 429, as a polite client does)."""
        for _ in range(6):
            answer = requests.post(self.url, json={"sender": self.sender, "message": text},
                                   timeout=60)
            if answer.status_code == 429:
                time.sleep(float(answer.headers.get("Retry-After") or 5))
                continue
            answer.raise_for_status()
            return answer.json()
        raise RuntimeError("rate limited six times in a row")

    def close(self) -> None:
        """Nothing to close."""


class WidgetCustomer:
    """A customer in the website widget: Socket.IO v5 over a WebSocket, as the widget speaks it."""

    channel = "socketio"

    def __init__(self, rasa_url: str) -> None:
        import websocket

        url = rasa_url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(url, timeout=60)
        self._expect("0{")
        self.ws.send("40")
        self._expect("40")
        self._emit("session_request", {"session_id": None, "session_token": None})
        name, confirmed = self._next()
        if name != "session_confirm":
            raise RuntimeError(f"unexpected {name}")
        _, given = self._next()
        self.sender, self.token = confirmed, given["token"]

    def _expect(self, prefix: str) -> None:
        packet = self.ws.recv()
        if not packet.startswith(prefix):
            raise RuntimeError(f"unexpected packet {packet[:40]!r}")

    def _emit(self, name: str, data: Any) -> None:
        self.ws.send("42" + json.dumps([name, data], ensure_ascii=False))

    def _next(self, timeout: float = 60) -> tuple[str, Any]:
        self.ws.settimeout(timeout)
        while True:
            packet = self.ws.recv()
            if packet == "2":
                self.ws.send("3")
            elif packet.startswith("42"):
                name, data = json.loads(packet[2:])
                return name, data

    def say(self, text: str) -> list[dict[str, Any]]:
        """Send a message; the bot's replies until it is quiet for a moment."""
        import websocket

        self._emit("user_uttered", {"message": text, "session_id": self.sender})
        replies = [self._next()[1]]
        while True:
            try:
                replies.append(self._next(timeout=1.0)[1])
            except websocket.WebSocketTimeoutException:
                return replies

    def close(self) -> None:
        """Leave the page."""
        self.ws.close()


def converse(rasa_url: str, rng: random.Random, widget: bool) -> Outcome:
    """One customer's conversation along a journey picked by weight."""
    _, name, turns = rng.choices(JOURNEYS, weights=[w for w, _, _ in JOURNEYS])[0]
    customer: RestCustomer | WidgetCustomer = (
        WidgetCustomer(rasa_url) if widget
        else RestCustomer(rasa_url, f"demo-{uuid.uuid4().hex[:12]}"))
    outcome = Outcome(customer.sender, name, customer.channel, token=customer.token)
    order = rng.choice(ORDERS)
    try:
        for turn in turns:
            text = rng.choice(turn)
            if text is None:
                continue
            replies = customer.say(text.format(order=order))
            outcome.messages += 1
            if any("handoff" in (r.get("custom") or {}) for r in replies if isinstance(r, dict)):
                outcome.handed_off = True
                break  # waiting for a human now
            time.sleep(rng.uniform(0.1, 0.6))  # reading and typing
    except (requests.RequestException, RuntimeError, OSError) as error:
        outcome.errors.append(str(error))
    finally:
        customer.close()
    return outcome


def rate(widget_url: str, outcome: Outcome, rng: random.Random, trigger: str) -> bool:
    """The widget customer's satisfaction rating, as the widget posts it."""
    if outcome.journey in ("angry", "misunderstood"):
        rating = rng.choice([1, 2, 2, 3])
    elif outcome.journey in ("upset_delay", "refund_human"):
        rating = rng.choice([2, 3, 4, 4])
    else:
        rating = rng.choice([3, 4, 5, 5, 5])
    comments = ["", "", "回复挺快的", "问题没解决", "希望能更快一点"]
    comment = rng.choice(comments) if rating <= 3 else ""
    answer = requests.post(f"{widget_url}/api/csat", timeout=30, json={
        "session_id": outcome.sender, "rating": rating, "episode": "demo:1", "trigger": trigger,
        "comment": comment}, headers={"X-Session-Token": outcome.token or ""})
    return answer.status_code == 201


def demo_agents(handoff_url: str) -> list[requests.Session]:
    """Logged-in sessions of the demo agents (created, or given a new random password)."""
    sessions = []
    for username, display in (("demo-xiaowang", "小王"), ("demo-xiaoli", "小李"),
                              ("demo-xiaozhao", "小赵")):
        password = secrets.token_urlsafe(12)
        command = [sys.executable, "-m", "handoff", "create-agent", username, "--display-name",
                   display, "--password-stdin"]
        made = subprocess.run(command, input=password + "\n", text=True, capture_output=True,
                              cwd=ROOT, env=os.environ)
        if made.returncode != 0:
            subprocess.run([sys.executable, "-m", "handoff", "set-password", username,
                            "--password-stdin"], input=password + "\n", text=True,
                           capture_output=True, cwd=ROOT, env=os.environ, check=True)
        session = requests.Session()
        answer = session.post(f"{handoff_url}/api/v1/auth/login", timeout=30,
                              json={"username": username, "password": password})
        answer.raise_for_status()
        session.headers["Authorization"] = f"Bearer {answer.json()['token']}"
        session.display = display  # type: ignore[attr-defined]
        sessions.append(session)
    return sessions


REPLIES = ["您好，我是客服{name}，您的问题我来跟进，请稍等。",
           "您好，这边是人工客服{name}，我先帮您查一下订单情况。",
           "久等了，我是{name}，非常抱歉给您带来不便，我马上处理。"]


def work_queue(handoff_url: str, agents: list[requests.Session], rng: random.Random,
               leave: int = 3) -> Counter:
    """Agents claim the queued handoffs (all but `leave`), reply, then resolve or hand back."""
    done: Counter = Counter()
    first = agents[0]
    queued = first.get(f"{handoff_url}/api/v1/handoffs?status=queued", timeout=30).json()
    items = queued["handoffs"][leave:] if len(queued["handoffs"]) > leave else []
    for handoff in items:
        agent = rng.choice(agents)
        base = f"{handoff_url}/api/v1/handoffs/{handoff['id']}"
        time.sleep(rng.uniform(0.5, 3.0))  # the agent finishes what they were doing
        if agent.post(f"{base}/claim", timeout=30).status_code != 200:
            continue
        text = rng.choice(REPLIES).format(name=agent.display)  # type: ignore[attr-defined]
        agent.post(f"{base}/messages", json={"text": text}, timeout=30)
        time.sleep(rng.uniform(1.0, 6.0))  # the conversation with the customer
        action = "handback" if rng.random() < 0.2 else "resolve"
        answer = agent.post(f"{base}/{action}", timeout=30)
        done[action if answer.status_code == 200 else f"{action}_failed"] += 1
        done[handoff["conversation_id"]] = 1
    return done


def main() -> int:
    """Drive the conversations, then let the agents work the queue; print a summary."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument("--workers", type=int, default=2, help="customers at the same time")
    parser.add_argument("--widget-share", type=float, default=0.33)
    args = parser.parse_args()
    rasa_url = os.environ.get("RASA_URL") or f"http://127.0.0.1:{os.environ.get('RASA_PORT', 5005)}"
    handoff_url = os.environ.get("HANDOFF_URL", "http://127.0.0.1:8000").rstrip("/")
    widget_url = os.environ.get("WIDGET_URL") or \
        f"http://127.0.0.1:{os.environ.get('WIDGET_PORT', 8080)}"
    for name, url in (("Rasa", f"{rasa_url}/"), ("handoff service", f"{handoff_url}/health"),
                      ("widget server", f"{widget_url}/health")):
        try:
            requests.get(url, timeout=5).raise_for_status()
        except requests.RequestException as error:
            print(f"{name} is not reachable at {url} ({error}); start `make run` first",
                  file=sys.stderr)
            return 2
    rng = random.Random(args.seed)
    plan = [(random.Random(rng.random()), rng.random() < args.widget_share)
            for _ in range(args.conversations)]
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        outcomes = list(pool.map(lambda p: converse(rasa_url, p[0], p[1]), plan))
    print(f"{len(outcomes)} conversations in {time.monotonic() - began:.0f} s: "
          f"{sum(o.messages for o in outcomes)} customer messages, "
          f"{sum(o.handed_off for o in outcomes)} asked for or got a human, "
          f"{sum(1 for o in outcomes if o.errors)} with errors")
    rated = sum(rate(widget_url, o, rng, "goodbye") for o in outcomes
                if o.channel == "socketio" and not o.handed_off and not o.errors)
    time.sleep(2)  # the handoff service has read the last requests
    worked = work_queue(handoff_url, demo_agents(handoff_url), rng)
    rated += sum(rate(widget_url, o, rng, "closed") for o in outcomes
                 if o.channel == "socketio" and o.handed_off and worked.get(o.sender))
    print(f"agents: {worked.get('resolve', 0)} resolved, {worked.get('handback', 0)} handed "
          f"back; widget customers gave {rated} ratings")
    print(f"journeys: {dict(Counter(o.journey for o in outcomes))}")
    errors = [e for o in outcomes for e in o.errors]
    if errors:
        print(f"first error: {errors[0]}", file=sys.stderr)
    return 0 if len(errors) < len(outcomes) / 10 else 1


if __name__ == "__main__":
    sys.exit(main())
