"""Hostile requests for the endpoints of issue 23 and after: the agent workbench and the
supervisors' reports of the handoff service, the widget's photo uploads, the Rasa widget
channel's agent-activity route and the REST channel's `message_id` (once-only delivery).

Same rules as `security.cases`: no destructive request with a valid secret beyond what a probe
conversation owns (its own handoff's tags and notes, a canned reply it deletes again).
"""
from __future__ import annotations

import io
import json
import secrets
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

from security.cases import (
    FORM,
    INVALID_UTF8,
    JSON,
    LONG_NAME,
    NESTED,
    REST,
    SURROGATE_PATH,
    _rest,
    dumps,
)
from security.probe import Case, Probe, Result, bot_texts

HANDOFFS = "/api/v1/handoffs"
COOKIE = "handoff_session"
CONSOLE = "X-Handoff-Console"
ACTIVITY = "/webhooks/socketio/agent_activity"


# ---- images ----------------------------------------------------------------------------


@cache
def png(width: int = 8, height: int = 8, mode: str = "RGB") -> bytes:
    """A real PNG made with Pillow (the venv's)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new(mode, (width, height), 0 if mode == "L" else (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@cache
def jpeg(comment: bytes = b"") -> bytes:
    """A real JPEG, optionally with a COM segment (where a polyglot hides its script)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (30, 30, 200)).save(out, "JPEG", quality=80)
    data = out.getvalue()
    if comment:
        segment = b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
        data = data[:2] + segment + data[2:]
    return data


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


@cache
def png_bomb() -> bytes:
    """A small PNG (about 50 KB) that claims 8000 × 6000 pixels: past the pixel budget."""
    raw = zlib.compress(b"\x00" * (8001 * 6000), 9)  # filter byte + one grey byte per pixel
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 8000, 6000, 8, 0, 0,
                                                                0, 0))
            + _chunk(b"IDAT", raw) + _chunk(b"IEND", b""))


@cache
def png_lying_header() -> bytes:
    """PNG magic and end, chunks in between with a length far past the file."""
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 0x7FFFFFF0) + b"IHDR" + b"\x00" * 13
            + _chunk(b"IEND", b""))


# ---- handoff: the workbench ----------------------------------------------------------------


def _agent(token_key: str = "agent_token") -> dict[str, str]:
    return {"Authorization": f"Bearer {{{token_key}}}", **JSON}


def _cookie(token_key: str = "agent_token", console: bool = False) -> dict[str, str]:
    headers = {"Cookie": f"{COOKIE}={{{token_key}}}", **JSON}
    if console:
        headers[CONSOLE] = "1"
    return headers


def workbench_cases(probe: Probe) -> list[Case]:
    """Context, notes, activity, tags, transfers, canned replies, photos, queue filters."""
    c = probe.config
    bot = {"Authorization": f"Bearer {c.handoff_token}", **JSON}
    agent = _agent()
    cases: list[Case] = []

    def add(cid: str, endpoint: str, klass: str, method: str, path: str, headers: dict,
            body: Any = None, expect: str = "4xx", follow_up: Any = None) -> None:
        raw = body if body is None or isinstance(body, bytes) else dumps(body)
        cases.append(Case(cid, "handoff", endpoint, klass, method, path, headers, raw, expect,
                          follow_up=follow_up))

    one = HANDOFFS + "/{handoff_id}"
    ctx = "GET /api/v1/handoffs/<id>/context"
    add("d001", ctx, "missing token", "GET", one + "/context", {})
    add("d002", ctx, "bot token on agent route", "GET", one + "/context", bot)
    add("d003", ctx, "wrong token", "GET", one + "/context", {"Authorization": "Bearer guess"})
    add("d004", ctx, "invalid bytes in token", "GET", one + "/context",
        {"Authorization": b"Bearer \xed\xa0\x80\x00"})
    add("d005", ctx, "long id", "GET", f"{HANDOFFS}/{LONG_NAME}/context", agent)
    add("d006", ctx, "surrogate in id", "GET", f"{HANDOFFS}/{SURROGATE_PATH}/context", agent)
    add("d007", ctx, "NUL in id", "GET", f"{HANDOFFS}/%00/context", agent)
    add("d008", ctx, "injection string", "GET", f"{HANDOFFS}/'%20OR%20'1'='1/context", agent)
    add("d009", ctx, "path traversal", "GET", f"{HANDOFFS}/..%2F..%2Fme/context", agent)
    add("d010", ctx, "control (agent's own session)", "GET", one + "/context", agent, expect="2xx")
    add("d011", ctx, "cookie (safe method, control)", "GET", one + "/context", _cookie(),
        expect="2xx")

    notes = one + "/notes"
    pn = "POST /api/v1/handoffs/<id>/notes"
    for i, (klass, headers, body) in enumerate([
        ("missing token", JSON, {"text": "客户情绪激动，先安抚"}),
        ("bot token on agent route", bot, {"text": "客户情绪激动"}),
        ("cookie without console header", _cookie(), {"text": "客户情绪激动"}),
        ("message type/empty", agent, {"text": ""}),
        ("message type/empty", agent, {"text": ["备注"]}),
        ("message type/empty", agent, {"note": "备注"}),
        ("huge body", agent, {"text": "备" * 2001}),
        ("huge body", agent, b'{"text":"' + b"x" * 2_200_000 + b'"}'),
        ("surrogate in text", agent, {"text": "备注\ud800"}),
        ("NUL in text", agent, {"text": "备注\u0000"}),
        ("non-object/nested body", agent, NESTED),
        ("non-object/nested body", agent, b"[]"),
        ("invalid UTF-8", agent, b'{"text":"' + INVALID_UTF8 + b'"}'),
        ("wrong content type", {**agent, **FORM}, b"text=abc"),
    ], start=20):
        add(f"d{i:03d}", pn, klass, "POST", notes, headers, body)
    add("d034", pn, "unknown id", "POST", f"{HANDOFFS}/{secrets.token_hex(8)}/notes", agent,
        {"text": "备注"})
    add("d035", pn, "injection string (stored as text)", "POST", notes, agent,
        {"text": "<script>alert(1)</script>'; DROP TABLE handoffs; -- {{7*7}} %s%n"}, "2xx")

    act = one + "/activity"
    pa = "POST /api/v1/handoffs/<id>/activity"
    for i, (klass, headers, body) in enumerate([
        ("missing token", JSON, {"typing": True}),
        ("bot token on agent route", bot, {"typing": True}),
        ("cookie without console header", _cookie(), {"typing": True}),
        ("wrong types", agent, {"typing": "yes"}),
        ("wrong types", agent, {"typing": 1, "read": "true"}),
        ("message type/empty", agent, {}),
        ("message type/empty", agent, {"typing": None, "read": None}),
        ("non-object/nested body", agent, NESTED),
        ("huge body", agent, {"typing": True, "pad": "x" * 2_200_000}),
        ("not the holding agent", agent, {"typing": True}),
    ], start=40):
        add(f"d{i:03d}", pa, klass, "POST", act, headers, body)

    tags = one + "/tags"
    pt = "PUT /api/v1/handoffs/<id>/tags"
    for i, (klass, headers, body) in enumerate([
        ("missing token", JSON, {"tags": ["退款"]}),
        ("bot token on agent route", bot, {"tags": ["退款"]}),
        ("cookie without console header", _cookie(), {"tags": ["退款"]}),
        ("wrong types", agent, {"tags": "退款"}),
        ("wrong types", agent, {"tags": [1, 2]}),
        ("injection object", agent, {"tags": [{"$gt": ""}]}),
        ("too many", agent, {"tags": [f"t{n}" for n in range(9)]}),
        ("long id", agent, {"tags": ["标" * 17]}),
        ("control chars", agent, {"tags": ["退款\n加急"]}),
        ("RTL/zero-width", agent, {"tags": ["\u202e款退"]}),
        ("surrogate in text", agent, {"tags": ["退\ud800款"]}),
        ("message type/empty", agent, {"tags": [" "]}),
        ("huge body", agent, {"tags": ["a"] * 300_000}),
    ], start=60):
        add(f"d{i:03d}", pt, klass, "PUT", tags, headers, body)
    add("d073", pt, "control (valid tags, duplicates)", "PUT", tags, agent,
        {"tags": ["退款", "退款", "加急"]}, "2xx")
    add("d074", pt, "unknown id", "PUT", f"{HANDOFFS}/{secrets.token_hex(8)}/tags", agent,
        {"tags": ["退款"]})

    tr = one + "/transfer"
    px = "POST /api/v1/handoffs/<id>/transfer"
    for i, (klass, headers, body) in enumerate([
        ("missing token", JSON, {"group": "aftersales"}),
        ("bot token on agent route", bot, {"group": "aftersales"}),
        ("cookie without console header", _cookie(), {"group": "aftersales"}),
        ("both/neither", agent, {}),
        ("both/neither", agent, {"group": "aftersales", "agent": "xiaowang"}),
        ("unknown value", agent, {"group": "../../admin"}),
        ("wrong types", agent, {"group": ["aftersales"]}),
        ("wrong types", agent, {"agent": {"$ne": None}}),
        ("long id", agent, {"agent": "u" * 5000}),
        ("NUL in id", agent, {"agent": "xiao\u0000wang"}),
        ("surrogate in id", agent, {"agent": "xiao\ud800wang"}),
        ("unknown agent", agent, {"agent": f"nobody_{probe.config.run_id}"}),
        ("self transfer", agent, {"agent": f"probe_{probe.config.run_id}"}),
        ("non-object/nested body", agent, NESTED),
    ], start=80):
        add(f"d{i:03d}", px, klass, "POST", tr, headers, body)

    img = one + "/images/"
    gi = "GET /api/v1/handoffs/<id>/images/<image_id>"
    for i, (klass, headers, image_id) in enumerate([
        ("missing token", {}, secrets.token_hex(16)),
        ("bot token on agent route", bot, secrets.token_hex(16)),
        ("not in this conversation", agent, secrets.token_hex(16)),
        ("bad image id", agent, "A" * 32),
        ("path traversal", agent, "..%2F..%2F..%2Fetc%2Fpasswd"),
        ("path traversal", agent, "%2e%2e%2f" + secrets.token_hex(16)),
        ("long id", agent, LONG_NAME),
        ("NUL in id", agent, secrets.token_hex(16) + "%00"),
        ("surrogate in id", agent, SURROGATE_PATH),
    ], start=100):
        add(f"d{i:03d}", gi, klass, "GET", img + image_id, headers)
    add("d109", gi, "unknown id", "GET", f"{HANDOFFS}/{LONG_NAME}/images/{secrets.token_hex(16)}",
        agent)

    canned = "/api/v1/canned-replies"
    gc = "GET /api/v1/canned-replies"
    add("d120", gc, "missing token", "GET", canned, {})
    add("d121", gc, "bot token on agent route", "GET", canned, bot)
    add("d122", gc, "other service's token", "GET", canned,
        {"Authorization": f"Bearer {c.rasa_token}"})
    add("d123", gc, "token in wrong place", "GET", canned + "?token={agent_token}", {})
    pc = "POST /api/v1/canned-replies"
    for i, (klass, headers, body) in enumerate([
        ("missing token", JSON, {"title": "问候", "text": "您好"}),
        ("bot token on agent route", bot, {"title": "问候", "text": "您好"}),
        ("cookie without console header", _cookie(), {"title": "问候", "text": "您好"}),
        ("message type/empty", agent, {"title": "", "text": "您好"}),
        ("message type/empty", agent, {"title": "问候"}),
        ("wrong types", agent, {"title": ["问候"], "text": {"$gt": ""}}),
        ("long title", agent, {"title": "题" * 33, "text": "您好"}),
        ("huge body", agent, {"title": "问候", "text": "好" * 2001}),
        ("surrogate in text", agent, {"title": "问候", "text": "您好\udfff"}),
        ("NUL in text", agent, {"title": "问\u0000候", "text": "您好"}),
        ("invalid UTF-8", agent, b'{"title":"' + INVALID_UTF8 + b'","text":"x"}'),
        ("non-object/nested body", agent, NESTED),
    ], start=124):
        add(f"d{i:03d}", pc, klass, "POST", canned, headers, body)

    def canned_round_trip(probe: Probe, case: Case) -> Result:
        """A canned reply with hostile placeholders through the console's cookie and header:
        created (2xx), listed with the text as sent, then deleted again."""
        text = "{客户称呼}您好，{订单号}{{{}}}{" + "x" * 20 + "}<img src=x onerror=alert(1)>"
        headers = {k: probe.fill(v) for k, v in _cookie(console=True).items()}
        made = probe.send("handoff", "POST", canned, headers,
                          dumps({"title": f"探针{probe.config.run_id[-4:]}", "text": text}))
        data = made.json() if isinstance(made.json(), dict) else {}
        if made.outcome == "2xx" and data.get("id") is not None:
            listed = probe.send("handoff", "GET", canned, headers)
            rows = (listed.json() or {}).get("canned_replies", []) \
                if isinstance(listed.json(), dict) else []
            if not any(r.get("text") == text for r in rows if isinstance(r, dict)):
                made.problems.append("the canned reply is not listed with its text as sent")
            gone = probe.send("handoff", "DELETE", f"{canned}/{data['id']}", headers)
            if gone.outcome != "2xx":
                made.problems.append(f"deleting it answered {gone.got()[:50]}")
        return made
    cases.append(Case("d136", "handoff", pc, "placeholder/markup (console cookie, control)",
                      expect="2xx", run=canned_round_trip))
    for method in ("PUT", "DELETE"):
        ep = f"{method} /api/v1/canned-replies/<id>"
        base = 140 if method == "PUT" else 150
        body = {"title": "问候", "text": "您好"} if method == "PUT" else None
        for i, (klass, headers, rid) in enumerate([
            ("missing token", JSON, "1"),
            ("cookie without console header", _cookie(), "1"),
            ("bad number", agent, "-1"),
            ("bad number", agent, "1e3"),
            ("huge number", agent, "9" * 30),
            ("long id", agent, "9" * 5000),
            ("NUL in id", agent, "1%00"),
            ("surrogate in id", agent, SURROGATE_PATH),
            ("path traversal", agent, "..%2F..%2Fhandoffs"),
        ]):
            add(f"d{base + i:03d}", ep, klass, method, f"{canned}/{rid}", headers, body)

    lq = "GET /api/v1/handoffs (filters)"
    read = {"Authorization": f"Bearer {c.handoff_token}"}
    for i, (klass, query, expect) in enumerate([
        ("unknown value", "priority=critical", "4xx"),
        ("unknown value", "reason=%7B%22%24gt%22%3A%22%22%7D", "4xx"),
        ("unknown value", "group=..%2F..%2Fadmin", "4xx"),
        ("long query", "q=" + "查" * 101, "4xx"),
        ("long query", "q=" + "a" * 9000, "4xx"),
        ("long query", "tag=" + "标" * 17, "4xx"),
        ("NUL in text", "q=%00", "4xx"),
        # Undecodable bytes in a query string become U+FFFD: a search that finds nothing.
        ("surrogate in query", f"q={SURROGATE_PATH}", "not_5xx"),
        ("control chars", "q=a%0D%0AX-Injected:%201", "4xx"),
        ("injection string", "q=%27%20OR%201%3D1%20--", "2xx"),
        ("injection string", "q=%25%5F%25", "2xx"),
        ("injection string", "channel=rest%27%3B--", "2xx"),
        ("bad date", "since=yesterday", "4xx"),
        ("bad date", "since=2026-02-30", "4xx"),
        ("bad date", "until=1e300", "4xx"),
        ("bad date", "since=2026-01-01T00:00:00%2B25:00", "4xx"),
        ("bad date", "since=" + "2026-01-01" * 10, "4xx"),
        ("extreme date", "since=0001-01-01T00:00:00%2B14:00", "2xx"),
        ("extreme date", "until=9999-12-31T23:59:59-14:00", "2xx"),
        ("reversed range", "since=2030-01-01&until=2020-01-01", "2xx"),
        ("duplicate parameters", "priority=urgent&priority=bogus&q=a&q=b", "2xx"),
        ("control (all filters)", "status=all&priority=urgent&reason=complaint&channel=rest"
         "&q=%E9%80%80%E6%AC%BE&tag=%E9%80%80%E6%AC%BE&group=aftersales&since=2020-01-01"
         "&until=2100-01-01T00:00:00Z", "2xx"),
    ], start=170):
        add(f"d{i:03d}", lq, klass, "GET", f"{HANDOFFS}?{query}", read, expect=expect)
    add("d192", lq, "long query", "GET", f"{HANDOFFS}?x={'y' * 20_000}", read, expect="4xx")
    return cases


# ---- handoff: the supervisors' reports ----------------------------------------------------


def report_cases(probe: Probe) -> list[Case]:
    """Reports, exports, the labelling queue and the team view: supervisors only."""
    c = probe.config
    bot = {"Authorization": f"Bearer {c.handoff_token}"}
    agent = {"Authorization": "Bearer {agent_token}"}
    sup = {"Authorization": "Bearer {supervisor_token}"}
    probe.state.setdefault("supervisor_token", "no-such-session")
    cases: list[Case] = []

    def add(cid: str, endpoint: str, klass: str, method: str, path: str, headers: dict,
            body: Any = None, expect: str = "4xx") -> None:
        raw = body if body is None or isinstance(body, bytes) else dumps(body)
        cases.append(Case(cid, "handoff", endpoint, klass, method, path, headers, raw, expect))

    def setup(probe: Probe, case: Case) -> Result:
        creds = probe.ensure_agent("supervisor")
        if creds is None:
            return Result("crash", detail="no probe supervisor (handoff CLI failed)")
        login = probe.send("handoff", "POST", "/api/v1/auth/login", JSON,
                           dumps({"username": creds[0], "password": creds[1]}))
        data = login.json() if isinstance(login.json(), dict) else {}
        if data.get("token"):
            probe.state["supervisor_token"] = data["token"]
        else:
            login.problems.append(f"the probe supervisor could not log in: {login.got()[:60]}")
        return login
    cases.append(Case("v000", "handoff", "GET /api/v1/reports", "set-up (control)",
                      expect="2xx", run=setup))

    rep = "/api/v1/reports"
    gr = "GET /api/v1/reports"
    for i, (klass, headers, query, expect) in enumerate([
        ("missing token", {}, "", "4xx"),
        ("bot token on supervisor route", bot, "", "4xx"),
        ("agent on supervisor route", agent, "", "4xx"),
        ("agent on supervisor route", _cookie(), "", "4xx"),
        ("token in wrong place", {}, "?token={supervisor_token}", "4xx"),
        ("invalid bytes in token", {"Authorization": b"Bearer \xed\xa0\x80\x00"}, "", "4xx"),
        ("bad date", sup, "?from=yesterday", "4xx"),
        ("bad date", sup, "?from=2026-02-30", "4xx"),
        ("bad date", sup, "?to=2026-13-01", "4xx"),
        ("bad date", sup, "?from=1999-12-31", "4xx"),
        ("bad date", sup, "?to=2101-01-01", "4xx"),
        ("bad date", sup, "?from=2026-01-01%0A", "4xx"),
        ("bad date", sup, "?from=%00", "4xx"),
        ("bad date", sup, f"?from={SURROGATE_PATH}", "4xx"),
        ("bad date", sup, "?from=" + "2" * 5000, "4xx"),
        ("bad date", sup, "?from=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-01-01", "not_5xx"),
        ("reversed range", sup, "?from=2026-06-01&to=2026-01-01", "4xx"),
        ("long range", sup, "?from=2000-01-01&to=2100-12-31", "4xx"),
        ("long query", sup, "?x=" + "y" * 20_000, "4xx"),
        ("control (supervisor)", sup, "", "2xx"),
        ("control (supervisor, one day)", sup, "?from=2026-01-01&to=2026-01-01", "2xx"),
    ], start=1):
        add(f"v{i:03d}", gr, klass, "GET", rep + query, headers, expect=expect)

    ej = "GET /api/v1/reports/export.json"
    add("v030", ej, "missing token", "GET", rep + "/export.json", {})
    add("v031", ej, "agent on supervisor route", "GET", rep + "/export.json", agent)
    add("v032", ej, "bad date", "GET", rep + "/export.json?to=2026-02-29", sup)
    add("v033", ej, "control (supervisor)", "GET", rep + "/export.json", sup, expect="2xx")
    ec = "GET /api/v1/reports/export.csv"
    for i, (klass, headers, query, expect) in enumerate([
        ("missing token", {}, "", "4xx"),
        ("agent on supervisor route", agent, "?section=per_day", "4xx"),
        ("unknown value", sup, "?section=..%2F..%2Fetc%2Fpasswd", "4xx"),
        ("unknown value", sup, "?section=" + "s" * 5000, "4xx"),
        ("NUL in text", sup, "?section=per_day%00", "4xx"),
        ("header injection", sup, "?section=per_day%0D%0AX-Injected:%201", "4xx"),
        ("bad date", sup, "?section=per_day&from=2026-1-1", "4xx"),
        ("control (supervisor)", sup, "?section=per_day", "2xx"),
    ], start=40):
        add(f"v{i:03d}", ec, klass, "GET", rep + "/export.csv" + query, headers, expect=expect)

    queue = rep + "/label-queue"
    gq = "GET /api/v1/reports/label-queue"
    add("v050", gq, "missing token", "GET", queue, {})
    add("v051", gq, "agent on supervisor route", "GET", queue, agent)
    add("v052", gq, "bot token on supervisor route", "GET", queue, bot)
    add("v053", gq, "control (supervisor)", "GET", queue, sup, expect="2xx")
    tq = "GET /api/v1/reports/label-queue.tsv"
    add("v054", tq, "missing token", "GET", queue + ".tsv", {})
    add("v055", tq, "agent on supervisor route", "GET", queue + ".tsv", agent)
    add("v056", tq, "control (supervisor)", "GET", queue + ".tsv", sup, expect="2xx")
    sup_json = {**sup, **JSON}
    pq = "POST /api/v1/reports/label-queue"
    for i, (klass, headers, body) in enumerate([
        ("missing token", JSON, {"group": "0" * 12}),
        ("agent on supervisor route", {**agent, **JSON}, {"group": "0" * 12}),
        ("cookie without console header", _cookie("supervisor_token"), {"group": "0" * 12}),
        ("bad group key", sup_json, {"group": "../../etc"}),
        ("wrong types", sup_json, {"group": ["0" * 12]}),
        ("injection object", sup_json, {"group": {"$gt": ""}}),
        ("unknown group", sup_json, {"group": "0" * 12}),
        ("bad date", sup_json, {"group": "0" * 12, "from": 20260101}),
        ("bad date", sup_json, {"group": "0" * 12, "from": "2026-02-30"}),
        ("reversed range", sup_json, {"group": "0" * 12, "from": "2026-06-01",
                                      "to": "2026-01-01"}),
        ("non-object/nested body", sup_json, NESTED),
        ("non-object/nested body", sup_json, b"[]"),
        ("invalid UTF-8", sup_json, b'{"group":"' + INVALID_UTF8 + b'"}'),
        ("huge body", sup_json, {"group": "0" * 12, "pad": "x" * 2_200_000}),
    ], start=60):
        add(f"v{i:03d}", pq, klass, "POST", queue, headers, body)
    pl = "POST /api/v1/reports/label-queue/<row_id>"
    for i, (klass, headers, rid, body) in enumerate([
        ("missing token", JSON, "1", {"label": "ask_order_status"}),
        ("agent on supervisor route", {**agent, **JSON}, "1", {"label": "ask_order_status"}),
        ("huge number", sup_json, "9" * 30, {"label": "ask_order_status"}),
        ("long id", sup_json, "9" * 5000, {"label": "ask_order_status"}),
        ("bad number", sup_json, "-1", {"label": "ask_order_status"}),
        ("bad number", sup_json, "1e3", {"label": "ask_order_status"}),
        ("bad number", sup_json, "abc", {"label": "ask_order_status"}),
        ("unknown id", sup_json, "987654321", {"label": "ask_order_status"}),
        ("bad label", sup_json, "1", {"label": "../../etc/passwd"}),
        ("bad label", sup_json, "1", {"label": "DROP TABLE x;"}),
        ("wrong types", sup_json, "1", {"label": ["ask_order_status"]}),
        ("unknown value", sup_json, "1", {"suggested_topic": "hacking"}),
        ("message type/empty", sup_json, "1", {}),
        ("surrogate in text", sup_json, "1", {"label": "ask\ud800"}),
        ("non-object/nested body", sup_json, "1", NESTED),
    ], start=80):
        add(f"v{i:03d}", pl, klass, "POST", f"{queue}/{rid}", headers, body)

    team = "/api/v1/supervisor/team"
    gt = "GET /api/v1/supervisor/team"
    add("v100", gt, "missing token", "GET", team, {})
    add("v101", gt, "bot token on supervisor route", "GET", team, bot)
    add("v102", gt, "agent on supervisor route", "GET", team, agent)
    add("v103", gt, "wrong token", "GET", team, {"Authorization": "Bearer " + "x" * 5000})
    add("v104", gt, "control (supervisor cookie, safe method)", "GET", team,
        _cookie("supervisor_token"), expect="2xx")

    page = "GET /console/reports"
    add("v110", page, "control (public page, data needs login)", "GET", "/console/reports", {},
        expect="2xx")
    add("v111", page, "long query", "GET", "/console/reports?" + "a" * 9000, {}, expect="not_5xx")
    vend = "GET /console/static/vendor/<name>"
    for i, (klass, name) in enumerate([
        ("path traversal", "..%2F..%2Freport_routes.py"),
        ("path traversal", "..%2F..%2F..%2F.env.example"),
        ("long file name", LONG_NAME + ".js"),
        ("NUL in id", "echarts.min.js%00.html"),
        ("surrogate in id", f"echarts{SURROGATE_PATH}.js"),
    ], start=112):
        add(f"v{i:03d}", vend, klass, "GET", f"/console/static/vendor/{name}", {})
    return cases


# ---- widget: photos -------------------------------------------------------------------------


def _stored_photo_is_clean(probe: Probe, case: Case, result: Result) -> list[str]:
    """An accepted photo comes back re-encoded: no markup, no trailing data, no EXIF."""
    data = result.json() if isinstance(result.json(), dict) else {}
    image_id = data.get("image_id")
    if not isinstance(image_id, str):
        return ["an accepted photo without image_id"]
    back = probe.send("widget", "GET", probe.fill(f"/api/uploads/{{widget_session}}/{image_id}"),
                      {"X-Session-Token": probe.fill("{widget_token}")})
    if back.status != 200:
        return [f"the stored photo answered {back.got()[:50]}"]
    problems = []
    if b"<script" in back.body.lower() or b"Exif" in back.body:
        problems.append("the stored photo still carries markup or EXIF")
    return problems


def upload_cases(probe: Probe) -> list[Case]:
    """Photo uploads and reads: tokens, session ids, magic bytes, polyglots, sizes."""
    c = probe.config
    own = {"X-Session-Token": "{widget_token}", "Content-Type": "image/png"}
    up = "/api/uploads/{widget_session}"
    cases: list[Case] = []

    def add(cid: str, endpoint: str, klass: str, method: str, path: str, headers: dict,
            body: bytes | None = None, expect: str = "4xx", follow_up: Any = None) -> None:
        cases.append(Case(cid, "widget", endpoint, klass, method, path, headers, body, expect,
                          follow_up=follow_up))

    pu = "POST /api/uploads/<session_id>"
    add("u001", pu, "missing token", "POST", up, {"Content-Type": "image/png"}, png())
    add("u002", pu, "wrong token", "POST", up, {**own, "X-Session-Token": "guess"}, png())
    add("u003", pu, "other session's token", "POST", up,
        {**own, "X-Session-Token": "{other_token}"}, png())
    add("u004", pu, "token in wrong place", "POST", up + "?token={widget_token}",
        {"Content-Type": "image/png"}, png())
    add("u005", pu, "invalid bytes in token", "POST", up,
        {**own, "X-Session-Token": b"\xed\xa0\x80\x00"}, png())
    add("u006", pu, "uploads token as session token", "POST", up,
        {"Content-Type": "image/png",
         "Authorization": "Bearer " + c.env.get("WIDGET_UPLOADS_TOKEN", "x")}, png())
    for i, (klass, sid) in enumerate([
        ("bad session id", "A" * 32),
        ("path traversal", "..%2F..%2F..%2Ftmp"),
        ("long id", LONG_NAME),
        ("NUL in id", "0" * 31 + "%00"),
        ("surrogate in id", SURROGATE_PATH),
    ], start=7):
        add(f"u{i:03d}", pu, klass, "POST", f"/api/uploads/{sid}", own, png())
    html = b"<!doctype html><script>alert(document.cookie)</script>"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    zip_tail = b"PK\x03\x04" + b"\x00" * 26 + b"evil.php<?php system($_GET['c']); ?>"
    for i, (klass, body, expect) in enumerate([
        ("message type/empty", b"", "4xx"),
        ("wrong magic bytes", html, "4xx"),
        ("wrong magic bytes", svg, "4xx"),
        ("wrong magic bytes", b"GIF89a" + png()[8:], "4xx"),
        ("wrong magic bytes", b"%PDF-1.7\n" + png(), "4xx"),
        ("wrong magic bytes", b"MZ\x90\x00" + b"\x00" * 200, "4xx"),
        ("polyglot", png() + zip_tail, "4xx"),
        ("polyglot", png() + html, "4xx"),
        ("polyglot", jpeg(b"<script>alert(1)</script>"), "4xx"),
        ("polyglot", jpeg() + b"\n" + html, "4xx"),
        ("truncated image", png()[: len(png()) // 2] + b"IEND\xaeB`\x82", "4xx"),
        ("lying chunk length", png_lying_header(), "4xx"),
        ("broken image", b"\xff\xd8\xff" + secrets.token_bytes(400) + b"\xff\xd9", "4xx"),
        ("broken image", b"RIFF\x20\x00\x00\x00WEBPVP8 " + b"\x00" * 20, "4xx"),
        ("decompression bomb", png_bomb(), "4xx"),
        ("invalid UTF-8", INVALID_UTF8 * 50, "4xx"),
        ("json instead of a photo", dumps({"image": "data:image/png;base64,AAAA"}), "4xx"),
    ], start=20):
        add(f"u{i:03d}", pu, klass, "POST", up, own, body, expect)
    add("u040", pu, "oversize body", "POST", up, own,
        b"\x89PNG\r\n\x1a\n" + b"\x00" * (5 * 1024 * 1024 + 100 * 1024))
    add("u041", pu, "wrong content type (content decides)", "POST", up,
        {**own, "Content-Type": "text/html"}, png(), "2xx", follow_up=_stored_photo_is_clean)
    add("u042", pu, "control (real PNG)", "POST", up, own, png(), "2xx",
        follow_up=_stored_photo_is_clean)
    add("u043", pu, "control (JPEG with a harmless comment)", "POST", up,
        {**own, "Content-Type": "image/jpeg"}, jpeg(b"Exif\x00\x00camera serial 12345"), "2xx",
        follow_up=_stored_photo_is_clean)
    add("u044", "OPTIONS /api/uploads/<session_id>", "header injection", "OPTIONS", up,
        {"Origin": "null", "Access-Control-Request-Headers": "x" * 8000}, expect="not_5xx")

    gu = "GET /api/uploads/<session_id>/<image_id>"
    photo = up + "/" + secrets.token_hex(16)
    for i, (klass, path, headers) in enumerate([
        ("missing token", photo, {}),
        ("wrong token", photo, {"X-Session-Token": "guess"}),
        ("other session's token", photo, {"X-Session-Token": "{other_token}"}),
        ("other service's token", photo, {"Authorization": f"Bearer {c.rasa_token}"}),
        ("other service's token", photo, {"Authorization": f"Bearer {c.handoff_token}"}),
        ("invalid bytes in token", photo, {"Authorization": b"Bearer \xed\xa0\x80\x00"}),
        ("invalid bytes in token", photo, {"X-Session-Token": b"\xed\xa0\x80\x00"}),
        ("unknown photo", photo, {"X-Session-Token": "{widget_token}"}),
        ("path traversal", up + "/..%2F..%2F..%2Fwidget.db", {"X-Session-Token": "{widget_token}"}),
        ("path traversal", "/api/uploads/..%2F..%2Fetc/passwd",
         {"Authorization": "Bearer " + c.env.get("WIDGET_UPLOADS_TOKEN", "x")}),
        ("long id", up + "/" + LONG_NAME, {"X-Session-Token": "{widget_token}"}),
        ("NUL in id", up + "/" + "0" * 31 + "%00", {"X-Session-Token": "{widget_token}"}),
        ("surrogate in id", up + "/" + SURROGATE_PATH, {"X-Session-Token": "{widget_token}"}),
    ], start=50):
        add(f"u{i:03d}", gu, klass, "GET", path, headers)
    return cases


# ---- Rasa: the widget channel's agent activity ---------------------------------------------


def activity_cases(probe: Probe) -> list[Case]:
    """POST /webhooks/socketio/agent_activity: only the handoff service (Rasa's token)."""
    c = probe.config
    auth = {"Authorization": f"Bearer {c.rasa_token}", **JSON}
    session = secrets.token_hex(16)
    body = {"conversation_id": session, "typing": True, "agent": "小王"}
    ep = f"POST {ACTIVITY}"
    cases: list[Case] = []
    for i, (klass, headers, raw, expect) in enumerate([
        ("missing token", JSON, body, "4xx"),
        ("wrong token", {**JSON, "Authorization": "Bearer guess"}, body, "4xx"),
        ("Bearer missing", {**JSON, "Authorization": c.rasa_token}, body, "not_5xx"),
        ("other service's token", {**JSON, "Authorization": f"Bearer {c.handoff_token}"}, body,
         "4xx"),
        ("invalid bytes in token", {**JSON, "Authorization": b"Bearer \xed\xa0\x80\x00"}, body,
         "4xx"),
        ("invalid bytes in token", {**JSON, "Authorization": b"Bearer \xff\xfe"}, body, "4xx"),
        ("bad session id", auth, {**body, "conversation_id": "A" * 32}, "4xx"),
        ("other channel sender", auth, {**body, "conversation_id": probe.sender("g008")}, "4xx"),
        ("path traversal", auth, {**body, "conversation_id": "../../" + "0" * 26}, "4xx"),
        ("wrong types", auth, {**body, "typing": "yes"}, "4xx"),
        ("wrong types", auth, {**body, "agent": ["小王"]}, "4xx"),
        ("long id", auth, {**body, "agent": "王" * 41}, "4xx"),
        ("message type/empty", auth, {"conversation_id": session}, "4xx"),
        ("non-object/nested body", auth, b"[]", "4xx"),
        ("non-object/nested body", auth, dumps({**body, "x": {"y": {"z": 1}}}), "4xx"),
        ("non-object/nested body", auth, NESTED, "4xx"),
        ("huge body", auth, {**body, "pad": "x" * 2000}, "4xx"),
        ("invalid UTF-8", auth, b'{"conversation_id":"' + INVALID_UTF8 + b'","typing":true}',
         "4xx"),
        ("surrogate in text", auth, {**body, "agent": "小\ud800王"}, "not_5xx"),
        ("wrong content type", {**auth, **FORM}, b"conversation_id=x&typing=true", "4xx"),
        ("control (no such widget)", auth, body, "2xx"),
    ], start=1):
        payload = raw if isinstance(raw, bytes) else dumps(raw)
        cases.append(Case(f"g{i:03d}", "rasa", ep, klass, "POST", ACTIVITY, headers, payload,
                          expect))
    return cases


# ---- Rasa: the REST channel's message_id --------------------------------------------------


def _user_events(probe: Probe, sender: str) -> list[dict[str, Any]]:
    events = (probe.tracker(sender) or {}).get("events") or []
    return [e for e in events if isinstance(e, dict) and e.get("event") == "user"]


def _once(probe: Probe, sender: str, text: str, message_id: str) -> Result:
    body = json.dumps({"sender": sender, "message": text, "message_id": message_id},
                      ensure_ascii=False).encode()
    return probe.send("rasa", "POST", REST, JSON, body)


def _replayed(texts: tuple[str, str], concurrent: bool = False):
    """The same message_id twice from one sender: one turn, the same answer twice."""
    def run(probe: Probe, case: Case) -> Result:
        sender, message_id = probe.sender(case.id), f"m-{probe.config.run_id}"
        if concurrent:
            with ThreadPoolExecutor(max_workers=2) as pool:
                first, second = pool.map(lambda t: _once(probe, sender, t, message_id), texts)
        else:
            first = _once(probe, sender, texts[0], message_id)
            second = _once(probe, sender, texts[1], message_id)
        problems = []
        if first.outcome != "2xx" or second.outcome != "2xx":
            problems.append(f"answered {first.got()[:40]} then {second.got()[:40]}")
        elif not bot_texts(first.body) or bot_texts(first.body) != bot_texts(second.body):
            problems.append("the repeated message did not get the same answer again")
        handled = [e for e in _user_events(probe, sender) if e.get("message_id") == message_id]
        if len(handled) != 1:
            problems.append(f"the message was handled {len(handled)} times")
        second.problems = problems
        return second
    return run


def _ids_per_sender(probe: Probe, case: Case) -> Result:
    """The same message_id from two customers: each gets an answer to their own message."""
    message_id = f"shared-{probe.config.run_id}"
    one, two = probe.sender(case.id, "a"), probe.sender(case.id, "b")
    first = _once(probe, one, "我的快递到哪了", message_id)
    second = _once(probe, two, "你好", message_id)
    problems = []
    if first.outcome != "2xx" or second.outcome != "2xx":
        problems.append(f"answered {first.got()[:40]} then {second.got()[:40]}")
    elif len(_user_events(probe, two)) != 1:
        problems.append("the second customer's message was not handled in their conversation")
    elif bot_texts(first.body) == bot_texts(second.body):
        problems.append("the second customer got the first customer's answer")
    second.problems = problems
    return second


def message_id_cases(probe: Probe) -> list[Case]:
    """Types, forms and sizes of `message_id`, and replays."""
    s = probe.sender
    cases: list[Case] = []
    for i, (klass, value, expect) in enumerate([
        ("wrong types", 12345, "4xx"),
        ("wrong types", ["m1"], "4xx"),
        ("injection object", {"$gt": ""}, "4xx"),
        ("wrong types", True, "4xx"),
        ("message type/empty", "", "4xx"),
        ("long id", "m" * 65, "4xx"),
        ("long id", "m" * 100_000, "4xx"),
        ("surrogate in id", "m\ud800", "4xx"),
        ("NUL in id", "m\u00001", "4xx"),
        ("chinese id", "消息一", "4xx"),
        ("bad chars in id", "m 1", "4xx"),
        ("path traversal", "../../etc/passwd", "4xx"),
        ("control chars", "m1\r\nX-Injected: 1", "4xx"),
        ("RTL/zero-width", "\u202em1\u200b", "4xx"),
        ("boundary id (control)", "m" * 64, "2xx_reply"),
        ("null id (control)", None, "2xx_reply"),
    ], start=1):
        cid = f"m{i:03d}"
        body = {"sender": s(cid), "message": "你好", "message_id": value}
        cases.append(_rest(probe, cid, klass, dumps(body), expect, s(cid)))
    cases.append(_rest(probe, "m017", "message_id with stream", dumps(
        {"sender": s("m017"), "message": "你好", "message_id": "m17"}), "2xx_reply", s("m017"),
        stream=True))
    ep = f"POST {REST} (message_id replay)"
    cases += [
        Case("m020", "rasa", ep, "replayed request", expect="2xx",
             run=_replayed(("我的快递到哪了", "我的快递到哪了"))),
        Case("m021", "rasa", ep, "replayed id, other text", expect="2xx",
             run=_replayed(("我的快递到哪了", "我要投诉你们"))),
        Case("m022", "rasa", ep, "replayed at once", expect="2xx",
             run=_replayed(("在吗", "在吗"), concurrent=True)),
        Case("m023", "rasa", ep, "same id, other customer", expect="2xx", run=_ids_per_sender),
    ]
    return cases
