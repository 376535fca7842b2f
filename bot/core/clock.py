"""The one clock: the shop counts its days (delivery dates, return and invoice windows) in
China's time, whatever the time zone of the server the bot runs on."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


def utc_now() -> datetime:
    """The current instant (tests replace this function to stop the clock)."""
    return datetime.now(timezone.utc)


def china_now() -> datetime:
    """The time in China now."""
    return utc_now().astimezone(CHINA)


def china_today() -> date:
    """Today's date in China: before 08:00 there, a UTC server's date is still yesterday's."""
    return china_now().date()
