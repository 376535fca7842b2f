"""Personal data out of the logs: a filter that masks card, ID and phone numbers.

Installed on the handlers of the services' loggers (Rasa server, action server, shop API), so
a failed turn or an access log line never writes a customer's numbers in clear.
"""
from __future__ import annotations

import logging

from contracts.masking import mask_text

SANIC_LOGGERS = ("sanic.root", "sanic.error", "sanic.access")


class MaskingFilter(logging.Filter):
    """Rewrites each record's message (and its traceback) with personal numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drops it."""
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = mask_text(message), None
        request = getattr(record, "request", None)  # Sanic's access log keeps the URL here
        if isinstance(request, str):
            record.request = mask_text(request)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True


def install_masking(*loggers: logging.Logger) -> None:
    """Add the filter to every handler of `loggers` (once per handler)."""
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, MaskingFilter) for f in handler.filters):
                handler.addFilter(MaskingFilter())
