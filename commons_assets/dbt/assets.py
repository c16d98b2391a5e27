"""The dbt models as Dagster assets, built for one ISO week: this asset only runs dbt."""

import json
import os

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from commons_assets.dbt.project import dbt_package_env, dbt_project
from commons_assets.dbt.translator import CommonsDbtTranslator
from commons_assets.partitions import weekly_partitions
from commons_assets.release.lock import ReleaseLock, pause_for_tests
from commons_assets.warehouse import WarehouseResource
from commons_assets.week import Week


def build_dbt_assets() -> dg.AssetsDefinition:
    project = dbt_project()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=CommonsDbtTranslator(),
        partitions_def=weekly_partitions(),
        name="service_dbt_models",
        # One week per run: each run is one release, so a backfill makes one release per week.
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    )
    def service_dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
        release_lock: ReleaseLock,  # held for the whole run: no other run rebuilds these tables meanwhile
    ):
        # the tables dbt reads as sources and the schema audit are upstream (commons_assets.dbt.setup)
        warehouse.export_dbt_env()
        os.environ.update(dbt_package_env())  # the service's packages.yml names our privacy package by it
        week = Week.from_partition_key(context.partition_key)
        args = ["build", "--vars", json.dumps({"release_week": week.dbt_var})]
        yield from dbt.cli(args, context=context).stream()
        pause_for_tests("dbt")

    return service_dbt_models
