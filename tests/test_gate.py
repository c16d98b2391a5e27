"""The privacy gate's rules on a small hand-made source, run by PostgreSQL (and, once, through GX).

The rules were rewritten for national scale (issue 6): typed source columns are read only when a published
value has their shape, hashes only when a published value is a hex digest of their length, release ids are
held to the random-UUID shape instead of the detectors. These tests make sure none of that lets a leak by.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from commons_assets.privacy import detectors, gate
from commons_assets.privacy.policy import Policy, PublishedColumn, PublishedModel, PublishSpec

SRC = "test_gate_source"
PUB = "test_gate_published"

pytestmark = pytest.mark.pg_matrix  # the gate's SQL must run on every supported PostgreSQL

SOURCES = {
    "people": {
        "person_id": "internal_id",
        "email": "direct_identifier",
        "signup_ip": "direct_identifier",
        "account_uuid": "internal_id",
        "town": "quasi_identifier",
    },
    "visits": {"visit_id": "internal_id", "visitor_key": "internal_id", "user_agent": "direct_identifier"},
}


@pytest.fixture(scope="module")
def source(warehouse_info):
    with psycopg.connect(warehouse_info.conninfo(), autocommit=True) as conn:
        for schema in (SRC, PUB):
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        conn.execute(
            f"create table {SRC}.people (person_id bigint primary key, email text, signup_ip inet, "
            f"account_uuid uuid, town text)"
        )
        conn.execute(
            f"insert into {SRC}.people select g, 'person' || g || '@example.org', "
            f"('10.0.' || (g / 250) || '.' || (g % 250 + 1))::inet, gen_random_uuid(), 'Ville ' || (g % 7) "
            f"from generate_series(1, 500) g"
        )
        # the previous releases' ids (empty: this is the first release)
        conn.execute(f"create table {PUB}.no_ledger (dataset text, release_id text)")
        conn.execute(f"create table {SRC}.visits (visit_id bigint, visitor_key text, user_agent text)")
        conn.execute(
            f"insert into {SRC}.visits select g, md5('v' || (g % 40)), 'Mozilla/5.0 (X11; Linux) n' || (g % 9) "
            f"from generate_series(1, 2000) g"
        )
        yield conn
        for schema in (SRC, PUB):
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


def _model(name: str, columns: list[tuple[str, str]]) -> PublishedModel:
    spec = PublishSpec(dataset="jeu-de-test", title="Jeu de test", description="Un jeu de test", licence="lov2",
                       kind="records", k=2, quasi_identifiers=[])  # fmt: skip
    return PublishedModel(
        name=name,
        unique_id=f"model.test.{name}",
        schema=PUB,
        relation=f'"{PUB}"."{name}"',
        spec=spec,
        columns=tuple(PublishedColumn(c, privacy, "text", c) for c, privacy in columns),
    )


POLICY = Policy(sources=SOURCES, source_schema=SRC)


def _publish(conn, name: str, rows: list[tuple], columns: list[tuple[str, str]]) -> PublishedModel:
    conn.execute(sql.SQL("drop table if exists {}.{}").format(sql.Identifier(PUB), sql.Identifier(name)))
    conn.execute(
        sql.SQL("create table {}.{} ({})").format(
            sql.Identifier(PUB),
            sql.Identifier(name),
            sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c, _ in columns),
        )
    )
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL("insert into {}.{} values ({})").format(
                sql.Identifier(PUB), sql.Identifier(name), sql.SQL(", ").join(sql.Placeholder() * len(columns))
            ),
            rows,
        )
    return _model(name, columns)


def _violations(conn, model: PublishedModel, check: str) -> list[tuple]:
    types = gate.source_column_types(conn, SRC)
    rules = [r for r in gate.build_rules(model, POLICY, f"{PUB}.no_ledger", types) if r.check == check]
    found = []
    for rule in rules:
        found += conn.execute(rule.query.replace("__COMMONS_BATCH__", model.relation)).fetchall()
    return sorted(found)


def _value(conn, query: str) -> str:
    return conn.execute(query).fetchone()[0]


CATEGORY = [("categorie", "quasi_identifier")]
WITH_ID = [("identifiant", "release_id"), ("categorie", "quasi_identifier")]


def _fresh_ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def test_clean_table_passes_every_rule(source):
    rows = [(i, c) for i, c in zip(_fresh_ids(40), ["voirie", "12", "éclairage", "2026-W47"] * 10, strict=True)]
    model = _publish(source, "clean", rows, WITH_ID)
    for check in ("source_identifier", "release_id_shape"):
        assert _violations(source, model, check) == [], check


@pytest.mark.parametrize(
    ("planted", "table"),
    [
        ("select email from {s}.people where person_id = 7", "people"),
        ("select host(signup_ip) from {s}.people where person_id = 7", "people"),  # inet column, as written
        ("select user_agent from {s}.visits where visit_id = 3", "visits"),
        ("select md5(email) from {s}.people where person_id = 7", "people"),
        ("select encode(sha256(convert_to(email, 'UTF8')), 'hex') from {s}.people where person_id = 7", "people"),
        ("select encode(sha512(convert_to(account_uuid::text, 'UTF8')), 'hex') from {s}.people "
         "where person_id = 9", "people"),  # a hash of a key, in a plain column
        ("select md5(visitor_key) from {s}.visits where visit_id = 3", "visits"),
    ],
)
def test_source_values_in_a_plain_column_are_found(source, planted, table):
    value = _value(source, planted.format(s=SRC))
    model = _publish(source, "leak", [("voirie",)] * 5 + [(value,)], CATEGORY)
    assert _violations(source, model, "source_identifier") == [(table, "categorie", 1)]


def test_an_ipv6_direct_identifier_is_found(source):
    source.execute(f"update {SRC}.people set signup_ip = '2001:db8::42' where person_id = 11")
    model = _publish(source, "leak6", [("voirie",), ("2001:db8::42",)], CATEGORY)
    assert _violations(source, model, "source_identifier") == [("people", "categorie", 1)]


@pytest.mark.parametrize(
    "planted",
    [
        "select person_id::text from {s}.people where person_id = 42",  # bigint key
        "select account_uuid::text from {s}.people where person_id = 42",  # uuid key, shaped like a release id
        "select visitor_key from {s}.visits where visit_id = 5",  # text key
    ],
)
def test_a_source_key_as_release_id_is_found(source, planted):
    value = _value(source, planted.format(s=SRC))
    rows = [(i, "voirie") for i in _fresh_ids(5)] + [(value, "voirie")]
    model = _publish(source, "keyleak", rows, WITH_ID)
    found = _violations(source, model, "source_identifier")
    assert found and {(column, hits) for _, column, hits in found} == {("identifiant", 1)}


def test_a_key_value_outside_a_release_id_is_not_a_finding(source):
    # "42" as a category is not a leak of person 42: keys only matter where an identifier is published
    model = _publish(source, "digits", [(i, "42") for i in _fresh_ids(5)], WITH_ID)
    assert _violations(source, model, "source_identifier") == []


@pytest.mark.parametrize(
    "bad",
    ["12345", "a8f5f167f44f4964e6c998dee827110c", "F47AC10B-58CC-4372-A567-0E02B2C3D479", "jean.dupont@example.org"],
)
def test_a_release_id_that_is_not_a_random_uuid_blocks(source, bad):
    model = _publish(source, "badid", [(i, "voirie") for i in _fresh_ids(5)] + [(bad, "voirie")], WITH_ID)
    assert _violations(source, model, "release_id_shape") == [("release_id_shape", "identifiant", 1)]


def test_the_gate_runs_through_gx_and_reports_counts_only(source, warehouse_info):
    email = _value(source, f"select email from {SRC}.people where person_id = 3")
    rows = [(i, "voirie") for i in _fresh_ids(3)] + [("pas-un-uuid", email)]
    model = _publish(source, "viagx", rows, WITH_ID)
    detectors.install_functions(source)  # as the asset check does before the gate
    findings = gate.run_gate(warehouse_info, model, POLICY, f"{PUB}.no_ledger")
    checks = sorted((f.check, f.column, f.count) for f in findings)
    assert ("release_id_shape", "identifiant", 1) in checks
    assert ("source_identifier", "categorie", 1) in checks
    assert any(c.startswith("detectors:") for c, _, _ in checks)  # the email is also recognised as one
    assert "cross_release" not in {c for c, _, _ in checks}  # every rule ran (a rule that fails blocks too)
    assert email not in repr(findings)


def test_the_usual_release_computes_no_hash_and_skips_typed_columns(source):
    """No published value is a hex digest or has the shape of an integer, inet or uuid key: PostgreSQL must
    not even start those scans (a one-time filter), which is what keeps the gate fast at national scale."""
    model = _publish(source, "plan", [(i, "voirie") for i in _fresh_ids(20)], WITH_ID)
    types = gate.source_column_types(source, SRC)
    (rule,) = [r for r in gate.build_rules(model, POLICY, f"{PUB}.no_ledger", types) if r.check == "source_identifier"]
    plan = "\n".join(
        line for (line,) in source.execute(
            "explain (analyze, costs off) " + rule.query.replace("__COMMONS_BATCH__", model.relation)
        ).fetchall()
    )
    hashed_columns = sum(1 for cls in (c for t in SOURCES.values() for c in t.values())
                         if cls in ("direct_identifier", "internal_id"))  # fmt: skip
    typed_keys = 3  # person_id (bigint), signup_ip (inet), visit_id (bigint); account_uuid is uuid-shaped
    never = plan.count("never executed")
    assert never >= len(gate._HASHES) * hashed_columns + typed_keys, plan
