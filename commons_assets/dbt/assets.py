"""The dbt models as Dagster assets, built for one ISO week."""


import json

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from commons_assets.dbt.project import dbt_project, load_manifest
from commons_assets.dbt.translator import CommonsDbtTranslator
from commons_assets.partitions import WEEKLY_PARTITIONS
from commons_assets.privacy.policy import load_policy
from commons_assets.privacy.schema_audit import audit_source_schema
from commons_assets.release.ledger import ensure_ledger
from commons_assets.usage.assets import ensure_matomo_table, matomo_schema
from commons_assets.warehouse import WarehouseResource


def build_dbt_assets() -> dg.AssetsDefinition:
    project = dbt_project()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=CommonsDbtTranslator(),
        partitions_def=WEEKLY_PARTITIONS,
        name="service_dbt_models",
        # One week per run: each run is one release, so a backfill makes one release per week.
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    )
    def service_dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ):
        info = warehouse.export_dbt_env()
        with warehouse.connect() as conn:
            # the models read the ledger (frozen weeks), so it must exist before the first build
            ensure_ledger(conn)
            # dbt reads the Matomo table as a source: it exists (empty) even when Matomo is off
            ensure_matomo_table(conn, matomo_schema())
        # Fail closed before dbt reads anything: a source column nobody classified blocks the release.
        audit_source_schema(info, load_policy(load_manifest()))
        week = context.partition_key
        args = ["build", "--vars", json.dumps({"release_week": week})]
        yield from dbt.cli(args, context=context).stream()

    return service_dbt_models
