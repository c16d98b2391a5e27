import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from commons_assets.partitions import (
    WeekError,
    check_releasable,
    iso_week_to_partition_key,
    last_complete_week,
    partition_key_to_iso_week,
)

PARIS = ZoneInfo("Europe/Paris")


def test_iso_week_maps_to_its_monday_and_back():
    assert iso_week_to_partition_key("2026-W47") == "2026-11-16"
    assert partition_key_to_iso_week("2026-11-16") == "2026-W47"
    # ISO year differs from the calendar year around New Year
    assert iso_week_to_partition_key("2026-W01") == "2025-12-29"
    assert partition_key_to_iso_week("2025-12-29") == "2026-W01"


@pytest.mark.parametrize("bad", ["2026-47", "2026W47", "W47", "2026-W5", "2026-W54", "next week"])
def test_malformed_or_impossible_weeks_are_refused(bad):
    with pytest.raises(WeekError):
        iso_week_to_partition_key(bad)


def test_last_complete_week_is_in_paris_time():
    # Sunday 23:30 UTC on 22 Nov 2026 is already Monday 00:30 in Paris: week 47 is complete.
    assert last_complete_week(dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.timezone.utc)) == "2026-W47"
    assert last_complete_week(dt.datetime(2026, 11, 22, 22, 30, tzinfo=dt.timezone.utc)) == "2026-W46"


def test_a_week_not_over_cannot_be_released():
    now = dt.datetime(2026, 11, 25, 12, tzinfo=PARIS)
    assert check_releasable("2026-W47", now) == "2026-11-16"
    with pytest.raises(WeekError, match="not over"):
        check_releasable("2026-W48", now)
    with pytest.raises(WeekError, match="before the first"):
        check_releasable("2020-W10", now)
