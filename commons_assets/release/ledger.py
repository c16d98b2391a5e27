"""The release ledger: what went out, week by week, kept in the warehouse.

`releases` has one row per published file (week, dataset, rows, checksum, code version, target);
`release_ids` keeps the release-scoped identifiers of the last published release of each dataset, so that the
gate can prove the next release shares none of them.
"""

from __future__ import annotations

from psycopg import sql

from commons_assets.settings import get_settings


def ledger_schema() -> str:
    return f"{get_settings().dbt_target_schema}_ledger"


def ensure_ledger(conn) -> str:
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
            -- usage figures as first published: a published week is never revised (frozen weeks)
            create table if not exists {s}.published_feature_usage (
                semaine text not null,
                source text not null,
                fonctionnalite text not null,
                libelle_fonctionnalite text not null,
                nombre_evenements bigint,
                nombre_visites bigint,
                nombre_visiteurs bigint,
                published_in_week text not null,
                primary key (semaine, source, fonctionnalite)
            );
            """
        ).format(s=sql.Identifier(schema))
    )
    return schema


def release_ids_relation() -> str:
    return f'"{ledger_schema()}"."release_ids"'


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
