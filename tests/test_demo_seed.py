"""The demo service generator, on a real PostgreSQL (the embedded one unless COMMONS_WAREHOUSE_URL is set)."""

from __future__ import annotations

import csv
import datetime as dt
import re
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql

from commons_assets import warehouse
from commons_assets.demo import seed as demo
from commons_assets.demo.seed import DATA_DIR, demo_period, seed_demo

SCHEMA = "demo_test_seed"
SAME_SEED = "demo_test_seed_same"
OTHER_SEED = "demo_test_seed_other"
TODAY = "demo_test_seed_today"
ALL_SCHEMAS = (SCHEMA, SAME_SEED, OTHER_SEED, TODAY)
# A Wednesday: the last complete week is Monday 3 to Sunday 9 March 2025.
UNTIL = dt.date(2025, 3, 12)
ARGS = dict(users=500, events=5000, seed=42, until=UNTIL, weeks=26)
PARIS = ZoneInfo("Europe/Paris")
KEYS = {
    "communes": "commune_code",
    "categories": "category_code",
    "users": "user_id",
    "reports": "report_id",
    "events": "event_id",
}


def _paris(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=PARIS)


def _drop(conn, schemas) -> None:
    for schema in schemas:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
    conn.commit()


@pytest.fixture(scope="module")
def conn():
    info = warehouse.resolve()
    # Paris time in the session, so that text renderings of timestamps are stable between runs too.
    with psycopg.connect(info.conninfo(), options="-c timezone=Europe/Paris") as connection:
        _drop(connection, ALL_SCHEMAS)
        yield connection
        connection.rollback()
        _drop(connection, ALL_SCHEMAS)


@pytest.fixture(scope="module")
def seeded(conn):
    return seed_demo(conn, schema=SCHEMA, **ARGS)


def _fingerprints(conn, schema: str) -> dict[str, str]:
    out = {}
    for table, key in KEYS.items():
        row = conn.execute(
            sql.SQL("select md5(string_agg(t::text, '|' order by t.{})) from {}.{} t").format(
                sql.Identifier(key), sql.Identifier(schema), sql.Identifier(table)
            )
        ).fetchone()
        out[table] = row[0]
    conn.commit()
    return out


def _one(conn, query: str, *params):
    row = conn.execute(query.replace("S.", f"{SCHEMA}."), params).fetchone()
    conn.commit()
    return row


def test_row_counts(conn, seeded):
    with open(DATA_DIR / "communes.csv", newline="", encoding="utf-8") as f:
        n_communes = sum(1 for _ in csv.DictReader(f))
    assert seeded == {
        "communes": n_communes,
        "categories": 8,
        "users": 500,
        "reports": 750,
        "events": 5000,
    }
    for table, expected in seeded.items():
        assert _one(conn, f"select count(*) from S.{table}")[0] == expected


def test_same_arguments_give_the_same_rows(conn, seeded):
    seed_demo(conn, schema=SAME_SEED, **ARGS)
    assert _fingerprints(conn, SAME_SEED) == _fingerprints(conn, SCHEMA)


def test_another_seed_gives_other_rows(conn, seeded):
    seed_demo(conn, schema=OTHER_SEED, **{**ARGS, "seed": 7})
    ours, theirs = _fingerprints(conn, SCHEMA), _fingerprints(conn, OTHER_SEED)
    # Reference tables are the same data; everything generated differs.
    assert ours["communes"] == theirs["communes"]
    assert ours["categories"] == theirs["categories"]
    for table in ("users", "reports", "events"):
        assert ours[table] != theirs[table], table


def test_keys_and_indexes_are_in_place(conn, seeded):
    constraints = {
        name
        for (name,) in conn.execute(
            "select conname from pg_constraint c join pg_namespace n on n.oid = c.connamespace"
            " where n.nspname = %s",
            (SCHEMA,),
        )
    }
    indexes = {name for (name,) in conn.execute("select indexname from pg_indexes where schemaname = %s", (SCHEMA,))}
    conn.commit()
    for table in KEYS:
        assert f"{table}_pkey" in constraints
    assert {"users_commune_code_fkey", "reports_author_id_fkey", "reports_category_code_fkey",
            "reports_commune_code_fkey"} <= constraints
    assert {"events_occurred_at_idx", "reports_created_at_idx", "users_created_at_idx"} <= indexes


def test_everything_happens_in_the_period(conn, seeded):
    period = demo_period(UNTIL, 26)
    assert period.first_day == dt.date(2024, 9, 16) and period.first_day.weekday() == 0
    start, end = _paris(period.first_day), _paris(UNTIL + dt.timedelta(days=1))
    lo, hi = _one(
        conn,
        """
        select min(t), max(t) from (
            select created_at as t from S.users
            union all select created_at from S.reports
            union all select updated_at from S.reports
            union all select closed_at from S.reports where closed_at is not null
            union all select occurred_at from S.events
        ) x
        """,
    )
    assert start <= lo and hi < end


def test_last_complete_week_has_data(conn, seeded):
    week_start, week_end = _paris(dt.date(2025, 3, 3)), _paris(dt.date(2025, 3, 10))
    users, reports, events = _one(
        conn,
        """
        select (select count(*) from S.users where created_at >= %s and created_at < %s),
               (select count(*) from S.reports where created_at >= %s and created_at < %s),
               (select count(*) from S.events where occurred_at >= %s and occurred_at < %s)
        """,
        *(week_start, week_end) * 3,
    )
    # With growth, the last complete week holds more than an average week's share (1/26).
    assert users > 500 / 26
    assert reports > 750 / 26
    assert events > 5000 / 26


def test_default_until_is_the_clock_setting(conn, monkeypatch):
    monkeypatch.setenv("COMMONS_TODAY", "2026-03-04")
    seed_demo(conn, schema=TODAY, users=50, events=300, weeks=2)
    latest = conn.execute(
        sql.SQL("select max(occurred_at), max(u.created_at) from {0}.events, {0}.users u").format(
            sql.Identifier(TODAY)
        )
    ).fetchone()
    conn.commit()
    # the data end with the clock date, not with the real one
    assert all(_paris(dt.date(2026, 2, 23)) <= ts < _paris(dt.date(2026, 3, 5)) for ts in latest), latest


def test_phone_formats_vary(conn, seeded):
    rows = conn.execute(
        f"select regexp_replace(phone, '[0-9]', '9', 'g') as shape, count(*) from {SCHEMA}.users group by 1"
    ).fetchall()
    conn.commit()
    shapes = dict(rows)
    assert shapes.get(None, 0) > 0  # some users gave no phone
    for shape in ("99 99 99 99 99", "9999999999", "+99 9 99 99 99 99", "99.99.99.99.99"):
        assert shapes.get(shape, 0) > 0, shape
    assert set(shapes) - {None} <= {"99 99 99 99 99", "9999999999", "+99 9 99 99 99 99", "99.99.99.99.99",
                                    "+99999999999"}


def test_users_look_real(conn, seeded):
    rows = conn.execute(
        f"select email, birth_date, street_address, signup_ip, first_name, last_name from {SCHEMA}.users"
    ).fetchall()
    conn.commit()
    emails = [r[0] for r in rows]
    assert len(set(emails)) == len(emails)
    assert all(re.fullmatch(r"[a-z0-9._-]+@[a-z0-9.-]+\.[a-z]{2,}", e) for e in emails), emails[:5]
    assert all(dt.date(1930, 1, 1) <= r[1] <= dt.date(2008, 12, 31) for r in rows)
    assert all(re.fullmatch(r"\d{1,3}( bis)? .+", r[2]) for r in rows)
    assert {r[3].version for r in rows} == {4, 6}
    assert len({r[4] for r in rows}) > 50 and len({r[5] for r in rows}) > 50


def test_users_communes_are_consistent(conn, seeded):
    mismatched, communes_used, paris_share = _one(
        conn,
        """
        select count(*) filter (where u.postcode <> c.postcode),
               count(distinct u.commune_code),
               avg((u.commune_code = '75056')::int)
        from S.users u join S.communes c using (commune_code)
        """,
    )
    assert mismatched == 0
    assert communes_used > 40
    assert paris_share > 0.03  # big cities dominate


def test_communes_csv():
    with open(DATA_DIR / "communes.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    codes = [r["commune_code"] for r in rows]
    assert len(set(codes)) == len(codes) >= 100
    for r in rows:
        assert re.fullmatch(r"\d{5}|2[AB]\d{3}", r["commune_code"]), r
        assert r["commune_code"].startswith(r["departement_code"]), r
        assert re.fullmatch(r"\d{5}", r["postcode"]), r
        assert int(r["population"]) > 0
        assert -90 < float(r["latitude"]) < 90 and -180 < float(r["longitude"]) < 180
    by_code = {r["commune_code"]: r for r in rows}
    assert by_code["75056"]["postcode"] == "75001"
    assert by_code["01053"]["name"] == "Bourg-en-Bresse"
    assert by_code["2A004"]["postcode"] == "20000"
    assert by_code["97411"]["departement_code"] == "974"


def test_reports_are_consistent(conn, seeded):
    bad_order, bad_closed, statuses, categories, off_home = _one(
        conn,
        """
        select count(*) filter (where r.created_at < u.created_at or r.updated_at < r.created_at
                                or r.closed_at < r.created_at),
               count(*) filter (where (r.closed_at is not null) <> (r.status in ('resolu', 'rejete'))),
               array_agg(distinct r.status order by r.status),
               count(distinct r.category_code),
               avg((r.commune_code <> u.commune_code)::int)
        from S.reports r join S.users u on u.user_id = r.author_id
        """,
    )
    assert bad_order == 0
    assert bad_closed == 0
    assert statuses == ["en_cours", "nouveau", "rejete", "resolu"]
    assert categories == 8
    assert 0 < off_home < 0.25
    messages = [m for (m,) in conn.execute(f"select message from {SCHEMA}.reports")]
    conn.commit()
    # Free text leaks personal data sometimes, as real messages do.
    assert any(re.search(r"\d\d[ .]?\d\d[ .]?\d\d[ .]?\d\d", m) for m in messages)
    assert any("@" in m for m in messages)


def test_events_look_like_tracker_output(conn, seeded):
    names = dict(conn.execute(f"select event_name, count(*) from {SCHEMA}.events group by 1").fetchall())
    signed_in, bad_visitors, bad_urls, orphans = _one(
        conn,
        """
        select avg((user_id is not null)::int),
               count(*) filter (where visitor_id !~ '^[0-9a-f]{16}$'),
               count(*) filter (where page_url not like 'https://signalo.example.gouv.fr/%%'),
               count(*) filter (where user_id is not null and not exists (
                   select 1 from S.users u where u.user_id = e.user_id and u.created_at <= e.occurred_at))
        from S.events e
        """,
    )
    known = {n for n, _ in demo.EVENT_NAMES if n}
    assert known <= set(names)
    junk = sum(n for name, n in names.items() if name not in known)
    assert 0 < junk < 0.02 * 5000
    assert names["consultation_carte"] == max(names.values())
    assert 0.3 < signed_in < 0.5
    assert bad_visitors == 0 and bad_urls == 0
    assert orphans == 0


FOREIGN = "demo_test_seed_foreign"


def test_seeding_refuses_to_drop_a_schema_the_demo_did_not_create(conn):
    # a service's own schema, named as the demo's by mistake: it must survive `demo seed` and `bench`
    _drop(conn, [FOREIGN])
    conn.execute(sql.SQL("create schema {}").format(sql.Identifier(FOREIGN)))
    conn.execute(sql.SQL("create table {}.patients (id int)").format(sql.Identifier(FOREIGN)))
    conn.execute(sql.SQL("insert into {}.patients values (1)").format(sql.Identifier(FOREIGN)))
    conn.commit()
    try:
        with pytest.raises(demo.SeedError, match=f"schema '{FOREIGN}' exists.*not created by the demo"):
            seed_demo(conn, schema=FOREIGN, **{**ARGS, "users": 20, "events": 10})
        kept = conn.execute(sql.SQL("select count(*) from {}.patients").format(sql.Identifier(FOREIGN)))
        assert kept.fetchone()[0] == 1
    finally:
        _drop(conn, [FOREIGN])


def test_a_demo_schema_carries_the_mark_that_lets_it_be_seeded_again(conn, seeded):
    mark = conn.execute("select obj_description(%s::regnamespace, 'pg_namespace')", (SCHEMA,)).fetchone()[0]
    assert mark == demo.DEMO_SCHEMA_MARK
    # an empty schema of that name (a fresh warehouse, a schema created by hand) is ours to fill
    _drop(conn, [FOREIGN])
    conn.execute(sql.SQL("create schema {}").format(sql.Identifier(FOREIGN)))
    conn.commit()
    try:
        counts = seed_demo(conn, schema=FOREIGN, **{**ARGS, "users": 20, "events": 10})
        assert counts["users"] == 20
    finally:
        _drop(conn, [FOREIGN])
