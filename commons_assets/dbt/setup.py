"""What must hold before dbt runs: the tables dbt reads as sources exist, and the source schema is classified.

`warehouse_setup` creates the ledger and the Matomo table (empty when Matomo is off), which the models read as
dbt sources. Its blocking check `source_schema_classified` fails closed on a source column nobody classified:
every dbt model depends on `warehouse_setup`, so a failed audit stops the run before dbt reads anything.
"""

from __future__ import annotations

import dagster as dg

from commons_assets.partitions import weekly_partitions
from commons_assets.release.lock import ReleaseLock
from commons_assets.warehouse import WarehouseResource

SETUP_ASSET = dg.AssetKey("warehouse_setup")
AUDIT_CHECK_NAME = "source_schema_classified"


def build_setup() -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    """The setup asset and its blocking audit, on the weekly partitions of the service in use (built at load
    time, not import time: the partitions start at the week its dbt project declares)."""
    partitions = weekly_partitions()

    @dg.asset(
        key=SETUP_ASSET,
        group_name="setup",
        partitions_def=partitions,
        # one week per run, like every asset of the job: mixed policies make Dagster warn at every run
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
        description="Crée au besoin les tables du registre et la table Matomo, lues comme sources par dbt.",
    )
    def warehouse_setup(warehouse: WarehouseResource, release_lock: ReleaseLock) -> dg.MaterializeResult:
        # release_lock: the run's first step; the lock is taken (and dead runs cleaned up) before it runs
        from commons_assets.ledger import ensure_ledger
        from commons_assets.usage.assets import ensure_matomo_table, matomo_schema

        with warehouse.connect() as conn:
            ledger = ensure_ledger(conn)
            matomo = matomo_schema()
            ensure_matomo_table(conn, matomo)
        return dg.MaterializeResult(metadata={"ledger_schema": ledger, "matomo_schema": matomo})


    @dg.asset_check(
        asset=SETUP_ASSET,
        partitions_def=partitions,
        name=AUDIT_CHECK_NAME,
        blocking=True,
        description="Chaque colonne des tables sources du service est classée dans le projet dbt (meta.privacy).",
    )
    def source_schema_classified(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        from commons_assets.dbt.project import load_manifest
        from commons_assets.privacy.policy import load_policy
        from commons_assets.privacy.schema_audit import audit_source_schema

        finding = audit_source_schema(warehouse.info(), load_policy(load_manifest()))
        return dg.AssetCheckResult(
            passed=finding is None,
            severity=dg.AssetCheckSeverity.ERROR,
            description=finding.message if finding else "every source column is classified",
            # table.column names only: never a value
            metadata={"unclassified_columns": dg.MetadataValue.json(finding.unclassified_columns if finding else [])},
        )

    return warehouse_setup, source_schema_classified
