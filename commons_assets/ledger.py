"""The ledger: what went out, week by week, kept in the warehouse. Every ledger table is created, written and
read here (dbt also reads `published_feature_usage` back, as the source `ledger`).

- `releases`: one row per published file (week, dataset, rows, checksum, code version, target);
- `release_ids`: the release-scoped identifiers of the last published release of each dataset, so that the
  gate can prove the next release shares none of them;
- `publication_journal`: one row per publication under way (run id, week, target), committed before the files
  are moved into the target and deleted in the transaction that records them in `releases`: a row left here
  names a publication a dead run did not finish, which the next run reconciles (commons_assets/release/
  recovery.py) before it does anything else;
- `published_feature_usage` (frozen weeks): usage figures, once published, are never revised. After a release is
  published its usage rows are copied here; the usage mart (the published model whose columns declare
  `meta.usage` roles, see commons_assets/service.py) reads them back, so a week found
  here is republished exactly as it was first published and only weeks absent from it are computed from the
  events. Late events for a published week (a replica catching up, a tracker's delayed batch) are therefore
  ignored: a reader who compared two releases would otherwise see a week move by a handful of events and could
  learn about them. The first publication wins (`on conflict do nothing`). Its columns are those of the usage
  mart's contract that carry a role, with `published_in_week`; its key is the week, source and feature roles.
- `published__<dataset>` (one per published model, `-` written `_`): what the last release published of that
  model, release ids left out, with `published_in_week`. The gate's subtraction rule compares the next release
  with it (no group of a period both cover may move by 1 to k−1), and the models read it back to republish
  their published weeks as they were (frozen weeks, README « The privacy gate »). Rewritten at every
  publication for the periods the release covers, in the same transaction as the rest of the ledger.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator

import psycopg
from psycopg import sql

from commons_assets.errors import InputError
from commons_assets.settings import get_settings
from commons_assets.week import Week

RELEASES_TABLE = "releases"
RELEASE_IDS_TABLE = "release_ids"
JOURNAL_TABLE = "publication_journal"
FROZEN_USAGE_TABLE = "published_feature_usage"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# `schema.table` or `"schema"."table"`, as PublishedModel.relation writes it
_RELATION = re.compile(r'^(?:"[^"]+"|[a-z_][a-z0-9_]*)\.(?:"[^"]+"|[a-z_][a-z0-9_]*)$')


def ledger_schema(dbt_schema: str | None = None) -> str:
    """The ledger's schema beside the dbt schemas (`<COMMONS_DBT_SCHEMA>_ledger`), or beside `dbt_schema`'s."""
    return f"{dbt_schema or get_settings().dbt_target_schema}_ledger"


def ensure_ledger(conn, usage: list | None = None) -> str:
    """Create the ledger tables if missing; the frozen-weeks table of each usage dataset (default: those the
    dbt project in use declares)."""
    schema = ledger_schema()
    conn.execute(
        sql.SQL(
            """
            select pg_advisory_xact_lock(hashtext('commons_assets.ledger'));
            create schema if not exists {s};
            create table if not exists {s}.releases (
                week text not null,
                dataset text not null,
                file text not null,
                rows bigint not null,
                sha256 text not null,
                licence text not null,
                code_version text not null,
                target text not null,
                published_at timestamptz not null default now(),
                primary key (week, dataset, file, target)
            );
            create table if not exists {s}.release_ids (
                dataset text not null,
                week text not null,
                release_id text not null
            );
            -- no index: a weekly publication rewrites up to millions of random ids, which a btree makes
            -- several times slower to write, and the gate reads them with one hash join
            drop index if exists {s}.release_ids_lookup;
            alter table {s}.releases add column if not exists resource_id text;
            alter table {s}.releases add column if not exists dataset_url text;
            create table if not exists {s}.publication_journal (
                run_id text primary key,
                week text not null,
                target text not null,
                started_at timestamptz not null default now()
            );
            """
        ).format(s=sql.Identifier(schema))
    )
    for dataset in _declared_usage() if usage is None else usage:
        ensure_frozen_usage(conn, schema, dataset)
    for model in _declared_published() if usage is None else []:
        ensure_published_rows(conn, schema, model)
    return schema


def _declared_usage() -> list:
    """The usage datasets of the dbt project in use; none while its manifest is not prepared yet."""
    from commons_assets.dbt.project import load_manifest
    from commons_assets.privacy.policy import load_policy
    from commons_assets.service import usage_datasets

    try:
        manifest = load_manifest()
    except FileNotFoundError:
        return []
    return usage_datasets(manifest, load_policy(manifest))


def _declared_published() -> list:
    """The published models of the dbt project in use; none while its manifest is not prepared yet."""
    from commons_assets.dbt.project import load_manifest
    from commons_assets.privacy.policy import load_policy

    try:
        manifest = load_manifest()
    except FileNotFoundError:
        return []
    return list(load_policy(manifest).published)


PUBLISHED_ROWS_PREFIX = "published__"


def published_rows_table(dataset: str) -> str:
    """The ledger table of what the last release published of `dataset` (rendez-vous → published__rendez_vous)."""
    return PUBLISHED_ROWS_PREFIX + dataset.replace("-", "_")


def published_rows_relation(dataset: str) -> str:
    """That table, quoted, for the gate's subtraction rule to read."""
    return sql.Identifier(ledger_schema(), published_rows_table(dataset)).as_string()


def _published_columns(model) -> list:
    return [c for c in model.columns if c.privacy != "release_id"]


def ensure_published_rows(conn, schema: str, model) -> None:
    """Create (or complete) `published__<dataset>` from the model's contract: its columns but release ids,
    typed as declared, and `published_in_week`. No key: a records table repeats rows."""
    table = sql.Identifier(schema, published_rows_table(model.dataset))
    definitions = [
        sql.SQL("{c} {t}").format(c=sql.Identifier(c.name), t=_sql_type(c.data_type)) for c in _published_columns(model)
    ]
    conn.execute(
        sql.SQL("create table if not exists {t} ({d}, published_in_week text not null)").format(
            t=table, d=sql.SQL(", ").join(definitions)
        )
    )
    for definition in definitions:
        conn.execute(sql.SQL("alter table {t} add column if not exists {d}").format(t=table, d=definition))


def record_published_rows(conn, *, schema: str, model, week: str) -> None:
    """Keep what this release published of `model` (its built table, release ids left out) as the previous
    release of the next gate: the rows of every period up to the last one it covers are replaced; a table
    without `period_column` is replaced whole."""
    Week.parse(week)
    if not _RELATION.match(model.relation):
        raise InputError(f"{model.relation!r} is not a relation (schema.table, each part optionally double-quoted)")
    ensure_published_rows(conn, schema, model)
    table = sql.Identifier(schema, published_rows_table(model.dataset))
    relation = sql.SQL(model.relation)
    if model.spec.period_column:
        period = sql.Identifier(model.spec.period_column)
        conn.execute(
            sql.SQL("delete from {t} where {p}::text <= (select max({p})::text from {r}) or {p} is null").format(
                t=table, p=period, r=relation
            )
        )
    else:
        conn.execute(sql.SQL("delete from {t}").format(t=table))
    columns = sql.SQL(", ").join(sql.Identifier(c.name) for c in _published_columns(model))
    conn.execute(
        sql.SQL("insert into {t} ({c}, published_in_week) select {c}, %s from {r}").format(
            t=table, c=columns, r=relation
        ),
        (week,),
    )


def _sql_type(data_type: str) -> sql.Composable:
    # the mart's contract types are dbt's, written as PostgreSQL spells them
    if not re.fullmatch(r"[a-z][a-z0-9 ]*(\([0-9, ]+\))?", data_type):
        raise InputError(f"{data_type!r} is not a column type the frozen-weeks ledger can hold")
    return sql.SQL(data_type)


def ensure_frozen_usage(conn, schema: str, usage) -> None:
    """Create (or complete) the frozen-weeks table from the usage mart's contract: the columns that carry a
    `meta.usage` role, typed as declared, keyed by the week, source and feature roles."""
    by_name = {c.name: c for c in usage.model.columns}
    keys = usage.key_columns
    definitions = [
        sql.SQL("{c} {t}{n}").format(
            c=sql.Identifier(name), t=_sql_type(by_name[name].data_type),
            n=sql.SQL(" not null") if name in keys else sql.SQL(""),
        )
        for name in usage.frozen_columns
    ]
    table = sql.Identifier(schema, FROZEN_USAGE_TABLE)
    conn.execute(
        sql.SQL("create table if not exists {t} ({d}, published_in_week text not null, primary key ({k}))").format(
            t=table, d=sql.SQL(", ").join(definitions), k=sql.SQL(", ").join(map(sql.Identifier, keys))
        )
    )
    for definition in definitions:
        # a column added to the contract since the table was made (the key cannot change without a reset)
        conn.execute(sql.SQL("alter table {t} add column if not exists {d}").format(t=table, d=definition))


def release_ids_relation() -> str:
    """The table of the last release's ids, quoted, for the gate's cross-release rule to read."""
    return sql.Identifier(ledger_schema(), RELEASE_IDS_TABLE).as_string()


def already_published(conn, *, week: str, target: str, datasets: list[str]) -> dict[str, str] | None:
    """The dataset URLs of `week` if every dataset was already published whole to `target`, else None."""
    schema = sql.Identifier(ensure_ledger(conn))
    rows = conn.execute(
        sql.SQL("select dataset, max(dataset_url) from {s}.releases where week = %s and target = %s "
                "group by dataset").format(s=schema),
        (week, target),
    ).fetchall()
    urls = {dataset: url for dataset, url in rows}
    return urls if set(datasets) <= set(urls) else None


def record_publication(
    conn,
    *,
    week: str,
    files: list[dict],
    policy,
    target: str,
    code_version: str,
    resources: dict | None = None,
    urls: dict[str, str] | None = None,
) -> None:
    """Record a published release (once it is whole), and keep the release ids of this release only, for the
    next gate. `resources` maps (dataset, file path) to the portal's resource id, `urls` dataset to its URL."""
    schema = sql.Identifier(ensure_ledger(conn))
    licences = {m.dataset: m.spec.licence for m in policy.published}
    resources, urls = resources or {}, urls or {}
    for item in files:
        conn.execute(
            sql.SQL(
                "insert into {s}.releases (week, dataset, file, rows, sha256, licence, code_version, target, "
                "resource_id, dataset_url) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "on conflict (week, dataset, file, target) do update set rows = excluded.rows, "
                "sha256 = excluded.sha256, code_version = excluded.code_version, resource_id = "
                "excluded.resource_id, dataset_url = excluded.dataset_url, published_at = now()"
            ).format(s=schema),
            (week, item["dataset"], item["path"], item["rows"], item["sha256"], licences[item["dataset"]],
             code_version, target, resources.get((item["dataset"], item["path"])), urls.get(item["dataset"])),
        )
    for model in policy.published:
        for column in (c.name for c in model.columns if c.privacy == "release_id"):
            conn.execute(sql.SQL("delete from {s}.release_ids where dataset = %s").format(s=schema), (model.dataset,))
            conn.execute(
                sql.SQL(
                    "insert into {s}.release_ids (dataset, week, release_id) select %s, %s, {c} from {rel}"
                ).format(s=schema, c=sql.Identifier(column), rel=sql.SQL(model.relation)),
                (model.dataset, week),
            )
    for model in policy.published:
        record_published_rows(conn, schema=ledger_schema(), model=model, week=week)


def begin_publication(conn, *, run_id: str, week: str, target: str) -> None:
    """Note, and commit, that `run_id` is about to move `week` into `target`; `conn` must be in autocommit mode
    so that the row outlives this process if it is killed while the files move."""
    schema = sql.Identifier(ensure_ledger(conn))
    conn.execute(
        sql.SQL("insert into {s}.publication_journal (run_id, week, target) values (%s, %s, %s) "
                "on conflict (run_id) do update set week = excluded.week, target = excluded.target, "
                "started_at = now()").format(s=schema),
        (run_id, week, target),
    )


def end_publication(conn, *, run_id: str) -> None:
    """The publication of `run_id` is recorded: call it in the transaction of record_publication."""
    conn.execute(
        sql.SQL("delete from {s}.publication_journal where run_id = %s").format(s=sql.Identifier(ensure_ledger(conn))),
        (run_id,),
    )


def pending_publications(conn) -> list[tuple[str, str, str]]:
    """(run id, week, target) of every publication begun and never recorded, oldest first."""
    schema = sql.Identifier(ensure_ledger(conn))
    return [
        tuple(row)
        for row in conn.execute(
            sql.SQL("select run_id, week, target from {s}.publication_journal order by started_at").format(s=schema)
        ).fetchall()
    ]


def published_checksums(conn, *, week: str, target: str) -> dict[str, str]:
    """{file path: sha256} of what the ledger says `week` holds in `target` (empty if never published)."""
    schema = sql.Identifier(ensure_ledger(conn))
    rows = conn.execute(
        sql.SQL("select file, sha256 from {s}.releases where week = %s and target = %s").format(s=schema),
        (week, target),
    ).fetchall()
    return dict(rows)


def _existing(conn, table: str) -> sql.Identifier | None:
    """The ledger table `table`, quoted, if it exists; None before the ledger is created. For the reads that must
    not create it: a command's checks before any work, a verdict after a run that may have failed early."""
    relation = sql.Identifier(ledger_schema(), table)
    (found,) = conn.execute("select to_regclass(%s) is not null", (relation.as_string(conn),)).fetchone()
    return relation if found else None


def last_published_week(conn, *, target: str) -> str | None:
    """The latest week published to `target` (ISO labels sort as weeks), None before the first release."""
    releases = _existing(conn, RELEASES_TABLE)
    if releases is None:
        return None
    (week,) = conn.execute(
        sql.SQL("select max(week) from {t} where target = %s").format(t=releases), (target,)
    ).fetchone()
    return week


def published_by_run(conn, *, week: str, since: dt.datetime) -> list[str]:
    """The targets the ledger recorded `week` in at or after `since` (the start of a run, by the warehouse's
    clock, which stamps the rows), sorted; empty when nothing was recorded or there is no ledger yet."""
    releases = _existing(conn, RELEASES_TABLE)
    if releases is None:
        return []
    rows = conn.execute(
        sql.SQL("select distinct target from {t} where week = %s and published_at >= %s").format(t=releases),
        (week, since),
    ).fetchall()
    return sorted(target for (target,) in rows)


def record_published_usage(conn: psycopg.Connection, *, ledger_schema: str, usage, week: str) -> int:
    """Copy the rows of the built usage mart (`usage`, a commons_assets.service.UsageDataset) for the weeks up
    to `week` (e.g. '2026-W47') into the ledger, marked as published in `week`; rows of a week already there
    are kept as first published. Returns the number of rows added. Call it once the release is published, in
    the same transaction as the rest of the ledger."""
    if not _SCHEMA_NAME.match(ledger_schema):
        raise InputError(f"{ledger_schema!r} is not a valid schema name (lower case letters, digits and _)")
    relation = usage.model.relation
    if not _RELATION.match(relation):
        raise InputError(f"{relation!r} is not a relation (schema.table, each part optionally double-quoted)")
    Week.parse(week)  # a WeekError on anything but an ISO week such as 2026-W47
    ensure_frozen_usage(conn, ledger_schema, usage)
    columns = sql.SQL(", ").join(map(sql.Identifier, usage.frozen_columns))
    query = sql.SQL(
        "insert into {ledger} ({columns}, published_in_week) "
        "select {columns}, %(week)s from {relation} where {week_column} <= %(week)s "
        "order by {columns} "
        "on conflict ({keys}) do nothing"
    ).format(
        ledger=sql.Identifier(ledger_schema, FROZEN_USAGE_TABLE),
        columns=columns,
        relation=sql.SQL(relation),
        week_column=sql.Identifier(usage.column("week")),
        keys=sql.SQL(", ").join(map(sql.Identifier, usage.key_columns)),
    )
    with conn.cursor() as cur:
        cur.execute(query, {"week": week})
        return cur.rowcount


COUNTED_MODEL = "int_events__counted_by_week"


def reset_usage_history(conn: psycopg.Connection, *, dbt_schema: str) -> None:
    """Forget the usage history derived from a source database that has just been replaced (the demo seeded
    anew, a benchmark): the weeks counted by the incremental model `int_events__counted_by_week` (in
    `<dbt_schema>_intermediate`; the next build recounts every week), the frozen usage weeks and what the last
    release published of each model (in `<dbt_schema>_ledger`). Never needed in production, where the history
    only grows."""
    if not _SCHEMA_NAME.match(dbt_schema):
        raise InputError(f"{dbt_schema!r} is not a valid schema name (lower case letters, digits and _)")
    conn.execute(
        sql.SQL("drop table if exists {}").format(sql.Identifier(f"{dbt_schema}_intermediate", COUNTED_MODEL))
    )
    schema = ledger_schema(dbt_schema)
    ledger = conn.execute(
        "select 1 from information_schema.tables where table_schema = %s and table_name = %s",
        (schema, FROZEN_USAGE_TABLE),
    ).fetchone()
    if ledger:
        conn.execute(sql.SQL("delete from {}").format(sql.Identifier(schema, FROZEN_USAGE_TABLE)))
    # what the last release published of each model: its weeks would be republished as frozen
    for (table,) in conn.execute(
        "select table_name from information_schema.tables where table_schema = %s and table_name like %s",
        (schema, PUBLISHED_ROWS_PREFIX.replace("_", "\\_") + "%"),
    ).fetchall():
        conn.execute(sql.SQL("delete from {}").format(sql.Identifier(schema, table)))


@contextlib.contextmanager
def preserved(conn: psycopg.Connection) -> Iterator[None]:
    """Put every ledger table back as it was when the block ends: for a release that must neither freeze usage
    figures nor count as the previous release (the benchmark's). `conn` must be in autocommit mode."""
    schema = ensure_ledger(conn)
    tables = [
        name
        for (name,) in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s "
            "and table_type = 'BASE TABLE' order by table_name",
            (schema,),
        ).fetchall()
    ]
    saved = {}
    for i, table in enumerate(tables):
        copy = f"commons_ledger_saved_{i}"
        conn.execute(
            sql.SQL("create temporary table {c} as select * from {s}.{t}").format(
                c=sql.Identifier(copy), s=sql.Identifier(schema), t=sql.Identifier(table)
            )
        )
        columns = [
            sql.Identifier(name)
            for (name,) in conn.execute(
                "select column_name from information_schema.columns where table_schema = %s "
                "and table_name = %s order by ordinal_position",
                (schema, table),
            ).fetchall()
        ]
        saved[table] = (copy, columns)
    try:
        yield
    finally:
        with conn.transaction():
            for table, (copy, columns) in saved.items():
                target = sql.Identifier(schema, table)
                conn.execute(sql.SQL("delete from {t}").format(t=target))
                listed = sql.SQL(", ").join(columns)
                conn.execute(
                    sql.SQL("insert into {t} ({c}) select {c} from {copy}").format(
                        t=target, c=listed, copy=sql.Identifier(copy)
                    )
                )
