"""The dbt models as Dagster assets, built for one ISO week: this asset only runs dbt."""

import json
import os

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from commons_assets.dbt.project import dbt_package_env, dbt_project
from commons_assets.dbt.translator import CommonsDbtTranslator
from commons_assets.partitions import WEEKLY_PARTITIONS
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
        # the tables dbt reads as sources and the schema audit are upstream (commons_assets.dbt.setup)
        warehouse.export_dbt_env()
        os.environ.update(dbt_package_env())  # the service's packages.yml names our privacy package by it
        week = context.partition_key
        args = ["build", "--vars", json.dumps({"release_week": week})]
        yield from dbt.cli(args, context=context).stream()

    return service_dbt_models
