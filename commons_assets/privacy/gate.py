"""The privacy gate: what must hold on a published table before a single file is written.

Each function returns findings: the check, the column and a count, never a value, so that a finding can be
logged, shown in the UI and stored without leaking what it found.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from commons_assets.privacy.policy import Policy, PublishedModel


@dataclass(frozen=True)
class Finding:
    check: str
    column: str | None
    count: int
    message: str

    def as_metadata(self) -> dict:
        return {"check": self.check, "column": self.column, "count": self.count, "message": self.message}


def relation_columns(conn, model: PublishedModel) -> list[str]:
    rows = conn.execute(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
        "order by ordinal_position",
        (model.schema, model.name),
    ).fetchall()
    return [r[0] for r in rows]


def check_allow_list(actual: list[str], model: PublishedModel) -> list[Finding]:
    """The published columns are exactly those the yml declares: nothing more, nothing less."""
    declared = set(model.column_names)
    findings = []
    for column in actual:
        if column not in declared:
            findings.append(
                Finding("allow_list", column, 1, f"{model.name}.{column} is not declared in the model's yml")
            )
    for column in model.column_names:
        if column not in actual:
            findings.append(
                Finding("allow_list", column, 1, f"{model.name}.{column} is declared but absent from the table")
            )
    if not actual:
        findings.append(Finding("allow_list", None, 1, f"{model.name} does not exist in the warehouse"))
    return findings


def _text_columns(model: PublishedModel) -> list[str]:
    return [c.name for c in model.columns if c.data_type in ("text", "varchar", "character varying")]


def check_detectors(conn, model: PublishedModel) -> list[Finding]:
    """Every text column, whatever its name, scanned once by every identifier detector."""
    from commons_assets.privacy import detectors

    columns = _text_columns(model)
    if not columns:
        return []
    detectors.install_functions(conn)
    cursor = conn.execute(detectors.scan_sql(model.relation, columns))
    row = cursor.fetchone()
    names = [d.name for d in cursor.description]
    findings = []
    for name, count in zip(names, row or ()):
        if count:
            detector, column = name.split("__", 1)
            findings.append(
                Finding(
                    f"detector:{detector}",
                    column,
                    int(count),
                    f"{model.name}.{column}: {count} value(s) look like {detector.replace('_', ' ')}",
                )
            )
    return findings


def check_k_anonymity(conn, model: PublishedModel) -> list[Finding]:
    """Record-level tables: every combination of quasi-identifiers is shared by at least k rows."""
    qis = model.spec.quasi_identifiers
    if model.spec.kind != "records" or not qis:
        return []
    query = sql.SQL(
        "select count(*) filter (where n < %s), coalesce(sum(n) filter (where n < %s), 0) "
        "from (select count(*) as n from {rel} group by {qis}) as groups"
    ).format(rel=sql.SQL(model.relation), qis=sql.SQL(", ").join(map(sql.Identifier, qis)))
    groups, rows = conn.execute(query, (model.spec.k, model.spec.k)).fetchone()
    if groups:
        return [
            Finding(
                "k_anonymity",
                ", ".join(qis),
                int(rows),
                f"{model.name}: {groups} combination(s) of ({', '.join(qis)}) shared by fewer than "
                f"k={model.spec.k} rows ({rows} rows)",
            )
        ]
    return []


def check_small_cells(conn, model: PublishedModel) -> list[Finding]:
    """Aggregates: every published count is at least k, or suppressed (null)."""
    findings = []
    for column in model.spec.count_columns:
        query = sql.SQL("select count(*) from {rel} where {col} < %s").format(
            rel=sql.SQL(model.relation), col=sql.Identifier(column)
        )
        (count,) = conn.execute(query, (model.spec.k,)).fetchone()
        if count:
            findings.append(
                Finding(
                    "small_cells",
                    column,
                    int(count),
                    f"{model.name}.{column}: {count} cell(s) below k={model.spec.k} are not suppressed",
                )
            )
    return findings


def check_source_identifiers(conn, model: PublishedModel, policy: Policy) -> list[Finding]:
    """No published value equals a direct identifier of the source (an email, a name, a phone…)."""
    findings = []
    text_columns = _text_columns(model)
    for table, source_column in policy.direct_identifier_columns():
        for column in text_columns:
            query = sql.SQL(
                "select count(*) from {rel} as p where p.{col} is not null and exists ("
                "select 1 from {src} as s where s.{scol}::text = p.{col})"
            ).format(
                rel=sql.SQL(model.relation),
                col=sql.Identifier(column),
                src=sql.Identifier(policy.source_schema, table),
                scol=sql.Identifier(source_column),
            )
            (count,) = conn.execute(query).fetchone()
            if count:
                findings.append(
                    Finding(
                        "source_identifier",
                        column,
                        int(count),
                        f"{model.name}.{column}: {count} value(s) equal the source's {table}.{source_column}",
                    )
                )
    return findings


def evaluate(conn, model: PublishedModel, policy: Policy) -> list[Finding]:
    actual = relation_columns(conn, model)
    findings = check_allow_list(actual, model)
    if findings:
        # Nothing else is meaningful on a table whose columns we do not know.
        return findings
    return (
        check_detectors(conn, model)
        + check_k_anonymity(conn, model)
        + check_small_cells(conn, model)
        + check_source_identifiers(conn, model, policy)
    )
