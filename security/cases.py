"""The catalogue of hostile requests, per service and endpoint (classes: docs/security-probe.md).

Nothing here sends a destructive request with a valid secret: model loading, unloading and
training of the Rasa HTTP API are only tried without or with wrong tokens, shop changes only
target an order that does not exist, and handoffs are created for `probe.*` conversations.
"""
from __future__ import annotations

import base64
import gzip
import json
import secrets
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any
from urllib.parse import quote

from security.probe import (
    APOLOGY_MARK,
    GREETING,
    TIMEOUT,
    Case,
    Probe,
    Result,
    WidgetClient,
    bot_texts,
)

JSON = {"Content-Type": "application/json"}
REST = "/webhooks/rest/webhook"
NESTED = b"[" * 100_000
SURROGATE_PATH = "%ED%A0%80"  # U+D800 as (invalid) UTF-8 in a URL
INVALID_UTF8 = b"\xff\xfe\xc0\xaf\xed\xa0\x80"
REAL_ORDER = "204006103405"
NO_ORDER = "999999999999"
LONG_NAME = "a" * 5000
BOUNDARY = "probeBoundary7MA4YWxk"


def dumps(data: Any) -> bytes:
    """JSON with Chinese as is; lone surrogates (not encodable) as `\\ud800` escapes."""
    try:
        return json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data).encode("ascii")


@cache
def bomb(kind: str) -> bytes:
    """About 10 KB that expands to 10 MB of spaces: zlib stream ("deflate") or gzip."""
    data = b" " * 10_000_000
    return zlib.compress(data, 9) if kind == "deflate" else gzip.compress(data, 9)


def multipart(fields: dict[str, str]) -> bytes:
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             for k, v in fields.items()]
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
TEXT = {"Content-Type": "text/plain; charset=utf-8"}


def build_catalogue(probe: Probe) -> list[Case]:
    """Every case, grouped by endpoint; the floods of the REST channel come last."""
    from security.cases_desk import (
        activity_cases,
        message_id_cases,
        report_cases,
        upload_cases,
        workbench_cases,
    )

    return (rest_cases(probe) + message_id_cases(probe) + stream_cases(probe)
            + rasa_api_cases(probe) + activity_cases(probe) + engineio_cases(probe)
            + socketio_cases(probe) + action_cases(probe) + shop_cases(probe)
            + handoff_cases(probe) + workbench_cases(probe) + report_cases(probe)
            + widget_cases(probe) + upload_cases(probe) + flood_cases(probe))


# ---- Rasa: REST channel --------------------------------------------------------------


def _rest(probe: Probe, cid: str, klass: str, body: bytes, expect: str, sender: Any = None,
          stream: bool = False, headers: dict[str, str] | None = None,
          follow_up: Any = None) -> Case:
    suffix = "?stream=true" if stream else ""
    return Case(cid, "rasa", f"POST {REST}{suffix}", klass, "POST", REST + suffix,
                JSON if headers is None else headers, body, expect, customer=True,
                sender=sender, stream=stream, follow_up=follow_up)


def _no_default_conversation(marker: str):
    def check(probe: Probe, case: Case, result: Result) -> list[str]:
        tracker = probe.tracker("default") or {}
        texts = [e.get("text") or "" for e in tracker.get("events") or [] if isinstance(e, dict)]
        if any(marker in t for t in texts):
            return ["the message went into the shared conversation `default`"]
        return []
    return check


def _channel_stays_rest(probe: Probe, case: Case, result: Result) -> list[str]:
    tracker = probe.tracker(case.sender) or {}
    problems = []
    if tracker.get("latest_input_channel") not in (None, "rest"):
        problems.append(f"conversation channel became {tracker.get('latest_input_channel')!r}")
    for event in tracker.get("events") or []:
        if not isinstance(event, dict) or event.get("event") != "user":
            continue
        if event.get("input_channel") not in (None, "rest"):
            problems.append(f"user event input_channel {event.get('input_channel')!r}")
            break
        meta = event.get("metadata") or {}
        if isinstance(meta, dict) and ("customer_id_verified" in meta or "customer_id" in meta):
            problems.append("forged metadata stored with the customer's message")
            break
    return problems


def _order_slot_is_text(probe: Probe, case: Case, result: Result) -> list[str]:
    slots = (probe.tracker(case.sender) or {}).get("slots") or {}
    value = slots.get("order_id")
    if value is not None and not isinstance(value, str):
        return [f"slot order_id holds a {type(value).__name__}: {str(value)[:60]}"]
    return []


def _says_too_long(probe: Probe, case: Case, result: Result) -> list[str]:
    texts = "".join(bot_texts(result.body))
    if result.outcome == "2xx" and not any(w in texts for w in ("长", "字数", "简短", "精简")):
        return [f"reply does not say the message is too long: {texts[:60]}"]
    return []


def rest_cases(probe: Probe) -> list[Case]:
    s = probe.sender
    cases: list[Case] = []

    def add(cid: str, klass: str, body: Any, expect: str, sender: Any = None, **kw: Any) -> None:
        raw = body if isinstance(body, bytes) else dumps(body)
        cases.append(_rest(probe, cid, klass, raw, expect, sender, **kw))

    marker = f"#{probe.config.run_id}"
    # sender: absent, wrong types, wrong forms
    add("r001", "missing sender", {"message": f"我的快递到哪了{marker}"}, "4xx",
        follow_up=_no_default_conversation(marker))
    for i, value in enumerate([None, 12345, ["zhangsan"], {"id": "zhangsan"}, True, "", "   "]):
        add(f"r0{10 + i}", "sender type/empty", {"sender": value, "message": "你好"}, "4xx",
            value)
    long_sender = "u" * 300
    for i, (klass, value) in enumerate([
        ("long sender", long_sender),
        ("long sender", "v" * 129),
        ("chinese sender", "张三"),
        ("chinese sender", "李四的手机13812345678"),
        ("other channel sender", secrets.token_hex(16)),
        ("other channel sender", "wechat_oAbC123xyz"),
        ("surrogate in id", "zhang\ud800san"),
        ("NUL in id", "zhang\u0000san"),
        ("bad sender chars", "zhang san"),
        ("path traversal", "../../etc/passwd"),
        ("control chars", "zhang\nsan\r\nX-Injected: 1"),
        ("RTL/zero-width", "\u202ezhangsan\u200b"),
        ("full-width", "ｚｈａｎｇ１２３"),
    ]):
        add(f"r0{20 + i}", klass, {"sender": value, "message": "你好"}, "4xx", value)
    add("r040", "boundary sender (control)", {"sender": s("r040")[:10] + "x" * 118,
                                              "message": "你好"}, "2xx_reply",
        s("r040")[:10] + "x" * 118)
    # message: absent, wrong types, empty
    for i, value in enumerate([None, 123, 1.5, ["你好"], {"text": "你好"}, True, ""]):
        add(f"r05{i}", "message type/empty", {"sender": s(f"r05{i}"), "message": value}, "4xx",
            s(f"r05{i}"))
    add("r057", "message absent", {"sender": s("r057")}, "4xx", s("r057"))
    add("r058", "whitespace message", {"sender": s("r058"), "message": " \t\n "}, "not_5xx",
        s("r058"))
    for i, (klass, text) in enumerate([
        ("surrogate in text", "我要退款\ud800"),
        ("surrogate in text", "\udc00订单号204006103405"),
        ("NUL in text", "订单\u0000号204006103405到哪了"),
    ]):
        add(f"r06{i}", klass, {"sender": s(f"r06{i}"), "message": text}, "not_5xx", s(f"r06{i}"))
    # bodies that are not a JSON object
    for i, raw in enumerate([b"[]", b'"x"', b"1", b"null", b"", b"{", b'{"sender": "a", "mess',
                             NESTED, b'{"sender":"s","message":"hi","metadata":' + NESTED,
                             b"{" + b'"a":{' * 50_000]):
        add(f"r07{i}", "non-object/nested body", raw, "4xx")
    add("r080", "duplicate keys", b'{"sender":"' + s("r080").encode() + b'","message":"\xe4\xbd'
        b'\xa0\xe5\xa5\xbd","message":"\xe9\x80\x80\xe6\xac\xbe"}', "not_5xx", s("r080"))
    add("r081", "BOM before JSON", b"\xef\xbb\xbf" + dumps({"sender": s("r081"),
                                                          "message": "你好"}),
        "not_5xx", s("r081"))
    # bytes that are not UTF-8
    add("r082", "invalid UTF-8", b'{"sender":"' + s("r082").encode() + b'","message":"' +
        INVALID_UTF8 + b'"}', "4xx", s("r082"))
    add("r083", "invalid UTF-8", b'{"sender":"' + s("r083").encode() + b'","message":"' +
        "你好，在吗".encode("gbk") + b'"}', "4xx", s("r083"),
        headers={"Content-Type": "application/json; charset=gbk"})
    add("r084", "invalid UTF-8", b'{"sender":"zh\xc0\xafng","message":"hi"}', "4xx")
    # content types
    add("r085", "wrong content type", dumps({"sender": s("r085"), "message": "你好"}), "not_5xx",
        s("r085"), headers=TEXT)
    add("r086", "wrong content type", f"sender={s('r086')}&message=%E4%BD%A0%E5%A5%BD".encode(),
        "4xx", s("r086"), headers=FORM)
    add("r087", "wrong content type", multipart({"sender": s("r087"), "message": "你好"}), "4xx",
        s("r087"), headers=MULTIPART)
    add("r088", "wrong content type", b"<message><sender>x</sender></message>", "4xx",
        headers={"Content-Type": "application/xml"})
    add("r089", "wrong content type", dumps({"sender": s("r089"), "message": "你好"}), "not_5xx",
        s("r089"), headers={})
    # size
    add("r090", "huge body", {"sender": s("r090"), "message": "我要投诉" * 250_000}, "4xx",
        s("r090"))
    add("r091", "huge body", {"sender": s("r091"), "message": "你好",
                              "metadata": {"note": "x" * 2_000_000}}, "4xx", s("r091"))
    add("r092", "over-long message", {"sender": s("r092"), "message": "我买的东西一直没发货" * 101},
        "2xx_reply", s("r092"), follow_up=_says_too_long)
    add("r093", "huge body", {"sender": s("r093"), "message": "你好",
                              "metadata": {f"k{i}": i for i in range(20_000)}}, "4xx", s("r093"))
    # odd but harmless customer texts: a normal answer
    for i, text in enumerate([
        "我的订单\u202e到哪了\u202c",
        "帮我查下订单\u200b2040\u200d06103405\ufeff",
        "你好\x07\x08\x1b[31m在吗\x7f",
        "快递怎么还没到😡😡📦",
        "订单号２０４００６１０３４０５什么时候发货",
        "退款̸̡̛̖̗̘退款̴̢̧到账了吗",
        "\ufeff你好",
        "退款\r\n\r\nHTTP/1.1 200 OK\r\nX-Injected: 1",
        "\U000e0041\U000e0042我要开发票\ue000",
        "在吗\u2028\u2029我要换货",
        "<script>alert(1)</script>我要投诉",
        "{{7*7}}${7*7}%s%s%n我的券用不了",
        "订单号 204006103405' OR '1'='1 查一下",
        "ﷺ" * 300,
    ]):
        add(f"r1{i:02d}", "unicode/odd text", {"sender": s(f"r1{i:02d}"), "message": text},
            "2xx_reply", s(f"r1{i:02d}"))
    # intents typed as messages
    add("r120", "typed intent", {"sender": s("r120"), "message": '/inform{"order_id":{"$gt":""}}'},
        "2xx_reply", s("r120"), follow_up=_order_slot_is_text)
    add("r121", "typed intent", {"sender": s("r121"),
                                 "message": '/inform{"order_id":["204006103405","1"]}'},
        "2xx_reply", s("r121"), follow_up=_order_slot_is_text)
    for i, text in enumerate(["/session_start", "/restart", "/action_order_status",
                              '/request_human{"priority":"urgent"}', "/faq/../../../etc/passwd",
                              "/" + "a" * 900]):
        add(f"r12{2 + i}", "typed intent", {"sender": s(f"r12{2 + i}"), "message": text},
            "2xx_reply", s(f"r12{2 + i}"))
    # forged channel and metadata
    add("r130", "forged channel", {"sender": s("r130"), "message": "查一下我的订单",
                                   "input_channel": "wechat"}, "2xx_reply", s("r130"),
        follow_up=_channel_stays_rest)
    add("r131", "forged channel", {"sender": s("r131"), "message": "转人工",
                                   "input_channel": "socketio"}, "2xx_reply", s("r131"),
        follow_up=_channel_stays_rest)
    add("r132", "forged metadata", {"sender": s("r132"), "message": "我要退款",
                                    "metadata": {"customer_id_verified": True,
                                                 "customer_id": "wechat_oVIP001",
                                                 "phone": "13812345678"}},
        "2xx_reply", s("r132"), follow_up=_channel_stays_rest)
    add("r133", "forged metadata", {"sender": s("r133"), "message": "你好",
                                    "metadata": "customer_id_verified=true"}, "2xx_reply",
        s("r133"), follow_up=_channel_stays_rest)
    add("r134", "forged metadata", {"sender": s("r134"), "message": "你好",
                                    "metadata": {"handoff": {"state": "agent_joined"}},
                                    "input_channel": {"$ne": None}}, "2xx_reply", s("r134"),
        follow_up=_channel_stays_rest)
    cases.append(Case("r140", "rasa", f"GET {REST}", "wrong method", "GET", REST, expect="4xx"))
    cases.append(Case("r141", "rasa", "GET /webhooks/rest/", "surrogate in query", "GET",
                      f"/webhooks/rest/?x={SURROGATE_PATH}%00", expect="not_5xx"))
    return cases


def stream_cases(probe: Probe) -> list[Case]:
    s = probe.sender
    rows: list[tuple[str, Any, str, Any]] = [
        ("surrogate in text", {"sender": s("t001"), "message": "我的退款\ud800到哪了"}, "not_5xx",
         s("t001")),
        ("NUL in text", {"sender": s("t002"), "message": "发票\u0000抬头写错了"}, "not_5xx",
         s("t002")),
        ("surrogate in id", {"sender": "li\udbffsi", "message": "你好"}, "4xx", "li\udbffsi"),
        ("NUL in id", {"sender": "li\u0000si", "message": "你好"}, "4xx", "li\u0000si"),
        ("missing sender", {"message": "你好"}, "4xx", None),
        ("message type/empty", {"sender": s("t006"), "message": None}, "4xx", s("t006")),
        ("message type/empty", {"sender": s("t007"), "message": ["你好"]}, "4xx", s("t007")),
        ("non-object/nested body", NESTED, "4xx", None),
        ("non-object/nested body", b"[]", "4xx", None),
        ("invalid UTF-8", b'{"sender":"' + s("t010").encode() + b'","message":"' + INVALID_UTF8
         + b'"}', "4xx", s("t010")),
        ("huge body", {"sender": s("t011"), "message": "啊" * 1_000_000}, "4xx", s("t011")),
        ("over-long message", {"sender": s("t012"), "message": "请问这个怎么退货" * 130},
         "2xx_reply", s("t012")),
        ("forged channel", {"sender": s("t013"), "message": "你好", "input_channel": "wechat"},
         "2xx_reply", s("t013")),
        ("unicode/odd text", {"sender": s("t014"), "message": "在吗\u200b\u202e😭😭"}, "2xx_reply",
         s("t014")),
        ("long sender", {"sender": "w" * 300, "message": "你好"}, "4xx", "w" * 300),
        ("typed intent", {"sender": s("t016"), "message": "/restart"}, "2xx_reply", s("t016")),
    ]
    cases = []
    for i, (klass, body, expect, sender) in enumerate(rows, start=1):
        raw = body if isinstance(body, bytes) else dumps(body)
        follow = _channel_stays_rest if klass == "forged channel" else None
        cases.append(_rest(probe, f"t{i:03d}", klass, raw, expect, sender, stream=True,
                           follow_up=follow))
    return cases


# ---- Rasa: HTTP API ------------------------------------------------------------------


def rasa_api_cases(probe: Probe) -> list[Case]:
    c = probe.config
    tok = quote(c.rasa_token)
    victim = probe.sender("r092")  # a customer who spoke above
    conv = f"/conversations/{victim}"
    cases: list[Case] = []

    def add(cid: str, endpoint: str, klass: str, method: str, path: str, expect: str,
            body: Any = None, headers: dict[str, str] | None = None) -> None:
        raw = body if body is None or isinstance(body, bytes) else dumps(body)
        cases.append(Case(cid, "rasa", endpoint, klass, method, path,
                          headers if headers is not None else (JSON if raw is not None else {}),
                          raw, expect))

    add("a001", "GET /status", "missing token", "GET", "/status", "4xx")
    add("a002", "GET /status", "wrong token", "GET", "/status?token=guess", "4xx")
    add("a003", "GET /status", "other service's token", "GET",
        f"/status?token={quote(c.shop_token)}", "4xx")
    add("a004", "GET /status", "token in wrong place", "GET", "/status", "not_5xx",
        headers={"Authorization": f"Bearer {c.rasa_token}"})
    add("a005", "GET /status", "NUL in token", "GET", f"/status?token={tok}%00", "4xx")
    add("a006", "GET /status", "surrogate in token", "GET", f"/status?token={SURROGATE_PATH}",
        "4xx")
    add("a007", "GET /status", "wrong token", "GET", "/status?token=", "4xx")
    ct = "GET /conversations/<id>/tracker"
    add("a010", ct, "missing token", "GET", f"{conv}/tracker", "4xx")
    add("a011", ct, "other service's token", "GET",
        f"{conv}/tracker?token={quote(c.handoff_token)}", "4xx")
    add("a012", ct, "surrogate in id", "GET",
        f"/conversations/{SURROGATE_PATH}/tracker?token={tok}", "not_5xx")
    add("a013", ct, "NUL in id", "GET", f"/conversations/ab%00cd/tracker?token={tok}", "not_5xx")
    add("a014", ct, "long id", "GET", f"/conversations/{'x' * 5000}/tracker?token={tok}", "not_5xx")
    add("a015", ct, "path traversal", "GET",
        f"/conversations/..%2F..%2Fstatus/tracker?token={tok}", "not_5xx")
    add("a016", ct, "bad query", "GET",
        f"{conv}/tracker?token={tok}&include_events=%ED%A0%80&until=1e400", "not_5xx")
    ev = "POST /conversations/<id>/tracker/events"
    forged = [{"event": "slot", "name": "order_id", "value": REAL_ORDER},
              {"event": "user", "text": "我是VIP", "parse_data": {"intent": {"name": "affirm"}}}]
    add("a020", ev, "missing token", "POST", f"{conv}/tracker/events", "4xx", forged)
    add("a021", ev, "other service's token", "POST",
        f"{conv}/tracker/events?token={quote(c.handoff_token)}", "4xx", forged)
    own = f"/conversations/{probe.sender('a02x')}"
    add("a022", ev, "non-object/nested body", "POST", f"{own}/tracker/events?token={tok}", "4xx",
        NESTED)
    add("a023", ev, "non-object/nested body", "POST", f"{own}/tracker/events?token={tok}", "4xx",
        b'"x"')
    add("a024", ev, "unknown event", "POST", f"{own}/tracker/events?token={tok}", "4xx",
        {"event": "no_such_event", "x": 1})
    add("a025", ev, "surrogate in text", "POST", f"{own}/tracker/events?token={tok}", "not_5xx",
        [{"event": "user", "text": "退款\ud800", "timestamp": 1e300}])
    add("a026", ev, "invalid UTF-8", "POST", f"{own}/tracker/events?token={tok}", "4xx",
        b'{"event":"user","text":"' + INVALID_UTF8 + b'"}')
    for cid, path, body in [
        ("a030", f"{conv}/messages", {"text": "帮我退款", "sender": "user"}),
        ("a031", f"{conv}/trigger_intent", {"name": "request_refund"}),
        ("a032", f"{conv}/execute", {"name": "action_order_status"}),
        ("a033", f"{conv}/predict", None),
    ]:
        add(cid, "POST " + path.replace(victim, "<id>"), "missing token", "POST", path, "4xx",
            body)
    add("a034", "GET /conversations/<id>/story", "missing token", "GET", f"{conv}/story", "4xx")
    mp = f"/conversations/{probe.sender('a04x')}/messages?token={tok}"
    add("a040", "POST /conversations/<id>/messages", "message type/empty", "POST", mp, "4xx",
        {"text": 5, "sender": "user"})
    add("a041", "POST /conversations/<id>/messages", "surrogate in text", "POST", mp, "not_5xx",
        {"text": "发票\ud800", "sender": "user"})
    add("a042", "POST /conversations/<id>/messages", "non-object/nested body", "POST", mp, "4xx",
        NESTED)
    ti = f"/conversations/{probe.sender('a04y')}/trigger_intent?token={tok}"
    add("a043", "POST /conversations/<id>/trigger_intent", "injection object", "POST", ti, "4xx",
        {"name": {"$gt": ""}})
    add("a044", "POST /conversations/<id>/trigger_intent", "wrong types", "POST", ti, "not_5xx",
        {"name": "greet", "entities": "x"})
    # model management: never with the valid token
    add("a050", "PUT /model", "missing token", "PUT", "/model", "4xx",
        {"model_file": "/etc/passwd"})
    add("a051", "DELETE /model", "missing token", "DELETE", "/model", "4xx")
    add("a052", "DELETE /model", "other service's token", "DELETE",
        f"/model?token={quote(c.shop_token)}", "4xx")
    add("a053", "POST /model/train", "missing token", "POST", "/model/train", "4xx", b"{}")
    add("a054", "POST /model/test/intents", "missing token", "POST", "/model/test/intents", "4xx",
        b"{}")
    add("a055", "POST /model/predict", "missing token", "POST", "/model/predict", "4xx", b"{}")
    add("a056", "GET /domain", "missing token", "GET", "/domain", "4xx")
    pp = f"/model/parse?token={tok}"
    add("a060", "POST /model/parse", "missing token", "POST", "/model/parse", "4xx",
        {"text": "你好"})
    add("a061", "POST /model/parse", "surrogate in text", "POST", pp, "not_5xx",
        {"text": "我的快递\ud800到哪了"})
    add("a062", "POST /model/parse", "NUL in text", "POST", pp, "not_5xx", {"text": "退\u0000款"})
    add("a063", "POST /model/parse", "message type/empty", "POST", pp, "4xx", {"text": 123})
    add("a064", "POST /model/parse", "non-object/nested body", "POST", pp, "4xx", b"[]")
    add("a065", "POST /model/parse", "non-object/nested body", "POST", pp, "4xx", NESTED)
    add("a066", "POST /model/parse", "invalid UTF-8", "POST", pp, "4xx",
        b'{"text":"' + INVALID_UTF8 + b'"}')
    add("a067", "POST /model/parse", "huge body", "POST", pp, "not_5xx", {"text": "啊" * 1_000_000})
    add("a068", "POST /model/parse", "typed intent", "POST", pp, "not_5xx",
        {"text": '/inform{"order_id":{"$gt":""}}'})
    add("a069", "POST /model/parse", "non-object/nested body", "POST", pp, "4xx", b"")
    add("a070", "GET /", "surrogate in query", "GET", f"/?q={SURROGATE_PATH}%00", "not_5xx")
    return cases


# ---- Rasa: Engine.IO over plain HTTP -------------------------------------------------


def _handshake(probe: Probe) -> str | None:
    result = probe.send("rasa", "GET", "/socket.io/?EIO=4&transport=polling")
    text = result.body.decode("utf-8", "replace")
    if result.status != 200 or not text.startswith("0"):
        return None
    try:
        return json.loads(text[1:])["sid"]
    except (ValueError, KeyError, TypeError):
        return None


def _eio_post(payload: bytes, klass: str, cid: str) -> Case:
    def run(probe: Probe, case: Case) -> Result:
        sid = _handshake(probe)
        if sid is None:
            return Result("crash", detail="no Engine.IO handshake")
        base = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
        probe.send("rasa", "POST", base, {"Content-Type": "text/plain;charset=UTF-8"}, b"40")
        probe.send("rasa", "GET", base, timeout=5)  # the connect answer
        return probe.send("rasa", "POST", base, {"Content-Type": "text/plain;charset=UTF-8"},
                          payload)
    return Case(cid, "rasa", "POST /socket.io/ (polling)", klass, "POST", "/socket.io/",
                expect="not_5xx", run=run)


def engineio_cases(probe: Probe) -> list[Case]:
    cases = []
    for cid, klass, query in [
        ("e001", "bad session id", ""),
        ("e002", "bad session id", "?EIO=4&transport=polling&sid=nonexistent"),
        ("e003", "bad protocol", "?EIO=3&transport=polling"),
        ("e004", "bad protocol", "?EIO=4&transport=pigeon"),
        ("e005", "bad protocol", "?EIO=4&transport=websocket"),
        ("e006", "surrogate in id", f"?EIO=4&transport=polling&sid={SURROGATE_PATH}"),
        ("e007", "long id", f"?EIO=4&transport=polling&sid={'s' * 5000}"),
    ]:
        cases.append(Case(cid, "rasa", "GET /socket.io/", klass, "GET", "/socket.io/" + query,
                          expect="4xx"))
    cases.append(Case("e008", "rasa", "POST /socket.io/ (polling)", "bad session id", "POST",
                      "/socket.io/?EIO=4&transport=polling&sid=nonexistent",
                      {"Content-Type": "text/plain"}, b'42["user_uttered",{"message":"hi"}]',
                      "4xx"))
    cases.append(_eio_post(b'42["user_uttered",' + NESTED + b"]", "non-object/nested body",
                           "e009"))
    cases.append(_eio_post(b"4" + INVALID_UTF8 * 10, "invalid UTF-8", "e010"))
    cases.append(_eio_post(b'42["user_uttered",{"message":"' + b"a" * 2_000_000 + b'"}]',
                           "huge body", "e011"))
    cases.append(_eio_post(b'42["session_request",{"session_id":"\\ud800"}]', "surrogate in id",
                           "e012"))
    return cases


# ---- Rasa: socket.io (website widget) ------------------------------------------------


def _sio(cid: str, endpoint: str, klass: str, expect: str, script: Any) -> Case:
    """A socket.io case: `script(probe, client)` returns (outcome, detail, problems) and leaves
    the client in the session whose customer must then get an answer to 「你好」."""

    def run(probe: Probe, case: Case) -> Result:
        started = time.monotonic()
        client = WidgetClient(probe.url("rasa", ""))
        try:
            try:
                client.connect()
            except Exception as error:  # noqa: BLE001
                return Result("crash", detail=f"socket.io connect failed: {error}")
            outcome, detail, problems = script(probe, client)
            problems += _sio_customer_ok(probe, client)
            return Result(outcome, detail=detail, problems=problems,
                          elapsed=time.monotonic() - started)
        finally:
            client.close()
    return Case(cid, "rasa", endpoint, klass, expect=expect, run=run)


def _sio_customer_ok(probe: Probe, client: WidgetClient) -> list[str]:
    """The same customer (or, after the server dropped the socket, a new one) gets a normal
    answer to 「你好」."""
    session = client.__dict__.get("probe_session")
    if not client.connected:
        client.close()
        client = WidgetClient(probe.url("rasa", ""))
        try:
            client.connect()
        except Exception as error:  # noqa: BLE001
            return [f"after the case, socket.io refuses connections: {error}"]
        session, _ = client.session()
        if session is None:
            client.close()
            return ["after the case, no session_confirm for a new customer"]
        where = "a new session"
    else:
        if session is None:
            session, _ = client.session()
        where = "the same session"
    try:
        texts = client.say(GREETING, session)
    finally:
        client.close()
    if not texts:
        return [f"「你好」 in {where} got no bot_uttered within {TIMEOUT:.0f}s"]
    if any(APOLOGY_MARK in t for t in texts):
        return [f"「你好」 in {where} got the failure apology"]
    return []


def _session(client: WidgetClient, data: Any = None) -> tuple[str | None, str | None]:
    session, token = client.session(data)
    client.__dict__["probe_session"] = session
    return session, token


def _emit_then_wait(client: WidgetClient, data: Any, wait: float = 3.0,
                    event: str = "user_uttered") -> tuple[str, str]:
    """Emit, then: answered ("2xx"), ignored ("4xx"), or dropped by the server ("4xx")."""
    client.drain()
    try:
        client.emit(event, data)
    except Exception as error:  # noqa: BLE001
        return "4xx", f"not sent: {error}"
    replies = client.replies(timeout=wait)
    texts = [str(m.get("text")) for m in replies if isinstance(m, dict) and m.get("text")]
    if texts:
        return "2xx", "answered: " + " / ".join(texts)[:300]
    if not client.connected:
        return "4xx", "server closed the socket"
    return "4xx", "ignored"


def socketio_cases(probe: Probe) -> list[Case]:
    cases: list[Case] = []
    sr, uu = "socket.io session_request", "socket.io user_uttered"

    def session_request(data: Any, must_not: str | None = None):
        def script(probe: Probe, client: WidgetClient):
            session, _ = _session(client, data)
            if session is None:
                return "hang", "no session_confirm", []
            problems = []
            if must_not is not None and session == must_not:
                problems.append(f"confirmed the requested foreign id {must_not!r}")
            if not isinstance(session, str) or len(session) != 32:
                problems.append(f"confirmed an id of another form: {str(session)[:40]!r}")
            return "2xx", f"session {str(session)[:12]}…", problems
        return script

    for i, (klass, data, forbidden) in enumerate([
        ("non-dict payload", ["session_id", "x"], None),
        ("non-dict payload", "abc", None),
        ("non-dict payload", 12345, None),
        ("other channel sender", {"session_id": probe.sender("r092")}, probe.sender("r092")),
        ("other channel sender", {"session_id": "wechat_oAbC123xyz"}, "wechat_oAbC123xyz"),
        ("surrogate in id", {"session_id": "ab\ud800"}, None),
        ("NUL in id", {"session_id": "a" * 31 + "\u0000"}, None),
        ("long id", {"session_id": "f" * 5000}, None),
    ], start=1):
        cases.append(_sio(f"s{i:03d}", sr, klass, "2xx", session_request(data, forbidden)))

    def hijack(probe: Probe, client: WidgetClient):
        victim = WidgetClient(probe.url("rasa", ""))
        try:
            victim.connect()
            target, _ = victim.session({})
            victim.say("我的快递到哪了", target)
            session, _ = _session(client, {"session_id": target})
            if session == target:
                victim.drain()
                client.say("帮我把收货地址改成北京市朝阳区", session, timeout=5)
                leaked = victim.replies(timeout=2)
                detail = "confirmed into another customer's session" + (
                    f"; the victim received {len(leaked)} message(s)" if leaked else "")
                return "2xx", detail, [detail]
            return "4xx", "refused: got its own session", []
        finally:
            victim.close()
    cases.append(_sio("s009", sr, "session hijack", "4xx", hijack))

    def other_session(probe: Probe, client: WidgetClient):
        victim = WidgetClient(probe.url("rasa", ""))
        try:
            victim.connect()
            target, _ = victim.session({})
            _session(client, {})
            victim.drain()
            outcome, detail = _emit_then_wait(client, {"message": "帮我取消订单204006103405",
                                                       "session_id": target})
            problems = ["the victim received a bot message"] if victim.replies(timeout=1) else []
            if outcome == "2xx":
                problems.append("a message for another session was answered")
            return outcome, detail, problems
        finally:
            victim.close()
    cases.append(_sio("s010", uu, "message for another session", "4xx", other_session))

    def before_session(probe: Probe, client: WidgetClient):
        outcome, detail = _emit_then_wait(client, {"message": "你好", "session_id": None})
        _session(client, {})
        return outcome, detail, []
    cases.append(_sio("s011", uu, "message before session", "not_5xx", before_session))

    def emit(data: Any, wait: float = 3.0):
        def script(probe: Probe, client: WidgetClient):
            session, _ = _session(client, {})
            payload = data(session) if callable(data) else data
            outcome, detail = _emit_then_wait(client, payload, wait)
            return outcome, detail, []
        return script

    for i, (klass, data, expect, wait) in enumerate([
        # Invalid events: ignored, or answered with a clear reply (not the failure apology).
        ("non-dict payload", "你好", "not_5xx", 3.0),
        ("non-dict payload", ["你好"], "not_5xx", 3.0),
        ("non-dict payload", None, "not_5xx", 3.0),
        ("message type/empty", lambda sid: {"message": 123, "session_id": sid}, "not_5xx", 3.0),
        ("message type/empty", lambda sid: {"message": {"text": "hi"}, "session_id": sid},
         "not_5xx", 3.0),
        ("message type/empty", lambda sid: {"message": "", "session_id": sid}, "not_5xx", 5.0),
        ("surrogate in text", lambda sid: {"message": "我要退款\ud800", "session_id": sid},
         "not_5xx", TIMEOUT),
        ("NUL in text", lambda sid: {"message": "发票\u0000开错了", "session_id": sid}, "not_5xx",
         TIMEOUT),
        ("unicode/odd text", lambda sid: {"message": "快递\u202e到哪了\u200b😡", "session_id": sid},
         "2xx_reply", TIMEOUT),
        ("huge body", lambda sid: {"message": "啊" * 1_000_000, "session_id": sid}, "not_5xx",
         TIMEOUT),
        ("over-long message", lambda sid: {"message": "我买的衣服不合适" * 150, "session_id": sid},
         "2xx_reply", TIMEOUT),
        ("typed intent", lambda sid: {"message": '/inform{"order_id":{"$gt":""}}',
                                      "session_id": sid}, "2xx_reply", TIMEOUT),
        ("typed intent", lambda sid: {"message": "/restart", "session_id": sid}, "2xx_reply",
         TIMEOUT),
        ("non-object/nested body", lambda sid: {"message": "你好", "session_id": sid,
                                                "metadata": "[" * 50_000}, "not_5xx", TIMEOUT),
    ], start=12):
        cases.append(_sio(f"s{i:03d}", uu, klass, expect, emit(data, wait)))

    def typed_inform(probe: Probe, client: WidgetClient):
        session, _ = _session(client, {})
        outcome, detail = _emit_then_wait(client, {
            "message": '/inform{"order_id":{"$gt":""}}', "session_id": session}, TIMEOUT)
        value = ((probe.tracker(session) or {}).get("slots") or {}).get("order_id")
        problems = [] if value is None or isinstance(value, str) else [
            f"slot order_id holds a {type(value).__name__}: {str(value)[:60]}"]
        return outcome, detail, problems
    cases.append(_sio("s028", uu, "typed intent", "2xx_reply", typed_inform))

    def forged_metadata(probe: Probe, client: WidgetClient):
        session, _ = _session(client, {})
        outcome, detail = _emit_then_wait(client, {
            "message": "我要退款", "session_id": session, "input_channel": "wechat",
            "metadata": {"customer_id_verified": True, "customer_id": "wechat_oVIP001"}},
            TIMEOUT)
        tracker = probe.tracker(session) or {}
        problems = []
        if tracker.get("latest_input_channel") not in (None, "socketio"):
            problems.append(f"channel became {tracker.get('latest_input_channel')!r}")
        for event in tracker.get("events") or []:
            meta = event.get("metadata") if isinstance(event, dict) else None
            if event.get("event") == "user" and isinstance(meta, dict) and meta.get(
                    "customer_id_verified"):
                problems.append("forged customer_id_verified stored with the message")
                break
        return outcome, detail, problems
    cases.append(_sio("s026", uu, "forged metadata", "2xx_reply", forged_metadata))

    def flood(probe: Probe, client: WidgetClient):
        session, _ = _session(client, {})
        for _ in range(100):
            client.emit("user_uttered", {"message": "在吗在吗在吗", "session_id": session})
        time.sleep(2)
        client.drain()
        return "2xx", "100 messages sent", []
    cases.append(_sio("s027", uu, "flood", "not_5xx", flood))
    return cases


# ---- action server -------------------------------------------------------------------


def _tracker_call(sender: str = "probe-victim", action: str = "action_order_status") -> dict:
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.6.21",
        "tracker": {
            "sender_id": sender,
            "slots": {"order_id": REAL_ORDER, "phone": "13812345678",
                      "customer_id_verified": True},
            "latest_message": {"text": "我的订单到哪了", "intent": {"name": "ask_order_status"},
                               "entities": []},
            "events": [], "paused": False, "followup_action": None, "active_loop": {},
            "latest_action_name": "action_listen",
        },
        "domain": {},
    }


def action_cases(probe: Probe) -> list[Case]:
    c = probe.config
    cases: list[Case] = []
    forged = dumps(_tracker_call())

    def add(cid: str, endpoint: str, klass: str, method: str, path: str, headers: dict,
            body: bytes | None, expect: str = "4xx") -> None:
        cases.append(Case(cid, "actions", endpoint, klass, method, path, headers, body, expect))

    wrong_tokens = [
        ("missing token", {}),
        ("wrong token", {"Authorization": "Bearer guess-this-token"}),
        ("Bearer missing", {"Authorization": c.action_token or "dev-only-action-token"}),
        ("other service's token", {"Authorization": f"Bearer {c.shop_token}"}),
        ("other service's token", {"Authorization": f"Bearer {c.rasa_token}"}),
        ("other service's token", {"Authorization": f"Bearer {c.handoff_token}"}),
        ("wrong scheme", {"Authorization": "Basic " + base64.b64encode(b"rasa:rasa").decode()}),
        ("wrong token", {"Authorization": "Bearer "}),
        ("invalid bytes in token", {"Authorization": b"Bearer \xed\xa0\x80\x00"}),
    ]
    for i, (klass, headers) in enumerate(wrong_tokens[:6], start=1):
        add(f"x{i:03d}", "GET /actions", klass, "GET", "/actions", headers, None)
    add("x007", "GET /actions", "token in wrong place", "GET",
        f"/actions?token={quote(c.action_token or 'x')}", {}, None)
    for i, (klass, headers) in enumerate(wrong_tokens, start=10):
        add(f"x{i:03d}", "POST /webhook", "forged tracker: " + klass, "POST", "/webhook",
            {**JSON, **headers}, forged)
    add("x020", "POST /webhook", "forged tracker: token in wrong place", "POST",
        f"/webhook?token={quote(c.action_token or 'x')}", JSON, forged)
    no_token = [
        ("deflate bomb", {**JSON, "Content-Encoding": "deflate"}, bomb("deflate")),
        ("gzip bomb", {**JSON, "Content-Encoding": "gzip"}, bomb("gzip")),
        ("non-object/nested body", JSON, NESTED),
        ("non-object/nested body", JSON, b"[]"),
        ("invalid UTF-8", JSON, b'{"next_action":"' + INVALID_UTF8 + b'"}'),
        ("wrong content type", TEXT, forged),
        ("huge body", JSON, dumps({"next_action": "action_order_status", "x": "y" * 2_000_000})),
    ]
    for i, (klass, headers, body) in enumerate(no_token, start=21):
        add(f"x{i:03d}", "POST /webhook", "no token: " + klass, "POST", "/webhook", headers, body)
    # With the right token (when the environment has one): malformed calls are still 4xx.
    auth = {"Authorization": f"Bearer {c.action_token}"} if c.action_token else {}
    with_token = no_token + [
        ("non-object/nested body", JSON, b'"x"'),
        ("non-object/nested body", JSON, b"null"),
        ("non-object/nested body", JSON, b""),
        ("unknown action", JSON, dumps(_tracker_call(action="action_does_not_exist"))),
        ("injection object", JSON, dumps({**_tracker_call(), "next_action": {"$gt": ""}})),
        ("wrong types", JSON, dumps({**_tracker_call(), "tracker": "x"})),
        ("missing tracker", JSON, dumps({"next_action": "action_order_status"})),
    ]
    for i, (klass, headers, body) in enumerate(with_token, start=30):
        add(f"x{i:03d}", "POST /webhook", "valid token: " + klass, "POST", "/webhook",
            {**headers, **auth}, body, "not_5xx" if klass == "wrong content type" else "4xx")
    add("x050", "POST /webhook", "valid token: surrogate in id", "POST", "/webhook",
        {**JSON, **auth}, dumps(_tracker_call(sender="li\ud800si")), "not_5xx")
    add("x051", "GET /health", "surrogate in query", "GET", f"/health?x={SURROGATE_PATH}%00", {},
        None, "2xx")
    add("x052", "GET /health", "deflate bomb", "GET", "/health",
        {"Content-Encoding": "deflate"}, bomb("deflate"), "not_5xx")
    return cases


# ---- shop API ------------------------------------------------------------------------


def shop_cases(probe: Probe) -> list[Case]:
    c = probe.config
    auth = {"Authorization": f"Bearer {c.shop_token}"}
    cases: list[Case] = []

    def add(cid: str, endpoint: str, klass: str, method: str, path: str, headers: dict,
            body: Any = None, expect: str = "4xx") -> None:
        raw = body if body is None or isinstance(body, bytes) else dumps(body)
        cases.append(Case(cid, "shop", endpoint, klass, method, path, headers, raw, expect))

    order = f"/orders/{REAL_ORDER}"
    go = "GET /orders/<order_id>"
    add("h001", go, "missing token", "GET", order, {})
    add("h002", go, "token in wrong place", "GET", f"{order}?token={quote(c.shop_token)}", {})
    add("h003", go, "Bearer missing", "GET", order, {"Authorization": c.shop_token})
    add("h004", go, "other service's token", "GET", order,
        {"Authorization": f"Bearer {c.handoff_token}"})
    add("h005", go, "other service's token", "GET", order,
        {"Authorization": f"Bearer {c.rasa_token}"})
    add("h006", go, "invalid bytes in token", "GET", order,
        {"Authorization": b"Bearer \xff\xfe\x00"})
    add("h007", go, "valid request (control)", "GET", order, auth, expect="2xx")
    for i, (klass, oid, expect) in enumerate([
        ("NUL in id", "%00", "4xx"),
        ("surrogate in id", SURROGATE_PATH, "4xx"),
        ("long id", "1" * 5000, "4xx"),
        ("path traversal", "..%2F..%2F..%2Fetc%2Fpasswd", "4xx"),
        ("full-width digits", quote("２０４００６１０３４０５"), "not_5xx"),
        ("injection", quote("204006103405' OR '1'='1"), "4xx"),
    ], start=8):
        add(f"h{i:03d}", go, klass, "GET", f"/orders/{oid}", auth, expect=expect)
    lo = "GET /orders?phone="
    for i, (klass, query, expect) in enumerate([
        ("NUL in text", "phone=138%0012345678", "4xx"),
        ("surrogate in text", f"phone={SURROGATE_PATH}", "4xx"),
        ("huge number", "phone=13812345678&limit=99999999999999999999999", "4xx"),
        ("bad number", "phone=13812345678&limit=NaN", "4xx"),
        ("full-width digits", "phone=" + quote("１３８１２３４５６７８"), "not_5xx"),
        ("repeated parameter", "phone=13812345678&phone=13900000000", "not_5xx"),
        ("injection", "phone=" + quote("' OR 1=1--"), "4xx"),
    ], start=20):
        add(f"h{i:03d}", lo, klass, "GET", f"/orders?{query}", auth, expect=expect)
    add("h030", "GET /orders/<order_id>/owner", "NUL in text", "GET",
        f"{order}/owner?phone=13812345678%00", auth)
    add("h031", "GET /refunds/<refund_id>", "long id", "GET", f"/refunds/{'r' * 5000}", auth,
        expect="not_5xx")
    add("h032", "GET /refunds/<refund_id>", "surrogate in id", "GET", f"/refunds/{SURROGATE_PATH}",
        auth, expect="not_5xx")
    add("h033", "GET /accounts", "injection", "GET", "/accounts?phone=" + quote("' OR 1=1--"), auth)
    cancel = f"/orders/{NO_ORDER}/cancel"
    pc = "POST /orders/<order_id>/cancel"
    add("h040", pc, "missing token", "POST", cancel, JSON, {"reason": "不想要了"})
    for i, (klass, headers, body) in enumerate([
        ("non-object/nested body", JSON, NESTED),
        ("non-object/nested body", JSON, b"[]"),
        ("invalid UTF-8", JSON, b'{"reason":"' + INVALID_UTF8 + b'"}'),
        ("huge body", JSON, dumps({"reason": "x" * 2_000_000})),
        ("wrong content type", FORM, b"reason=%E4%B8%8D%E8%A6%81%E4%BA%86"),
        ("gzip bomb", {**JSON, "Content-Encoding": "gzip"}, bomb("gzip")),
        ("surrogate in text", JSON, dumps({"reason": "不想要了\ud800"})),
        ("NUL in text", JSON, dumps({"reason": "不想\u0000要了"})),
    ], start=41):
        add(f"h{i:03d}", pc, klass, "POST", cancel, {**headers, **auth}, body,
            "not_5xx" if "text" in klass else "4xx")
    add("h049", pc, "long idempotency key", "POST", cancel,
        {**JSON, **auth, "Idempotency-Key": "k" * 5000}, {"reason": "不要了"})
    add("h050", pc, "invalid bytes in header", "POST", cancel,
        {**JSON, **auth, "Idempotency-Key": b"\xed\xa0\x80\x00key"}, {"reason": "不要了"},
        "not_5xx")
    refunds = f"/orders/{NO_ORDER}/refunds"
    pr = "POST /orders/<order_id>/refunds"
    for i, body in enumerate([
        b'{"amount": NaN, "reason": "\xe9\x80\x80\xe6\xac\xbe"}',
        b'{"amount": 1e999, "reason": "x"}',
        b'{"amount": -1e300, "reason": "x"}',
        dumps({"amount": "1e300", "reason": "退款"}),
        dumps({"amount": 10, "reason": {"$gt": ""}}),
        dumps({"amount": True, "reason": "退款"}),
    ], start=51):
        add(f"h{i:03d}", pr, "bad number" if i < 55 else "wrong types", "POST", refunds,
            {**JSON, **auth}, body)
    add("h057", "POST /orders/<order_id>/address", "surrogate in text", "POST",
        f"/orders/{NO_ORDER}/address", {**JSON, **auth},
        {"name": "张\ud800三", "phone": "13812345678", "province": "北京", "city": "北京",
         "detail": "朝阳区\u0000某路1号"}, "4xx")
    add("h058", "POST /orders/<order_id>/delivery-slot", "bad date", "POST",
        f"/orders/{NO_ORDER}/delivery-slot", {**JSON, **auth},
        {"date": "99999-12-31", "window": "09:00-12:00"})
    add("h059", "POST /orders/<order_id>/after-sales", "huge body", "POST",
        f"/orders/{NO_ORDER}/after-sales", {**JSON, **auth},
        {"type": "return", "reason": "尺码不合适", "description": "太大了" * 400})
    add("h060", "POST /orders/<order_id>/invoice", "wrong types", "POST",
        f"/orders/{NO_ORDER}/invoice", {**JSON, **auth},
        {"title": {"type": ["company"]}, "email": "a@" + "b" * 5000 + ".cn"})
    add("h061", "DELETE /orders/<order_id>", "wrong method", "DELETE", order, auth)
    return cases


# ---- handoff service -----------------------------------------------------------------


def _handoff_body(probe: Probe, tag: str, **changes: Any) -> dict[str, Any]:
    body = {
        "conversation_id": probe.sender(tag),
        "reason": "explicit_request",
        "priority": "normal",
        "channel": "rest",
        "summary": "客户要求转人工（安全探针）",
        "transcript": [{"sender": "customer", "text": "转人工", "timestamp": time.time()}],
        "bot_paused": True,
    }
    body.update(changes)
    return body


def _bot(probe: Probe) -> dict[str, str]:
    return {"Authorization": f"Bearer {probe.config.handoff_token}", **JSON}


def _create_handoff(probe: Probe, body: bytes, key: str | None = None) -> Result:
    headers = {**_bot(probe), "Idempotency-Key": key or secrets.token_hex(8)}
    return probe.send("handoff", "POST", "/api/v1/handoffs", headers, body)


def _list_still_ok(probe: Probe) -> list[str]:
    problems = []
    for query in ("", "?status=all"):
        result = probe.send("handoff", "GET", f"/api/v1/handoffs{query}",
                            {"Authorization": f"Bearer {probe.config.handoff_token}"})
        if result.status != 200:
            problems.append(f"GET /api/v1/handoffs{query} then answered {result.got()[:60]}")
    return problems


def handoff_cases(probe: Probe) -> list[Case]:
    c = probe.config
    probe.state.setdefault("handoff_id", "no-such-handoff")
    probe.state.setdefault("agent_token", "no-such-session")
    bot = _bot(probe)
    agent = {"Authorization": "Bearer {agent_token}", **JSON}
    cases: list[Case] = []

    def add(cid: str, endpoint: str, klass: str, method: str, path: str, headers: dict,
            body: Any = None, expect: str = "4xx", follow_up: Any = None) -> None:
        raw = body if body is None or isinstance(body, bytes) else dumps(body)
        cases.append(Case(cid, "handoff", endpoint, klass, method, path, headers, raw, expect,
                          follow_up=follow_up))

    def setup(probe: Probe, case: Case) -> Result:
        result = _create_handoff(probe, dumps(_handoff_body(probe, "o000")))
        data = result.json()
        if isinstance(data, dict) and data.get("id"):
            probe.state["handoff_id"] = str(data["id"])
        creds = probe.ensure_agent()
        if creds is None:
            result.problems.append("could not create the probe agent with the handoff CLI")
            return result
        login = probe.send("handoff", "POST", "/api/v1/auth/login", JSON,
                           dumps({"username": creds[0], "password": creds[1]}))
        token = (login.json() or {}).get("token") if isinstance(login.json(), dict) else None
        if token:
            probe.state["agent_token"] = token
        else:
            result.problems.append(f"the probe agent could not log in: {login.got()[:60]}")
        return result
    cases.append(Case("o000", "handoff", "POST /api/v1/handoffs", "set-up (control)",
                      expect="2xx", run=setup))

    ph = "POST /api/v1/handoffs"
    valid = _handoff_body(probe, "o001")
    for i, (klass, headers, path) in enumerate([
        ("missing token", JSON, "/api/v1/handoffs"),
        ("token in wrong place", JSON, f"/api/v1/handoffs?token={quote(c.handoff_token)}"),
        ("Bearer missing", {**JSON, "Authorization": c.handoff_token}, "/api/v1/handoffs"),
        ("other service's token", {**JSON, "Authorization": f"Bearer {c.shop_token}"},
         "/api/v1/handoffs"),
        ("other service's token", {**JSON, "Authorization": f"Bearer {c.rasa_token}"},
         "/api/v1/handoffs"),
        ("invalid bytes in token", {**JSON, "Authorization": b"Bearer \xed\xa0\x80\x00"},
         "/api/v1/handoffs"),
    ], start=1):
        add(f"o{i:03d}", ph, klass, "POST", path, {**headers, "Idempotency-Key": f"k{i}"}, valid)
    for i, (klass, headers, body, expect) in enumerate([
        ("non-object/nested body", bot, b"[]", "4xx"),
        ("non-object/nested body", bot, b'"x"', "4xx"),
        ("non-object/nested body", bot, b"1", "4xx"),
        ("non-object/nested body", bot, b"null", "4xx"),
        ("non-object/nested body", bot, b"", "4xx"),
        ("non-object/nested body", bot, NESTED, "4xx"),
        ("invalid UTF-8", bot, b'{"conversation_id":"' + INVALID_UTF8 + b'"}', "4xx"),
        ("wrong content type", {**bot, **FORM}, b"conversation_id=x&reason=complaint", "4xx"),
        ("wrong content type", {**bot, **MULTIPART}, multipart({"conversation_id": "x"}), "4xx"),
        ("huge body", bot, dumps(_handoff_body(probe, "o016", summary="x" * 3_000_000)), "4xx"),
        ("gzip bomb", {**bot, "Content-Encoding": "gzip"}, bomb("gzip"), "4xx"),
        ("deflate bomb", {**bot, "Content-Encoding": "deflate"}, bomb("deflate"), "4xx"),
        ("surrogate in id", bot, dumps(_handoff_body(probe, "o019",
                                                     conversation_id="zhang\ud800san")), "not_5xx"),
        ("NUL in id", bot, dumps(_handoff_body(probe, "o020", conversation_id="zhang\u0000san")),
         "not_5xx"),
        ("surrogate in text", bot, dumps(_handoff_body(probe, "o021", transcript=[
            {"sender": "customer", "text": "我要投诉\ud800", "timestamp": time.time()}])),
         "not_5xx"),
        ("surrogate in text", bot, dumps(_handoff_body(probe, "o022", summary="投诉\udfff",
                                                       slots={"order_id\ud800": "x"})), "not_5xx"),
        ("huge body", bot, dumps(_handoff_body(probe, "o023", transcript=[
            {"sender": "customer", "text": "在吗", "timestamp": 1}] * 2001)), "4xx"),
        ("injection object", bot, dumps(_handoff_body(probe, "o024", reason={"$gt": ""},
                                                      priority=["urgent"])), "4xx"),
        ("forged metadata", bot, dumps(_handoff_body(probe, "o025", customer_id_verified="yes",
                                                     slots={"k": "v" * 100_000})), "not_5xx"),
    ], start=7):
        key = f"{probe.config.run_id}-o{i:03d}"
        add(f"o{i:03d}", ph, klass, "POST", "/api/v1/handoffs",
            {**headers, "Idempotency-Key": key}, body, expect)
    add("o026", ph, "long idempotency key", "POST", "/api/v1/handoffs",
        {**bot, "Idempotency-Key": "k" * 5000}, _handoff_body(probe, "o026"))
    add("o027", ph, "invalid bytes in header", "POST", "/api/v1/handoffs",
        {**bot, "Idempotency-Key": b"\xed\xa0\x80\x00"}, _handoff_body(probe, "o027"), "not_5xx")

    def replay(probe: Probe, case: Case) -> Result:
        key = f"{probe.config.run_id}-replay"
        body = dumps(_handoff_body(probe, "o028"))
        first = _create_handoff(probe, body, key)
        second = _create_handoff(probe, body, key)
        ids = [(r.json() or {}).get("id") if isinstance(r.json(), dict) else None
               for r in (first, second)]
        problems = []
        if first.outcome != "2xx" or second.outcome != "2xx":
            problems.append(f"replay answered {first.status} then {second.status}")
        elif ids[0] != ids[1]:
            problems.append(f"the same Idempotency-Key made two handoffs: {ids}")
        other = _create_handoff(probe, dumps(_handoff_body(probe, "o028b", reason="complaint")),
                                key)
        if other.outcome in ("5xx", "crash", "hang"):
            problems.append(f"the key reused with another body: {other.got()[:60]}")
        second.problems = problems
        return second
    cases.append(Case("o028", "handoff", ph, "replayed request", expect="2xx", run=replay))

    lh = "GET /api/v1/handoffs"
    read = {"Authorization": f"Bearer {c.handoff_token}"}
    add("o030", lh, "missing token", "GET", "/api/v1/handoffs", {})
    add("o031", lh, "NUL in text", "GET", "/api/v1/handoffs?status=%00", read)
    add("o032", lh, "surrogate in query", "GET", f"/api/v1/handoffs?status={SURROGATE_PATH}", read)
    add("o033", lh, "other service's token", "GET", "/api/v1/handoffs",
        {"Authorization": f"Bearer {c.shop_token}"})
    gh = "GET /api/v1/handoffs/<id>"
    add("o034", gh, "long id", "GET", f"/api/v1/handoffs/{LONG_NAME}", read)
    add("o035", gh, "surrogate in id", "GET", f"/api/v1/handoffs/{SURROGATE_PATH}", read)
    add("o036", gh, "path traversal", "GET", "/api/v1/handoffs/..%2F..%2Fhealth", read)
    add("o037", gh, "NUL in id", "GET", "/api/v1/handoffs/%00", read)
    mh = "GET /api/v1/handoffs/<id>/messages"
    for i, (klass, query, expect) in enumerate([
        ("huge number", "after=99999999999999999999999", "not_5xx"),
        ("huge number", "after=-99999999999999999999999", "not_5xx"),
        ("bad number", "after=1e5", "4xx"),
        ("bad number", "after=NaN", "4xx"),
        ("NUL in text", "after=%00", "4xx"),
    ], start=40):
        add(f"o{i:03d}", mh, klass, "GET", f"/api/v1/handoffs/{{handoff_id}}/messages?{query}",
            read, expect=expect)
    cf = "GET /api/v1/conversations/<id>/messages"
    conv = f"/api/v1/conversations/{probe.sender('o000')}/messages"
    add("o045", cf, "huge number", "GET", f"{conv}?after=99999999999999999999999", read,
        expect="not_5xx")
    add("o046", cf, "missing token", "GET", conv, {})
    add("o047", cf, "surrogate in id", "GET",
        f"/api/v1/conversations/{SURROGATE_PATH}/messages", read, expect="not_5xx")
    add("o048", cf, "path traversal", "GET",
        "/api/v1/conversations/..%2F..%2F..%2Fhealth/messages", read, expect="not_5xx")
    pm = "POST /api/v1/handoffs/<id>/messages"
    msgs = "/api/v1/handoffs/{handoff_id}/messages"
    add("o050", pm, "missing token", "POST", msgs, JSON, {"text": "您好，我是客服"})
    add("o051", pm, "bot token on agent route", "POST", msgs, bot, {"text": "您好"})
    add("o052", pm, "surrogate in text", "POST", msgs, agent, {"text": "您好\ud800"}, "not_5xx")
    add("o053", pm, "NUL in text", "POST", msgs, agent, {"text": "您好\u0000"}, "not_5xx")
    add("o054", pm, "message type/empty", "POST", msgs, agent, {"text": ["您好"]})
    add("o055", pm, "huge body", "POST", msgs, agent, {"text": "您好" * 2000})
    add("o056", pm, "non-object/nested body", "POST", msgs, agent, NESTED)
    for i, action in enumerate(("claim", "resolve", "handback", "cancel"), start=57):
        add(f"o{i:03d}", f"POST /api/v1/handoffs/<id>/{action}", "missing token", "POST",
            f"/api/v1/handoffs/{{handoff_id}}/{action}", {}, None)
    add("o061", "POST /api/v1/handoffs/<id>/claim", "bot token on agent route", "POST",
        "/api/v1/handoffs/{handoff_id}/claim", bot, None)
    add("o062", "POST /api/v1/handoffs/<id>/claim", "long id", "POST",
        f"/api/v1/handoffs/{LONG_NAME}/claim", agent, None)
    add("o063", "GET /api/v1/me", "bot token on agent route", "GET", "/api/v1/me", bot)
    add("o064", "GET /api/v1/me", "wrong token", "GET", "/api/v1/me",
        {"Authorization": "Bearer " + "x" * 5000})
    add("o065", "POST /api/v1/auth/logout", "missing token", "POST", "/api/v1/auth/logout", {})
    lg = "POST /api/v1/auth/login"
    for i, (klass, body, headers) in enumerate([
        ("surrogate in id", {"username": "xiao\ud800wang", "password": "password123"}, JSON),
        ("NUL in id", {"username": "xiao\u0000wang", "password": "password123"}, JSON),
        ("surrogate in text", {"username": "xiaowang", "password": "pass\udfffword"}, JSON),
        ("NUL in text", {"username": "xiaowang", "password": "pass\u0000word"}, JSON),
        ("wrong types", {"username": ["xiaowang"], "password": {"$gt": ""}}, JSON),
        ("long id", {"username": "u" * 100_000, "password": "p"}, JSON),
        ("huge body", {"username": "xiaowang", "password": "p" * 1_500_000}, JSON),
        ("non-object/nested body", NESTED, JSON),
        ("non-object/nested body", b"", JSON),
        ("invalid UTF-8", b'{"username":"' + INVALID_UTF8 + b'","password":"x"}', JSON),
        ("wrong content type", b"username=xiaowang&password=password123", FORM),
    ], start=70):
        add(f"o{i:03d}", lg, klass, "POST", "/api/v1/auth/login", headers, body)

    def lockout(probe: Probe, case: Case) -> Result:
        creds = probe.ensure_agent()
        if creds is None:
            return Result("crash", detail="no probe agent (handoff CLI failed)")
        problems = []
        for attempt in range(10):
            bad = probe.send("handoff", "POST", "/api/v1/auth/login",
                             {**JSON, "X-Forwarded-For": "203.0.113.66"},
                             dumps({"username": creds[0], "password": f"guess-{attempt}"}))
            if bad.outcome != "4xx":
                problems.append(f"failed login {attempt + 1} answered {bad.got()[:50]}")
                break
        good = probe.send("handoff", "POST", "/api/v1/auth/login",
                          {**JSON, "X-Forwarded-For": "198.51.100.23"},
                          dumps({"username": creds[0], "password": creds[1]}))
        if not behind_proxy:
            # No proxy configured: X-Forwarded-For is the client's claim and must not let a
            # guesser dodge the lockout by rotating it (the agent's own address is not
            # reachable from loopback, so that half is checked in tests/handoff/).
            if good.outcome != "4xx" or good.status != 429:
                problems.append(f"a rotated X-Forwarded-For dodged the lockout: {good.got()[:50]}")
        good.problems = problems
        return good
    behind_proxy = int(probe.config.env.get("HANDOFF_PROXIES_COUNT") or 0) > 0
    cases.append(Case("o081", "handoff", lg, "lockout by someone else",
                      expect="2xx" if behind_proxy else "4xx", run=lockout))
    st = "GET /console/static/<name>"
    for i, (klass, name) in enumerate([
        ("long file name", LONG_NAME + ".js"),
        ("long file name", "b" * 300),
        ("path traversal", "..%2F..%2Fapp.py"),
        ("path traversal", "..%2F..%2F..%2F..%2Fetc%2Fpasswd"),
        ("path traversal", "%2e%2e%2fconfig.py"),
        ("NUL in id", "console.js%00.html"),
        ("surrogate in id", f"{SURROGATE_PATH}.js"),
    ], start=90):
        add(f"o{i:03d}", st, klass, "GET", f"/console/static/{name}", {})

    # Poisoned timestamps: the queue must stay readable afterwards. Last in this group.
    def poisoned(raw: bytes):
        def run(probe: Probe, case: Case) -> Result:
            result = _create_handoff(probe, raw)
            result.problems += _list_still_ok(probe)
            data = result.json()
            if isinstance(data, dict) and data.get("id"):
                one = probe.send("handoff", "GET", f"/api/v1/handoffs/{quote(str(data['id']))}",
                                 {"Authorization": f"Bearer {probe.config.handoff_token}"})
                if one.outcome in ("5xx", "crash", "hang"):
                    result.problems.append(f"GET of the new handoff answered {one.got()[:50]}")
            return result
        return run

    def with_time(tag: str, ts: bytes, field: str = "transcript") -> bytes:
        body = dumps(_handoff_body(probe, tag, transcript=[]))
        at = ts if field == "transcript" else str(time.time()).encode()
        turn = (b'[{"sender":"customer","text":"' + "转人工".encode() + b'","timestamp":' + at
                + b"}]")
        body = body.replace(b'"transcript": []', b'"transcript": ' + turn)
        if field == "requested_at":
            body = body[:-1] + b', "requested_at": ' + ts + b"}"
        return body

    for i, (ts, field) in enumerate([
        (b"1e300", "transcript"), (b"NaN", "transcript"), (b"Infinity", "transcript"),
        (b"-1", "transcript"), (b"1e20", "transcript"), ('"明天下午"'.encode(), "transcript"),
        (b'"9999-12-31T23:59:59"', "transcript"), (b'"0001-01-01T00:00:00+14:00"', "transcript"),
        (b"true", "transcript"), (b'{"$gt": 0}', "transcript"), (b"1e300", "requested_at"),
        (b'"1e300"', "requested_at"),
    ], start=100):
        cases.append(Case(f"o{i:03d}", "handoff", ph, "poisoned timestamp", expect="not_5xx",
                          run=poisoned(with_time(f"o{i:03d}", ts, field))))
    return cases


# ---- widget server -------------------------------------------------------------------


def widget_cases(probe: Probe) -> list[Case]:
    c = probe.config
    probe.state.setdefault("widget_session", secrets.token_hex(16))
    probe.state.setdefault("widget_token", "no-token-issued")
    cases: list[Case] = []

    def add(cid: str, endpoint: str, klass: str, method: str, path: str, headers: dict,
            body: Any = None, expect: str = "4xx", follow_up: Any = None) -> None:
        raw = body if body is None or isinstance(body, bytes) else dumps(body)
        cases.append(Case(cid, "widget", endpoint, klass, method, path, headers, raw, expect,
                          follow_up=follow_up))

    def setup(probe: Probe, case: Case) -> Result:
        client = WidgetClient(probe.url("rasa", ""))
        try:
            client.connect()
            session, token = client.session({})
            if session is None:
                return Result("hang", detail="no session_confirm")
            probe.state["widget_session"] = session
            if token:
                probe.state["widget_token"] = token
            texts = client.say("我的快递到哪了", session)
            other = WidgetClient(probe.url("rasa", ""))
            try:
                other.connect()
                probe.state["other_session"], other_token = other.session({})
                if other_token:
                    probe.state["other_token"] = other_token
            finally:
                other.close()
            return Result("2xx" if texts else "hang",
                          detail=f"session {session[:8]}…, token {'issued' if token else 'none'}")
        except Exception as error:  # noqa: BLE001
            return Result("crash", detail=f"socket.io: {error}")
        finally:
            client.close()
    cases.append(Case("w000", "widget", "GET /api/history/<session_id>", "set-up (control)",
                      expect="2xx", run=setup))
    hist = "/api/history/{widget_session}"
    hg = "GET /api/history/<session_id>"
    add("w001", hg, "missing token", "GET", hist, {})
    add("w002", hg, "wrong token", "GET", hist, {"X-Session-Token": "guess"})
    add("w003", hg, "token in wrong place", "GET", hist + "?token={widget_token}", {})
    add("w004", hg, "other session's token", "GET", hist, {"X-Session-Token": "{other_token}"})
    add("w005", hg, "other service's token", "GET", hist,
        {"Authorization": f"Bearer {c.rasa_token}"})
    add("w006", hg, "invalid bytes in token", "GET", hist, {"X-Session-Token": b"\xed\xa0\x80\x00"})
    for i, (klass, sid) in enumerate([
        ("bad session id", "0" * 31),
        ("bad session id", "A" * 32),
        ("surrogate in id", SURROGATE_PATH),
        ("NUL in id", "0" * 31 + "%00"),
        ("long id", LONG_NAME),
        ("other channel sender", probe.sender("r092")),
        ("path traversal", "..%2F..%2Fhealth"),
        ("path traversal", "..%2F..%2F..%2Fconversations%2Fdefault%2Ftracker"),
    ], start=7):
        add(f"w{i:03d}", hg, klass, "GET", f"/api/history/{sid}", {})
    pc = "POST /api/csat"

    def rating(**changes: Any) -> dict[str, Any]:
        return {"session_id": "{widget_session}", "rating": 5, "episode": "e1",
                "trigger": "goodbye", "comment": "客服很耐心", **changes}
    add("w020", pc, "missing token", "POST", "/api/csat", JSON, rating())
    add("w021", pc, "wrong token", "POST", "/api/csat", {**JSON, "X-Session-Token": "guess"},
        rating())
    for i, (klass, body) in enumerate([
        ("non-object/nested body", b"[]"),
        ("non-object/nested body", NESTED),
        ("non-object/nested body", b""),
        ("invalid UTF-8", b'{"session_id":"' + INVALID_UTF8 + b'"}'),
        ("huge body", dumps(rating(comment="好" * 1_000_000))),
        ("wrong types", dumps(rating(rating="5"))),
        ("bad number", b'{"session_id":"x","rating":1e300,"episode":"e","trigger":"goodbye"}'),
        ("bad number", b'{"session_id":"x","rating":NaN,"episode":"e","trigger":"goodbye"}'),
        ("wrong types", dumps(rating(rating=True))),
        ("surrogate in text", dumps(rating(comment="很好\ud800",
                                           session_id=secrets.token_hex(16)))),
        ("injection object", dumps(rating(episode={"$gt": ""}))),
    ], start=22):
        add(f"w{i:03d}", pc, klass, "POST", "/api/csat", JSON, body)
    add("w033", pc, "wrong content type", "POST", "/api/csat", FORM, b"session_id=x&rating=5")
    cs = "GET /api/csat/summary"
    add("w040", cs, "missing token", "GET", "/api/csat/summary", {})
    add("w041", cs, "other service's token", "GET", "/api/csat/summary",
        {"Authorization": f"Bearer {c.rasa_token}"})
    add("w042", cs, "other service's token", "GET", "/api/csat/summary",
        {"Authorization": f"Bearer {c.handoff_token}"})
    add("w043", cs, "token in wrong place", "GET",
        f"/api/csat/summary?token={quote(c.widget_admin_token or c.rasa_token)}", {})
    add("w044", cs, "Bearer missing", "GET", "/api/csat/summary",
        {"Authorization": c.widget_admin_token or "guess"})
    add("w045", cs, "session token as admin", "GET", "/api/csat/summary",
        {"Authorization": "Bearer {widget_token}", "X-Session-Token": "{widget_token}"})
    sf = "GET /widget/<name>"
    for i, (klass, name) in enumerate([
        ("long file name", LONG_NAME + ".js"),
        ("path traversal", "..%2f..%2fetc%2fpasswd"),
        ("path traversal", "..%2F..%2Fapp.py"),
        ("path traversal", "%2e%2e%2f%2e%2e%2fwidget.db"),
        ("NUL in id", "shop-chat.js%00.html"),
        ("surrogate in id", f"shop-chat{SURROGATE_PATH}.js"),
    ], start=50):
        add(f"w{i:03d}", sf, klass, "GET", f"/widget/{name}", {})

    def no_script(probe: Probe, case: Case, result: Result) -> list[str]:
        return ["the Host header is reflected unescaped"] if b"<script>alert" in result.body else []
    add("w060", "GET /", "header injection", "GET", "/",
        {"Host": 'evil.example"><script>alert(1)</script>'}, expect="not_5xx", follow_up=no_script)
    add("w061", "GET /", "header injection", "GET", "/", {"Host": "a" * 10_000}, expect="not_5xx",
        follow_up=no_script)
    add("w062", "GET /", "invalid bytes in header", "GET", "/", {"Host": b"\xed\xa0\x80:8080"},
        expect="not_5xx")
    add("w063", "OPTIONS /api/csat", "header injection", "OPTIONS", "/api/csat",
        {"Origin": "null", "Access-Control-Request-Headers": "x" * 8000}, expect="not_5xx")
    return cases


# ---- floods (last: rate limits may then answer 429 for a while) ----------------------


def _flood(count: int, same_sender: bool, want_429: bool):
    def run(probe: Probe, case: Case) -> Result:
        base = probe.sender(case.id)

        def one(i: int) -> Result:
            return probe.rest(base if same_sender else f"{base}.{i}", "在吗？我的快递到哪了")

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(one, range(count)))
        counts: dict[str, int] = {}
        for result in results:
            key = str(result.status) if result.status else result.outcome
            counts[key] = counts.get(key, 0) + 1
        worst = next((o for o in ("crash", "hang", "5xx") if any(r.outcome == o for r in results)),
                     None)
        limited = sum(1 for r in results if r.status == 429)
        problems = []
        if want_429 and not limited:
            problems.append(f"no 429 among {count} rapid messages from one sender")
        for result in results:
            if result.status == 429 and not any("\u4e00" <= ch <= "\u9fff" for ch in
                                                result.body.decode("utf-8", "replace")):
                problems.append("a 429 without a Chinese message")
                break
        detail = f"{count} in {time.monotonic() - started:.0f}s: " + ", ".join(
            f"{k}×{v}" for k, v in sorted(counts.items()))
        outcome = worst or ("4xx" if limited else "2xx")
        status = {"2xx": 200, "4xx": 429}.get(outcome)
        return Result(outcome, status, detail=detail, problems=problems)
    return run


def flood_cases(probe: Probe) -> list[Case]:
    return [
        Case("f001", "rasa", f"POST {REST} (flood)", "rate limit", expect="not_5xx",
             run=_flood(430, same_sender=True, want_429=True)),
        Case("f002", "rasa", f"POST {REST} (flood)", "rate limit", expect="not_5xx",
             run=_flood(430, same_sender=False, want_429=False)),
    ]
