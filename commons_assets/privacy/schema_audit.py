"""Schema drift: columns present in the service's database that the policy does not classify."""

from __future__ import annotations

from dataclasses import dataclass, field

from commons_assets.privacy.gate import source_column_types
from commons_assets.privacy.policy import Policy, schema_drift_message, unclassified_columns
from commons_assets.warehouse import ConnInfo


@dataclass(frozen=True)
class AuditFinding:
    """Why the source schema blocks the release; names tables and columns only, never a value."""

    message: str
    unclassified_columns: list[str] = field(default_factory=list)


def source_columns(info: ConnInfo, schema: str) -> dict[str, list[str]]:
    import psycopg

    with psycopg.connect(info.conninfo()) as conn:
        return {table: list(columns) for table, columns in source_column_types(conn, schema).items()}


def audit_columns(policy: Policy, actual: dict[str, list[str]], schema: str | None = None) -> AuditFinding | None:
    """None when every source table the policy reads in `schema` (default: the service's) exists and every
    column is classified."""
    schema = policy.source_schema if schema is None else schema
    if not actual:
        return AuditFinding(
            f"release blocked: source schema {schema!r} has no tables in the warehouse; "
            "run `commons-assets demo seed` or set COMMONS_SOURCE_SCHEMA"
        )
    expected = policy.tables_of(schema)
    missing_tables = sorted(set(expected) - set(actual))
    if missing_tables:
        return AuditFinding(
            f"release blocked: source tables missing from schema {schema!r}: "
            + ", ".join(f"{t} (declared in {policy.source_files.get(expected[t], 'its sources yml')})"
                        for t in missing_tables)
        )
    missing = unclassified_columns(policy, actual, schema)
    if missing:
        return AuditFinding(schema_drift_message(missing, policy), missing)
    return None


def audit_source_schema(info: ConnInfo, policy: Policy) -> AuditFinding | None:
    """Every schema holding a source under the policy (the service's, a second `crm` schema…) is audited."""
    findings = [audit_columns(policy, source_columns(info, schema), schema) for schema in policy.source_schemas()]
    findings = [f for f in findings if f]
    if not findings:
        return None
    return AuditFinding(
        "\n".join(f.message for f in findings), [c for f in findings for c in f.unclassified_columns]
    )
