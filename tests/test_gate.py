"""The privacy gate's rules on a small hand-made source, run by PostgreSQL (and, a few times, through GX).

The rules were rewritten for national scale (issue 6): typed source columns are read only when a published
value has their shape, hashes only when a published value is a hex digest of their length, release ids are
held to the random-UUID shape instead of the detectors. These tests make sure none of that lets a leak by.

Every rule of the gate can fail (issue 10): each has a table that breaks it (the rule fires, naming the
column, with a count and never the value) and a near miss that must not fire (a group of exactly k, two
distinct sensitive values, a count of exactly k, two suppressed cells beside a total…). RULE_TESTS, at the
end, maps each check to that pair, and a test fails if the gate has a check the map lacks. A firing test
asserts the exact finding line the release prints (`[check] model.column: …`), made by the gate's own code.
"""

from __future__ import annotations

import dataclasses
import re
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


def _lines(conn, model: PublishedModel, check: str, release_ids: str = f"{PUB}.no_ledger") -> list[str]:
    """Each finding of `check` as the release prints it (`[check] message`, one line: the rule, the model and
    the column), made by the gate's own code from the rows the rule's query returns."""
    from types import SimpleNamespace

    rules = gate.build_rules(model, POLICY, release_ids, gate.source_column_types(conn, SRC))
    lines = []
    for i, rule in enumerate(rules):
        if rule.check != check:
            continue
        cursor = conn.execute(rule.query.replace("__COMMONS_BATCH__", model.relation))
        names = [d.name for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        item = SimpleNamespace(result={"details": {"unexpected_rows": rows}})
        lines += [f"[{f.check}] {f.message}" for f in gate._findings_of(item, {"rule": i}, model, rules)]
    assert all("\n" not in line for line in lines)
    return sorted(lines)


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
        (
            "select encode(sha512(convert_to(account_uuid::text, 'UTF8')), 'hex') from {s}.people where person_id = 9",
            "people",
        ),  # a hash of a key, in a plain column
        ("select md5(visitor_key) from {s}.visits where visit_id = 3", "visits"),
    ],
)
def test_source_values_in_a_plain_column_are_found(source, planted, table):
    value = _value(source, planted.format(s=SRC))
    model = _publish(source, "leak", [("voirie",)] * 5 + [(value,)], CATEGORY)
    assert _violations(source, model, "source_identifier") == [(table, "categorie", 1)]
    assert _lines(source, model, "source_identifier") == [
        f"[source_identifier] leak.categorie: 1 value(s) equal (or hash) an identifier of the source's {table}"
    ]


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
    assert set(_lines(source, model, "source_identifier")) <= {
        f"[source_identifier] keyleak.identifiant: 1 value(s) equal (or hash) an identifier of the source's {t}"
        for t in ("people", "visits")
    }


def test_a_key_value_outside_a_release_id_is_not_a_finding(source):
    # "42" as a category is not a leak of person 42: keys only matter where an identifier is published
    model = _publish(source, "digits", [(i, "42") for i in _fresh_ids(5)], WITH_ID)
    assert _violations(source, model, "source_identifier") == []


@pytest.mark.parametrize(
    "near",
    [
        "select 'person501@example.org'",  # an email of the source's shape that no person has
        "select upper(email) from {s}.people where person_id = 7",  # not the value itself: the detectors' job
        "select md5('person501@example.org')",  # a hash of an email that is not in the source
        "select encode(sha256(convert_to('Ville 3', 'UTF8')), 'hex')",  # a hash of a quasi-identifier
        "select '10.0.1.251'",  # an address of the source's subnets no one signed up from (hosts .1 to .250)
    ],
)
def test_values_close_to_a_source_identifier_are_not_findings(source, near):
    """Near misses of source_identifier: one character, one case or one source value away from a leak."""
    value = _value(source, near.format(s=SRC))
    model = _publish(source, "near_source", [("voirie",)] * 5 + [(value,)], CATEGORY)
    assert _violations(source, model, "source_identifier") == []


@pytest.mark.parametrize(
    "bad",
    ["12345", "a8f5f167f44f4964e6c998dee827110c", "F47AC10B-58CC-4372-A567-0E02B2C3D479", "jean.dupont@example.org"],
)
def test_a_release_id_that_is_not_a_random_uuid_blocks(source, bad):
    model = _publish(source, "badid", [(i, "voirie") for i in _fresh_ids(5)] + [(bad, "voirie")], WITH_ID)
    assert _violations(source, model, "release_id_shape") == [("release_id_shape", "identifiant", 1)]
    assert _lines(source, model, "release_id_shape") == [
        "[release_id_shape] badid.identifiant: 1 release id(s) not drawn by release_scoped_id() (a random UUID); "
        "build release ids with that macro"
    ]


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
        line
        for (line,) in source.execute(
            "explain (analyze, costs off) " + rule.query.replace("__COMMONS_BATCH__", model.relation)
        ).fetchall()
    )
    hashed_columns = sum(1 for cls in (c for t in SOURCES.values() for c in t.values())
                         if cls in ("direct_identifier", "internal_id"))  # fmt: skip
    typed_keys = 3  # person_id (bigint), signup_ip (inet), visit_id (bigint); account_uuid is uuid-shaped
    never = plan.count("never executed")
    assert never >= len(gate._HASHES) * hashed_columns + typed_keys, plan


# ---------------------------------------------------------------------------------------- every rule can fail
#
# For each rule of the gate: a small table built in SQL that breaks it (the rule fires, names the column, gives
# a count and never the value) and a near miss that must not fire. Each runs the rule's own query, as the gate
# builds it for the release, on the real PostgreSQL.

LEDGER = f"{PUB}.ledger_ids"


def _spec(**publish) -> PublishSpec:
    return PublishSpec(dataset=publish.pop("dataset", "jeu-de-test"), title="Jeu de test",
                       description="Un jeu de test", licence="lov2", **publish)  # fmt: skip


def _built(conn, name: str, select: str, privacy: dict[str, str], **publish) -> PublishedModel:
    """The table `select` makes, as a published model whose columns (and types) are the table's own."""
    conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(PUB, name)))
    conn.execute(sql.SQL("create table {} as ").format(sql.Identifier(PUB, name)) + sql.SQL(select))
    types = conn.execute(
        "select column_name, data_type from information_schema.columns where table_schema = %s and table_name = %s "
        "order by ordinal_position",
        (PUB, name),
    ).fetchall()
    return PublishedModel(
        name=name,
        unique_id=f"model.test.{name}",
        schema=PUB,
        relation=sql.Identifier(PUB, name).as_string(None),
        spec=_spec(**publish),
        columns=tuple(PublishedColumn(c, privacy[c], t, c) for c, t in types),
    )


def _fired(conn, model: PublishedModel, check: str) -> list[tuple[str, int, str]]:
    """(column, count, message) of each violation of `check`, its message formatted as run_gate does."""
    found = []
    rules = gate.build_rules(model, POLICY, LEDGER, gate.source_column_types(conn, SRC))
    for rule in (r for r in rules if r.check == check):
        cursor = conn.execute(rule.query.replace("__COMMONS_BATCH__", model.relation))
        names = [d.name for d in cursor.description]
        for row in cursor.fetchall():
            row = dict(zip(names, row, strict=True))
            found.append((row["column_name"], int(row["hits"]), rule.message.format(model=model.name, **row)))
    return sorted(found)


@pytest.fixture(scope="module")
def ledger(source):
    source.execute(f"create table if not exists {LEDGER} (dataset text, week text, release_id text)")
    source.execute(f"truncate {LEDGER}")
    return source


def _rows(*values: tuple) -> str:
    """A VALUES list of SQL literals (the test's own constants)."""
    return ", ".join("(" + ", ".join(sql.Literal(v).as_string(None) for v in row) + ")" for row in values)


# k-anonymity: every combination of quasi-identifiers shared by at least k rows (k = 3 here).
_QI = {"commune": "quasi_identifier", "tranche_age": "quasi_identifier", "nb": "count"}
_K_BREAK = "select * from (values {}) as t(commune, tranche_age, nb)".format(
    _rows(*[("Lyon", "30-39", 1)] * 3, *[("Gap", "80+", 1)] * 2)
)
_K_NEAR = "select * from (values {}) as t(commune, tranche_age, nb)".format(
    _rows(*[("Lyon", "30-39", 1)] * 3, *[("Gap", "80+", 1)] * 3)
)


def test_k_anonymity_fires_on_a_combination_shared_by_fewer_than_k_rows(source):
    model = _built(source, "k_break", _K_BREAK, _QI, kind="records", k=3, quasi_identifiers=["commune", "tranche_age"])
    ((column, hits, message),) = _fired(source, model, "k_anonymity")
    assert (column, hits) == ("commune, tranche_age", 1)
    assert "k=3" in message and "Gap" not in message and "80+" not in message
    assert _lines(source, model, "k_anonymity") == [
        "[k_anonymity] k_break: 1 combination(s) of (commune, tranche_age) shared by fewer than k=3 rows"
    ]


def test_k_anonymity_lets_a_group_of_exactly_k_rows_pass(source):
    model = _built(source, "k_near", _K_NEAR, _QI, kind="records", k=3, quasi_identifiers=["commune", "tranche_age"])
    assert _fired(source, model, "k_anonymity") == []


# l-diversity: no group of quasi-identifiers whose members all share one sensitive value.
_L = {"commune": "quasi_identifier", "motif": "sensitive"}


def test_l_diversity_fires_on_a_group_whose_members_share_one_sensitive_value(source):
    rows = _rows(("Lyon", "voirie"), ("Lyon", "bruit"), ("Lyon", "voirie"), *[("Gap", "maladie rare")] * 3)
    model = _built(source, "l_break", f"select * from (values {rows}) as t(commune, motif)", _L,
                   kind="records", k=3, quasi_identifiers=["commune"], sensitive=["motif"])  # fmt: skip
    ((column, hits, message),) = _fired(source, model, "l_diversity")
    assert (column, hits) == ("motif", 1)
    assert "maladie" not in message and "Gap" not in message
    assert _lines(source, model, "l_diversity") == [
        "[l_diversity] l_break.motif: 1 group(s) whose members all share one value"
    ]


def test_l_diversity_lets_a_group_with_two_distinct_sensitive_values_pass(source):
    rows = _rows(("Lyon", "voirie"), ("Lyon", "bruit"), ("Lyon", "voirie"), *[("Gap", "maladie rare")] * 2,
                 ("Gap", "voirie"))  # fmt: skip
    model = _built(source, "l_near", f"select * from (values {rows}) as t(commune, motif)", _L,
                   kind="records", k=3, quasi_identifiers=["commune"], sensitive=["motif"])  # fmt: skip
    assert _fired(source, model, "l_diversity") == []


# Small cells: every published count at least k, or suppressed (null).
_CELLS = {"semaine": "public", "categorie": "public", "nb_signalements": "count"}


def test_small_cells_fire_on_a_count_below_k(source):
    rows = _rows(("2026-W47", "voirie", 12), ("2026-W47", "bruit", 10), ("2026-W47", "eclairage", None))
    model = _built(source, "cells_break", f"select * from (values {rows}) as t(semaine, categorie, nb_signalements)",
                   _CELLS, kind="aggregate", k=11, count_columns=["nb_signalements"])  # fmt: skip
    ((column, hits, message),) = _fired(source, model, "small_cells")
    assert (column, hits) == ("nb_signalements", 1)
    assert "k=11" in message and "10" not in message.replace("k=11", "")
    assert _lines(source, model, "small_cells") == [
        "[small_cells] cells_break.nb_signalements: 1 cell(s) below k=11 are not suppressed"
    ]


def test_small_cells_let_a_count_of_exactly_k_and_a_suppressed_cell_pass(source):
    rows = _rows(("2026-W47", "voirie", 12), ("2026-W47", "bruit", 11), ("2026-W47", "eclairage", None))
    model = _built(source, "cells_near", f"select * from (values {rows}) as t(semaine, categorie, nb_signalements)",
                   _CELLS, kind="aggregate", k=11, count_columns=["nb_signalements"])  # fmt: skip
    assert _fired(source, model, "small_cells") == []


# Secondary suppression: where a total is published, no group with exactly one suppressed cell.
_TOTALS = {
    "kind": "aggregate",
    "k": 11,
    "count_columns": ["nb"],
    "totals": [{"dimension": "categorie", "total_value": "total", "group_by": ["semaine"], "measures": ["nb"]}],
}
_SUPP = {"semaine": "public", "categorie": "public", "nb": "count"}
_SUPP_SELECT = "select * from (values {}) as t(semaine, categorie, nb)"


def test_secondary_suppression_fires_on_one_suppressed_cell_beside_a_total(source):
    rows = _rows(("2026-W46", "voirie", 20), ("2026-W46", "bruit", None), ("2026-W46", "total", 27),
                 ("2026-W47", "voirie", 30), ("2026-W47", "total", 30))  # fmt: skip
    model = _built(source, "supp_break", _SUPP_SELECT.format(rows), _SUPP, **_TOTALS)
    ((column, hits, message),) = _fired(source, model, "secondary_suppression")
    assert (column, hits) == ("nb", 1)
    assert "27" not in message and "2026-W46" not in message
    assert _lines(source, model, "secondary_suppression") == [
        "[secondary_suppression] supp_break.nb: 1 group(s) where the one suppressed cell equals total minus the others"
    ]


def test_secondary_suppression_lets_two_suppressed_cells_or_no_total_pass(source):
    rows = _rows(("2026-W46", "voirie", 20), ("2026-W46", "bruit", None), ("2026-W46", "eclairage", None),
                 ("2026-W46", "total", 34),
                 ("2026-W47", "voirie", 30), ("2026-W47", "bruit", None))  # fmt: skip  # no total that week
    model = _built(source, "supp_near", _SUPP_SELECT.format(rows), _SUPP, **_TOTALS)
    assert _fired(source, model, "secondary_suppression") == []


def test_secondary_suppression_without_group_by_covers_the_whole_table(source):
    # A single total row for the whole table: no group_by. One suppressed cell beside it is still a leak.
    totals = {**_TOTALS, "totals": [{**_TOTALS["totals"][0], "group_by": []}]}
    rows = _rows(("2026-W47", "voirie", 20), ("2026-W47", "bruit", None), ("2026-W47", "total", 27))
    model = _built(source, "supp_whole", _SUPP_SELECT.format(rows), _SUPP, **totals)
    assert [(c, n) for c, n, _ in _fired(source, model, "secondary_suppression")] == [("nb", 1)]


# Cross-release: no release id published by the previous release of the same dataset.
_IDS = {"identifiant": "release_id", "categorie": "quasi_identifier"}


def test_cross_release_fires_on_an_id_the_previous_release_published(ledger):
    reused, fresh = _fresh_ids(2)
    ledger.execute(f"insert into {LEDGER} values ('jeu-de-test', '2026-W46', %s)", (reused,))
    rows = _rows((reused, "voirie"), (fresh, "voirie"))
    model = _built(ledger, "cross_break", f"select * from (values {rows}) as t(identifiant, categorie)", _IDS,
                   kind="records", k=2)  # fmt: skip
    ((column, hits, message),) = _fired(ledger, model, "cross_release")
    assert (column, hits) == ("identifiant", 1)
    assert reused not in message
    assert _lines(ledger, model, "cross_release", LEDGER) == [
        "[cross_release] cross_break.identifiant: 1 identifier(s) already published by the previous release"
    ]


def test_cross_release_lets_an_id_published_by_another_dataset_pass(ledger):
    (other,) = _fresh_ids(1)
    ledger.execute(f"insert into {LEDGER} values ('un-autre-jeu', '2026-W46', %s)", (other,))
    rows = _rows((other, "voirie"), (_fresh_ids(1)[0], "voirie"))
    model = _built(ledger, "cross_near", f"select * from (values {rows}) as t(identifiant, categorie)", _IDS,
                   kind="records", k=2)  # fmt: skip
    assert _fired(ledger, model, "cross_release") == []


# Detectors: every text column scanned for identifiers, whatever its name.
_TEXT = {"categorie": "public", "commentaire": "public"}


def test_detectors_fire_on_an_email_in_a_text_column(source):
    detectors.install_functions(source)
    rows = _rows(("voirie", "rien à signaler"), ("bruit", "écrire à jeanne.martin@example.org"), ("bruit", "ok"))
    model = _built(source, "det_break", f"select * from (values {rows}) as t(categorie, commentaire)", _TEXT,
                   kind="records", k=2)  # fmt: skip
    found = _fired(source, model, "detectors")
    assert ("commentaire", 1) in [(c, n) for c, n, _ in found]
    assert all(c == "commentaire" for c, _, _ in found), found
    assert "jeanne" not in repr(found)
    assert "[detectors:email] det_break.commentaire: 1 value(s) look like email" in _lines(source, model, "detectors")


def test_detectors_let_categories_weeks_and_counts_pass(source):
    detectors.install_functions(source)
    rows = _rows(("voirie", "2026-W47"), ("éclairage public", "12"), ("nid-de-poule", "chaussée abîmée"))
    model = _built(source, "det_near", f"select * from (values {rows}) as t(categorie, commentaire)", _TEXT,
                   kind="records", k=2)  # fmt: skip
    assert _fired(source, model, "detectors") == []


# Release-id shape: the near miss (a random UUID from gen_random_uuid(), as release_scoped_id() draws it).
def test_release_ids_drawn_by_postgresql_pass_the_shape_rule(source):
    model = _built(source, "shape_near", "select gen_random_uuid()::text as identifiant, 'voirie' as categorie "
                   "from generate_series(1, 20)", _IDS, kind="records", k=2)  # fmt: skip
    assert _fired(source, model, "release_id_shape") == []


def test_a_release_id_that_is_null_blocks(source):
    model = _built(source, "shape_null", "select case when g = 3 then null else gen_random_uuid()::text end "
                   "as identifiant, 'voirie' as categorie from generate_series(1, 5) g", _IDS,
                   kind="records", k=2)  # fmt: skip
    assert [(c, n) for c, n, _ in _fired(source, model, "release_id_shape")] == [("identifiant", 1)]
    assert [line.split(":")[0] for line in _lines(source, model, "release_id_shape")] == [
        "[release_id_shape] shape_null.identifiant"
    ]


# The allow-list is an expectation of GX itself (the published columns match the yml): run through run_gate.
@pytest.mark.parametrize(
    ("select", "expected"),
    [
        # an extra column the yml does not declare
        ("select 'voirie'::text as categorie, 'x'::text as surprise",
         {("allow_list", "surprise")}),
        # a declared column missing from the table
        ("select 1 as autre", {("allow_list", "categorie"), ("allow_list", "autre")}),
        # near miss: exactly the declared columns (in another order is fine too)
        ("select 'voirie'::text as categorie", set()),
    ],
)  # fmt: skip
def test_the_allow_list_fires_through_gx_on_an_extra_or_missing_column(source, warehouse_info, select, expected):
    model = _built(source, "allow", "select 'voirie'::text as categorie from generate_series(1, 3)",
                   {"categorie": "public"}, kind="records", k=2)  # fmt: skip
    source.execute(sql.SQL("drop table {}").format(sql.Identifier(PUB, "allow")))
    source.execute(sql.SQL("create table {} as ").format(sql.Identifier(PUB, "allow")) + sql.SQL(select))
    detectors.install_functions(source)
    findings = gate.run_gate(warehouse_info, model, POLICY, LEDGER)
    assert {(f.check, f.column) for f in findings if f.check == "allow_list"} == expected


def test_l_diversity_without_quasi_identifiers_treats_the_table_as_one_group(source):
    # Before: `group by true`, which PostgreSQL refuses; the rule could not run on such a table.
    one = _built(source, "l_whole", "select 'voirie'::text as motif from generate_series(1, 4)", {"motif": "sensitive"},
                 kind="records", k=2, sensitive=["motif"])  # fmt: skip
    assert [(c, n) for c, n, _ in _fired(source, one, "l_diversity")] == [("motif", 1)]
    two = _built(source, "l_whole2",
                 "select (array['voirie', 'bruit'])[g % 2 + 1] as motif from generate_series(1, 4) g",
                 {"motif": "sensitive"}, kind="records", k=2, sensitive=["motif"])  # fmt: skip
    assert _fired(source, two, "l_diversity") == []


def test_a_rule_that_cannot_run_blocks_naming_itself_and_no_value(source, warehouse_info):
    """Fail closed: a count column the model left as text makes the small-cells rule fail in PostgreSQL
    (`text < integer`); the gate reports it as a finding of that rule instead of passing it."""
    model = _built(source, "cannot_run", "select 'voirie'::text as categorie, 'douze-mille'::text as nb "
                   "from generate_series(1, 3)", {"categorie": "public", "nb": "count"},
                   kind="aggregate", k=11, count_columns=["nb"])  # fmt: skip
    detectors.install_functions(source)
    findings = gate.run_gate(warehouse_info, model, POLICY, LEDGER)
    [failed] = [f for f in findings if f.check == "small_cells"]
    assert failed.column is None and failed.message.startswith("cannot_run: the small_cells rule failed to run (")
    assert "UndefinedFunction" in failed.message, failed.message
    assert "douze-mille" not in repr(findings)


def test_rules_without_a_join_run_through_gx(source, warehouse_info):
    """GX aliases the batch itself in a query without a JOIN: the gate must not add a second alias there (it
    did, and every such rule, k-anonymity included, failed to run and blocked every release)."""
    model = _built(source, "k_gx", _K_BREAK, _QI, kind="records", k=3, quasi_identifiers=["commune", "tranche_age"])
    detectors.install_functions(source)
    findings = gate.run_gate(warehouse_info, model, POLICY, LEDGER)
    assert [(f.check, f.column, f.count) for f in findings] == [("k_anonymity", "commune, tranche_age", 1)]


# k counts people, not rows (meta.publish.person_key): the groups are measured in distinct persons on a relation
# upstream of the published table, never published, grouped like it. k = 11 as in production.
_PERSON_QI = {"commune": "quasi_identifier", "tranche_age": "quasi_identifier"}


def _upstream(conn, name: str, people: list[int], commune: str = "Gap") -> None:
    """The person-key relation: one row per published row, with the person it belongs to."""
    conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(PUB, name)))
    conn.execute(
        sql.SQL("create table {} as select * from (values {}) as t(commune, tranche_age, usager_id)").format(
            sql.Identifier(PUB, name), sql.SQL(_rows(*[(commune, "30-34", p) for p in people]))
        )
    )


def _per_person(conn, name: str, people: list[int], published_rows: int | None = None) -> PublishedModel:
    """A record-level table of `published_rows` (default one per entry of `people`) rows in one group, whose
    person-key relation holds `people`."""
    _upstream(conn, f"{name}_upstream", people)
    rows = published_rows if published_rows is not None else len(people)
    select = f"select 'Gap'::text as commune, '30-34'::text as tranche_age from generate_series(1, {rows})"
    model = _built(conn, name, select, _PERSON_QI, kind="records", k=11, quasi_identifiers=["commune", "tranche_age"],
                   person_key={"model": f"{name}_upstream", "column": "usager_id"})  # fmt: skip
    return dataclasses.replace(model, person_relation=(PUB, f"{name}_upstream"))


def test_eleven_rows_of_fewer_than_eleven_people_block(source):
    # eleven weekly appointments of three people: eleven rows, three people
    model = _per_person(source, "persons_break", [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3])
    ((column, hits, message),) = _fired(source, model, "k_anonymity")
    assert (column, hits) == ("commune, tranche_age", 1)
    assert "fewer than k=11 persons" in message and "usager_id" in message and "Gap" not in message
    assert _fired(source, model, "person_key") == []
    assert _lines(source, model, "k_anonymity") == [
        "[k_anonymity] persons_break: 1 combination(s) of (commune, tranche_age) shared by fewer than k=11 persons "
        "(usager_id of persons_break_upstream)"
    ]


def test_eleven_rows_of_eleven_people_pass(source):
    model = _per_person(source, "persons_near", list(range(1, 12)))
    assert _fired(source, model, "k_anonymity") == []
    assert _fired(source, model, "person_key") == []


def test_a_person_key_relation_that_does_not_hold_the_published_rows_blocks(source):
    # eleven people upstream, but fifteen rows published: the relation cannot stand for the published groups
    model = _per_person(source, "persons_mismatch", list(range(1, 12)), published_rows=15)
    assert [(c, n) for c, n, _ in _fired(source, model, "person_key")] == [("usager_id", 1)]
    assert [line.split(":")[0] for line in _lines(source, model, "person_key")] == ["[person_key] persons_mismatch"]


def test_a_published_group_missing_from_the_person_key_relation_counts_no_one(source):
    model = _per_person(source, "persons_absent", list(range(1, 12)))
    _upstream(source, "persons_absent_upstream", list(range(1, 12)), commune="Lyon")
    assert [(c, n) for c, n, _ in _fired(source, model, "k_anonymity")] == [("commune, tranche_age", 1)]


def test_the_risk_report_of_eleven_rows_of_three_people_counts_three_people(source):
    # the report publishes the gate's figures: in persons on the person-key relation, never in rows
    from commons_assets.privacy.risk import PERSONS, french_summary, measure_risk

    model = _per_person(source, "persons_risk", [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3])
    risk = measure_risk(source, model)
    assert (risk["rows"], risk["groups"], risk["smallest_group"], risk["counted_in"]) == (11, 1, 3, PERSONS)
    assert (risk["prosecutor_risk_max"], risk["k_reached"]) == (round(1 / 3, 6), False)
    assert risk["group_size_distribution"]["2-4"] == 1 and risk["group_size_distribution"]["11-19"] == 0
    summary = french_summary("rdv", risk)
    assert "11 lignes en 1 groupes ; le plus petit réunit 3 personnes distinctes" in summary
    assert "(seuil k = 11 personnes NON atteint)" in summary
    # the same rows counted as rows, as the report did before: one group of 11 that would have looked safe
    as_rows = dataclasses.replace(model, spec=model.spec.model_copy(update={"person_key": None}), person_relation=None)
    assert (measure_risk(source, as_rows)["smallest_group"], measure_risk(source, as_rows)["k_reached"]) == (11, True)


_PERSON_CELLS = {"semaine": "public", "motif": "public", "nb_rendez_vous": "count"}


def test_an_aggregate_cell_is_measured_in_people_not_in_what_it_counts(source):
    # upstream: one row per appointment; "papiers" has 12 appointments of 3 people, "impots" 11 people
    upstream = [("2026-W47", "papiers", p) for p in [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]]
    upstream += [("2026-W47", "impots", p) for p in range(1, 12)] + [("2026-W47", "caf", p) for p in (1, 2)]
    source.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(PUB, "cells_upstream")))
    source.execute(
        # the week under another name than the published one: person_key.columns maps it
        sql.SQL("create table {} as select * from (values {}) as t(week, motif, usager_id)").format(
            sql.Identifier(PUB, "cells_upstream"), sql.SQL(_rows(*upstream))
        )
    )
    rows = _rows(("2026-W47", "papiers", 12), ("2026-W47", "impots", 11), ("2026-W47", "caf", None))
    model = _built(source, "cells_persons", f"select * from (values {rows}) as t(semaine, motif, nb_rendez_vous)",
                   _PERSON_CELLS, kind="aggregate", k=11, count_columns=["nb_rendez_vous"],
                   person_key={"model": "cells_upstream", "column": "usager_id",
                               "columns": {"semaine": "week"}})  # fmt: skip
    model = dataclasses.replace(model, person_relation=(PUB, "cells_upstream"))
    # the counts alone are all ≥ 11 or suppressed: only the person count finds the cell of three people
    ((column, hits, message),) = _fired(source, model, "small_cells")
    assert (column, hits) == ("nb_rendez_vous", 1)
    assert "fewer than k=11 persons" in message and "papiers" not in message
    assert _lines(source, model, "small_cells") == [
        "[small_cells] cells_persons: 1 cell(s) of nb_rendez_vous published for fewer than k=11 persons "
        "(usager_id of cells_upstream)"
    ]
    from commons_assets.privacy.risk import measure_risk

    # the risk report measures the same cells in persons: 3 for « papiers »; « caf » is a suppressed cell
    risk = measure_risk(source, model)
    assert (risk["groups"], risk["smallest_group"], risk["suppressed_cells"]) == (2, 3, 1)


@pytest.mark.parametrize(
    ("relation", "column", "expected"),
    [
        (("test_gate_published", "persons_near_upstream"), "usager_id", []),
        (("test_gate_published", "persons_near_upstream"), "person_id", [("person_key", "person_id")]),
        (("test_gate_published", "nowhere"), "usager_id", [("person_key", "usager_id")]),
    ],
)
def test_a_declared_person_key_that_is_not_in_the_warehouse_fails_closed(source, warehouse_info, relation, column,
                                                                         expected):  # fmt: skip
    model = _per_person(source, "persons_near", list(range(1, 12)))
    spec = model.spec.model_copy(update={"person_key": model.spec.person_key.model_copy(update={"column": column})})
    model = dataclasses.replace(model, spec=spec, person_relation=relation)
    assert [(f.check, f.column) for f in gate.person_key_problems(source, model)] == expected
    if expected:
        detectors.install_functions(source)
        findings = gate.run_gate(warehouse_info, model, POLICY, LEDGER)
        # the problem is named, and nothing passes for want of a person count
        assert ("person_key", column) in {(f.check, f.column) for f in findings}
        assert any(relation[1] in f.message for f in findings)


def test_person_counts_run_through_gx(source, warehouse_info):
    model = _per_person(source, "persons_gx", [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3])
    detectors.install_functions(source)
    findings = gate.run_gate(warehouse_info, model, POLICY, LEDGER)
    assert [(f.check, f.column, f.count) for f in findings] == [("k_anonymity", "commune, tranche_age", 1)]


# hostile text (issue 12, problem 4): no published text a spreadsheet would run, no control or bidi character.
HOSTILE = {
    "hyperlink": ('=HYPERLINK("http://x","y")', "formula"),
    "dde": ("+cmd|' /C calc'!A0", "formula"),
    "at_sum": ("@SUM(1+1)", "formula"),
    "minus_formula": ("-2+3+cmd|' /C calc'!A0", "formula"),
    "leading_tab": ("\tvoirie", "formula"),  # a leading TAB is also a control character
    "leading_cr": ("\rvoirie", "formula"),
    "plus_number": ("+33", "formula"),  # PostgreSQL never writes a number with a plus: this is text
    "newline_inside": ("voirie\nsecret", "control"),
    "nul_like_c0": ("voi\x01rie", "control"),
    "c1_control": ("voi\x85rie", "control"),
    "rlo_u202e": ("voirie\u202egnp.exe", "control"),
    "lrm_u200e": ("\u200evoirie", "control"),
    "isolate_u2066": ("voi\u2066rie", "control"),
    "arabic_mark_u061c": ("voirie\u061c", "control"),
    "hundred_thousand_characters": ("voirie " * 14_285 + "x" * 5, "length"),  # REDTEAM 20: 100,000 characters
    "one_past_a_cell": ("v" * (gate.SPREADSHEET_CELL_MAX + 1), "length"),
}
NEAR_MISSES = ["-12.5", "-3", "-1e-5", "a@b.fr dans le texte", "Voirie = chaussée", "Éclairage public", "2026-W47",
               "90+", "autres", "A-B", "v" * gate.SPREADSHEET_CELL_MAX]  # fmt: skip


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_text_blocks_each_value_naming_the_column_and_a_count(source, name):
    value, kind = HOSTILE[name]
    model = _publish(source, f"hostile_{name}", [("voirie",)] * 3 + [(value,)], [("libelle", "public")])
    found = _fired(source, model, "hostile_text")
    assert kind in {re.search(r"\((formula|control|length):", message)[1] for _, _, message in found}, found
    assert f"[hostile_text] hostile_{name}.libelle: 1 hostile value(s) ({kind}:" in "\n".join(
        line.split(" a leading")[0] for line in _lines(source, model, "hostile_text")
    )
    assert {(column, hits) for column, hits, _ in found} <= {("libelle", 1)} and found
    assert all(value not in message for _, _, message in found)


def test_hostile_text_lets_negative_numbers_and_inner_signs_pass(source):
    model = _publish(source, "hostile_near", [(v,) for v in NEAR_MISSES], [("libelle", "public")])
    assert _fired(source, model, "hostile_text") == []


def test_hostile_text_counts_per_column_and_leaves_release_ids_to_their_own_rule(source):
    rows = [(i, "=1+1") for i in _fresh_ids(4)] + [(i, "voirie") for i in _fresh_ids(2)]
    model = _publish(source, "hostile_count", rows, WITH_ID)
    found = _fired(source, model, "hostile_text")
    assert [(column, hits) for column, hits, _ in found] == [("categorie", 4)]


def test_hostile_text_runs_through_gx(source, warehouse_info):
    model = _publish(source, "hostile_gx", [("voirie",), ('=HYPERLINK("http://x","y")',)], [("libelle", "public")])
    detectors.install_functions(source)
    findings = gate.run_gate(warehouse_info, model, POLICY, f"{PUB}.no_ledger")
    assert ("hostile_text", "libelle", 1) in {(f.check, f.column, f.count) for f in findings}
    assert "HYPERLINK" not in repr(findings)


# subtraction (issue 12, problem 3): no group of a period both releases cover may move by 1 to k−1 (k = 3 here).
_SUB_RECORDS = {"semaine": "quasi_identifier", "categorie": "quasi_identifier", "statut": "sensitive"}


def _previous(conn, name: str, select: str, week: str = "2026-W46") -> str:
    """The ledger's copy of the previous release (ledger.published__<dataset>): the rows, with the week."""
    conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(PUB, name)))
    conn.execute(
        sql.SQL("create table {} as select *, {}::text as published_in_week from (").format(
            sql.Identifier(PUB, name), sql.Literal(week)
        )
        + sql.SQL(select)
        + sql.SQL(") as t")
    )
    return sql.Identifier(PUB, name).as_string(None)


def _records(*groups: tuple[str, str, str, int]) -> str:
    """(semaine, categorie, statut, n): n identical rows of each."""
    rows = [(w, c, s) for w, c, s, n in groups for _ in range(n)]
    return f"select * from (values {_rows(*rows)}) as t(semaine, categorie, statut)"


def _subtracted(conn, before: str, after: str, **publish) -> list[tuple[str, int, str]]:
    spec = {"kind": "records", "k": 3, "quasi_identifiers": ["semaine", "categorie"], "sensitive": ["statut"],
            "period_column": "semaine"} | publish  # fmt: skip
    privacy = _SUB_RECORDS if spec["kind"] == "records" else {"semaine": "quasi_identifier", "nb": "count"}
    model = _built(conn, "sub_after", after, privacy, **spec)
    previous = _previous(conn, "sub_before", before)
    found = []
    for rule in gate.subtraction_rules(model, previous):
        cursor = conn.execute(rule.query.replace("__COMMONS_BATCH__", model.relation))
        names = [d.name for d in cursor.description]
        for row in cursor.fetchall():
            row = dict(zip(names, row, strict=True))
            found.append((row["column_name"], int(row["hits"]), rule.message.format(model=model.name, **row)))
    return sorted(found)


@pytest.mark.parametrize("after", [6, 5, 4, 3, 7, 8, 9, 12])
def test_subtraction_blocks_a_group_that_moved_by_1_to_k_minus_1(source, after):
    # k = 3: 6 → 6 (0) and 6 → 3, 9, 12 (3 or more) pass; 6 → 4, 5, 7, 8 (1 or 2) block
    found = _subtracted(source, _records(("2026-W46", "Voirie", "nouveau", 6)),
                        _records(("2026-W46", "Voirie", "nouveau", after)))  # fmt: skip
    moved = abs(after - 6)
    if 1 <= moved <= 2:
        # the group and its status subgroup both moved
        assert [(c, h) for c, h, _ in found] == [("semaine, categorie", 1), ("semaine, categorie, statut", 1)]
        assert "k−1=2" in found[0][2] and "Voirie" not in found[0][2]
    else:
        assert found == []


def test_subtraction_sees_a_changed_status_inside_an_unchanged_group(source):
    before = _records(("2026-W46", "Voirie", "nouveau", 5), ("2026-W46", "Voirie", "resolu", 5))
    after = _records(("2026-W46", "Voirie", "nouveau", 4), ("2026-W46", "Voirie", "resolu", 6))
    assert [(c, h) for c, h, _ in _subtracted(source, before, after)] == [("semaine, categorie, statut", 2)]


@pytest.mark.parametrize(("before", "blocked"), [(4, True), (5, False)])
def test_subtraction_treats_a_vanished_group_as_hidden_below_k(source, before, blocked):
    # k = 3: a group now suppressed could hold 0 to 2 rows; from 4 it may have moved by 2, from 5 by 3 at least
    found = _subtracted(source, _records(("2026-W46", "Voirie", "resolu", before), ("2026-W46", "Parcs", "resolu", 9)),
                        _records(("2026-W46", "Parcs", "resolu", 9)))  # fmt: skip
    assert bool(found) is blocked


def test_subtraction_compares_only_the_periods_both_releases_cover(source):
    # a new week and a first release are never compared: nothing of them was published before
    before = _records(("2026-W46", "Voirie", "nouveau", 6))
    after = _records(("2026-W46", "Voirie", "nouveau", 6), ("2026-W47", "Voirie", "nouveau", 3))
    assert _subtracted(source, before, after) == []
    first = "select * from ({}) as t where false".format(_records(("2026-W46", "Voirie", "nouveau", 1)))
    assert _subtracted(source, first, after) == []


@pytest.mark.parametrize(
    ("before", "after", "blocked"),
    [
        (10, 10, False),
        (10, 11, True),  # one more person
        (10, 12, True),
        (10, 13, False),  # k more
        (4, None, True),  # published 4, now hidden (0 to 2): moved by 2 to 4
        (5, None, False),  # published 5, now hidden: moved by 3 at least
        (None, None, False),  # hidden on both sides: nothing to subtract
        (None, 4, True),
    ],
)
def test_subtraction_compares_each_count_of_an_aggregate(source, before, after, blocked):
    make = "select * from (values ('2026-W46', {}::bigint), ('2026-W46-autre', 20::bigint)) as t(semaine, nb)"
    literal = lambda v: "null" if v is None else str(v)  # noqa: E731
    found = _subtracted(
        source,
        make.format(literal(before)),
        make.format(literal(after)),
        kind="aggregate",
        quasi_identifiers=["semaine"],
        sensitive=[],
        count_columns=["nb"],
    )
    assert [(c, h) for c, h, _ in found] == ([("nb", 1)] if blocked else [])


def test_subtraction_runs_through_gx(source, warehouse_info):
    spec = {"quasi_identifiers": ["semaine", "categorie"], "sensitive": ["statut"], "period_column": "semaine"}
    after = _records(("2026-W46", "Voirie", "nouveau", 5))
    model = _built(source, "sub_gx", after, _SUB_RECORDS, kind="records", k=3, **spec)
    previous = _previous(source, "sub_gx_before", _records(("2026-W46", "Voirie", "nouveau", 6)))
    rule = gate.subtraction_rules(model, previous)[0]
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    data = context.data_sources.add_postgres(name="w", connection_string=gate.gate_url(warehouse_info))
    batch = data.add_table_asset(name="sub_gx", table_name="sub_gx", schema_name=PUB).add_batch_definition_whole_table(
        "all"
    )
    expectation = gate._rule_expectation()(unexpected_rows_query=gate.for_gx(rule.query))
    result = batch.get_batch().validate(expectation)
    assert not result.success
    assert result.result["details"]["unexpected_rows"][0]["hits"] == 1


@pytest.mark.parametrize(("rows", "smallest", "groups"), [(12, 12, 1), (0, None, 0)])
def test_the_risk_of_records_without_quasi_identifiers_is_one_group_of_the_whole_table(source, rows, smallest, groups):
    # PostgreSQL refuses `group by true` ("non-integer constant in GROUP BY"): such a table is one group, or none
    from commons_assets.privacy.risk import measure_risk

    model = _built(source, "no_qi_records", f"select 'x'::text as note from generate_series(1, {rows})",
                   {"note": "public"}, kind="records")  # fmt: skip
    risk = measure_risk(source, model)
    assert (risk["smallest_group"], risk["groups"], risk["rows"]) == (smallest, groups, rows)


# --------------------------------------------------------------------------- every rule has both kinds of test
#
# check (as a finding names it) → (the test where it fires, the test where a near miss does not); a test of
# another module is written module::name. A new rule of the gate, or a test renamed, fails the test below.
RULE_TESTS = {
    "allow_list": ("test_the_allow_list_fires_through_gx_on_an_extra_or_missing_column",) * 2,
    "detectors": ("test_detectors_fire_on_an_email_in_a_text_column",
                  "test_detectors_let_categories_weeks_and_counts_pass"),
    "release_id_shape": ("test_a_release_id_that_is_not_a_random_uuid_blocks",
                         "test_release_ids_drawn_by_postgresql_pass_the_shape_rule"),
    "k_anonymity": ("test_k_anonymity_fires_on_a_combination_shared_by_fewer_than_k_rows",
                    "test_k_anonymity_lets_a_group_of_exactly_k_rows_pass"),
    "l_diversity": ("test_l_diversity_fires_on_a_group_whose_members_share_one_sensitive_value",
                    "test_l_diversity_lets_a_group_with_two_distinct_sensitive_values_pass"),
    "small_cells": ("test_small_cells_fire_on_a_count_below_k",
                    "test_small_cells_let_a_count_of_exactly_k_and_a_suppressed_cell_pass"),
    "secondary_suppression": ("test_secondary_suppression_fires_on_one_suppressed_cell_beside_a_total",
                              "test_secondary_suppression_lets_two_suppressed_cells_or_no_total_pass"),
    "cross_release": ("test_cross_release_fires_on_an_id_the_previous_release_published",
                      "test_cross_release_lets_an_id_published_by_another_dataset_pass"),
    "source_identifier": ("test_source_values_in_a_plain_column_are_found",
                          "test_values_close_to_a_source_identifier_are_not_findings"),
    "hostile_text": ("test_hostile_text_blocks_each_value_naming_the_column_and_a_count",
                     "test_hostile_text_lets_negative_numbers_and_inner_signs_pass"),
    "subtraction": ("test_subtraction_blocks_a_group_that_moved_by_1_to_k_minus_1",) * 2,  # 6 → 6, 3, 9 pass
    "person_key": ("test_a_person_key_relation_that_does_not_hold_the_published_rows_blocks",
                   "test_eleven_rows_of_eleven_people_pass"),
    "lineage": ("test_lineage::test_free_text_published_under_an_innocent_name_blocks_naming_column_source_and_file",
                "test_lineage::test_a_count_of_free_text_does_not_block"),
}  # fmt: skip
# the same checks measured in persons (meta.publish.person_key): their own pair
PERSON_RULE_TESTS = {
    "k_anonymity": ("test_eleven_rows_of_fewer_than_eleven_people_block", "test_eleven_rows_of_eleven_people_pass"),
    "small_cells": ("test_an_aggregate_cell_is_measured_in_people_not_in_what_it_counts",) * 2,  # papiers / impots
}


def _every_check() -> set[str]:
    """Every check the gate can report: the rules build_rules() makes for models using every part of
    meta.publish, plus the allow-list (GX's own expectation), lineage and the person key's fail-closed check."""
    columns = {"identifiant": "release_id", "semaine": "quasi_identifier", "categorie": "quasi_identifier",
               "statut": "sensitive", "nb": "count"}  # fmt: skip

    def model(**publish) -> PublishedModel:
        return PublishedModel(name="m", unique_id="model.test.m", schema=PUB, relation=f"{PUB}.m",
                              spec=_spec(**publish),
                              columns=tuple(PublishedColumn(c, p, "text", c) for c, p in columns.items()),
                              person_relation=(PUB, "m_upstream"))  # fmt: skip

    records = model(kind="records", k=3, quasi_identifiers=["semaine", "categorie"], sensitive=["statut"],
                    period_column="semaine")  # fmt: skip
    aggregate = model(
        kind="aggregate", k=3, count_columns=["nb"], period_column="semaine", **{"totals": _TOTALS["totals"]}
    )
    people = model(
        kind="records", k=3, quasi_identifiers=["semaine"], person_key={"model": "m_upstream", "column": "p"}
    )
    rules = [r for m in (records, aggregate, people) for r in gate.build_rules(m, POLICY, LEDGER)]
    return {r.check for r in rules} | {"allow_list", "lineage", "person_key"}


def _exists(name: str) -> bool:
    import importlib

    module, _, function = name.rpartition("::")
    namespace = vars(importlib.import_module(f"tests.{module}")) if module else globals()
    return callable(namespace.get(function))


def test_every_rule_of_the_gate_has_a_test_that_breaks_it_and_a_near_miss():
    assert _every_check() == set(RULE_TESTS), "a rule of the gate without its pair of tests (or a pair without rule)"
    named = [name for pair in [*RULE_TESTS.values(), *PERSON_RULE_TESTS.values()] for name in pair]
    assert not [name for name in named if not _exists(name)], "RULE_TESTS names a test that does not exist"
