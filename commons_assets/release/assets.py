"""Export and publish: the last two steps of the weekly release, after the privacy gate."""


import csv
import datetime as dt
import json
import shutil
from pathlib import Path

import dagster as dg

from commons_assets.dbt.project import service_project_dir
from commons_assets.errors import ReleaseRefused
from commons_assets.ledger import (
    already_published,
    begin_publication,
    end_publication,
    last_published_week,
    ledger_schema,
    record_publication,
    record_published_usage,
)
from commons_assets.partitions import weekly_partitions
from commons_assets.privacy.checks import gate_risks
from commons_assets.privacy.policy import Policy
from commons_assets.release.datagouv import (
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_ENVIRONMENT,
    ENV_ORGANIZATION,
    DatagouvError,
    DatagouvSettings,
    publish_release,
)
from commons_assets.release.dataset_page import (
    PUBLISHED_GROUP,
    published_dataset_definition_metadata,
    published_dataset_key,
    published_dataset_metadata,
)
from commons_assets.release.export import STATS_ARCHIVE, STATS_PAGE, export_release, new_staging_dir, service_and_usage
from commons_assets.release.lock import ReleaseLock, pause_for_tests
from commons_assets.release.packaging import sha256_of
from commons_assets.release.publication import dataset_publications
from commons_assets.release.targets import check_folder_target, discard_previous, move_into_place, put_back
from commons_assets.release.version import code_version
from commons_assets.settings import get_settings
from commons_assets.usage.assets import EXEMPTION_ASSET
from commons_assets.warehouse import WarehouseResource
from commons_assets.week import Week

# Each run is one week's release, whatever launches it (schedule, CLI, a backfill in the UI).
_ONE_WEEK_PER_RUN = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)


DATAGOUV_TARGET = "datagouv"
PUBLICATION_ASSET = "release_publication"
# The privacy report of a release (written by export_release) and its per-dataset section.
PRIVACY_REPORT = "rapport-confidentialite.json"
PRIVACY_REPORT_DATASETS = "jeux_de_donnees"


class PublishConfig(dg.Config):
    """Where the release goes: a folder (empty means COMMONS_RELEASES_DIR, default ./releases), or
    `datagouv` for data.gouv.fr (DATAGOUV_* settings)."""

    target: str = ""
    datagouv_deadline_s: float = 900
    # a week older than the last one published to the target is refused unless this says it is meant
    republish: bool = False


class ExportConfig(dg.Config):
    """A release in which every dataset is empty (a week before the service had any data) is refused unless
    `allow_empty` says it is meant."""

    allow_empty: bool = False


def refuse_older_week(week: str, last_published: str | None, target: str, republish: bool) -> None:
    """A week older than the last one published to `target` would replace the newest release readers have
    with an older one: refused unless `republish`."""
    if last_published is not None and week < last_published and not republish:
        raise ReleaseRefused(
            f"{week} is older than {last_published}, the last week published to {target}: "
            "pass --republish to publish it again"
        )


def refuse_empty_release(week: str, rows: dict[str, int], allow_empty: bool) -> None:
    """Every dataset empty: the week is before any data (or the source is empty), not a release to publish."""
    if rows and not any(rows.values()) and not allow_empty:
        raise ReleaseRefused(
            f"every dataset of {week} is empty ({', '.join(sorted(rows))}): the service had no data then; "
            "pass --allow-empty to publish it anyway"
        )


class DatagouvResource(dg.ConfigurableResource):
    """The data.gouv.fr account the release is published with; values come from dg.EnvVar (DATAGOUV_*)."""

    api_key: str | None = None
    organization: str | None = None
    environment: str = "demo"
    base_url: str | None = None

    def settings(self) -> DatagouvSettings:
        # A variable set after the code location was loaded is still honoured, read at run time.
        env = get_settings().variables()
        return DatagouvSettings(
            api_key=self.api_key or env.get(ENV_API_KEY, ""),
            organization=self.organization or env.get(ENV_ORGANIZATION, ""),
            environment=(self.environment if self.environment != "demo" else None)
            or env.get(ENV_ENVIRONMENT) or "demo",
            base_url=self.base_url or env.get(ENV_BASE_URL) or None,
        )


def _ids_file() -> Path:
    """The committed file of data.gouv.fr ids (COMMONS_DATAGOUV_IDS_FILE overrides it, for tests)."""
    return get_settings().datagouv_ids_file or service_project_dir() / "publication" / "datagouv.yml"


def datagouv_resource() -> DatagouvResource:
    # Only the variables that are set become EnvVars: an unset EnvVar fails every run, local ones included.
    fields = {"api_key": ENV_API_KEY, "organization": ENV_ORGANIZATION, "environment": ENV_ENVIRONMENT,
              "base_url": ENV_BASE_URL}
    settings = get_settings()
    return DatagouvResource(**{f: dg.EnvVar(v) for f, v in fields.items() if settings.is_set(v)})


def _stats_page_metadata(target: str, where: str, week: str, has_stats_page: bool) -> dict:
    if not has_stats_page:
        return {}
    if target == DATAGOUV_TARGET:
        return {"stats_page": dg.MetadataValue.text(f"{STATS_ARCHIVE} on data.gouv.fr")}
    return {"stats_page": dg.MetadataValue.path(str(Path(where) / week / STATS_PAGE))}


def _staging_dir(run_id: str, week: str) -> Path:
    return get_settings().export_staging_dir / run_id / week


def verify_staged_release(week_dir: Path, policy: Policy) -> list[dict]:
    """Re-read what is about to be published: checksums as exported, headers exactly the allow-list."""
    manifest = json.loads((week_dir / "release.json").read_text(encoding="utf-8"))
    expected = {m.dataset: m.column_names for m in policy.published}
    files = manifest["files"]
    if sorted(f["dataset"] for f in files) != sorted(expected):
        raise dg.Failure(description="publish refused: the staged release does not hold exactly the published datasets")
    listed = {}
    for line in (week_dir / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    present = {p.relative_to(week_dir).as_posix() for p in week_dir.rglob("*") if p.is_file()} - {"SHA256SUMS"}
    if present != set(listed):
        raise dg.Failure(description="publish refused: the staged files are not exactly those listed in SHA256SUMS")
    for name, digest in listed.items():
        if sha256_of(week_dir / name) != digest:
            raise dg.Failure(description=f"publish refused: {name} changed after export (checksum)")
    for item in files:
        with open(week_dir / item["path"], newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        if header != expected[item["dataset"]]:
            raise dg.Failure(
                description=f"publish refused: the columns of {item['path']} are not the declared allow-list"
            )
    return files


def _row_counts(conn, policy: Policy) -> dict[str, int]:
    """Whether each published table has rows (0 or 1: its first row is enough), by dataset."""
    from psycopg import sql

    return {
        m.dataset: conn.execute(sql.SQL("select count(*) from (select 1 from {} limit 1) t").format(
            sql.SQL(m.relation))).fetchone()[0]
        for m in policy.published
    }


def _gate_risks(context: dg.AssetExecutionContext, policy: Policy, model_keys: dict[str, dg.AssetKey]) -> dict:
    """What the privacy gate of this run measured of each published table (empty when the export runs alone)."""
    events = context.instance.all_logs(context.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return gate_risks([e.dagster_event.event_specific_data for e in events], model_keys, policy)


def build_release_assets(policy: Policy, model_keys: dict[str, dg.AssetKey]) -> list[dg.AssetsDefinition]:
    @dg.asset(
        name="release_export",
        group_name="release",
        partitions_def=weekly_partitions(),
        backfill_policy=_ONE_WEEK_PER_RUN,
        # after the CNIL exemption report (its check blocks the export when the service declares it blocking):
        # every step that can fail the run comes before anything is exported
        deps=[*(model_keys[m.name] for m in policy.published), dg.AssetKey(EXEMPTION_ASSET)],
        description=(
            "Exporte chaque table publiée depuis PostgreSQL dans un dossier d'attente : CSV (COPY) et Parquet par "
            "jeu de données avec son schéma (Table Schema), le rapport de confidentialité, datapackage.json, le "
            "README et SHA256SUMS."
        ),
        kinds={"postgres", "csv"},
    )
    def release_export(
        context: dg.AssetExecutionContext, config: ExportConfig, warehouse: WarehouseResource, release_lock: ReleaseLock
    ) -> dg.MaterializeResult:
        week = Week.from_partition_key(context.partition_key).label
        service, usage = service_and_usage(policy)
        with warehouse.connect() as conn:
            refuse_empty_release(week, _row_counts(conn, policy), config.allow_empty)
            week_dir = new_staging_dir(get_settings().export_staging_dir, context.run_id, week)
            measured = _gate_risks(context, policy, model_keys)
            files, risks = export_release(conn, policy, week_dir, week, service=service, usage=usage, risks=measured)
        pause_for_tests("export")
        return dg.MaterializeResult(
            metadata={
                "week": week,
                "staging_dir": str(week_dir),
                "rows": dg.MetadataValue.json({f.dataset: f.rows for f in files}),
                "files": len(list(p for p in week_dir.rglob("*") if p.is_file())),
                # the privacy report: group sizes and risks, never a value
                "smallest_group": dg.MetadataValue.json({d: r["smallest_group"] for d, r in risks.items()}),
                "prosecutor_risk_max": dg.MetadataValue.json(
                    {d: r["prosecutor_risk_max"] for d, r in risks.items()}
                ),
                "privacy_report": dg.MetadataValue.json(risks),
            }
        )

    publication_key = dg.AssetKey(PUBLICATION_ASSET)
    dataset_keys = {m.dataset: published_dataset_key(m.dataset) for m in policy.published}

    @dg.multi_asset(
        name=PUBLICATION_ASSET,
        partitions_def=weekly_partitions(),
        backfill_policy=_ONE_WEEK_PER_RUN,
        can_subset=False,
        specs=[
            dg.AssetSpec(
                publication_key,
                group_name="release",
                deps=[release_export],
                description="Publie la version vérifiée vers sa destination, entière ou pas du tout.",
            ),
            # the published datasets themselves, each with its page in the UI: what, which licence, where,
            # which week and when, how risky. Skippable: publishing a week again changes nothing, records nothing.
            *(
                dg.AssetSpec(
                    dataset_keys[m.dataset],
                    group_name=PUBLISHED_GROUP,
                    deps=[publication_key, model_keys[m.name]],
                    description=f"{m.spec.title}\n\n{m.spec.description.strip()}",
                    metadata=published_dataset_definition_metadata(m.dataset, m.spec.licence),
                    kinds={"csv", "parquet"},
                    skippable=True,
                )
                for m in policy.published
            ),
        ],
    )
    def release_publication(
        context: dg.AssetExecutionContext,
        config: PublishConfig,
        warehouse: WarehouseResource,
        datagouv: DatagouvResource,
        release_lock: ReleaseLock,
    ):
        week = Week.from_partition_key(context.partition_key).label
        staged = _staging_dir(context.run_id, week)
        if not (staged / "release.json").exists():
            raise dg.Failure(description=f"no staged release for {week} in this run; run the whole weekly_release job")
        files = verify_staged_release(staged, policy)
        has_stats_page = (staged / STATS_PAGE).exists()
        # the privacy report as published: its figures go on each dataset's page of the UI (read now: a folder
        # target moves the staged files away)
        risks = json.loads((staged / PRIVACY_REPORT).read_text(encoding="utf-8"))[PRIVACY_REPORT_DATASETS]
        if config.target == DATAGOUV_TARGET:
            where, urls, resources = _publish_to_datagouv(context, config, warehouse, datagouv, staged, week, files)
            if resources is not None:
                with warehouse.connect() as conn:
                    _record(conn, context.run_id, week, files, where, resources, urls)
        else:
            target_root = check_folder_target(
                Path(config.target).expanduser() if config.target else get_settings().releases_dir
            )
            where = str(target_root)
            with warehouse.connect(autocommit=True) as conn:
                refuse_older_week(week, last_published_week(conn, target=where), where, config.republish)
                # committed before the files move: if this process dies now, the next run finds the row and puts
                # the folder back to what the ledger recorded (commons_assets/release/recovery.py)
                begin_publication(conn, run_id=context.run_id, week=week, target=where)
            final, previous = move_into_place(staged, target_root, week)
            pause_for_tests("publication")
            resources = {}
            urls = {m.dataset: str(final / m.dataset) for m in policy.published}
            try:
                with warehouse.connect() as conn:
                    _record(conn, context.run_id, week, files, where, resources, urls)
            except BaseException:
                put_back(final, previous)
                raise
            discard_previous(previous)
        shutil.rmtree(staged.parent, ignore_errors=True)
        published_at = dt.datetime.now(dt.UTC)
        rows = {f["dataset"]: f["rows"] for f in files}
        # yielded after the publication's own result, which they depend on
        published = [] if resources is None else [
            dg.MaterializeResult(
                asset_key=dataset_keys[model.dataset],
                metadata=published_dataset_metadata(
                    licence=model.spec.licence, location=urls[model.dataset], week=week,
                    published_at=published_at, rows=rows[model.dataset], risk=risks.get(model.dataset, {}),
                ),
            )
            for model in policy.published
        ]
        yield dg.MaterializeResult(
            asset_key=publication_key,
            metadata={
                "week": week,
                "target": where,
                "datasets": dg.MetadataValue.json(
                    {f["dataset"]: {"rows": f["rows"], "file": f["path"], "url": urls[f["dataset"]],
                                    "licence": next(
                                        m.spec.licence for m in policy.published if m.dataset == f["dataset"]
                                    )}
                     for f in files}
                ),
                "already_published": resources is None,
                # the public statistics page of this release, when it holds a usage dataset
                **_stats_page_metadata(config.target, where, week, has_stats_page),
            }
        )
        yield from published

    def _record(conn, run_id, week, files, where, resources, urls):
        """The ledger of a published release, in one transaction: files, release ids, frozen usage weeks."""
        record_publication(
            conn, week=week, files=files, policy=policy, target=where, code_version=code_version(),
            resources=resources, urls=urls,
        )
        # from now on these usage weeks are frozen: a later release publishes them as they are
        for usage in service_and_usage(policy)[1]:
            record_published_usage(conn, ledger_schema=ledger_schema(), usage=usage, week=week)
        end_publication(conn, run_id=run_id)

    def _publish_to_datagouv(context, config, warehouse, datagouv, staged, week, files):
        try:
            settings = datagouv.settings()
        except DatagouvError as err:
            raise dg.Failure(description=str(err)) from None
        where = f"datagouv:{settings.environment}"
        with warehouse.connect() as conn:
            refuse_older_week(week, last_published_week(conn, target=where), where, config.republish)
            previous = already_published(conn, week=week, target=where, datasets=[m.dataset for m in policy.published])
            if previous is not None:
                # The same week again: nothing is uploaded, nothing changes on data.gouv.fr.
                context.log.info(f"{week} is already published to {where}: nothing to do")
                return where, previous, None
            publications = dataset_publications(conn, policy, staged, week)
        with warehouse.connect(autocommit=True) as conn:
            begin_publication(conn, run_id=context.run_id, week=week, target=where)
        try:
            published = publish_release(
                staged, publications, settings, _ids_file(),
                deadline_s=config.datagouv_deadline_s,
            )
        except DatagouvError as err:
            raise dg.Failure(description=f"publication to data.gouv.fr failed: {err}") from None
        urls = {p.slug: p.url for p in published}
        resources = {(p.slug, path): rid for p in published for path, rid in p.resources.items()}
        return where, urls, resources

    return [release_export, release_publication]
