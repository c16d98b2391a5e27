"""Usage statistics as Dagster assets: the Matomo week loaded before dbt reads it, and the CNIL exemption report.

- `matomo_weekly_usage` (group `usage`): always creates `<COMMONS_MATOMO_SCHEMA>.matomo_weekly_usage`, so that
  dbt's `matomo` source exists even when Matomo is off; when Matomo is configured, loads the released week
  (raw labels, warehouse only: dbt maps them to the feature catalogue). The dbt source declares this asset's
  key (`meta.dagster.asset_key`), so the job runs it before the dbt models.
- `usage_exemption_report` (group `usage`): which of the CNIL's measurable conditions for the consent exemption
  hold, for the event table the service declares in its dbt sources yml (`meta.commons.usage_events`) as of the
  end of the released week, and as declared for Matomo. It writes nothing: the conditions are its metadata (a
  French table and, per condition, true, false or null when it was not measured). It depends on the declared
  source table's asset; a service without an event table has no such dependency and measures Matomo only.

The Matomo token reaches the code only through `MatomoResource.token`, set with `dg.EnvVar("MATOMO_TOKEN")`, so
it is never written into run config, the run's events or the UI.

No `from __future__ import annotations` here: Dagster reads the annotations of the asset functions.
"""

import datetime as dt
import logging
from collections.abc import Mapping, Sequence

import dagster as dg
import psycopg
import psycopg.sql

from commons_assets.errors import SettingsError
from commons_assets.partitions import weekly_partitions
from commons_assets.service import EventSource, load_service, usage_event_source
from commons_assets.settings import DEFAULT_MATOMO_SCHEMA, get_settings
from commons_assets.usage import matomo as matomo_api
from commons_assets.usage.exemption import (
    NOT_MEASURED,
    ExemptionCondition,
    check_event_source,
    check_matomo_settings,
)
from commons_assets.usage.matomo import ENV_SITE_ID, ENV_TOKEN, ENV_URL, MatomoSettings
from commons_assets.warehouse import WarehouseResource
from commons_assets.week import Week

log = logging.getLogger(__name__)

GROUP = "usage"
MATOMO_ASSET = "matomo_weekly_usage"
EXEMPTION_ASSET = "usage_exemption_report"
MATOMO_SCHEMA_SETTING = "COMMONS_MATOMO_SCHEMA"
# A week that cannot exist (the table's check wants 4 digits, W, 2 digits; there is no week 00): "loading" it
# creates the schema and the table and deletes nothing (see ensure_matomo_table).
_NO_WEEK = "0000-W00"
# One week per run, as the dbt models and the release: each run is one week's release.
_ONE_WEEK_PER_RUN = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)


class MatomoResource(dg.ConfigurableResource):
    """Where Matomo is and how to read it. Build it with `matomo_resource()`: each field set from its
    environment variable through dg.EnvVar when the variable is set; all empty means the source is off."""

    url: str | None = None
    site_id: str | None = None
    token: str | None = None

    def as_env(self) -> dict[str, str]:
        """The fields under the names of their variables ('' when unset), for MatomoSettings.from_env."""
        return {ENV_URL: self.url or "", ENV_SITE_ID: self.site_id or "", ENV_TOKEN: self.token or ""}

    def settings(self) -> MatomoSettings | None:
        """The validated settings; None when the Matomo source is off. A partial or malformed setting raises
        MatomoSettingsError, which names the variable and never shows the token."""
        return MatomoSettings.from_env(self.as_env())


def matomo_resource() -> MatomoResource:
    """The resource for the one Definitions, registered under the key `matomo`.

    A field is an EnvVar only when its variable is set: an EnvVar whose variable is unset fails every run of
    the job, while an unset source must simply be off. The values themselves are read at run time."""
    settings = get_settings()
    fields = {
        name: dg.EnvVar(variable)
        for name, variable in (("url", ENV_URL), ("site_id", ENV_SITE_ID), ("token", ENV_TOKEN))
        if settings.is_set(variable)
    }
    return MatomoResource(**fields)


def matomo_schema() -> str:
    """Where the raw Matomo rows live: COMMONS_MATOMO_SCHEMA, default `matomo` (dbt's source reads the same).
    Read at call time, like every setting."""
    return get_settings().matomo_schema


def ensure_matomo_table(conn: psycopg.Connection, schema: str) -> None:
    """Create `<schema>.matomo_weekly_usage` if it does not exist, touching no row.

    Through matomo_api.load_rows, so the table has one definition: it creates the schema and the table, then
    replaces the rows of the weeks it loads, here a week that cannot exist."""
    matomo_api.load_rows(conn, schema, [], week=_NO_WEEK)


def load_matomo_week(conn: psycopg.Connection, settings: MatomoSettings | None, schema: str,
                     monday: dt.date) -> dict:
    """The body of `matomo_weekly_usage`: the table always, the week's rows when Matomo is on. Returns the
    metadata to record (counts and names only, never a label)."""
    ensure_matomo_table(conn, schema)
    week = Week(monday).label
    metadata: dict = {"enabled": settings is not None, "week": week, "table": f"{schema}.{matomo_api.TABLE}"}
    if settings is None:
        # Rows loaded while Matomo was on would otherwise be published as Matomo figures of a source now off.
        cleared = conn.execute(
            psycopg.sql.SQL("delete from {}").format(psycopg.sql.Identifier(schema, matomo_api.TABLE))
        ).rowcount
        log.info("Matomo source off (%s, %s, %s unset): %s.%s emptied (%d rows loaded earlier removed)", ENV_URL,
                 ENV_SITE_ID, ENV_TOKEN, schema, matomo_api.TABLE, cleared)
        metadata["rows_cleared"] = cleared
        return metadata
    rows = matomo_api.fetch_week(settings, monday)
    # week=…: a week Matomo returned nothing for is cleared too, so a reload never keeps stale rows
    loaded = matomo_api.load_rows(conn, schema, rows, week=week)
    by_kind: dict[str, int] = {}
    for row in rows:
        by_kind[row.label_kind] = by_kind.get(row.label_kind, 0) + 1
    metadata.update(
        site_id=settings.site_id,
        rows=loaded,
        rows_by_kind=dg.MetadataValue.json(dict(sorted(by_kind.items()))),
    )
    return metadata


def declared_event_source(manifest: Mapping | None = None) -> EventSource | None:
    """The event table the dbt project in use declares (None: usage from Matomo only, or no usage at all)."""
    if manifest is None:
        from commons_assets.dbt.project import load_manifest

        manifest = load_manifest()
    return usage_event_source(manifest)


_FROM_PROJECT = object()


def exemption_conditions(
    conn: psycopg.Connection,
    week_monday: str | dt.date,
    *,
    env: Mapping[str, str] | None = None,
    event_source: EventSource | object | None = _FROM_PROJECT,
    source_timezone: str | None = None,
) -> list[ExemptionCondition]:
    """The CNIL exemption conditions for the release of the week starting on that Monday: measured on the
    service's declared event table (default: as the dbt project in use declares it; none, nothing measured
    there) as of the end of the week, then, when the Matomo source is on, as its operator declares them
    (MATOMO_DECLARED_* variables, from `env`, default the settings).

    The one place both the Dagster asset and the export (release README, stats page) read them from."""
    week = Week.from_partition_key(week_monday)
    source = declared_event_source() if event_source is _FROM_PROJECT else event_source
    conditions: list[ExemptionCondition] = []
    if source is not None:
        zone = source_timezone or load_service().source_timezone
        conditions = check_event_source(conn, source, as_of=week.end_at, source_timezone=zone)
    return conditions + check_matomo_settings(env)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _status(holds: bool | None) -> str:
    return NOT_MEASURED if holds is None else ("✔" if holds else "✘")


def all_conditions_hold(conditions: Sequence[ExemptionCondition]) -> bool:
    """True only when something was measured and everything measured holds: « non mesuré » is not « respecté »."""
    return bool(conditions) and all(c.holds is True for c in conditions)


def exemption_markdown(conditions: Sequence[ExemptionCondition]) -> str:
    """A French Markdown table: source, condition, ✔/✘/non mesuré, measured value."""
    if not conditions:
        return (
            "Aucune source de mesure d'audience n'est déclarée (ni table d'événements du service, ni Matomo) : "
            "aucune condition n'a été mesurée."
        )
    lines = [
        "| Source | Condition | Respectée | Valeur mesurée |",
        "|---|---|:---:|---|",
    ]
    lines += [
        f"| {_cell(c.source)} | {_cell(c.label)} | {_status(c.holds)} | {_cell(c.measured)} |"
        for c in conditions
    ]
    return "\n".join(lines)


def exemption_metadata(conditions: Sequence[ExemptionCondition], week: str) -> dict:
    metadata: dict = {
        "week": week,
        "conditions": dg.MetadataValue.md(exemption_markdown(conditions)),
        "all_conditions_hold": all_conditions_hold(conditions),
    }
    metadata.update({c.code: c.holds for c in conditions})
    return metadata


EXEMPTION_CHECK = "conditions_cnil"


def exemption_check_result(conditions: Sequence[ExemptionCondition], severity: str) -> dg.AssetCheckResult:
    """The check on the exemption report: passes when every condition holds (a condition not measured does not
    hold); a failure is a warning, or an error that blocks the release when the service's dbt project declares
    `exemption_check: block`."""
    failing = [c for c in conditions if not c.holds]
    return dg.AssetCheckResult(
        check_name=EXEMPTION_CHECK,
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR if severity == "block" else dg.AssetCheckSeverity.WARN,
        description="; ".join(
            f"{c.source} : {c.label} ({'non mesurée' if c.holds is None else 'non respectée'})" for c in failing
        )
        or "toutes les conditions d'exemption de consentement sont respectées",
        metadata={"conditions_non_respectees": dg.MetadataValue.int(len(failing))},
    )


def event_source_asset_key(manifest: Mapping, source: EventSource) -> dg.AssetKey:
    """The declared event table's asset key, as the dbt assets name that source (so the lineage joins up)."""
    from commons_assets.dbt.translator import CommonsDbtTranslator

    return CommonsDbtTranslator().get_asset_spec(manifest, source.unique_id, None).key


def build_usage_assets(manifest: Mapping | None = None) -> list[dg.AssetsDefinition]:
    """The usage assets; the exemption report depends on the event table the manifest declares, if any
    (default: the manifest of the project in use)."""
    from commons_assets.service import declared_service

    if manifest is None:
        from commons_assets.dbt.project import load_manifest

        manifest = load_manifest()
    source = usage_event_source(manifest)
    event_deps = [event_source_asset_key(manifest, source)] if source is not None else []
    service = declared_service()
    severity = service.exemption_check if service else "warn"

    @dg.asset(
        name=MATOMO_ASSET,
        group_name=GROUP,
        partitions_def=weekly_partitions(),
        backfill_policy=_ONE_WEEK_PER_RUN,
        kinds={"postgres"},
        description=(
            "Rapports hebdomadaires de Matomo (catégories et actions d'événements, URL de pages, résumé des "
            f"visites) de la semaine publiée, bruts, dans {MATOMO_SCHEMA_SETTING} (par défaut "
            f"`{DEFAULT_MATOMO_SCHEMA}`).{matomo_api.TABLE} ; la table est créée même quand Matomo est désactivé "
            "(MATOMO_URL, MATOMO_SITE_ID, MATOMO_TOKEN absents). Les libellés peuvent contenir des données "
            "personnelles : dbt les rattache au catalogue des fonctionnalités, ils ne sont jamais publiés."
        ),
    )
    def matomo_weekly_usage(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, matomo: MatomoResource
    ) -> dg.MaterializeResult:
        monday = Week.from_partition_key(context.partition_key).monday
        try:
            settings = matomo.settings()
            with warehouse.connect() as conn:
                metadata = load_matomo_week(conn, settings, matomo_schema(), monday)
        except (matomo_api.MatomoError, SettingsError) as err:
            # one line that names the variable or the call, never the token (MatomoClient redacts it)
            raise dg.Failure(description=f"the Matomo week could not be loaded: {err}") from None
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset(
        name=EXEMPTION_ASSET,
        group_name=GROUP,
        partitions_def=weekly_partitions(),
        backfill_policy=_ONE_WEEK_PER_RUN,
        deps=event_deps,
        kinds={"postgres"},
        check_specs=[
            dg.AssetCheckSpec(
                EXEMPTION_CHECK,
                asset=EXEMPTION_ASSET,
                blocking=severity == "block",
                description=(
                    "Les conditions de la CNIL pour l'exemption de consentement de la mesure d'audience sont "
                    f"respectées ; sinon {'la publication est bloquée' if severity == 'block' else 'avertissement'} "
                    "(vars.service.exemption_check du projet dbt)."
                ),
            )
        ],
        description=(
            "Les conditions mesurables de la CNIL pour l'exemption de consentement de la mesure d'audience : "
            "adresses IP tronquées, identifiants de visiteur utilisés 13 mois au plus, événements bruts conservés "
            "25 mois au plus. Mesurées sur la table d'événements que le service déclare dans le yml de ses "
            "sources dbt (meta.commons.usage_events), à la fin de la semaine publiée, sur les seules colonnes "
            "dotées d'un rôle (une colonne non déclarée est « non mesuré ») ; déclarées par l'opérateur pour "
            "Matomo. Des comptes et des durées seulement."
        ),
    )
    def usage_exemption_report(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, matomo: MatomoResource
    ) -> dg.MaterializeResult:
        monday = Week.from_partition_key(context.partition_key).monday
        # the resource decides whether Matomo is on, as for the load; the declarations come from the environment
        env = {**get_settings().variables(), **matomo.as_env()}
        try:
            with warehouse.connect() as conn:
                conditions = exemption_conditions(conn, monday, env=env, event_source=source)
        except SettingsError as err:  # a MATOMO_DECLARED_* value, or a Matomo variable, is malformed
            raise dg.Failure(description=f"the CNIL exemption report could not be made: {err}") from None
        return dg.MaterializeResult(
            metadata=exemption_metadata(conditions, Week(monday).label),
            check_results=[exemption_check_result(conditions, severity)],
        )

    return [matomo_weekly_usage, usage_exemption_report]

