"""The one Definitions: dbt models, privacy gate, export and publish, the weekly job and its schedule."""

from __future__ import annotations

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from commons_assets.dbt.assets import build_dbt_assets
from commons_assets.dbt.project import dbt_project, dbt_resource, load_manifest
from commons_assets.dbt.setup import source_schema_classified, warehouse_setup
from commons_assets.partitions import WEEKLY_PARTITIONS
from commons_assets.privacy.checks import build_gate_checks
from commons_assets.privacy.policy import load_policy
from commons_assets.release.assets import build_release_assets, datagouv_resource
from commons_assets.settings import get_settings
from commons_assets.usage.assets import build_usage_assets, matomo_resource
from commons_assets.warehouse import URL_SETTING, WarehouseResource

JOB_NAME = "weekly_release"
VALIDATION_JOB_NAME = "weekly_validation"


def _warehouse_resource() -> WarehouseResource:
    # Through dg.EnvVar so the URL (it may hold a password) is never written into run config or the UI.
    if get_settings().warehouse_url:
        return WarehouseResource(url=dg.EnvVar(URL_SETTING))
    return WarehouseResource()


def build_definitions() -> dg.Definitions:
    dbt_project()  # a missing or stale manifest fails here, naming the command that prepares it
    dbt_models = build_dbt_assets()
    manifest = load_manifest()
    policy = load_policy(manifest)
    model_keys = {m.name: get_asset_key_for_model([dbt_models], m.name) for m in policy.published}

    weekly_release = dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.all(),
        partitions_def=WEEKLY_PARTITIONS,
        description="Builds the dbt models for one ISO week, runs the privacy gate, exports and publishes.",
    )
    # The data-contract job a service's CI runs: everything but export and publish.
    weekly_validation = dg.define_asset_job(
        VALIDATION_JOB_NAME,
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("release"),
        partitions_def=WEEKLY_PARTITIONS,
        description="Builds the dbt models for one ISO week and runs every check, without exporting.",
    )
    # Monday 03:00 Europe/Paris: the week that ended at midnight is complete and the night's loads are done.
    weekly_schedule = dg.build_schedule_from_partitioned_job(
        weekly_release,
        name="weekly_release_schedule",
        minute_of_hour=0,
        hour_of_day=3,
        day_of_week=1,
    )
    return dg.Definitions(
        assets=[warehouse_setup, dbt_models, *build_release_assets(policy, model_keys), *build_usage_assets(manifest)],
        asset_checks=[source_schema_classified, *build_gate_checks(policy, model_keys)],
        jobs=[weekly_release, weekly_validation],
        schedules=[weekly_schedule],
        resources={
            "dbt": dbt_resource(),
            "warehouse": _warehouse_resource(),
            "datagouv": datagouv_resource(),
            "matomo": matomo_resource(),
        },
    )


defs = build_definitions()
