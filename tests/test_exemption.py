"""The CNIL consent-exemption conditions: measured in SQL on an event table, declared for Matomo."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from commons_assets.service import EventSource
from commons_assets.usage.exemption import (
    ENV_IP_MASKED_BYTES,
    ENV_RAW_DATA_RETENTION_DAYS,
    ENV_VISITOR_COOKIE_DAYS,
    check_event_source,
    check_matomo_settings,
)
from commons_assets.usage.matomo import MatomoSettingsError
from tests.conftest import DEMO_UNTIL, SOURCE_SCHEMA

SCHEMA = "test_exemption"
AS_OF = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)
# The demo's event table as its sources yml declares it (meta.usage_event roles).
ROLES = {"time": "occurred_at", "visitor": "visitor_id", "ip": "ip_address", "name": "event_name"}
EVENTS = EventSource(schema=SCHEMA, table="events", roles=ROLES)
MATOMO_ON = {"MATOMO_URL": "https://stats.example.gouv.fr", "MATOMO_SITE_ID": "3", "MATOMO_TOKEN": "a" * 32}


@pytest.fixture
def events_table(db):
    """An empty `events` table shaped like the demo's, in a schema of our own that is dropped afterwards."""
    db.execute(f"drop schema if exists {SCHEMA} cascade")
    db.execute(f"create schema {SCHEMA}")
    db.execute(
        f"""
        create table {SCHEMA}.events (
            event_id bigint primary key, event_name text not null, occurred_at timestamptz not null,
            visitor_id text not null, session_id text not null, user_id bigint, ip_address inet not null,
            user_agent text not null, page_url text not null
        )
        """
    )

    def insert(*events: tuple[str, str, dt.datetime]) -> None:
        with db.cursor() as cur:
            cur.executemany(
                f"insert into {SCHEMA}.events values (%s, 'connexion', %s, %s, 's', null, %s, 'Mozilla/5.0', '/')",
                [(i, at, visitor, ip) for i, (ip, visitor, at) in enumerate(events, start=1)],
            )

    yield insert
    db.execute(f"drop schema if exists {SCHEMA} cascade")


def _by_code(conditions) -> dict:
    return {c.code: c for c in conditions}


def _months_ago(months: int, days: int = 0) -> dt.datetime:
    year, month = divmod(AS_OF.month - 1 - months, 12)
    return AS_OF.replace(year=AS_OF.year + year, month=month + 1) - dt.timedelta(days=days)


def test_a_compliant_source_meets_every_condition(db, events_table):
    events_table(
        ("81.12.0.0", "v1", _months_ago(24)),
        ("81.12.0.0", "v1", _months_ago(12)),  # 12 months of use
        ("2a01:cb00:1234::", "v2", _months_ago(1)),  # IPv6 with its last 80 bits zero: /48
        ("::ffff:90.3.0.0", "v3", _months_ago(0, days=2)),  # IPv4-mapped, masked as IPv4
    )
    conditions = _by_code(check_event_source(db, EVENTS, as_of=AS_OF))
    assert set(conditions) == {"ip_truncated", "visitor_id_lifetime", "raw_event_retention"}
    assert all(c.holds for c in conditions.values()), conditions
    assert conditions["ip_truncated"].measured.startswith("0 adresse non tronquée sur 4")
    assert "365 jours (12,0 mois)" in conditions["visitor_id_lifetime"].measured
    assert "0 événement de plus de 25 mois" in conditions["raw_event_retention"].measured


@pytest.mark.parametrize(
    "ip",
    [
        "81.12.34.56",  # not truncated at all
        "81.12.34.0",  # 1 byte only
        "2a01:cb00:1234:5678::",  # Matomo's 1-byte IPv6 mask (/64): 64 bits, not 80
        "2a01:cb00:1234:5678:9abc:def0:1234:5678",
        "::ffff:90.3.4.0",  # IPv4-mapped with 1 byte masked
    ],
)
def test_an_address_not_truncated_by_two_bytes_breaks_the_ip_condition(db, events_table, ip):
    events_table(("81.12.0.0", "v1", _months_ago(1)), (ip, "v2", _months_ago(1)))
    condition = _by_code(check_event_source(db, EVENTS, as_of=AS_OF))["ip_truncated"]
    assert not condition.holds
    assert condition.measured == "1 adresse non tronquée sur 2 événements avec adresse IP (50,0 %)"


def test_a_visitor_id_used_over_13_months_breaks_the_lifetime_condition(db, events_table):
    events_table(
        ("81.12.0.0", "visitor-123", _months_ago(14)),
        ("81.12.0.0", "visitor-123", _months_ago(0, days=1)),
        ("81.12.0.0", "visitor-456", _months_ago(3)),
    )
    condition = _by_code(check_event_source(db, EVENTS, as_of=AS_OF))["visitor_id_lifetime"]
    assert not condition.holds
    assert "1 identifiant sur 2 au-delà de 13 mois" in condition.measured
    assert "visitor-123" not in condition.measured


def test_exactly_13_months_still_holds(db, events_table):
    events_table(("81.12.0.0", "v1", _months_ago(13)), ("81.12.0.0", "v1", AS_OF))
    assert _by_code(check_event_source(db, EVENTS, as_of=AS_OF))["visitor_id_lifetime"].holds


def test_an_event_older_than_25_months_breaks_the_retention_condition(db, events_table):
    events_table(("81.12.0.0", "v1", _months_ago(25, days=3)), ("81.12.0.0", "v2", _months_ago(2)))
    condition = _by_code(check_event_source(db, EVENTS, as_of=AS_OF))["raw_event_retention"]
    assert not condition.holds
    assert "1 événement de plus de 25 mois" in condition.measured
    assert "(25,1 mois)" in condition.measured


@pytest.mark.parametrize("infinite", ["-infinity", "infinity"])
def test_an_infinite_timestamp_is_measured_without_failing(db, events_table, infinite):
    # blocked by the plausibility tests of the sources anyway: the report must still say what it measured
    events_table(("81.12.0.0", "v1", _months_ago(2)), ("81.12.0.0", "v1", _months_ago(1)))
    db.execute(
        f"insert into {SCHEMA}.events values (9, 'connexion', %s, 'v1', 's', null, '81.12.0.0', 'Mozilla/5.0', '/')",
        (infinite,),
    )
    conditions = _by_code(check_event_source(db, EVENTS, as_of=AS_OF))
    retention = conditions["raw_event_retention"]
    # -infinity is older than any retention: counted as too old, never shown as an age
    assert retention.holds is (infinite == "infinity"), retention
    assert "inf" not in retention.measured.lower()
    assert "(1,0 mois)" in conditions["visitor_id_lifetime"].measured


def test_an_empty_table_measures_nothing_and_shows_no_condition_as_met(db, events_table):
    conditions = check_event_source(db, EVENTS, as_of=AS_OF)
    assert [c.holds for c in conditions] == [None, None, None]
    assert all(c.measured == f"non mesuré : aucun événement dans {SCHEMA}.events" for c in conditions)


def _undeclared(*roles: str) -> EventSource:
    return EventSource(SCHEMA, "events", {r: c for r, c in ROLES.items() if r not in roles})


def test_an_undeclared_ip_column_is_not_measured_even_when_the_table_holds_whole_addresses(db, events_table):
    events_table(("81.12.34.56", "v1", _months_ago(1)))
    conditions = _by_code(check_event_source(db, _undeclared("ip"), as_of=AS_OF))
    assert conditions["ip_truncated"].holds is None
    assert conditions["ip_truncated"].measured == (
        "non mesuré : aucune colonne d'adresse IP déclarée (meta.usage_event: ip)"
    )
    # what is declared is still measured
    assert conditions["visitor_id_lifetime"].holds is True
    assert conditions["raw_event_retention"].holds is True


def test_an_undeclared_visitor_column_is_not_measured(db, events_table):
    events_table(("81.12.0.0", "v1", _months_ago(14)), ("81.12.0.0", "v1", _months_ago(0, days=1)))
    conditions = _by_code(check_event_source(db, _undeclared("visitor"), as_of=AS_OF))
    assert conditions["visitor_id_lifetime"].holds is None
    assert conditions["visitor_id_lifetime"].measured.startswith("non mesuré : aucune colonne d'identifiant")
    assert conditions["ip_truncated"].holds is True


def test_a_missing_table_is_not_measured(db):
    conditions = check_event_source(db, EventSource(SCHEMA, "no_such_table", ROLES), as_of=AS_OF)
    assert [c.holds for c in conditions] == [None, None, None]
    assert "introuvable" in conditions[0].measured


@pytest.mark.parametrize("zone", ["UTC", "America/Cayenne"])
def test_a_naive_time_column_is_read_in_the_source_time_zone(db, zone):
    """Rails and Django store naive UTC: 25 months and 2 hours before `as_of` in the source zone is too old,
    and 25 months minus 2 hours is not, whatever the session's time zone."""
    db.execute(f"drop schema if exists {SCHEMA} cascade")
    db.execute(f"create schema {SCHEMA}")
    db.execute(f"create table {SCHEMA}.events (at timestamp not null, visitor text, ip text)")
    db.execute("set time zone 'Asia/Tokyo'")  # a session zone unlike the source's, which must not matter
    limit = _months_ago(25).astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    with db.cursor() as cur:
        cur.executemany(
            f"insert into {SCHEMA}.events values (%s, 'v', '81.12.0.0')",
            [(limit - dt.timedelta(hours=2),), (limit + dt.timedelta(hours=2),)],
        )
    try:
        source = EventSource(SCHEMA, "events", {"time": "at", "visitor": "visitor", "ip": "ip"})
        retention = _by_code(check_event_source(db, source, as_of=AS_OF, source_timezone=zone))["raw_event_retention"]
        assert not retention.holds
        assert "1 événement de plus de 25 mois" in retention.measured
    finally:
        db.execute("reset time zone")
        db.execute(f"drop schema if exists {SCHEMA} cascade")


def test_as_of_must_be_timezone_aware(db, events_table):
    with pytest.raises(ValueError, match="timezone-aware"):
        check_event_source(db, EVENTS, as_of=dt.datetime(2026, 11, 30))


def test_on_the_demo_no_address_or_identifier_leaks_into_the_report(db, demo_counts):
    """The demo's own tracker stores whole addresses: the IP condition fails, and says so with counts only."""
    as_of = dt.datetime.combine(DEMO_UNTIL, dt.time(12), tzinfo=dt.UTC)
    conditions = _by_code(check_event_source(db, EventSource(SOURCE_SCHEMA, "events", ROLES), as_of=as_of))
    assert not conditions["ip_truncated"].holds
    report = " ".join(c.measured + c.label for c in conditions.values())
    assert not re.search(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9a-f]{1,4}:[0-9a-f]{1,4}:", report)
    sample = db.execute(f"select visitor_id from {SOURCE_SCHEMA}.events limit 50").fetchall()
    assert not any(visitor_id in report for (visitor_id,) in sample)


# --- Matomo, as declared by its operator ----------------------------------------------------------------------

def test_matomo_off_means_no_matomo_conditions():
    assert check_matomo_settings({}) == []


def test_matomo_declared_compliant():
    env = {**MATOMO_ON, ENV_IP_MASKED_BYTES: "2", ENV_VISITOR_COOKIE_DAYS: "393", ENV_RAW_DATA_RETENTION_DAYS: "730"}
    conditions = check_matomo_settings(env)
    assert [c.code for c in conditions] == [
        "matomo_ip_truncated", "matomo_visitor_id_lifetime", "matomo_raw_event_retention",
    ]
    assert all(c.holds and c.source == "Matomo" for c in conditions)
    assert "(déclaré)" in conditions[0].measured


def test_matomo_without_cookies_meets_the_cookie_condition():
    env = {**MATOMO_ON, ENV_IP_MASKED_BYTES: "3", ENV_VISITOR_COOKIE_DAYS: "0", ENV_RAW_DATA_RETENTION_DAYS: "180"}
    assert all(c.holds for c in check_matomo_settings(env))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        (ENV_IP_MASKED_BYTES, "1"),
        (ENV_IP_MASKED_BYTES, "0"),
        (ENV_VISITOR_COOKIE_DAYS, "395"),
        (ENV_RAW_DATA_RETENTION_DAYS, "0"),  # deletion of old raw data switched off
        (ENV_RAW_DATA_RETENTION_DAYS, "761"),
    ],
)
def test_matomo_declared_non_compliant(variable, value):
    env = {**MATOMO_ON, ENV_IP_MASKED_BYTES: "2", ENV_VISITOR_COOKIE_DAYS: "393", ENV_RAW_DATA_RETENTION_DAYS: "730"}
    env[variable] = value
    failed = [c for c in check_matomo_settings(env) if not c.holds]
    assert len(failed) == 1


def test_undeclared_matomo_conditions_do_not_hold_and_name_their_variable():
    conditions = check_matomo_settings(MATOMO_ON)
    assert not any(c.holds for c in conditions)
    for condition, variable in zip(
        conditions, (ENV_IP_MASKED_BYTES, ENV_VISITOR_COOKIE_DAYS, ENV_RAW_DATA_RETENTION_DAYS), strict=True
    ):
        assert condition.measured == f"non déclaré par l'exploitant ({variable})"


def test_a_malformed_declaration_names_its_variable():
    with pytest.raises(MatomoSettingsError, match=ENV_VISITOR_COOKIE_DAYS):
        check_matomo_settings({**MATOMO_ON, ENV_VISITOR_COOKIE_DAYS: "13 mois"})
