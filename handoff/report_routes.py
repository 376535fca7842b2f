"""The supervisor's routes: the reports page, its figures (JSON and CSV), the labelling queue
of not-understood messages and the team view. Only agents with the supervisor role."""
from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import exc as sa_exc

from handoff import reports
from handoff.app import ApiError, HandoffService, body_json, ok, requires

logger = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
VENDOR = STATIC / "vendor"
VENDOR_FILES = {"echarts.min.js": "text/javascript"}
# The 14 topics of the evaluation sets (evaluation/topics.py), for the labelling queue.
TOPICS = ("greeting", "order_status", "order_change", "delivery_issue", "payment", "refund",
          "after_sales", "invoice", "account", "promotion", "product", "complaint", "human",
          "out_of_scope")
LABEL = re.compile(r"^[a-z][a-z0-9_]{0,63}(/[a-z0-9_]{1,63})?$")
GROUP_KEY = re.compile(r"^[0-9a-f]{12}$")

bp = Blueprint("reports")


class Reports:
    """The summary kept fresh and the slow part of a report (the grouping) cached."""

    def __init__(self, service: HandoffService) -> None:
        """Open the tracker store (read-only) and the ratings store, if configured."""
        settings = service.settings
        self.engine = service.store.engine
        tracker = _engine(settings.tracker_url, "TRACKER_DB_URL")
        self.csat = _engine(settings.csat_url, "HANDOFF_CSAT_DB_URL")
        self.summary = reports.Summary(self.engine, tracker)

    def report(self, span: reports.DateRange) -> dict[str, Any]:
        """Every figure of the range (blocking: run in a thread)."""
        return self.summary.report(span, self.csat)


def _engine(url: str, name: str) -> Any:
    """A read-only engine for a source of the reports; None when unset or unusable."""
    if not url:
        return None
    try:
        return reports.tracker_engine(url)
    except (ValueError, ImportError, sa_exc.ArgumentError) as error:
        logger.error("%s cannot be used, the reports go without it: %s", name, error)
        return None


def reports_of(request: Request) -> Reports:
    """The app's Reports, made on first use."""
    return _reports(request.app)


def _reports(app: Any) -> Reports:
    if not hasattr(app.ctx, "reports"):
        app.ctx.reports = Reports(app.ctx.service)
    return app.ctx.reports


@bp.listener("after_server_start")
async def catch_up(app: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Fold what the tracker store gained while the service was down, in the background, so
    the first page load does not pay for it."""
    reports = _reports(app)

    def refresh() -> None:
        try:
            reports.summary.refresh()
        except Exception:  # the page's own refresh will report it
            logger.exception("refreshing the reports' summary failed")

    app.ctx.reports_catch_up = loop.run_in_executor(None, refresh)


def date_range(request: Request, body: dict[str, Any] | None = None) -> reports.DateRange:
    """The range of the query (or body): 400 when it is not a pair of sensible days."""
    source = body if body is not None else request.args
    first, last = source.get("from"), source.get("to")
    if (first is not None and not isinstance(first, str)) or \
            (last is not None and not isinstance(last, str)):
        raise ApiError(400, "bad_range", "from/to: days as YYYY-MM-DD")
    try:
        return reports.parse_range(first or None, last or None)
    except reports.RangeError as error:
        raise ApiError(400, "bad_range", str(error)) from error


async def _compute(request: Request, span: reports.DateRange) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, reports_of(request).report, span)


def _attachment(body: str, name: str, kind: str) -> HTTPResponse:
    return response.text(body, content_type=kind, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@bp.get("/console/reports")
async def page(request: Request) -> HTTPResponse:
    """The reports page (its data needs a supervisor's login)."""
    return await response.file(STATIC / "reports.html", mime_type="text/html; charset=utf-8")


@bp.get("/console/static/vendor/<name:str>")
async def vendor(request: Request, name: str) -> HTTPResponse:
    """Vendored libraries (ECharts)."""
    if name not in VENDOR_FILES:
        raise ApiError(404, "not_found", "no such file")
    return await response.file(VENDOR / name, mime_type=f"{VENDOR_FILES[name]}; charset=utf-8",
                               headers={"Cache-Control": "max-age=86400"})


@bp.get("/api/v1/reports")
@requires("supervisor")
async def report(request: Request) -> HTTPResponse:
    """Every figure of the range (from/to, Beijing days; default the last 30 days)."""
    return ok(reports.public(await _compute(request, date_range(request))))


@bp.get("/api/v1/reports/export.json")
@requires("supervisor")
async def export_json(request: Request) -> HTTPResponse:
    """The report as a JSON file."""
    import json

    span = date_range(request)
    data = reports.public(await _compute(request, span))
    return _attachment(json.dumps(data, ensure_ascii=False, indent=1),
                       f"report-{span.first}-{span.last}.json", "application/json; charset=utf-8")


@bp.get("/api/v1/reports/export.csv")
@requires("supervisor")
async def export_csv(request: Request) -> HTTPResponse:
    """One section of the report as a CSV file (section=per_day, containment, ...)."""
    span = date_range(request)
    section = request.args.get("section") or "summary"
    if section not in reports.CSV_SECTIONS:
        raise ApiError(400, "bad_section", f"section: one of {', '.join(reports.CSV_SECTIONS)}")
    text = reports.to_csv(await _compute(request, span), section)
    return _attachment(text, f"report-{section}-{span.first}-{span.last}.csv",
                       "text/csv; charset=utf-8")


@bp.get("/api/v1/supervisor/team")
@requires("supervisor")
async def team(request: Request) -> HTTPResponse:
    """Agents online with their load, the queue's length and its longest wait."""
    service: HandoffService = request.app.ctx.service
    return ok(reports.team(service.store.engine, service.settings.online_seconds))


@bp.post("/api/v1/reports/label-queue")
@requires("supervisor")
async def add_to_queue(request: Request) -> HTTPResponse:
    """Put a group of not-understood messages into the labelling queue:
    `{"group": key, "from": day, "to": day}` (the range the group was shown for)."""
    body = body_json(request)
    key = body.get("group")
    if not isinstance(key, str) or not GROUP_KEY.match(key):
        raise ApiError(400, "bad_group", "group: the key of a group of the report")
    span = date_range(request, body)
    data = await _compute(request, span)
    group = next((g for g in data["fallback"]["groups"] if g["key"] == key), None)
    if group is None:
        raise ApiError(404, "not_found", "no such group in this range (reload the report)")
    engine = request.app.ctx.service.store.engine
    missed = reports.load_missed(engine, span)
    added = reports.queue_group(engine, group, missed, request.ctx.agent["username"])
    return ok({"added": added, "group": key}, status=201)


@bp.get("/api/v1/reports/label-queue")
@requires("supervisor")
async def list_queue(request: Request) -> HTTPResponse:
    """The labelling queue with the topics a message may be labelled with."""
    rows = reports.queue_rows(request.app.ctx.service.store.engine)
    return ok({"items": [_queue_view(r) for r in rows],
               "topics": [{"topic": t, "label": reports.labels.topic_label(t)} for t in TOPICS]})


@bp.post("/api/v1/reports/label-queue/<row_id:int>")
@requires("supervisor")
async def label(request: Request, row_id: int) -> HTTPResponse:
    """Label a queued message: `{"label": intent, "suggested_topic": topic}` (either)."""
    if row_id > 2**53:
        raise ApiError(404, "not_found", "no such message in the queue")
    body = body_json(request)
    intent, topic = body.get("label"), body.get("suggested_topic")
    if intent is not None and (not isinstance(intent, str)
                               or (intent and not LABEL.match(intent))):
        raise ApiError(400, "bad_label", "label: an intent name such as ask_order_status, "
                                         "faq/<entry> or out_of_scope")
    if topic is not None and (not isinstance(topic, str) or (topic and topic not in TOPICS)):
        raise ApiError(400, "bad_topic", f"suggested_topic: one of {', '.join(TOPICS)}")
    if intent is None and topic is None:
        raise ApiError(400, "bad_label", "label or suggested_topic is required")
    if not reports.set_label(request.app.ctx.service.store.engine, row_id, intent, topic):
        raise ApiError(404, "not_found", "no such message in the queue")
    return ok({"id": row_id, "label": intent, "suggested_topic": topic})


@bp.get("/api/v1/reports/label-queue.tsv")
@requires("supervisor")
async def queue_tsv(request: Request) -> HTTPResponse:
    """The queue as `make export-traffic` writes it (labelled rows carry their label)."""
    rows = reports.queue_rows(request.app.ctx.service.store.engine, limit=100_000)
    return _attachment(reports.queue_tsv(rows), "to_label.tsv",
                       "text/tab-separated-values; charset=utf-8")


def _queue_view(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "text": row["text"], "group": row["group_key"],
            "reason": row["reason"], "reason_label": reports.REASON_LABELS.get(row["reason"]),
            "predicted_intent": row["predicted_intent"],
            "predicted_label": reports.labels.intent_label(row["predicted_intent"]),
            "label": row["label"], "suggested_topic": row["suggested_topic"]}
