"""The shop's storage: schema, queries and every state change, in one place.

SQLite by default (SHOP_DB, a file path), PostgreSQL with a URL; SQLAlchemy, the schema
migrated at start (migrations/shop_api/).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from contracts import db
from shop_api import rules
from shop_api.errors import ShopError

SERVICE = "shop_api"
metadata = sa.MetaData()
_TEXT, _INT = sa.Text, sa.Integer


def _columns(*names: str, type_: Any = _TEXT, nullable: bool = True) -> list[sa.Column]:
    return [sa.Column(name, type_, nullable=nullable) for name in names]


sa.Table("meta", metadata, sa.Column("key", _TEXT, primary_key=True),
         sa.Column("value", _TEXT, nullable=False))
sa.Table(
    "accounts", metadata,
    sa.Column("phone", _TEXT, primary_key=True),
    sa.Column("phone_bound", _INT, nullable=False),
    sa.Column("locked", _INT, nullable=False, server_default="0"),
    *_columns("locked_until", "lock_reason"),
    sa.Column("real_name_verified", _INT, nullable=False),
    sa.Column("created_at", _TEXT, nullable=False),
)
_orders = sa.Table(
    "orders", metadata,
    sa.Column("order_id", _TEXT, primary_key=True),
    *_columns("phone", "state", nullable=False),
    sa.Column("amount", _INT, nullable=False),
    sa.Column("payment_method", _TEXT),
    sa.Column("created_at", _TEXT, nullable=False),
    *_columns("paid_at", "shipped_at", "delivered_at", "cancelled_at", "cancel_reason", "eta",
              "carrier", "tracking_number"),
    *_columns("address_name", "address_phone", "address_province", "address_city",
              "address_detail", nullable=False),
    *_columns("slot_date", "slot_window"),
)
sa.Index("orders_by_phone", _orders.c.phone, _orders.c.created_at)


def _order_id(primary_key: bool = False) -> sa.Column:
    return sa.Column("order_id", _TEXT, sa.ForeignKey("orders.order_id"), nullable=False,
                     primary_key=primary_key)


sa.Table(
    "order_items", metadata, _order_id(primary_key=True),
    sa.Column("line", _INT, primary_key=True),
    *_columns("sku", "name", nullable=False),
    *_columns("qty", "price", type_=_INT, nullable=False),
)
# No primary key (as the code before the migrations created it): shift_times rewrites it.
sa.Table("tracking_events", metadata, _order_id(),
         *_columns("time", "location", "description", nullable=False))
sa.Table(
    "payments", metadata,
    sa.Column("payment_id", _TEXT, primary_key=True), _order_id(),
    *_columns("status", "method", nullable=False),
    sa.Column("amount", _INT, nullable=False),
    sa.Column("failure_code", _TEXT),
    sa.Column("created_at", _TEXT, nullable=False),
    sa.Column("refund_id", _TEXT),
)
sa.Table(
    "refunds", metadata,
    sa.Column("refund_id", _TEXT, primary_key=True), _order_id(),
    sa.Column("payment_id", _TEXT),
    *_columns("kind", "status", nullable=False),
    sa.Column("amount", _INT, nullable=False),
    *_columns("method", "reason", nullable=False),
    sa.Column("rejection_reason", _TEXT),
    sa.Column("created_at", _TEXT, nullable=False),
    *_columns("expected_arrival", "completed_at"),
)
sa.Table(
    "after_sales", metadata,
    sa.Column("case_id", _TEXT, primary_key=True), _order_id(),
    *_columns("type", "reason", "description", "status", "created_at", nullable=False),
)
sa.Table(
    "invoices", metadata, _order_id(primary_key=True),
    *_columns("title_type", "title", nullable=False),
    *_columns("tax_number", "email"),
    sa.Column("status", _TEXT, nullable=False),
    sa.Column("invoice_number", _TEXT),
    sa.Column("amount", _INT, nullable=False),
    sa.Column("issued_at", _TEXT),
    sa.Column("reissue_count", _INT, nullable=False, server_default="0"),
    sa.Column("created_at", _TEXT, nullable=False),
)
sa.Table(
    "idempotency", metadata,
    sa.Column("key", _TEXT, primary_key=True),
    sa.Column("fingerprint", _TEXT, nullable=False),
    sa.Column("status", _INT, nullable=False),
    *_columns("body", "created_at", nullable=False),
)
# Columns holding a date or a time, shifted together when demo data is rolled forward.
TIME_COLUMNS = {
    "accounts": ("created_at", "locked_until"),
    "orders": ("created_at", "paid_at", "shipped_at", "delivered_at", "cancelled_at",
               "eta", "slot_date"),
    "tracking_events": ("time",),
    "payments": ("created_at",),
    "refunds": ("created_at", "expected_arrival", "completed_at"),
    "after_sales": ("created_at",),
    "invoices": ("created_at", "issued_at"),
}
OPEN_CASE_STATES = ("open", "in_progress")


def china_now() -> datetime:
    """The current time in China, to the second."""
    return datetime.now(rules.CHINA_TZ).replace(microsecond=0)


def yuan(fen: int) -> str:
    """An amount in fen as a decimal string of yuan, e.g. 29900 -> "299.00"."""
    return f"{fen // 100}.{fen % 100:02d}"


def invoice_number(when: datetime, sequence: int) -> str:
    """A 20-digit number like the national e-invoices: year, issuer code, sequence."""
    return f"{when:%y}44000000{sequence + 1000:010d}"


def mask_phone(phone: str) -> str:
    """Hide the middle of a mobile number: 13812345678 -> 138****5678."""
    return f"{phone[:3]}****{phone[-4:]}"


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Saved:
    """A stored answer to an idempotent request."""

    fingerprint: str
    status: int
    body: dict[str, Any]


class Store:
    """The shop's data in one database (a SQLite file or a database URL)."""

    def __init__(self, path: str | Path, clock: Callable[[], datetime] = china_now) -> None:
        """Open the database and bring its schema to the newest revision."""
        self.engine = db.make_engine(path, immediate=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _foreign_keys_on)
        db.migrate(self.engine, SERVICE, metadata)
        self.clock = clock
        self._tx: Connection | None = None

    def close(self) -> None:
        """Close the database connections."""
        self.engine.dispose()

    def now(self) -> datetime:
        """The store's current time (China time)."""
        return self.clock()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run a block atomically; nested blocks join the outer transaction."""
        if self._tx is not None:
            yield
            return
        with self.engine.begin() as conn:
            self._tx = conn
            try:
                yield
            finally:
                self._tx = None

    def clear(self) -> None:
        """Delete every row (children first): a database to seed again."""
        with self.transaction():
            for table in reversed(metadata.sorted_tables):
                self._exec(f"DELETE FROM {table.name}")

    # ---- statements ------------------------------------------------------------------

    @contextmanager
    def _conn(self) -> Iterator[Connection]:
        """The open transaction's connection, or a transaction of its own."""
        if self._tx is not None:
            yield self._tx
            return
        with self.engine.begin() as conn:
            yield conn

    def _rows(self, sql: str, **params: Any) -> list[RowMapping]:
        with self._conn() as conn:
            return list(conn.execute(sa.text(sql), params).mappings())

    def _row(self, sql: str, **params: Any) -> RowMapping | None:
        rows = self._rows(sql, **params)
        return rows[0] if rows else None

    def _count(self, sql: str, **params: Any) -> int:
        """The number an aggregate query selects (it always returns exactly one row)."""
        with self._conn() as conn:
            return int(conn.execute(sa.text(sql), params).scalar_one())

    def _exec(self, sql: str, **params: Any) -> int:
        with self._conn() as conn:
            return conn.execute(sa.text(sql), params).rowcount

    # ---- reads -----------------------------------------------------------------------

    def order(self, order_id: str) -> dict[str, Any]:
        """One order as the API shows it."""
        return self._order_view(self._order_row(order_id))

    def orders_by_phone(self, phone: str, limit: int) -> list[dict[str, Any]]:
        """A customer's most recent orders, newest first."""
        rows = self._rows(
            "SELECT * FROM orders WHERE phone = :phone ORDER BY created_at DESC, order_id DESC"
            " LIMIT :limit", phone=phone, limit=limit)
        return [self._order_view(row) for row in rows]

    def is_owner(self, order_id: str, phone: str) -> bool:
        """Whether the order was placed with this phone (the customer's, not the recipient's)."""
        return self._order_row(order_id)["phone"] == phone

    def payments(self, order_id: str) -> list[dict[str, Any]]:
        """Every payment attempt of an order, oldest first."""
        self._order_row(order_id)
        rows = self._rows("SELECT * FROM payments WHERE order_id = :order_id"
                          " ORDER BY created_at, payment_id", order_id=order_id)
        return [_payment_view(row) for row in rows]

    def refunds(self, order_id: str) -> list[dict[str, Any]]:
        """Every refund of an order, newest first."""
        self._order_row(order_id)
        rows = self._rows("SELECT * FROM refunds WHERE order_id = :order_id"
                          " ORDER BY created_at DESC, refund_id DESC", order_id=order_id)
        return [_refund_view(row) for row in rows]

    def refund(self, refund_id: str) -> dict[str, Any]:
        """One refund."""
        row = self._row("SELECT * FROM refunds WHERE refund_id = :refund_id",
                        refund_id=refund_id)
        if row is None:
            raise ShopError(404, "refund_not_found", "No refund with this id.")
        return _refund_view(row)

    def cases(self, order_id: str) -> list[dict[str, Any]]:
        """Every after-sales case of an order, newest first."""
        self._order_row(order_id)
        rows = self._rows("SELECT * FROM after_sales WHERE order_id = :order_id"
                          " ORDER BY created_at DESC, case_id DESC", order_id=order_id)
        return [dict(row) for row in rows]

    def invoice(self, order_id: str) -> dict[str, Any]:
        """The invoice of an order; 404 `invoice_not_found` when none was requested."""
        self._order_row(order_id)
        row = self._row("SELECT * FROM invoices WHERE order_id = :order_id", order_id=order_id)
        if row is None:
            raise ShopError(404, "invoice_not_found", "No invoice was requested for this order.")
        return _invoice_view(row)

    def account(self, phone: str) -> dict[str, Any]:
        """The account registered with a phone number; `registered` is false when none is."""
        row = self._row("SELECT * FROM accounts WHERE phone = :phone", phone=phone)
        if row is None:
            return {
                "phone": mask_phone(phone), "registered": False, "phone_bound": False,
                "locked": False, "locked_until": None, "lock_reason": None,
                "real_name_verified": False, "created_at": None,
            }
        until = _time(row["locked_until"])
        locked = bool(row["locked"]) and (until is None or until > self.now())
        return {
            "phone": mask_phone(phone), "registered": True, "phone_bound": bool(row["phone_bound"]),
            "locked": locked, "locked_until": row["locked_until"] if locked else None,
            "lock_reason": row["lock_reason"] if locked else None,
            "real_name_verified": bool(row["real_name_verified"]), "created_at": row["created_at"],
        }

    # ---- state changes ---------------------------------------------------------------

    def cancel(self, order_id: str, reason: str) -> dict[str, Any]:
        """Cancel an order; every payment taken for it is refunded automatically."""
        with self.transaction():
            row = self._order_row(order_id)
            self._apply(row, "cancel", state="cancelled", cancelled_at=self._stamp(),
                        cancel_reason=reason)
            unrefunded = self._rows(
                "SELECT * FROM payments WHERE order_id = :order_id AND status = 'success'"
                " AND refund_id IS NULL ORDER BY created_at", order_id=order_id)
            refunds = [
                self._create_refund(order_id, payment["payment_id"], "cancellation", "processing",
                                    payment["amount"], payment["method"], reason or "订单取消")
                for payment in unrefunded
            ]
        return {"order": self.order(order_id), "refunds": refunds}

    def change_address(self, order_id: str, address: dict[str, str]) -> dict[str, Any]:
        """Deliver an order that has not shipped to a new address."""
        with self.transaction():
            row = self._order_row(order_id)
            self._apply(row, "change_address", **{f"address_{k}": v for k, v in address.items()})
        return self.order(order_id)

    def change_delivery_slot(self, order_id: str, day: date, window: str) -> dict[str, Any]:
        """Book the delivery of an order that has not shipped for a day and time window."""
        with self.transaction():
            row = self._order_row(order_id)
            self._apply(row, "change_delivery_slot", slot_date=day.isoformat(),
                        slot_window=window, eta=day.isoformat())
        return self.order(order_id)

    def open_refund(self, order_id: str, amount: int | None, reason: str) -> dict[str, Any]:
        """Open a refund: in full and approved at once before shipping, reviewed after delivery."""
        with self.transaction():
            row = self._order_row(order_id)
            rules.require("refund", row["state"], _time(row["delivered_at"]), self.now())
            refundable = row["amount"] - self._refunded_goods(order_id)
            if refundable <= 0:
                raise rules.conflict("nothing_to_refund")
            amount = refundable if amount is None else amount
            details = {"refundable": yuan(refundable)}
            if amount > refundable:
                raise rules.conflict("amount_exceeds_refundable", details)
            if row["state"] == "paid" and amount != refundable:
                raise rules.conflict("full_refund_only", details)
            status = "processing" if row["state"] == "paid" else "pending"
            refund = self._create_refund(order_id, self._main_payment(order_id), "customer_request",
                                         status, amount, row["payment_method"], reason)
            self._apply(row, "refund", state="refunding")
        return refund

    def open_case(self, order_id: str, kind: str, reason: str, description: str) -> dict[str, Any]:
        """Open an after-sales case (return, exchange, repair or delivery issue)."""
        with self.transaction():
            row = self._order_row(order_id)
            rules.require(kind, row["state"], _time(row["delivered_at"]), self.now())
            existing = self._row(
                "SELECT case_id FROM after_sales WHERE order_id = :order_id AND type = :kind"
                " AND status IN (:open, :in_progress)",
                order_id=order_id, kind=kind, open=OPEN_CASE_STATES[0],
                in_progress=OPEN_CASE_STATES[1])
            if existing:
                raise rules.conflict("case_exists", {"case_id": existing["case_id"]})
            case = {
                "case_id": self._next_case_id(), "order_id": order_id, "type": kind,
                "reason": reason, "description": description, "status": "open",
                "created_at": self._stamp(),
            }
            self.insert("after_sales", [case])
        return case

    def request_invoice(
        self, order_id: str, title: dict[str, str | None], email: str | None
    ) -> dict[str, Any]:
        """Request the e-invoice of an order: issued at once once delivered, else on delivery."""
        with self.transaction():
            row = self._order_row(order_id)
            code = rules.invoice_denial(row["state"], _time(row["delivered_at"]), self.now())
            if code:
                raise rules.conflict(code, {"state": row["state"]})
            existing = self._row("SELECT invoice_number FROM invoices WHERE order_id = :order_id",
                                 order_id=order_id)
            if existing:
                raise rules.conflict("invoice_exists")
            delivered = row["state"] == "delivered"
            self.insert("invoices", [{
                "order_id": order_id, **title, "email": email,
                "status": "issued" if delivered else "pending",
                "invoice_number": self._next_invoice_number() if delivered else None,
                "amount": row["amount"], "issued_at": self._stamp() if delivered else None,
                "created_at": self._stamp(),
            }])
        return self.invoice(order_id)

    def change_invoice_title(self, order_id: str, title: dict[str, str | None]) -> dict[str, Any]:
        """Change the title or tax number; an issued invoice is re-issued (limited times)."""
        with self.transaction():
            row = self._order_row(order_id)
            invoice = self.invoice(order_id)
            changes: dict[str, Any] = dict(title)
            if invoice["status"] == "issued":
                if invoice["reissue_count"] >= rules.INVOICE_REISSUE_LIMIT:
                    raise rules.conflict("reissue_limit_reached")
                code = rules.invoice_denial(row["state"], _time(row["delivered_at"]), self.now())
                if code:
                    raise rules.conflict(code, {"state": row["state"]})
                changes.update(invoice_number=self._next_invoice_number(),
                               issued_at=self._stamp(),
                               reissue_count=invoice["reissue_count"] + 1)
            self._update("invoices", {"order_id": order_id}, changes)
        return self.invoice(order_id)

    # ---- idempotency -----------------------------------------------------------------

    def recall(self, key: str) -> Saved | None:
        """The answer stored for an idempotency key, if any."""
        row = self._row("SELECT fingerprint, status, body FROM idempotency WHERE key = :key",
                        key=key)
        if row is None:
            return None
        return Saved(row["fingerprint"], row["status"], json.loads(row["body"]))

    def remember(self, key: str, fingerprint: str, status: int, body: dict[str, Any]) -> None:
        """Store the answer to an idempotent request."""
        self.insert("idempotency", [{
            "key": key, "fingerprint": fingerprint, "status": status,
            "body": json.dumps(body, ensure_ascii=False), "created_at": self._stamp()}])

    # ---- seeding and maintenance -----------------------------------------------------

    def insert(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        """Insert rows into a table of the schema."""
        columns = self._columns(table)
        for row in rows:
            unknown = set(row) - columns
            if unknown:
                raise ValueError(f"unknown columns for {table}: {sorted(unknown)}")
            names = ", ".join(_quoted(name) for name in row)
            marks = ", ".join(f":{name}" for name in row)
            # Flags are INTEGER columns (0/1), which PostgreSQL does not fill from booleans.
            values = {k: int(v) if isinstance(v, bool) else v for k, v in row.items()}
            self._exec(f"INSERT INTO {table} ({names}) VALUES ({marks})", **values)

    def get_meta(self, key: str) -> str | None:
        """A value of the meta table."""
        row = self._row("SELECT value FROM meta WHERE key = :key", key=key)
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the meta table."""
        self._exec("INSERT INTO meta (key, value) VALUES (:key, :value)"
                   " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                   key=key, value=value)

    def shift_times(self, days: int) -> None:
        """Move every date and time of the data by `days`, keeping their distances."""
        delta = timedelta(days=days)
        with self.transaction():
            for table, columns in TIME_COLUMNS.items():
                keys = [column.name for column in metadata.tables[table].primary_key]
                if not keys:  # no key to find a row by: rewrite the table
                    rows = [dict(row) for row in self._rows(f"SELECT * FROM {table}")]
                    self._exec(f"DELETE FROM {table}")
                    self.insert(table, [_shifted(row, columns, delta) for row in rows])
                    continue
                for row in self._rows(f"SELECT * FROM {table}"):
                    changes = {c: _shift(row[c], delta) for c in columns if row[c] is not None}
                    if changes:
                        self._update(table, {k: row[k] for k in keys}, changes)

    def states(self) -> dict[str, int]:
        """How many orders are in each state."""
        rows = self._rows("SELECT state, COUNT(*) AS n FROM orders GROUP BY state")
        return {row["state"]: row["n"] for row in rows}

    # ---- internals -------------------------------------------------------------------

    def _columns(self, table: str) -> set[str]:
        if table not in {*TIME_COLUMNS, "order_items", "meta", "idempotency"}:
            raise ValueError(f"unknown table {table}")
        return set(metadata.tables[table].columns.keys())

    def _update(self, table: str, where: dict[str, Any], changes: dict[str, Any]) -> int:
        """UPDATE one table's columns (names checked against the schema) where `where` holds."""
        unknown = set(changes) - self._columns(table)
        if unknown:
            raise ValueError(f"unknown {table} columns {sorted(unknown)}")
        assignments = ", ".join(f"{_quoted(name)} = :set_{name}" for name in changes)
        condition = " AND ".join(f"{_quoted(name)} = :where_{name}" for name in where)
        return self._exec(f"UPDATE {table} SET {assignments} WHERE {condition}",
                          **{f"set_{k}": v for k, v in changes.items()},
                          **{f"where_{k}": v for k, v in where.items()})

    def _stamp(self) -> str:
        return self.now().isoformat()

    def _order_row(self, order_id: str) -> RowMapping:
        # In a transaction on PostgreSQL the order stays locked until it ends (SQLite's
        # BEGIN IMMEDIATE holds the whole database already).
        lock = " FOR UPDATE" if self._tx is not None and \
            self.engine.dialect.name == "postgresql" else ""
        row = self._row(f"SELECT * FROM orders WHERE order_id = :order_id{lock}",
                        order_id=order_id)
        if row is None:
            raise ShopError(404, "order_not_found", "No order with this number.")
        return row

    def _apply(self, row: RowMapping, action: str, **changes: Any) -> None:
        """The one place that changes an order: check the rule, then write the columns."""
        rules.require(action, row["state"], _time(row["delivered_at"]), self.now())
        self._update("orders", {"order_id": row["order_id"]}, changes)

    def _refunded_goods(self, order_id: str) -> int:
        """What was refunded or is being refunded for the goods (not for extra charges)."""
        row = self._row(
            "SELECT COALESCE(SUM(amount), 0) AS total FROM refunds WHERE order_id = :order_id"
            " AND kind != 'duplicate_charge' AND status != 'rejected'", order_id=order_id)
        return int(row["total"]) if row else 0

    def _main_payment(self, order_id: str) -> str | None:
        row = self._row(
            "SELECT payment_id FROM payments WHERE order_id = :order_id AND status != 'failed'"
            " ORDER BY created_at LIMIT 1", order_id=order_id)
        return row["payment_id"] if row else None

    def _create_refund(
        self, order_id: str, payment_id: str | None, kind: str, status: str,
        amount: int, method: str, reason: str,
    ) -> dict[str, Any]:
        count = self._count("SELECT COUNT(*) FROM refunds WHERE order_id = :order_id",
                            order_id=order_id)
        now = self.now()
        arrival = rules.expected_arrival(method, status, now.date())
        refund_id = f"RF{order_id}{count + 1:02d}"
        row = {
            "refund_id": refund_id, "order_id": order_id,
            "payment_id": payment_id, "kind": kind, "status": status, "amount": amount,
            "method": method, "reason": reason, "created_at": now.isoformat(),
            "expected_arrival": arrival.isoformat() if arrival else None,
        }
        self.insert("refunds", [row])
        if payment_id:
            # A refund of the whole payment is linked to it; partial refunds are not.
            self._exec(
                "UPDATE payments SET refund_id = :refund_id WHERE payment_id = :payment_id"
                " AND amount = :amount AND refund_id IS NULL",
                refund_id=refund_id, payment_id=payment_id, amount=amount)
        return self.refund(refund_id)

    def _next_invoice_number(self) -> str:
        """A 20-digit number like the national e-invoices: year, issuer code, sequence."""
        issued = self._count("SELECT COUNT(*) + COALESCE(SUM(reissue_count), 0) FROM invoices")
        return invoice_number(self.now(), issued + 1)

    def _next_case_id(self) -> str:
        prefix = f"AS{self.now():%Y%m%d}"
        count = self._count("SELECT COUNT(*) FROM after_sales WHERE case_id LIKE :prefix",
                            prefix=prefix + "%")
        return f"{prefix}{count + 1:04d}"

    def _order_view(self, row: RowMapping) -> dict[str, Any]:
        order_id = row["order_id"]
        delivered_at = _time(row["delivered_at"])
        items = self._rows("SELECT sku, name, qty, price FROM order_items"
                           " WHERE order_id = :order_id ORDER BY line", order_id=order_id)
        events = self._rows('SELECT "time", location, description FROM tracking_events'
                            ' WHERE order_id = :order_id ORDER BY "time" DESC',
                            order_id=order_id)
        deadline = rules.return_deadline(delivered_at)
        slot = row["slot_date"] and {"date": row["slot_date"], "window": row["slot_window"]}
        return {
            "order_id": order_id, "state": row["state"], "amount": yuan(row["amount"]),
            "payment_method": row["payment_method"], "created_at": row["created_at"],
            "paid_at": row["paid_at"], "shipped_at": row["shipped_at"],
            "delivered_at": row["delivered_at"], "cancelled_at": row["cancelled_at"],
            "cancel_reason": row["cancel_reason"],
            "items": [{**dict(item), "price": yuan(item["price"])} for item in items],
            "address": {
                "name": row["address_name"], "phone": mask_phone(row["address_phone"]),
                "province": row["address_province"], "city": row["address_city"],
                "detail": row["address_detail"],
            },
            "delivery_slot": slot or None,
            "carrier": row["carrier"], "tracking_number": row["tracking_number"],
            "tracking_events": [dict(event) for event in events],
            "eta": row["eta"],
            "return_deadline": deadline.isoformat() if deadline else None,
            "allowed_actions": rules.allowed_actions(row["state"], delivered_at, self.now()),
        }


def _foreign_keys_on(dbapi_connection: Any, _record: Any) -> None:
    """SQLite checks the REFERENCES clauses only when asked, per connection."""
    dbapi_connection.execute("PRAGMA foreign_keys = ON")


def _quoted(name: str) -> str:
    """A column name as SQL: "time" is a keyword in PostgreSQL."""
    return f'"{name}"' if name == "time" else name


def _payment_view(row: RowMapping) -> dict[str, Any]:
    return {**dict(row), "amount": yuan(row["amount"])}


def _refund_view(row: RowMapping) -> dict[str, Any]:
    return {**dict(row), "amount": yuan(row["amount"])}


def _invoice_view(row: RowMapping) -> dict[str, Any]:
    return {**dict(row), "amount": yuan(row["amount"])}


def _shifted(row: dict[str, Any], columns: Iterable[str], delta: timedelta) -> dict[str, Any]:
    return {k: _shift(v, delta) if k in columns and v is not None else v for k, v in row.items()}


def _shift(value: str, delta: timedelta) -> str:
    if len(value) == 10:
        return (date.fromisoformat(value) + delta).isoformat()
    return (datetime.fromisoformat(value) + delta).isoformat()
