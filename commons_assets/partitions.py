"""Weekly partitions: one partition per ISO week, Monday 00:00 to Monday 00:00, in the service's publishing time
zone (`vars.service.timezone` of its dbt project, read once at import: one small YAML file).

Partition keys are the Monday's date (2026-11-16); `commons_assets.week.Week` converts them to and from the ISO
labels people use (2026-W47).
"""

from __future__ import annotations

import dagster as dg

from commons_assets.week import FIRST_WEEK, publishing_timezone

WEEKLY_PARTITIONS = dg.WeeklyPartitionsDefinition(
    start_date=FIRST_WEEK,
    day_offset=1,  # weeks start on Monday, as ISO weeks do
    timezone=publishing_timezone(),
    fmt="%Y-%m-%d",
)
