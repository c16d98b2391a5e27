"""Export: stream each published table out of PostgreSQL into a staging folder.

Rows never pass through pandas: COPY … TO STDOUT is streamed to disk in chunks, so memory does not grow with
the size of the service.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from psycopg import sql
from psycopg.rows import dict_row

from commons_assets.errors import CommonsError
from commons_assets.privacy.gate import check_allow_list, relation_columns
from commons_assets.privacy.policy import Policy, PublishedModel
from commons_assets.privacy.risk import french_summary, measure_risk, risk_report
from commons_assets.release.licences import check_licence
from commons_assets.release.packaging import (
    datapackage,
    dataset_pages,
    readme,
    table_schema,
    write_checksums,
    write_json,
    write_parquet,
)
from commons_assets.release.version import code_version, repository_url
from commons_assets.service import Service, UsageDataset, load_service, usage_datasets
from commons_assets.usage.assets import exemption_conditions, exemption_markdown
from commons_assets.usage.stats_page import render_stats_page
from commons_assets.week import Week


class ExportError(CommonsError, RuntimeError):
    """The export refused to write something; the message names the dataset and column."""


@dataclass(frozen=True)
class ExportedFile:
    dataset: str
    path: str  # relative to the week folder
    rows: int
    bytes: int
    sha256: str


def _order_by(model: PublishedModel) -> list[str]:
    # Sorting by the published columns makes the file independent of the order rows were written in the
    # source, which could otherwise hint at who came first.
    return model.column_names


def export_csv(conn, model: PublishedModel, week_dir: Path) -> ExportedFile:
    """Write `<week_dir>/<dataset>/<dataset>.csv` (UTF-8, comma, header row) and return what was written."""
    actual = relation_columns(conn, model)
    findings = check_allow_list(actual, model)
    if findings:
        # Re-checked here, on what is about to be written, whatever the gate said earlier.
        raise ExportError("export refused: " + "; ".join(f.message for f in findings))
    folder = week_dir / model.dataset
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model.dataset}.csv"
    columns = sql.SQL(", ").join(map(sql.Identifier, model.column_names))
    query = sql.SQL(
        "copy (select {columns} from {rel} order by {order}) to stdout with (format csv, header true, encoding 'UTF8')"
    ).format(
        columns=columns,
        rel=sql.SQL(model.relation),
        order=sql.SQL(", ").join(map(sql.Identifier, _order_by(model))),
    )
    digest = hashlib.sha256()
    size = 0
    with conn.cursor() as cursor, open(path, "wb") as out, cursor.copy(query) as copy:
        for chunk in copy:
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    (rows,) = conn.execute(sql.SQL("select count(*) from {rel}").format(rel=sql.SQL(model.relation))).fetchone()
    return ExportedFile(
        dataset=model.dataset,
        path=str(path.relative_to(week_dir)),
        rows=int(rows),
        bytes=size,
        sha256=digest.hexdigest(),
    )


def write_release_manifest(week_dir: Path, week: str, files: list[ExportedFile], code_version: str) -> Path:
    path = week_dir / "release.json"
    payload = {"week": week, "code_version": code_version, "files": [asdict(f) for f in files]}
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def service_and_usage(policy: Policy) -> tuple[Service, list[UsageDataset]]:
    """The service's description and its usage datasets, from the dbt project in use."""
    from commons_assets.dbt.project import load_manifest

    return load_service(), usage_datasets(load_manifest(), policy)


def export_release(
    conn,
    policy: Policy,
    week_dir: Path,
    week: str,
    *,
    service: Service | None = None,
    usage: list[UsageDataset] | None = None,
    pages: dict[str, dict] | None = None,
    risks: dict[str, dict] | None = None,
) -> tuple[list[ExportedFile], dict]:
    """Write the whole release into `week_dir`: per dataset CSV, Parquet and Table Schema; then the privacy
    report, the data package, the French README, release.json and SHA256SUMS. Returns files and risk.
    `service`, `usage` and `pages` (each dataset's data.gouv.fr page, from the project's exposures) default to
    what the dbt project in use declares. `risks` ({dataset: measure_risk's result}) is what the gate of the same
    run measured (release/assets.py); a dataset it lacks is measured here."""
    if service is None or usage is None:
        declared_service, declared_usage = service_and_usage(policy)
        service = declared_service if service is None else service
        usage = declared_usage if usage is None else usage
    if pages is None:
        from commons_assets.dbt.project import load_manifest

        pages = dataset_pages(load_manifest(), policy)
    files, measured, risks = [], dict(risks or {}), {}
    for model in policy.published:
        exported = export_csv(conn, model, week_dir)
        folder = week_dir / model.dataset
        parquet_rows = write_parquet(conn, model, folder / f"{model.dataset}.parquet")
        if parquet_rows != exported.rows:
            raise ExportError(f"export of {model.dataset}: Parquet and CSV row counts differ")
        write_json(folder / "schema.json", table_schema(model, service))
        files.append(exported)
        # the same tables the gate measured in this run (the release lock holds from the build to the end)
        risks[model.dataset] = measured.get(model.dataset) or measure_risk(conn, model)
    version = code_version()
    summaries = {dataset: french_summary(dataset, risk) for dataset, risk in risks.items()}
    usage_names = [u.model.dataset for u in usage]
    # The consent-exemption conditions concern usage measurement only: no usage dataset, nothing to measure.
    conditions = exemption_conditions(conn, Week.parse(week).monday) if usage else None
    stats_page = write_stats_page(conn, usage, week_dir, week, conditions, service, policy, pages) is not None
    write_json(
        week_dir / "rapport-confidentialite.json",
        risk_report(week, version, {m.dataset: m.spec.k for m in policy.published}, risks),
    )
    as_dicts = [asdict(f) for f in files]
    write_json(
        week_dir / "datapackage.json", datapackage(week, policy, as_dicts, version, service, usage_names, pages)
    )
    (week_dir / "README.md").write_text(
        readme(
            week, policy, as_dicts, summaries, version, repository_url(),
            exemption_markdown(conditions) if conditions is not None else "",
            service=service, usage_datasets=usage_names, stats_page=stats_page, pages=pages,
        ),
        encoding="utf-8",
    )
    write_release_manifest(week_dir, week, files, version)
    write_checksums(week_dir)
    return files, risks


STATS_PAGE = "statistiques.html"
# data.gouv.fr refuses HTML uploads: the page goes there zipped, as a documentation resource.
STATS_ARCHIVE = "statistiques.zip"


def write_stats_page(
    conn, usage: list[UsageDataset], week_dir: Path, week: str, conditions, service: Service,
    policy: Policy | None = None, pages: dict[str, dict] | None = None,
) -> Path | None:
    """The public statistics page of the release (static, French, no network at view time), and its zip;
    None when the release holds no usage dataset. Columns are read by their declared `meta.usage` role. The
    page links to the datasets' data.gouv.fr pages (`pages`, from the exposures) and to the service's contact."""
    if not usage:
        return None
    dataset = usage[0]
    roles = {role: column for role, column in dataset.roles.items() if role != "source"}
    selected = sql.SQL(", ").join(
        sql.SQL("{c} as {r}").format(c=sql.Identifier(column), r=sql.Identifier(role)) for role, column in roles.items()
    )
    # The service's own measurement draws the page (a `source` column, if declared, tells it apart from
    # Matomo's figures, which stay in the dataset beside it).
    source = dataset.column("source")
    where = (
        sql.SQL(" where {s} = 'service'").format(s=sql.Identifier(source)) if source else sql.SQL("")
    )
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute(
            sql.SQL("select {selected} from {rel}{where} order by {w}, {f}").format(
                selected=selected, rel=sql.SQL(dataset.model.relation), where=where,
                w=sql.Identifier(roles["week"]), f=sql.Identifier(roles["feature"]),
            )
        ).fetchall()
    licence = check_licence(dataset.model.spec.licence)
    # the weekly total row, as the usage mart's `meta.publish.totals` declares it over the feature column
    totals = [t.total_value for t in dataset.model.spec.totals if t.dimension == roles["feature"]]
    page = render_stats_page(
        rows, service_name=service.name, week=week, generated_at=dt.datetime.now(dt.UTC),
        exemption=conditions, licence_title=licence.title, licence_url=licence.url,
        citation=service.how_to_cite, **({"total_code": totals[0]} if totals else {}),
        dataset_url=(pages or {}).get(dataset.model.dataset, {}).get("url"), contact=service.contact,
        datasets=[(m.spec.title, (pages or {})[m.dataset]["url"])
                  for m in (policy.published if policy else ()) if m.dataset in (pages or {})],
    )
    path = week_dir / STATS_PAGE
    path.write_text(page, encoding="utf-8")
    with zipfile.ZipFile(week_dir / STATS_ARCHIVE, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(path, STATS_PAGE)
    return path


def new_staging_dir(staging_root: Path, run_id: str, week: str) -> Path:
    week_dir = staging_root / run_id / week
    if week_dir.exists():
        shutil.rmtree(week_dir)
    week_dir.mkdir(parents=True)
    return week_dir
