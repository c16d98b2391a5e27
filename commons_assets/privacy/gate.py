"""The privacy gate: what must hold on a published table before a single file is written.

The rules are generated from the policy and run as a Great Expectations 1.x suite (one per published table,
built in an ephemeral context, never edited by hand). Every rule is SQL whose "unexpected rows" carry only a
kind, a column name and a count (`kind, column_name, hits`): never a value. So a finding can be logged,
shown in the UI and kept in GX results without leaking what it found.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

from commons_assets.privacy.policy import Policy, PublishedModel

TEXT_TYPES = ("text", "varchar", "character varying")
# Hash functions an "anonymised" identifier is most often made with; a hash of a guessable value is a
# pseudonym that anyone can recompute.
_HASHES = (
    "md5({v})",
    "encode(sha256(convert_to({v}, 'UTF8')), 'hex')",
    "encode(sha224(convert_to({v}, 'UTF8')), 'hex')",
    "encode(sha512(convert_to({v}, 'UTF8')), 'hex')",
)


@dataclass(frozen=True)
class Finding:
    check: str
    column: str | None
    count: int
    message: str

    def as_metadata(self) -> dict:
        return {"check": self.check, "column": self.column, "count": self.count, "message": self.message}


@dataclass(frozen=True)
class Rule:
    """One expectation: `query` returns (kind, column_name, hits) rows, one per violation, else none."""

    check: str
    query: str
    message: str  # formatted with kind, column_name, hits and model


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
    findings = [
        Finding("allow_list", column, 1, f"{model.name}.{column} is not declared in the model's yml")
        for column in actual
        if column not in declared
    ]
    findings += [
        Finding("allow_list", column, 1, f"{model.name}.{column} is declared but absent from the table")
        for column in model.column_names
        if column not in actual
    ]
    if not actual:
        findings = [Finding("allow_list", None, 1, f"{model.name} does not exist in the warehouse")]
    return findings


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def text_columns(model: PublishedModel) -> list[str]:
    return [c.name for c in model.columns if c.data_type in TEXT_TYPES]


def detector_rule(model: PublishedModel) -> Rule | None:
    """Every text column, whatever its name, scanned ONCE by every identifier detector."""
    from commons_assets.privacy import detectors

    columns = text_columns(model)
    if not columns:
        return None
    scan = detectors.scan_sql(_BATCH, columns)
    pairs = [(d.NAME, c) for d in detectors.DETECTORS for c in columns]
    values = ", ".join(
        f"({_lit(d)}, {_lit(c)}, s.{_q(detectors.scan_alias(d, c))})" for d, c in pairs
    )
    query = (
        f"select v.kind, v.column_name, v.hits from ({scan}) as s "
        f"cross join lateral (values {values}) as v(kind, column_name, hits) where v.hits > 0"
    )
    return Rule("detectors", query, "{model}.{column_name}: {hits} value(s) look like {kind}")


def k_anonymity_rule(model: PublishedModel) -> Rule | None:
    """Record-level tables: every combination of quasi-identifiers is shared by at least k rows."""
    qis = model.spec.quasi_identifiers
    if model.spec.kind != "records" or not qis:
        return None
    query = (
        f"select 'k_anonymity' as kind, {_lit(', '.join(qis))} as column_name, count(*) as hits "
        f"from (select count(*) as n from __COMMONS_BATCH__ group by {', '.join(map(_q, qis))}) as g "
        f"where n < {model.spec.k} having count(*) > 0"
    )
    return Rule(
        "k_anonymity",
        query,
        f"{{model}}: {{hits}} combination(s) of ({{column_name}}) shared by fewer than k={model.spec.k} rows",
    )


def l_diversity_rules(model: PublishedModel) -> list[Rule]:
    """No group of quasi-identifiers in which every member shares the same sensitive value."""
    qis = model.spec.quasi_identifiers
    rules = []
    for column in model.spec.sensitive:
        query = (
            f"select 'l_diversity' as kind, {_lit(column)} as column_name, count(*) as hits from ("
            f"select count(distinct {_q(column)}) as values, count({_q(column)}) as known "
            f"from __COMMONS_BATCH__ group by {', '.join(map(_q, qis)) or 'true'}) as g "
            f"where values = 1 having count(*) > 0"
        )
        rules.append(
            Rule("l_diversity", query, "{model}.{column_name}: {hits} group(s) whose members all share one value")
        )
    return rules


def small_cell_rules(model: PublishedModel) -> list[Rule]:
    """Aggregates: every published count is at least k, or suppressed (null)."""
    return [
        Rule(
            "small_cells",
            f"select 'small_cells' as kind, {_lit(column)} as column_name, count(*) as hits from __COMMONS_BATCH__ "
            f"where {_q(column)} < {model.spec.k} having count(*) > 0",
            f"{{model}}.{{column_name}}: {{hits}} cell(s) below k={model.spec.k} are not suppressed",
        )
        for column in model.spec.count_columns
    ]


def secondary_suppression_rules(model: PublishedModel) -> list[Rule]:
    """Where a total is published, no group has exactly one suppressed cell (it would be total − others)."""
    rules = []
    for total in model.spec.totals:
        group = ", ".join(map(_q, total.group_by))
        for measure in total.measures:
            m, d = _q(measure), _q(total.dimension)
            query = (
                f"select 'secondary_suppression' as kind, {_lit(measure)} as column_name, count(*) as hits from ("
                f"select count(*) filter (where {d} <> {_lit(total.total_value)} and {m} is null) as hidden, "
                f"bool_or({d} = {_lit(total.total_value)} and {m} is not null) as has_total "
                f"from __COMMONS_BATCH__ group by {group}) as g "
                f"where has_total and hidden = 1 having count(*) > 0"
            )
            rules.append(
                Rule(
                    "secondary_suppression",
                    query,
                    "{model}.{column_name}: {hits} group(s) where the one suppressed cell equals total minus the others",
                )
            )
    return rules


def cross_release_rules(model: PublishedModel, release_ids: str) -> list[Rule]:
    """Release-scoped identifiers are new: none was published by the previous release of this dataset."""
    return [
        Rule(
            "cross_release",
            f"select 'cross_release' as kind, {_lit(c.name)} as column_name, count(*) as hits "
            f"from __COMMONS_BATCH__ as b join {release_ids} as l "
            f"on l.dataset = {_lit(model.dataset)} and l.release_id = b.{_q(c.name)} having count(*) > 0",
            "{model}.{column_name}: {hits} identifier(s) already published by the previous release",
        )
        for c in model.columns
        if c.privacy == "release_id"
    ]


# A published value that could be a hex digest (md5 … sha512): only those are compared with hashes.
_HEX_DIGEST = "^[0-9a-f]{32,128}$"


def source_identifier_rules(model: PublishedModel, policy: Policy) -> list[Rule]:
    """No published value equals a direct identifier of the source, no published value is a hash of a direct
    identifier or of a source key, and no release id equals a source key. One rule per source table."""
    columns = text_columns(model)
    release_ids = [c.name for c in model.columns if c.privacy == "release_id" and c.name in columns]
    if not columns:
        return []
    published = " union ".join(
        f"select distinct {_lit(c)} as column_name, {_q(c)}::text as value, {str(c in release_ids).lower()} "
        f"as is_release_id from {_BATCH} where {_q(c)} is not null"
        for c in columns
    )
    rules = []
    for table, classes in sorted(policy.sources.items()):
        direct = [c for c, cls in sorted(classes.items()) if cls == "direct_identifier"]
        keys = [c for c, cls in sorted(classes.items()) if cls == "internal_id"]
        # (value, kind): a direct identifier may appear nowhere; a key only matters in a release id (a
        # category may well be "12"); a hash may appear nowhere, and only a hex-looking value can be one.
        values = [(f"s.{_q(c)}::text", "'direct'") for c in direct]
        values += [(f"s.{_q(c)}::text", "'key'") for c in keys if release_ids]
        values += [(h.format(v=f"s.{_q(c)}::text"), "'hash'") for c in direct + keys for h in _HASHES]
        if not values:
            continue
        lateral = ", ".join(f"({v}, {kind})" for v, kind in values)
        query = (
            f"with published as ({published}), "
            f"source_values as (select h.value, h.kind from {_q(policy.source_schema)}.{_q(table)} as s "
            f"cross join lateral (values {lateral}) as h(value, kind) where h.value is not null) "
            f"select 'source_identifier' as kind, p.column_name, count(*) as hits from published as p "
            f"where exists (select 1 from source_values as v where v.value = p.value and ("
            f"v.kind = 'direct' or (v.kind = 'key' and p.is_release_id) "
            f"or (v.kind = 'hash' and p.value ~ '{_HEX_DIGEST}'))) group by p.column_name"
        )
        rules.append(
            Rule(
                "source_identifier",
                query,
                f"{{model}}.{{column_name}}: {{hits}} value(s) equal (or hash) an identifier of the source's {table}",
            )
        )
    return rules


def build_rules(model: PublishedModel, policy: Policy, release_ids: str) -> list[Rule]:
    rules = [r for r in [detector_rule(model), k_anonymity_rule(model)] if r]
    return (
        rules
        + l_diversity_rules(model)
        + small_cell_rules(model)
        + secondary_suppression_rules(model)
        + cross_release_rules(model, release_ids)
        + source_identifier_rules(model, policy)
    )


def _quiet_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.ERROR)


_BATCH = "__COMMONS_BATCH__"
_LONE_COLON = re.compile(r"(?<!:):(?!:)")


def for_gx(query: str) -> str:
    """Make our SQL safe for UnexpectedRowsExpectation, which runs `str.format(batch=…)` then SQLAlchemy's
    `text()`: double the braces of regex quantifiers and escape the colons `text()` would read as binds."""
    query = query.replace("{", "{{").replace("}", "}}")
    return _LONE_COLON.sub(r"\\:", query).replace(_BATCH, "{batch}")


def _findings_of(item, meta: dict, model: PublishedModel, rules: list[Rule]) -> list[Finding]:
    if meta.get("check") == "allow_list":
        mismatched = ((item.result or {}).get("details") or {}).get("mismatched") or {}
        actual = [c for c in model.column_names if c not in mismatched.get("missing", [])]
        return check_allow_list(actual + list(mismatched.get("unexpected", [])), model)
    rule = rules[meta["rule"]]
    return [
        Finding(
            f"{rule.check}:{row['kind']}" if rule.check == "detectors" else rule.check,
            row["column_name"],
            int(row["hits"]),
            rule.message.format(model=model.name, **row),
        )
        for row in ((item.result or {}).get("details") or {}).get("unexpected_rows", [])
    ]


def run_gate(info, model: PublishedModel, policy: Policy, release_ids: str) -> list[Finding]:
    """Run the model's GX suite against the warehouse; return the findings (counts and names only)."""
    _quiet_gx()
    import great_expectations as gx  # lazily: importing GX adds seconds to loading the code location
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_postgres(name="warehouse", connection_string=info.sqlalchemy_url())
    asset = source.add_table_asset(name=model.name, table_name=model.name, schema_name=model.schema)
    batch = asset.add_batch_definition_whole_table("whole_table")
    rules = build_rules(model, policy, release_ids)
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=model.column_names, exact_match=True, meta={"check": "allow_list"}
        )
    ] + [
        gxe.UnexpectedRowsExpectation(unexpected_rows_query=for_gx(rule.query), meta={"check": rule.check, "rule": i})
        for i, rule in enumerate(rules)
    ]
    suite = context.suites.add(gx.ExpectationSuite(name=f"privacy_gate_{model.name}", expectations=expectations))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"privacy_gate_{model.name}", data=batch, suite=suite)
    )
    # COMPLETE is safe here: every query above projects only kinds, column names and counts.
    result = validation.run(result_format="COMPLETE")
    findings: list[Finding] = []
    for item in result.results:
        if item.success:
            continue
        meta = item.expectation_config.meta or {}
        found = _findings_of(item, meta, model, rules)
        # Fail closed: a rule that did not succeed blocks, even when it says nothing we can read.
        findings += found or [
            Finding(meta.get("check", "unknown"), None, 1, f"{model.name}: the {meta.get('check')} rule failed to run")
        ]
    return findings
