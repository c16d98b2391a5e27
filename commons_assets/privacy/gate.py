"""The privacy gate: what must hold on a published table before a single file is written.

The rules are generated from the policy and run as a Great Expectations 1.x suite (one per published table,
built in an ephemeral context, never edited by hand). Every rule is SQL whose "unexpected rows" carry only a
kind, a column name and a count (`kind, column_name, hits`): never a value. So a finding can be logged,
shown in the UI and kept in GX results without leaking what it found.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import dataclass
from typing import ClassVar

from psycopg import sql

from commons_assets.privacy.policy import Policy, PublishedModel

TEXT_TYPES = ("text", "varchar", "character varying")


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


def _render(query: sql.Composable) -> str:
    """A rule's SQL as text: GX's UnexpectedRowsExpectation takes a string. Every identifier and literal in it
    was quoted by psycopg.sql; no connection is needed for that (psycopg's default adapters, UTF-8)."""
    return query.as_string(None)


def _ids(columns) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, columns))


def text_columns(model: PublishedModel) -> list[str]:
    return [c.name for c in model.columns if c.data_type in TEXT_TYPES]


def detector_rule(model: PublishedModel) -> Rule | None:
    """Every text column, whatever its name, scanned ONCE by every identifier detector. Release ids are the
    exception: release_id_rules holds them to a stricter shape than any detector could (a random UUID), and
    a million distinct ids would cost the detectors a minute at national scale."""
    from commons_assets.privacy import detectors

    columns = [c for c in text_columns(model) if c not in release_id_columns(model)]
    if not columns:
        return None
    # scan_sql() quotes its columns itself; its text holds regex braces, so it is inserted, never formatted.
    scan = sql.SQL(detectors.scan_sql(_BATCH, columns))
    values = sql.SQL(", ").join(
        sql.SQL("({}, {}, s.{})").format(
            sql.Literal(d.NAME), sql.Literal(c), sql.Identifier(detectors.scan_alias(d.NAME, c))
        )
        for d in detectors.DETECTORS
        for c in columns
    )
    query = sql.SQL(
        "select v.kind, v.column_name, v.hits from ({scan}) as s "
        "cross join lateral (values {values}) as v(kind, column_name, hits) where v.hits > 0"
    ).format(scan=scan, values=values)
    return Rule("detectors", _render(query), "{model}.{column_name}: {hits} value(s) look like {kind}")


def release_id_columns(model: PublishedModel) -> list[str]:
    return [c.name for c in model.columns if c.privacy == "release_id"]


# What release_scoped_id() writes: gen_random_uuid()'s text form (a version 4 UUID, lower case).
_RANDOM_UUID = "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


def release_id_rules(model: PublishedModel) -> list[Rule]:
    """A release id is a random UUID (the release_scoped_id() macro) and nothing else: not a source key, not
    a hash, not a counter. Anything of another shape blocks, so no detector needs to read them."""
    return [
        Rule(
            "release_id_shape",
            _render(
                sql.SQL(
                    "select 'release_id_shape' as kind, {name} as column_name, count(*) as hits "
                    "from {batch} where {c} is null or {c}::text !~ {shape} having count(*) > 0"
                ).format(name=sql.Literal(c), batch=_BATCH_SQL, c=sql.Identifier(c), shape=sql.Literal(_RANDOM_UUID))
            ),
            "{model}.{column_name}: {hits} release id(s) not drawn by release_scoped_id() (a random UUID); "
            "build release ids with that macro",
        )
        for c in release_id_columns(model)
    ]


def k_anonymity_rule(model: PublishedModel) -> Rule | None:
    """Record-level tables: every combination of quasi-identifiers is shared by at least k rows, or, with a
    person key, by at least k distinct persons (person_key_rules)."""
    qis = model.spec.quasi_identifiers
    if model.spec.kind != "records" or not qis:
        return None
    if model.spec.person_key is not None:
        return None  # measured in persons instead: person_key_rules
    query = sql.SQL(
        "select 'k_anonymity' as kind, {name} as column_name, count(*) as hits "
        "from (select count(*) as n from {batch} group by {qis}) as g "
        "where n < {k} having count(*) > 0"
    ).format(name=sql.Literal(", ".join(qis)), batch=_BATCH_SQL, qis=_ids(qis), k=sql.Literal(model.spec.k))
    return Rule(
        "k_anonymity",
        _render(query),
        f"{{model}}: {{hits}} combination(s) of ({{column_name}}) shared by fewer than k={model.spec.k} rows",
    )


def person_key_problems(conn, model: PublishedModel) -> list[Finding]:
    """Fail closed before measuring anything in persons: the declared relation must exist in the warehouse and
    hold the person key and every column a group is made of, under the published names."""
    key = model.spec.person_key
    if key is None:
        return []
    where = f"{model.name}: meta.publish.person_key"
    if model.person_relation is None:
        return [Finding("person_key", key.column, 1, f"{where}: model {key.model!r} was not resolved")]
    schema, name = model.person_relation
    found = {
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
            (schema, name),
        ).fetchall()
    }
    if not found:
        return [Finding("person_key", key.column, 1, f"{where}: relation {schema}.{name} (model {key.model}) "
                        "does not exist in the warehouse; build it, or fix person_key.model")]
    missing = [c for c in [key.column, *map(key.upstream, model.group_columns)] if c not in found]
    return [
        Finding("person_key", column, 1, f"{where}: relation {schema}.{name} (model {key.model}) has no column "
                f"{column!r}; it must hold the person key and every column of a group "
                f"({', '.join(map(key.upstream, model.group_columns)) or 'none'}; person_key.columns maps a published "
                "column to another name)")
        for column in missing
    ]


def persons_per_group(model: PublishedModel, batch: sql.Composable | None = None) -> sql.Composable | None:
    """One row per published group with a person key: the group's columns (under the published names), then
    `published` (its rows in `batch`; aggregates: its cells with a count shown), `upstream` (its rows in the
    person-key relation) and `persons` (distinct persons there). Records group by their quasi-identifiers (none:
    the whole table, one row), aggregates by every column but the counts. A group absent from the relation has 0
    persons; a row with `published` = 0 is a group of the relation that the published table does not hold.
    `batch` is the published table (default: the GX batch placeholder of the gate's rules).

    The gate's person rules and the risk report (privacy/risk.py) both read this query, so the figures published
    beside a release are the very ones the gate decided on. None without a (resolved) person key."""
    key = model.spec.person_key
    if key is None or model.person_relation is None:
        return None
    batch = _BATCH_SQL if batch is None else batch
    groups = model.group_columns
    # Both sides as text under the published names, so that a type difference between them cannot fail the
    # union; `group by` takes nulls as equal, as the published groups do.
    keys = sql.SQL("").join(sql.SQL("{c}::text as {c}, ").format(c=sql.Identifier(c)) for c in groups)
    upstream_keys = sql.SQL("").join(
        sql.SQL("{u}::text as {c}, ").format(u=sql.Identifier(key.upstream(c)), c=sql.Identifier(c)) for c in groups
    )
    grouped = sql.SQL("group by {}").format(_ids(groups)) if groups else sql.SQL("")
    upstream_grouped = sql.SQL("group by {}").format(_ids(map(key.upstream, groups))) if groups else sql.SQL("")
    outer_keys = sql.SQL("").join(sql.SQL("{}, ").format(sql.Identifier(c)) for c in groups)
    if model.spec.kind == "records":
        shown = sql.SQL("count(*)")
    else:
        shown = sql.SQL("count(*) filter (where {})").format(
            sql.SQL(" or ").join(sql.SQL("{} is not null").format(sql.Identifier(c)) for c in model.spec.count_columns)
        )
    return sql.SQL(
        "select {outer_keys}sum(published) as published, sum(upstream) as upstream, sum(persons) as persons from ("
        "select {keys}{shown} as published, 0 as upstream, 0 as persons from {batch} {grouped} "
        "union all "
        "select {upstream_keys}0 as published, count(*) as upstream, count(distinct {person}) as persons "
        "from {relation} {upstream_grouped}"
        ") as u {outer_grouped}"
    ).format(
        outer_keys=outer_keys, keys=keys, upstream_keys=upstream_keys, shown=shown, batch=batch,
        grouped=grouped, upstream_grouped=upstream_grouped,
        person=sql.Identifier(key.column), relation=sql.Identifier(*model.person_relation),
        outer_grouped=grouped,
    )


def person_key_rules(model: PublishedModel) -> list[Rule]:
    """With a person key: each published group (records: a combination of quasi-identifiers; aggregates: a
    cell with a published count) stands for at least k distinct persons, measured on the person-key relation,
    which is never published, grouped like the published table (persons_per_group). A published group missing
    from that relation counts 0 persons (fail closed); for records, a group whose row count differs between the
    two means the relation does not hold the published rows, which blocks too."""
    key = model.spec.person_key
    measured = persons_per_group(model)
    if key is None or measured is None:
        return []
    groups = model.group_columns
    if model.spec.kind == "records" and not groups:
        return []
    name = ", ".join(groups) if model.spec.kind == "records" else ", ".join(model.spec.count_columns)
    check = "k_anonymity" if model.spec.kind == "records" else "small_cells"
    what = (
        "combination(s) of ({column_name}) shared by"
        if model.spec.kind == "records"
        else "cell(s) of {column_name} published for"
    )
    rules = [
        Rule(
            check,
            _render(
                sql.SQL(
                    "select {check} as kind, {name} as column_name, count(*) as hits from ({measured}) as g "
                    "where published > 0 and persons < {k} having count(*) > 0"
                ).format(
                    check=sql.Literal(check), name=sql.Literal(name), measured=measured, k=sql.Literal(model.spec.k)
                )
            ),
            f"{{model}}: {{hits}} {what} fewer than k={model.spec.k} persons ({key.column} of {key.model})",
        )
    ]
    if model.spec.kind == "records":
        rules.append(
            Rule(
                "person_key",
                _render(
                    sql.SQL(
                        "select 'person_key' as kind, {name} as column_name, count(*) as hits from ({measured}) as g "
                        "where published > 0 and upstream <> published having count(*) > 0"
                    ).format(name=sql.Literal(key.column), measured=measured)
                ),
                f"{{model}}: {{hits}} group(s) whose rows differ from those of {key.model}: the person key's model "
                "must hold the published rows (after recoding and suppression, before release ids are drawn)",
            )
        )
    return rules


def l_diversity_rules(model: PublishedModel) -> list[Rule]:
    """No group of quasi-identifiers in which every member shares the same sensitive value."""
    qis = model.spec.quasi_identifiers
    rules = []
    for column in model.spec.sensitive:
        query = sql.SQL(
            "select 'l_diversity' as kind, {name} as column_name, count(*) as hits from ("
            "select count(distinct {c}) as values, count({c}) as known "
            "from {batch} group by {qis}) as g "
            "where values = 1 having count(*) > 0"
        ).format(
            name=sql.Literal(column), c=sql.Identifier(column), batch=_BATCH_SQL,
            # No quasi-identifier: the whole table is one group (`group by ()`; PostgreSQL refuses `group by true`).
            qis=_ids(qis) if qis else sql.SQL("()"),
        )
        rules.append(
            Rule(
                "l_diversity",
                _render(query),
                "{model}.{column_name}: {hits} group(s) whose members all share one value",
            )
        )
    return rules


def small_cell_rules(model: PublishedModel) -> list[Rule]:
    """Aggregates: every published count is at least k, or suppressed (null)."""
    return [
        Rule(
            "small_cells",
            _render(
                sql.SQL(
                    "select 'small_cells' as kind, {name} as column_name, count(*) as hits from {batch} "
                    "where {c} < {k} having count(*) > 0"
                ).format(
                    name=sql.Literal(column), batch=_BATCH_SQL, c=sql.Identifier(column), k=sql.Literal(model.spec.k)
                )
            ),
            f"{{model}}.{{column_name}}: {{hits}} cell(s) below k={model.spec.k} are not suppressed",
        )
        for column in model.spec.count_columns
    ]


def secondary_suppression_rules(model: PublishedModel) -> list[Rule]:
    """Where a total is published, no group has exactly one suppressed cell (it would be total − others)."""
    rules = []
    for total in model.spec.totals:
        for measure in total.measures:
            query = sql.SQL(
                "select 'secondary_suppression' as kind, {name} as column_name, count(*) as hits from ("
                "select count(*) filter (where {d} <> {total} and {m} is null) as hidden, "
                "bool_or({d} = {total} and {m} is not null) as has_total "
                "from {batch} group by {group}) as g "
                "where has_total and hidden = 1 having count(*) > 0"
            ).format(
                name=sql.Literal(measure), d=sql.Identifier(total.dimension), m=sql.Identifier(measure),
                total=sql.Literal(total.total_value), batch=_BATCH_SQL,
                # A total of the whole table has no group_by: the table is then one group, `group by ()`.
                group=_ids(total.group_by) if total.group_by else sql.SQL("()"),
            )
            rules.append(
                Rule(
                    "secondary_suppression",
                    _render(query),
                    "{model}.{column_name}: {hits} group(s) where the one suppressed cell equals total minus the "
                    "others",
                )
            )
    return rules


def cross_release_rules(model: PublishedModel, release_ids: str) -> list[Rule]:
    """Release-scoped identifiers are new: none was published by the previous release of this dataset."""
    return [
        Rule(
            "cross_release",
            _render(
                sql.SQL(
                    "select 'cross_release' as kind, {name} as column_name, count(*) as hits "
                    "from {batch} as b join {ledger} as l "
                    "on l.dataset = {dataset} and l.release_id = b.{c} having count(*) > 0"
                ).format(
                    name=sql.Literal(c.name), batch=_BATCH_SQL, ledger=sql.SQL(release_ids),
                    dataset=sql.Literal(model.dataset), c=sql.Identifier(c.name),
                )
            ),
            "{model}.{column_name}: {hits} identifier(s) already published by the previous release",
        )
        for c in model.columns
        if c.privacy == "release_id"
    ]


# Hash functions an "anonymised" identifier is most often made with (a hash of a guessable value is a pseudonym
# anyone can recompute), with the length of their hex digest.
_HASHES = (
    (32, "md5({v})"),
    (56, "encode(sha224(convert_to({v}, 'UTF8')), 'hex')"),
    (64, "encode(sha256(convert_to({v}, 'UTF8')), 'hex')"),
    (128, "encode(sha512(convert_to({v}, 'UTF8')), 'hex')"),
)


# What the text form of a typed source column looks like, as a predicate on `value`: a published value of any
# other shape cannot equal one of its values, so when no published value has that shape the column is not
# read at all. The length comes first: PostgreSQL then runs the regex on almost nothing. Text columns (and
# types not listed) have no shape: they are always compared.
_INTEGER_SHAPE = "length(value) <= 20 and value ~ '^-?[0-9]+$'"
_INET_SHAPE = "(length(value) <= 18 and value ~ '^[0-9]{1,3}([.][0-9]{1,3}){3}(/[0-9]+)?$') or strpos(value, ':') > 0"
_SHAPES = {
    "smallint": _INTEGER_SHAPE,
    "integer": _INTEGER_SHAPE,
    "bigint": _INTEGER_SHAPE,
    "numeric": "value ~ '^-?[0-9]+([.][0-9]+)?$'",
    "uuid": "length(value) = 36 and value ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'",
    "inet": _INET_SHAPE,
    "cidr": _INET_SHAPE,
}
# How a typed value is written when published: inet's `::text` always carries the mask ("10.0.0.8/32"), its
# display form (abbrev) does not, as anyone would write the address.
_TEXT_FORMS = {"inet": "abbrev({v})", "cidr": "abbrev({v})"}
# Memory PostgreSQL may give the gate's hash joins (the published values, up to a few million release ids)
# before it spills them to disk: server memory, not ours.
GATE_WORK_MEM = "128MB"


def source_column_types(conn, schema: str) -> dict[str, dict[str, str]]:
    """{table: {column: data_type}} of the source schema, as information_schema names the types."""
    types: dict[str, dict[str, str]] = {}
    for table, column, data_type in conn.execute(
        "select table_name, column_name, data_type from information_schema.columns where table_schema = %s "
        "order by table_name, ordinal_position",
        (schema,),
    ).fetchall():
        types.setdefault(table, {})[column] = data_type
    return types


def policy_source_types(conn, policy: Policy) -> dict[str, dict[str, str]]:
    """source_column_types() of every schema under the policy, keyed like policy.sources."""
    types: dict[str, dict[str, str]] = {}
    for schema in policy.source_schemas():
        found = source_column_types(conn, schema)
        for table, key in policy.tables_of(schema).items():
            types[key] = found.get(table, {})
    return types


def source_identifier_rules(
    model: PublishedModel, policy: Policy, source_types: dict[str, dict[str, str]] | None = None
) -> list[Rule]:
    """No published value equals a direct identifier of the source, no published value is a hash of a direct
    identifier or of a source key, and no release id equals a source key. One rule for all source tables; a
    finding names the table (as its `kind`).

    Cost matters at national scale (tens of millions of events):
    - each source column is read only when one of the published values could match it, a condition
      PostgreSQL evaluates once before the scan (a one-time filter): a typed column (integer, uuid, inet…,
      from `source_types`; none given = all compared as text) only when some published value has the shape of
      its text form, a hash only when some published value is a hex string of that digest's length; the
      usual release computes no hash at all;
    - a text column is read once, straight into the join;
    - a plain join whose hash table is built on the published values (the smaller side), not a semi-join
      PostgreSQL would build on the tens of millions of source values."""
    columns = text_columns(model)
    release_ids = [c for c in release_id_columns(model) if c in columns]
    if not columns:
        return []
    published = sql.SQL(" union all ").join(
        sql.SQL(
            "select distinct {name} as column_name, {c}::text as value, {is_id} as is_release_id "
            "from {batch} where {c} is not null"
        ).format(name=sql.Literal(c), c=sql.Identifier(c), is_id=sql.Literal(c in release_ids), batch=_BATCH_SQL)
        for c in columns
    )
    # Flags computed in one pass over the published values, each a one-time filter on a source scan. The
    # shapes and hash templates are this module's own constant SQL: inserted as they are (regex braces).
    flags: dict[str, sql.Composable] = {
        f"hash_{n}": sql.SQL("bool_or(length(value) = {n} and value ~ '^[0-9a-f]+$')").format(n=sql.Literal(n))
        for n, _ in _HASHES
    }
    branches: list[sql.Composable] = []
    # Every source under the policy, whatever its schema (`source_types` is keyed like policy.sources).
    for table, classes in sorted(policy.sources.items()):
        direct = [c for c, cls in sorted(classes.items()) if cls == "direct_identifier"]
        keys = [c for c, cls in sorted(classes.items()) if cls == "internal_id"]
        types = (source_types or {}).get(table, {})
        source = sql.Identifier(*policy.relation(table))
        # (column, kind): a direct identifier may appear nowhere; a key only matters in a release id (a
        # category may well be "12"); a hash may appear nowhere.
        plain = [(c, "direct") for c in direct] + [(c, "key") for c in keys if release_ids]

        def text_form(column: str, types: dict[str, str] = types) -> sql.Composable:
            template = _TEXT_FORMS.get(types.get(column, "text"), "{v}::text")
            return sql.SQL(template).format(v=sql.Identifier("s", column))

        # One SELECT per column rather than a lateral VALUES per row: PostgreSQL streams each column straight
        # into the join, several times faster on tens of millions of rows.
        for c, kind in plain:
            branch = sql.SQL(
                "select {table} as source_table, {value} as value, {kind} as kind from {source} as s"
            ).format(table=sql.Literal(table), value=text_form(c), kind=sql.Literal(kind), source=source)
            shape = _SHAPES.get(types.get(c, "text"))
            if shape:
                flag = f"shape_{len(flags)}"
                flags[flag] = sql.SQL("bool_or({only_ids}({shape}))").format(
                    only_ids=sql.SQL("is_release_id and " if kind == "key" else ""), shape=sql.SQL(shape)
                )
                branch = sql.SQL("{branch} where (select {flag} from flags)").format(
                    branch=branch, flag=sql.Identifier(flag)
                )
            branches.append(branch)
        for length, function in _HASHES:
            for c in direct + keys:
                branches.append(
                    sql.SQL(
                        "select {table} as source_table, {value} as value, 'hash' as kind from {source} as s "
                        "where (select {flag} from flags)"
                    ).format(
                        table=sql.Literal(table),
                        value=sql.SQL(function).format(v=text_form(c)),
                        source=source,
                        flag=sql.Identifier(f"hash_{length}"),
                    )
                )
    if not branches:
        return []
    computed = sql.SQL(", ").join(
        sql.SQL("{expr} as {name}").format(expr=expr, name=sql.Identifier(name)) for name, expr in flags.items()
    )
    query = sql.SQL(
        "with published as ({published}), "
        "flags as (select {computed} from published), "
        "source_values as ({union}) "
        "select v.source_table as kind, p.column_name, count(distinct p.value) as hits "
        "from source_values as v join published as p on p.value = v.value "
        "and (v.kind in ('direct', 'hash') or (v.kind = 'key' and p.is_release_id)) "
        "group by v.source_table, p.column_name"
    ).format(published=published, computed=computed, union=sql.SQL(" union all ").join(branches))
    return [
        Rule(
            "source_identifier",
            _render(query),
            "{model}.{column_name}: {hits} value(s) equal (or hash) an identifier of the source's {kind}",
        )
    ]


# What a spreadsheet (Excel, LibreOffice, Google Sheets) runs as a formula when a reuser opens the CSV: a cell
# starting with =, +, -, @, TAB or CR (OWASP's CSV injection list). A negative number is data, not a formula:
# `-12.5` passes. `+33` does not: PostgreSQL never writes a number with a leading plus, so such a value is text
# (a phone prefix, `+cmd|…`), and it blocks. An `@` inside a value (`a@b`) is harmless, only a leading one runs.
_FORMULA_START = "^[=+@\\t\\r]|^-"
_NEGATIVE_NUMBER = "^-[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$"
# Every C0 and C1 control character (TAB, CR and LF included: no published cell holds one) and the bidi controls
# that reorder what a reader sees (U+200E/F, U+061C, U+202A–202E, U+2066–2069). PostgreSQL's regex escapes, so
# the rule's text holds no control character itself.
_CONTROL = "[\\u0001-\\u001f\\u007f-\\u009f\\u200e\\u200f\\u061c\\u202a-\\u202e\\u2066-\\u2069]"
# The most characters a spreadsheet cell holds (Excel: 32,767): a longer value is cut when a reuser opens the CSV,
# and no category, label or code of a published table is that long; such a value is free text that got through.
SPREADSHEET_CELL_MAX = 32_767
_HOSTILE_KINDS = ("formula", "control", "length")


def hostile_text_rule(model: PublishedModel) -> Rule | None:
    """No published text a spreadsheet would run, no control or bidi character, none longer than a spreadsheet
    cell: a reuser opens our CSV in a spreadsheet. Such a value blocks (kind `formula`, `control` or `length`, the
    column and a count, never the value), so
    that the source or the model is fixed; the gate never rewrites data silently. Release ids are left out:
    release_id_rules already holds them to the shape of a random UUID."""
    columns = [c for c in text_columns(model) if c not in release_id_columns(model)]
    if not columns:
        return None
    counts, values = [], []
    for i, c in enumerate(columns):
        column = sql.Identifier(c)
        counts += [
            sql.SQL("count(*) filter (where {c} ~ {start} and {c} !~ {number}) as {a}").format(
                c=column,
                start=sql.Literal(_FORMULA_START),
                number=sql.Literal(_NEGATIVE_NUMBER),
                a=sql.Identifier(f"formula_{i}"),
            ),
            sql.SQL("count(*) filter (where {c} ~ {control}) as {a}").format(
                c=column, control=sql.Literal(_CONTROL), a=sql.Identifier(f"control_{i}")
            ),
            sql.SQL("count(*) filter (where length({c}) > {most}) as {a}").format(
                c=column, most=sql.Literal(SPREADSHEET_CELL_MAX), a=sql.Identifier(f"length_{i}")
            ),
        ]
        values += [
            sql.SQL("({kind}, {name}, s.{a})").format(
                kind=sql.Literal(kind), name=sql.Literal(c), a=sql.Identifier(f"{kind}_{i}")
            )
            for kind in _HOSTILE_KINDS
        ]
    query = sql.SQL(
        "select v.kind, v.column_name, v.hits from (select {counts} from {batch}) as s "
        "cross join lateral (values {values}) as v(kind, column_name, hits) where v.hits > 0"
    ).format(counts=sql.SQL(", ").join(counts), batch=_BATCH_SQL, values=sql.SQL(", ").join(values))
    return Rule(
        "hostile_text",
        _render(query),
        "{model}.{column_name}: {hits} hostile value(s) ({kind}: a leading =, +, -, @, TAB or CR a spreadsheet "
        f"would run, a control or bidi character, or more than {SPREADSHEET_CELL_MAX:,} characters, what a "
        "spreadsheet cell holds); fix the source or the model, the gate does not rewrite data",
    )


def subtraction_groupings(model: PublishedModel) -> list[tuple[str, list[str], str | None]]:
    """What a reader would subtract, per published table: (label, dimensions, measure). Records: the rows of
    each combination of quasi-identifiers, and of each combination with each sensitive value (a status that
    changed moves two such groups by one, not the combination). Aggregates: each count column, per
    combination of every other column. Release ids are never a dimension: they are new at every release."""
    ids = set(release_id_columns(model))
    if model.spec.kind == "records":
        base = list(model.spec.quasi_identifiers) or ([model.spec.period_column] if model.spec.period_column else [])
        return [(", ".join(base) or "*", base, None)] + [
            (", ".join([*base, s]), [*base, s], None) for s in model.spec.sensitive
        ]
    dims = [c for c in model.column_names if c not in model.spec.count_columns and c not in ids]
    return [(m, dims, m) for m in model.spec.count_columns]


def subtraction_rules(model: PublishedModel, previous: str | None = None) -> list[Rule]:
    """No subtraction attack (REDTEAM.md 17): in the periods both the previous release and this one cover, no
    group may move by 1 to k−1, or comparing the two releases would single out the few people who moved it (a
    deleted report, a changed status, a report back-dated into a published week, a deleted account).

    `previous` is the ledger table holding what the previous release published of this table (ledger.py,
    `published__<dataset>`, rewritten at each publication; default: the one of the ledger in use). The periods
    compared are those up to the previous release's week (and up to this release's last period); a table
    without `period_column` is compared whole once a release exists. A hidden value (suppressed cell, or a
    group absent from one side) may be anything from 0 to k−1, so a group published on one side only blocks
    unless its value is at least 2k−1 (then it moved by k or more whatever was hidden). Moves of 0 or of k
    and more pass. The models avoid this by freezing published weeks (README « The privacy gate »)."""
    if previous is None:
        from commons_assets.ledger import published_rows_relation

        previous = published_rows_relation(model.dataset)
    k = model.spec.k
    period = model.spec.period_column
    prev = sql.SQL(previous)
    if period:
        p = sql.Identifier(period)
        bound = sql.SQL(
            # per row, then max: no previous release (no row) gives NULL, where least() would ignore a NULL
            "(select max(least(published_in_week, (select max({p})::text from {batch}))) from {prev})"
        ).format(prev=prev, p=p, batch=_BATCH_SQL)
        covered = sql.SQL("{p}::text <= (select week from bound)").format(p=p)
    else:
        bound = sql.SQL("case when exists (select 1 from {prev}) then 'whole' end").format(prev=prev)
        covered = sql.SQL("(select week from bound) is not null")
    rules = []
    for label, dims, measure in subtraction_groupings(model):
        keys = [sql.Identifier(d) for d in dims] or [sql.SQL("1")]
        named = sql.SQL(", ").join(
            sql.SQL("{} as {}").format(key, sql.Identifier(f"d{i}")) for i, key in enumerate(keys)
        )
        group = sql.SQL(", ").join(sql.Identifier(f"d{i}") for i in range(len(keys)))
        if measure:
            m = sql.Identifier(measure)
            sides = sql.SQL(
                "select {named}, {m}::numeric as before, null::numeric as after from {prev} where {covered} "
                "union all select {named}, null::numeric, {m}::numeric from {batch} where {covered}"
            ).format(named=named, m=m, prev=prev, batch=_BATCH_SQL, covered=covered)
            values = sql.SQL("max(before) as before, max(after) as after")
        else:
            sides = sql.SQL(
                "select {named}, 1 as before, 0 as after from {prev} where {covered} "
                "union all select {named}, 0, 1 from {batch} where {covered}"
            ).format(named=named, prev=prev, batch=_BATCH_SQL, covered=covered)
            # a group absent from one side has 0 rows there: possibly suppressed, so unknown below k
            values = sql.SQL("nullif(sum(before), 0) as before, nullif(sum(after), 0) as after")
        query = sql.SQL(
            "with bound as (select {bound} as week) "
            "select 'subtraction' as kind, {label} as column_name, count(*) as hits from ("
            "select {values} from ({sides}) as sides group by {group}) as g "
            "where (before is not null and after is not null and abs(after - before) between 1 and {k1}) "
            "or ((before is null) <> (after is null) and coalesce(before, after) <= {k2}) "
            "having count(*) > 0"
        ).format(
            bound=bound,
            label=sql.Literal(label),
            values=values,
            sides=sides,
            group=group,
            k1=sql.Literal(k - 1),
            k2=sql.Literal(2 * k - 2),
        )
        rules.append(
            Rule(
                "subtraction",
                _render(query),
                f"{{model}} ({{column_name}}): {{hits}} group(s) of weeks the previous release also covered moved "
                f"by 1 to k−1={k - 1}, so comparing the two releases would single out who moved them; publish "
                "past weeks as first published (frozen weeks) or change them by k or more",
            )
        )
    return rules


def build_rules(
    model: PublishedModel, policy: Policy, release_ids: str, source_types: dict[str, dict[str, str]] | None = None
) -> list[Rule]:
    rules = [r for r in [detector_rule(model), k_anonymity_rule(model)] if r]
    return (
        rules
        + release_id_rules(model)
        + l_diversity_rules(model)
        + small_cell_rules(model)
        + person_key_rules(model)
        + secondary_suppression_rules(model)
        + cross_release_rules(model, release_ids)
        + source_identifier_rules(model, policy, source_types)
        + [r for r in [hostile_text_rule(model)] if r]
        + subtraction_rules(model)
    )


def _quiet_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.ERROR)


_BATCH = "__COMMONS_BATCH__"
_BATCH_SQL = sql.SQL(_BATCH)
_LONE_COLON = re.compile(r"(?<!:):(?!:)")
# GX (1.x) puts the batch in as `(SELECT * FROM …) AS subselect`, except in a query holding a JOIN, where it
# leaves the alias to the query and writes a bare `(SELECT * FROM …)`. PostgreSQL 15 and older refuse a
# subquery in FROM without an alias ("subquery in FROM must have an alias"), so in a query with a JOIN every
# use of the batch that has none gets one; in a query without, GX's alias is already there and a second one
# would be a syntax error.
_UNALIASED_BATCH = re.compile(re.escape(_BATCH) + r"(?!\s+as\b)", re.IGNORECASE)
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_JOIN = re.compile(r"\bjoin\b", re.IGNORECASE)


def for_gx(query: str) -> str:
    """Make our SQL safe for UnexpectedRowsExpectation, which runs `str.format(batch=…)` then SQLAlchemy's
    `text()`: double the braces of regex quantifiers, escape the colons `text()` would read as binds, and
    alias the batch where GX does not."""
    has_join = bool(_JOIN.search(_QUOTED.sub(" ", query)))
    query = query.replace("{", "{{").replace("}", "}}")
    query = _LONE_COLON.sub(r"\\:", query)
    if has_join:
        query = _UNALIASED_BATCH.sub("{batch} as batch_rows", query)
    return query.replace(_BATCH, "{batch}")


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


_DRIVER_ERROR = re.compile(r"\((?:psycopg2?|psycopg)\.errors\.(\w+)\)\s*(.*)")
_SQLALCHEMY_ERROR = re.compile(r"\((?:sqlalchemy\.exc\.)?(\w+Error)\)\s*(.*)")
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?![\w.])")


def _exception_messages(info) -> list[str]:
    """Every `exception_message` in a GX result's exception_info, whatever its nesting (per metric or not)."""
    if isinstance(info, dict):
        own = [info["exception_message"]] if info.get("raised_exception") and info.get("exception_message") else []
        return own + [m for value in info.values() for m in _exception_messages(value)]
    return []


def rule_error(exception_info) -> str | None:
    """Why a rule could not run, for the operator: the PostgreSQL error class and the first line of its message
    with every literal masked (quoted text and numbers: PostgreSQL quotes the offending value in some
    messages, e.g. `invalid input syntax for type integer: "…"`). None when GX says nothing."""
    for message in _exception_messages(exception_info):
        first = message.strip().splitlines()[0] if message.strip() else ""
        matched = _DRIVER_ERROR.search(first) or _SQLALCHEMY_ERROR.search(first)
        cls, text = (matched.group(1), matched.group(2)) if matched else ("error", first)
        text = _NUMBER.sub("?", _QUOTED.sub(lambda m: m.group(0)[0] + "…" + m.group(0)[0], text))
        return f"{cls}: {text.strip()}"[:300]
    return None


@functools.cache
def _rule_expectation():
    """UnexpectedRowsExpectation computes two metrics from the same query, its rows and their count, so
    PostgreSQL would run every rule twice. Our rules return a few rows (one per violation: kind, column,
    count), so the rows alone say everything: this subclass asks for them only, and the gate costs half."""
    import great_expectations.expectations as gxe

    class PrivacyRuleExpectation(gxe.UnexpectedRowsExpectation):
        metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.table",)

        def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine=None):
            rows = metrics["unexpected_rows_query.table"]
            return {
                "success": not rows,
                "result": {"observed_value": len(rows), "details": {"unexpected_rows": rows}},
            }

    return PrivacyRuleExpectation


def gate_url(info) -> str:
    """The warehouse URL for the gate's session. Its joins hash the published values (up to a few million
    release ids): with room for that hash table, and merge joins off (the planner cannot know how few source
    values survive the one-time filters, and would sort tens of millions of them to merge), the source
    identifier rule reads each source column once instead of sorting it to disk."""
    from urllib.parse import quote

    options = f"-c work_mem={GATE_WORK_MEM} -c enable_mergejoin=off"
    return f"{info.sqlalchemy_url()}?options={quote(options)}"


def lineage_check(model: PublishedModel, policy: Policy, manifest: dict | None, project_dir) -> list[Finding]:
    """What the sources yml declares, enforced by lineage (privacy/lineage.py): a finding per published column
    computed from a direct identifier or free text of a source. Fails closed without the run's compiled SQL."""
    from commons_assets.privacy.lineage import LineageError, compiled_from_target, lineage_findings

    if manifest is None:
        return [Finding("lineage", None, 1, f"{model.name}: no compiled dbt manifest for this run; lineage unknown")]
    try:
        found = lineage_findings(manifest, policy, compiled_from_target(project_dir, manifest), only=model.name)
    except LineageError as err:
        return [Finding("lineage", None, 1, f"{model.name}: lineage unknown, {err}")]
    return [Finding("lineage", f.column, 1, f.message) for f in found]


def _ensure_previous_release(conn, model: PublishedModel) -> None:
    """The ledger's copy of the previous release that subtraction_rules() reads: empty for a model never
    published (nothing to compare), so that the rule runs instead of failing on a missing table."""
    from commons_assets.ledger import ensure_ledger, ensure_published_rows

    ensure_published_rows(conn, ensure_ledger(conn, usage=[]), model)


def gate_findings(
    info, model: PublishedModel, policy: Policy, release_ids: str, manifest: dict | None, project_dir
) -> list[Finding]:
    """Everything the gate finds on one published model, the one code path of every command that checks it
    (release and validate run it in the model's blocking check): lineage first, from the compiled SQL of this
    run's dbt build (`manifest`; None blocks), then the GX suite on the built table."""
    return lineage_check(model, policy, manifest, project_dir) + run_gate(info, model, policy, release_ids)


def run_gate(info, model: PublishedModel, policy: Policy, release_ids: str) -> list[Finding]:
    """Run the model's GX suite against the warehouse; return the findings (counts and names only). The gate is
    `gate_findings`, which adds the lineage: call this alone only to test the suite's rules."""
    _quiet_gx()
    import great_expectations as gx  # lazily: importing GX adds seconds to loading the code location
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_postgres(name="warehouse", connection_string=gate_url(info))
    asset = source.add_table_asset(name=model.name, table_name=model.name, schema_name=model.schema)
    batch = asset.add_batch_definition_whole_table("whole_table")
    import psycopg

    with psycopg.connect(info.conninfo()) as conn:
        source_types = policy_source_types(conn, policy)
        problems = person_key_problems(conn, model)
        _ensure_previous_release(conn, model)
    rules = build_rules(model, policy, release_ids, source_types)
    if problems:
        # the groups cannot be measured in persons: say why, and do not run rules that would only fail to run
        rules = [r for r in rules if r not in person_key_rules(model)]
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=model.column_names, exact_match=True, meta={"check": "allow_list"}
        )
    ] + [
        _rule_expectation()(unexpected_rows_query=for_gx(rule.query), meta={"check": rule.check, "rule": i})
        for i, rule in enumerate(rules)
    ]
    suite = context.suites.add(gx.ExpectationSuite(name=f"privacy_gate_{model.name}", expectations=expectations))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"privacy_gate_{model.name}", data=batch, suite=suite)
    )
    # COMPLETE is safe here: every query above projects only kinds, column names and counts.
    result = validation.run(result_format="COMPLETE")
    findings: list[Finding] = list(problems)
    for item in result.results:
        if item.success:
            continue
        meta = item.expectation_config.meta or {}
        found = _findings_of(item, meta, model, rules)
        # Fail closed: a rule that did not succeed blocks, even when it says nothing we can read.
        reason = rule_error(getattr(item, "exception_info", None))
        findings += found or [
            Finding(meta.get("check", "unknown"), None, 1,
                    f"{model.name}: the {meta.get('check')} rule failed to run" + (f" ({reason})" if reason else ""))
        ]
    return findings
