"""The ISO week, in one form: `Week`.

A week runs Monday 00:00 to the next Monday 00:00 in the service's publishing time zone (`vars.service.timezone`
of its dbt project, default Europe/Paris), the zone the privacy macros publish weeks in. People and the CLI speak
ISO labels (2026-W47); Dagster partition keys are the ISO 8601 week date of the Monday (2026-W47-1), so that the
UI shows the same week as the files; dbt's `release_week` var is the Monday's date (2026-11-16); SQL bounds are
time-zone aware
instants. Every conversion goes through this type so that no module re-derives a Monday on its own.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from commons_assets.errors import SettingsError, WeekError

# The default publishing zone (the demo's). A service declares its own once, as `vars.service.timezone` in its
# dbt_project.yml: the privacy macros, the partitions and this module all read it (`publishing_timezone()`).
TIMEZONE = "Europe/Paris"
# The first week a release can be made for when the service's dbt project declares none (vars.service.first_week);
# earlier weeks are history inside later releases.
FIRST_WEEK = "2024-W01"
# Dagster partition keys: the ISO 8601 week date of the Monday. Dagster parses keys with strptime, which reads an
# ISO week only with its weekday (%u), hence the `-1`: the UI then shows 2026-W47-1, not a Monday's date.
PARTITION_KEY_FORMAT = "%G-W%V-%u"
# An ISO week label, for the readers' and the databases' checks (Table Schema's `pattern`, a table's `check`):
# ASCII digits only, as PostgreSQL's and JSON Schema's regexes read them.
ISO_WEEK_PATTERN = r"^[0-9]{4}-W[0-9]{2}$"
_ISO_LABEL = re.compile(r"^([0-9]{4})-W([0-9]{2})$")
_PARTITION_KEY = re.compile(r"^([0-9]{4})-W([0-9]{2})-1$")


def publishing_timezone() -> str:
    """The zone of the published weeks: `vars.service.timezone` of the dbt project in use (COMMONS_DBT_PROJECT_DIR),
    default Europe/Paris. Cheap enough for import time (the partitions): one small YAML file, read once per
    project. A project without a readable dbt_project.yml gets the default here; the commands that need the
    project report it themselves."""
    from commons_assets.settings import get_settings

    return _declared_timezone(Path(get_settings().dbt_project_dir).resolve())


@cache
def _declared_timezone(project_dir: Path) -> str:
    import yaml

    try:
        project = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return TIMEZONE
    service = (project.get("vars") or {}).get("service") if isinstance(project, dict) else None
    zone = (service.get("timezone") if isinstance(service, dict) else None) or TIMEZONE
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise SettingsError(
            f"{project_dir / 'dbt_project.yml'}: vars.service.timezone {zone!r} is not a time zone "
            "(an IANA name such as Europe/Paris)"
        ) from None
    return zone


@dataclass(frozen=True, order=True)
class Week:
    """One ISO week, identified by its Monday (so that ordering and equality follow the calendar)."""

    monday: dt.date

    def __post_init__(self) -> None:
        # a datetime is a date too, and would silently carry a time of day into every bound
        if isinstance(self.monday, dt.datetime) or not isinstance(self.monday, dt.date):
            raise TypeError("a Week is built from a datetime.date (its Monday)")
        if self.monday.isoweekday() != 1:
            raise WeekError(f"{self.monday.isoformat()} is not a Monday ({self.monday:%A})")

    # -- building ------------------------------------------------------------------------------------------------

    @classmethod
    def parse(cls, label: str) -> Week:
        """'2026-W47' → the week; a malformed or impossible label is a WeekError."""
        match = _ISO_LABEL.match(label.strip()) if isinstance(label, str) else None
        if not match:
            raise WeekError(f"a week must look like 2026-W47 (ISO year, W, two-digit week), got {label!r}")
        year, number = int(match.group(1)), int(match.group(2))
        try:
            return cls(dt.date.fromisocalendar(year, number, 1))
        except ValueError:
            raise WeekError(f"{label.strip()} does not exist: {year} has no ISO week {number}") from None

    @classmethod
    def from_partition_key(cls, key: str | dt.date) -> Week:
        """A weekly partition key (the Monday's ISO week date, 2026-W47-1) → the week."""
        if isinstance(key, dt.date):
            return cls(key)
        # one spelling: fromisoformat would also read '2026-W47' or '2026W471', a Monday's date is dbt's form
        match = _PARTITION_KEY.match(key) if isinstance(key, str) else None
        if not match:
            raise WeekError(f"a weekly partition key is a Monday's ISO week date such as 2026-W47-1, got {key!r}")
        return cls.parse(f"{match.group(1)}-W{match.group(2)}")

    @classmethod
    def containing(cls, day: dt.date | dt.datetime) -> Week:
        """The week holding `day`; an aware datetime is first read in the publishing time zone."""
        if isinstance(day, dt.datetime):
            day = day.astimezone(ZoneInfo(publishing_timezone())).date() if day.tzinfo else day.date()
        return cls(day - dt.timedelta(days=day.isoweekday() - 1))

    @classmethod
    def last_complete(cls, now: dt.date | dt.datetime | None = None) -> Week:
        """The week that ended most recently before `now` (default: the clock setting, COMMONS_TODAY)."""
        if now is None:
            from commons_assets.settings import get_settings

            now = get_settings().today
        return cls.containing(now).previous()

    # -- reading -------------------------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        year, number, _ = self.monday.isocalendar()
        return f"{year}-W{number:02d}"

    @property
    def number(self) -> int:
        """The ISO week number, 1 to 53 (47 for 2026-W47)."""
        return self.monday.isocalendar()[1]

    @property
    def partition_key(self) -> str:
        """The Dagster partition key: 2026-W47-1 (see PARTITION_KEY_FORMAT)."""
        return f"{self.label}-1"

    @property
    def dbt_var(self) -> str:
        """dbt's `release_week` var: the Monday as YYYY-MM-DD, which the package's macros compare with dates."""
        return self.monday.isoformat()

    @property
    def sunday(self) -> dt.date:
        return self.monday + dt.timedelta(days=6)

    @property
    def end(self) -> dt.date:
        """The next Monday: the end of the week, exclusive."""
        return self.monday + dt.timedelta(days=7)

    @property
    def start_at(self) -> dt.datetime:
        return dt.datetime.combine(self.monday, dt.time(0), tzinfo=ZoneInfo(publishing_timezone()))

    @property
    def end_at(self) -> dt.datetime:
        """Monday 00:00 after the week in the publishing zone, as dbt's release_week_end() macro computes it."""
        return dt.datetime.combine(self.end, dt.time(0), tzinfo=ZoneInfo(publishing_timezone()))

    def previous(self) -> Week:
        return Week(self.monday - dt.timedelta(days=7))

    def next(self) -> Week:
        return Week(self.end)

    def __str__(self) -> str:
        return self.label


def first_week() -> Week:
    """The first releasable week: the service's first week of data as its dbt project declares it
    (`vars.service.first_week`), else FIRST_WEEK. The weekly partitions start there too."""
    from commons_assets.service import declared_service

    service = declared_service()
    return Week.parse((service.first_week if service else None) or FIRST_WEEK)


def releasable_week(label: str, now: dt.date | dt.datetime | None = None) -> Week:
    """The week `label`, if it is complete at `now` and not before the first releasable week."""
    week = Week.parse(label)
    first = first_week()
    if week < first:
        raise WeekError(f"{week} is before the first releasable week ({first})")
    last = Week.last_complete(now)
    if week > last:
        raise WeekError(f"{week} is not over yet: the last complete week is {last}")
    return week
