"""Speed of the supervisor's reports on many synthetic conversations (issue 25).

Usage: python -m evaluation.reports_bench [--conversations 100000] [--days 30] [--keep DIR]

Writes N synthetic conversations into a throwaway tracker store (Rasa's `events` table:
session start, customer messages with their parse results, the bot's actions and replies)
and a throwaway handoff store (a fifth of them handed off, with waits and outcomes), then
prints the time to get the 30-day report:

- naive full scan (the baseline): read every customer event of the tracker store and fold
  it into conversations on each request, no summary table;
- cold: rebuild the summary table from the tracker store, then the report;
- incremental: 1% more conversations arrive, refresh the summary, then the report;
- incremental, no new traffic but a handoff changed state: refresh, report computed again;
- warm: nothing new, the report again (what most page loads cost: a cached report).

The synthetic texts are generated from a few templates: they exercise sizes, not the NLU.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from handoff import reports
from handoff.store import Store, handoffs

# Intents with their topic (bot/topics.yml) and a few phrasings each.
INTENTS = {
    "ask_order_status": ["我的快递到哪了", "订单{n}什么时候发货", "查一下物流"],
    "request_refund": ["我要退款", "申请退款订单{n}", "不想要了能退钱吗"],
    "payment_failed": ["付款一直失败", "支付不了怎么回事"],
    "request_invoice": ["开一张发票", "发票怎么开"],
    "report_delivery_issue": ["快递显示签收但我没收到", "包裹破损了"],
    "complaint": ["你们服务太差了", "我要投诉"],
    "greet": ["你好", "在吗"],
    "request_human": ["转人工", "我要找真人客服"],
}
MISSED = ["帮我订张机票", "今天天气怎么样", "你们老板是谁", "给我讲个笑话", "附近有什么好吃的",
          "快递被狗叼走了", "手机充不进电", "电视机遥控器怎么配对{n}"]
CHANNELS = ["rest", "socketio", "socketio", "wechat"]
REASONS = ["explicit_request", "complaint", "emotion_frustration", "repeated_fallback"]


def tracker_table(meta: sa.MetaData) -> sa.Table:
    """Rasa's SQLTrackerStore events table."""
    return sa.Table(
        "events", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sender_id", sa.String(255), nullable=False, index=True),
        sa.Column("type_name", sa.String(255), nullable=False),
        sa.Column("timestamp", sa.Float),
        sa.Column("intent_name", sa.String(255)),
        sa.Column("action_name", sa.String(255)),
        sa.Column("data", sa.Text),
    )


def conversation(rng: random.Random, index: int, start: float, days: int
                 ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The events of one synthetic conversation, and its handoff (or None)."""
    sender = f"bench-{index:07d}"
    # Busier afternoons and evenings (Beijing time = UTC+8).
    at = start + rng.randrange(days) * 86400 + rng.choice([2, 3, 6, 7, 11, 12, 13]) * 3600 \
        + rng.random() * 3600
    channel = rng.choice(CHANNELS)
    events = [_event(sender, "action", at, action="action_session_start"),
              _event(sender, "session_started", at)]
    handed = None
    for _turn in range(rng.randint(1, 6)):
        at += rng.uniform(5, 60)
        if rng.random() < 0.12:
            text, intent, confidence = rng.choice(MISSED), "nlu_fallback", 0.2
        else:
            intent = rng.choice(list(INTENTS))
            text, confidence = rng.choice(INTENTS[intent]), rng.uniform(0.45, 1.0)
        text = text.format(n=rng.randint(100000, 999999))
        label = rng.choices(["calm", "upset", "angry"], [0.8, 0.15, 0.05])[0]
        parse = {"text": text, "intent": {"name": intent, "confidence": confidence},
                 "entities": [], "emotion": {"label": label, "score": 0.5}}
        events.append(_event(sender, "user", at, intent=intent, text=text, parse=parse,
                             channel=channel))
        events.append(_event(sender, "action", at + 0.2, action="utter_reply"))
        events.append(_event(sender, "bot", at + 0.3, text="好的"))
        if intent == "request_human" and handed is None:
            handed = _handoff(rng, sender, channel, at + 1)
    if handed is None and rng.random() < 0.1:
        handed = _handoff(rng, sender, channel, at + 1)
    return events, handed


def _event(sender: str, kind: str, at: float, action: str | None = None,
           intent: str | None = None, text: str | None = None,
           parse: dict[str, Any] | None = None, channel: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"event": kind, "timestamp": at}
    if kind == "user":
        data.update(text=text, parse_data=parse, input_channel=channel)
    elif kind == "action":
        data["name"] = action
    elif kind == "bot":
        data["text"] = text
    return {"sender_id": sender, "type_name": kind, "timestamp": at, "intent_name": intent,
            "action_name": action, "data": json.dumps(data, ensure_ascii=False)}


def _handoff(rng: random.Random, sender: str, channel: str, at: float) -> dict[str, Any]:
    status = rng.choices(["resolved", "handed_back", "abandoned", "cancelled"],
                         [0.7, 0.15, 0.1, 0.05])[0]
    claimed = at + rng.expovariate(1 / 120) if status in ("resolved", "handed_back") else None
    closed = (claimed or at) + rng.expovariate(1 / 300)
    return {"id": f"h{sender[-7:]}", "idempotency_key": sender, "conversation_id": sender,
            "channel": channel, "customer_id": None, "reason": rng.choice(REASONS),
            "priority": rng.choice(["normal", "normal", "high", "urgent"]), "priority_rank": 2,
            "status": status, "topic": None, "summary": "", "payload": "{}", "bot_paused": True,
            "requested_at": at, "created_at": at, "claimed_at": claimed, "closed_at": closed,
            "agent_id": None}


def generate(tracker_url: str, store: Store, first: int, count: int, start: float,
             days: int, seed: int = 7) -> None:
    """Write conversations first..first+count into the two stores."""
    rng = random.Random(seed + first)
    meta = sa.MetaData()
    events = tracker_table(meta)
    engine = sa.create_engine(tracker_url, future=True)
    meta.create_all(engine)
    for chunk in _chunks(range(first, first + count), 5000):
        rows, handed = [], []
        for index in chunk:
            conversation_events, handoff = conversation(rng, index, start, days)
            rows.extend(conversation_events)
            if handoff:
                handed.append(handoff)
        with engine.begin() as db:
            db.execute(events.insert(), rows)
        if handed:
            with store.engine.begin() as db:
                db.execute(handoffs.insert(), handed)
    engine.dispose()


def _chunks(items: range, size: int) -> Iterator[range]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def timed(action: Any) -> tuple[float, Any]:
    """(seconds, result) of a call."""
    began = time.perf_counter()
    result = action()
    return time.perf_counter() - began, result


def naive(tracker: sa.engine.Engine, store: Store, span: reports.DateRange) -> dict[str, Any]:
    """The baseline: every customer event read and folded on each request."""
    rows = (row for batch in reports.read_events(tracker) for row in batch)
    conversations, missed = reports.fold_all(rows)
    conversations = [c for c in conversations if span.start <= c["started_at"] < span.end]
    missed = [m for m in missed if span.start <= m["timestamp"] < span.end]
    handoff_rows = reports.load_handoffs(store.engine, span.start, span.end + 86400)
    return reports.compute(conversations, handoff_rows, missed, [], span)


def run(count: int, days: int, folder: Path) -> dict[str, float]:
    """Generate, then time the four ways; returns the seconds of each."""
    last = date.today()
    span = reports.DateRange(last - timedelta(days=days - 1), last)
    tracker_path = folder / "tracker.db"
    tracker_url = f"sqlite:///{tracker_path}"
    store = Store(f"sqlite:///{folder / 'handoff.db'}")
    seconds, _ = timed(lambda: generate(tracker_url, store, 0, count, span.start, days))
    size = tracker_path.stat().st_size / 1e6
    print(f"generated {count} conversations in {seconds:.1f} s (tracker store {size:.0f} MB)")
    tracker = reports.tracker_engine(tracker_url)
    summary = reports.Summary(store.engine, tracker)

    def report() -> dict[str, Any]:
        return summary.report(span)  # what the service does on each request

    reports.group_missed([{"text": t, "sender_id": "x", "intent": None, "timestamp": 0,
                           "confidence": None, "reason": "nlu_fallback"} for t in MISSED[:3]])
    figures: dict[str, float] = {}
    figures["naive full scan (baseline)"], baseline = timed(lambda: naive(tracker, store, span))
    figures["cold: rebuild summary + report"], _ = timed(lambda: (summary.rebuild(), report()))
    extra = max(1, count // 100)
    generate(tracker_url, store, count, extra, span.start, days)
    figures[f"incremental: +{extra} conversations, refresh + report"], fresh = timed(report)
    with store.engine.begin() as db:  # an agent closes a handoff
        db.execute(handoffs.update().where(handoffs.c.status == "resolved")
                   .where(handoffs.c.id == sa.select(sa.func.min(handoffs.c.id)).where(
                       handoffs.c.status == "resolved").scalar_subquery())
                   .values(status="handed_back"))
    figures["a handoff changed: report computed again"], fresh = timed(report)
    figures["warm: nothing new, report"], _ = timed(report)
    naive_after = naive(tracker, store, span)
    same = _comparable(fresh) == _comparable(naive_after)
    print(f"conversations in the report: {fresh['totals']['conversations']} "
          f"(baseline before the increment: {baseline['totals']['conversations']}); "
          f"summary and full scan agree: {same}")
    width = max(len(k) for k in figures)
    print(f"\n{'way':<{width}}  seconds")
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:7.2f}")
    return figures


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The figures two ways of computing must agree on (group order may tie-break apart)."""
    data = {k: v for k, v in report.items() if k != "fallback"}
    data["fallback"] = {k: report["fallback"][k] for k in ("messages", "rate", "by_reason")}
    data["groups"] = sorted(g["messages"] for g in report["fallback"]["groups"])
    return data


def main() -> None:
    """Run the benchmark in a temporary folder (kept with --keep)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--keep", type=Path, help="write the stores here and keep them")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="reports-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        run(args.conversations, args.days, folder)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
