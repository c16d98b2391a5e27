"""The one Definitions: dbt models, privacy gate, export and publish, the weekly job and its schedule."""

from __future__ import annotations

import warnings

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from commons_assets.dbt.assets import build_dbt_assets
from commons_assets.dbt.project import dbt_project, dbt_resource, load_manifest
from commons_assets.dbt.setup import build_setup
from commons_assets.privacy.checks import build_gate_checks
from commons_assets.privacy.policy import load_policy
from commons_assets.release.assets import build_release_assets, datagouv_resource
from commons_assets.release.dataset_page import PUBLISHED_GROUP
from commons_assets.release.lock import release_lock_resource
from commons_assets.service import declared_service
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


def _with_owners(assets: list[dg.AssetsDefinition], owners: list[str]) -> list[dg.AssetsDefinition]:
    """Every asset owned by the service's declared owners (vars.service.owners), unless it names its own."""
    if not owners:
        return assets
    return dg.map_asset_specs(lambda spec: spec if spec.owners else spec.replace_attributes(owners=owners), assets)


def build_definitions() -> dg.Definitions:
    # Dagster's notices about its own API (backfill_policy is beta, partitioned asset checks are a preview) are
    # for us, not for the person running a release: each was chosen knowingly, and a normal run prints nothing.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=dg.BetaWarning)
        warnings.filterwarnings("ignore", category=dg.PreviewWarning)
        return _build_definitions()


def _build_definitions() -> dg.Definitions:
    dbt_project()  # a missing or stale manifest fails here, naming the command that prepares it
    dbt_models = build_dbt_assets()
    manifest = load_manifest()
    policy = load_policy(manifest)
    model_keys = {m.name: get_asset_key_for_model([dbt_models], m.name) for m in policy.published}
    warehouse_setup, source_schema_classified = build_setup()

    weekly_release = dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.all(),
        description=(
            "Construit les modèles dbt d'une semaine ISO, passe la barrière de confidentialité, exporte et publie."
        ),
    )
    # The data-contract job a service's CI runs: everything but export and publish.
    weekly_validation = dg.define_asset_job(
        VALIDATION_JOB_NAME,
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("release", PUBLISHED_GROUP),
        description="Construit les modèles dbt d'une semaine ISO et passe tous les contrôles, sans rien exporter.",
    )
    # Monday 03:00 Europe/Paris: the week that ended at midnight is complete and the night's loads are done.
    weekly_schedule = dg.build_schedule_from_partitioned_job(
        weekly_release,
        name="weekly_release_schedule",
        minute_of_hour=0,
        hour_of_day=3,
        day_of_week=1,
    )
    assets = [warehouse_setup, dbt_models, *build_release_assets(policy, model_keys), *build_usage_assets(manifest)]
    return dg.Definitions(
        assets=_with_owners(assets, service.owners if (service := declared_service()) else []),
        asset_checks=[source_schema_classified, *build_gate_checks(policy, model_keys)],
        jobs=[weekly_release, weekly_validation],
        schedules=[weekly_schedule],
        resources={
            "dbt": dbt_resource(),
            "warehouse": _warehouse_resource(),
            "datagouv": datagouv_resource(),
            "matomo": matomo_resource(),
            "release_lock": release_lock_resource(),
        },
        # One process per run: the release lock (a resource) is then taken once, before the first step, and
        # held until the last one ends (commons_assets/release/lock.py); a release's steps run one after
        # another anyway.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
