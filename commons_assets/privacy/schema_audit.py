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


def audit_columns(policy: Policy, actual: dict[str, list[str]]) -> AuditFinding | None:
    """None when every source table the policy reads exists and every column is classified."""
    if not actual:
        return AuditFinding(
            f"release blocked: source schema {policy.source_schema!r} has no tables in the warehouse; "
            "run `commons-assets demo seed` or set COMMONS_SOURCE_SCHEMA"
        )
    missing_tables = sorted(set(policy.sources) - set(actual))
    if missing_tables:
        return AuditFinding(
            f"release blocked: source tables missing from schema {policy.source_schema!r}: " + ", ".join(missing_tables)
        )
    missing = unclassified_columns(policy, actual)
    if missing:
        return AuditFinding(schema_drift_message(missing), missing)
    return None


def audit_source_schema(info: ConnInfo, policy: Policy) -> AuditFinding | None:
    return audit_columns(policy, source_columns(info, policy.source_schema))
