"""Frozen weeks: usage figures, once published, are never revised.

After a release is published, its usage rows are copied into the ledger table
`<COMMONS_DBT_SCHEMA>_ledger.published_feature_usage` (created by `release.ledger.ensure_ledger`). The dbt mart
`feature_usage_weekly` reads that table back (source `ledger`): a week found there is republished exactly as it
was first published, and only weeks absent from it are computed from the events. Late events for a published
week (a replica catching up, a tracker's delayed batch) are therefore ignored: a reader who compared two
releases would otherwise see a week move by a handful of events and could learn about them.

The first publication wins: rows already in the ledger are left as they are (`on conflict do nothing`).
"""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

LEDGER_TABLE = "published_feature_usage"
COLUMNS = (
    "semaine",
    "source",
    "fonctionnalite",
    "libelle_fonctionnalite",
    "nombre_evenements",
    "nombre_visites",
    "nombre_visiteurs",
)
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# `schema.table` or `"schema"."table"`, as PublishedModel.relation writes it
_RELATION = re.compile(r'^(?:"[^"]+"|[a-z_][a-z0-9_]*)\.(?:"[^"]+"|[a-z_][a-z0-9_]*)$')
_ISO_WEEK = re.compile(r"^[0-9]{4}-W[0-9]{2}$")


def record_published_usage(conn: psycopg.Connection, *, ledger_schema: str, relation: str, week: str) -> int:
    """Copy the rows of `relation` (the built mart, e.g. '"commons_open_data"."feature_usage_weekly"') for the
    weeks up to `week` (e.g. '2026-W47') into the ledger, marked as published in `week`; rows of a week already
    there are kept as first published. Returns the number of rows added. Call it once the release is
    published, in the same transaction as the rest of the ledger."""
    if not _SCHEMA_NAME.match(ledger_schema):
        raise ValueError(f"{ledger_schema!r} is not a valid schema name (lower case letters, digits and _)")
    if not _RELATION.match(relation):
        raise ValueError(f"{relation!r} is not a relation (schema.table, each part optionally double-quoted)")
    if not _ISO_WEEK.match(week):
        raise ValueError(f"{week!r} is not an ISO week such as 2026-W47")
    columns = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    query = sql.SQL(
        "insert into {ledger} ({columns}, published_in_week) "
        "select {columns}, %(week)s from {relation} where semaine <= %(week)s "
        "order by {columns} "
        "on conflict (semaine, source, fonctionnalite) do nothing"
    ).format(
        ledger=sql.Identifier(ledger_schema, LEDGER_TABLE),
        columns=columns,
        relation=sql.SQL(relation),
    )
    with conn.cursor() as cur:
        cur.execute(query, {"week": week})
        return cur.rowcount


COUNTED_MODEL = "int_events__counted_by_week"


def reset_usage_history(conn: psycopg.Connection, *, dbt_schema: str) -> None:
    """Forget the usage history derived from a source database that has just been replaced (the demo seeded
    anew, a benchmark): the weeks counted by the incremental model `int_events__counted_by_week` (in
    `<dbt_schema>_intermediate`; the next build recounts every week) and the frozen usage weeks (in
    `<dbt_schema>_ledger`). Never needed in production, where the history only grows."""
    if not _SCHEMA_NAME.match(dbt_schema):
        raise ValueError(f"{dbt_schema!r} is not a valid schema name (lower case letters, digits and _)")
    conn.execute(
        sql.SQL("drop table if exists {}").format(sql.Identifier(f"{dbt_schema}_intermediate", COUNTED_MODEL))
    )
    ledger = conn.execute(
        "select 1 from information_schema.tables where table_schema = %s and table_name = %s",
        (f"{dbt_schema}_ledger", LEDGER_TABLE),
    ).fetchone()
    if ledger:
        conn.execute(sql.SQL("delete from {}").format(sql.Identifier(f"{dbt_schema}_ledger", LEDGER_TABLE)))
