"""The ledger's copy of what the last release published of each model (`published__<dataset>`): the previous
release the gate's subtraction rule compares with, and the frozen weeks the models republish."""

from __future__ import annotations

import pytest

from commons_assets.ledger import published_rows_table, record_published_rows, reset_usage_history
from commons_assets.privacy.policy import PublishedColumn, PublishedModel, PublishSpec

SCHEMA = "test_published_rows"


def _model(period: str | None = "semaine") -> PublishedModel:
    spec = PublishSpec(dataset="mes-signalements", title="Jeu de test", description="Un jeu de test",
                       licence="lov2", kind="records", quasi_identifiers=["semaine"], period_column=period)  # fmt: skip
    columns = (
        PublishedColumn("identifiant", "release_id", "text", ""),
        PublishedColumn("semaine", "quasi_identifier", "text", ""),
        PublishedColumn("statut", "sensitive", "text", ""),
    )
    return PublishedModel(name="mart", unique_id="model.x.mart", schema=SCHEMA, relation=f'"{SCHEMA}"."mart"',
                          spec=spec, columns=columns)  # fmt: skip


@pytest.fixture
def schema(db):
    db.execute(f"drop schema if exists {SCHEMA} cascade")
    db.execute(f"create schema {SCHEMA}")
    db.execute(f"create table {SCHEMA}.mart (identifiant text, semaine text, statut text)")
    yield db
    db.execute(f"drop schema if exists {SCHEMA} cascade")


def _published(db) -> list[tuple]:
    table = published_rows_table("mes-signalements")
    return db.execute(f"select semaine, statut, published_in_week from {SCHEMA}.{table} order by 1, 2").fetchall()


def test_each_release_replaces_the_periods_it_covers_and_never_keeps_release_ids(schema):
    db = schema
    assert published_rows_table("mes-signalements") == "published__mes_signalements"
    db.execute(f"insert into {SCHEMA}.mart values ('a', '2026-W46', 'nouveau'), ('b', '2026-W47', 'resolu')")
    record_published_rows(db, schema=SCHEMA, model=_model(), week="2026-W47")
    assert _published(db) == [("2026-W46", "nouveau", "2026-W47"), ("2026-W47", "resolu", "2026-W47")]
    columns = [r[0] for r in db.execute(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
        (SCHEMA, published_rows_table("mes-signalements")),
    ).fetchall()]  # fmt: skip
    assert "identifiant" not in columns
    # an older week released again (W46): the later week the ledger holds stays
    db.execute(f"delete from {SCHEMA}.mart where semaine = '2026-W47'")
    db.execute(f"update {SCHEMA}.mart set statut = 'rejete'")
    record_published_rows(db, schema=SCHEMA, model=_model(), week="2026-W46")
    assert _published(db) == [("2026-W46", "rejete", "2026-W46"), ("2026-W47", "resolu", "2026-W47")]
    # a table without period is replaced whole
    record_published_rows(db, schema=SCHEMA, model=_model(period=None), week="2026-W48")
    assert _published(db) == [("2026-W46", "rejete", "2026-W48")]


def test_a_relation_that_is_not_one_is_refused(schema):
    bad = PublishedModel(**{**_model().__dict__, "relation": "mart; drop table x"})
    with pytest.raises(ValueError):
        record_published_rows(schema, schema=SCHEMA, model=bad, week="2026-W47")


def test_a_new_demo_forgets_what_was_published(db):
    dbt_schema = "test_reset_rows"
    ledger = f"{dbt_schema}_ledger"
    db.execute(f"drop schema if exists {ledger} cascade")
    db.execute(f"create schema {ledger}")
    try:
        db.execute(f"create table {ledger}.published__signalements as select 'W' as semaine")
        db.execute(f"create table {ledger}.publishedxxsignalements as select 'W' as semaine")  # not ours: kept
        reset_usage_history(db, dbt_schema=dbt_schema)
        assert db.execute(f"select count(*) from {ledger}.published__signalements").fetchone() == (0,)
        assert db.execute(f"select count(*) from {ledger}.publishedxxsignalements").fetchone() == (1,)
    finally:
        db.execute(f"drop schema if exists {ledger} cascade")
