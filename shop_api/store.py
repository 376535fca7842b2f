"""SQLite storage of the shop: schema, queries and every state change, in one place."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from shop_api import rules
from shop_api.errors import ShopError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    phone TEXT PRIMARY KEY,
    phone_bound INTEGER NOT NULL,
    locked INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    lock_reason TEXT,
    real_name_verified INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    phone TEXT NOT NULL,
    state TEXT NOT NULL,
    amount INTEGER NOT NULL,
    payment_method TEXT,
    created_at TEXT NOT NULL,
    paid_at TEXT,
    shipped_at TEXT,
    delivered_at TEXT,
    cancelled_at TEXT,
    cancel_reason TEXT,
    eta TEXT,
    carrier TEXT,
    tracking_number TEXT,
    address_name TEXT NOT NULL,
    address_phone TEXT NOT NULL,
    address_province TEXT NOT NULL,
    address_city TEXT NOT NULL,
    address_detail TEXT NOT NULL,
    slot_date TEXT,
    slot_window TEXT
);
CREATE INDEX IF NOT EXISTS orders_by_phone ON orders (phone, created_at);
CREATE TABLE IF NOT EXISTS order_items (
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    line INTEGER NOT NULL,
    sku TEXT NOT NULL,
    name TEXT NOT NULL,
    qty INTEGER NOT NULL,
    price INTEGER NOT NULL,
    PRIMARY KEY (order_id, line)
);
CREATE TABLE IF NOT EXISTS tracking_events (
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    time TEXT NOT NULL,
    location TEXT NOT NULL,
    description TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS payments (
    payment_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    status TEXT NOT NULL,
    method TEXT NOT NULL,
    amount INTEGER NOT NULL,
    failure_code TEXT,
    created_at TEXT NOT NULL,
    refund_id TEXT
);
CREATE TABLE IF NOT EXISTS refunds (
    refund_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    payment_id TEXT,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    amount INTEGER NOT NULL,
    method TEXT NOT NULL,
    reason TEXT NOT NULL,
    rejection_reason TEXT,
    created_at TEXT NOT NULL,
    expected_arrival TEXT,
    completed_at TEXT
);
CREATE TABLE IF NOT EXISTS after_sales (
    case_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    type TEXT NOT NULL,
    reason TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS invoices (
    order_id TEXT PRIMARY KEY REFERENCES orders (order_id),
    title_type TEXT NOT NULL,
    title TEXT NOT NULL,
    tax_number TEXT,
    email TEXT,
    status TEXT NOT NULL,
    invoice_number TEXT,
    amount INTEGER NOT NULL,
    issued_at TEXT,
    reissue_count INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""
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
    """The shop's data in one SQLite file."""

    def __init__(self, path: str, clock: Callable[[], datetime] = china_now) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.executescript(SCHEMA)
        self.clock = clock
        self._depth = 0

    def close(self) -> None:
        """Close the database connection."""
        self.conn.close()

    def now(self) -> datetime:
        """The store's current time (China time)."""
        return self.clock()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run a block atomically; nested blocks join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._depth = 0

    # ---- reads -----------------------------------------------------------------------

    def order(self, order_id: str) -> dict[str, Any]:
        """One order as the API shows it."""
        return self._order_view(self._order_row(order_id))

    def orders_by_phone(self, phone: str, limit: int) -> list[dict[str, Any]]:
        """A customer's most recent orders, newest first."""
        rows = self.conn.execute(
            "SELECT * FROM orders WHERE phone = ? ORDER BY created_at DESC, order_id DESC LIMIT ?",
            (phone, limit),
        ).fetchall()
        return [self._order_view(row) for row in rows]

    def is_owner(self, order_id: str, phone: str) -> bool:
        """Whether the order was placed with this phone (the customer's, not the recipient's)."""
        return self._order_row(order_id)["phone"] == phone

    def payments(self, order_id: str) -> list[dict[str, Any]]:
        """Every payment attempt of an order, oldest first."""
        self._order_row(order_id)
        rows = self.conn.execute(
            "SELECT * FROM payments WHERE order_id = ? ORDER BY created_at, payment_id",
            (order_id,),
        ).fetchall()
        return [_payment_view(row) for row in rows]

    def refunds(self, order_id: str) -> list[dict[str, Any]]:
        """Every refund of an order, newest first."""
        self._order_row(order_id)
        rows = self.conn.execute(
            "SELECT * FROM refunds WHERE order_id = ? ORDER BY created_at DESC, refund_id DESC",
            (order_id,),
        ).fetchall()
        return [_refund_view(row) for row in rows]

    def refund(self, refund_id: str) -> dict[str, Any]:
        """One refund."""
        row = self.conn.execute(
            "SELECT * FROM refunds WHERE refund_id = ?", (refund_id,)
        ).fetchone()
        if row is None:
            raise ShopError(404, "refund_not_found", "No refund with this id.")
        return _refund_view(row)

    def cases(self, order_id: str) -> list[dict[str, Any]]:
        """Every after-sales case of an order, newest first."""
        self._order_row(order_id)
        rows = self.conn.execute(
            "SELECT * FROM after_sales WHERE order_id = ? ORDER BY created_at DESC, case_id DESC",
            (order_id,),
        ).fetchall()
        return [dict(row) for row in rows]

    def invoice(self, order_id: str) -> dict[str, Any]:
        """The invoice of an order; 404 `invoice_not_found` when none was requested."""
        self._order_row(order_id)
        row = self.conn.execute(
            "SELECT * FROM invoices WHERE order_id = ?", (order_id,)
        ).fetchone()
        if row is None:
            raise ShopError(404, "invoice_not_found", "No invoice was requested for this order.")
        return _invoice_view(row)

    def account(self, phone: str) -> dict[str, Any]:
        """The account registered with a phone number; `registered` is false when none is."""
        row = self.conn.execute("SELECT * FROM accounts WHERE phone = ?", (phone,)).fetchone()
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
            unrefunded = self.conn.execute(
                "SELECT * FROM payments WHERE order_id = ? AND status = 'success'"
                " AND refund_id IS NULL ORDER BY created_at",
                (order_id,),
            ).fetchall()
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
            existing = self.conn.execute(
                "SELECT case_id FROM after_sales WHERE order_id = ? AND type = ?"
                " AND status IN (?, ?)",
                (order_id, kind, *OPEN_CASE_STATES),
            ).fetchone()
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
            existing = self.conn.execute(
                "SELECT invoice_number FROM invoices WHERE order_id = ?", (order_id,)
            ).fetchone()
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
            assignments = ", ".join(f"{name} = ?" for name in changes)
            self.conn.execute(f"UPDATE invoices SET {assignments} WHERE order_id = ?",
                              (*changes.values(), order_id))
        return self.invoice(order_id)

    # ---- idempotency -----------------------------------------------------------------

    def recall(self, key: str) -> Saved | None:
        """The answer stored for an idempotency key, if any."""
        row = self.conn.execute(
            "SELECT fingerprint, status, body FROM idempotency WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return Saved(row["fingerprint"], row["status"], json.loads(row["body"]))

    def remember(self, key: str, fingerprint: str, status: int, body: dict[str, Any]) -> None:
        """Store the answer to an idempotent request."""
        self.conn.execute(
            "INSERT INTO idempotency (key, fingerprint, status, body, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (key, fingerprint, status, json.dumps(body, ensure_ascii=False), self._stamp()),
        )

    # ---- seeding and maintenance -----------------------------------------------------

    def insert(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        """Insert rows into a table of the schema."""
        columns = self._columns(table)
        for row in rows:
            unknown = set(row) - columns
            if unknown:
                raise ValueError(f"unknown columns for {table}: {sorted(unknown)}")
            names = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
            self.conn.execute(sql, tuple(row.values()))

    def get_meta(self, key: str) -> str | None:
        """A value of the meta table."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the meta table."""
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def shift_times(self, days: int) -> None:
        """Move every date and time of the data by `days`, keeping their distances."""
        delta = timedelta(days=days)
        with self.transaction():
            for table, columns in TIME_COLUMNS.items():
                for column in columns:
                    rows = self.conn.execute(
                        f"SELECT rowid, {column} FROM {table} WHERE {column} IS NOT NULL"
                    ).fetchall()
                    for rowid, value in rows:
                        self.conn.execute(
                            f"UPDATE {table} SET {column} = ? WHERE rowid = ?",
                            (_shift(value, delta), rowid),
                        )

    def states(self) -> dict[str, int]:
        """How many orders are in each state."""
        rows = self.conn.execute("SELECT state, COUNT(*) AS n FROM orders GROUP BY state")
        return {row["state"]: row["n"] for row in rows}

    # ---- internals -------------------------------------------------------------------

    def _columns(self, table: str) -> set[str]:
        if table not in {*TIME_COLUMNS, "order_items", "meta", "idempotency"}:
            raise ValueError(f"unknown table {table}")
        return {row["name"] for row in self.conn.execute(f"PRAGMA table_info({table})")}

    def _stamp(self) -> str:
        return self.now().isoformat()

    def _order_row(self, order_id: str) -> sqlite3.Row:
        row = self.conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        if row is None:
            raise ShopError(404, "order_not_found", "No order with this number.")
        return row

    def _apply(self, row: sqlite3.Row, action: str, **changes: Any) -> None:
        """The one place that changes an order: check the rule, then write the columns."""
        rules.require(action, row["state"], _time(row["delivered_at"]), self.now())
        columns = self._columns("orders")
        if set(changes) - columns:
            raise ValueError(f"unknown order columns {sorted(set(changes) - columns)}")
        assignments = ", ".join(f"{name} = ?" for name in changes)
        self.conn.execute(
            f"UPDATE orders SET {assignments} WHERE order_id = ?",
            (*changes.values(), row["order_id"]),
        )

    def _refunded_goods(self, order_id: str) -> int:
        """What was refunded or is being refunded for the goods (not for extra charges)."""
        row = self.conn.execute(
            "SELECT COALESCE(SUM(amount), 0) AS total FROM refunds WHERE order_id = ?"
            " AND kind != 'duplicate_charge' AND status != 'rejected'",
            (order_id,),
        ).fetchone()
        return row["total"]

    def _main_payment(self, order_id: str) -> str | None:
        row = self.conn.execute(
            "SELECT payment_id FROM payments WHERE order_id = ? AND status != 'failed'"
            " ORDER BY created_at LIMIT 1",
            (order_id,),
        ).fetchone()
        return row["payment_id"] if row else None

    def _create_refund(
        self, order_id: str, payment_id: str | None, kind: str, status: str,
        amount: int, method: str, reason: str,
    ) -> dict[str, Any]:
        count = self.conn.execute(
            "SELECT COUNT(*) AS n FROM refunds WHERE order_id = ?", (order_id,)
        ).fetchone()["n"]
        now = self.now()
        arrival = rules.expected_arrival(method, status, now.date())
        row = {
            "refund_id": f"RF{order_id}{count + 1:02d}", "order_id": order_id,
            "payment_id": payment_id, "kind": kind, "status": status, "amount": amount,
            "method": method, "reason": reason, "created_at": now.isoformat(),
            "expected_arrival": arrival.isoformat() if arrival else None,
        }
        self.insert("refunds", [row])
        if payment_id:
            # A refund of the whole payment is linked to it; partial refunds are not.
            self.conn.execute(
                "UPDATE payments SET refund_id = ? WHERE payment_id = ? AND amount = ?"
                " AND refund_id IS NULL",
                (row["refund_id"], payment_id, amount),
            )
        return self.refund(row["refund_id"])

    def _next_invoice_number(self) -> str:
        """A 20-digit number like the national e-invoices: year, issuer code, sequence."""
        issued = self.conn.execute(
            "SELECT COUNT(*) + COALESCE(SUM(reissue_count), 0) AS n FROM invoices"
        ).fetchone()["n"]
        return invoice_number(self.now(), issued + 1)

    def _next_case_id(self) -> str:
        prefix = f"AS{self.now():%Y%m%d}"
        row = self.conn.execute(
            "SELECT COUNT(*) AS n FROM after_sales WHERE case_id LIKE ?", (prefix + "%",)
        ).fetchone()
        return f"{prefix}{row['n'] + 1:04d}"

    def _order_view(self, row: sqlite3.Row) -> dict[str, Any]:
        order_id = row["order_id"]
        delivered_at = _time(row["delivered_at"])
        items = self.conn.execute(
            "SELECT sku, name, qty, price FROM order_items WHERE order_id = ? ORDER BY line",
            (order_id,),
        ).fetchall()
        events = self.conn.execute(
            "SELECT time, location, description FROM tracking_events WHERE order_id = ?"
            " ORDER BY time DESC",
            (order_id,),
        ).fetchall()
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


def _payment_view(row: sqlite3.Row) -> dict[str, Any]:
    return {**dict(row), "amount": yuan(row["amount"])}


def _refund_view(row: sqlite3.Row) -> dict[str, Any]:
    return {**dict(row), "amount": yuan(row["amount"])}


def _invoice_view(row: sqlite3.Row) -> dict[str, Any]:
    return {**dict(row), "amount": yuan(row["amount"])}


def _shift(value: str, delta: timedelta) -> str:
    if len(value) == 10:
        return (date.fromisoformat(value) + delta).isoformat()
    return (datetime.fromisoformat(value) + delta).isoformat()
