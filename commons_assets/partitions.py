"""Weekly partitions: one partition per ISO week, Monday 00:00 to Monday 00:00, Europe/Paris.

Partition keys are the Monday's date (2026-11-16); people and the CLI speak ISO weeks (2026-W47).
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import dagster as dg

TIMEZONE = "Europe/Paris"
# The first week a release can be made for; earlier weeks are history inside later releases.
FIRST_WEEK = "2024-01-01"
_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")

WEEKLY_PARTITIONS = dg.WeeklyPartitionsDefinition(
    start_date=FIRST_WEEK,
    day_offset=1,  # weeks start on Monday, as ISO weeks do
    timezone=TIMEZONE,
    fmt="%Y-%m-%d",
)


class WeekError(ValueError):
    """A week given by a person that we cannot release."""


def iso_week_to_partition_key(week: str) -> str:
    """'2026-W47' → '2026-11-16' (its Monday)."""
    match = _ISO_WEEK.match(week.strip())
    if not match:
        raise WeekError(f"--week must look like 2026-W47 (ISO year, W, two-digit week), got {week!r}")
    year, number = int(match.group(1)), int(match.group(2))
    try:
        monday = dt.date.fromisocalendar(year, number, 1)
    except ValueError:
        raise WeekError(f"{week} does not exist: {year} has no ISO week {number}") from None
    return monday.isoformat()


def partition_key_to_iso_week(key: str) -> str:
    year, week, _ = dt.date.fromisoformat(key).isocalendar()
    return f"{year}-W{week:02d}"


def last_complete_week(now: dt.datetime | None = None) -> str:
    """The ISO week that ended most recently, in Europe/Paris time."""
    now = now or dt.datetime.now(ZoneInfo(TIMEZONE))
    today = now.astimezone(ZoneInfo(TIMEZONE)).date()
    last_week_day = today - dt.timedelta(days=today.isoweekday())  # the Sunday before today
    year, week, _ = last_week_day.isocalendar()
    return f"{year}-W{week:02d}"


def check_releasable(week: str, now: dt.datetime | None = None) -> str:
    """The partition key of `week`, if the week is complete and not before FIRST_WEEK."""
    key = iso_week_to_partition_key(week)
    if key < FIRST_WEEK:
        raise WeekError(f"{week} is before the first releasable week ({partition_key_to_iso_week(FIRST_WEEK)})")
    if week_sort_key(week) > week_sort_key(last_complete_week(now)):
        raise WeekError(
            f"{week} is not over yet: the last complete week is {last_complete_week(now)}"
        )
    return key


def week_sort_key(week: str) -> str:
    return iso_week_to_partition_key(week)
