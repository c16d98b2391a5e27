"""The ledger's reads that other modules (the CLI's checks before a run, its verdict after one) make through
ledger.py rather than with their own SQL: on a real PostgreSQL, before and after the ledger exists."""

from __future__ import annotations

import datetime as dt

import pytest
from psycopg import sql

from commons_assets.ledger import (
    RELEASES_TABLE,
    ensure_ledger,
    last_published_week,
    ledger_schema,
    published_by_run,
)

# A dbt schema of this module's own, so that its ledger is a schema no other test writes in.
DBT_SCHEMA = "test_ledger_reads"


@pytest.fixture
def ledger(db, monkeypatch):
    monkeypatch.setenv("COMMONS_DBT_SCHEMA", DBT_SCHEMA)
    schema = sql.Identifier(ledger_schema())
    db.execute(sql.SQL("drop schema if exists {} cascade").format(schema))
    yield db
    db.execute(sql.SQL("drop schema if exists {} cascade").format(schema))


def _ledger_exists(db) -> bool:
    (found,) = db.execute(
        "select exists (select 1 from pg_namespace where nspname = %s)", (ledger_schema(),)
    ).fetchone()
    return found


def _record(db, week: str, target: str, at: dt.datetime) -> None:
    db.execute(
        sql.SQL(
            "insert into {t} (week, dataset, file, rows, sha256, licence, code_version, target, published_at) "
            "values (%s, 'd', 'd/d.csv', 1, 'x', 'lov2', 'test', %s, %s)"
        ).format(t=sql.Identifier(ledger_schema(), RELEASES_TABLE)),
        (week, target, at),
    )


def test_reads_before_any_release_answer_nothing_and_create_no_ledger(ledger):
    assert last_published_week(ledger, target="/srv/releases") is None
    assert published_by_run(ledger, week="2026-W47", since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) == []
    # a command's checks before any work must not leave a ledger behind in a warehouse they only read
    assert not _ledger_exists(ledger)


def test_last_published_week_is_the_latest_week_of_that_target_only(ledger):
    ensure_ledger(ledger, usage=[])
    at = dt.datetime(2026, 11, 30, 8, tzinfo=dt.UTC)
    assert last_published_week(ledger, target="/srv/releases") is None
    _record(ledger, "2026-W46", "/srv/releases", at)
    _record(ledger, "2026-W47", "/srv/releases", at)
    _record(ledger, "2026-W49", "datagouv", at)
    assert last_published_week(ledger, target="/srv/releases") == "2026-W47"
    assert last_published_week(ledger, target="datagouv") == "2026-W49"
    assert last_published_week(ledger, target="/elsewhere") is None


def test_published_by_run_names_the_targets_of_that_week_recorded_since_the_run_began(ledger):
    ensure_ledger(ledger, usage=[])
    began = dt.datetime(2026, 11, 30, 8, tzinfo=dt.UTC)
    _record(ledger, "2026-W47", "/before", began - dt.timedelta(seconds=1))  # an earlier run's
    _record(ledger, "2026-W47", "datagouv", began)
    _record(ledger, "2026-W47", "/srv/releases", began + dt.timedelta(minutes=3))
    _record(ledger, "2026-W46", "/other-week", began + dt.timedelta(minutes=3))
    assert published_by_run(ledger, week="2026-W47", since=began) == ["/srv/releases", "datagouv"]
    assert published_by_run(ledger, week="2026-W48", since=began) == []
