"""Weekly partitions: one partition per ISO week, Monday 00:00 to Monday 00:00, in the service's publishing time
zone (`vars.service.timezone` of its dbt project).

Keys are the Monday's ISO week date (2026-W47-1, `Week.partition_key`), so the UI names a week as the CLI and
the files do; they start at the service's first week of data (`vars.service.first_week` in its dbt project),
so the UI does not count years before the service as missing weeks.
"""

from __future__ import annotations

from functools import cache

import dagster as dg

from commons_assets.week import PARTITION_KEY_FORMAT, first_week, publishing_timezone


def weekly_partitions() -> dg.WeeklyPartitionsDefinition:
    """The partitions of every asset of the weekly job, from the service's dbt project as it is now."""
    return _weekly_partitions(first_week().partition_key, publishing_timezone())


@cache
def _weekly_partitions(start_key: str, timezone: str) -> dg.WeeklyPartitionsDefinition:
    # one instance per start week and zone: every asset of the job must share the very same definition
    return dg.WeeklyPartitionsDefinition(
        start_date=start_key,
        day_offset=1,  # weeks start on Monday, as ISO weeks do
        timezone=timezone,
        fmt=PARTITION_KEY_FORMAT,
    )
