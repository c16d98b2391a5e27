"""Blocking asset checks, one per published model, generated from the policy.

A blocking check only stops downstream assets of the same run: the gate, export and publish are one job.
"""


import dagster as dg

from commons_assets.ledger import ensure_ledger, release_ids_relation
from commons_assets.partitions import weekly_partitions
from commons_assets.privacy.gate import gate_findings, person_key_problems
from commons_assets.privacy.policy import Policy, PublishedModel
from commons_assets.privacy.risk import measure_risk
from commons_assets.warehouse import WarehouseResource

GATE_CHECK_NAME = "privacy_gate"
RISK_METADATA = "privacy_report"


def gate_risks(evaluations, model_keys: dict[str, dg.AssetKey], policy: Policy) -> dict[str, dict]:
    """{dataset: risk measurement} that the gate checks recorded among `evaluations` (the AssetCheckEvaluations
    of one run), for the published models whose gate passed; a model without one is absent."""
    by_key = {dg.AssetCheckKey(model_keys[m.name], GATE_CHECK_NAME): m.dataset for m in policy.published}
    risks = {}
    for evaluation in evaluations:
        dataset = by_key.get(evaluation.asset_check_key)
        measured = (evaluation.metadata or {}).get(RISK_METADATA)
        if dataset is not None and evaluation.passed and measured is not None:
            risks[dataset] = measured.value
    return risks


def _in_persons(model: PublishedModel) -> str:
    key = model.spec.person_key
    return f" personnes distinctes, {key.column} de {key.model}" if key else ""


def _gate_check(model: PublishedModel, asset_key: dg.AssetKey, policy: Policy) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_key,
        name=GATE_CHECK_NAME,
        blocking=True,
        # a result per week: the UI shows which week passed or blocked
        partitions_def=weekly_partitions(),
        description=(
            f"Barrière de confidentialité de {model.dataset} (suite Great Expectations tirée de la politique) : "
            f"liste exacte des colonnes, détecteurs d'identifiants, k-anonymat (k = {model.spec.k}"
            f"{_in_persons(model)}), l-diversité, petites cases, secret secondaire, aucun identifiant commun avec "
            "la publication précédente ni avec la source, aucune colonne calculée depuis un identifiant direct ou "
            "un texte libre (lignage), aucun groupe d'une semaine déjà publiée qui bouge de 1 à k−1 "
            "(soustraction), aucune formule de tableur, aucun caractère de contrôle ni aucune valeur plus longue "
            "qu'une cellule de tableur dans le texte publié."
        ),
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        # imported here: the detectors compile hundreds of regexes, which loading the code location need not
        from commons_assets.dbt.project import service_project_dir
        from commons_assets.privacy import detectors
        from commons_assets.privacy.lineage import run_manifest
        from commons_assets.release.lock import pause_for_tests

        pause_for_tests("gate")

        with warehouse.connect() as conn:
            ensure_ledger(conn)
            detectors.install_functions(conn)
        # lineage first: it reads the compiled SQL of this run's dbt build, the very models whose tables the
        # gate checks, and blocks what was declared direct_identifier or free_text whatever the detectors find
        project_dir = service_project_dir()
        manifest = run_manifest(project_dir, context.run.run_id)
        findings = gate_findings(warehouse.info(), model, policy, release_ids_relation(), manifest, project_dir)
        with warehouse.connect() as conn:
            # in persons with a person key, as the gate measured it; none when that relation is unusable (the
            # findings already say why), rather than a crash of the check
            risk = None if person_key_problems(conn, model) else measure_risk(conn, model)
        smallest = risk["smallest_group"] if risk else None
        return dg.AssetCheckResult(
            passed=not findings,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(f"[{f.check}] {f.message}" for f in findings) or "no finding",
            metadata={
                # counts and column names only: never an offending value
                "findings": dg.MetadataValue.json([f.as_metadata() for f in findings]),
                "failed_checks": dg.MetadataValue.text(", ".join(sorted({f.check for f in findings})) or "none"),
                # numbers, so that the UI plots them over the weeks
                "findings_count": dg.MetadataValue.int(len(findings)),
                **({"smallest_group": dg.MetadataValue.int(smallest)} if smallest is not None else {}),
                # the whole measurement (sizes and shares, never a value): the export of the same run writes it
                # into the privacy report rather than measuring the table it checked again (gate_risks)
                **({RISK_METADATA: dg.MetadataValue.json(risk)} if risk is not None else {}),
            },
        )

    return _check


def build_gate_checks(policy: Policy, asset_keys: dict[str, dg.AssetKey]) -> list[dg.AssetChecksDefinition]:
    return [_gate_check(model, asset_keys[model.name], policy) for model in policy.published]
