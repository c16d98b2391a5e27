"""Schema drift: columns present in the service's database that the policy does not classify."""

from __future__ import annotations

import dagster as dg

from commons_assets.privacy.gate import source_column_types
from commons_assets.privacy.policy import Policy, schema_drift_message, unclassified_columns
from commons_assets.warehouse import ConnInfo


def source_columns(info: ConnInfo, schema: str) -> dict[str, list[str]]:
    import psycopg

    with psycopg.connect(info.conninfo()) as conn:
        return {table: list(columns) for table, columns in source_column_types(conn, schema).items()}


def audit_source_schema(info: ConnInfo, policy: Policy) -> None:
    actual = source_columns(info, policy.source_schema)
    if not actual:
        raise dg.Failure(
            description=(
                f"release blocked: source schema {policy.source_schema!r} has no tables in the warehouse; "
                "run `commons-assets demo seed` or set COMMONS_SOURCE_SCHEMA"
            )
        )
    missing_tables = sorted(set(policy.sources) - set(actual))
    if missing_tables:
        raise dg.Failure(
            description=f"release blocked: source tables missing from schema {policy.source_schema!r}: "
            + ", ".join(missing_tables)
        )
    missing = unclassified_columns(policy, actual)
    if missing:
        raise dg.Failure(description=schema_drift_message(missing), metadata={"unclassified_columns": missing})
