"""The data the benchmark releases: the demo seeded at scale, the week it ends with, and the ledger and usage
history put back as they were."""

from __future__ import annotations

import contextlib
import datetime as dt
import time

from commons_assets.bench.common import SEED
from commons_assets.week import Week, releasable_week


def week_bounds(label: str) -> tuple[Week, dt.date]:
    """(the week, the `until` to seed with): the data end on the Monday after the week, as on the morning the
    schedule releases it, so that the week is the last complete week of the data and the models' filter on the
    end of the week has rows to drop."""
    week = releasable_week(label)
    return week, week.end


@contextlib.contextmanager
def ledger_kept(info):
    """Put the release ledger back as it was once the benchmark's release is done: that release goes to a
    temporary folder, and must neither freeze usage figures of the demo nor count as the previous release."""
    import psycopg

    from commons_assets.ledger import preserved

    with psycopg.connect(info.conninfo(), autocommit=True) as conn, preserved(conn):
        yield


def seed_at_scale(info, schema: str, users: int, events: int, until: dt.date) -> tuple[float, dict[str, int]]:
    import psycopg

    from commons_assets.demo.seed import seed_demo

    started = time.perf_counter()
    with psycopg.connect(info.conninfo()) as conn:
        counts = seed_demo(conn, schema=schema, users=users, events=events, seed=SEED, until=until)
    return time.perf_counter() - started, counts


def source_counts(info, schema: str) -> dict[str, int]:
    import psycopg

    from commons_assets.demo.seed import count_rows

    with psycopg.connect(info.conninfo()) as conn:
        return count_rows(conn, schema)


def forget_usage_history(info, dbt_schema: str) -> None:
    """The full run is a first release: no week counted, no week frozen."""
    import psycopg

    from commons_assets.ledger import reset_usage_history

    with psycopg.connect(info.conninfo()) as conn:
        reset_usage_history(conn, dbt_schema=dbt_schema)
