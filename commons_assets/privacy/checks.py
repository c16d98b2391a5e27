"""Blocking asset checks, one per published model, generated from the policy.

A blocking check only stops downstream assets of the same run: the gate, export and publish are one job.
"""


import dagster as dg

from commons_assets.ledger import ensure_ledger, release_ids_relation
from commons_assets.privacy.gate import gate_findings
from commons_assets.privacy.policy import Policy, PublishedModel
from commons_assets.warehouse import WarehouseResource

GATE_CHECK_NAME = "privacy_gate"


def _gate_check(model: PublishedModel, asset_key: dg.AssetKey, policy: Policy) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_key,
        name=GATE_CHECK_NAME,
        blocking=True,
        description=(
            f"Privacy gate for {model.dataset} (Great Expectations suite generated from the policy): exact "
            f"column allow-list, identifier detectors, k-anonymity (k={model.spec.k}), l-diversity, small "
            "cells, secondary suppression, no identifier shared with the previous release, no source identifier, "
            "no column computed from a source's direct identifier or free text (lineage), no group of a week the "
            "previous release covered moved by 1 to k−1 (subtraction), no spreadsheet formula or control "
            "character in published text."
        ),
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        # imported here: the detectors compile hundreds of regexes, which loading the code location need not
        from commons_assets.dbt.project import service_project_dir
        from commons_assets.privacy import detectors
        from commons_assets.privacy.lineage import run_manifest

        with warehouse.connect() as conn:
            ensure_ledger(conn)
            detectors.install_functions(conn)
        # lineage first: it reads the compiled SQL of this run's dbt build, the very models whose tables the
        # gate checks, and blocks what was declared direct_identifier or free_text whatever the detectors find
        project_dir = service_project_dir()
        manifest = run_manifest(project_dir, context.run.run_id)
        findings = gate_findings(warehouse.info(), model, policy, release_ids_relation(), manifest, project_dir)
        return dg.AssetCheckResult(
            passed=not findings,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(f"[{f.check}] {f.message}" for f in findings) or "no finding",
            metadata={
                # counts and column names only: never an offending value
                "findings": dg.MetadataValue.json([f.as_metadata() for f in findings]),
                "failed_checks": dg.MetadataValue.text(", ".join(sorted({f.check for f in findings})) or "none"),
            },
        )

    return _check


def build_gate_checks(policy: Policy, asset_keys: dict[str, dg.AssetKey]) -> list[dg.AssetChecksDefinition]:
    return [_gate_check(model, asset_keys[model.name], policy) for model in policy.published]
