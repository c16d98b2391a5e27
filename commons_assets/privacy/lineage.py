"""Column-level lineage: which source columns each published column is computed from, through every model.

What a source yml declares is enforced here, not only by the detectors: a published column fed by a
`direct_identifier` or `free_text` source column blocks the release, whatever the detectors find in its values,
unless the published column's yml allows that derivation with a reason:

    columns:
      - name: email_domain
        meta:
          privacy: public
          derived_from_allowed:
            - {source: users.email, reason: "domaine de l'adresse seulement, jamais la partie locale"}

`source` is the source table as the policy keys it (`table` for the service's schema, `schema.table` for
another) and the column. The lineage is read from the SQL dbt compiled (the manifest's `compiled_code`, or the
files under the project's `target/`), parsed with sqlglot (dialect postgres), its `select *` expanded from the
upstream columns. A count carries no value: `count(x)` and `count(distinct x)` are read as `count(*)`, so a
count of users is not « fed by » their emails (a sum, a min or a string_agg still is). Filters and joins do
not feed a column either: only the expressions a column is computed from do. SQL that cannot be read blocks
the release (fail closed), naming the model.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

BLOCKING_SOURCE_CLASSES = frozenset({"direct_identifier", "free_text"})


class LineageError(Exception):
    """The lineage of a model could not be worked out: the release is blocked."""


@dataclass(frozen=True)
class Feed:
    """A source column a published column is computed from, and the model files it goes through."""

    source: str  # the policy's key of the source table
    column: str
    via: tuple[str, ...]  # model files, from the published model down to the staging model


@dataclass(frozen=True)
class LineageFinding:
    model: str
    column: str
    source: str
    source_column: str
    privacy: str
    model_file: str
    message: str


def blind_counts(expression):
    """`count(x)`, `count(distinct x)` → `count(*)`: a count carries no value of x (see the module doc)."""
    from sqlglot import exp

    def _blind(node):
        if isinstance(node, exp.Count):
            return exp.Count(this=exp.Star())
        return node

    return expression.transform(_blind)


def select_lineage(compiled_sql: str, schema: Mapping) -> dict[str, set[tuple[str, str, str]]]:
    """{output column: {(schema, table, column)}} of one SELECT, relations as written in it (lower case).

    `schema` is sqlglot's {catalog: {schema: {table: {column: type}}}} of the relations it reads, so that
    `select *` can be expanded. Raises LineageError when the SQL cannot be read."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.lineage import lineage
    from sqlglot.optimizer.qualify import qualify

    try:
        expression = sqlglot.parse_one(compiled_sql, dialect="postgres")
        if not isinstance(expression, exp.Query):
            raise LineageError("not a SELECT")
        qualified = qualify(blind_counts(expression), schema=dict(schema), dialect="postgres")
        result: dict[str, set[tuple[str, str, str]]] = {}
        for column in qualified.named_selects:
            if column == "*":
                raise LineageError("a `select *` whose columns are unknown")
            feeds: set[tuple[str, str, str]] = set()
            for node in lineage(column, qualified, schema=dict(schema), dialect="postgres").walk():
                if node.downstream or not isinstance(node.source, exp.Table):
                    continue
                leaf = sqlglot.parse_one(node.name, dialect="postgres")
                feeds.add((node.source.db.lower(), node.source.name.lower(), leaf.name.lower()))
            result[column.lower()] = feeds
        return result
    except LineageError:
        raise
    except Exception as err:  # sqlglot raises many kinds; any of them means we cannot vouch for the model
        raise LineageError(f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}") from err


def compiled_from_target(project_dir: Path, manifest: Mapping) -> Callable[[Mapping], str | None]:
    """Compiled SQL of a model: the manifest's `compiled_code` (written by `dbt compile`/`build`), else the newest
    file dbt compiled for it under `target/` (dagster-dbt gives each run its own target path there)."""
    project = (manifest.get("metadata") or {}).get("project_name") or ""

    def _compiled(node: Mapping) -> str | None:
        if node.get("compiled_code"):
            return node["compiled_code"]
        relative = Path("compiled") / (node.get("package_name") or project) / node.get("original_file_path", "")
        candidates = [p for p in (project_dir / "target").glob(f"**/{relative.as_posix()}") if p.is_file()]
        if not candidates:
            return None
        return max(candidates, key=lambda p: p.stat().st_mtime_ns).read_text()

    return _compiled


def _seed_header(seed: Mapping) -> list[str]:
    import csv

    path = Path(seed.get("root_path") or ".") / seed.get("original_file_path", "")
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return [c.strip().lower() for c in next(csv.reader(f), [])]
    except OSError:
        return []  # unknown columns: a `select *` from it then fails closed, naming the model


def run_manifest(project_dir: Path, run_id: str) -> dict | None:
    """The manifest the dbt build of this Dagster run wrote (it holds every model's compiled SQL): dagster-dbt
    gives each invocation the target path `<DBT_TARGET_PATH or target>/<op>-<run id[:7]>-<random>`.
    None when there is none."""
    import json

    from commons_assets.settings import get_settings

    target = get_settings().dbt_target_dir(Path(project_dir))
    found = [p for p in target.glob(f"*-{run_id[:7]}-*/manifest.json") if p.is_file()]
    if not found:
        return None
    return json.loads(max(found, key=lambda p: p.stat().st_mtime_ns).read_text())


def published_feeds(
    manifest: Mapping, policy, compiled: Callable[[Mapping], str | None], only: str | None = None
) -> dict[str, dict]:
    """{published model: {column: {Feed}}} through every model between the sources and the published table."""
    nodes = manifest.get("nodes", {})
    models = {uid: n for uid, n in nodes.items() if n.get("resource_type") == "model"}
    by_relation = {(n["schema"].lower(), (n.get("alias") or n["name"]).lower()): uid for uid, n in models.items()}
    sources = {tuple(s.lower() for s in policy.relation(key)): key for key in policy.sources}

    def _columns_of(uid: str) -> dict[str, str]:
        if uid in models:
            return dict.fromkeys(_lineage(uid), "text")
        upstream = nodes.get(uid) or manifest.get("sources", {}).get(uid) or {}
        columns = [c.lower() for c in upstream.get("columns", {})]
        if upstream.get("resource_type") == "seed":
            # a seed's columns are its CSV header, whether or not its yml lists them
            columns = list(dict.fromkeys(columns + _seed_header(upstream)))
        return dict.fromkeys(columns, "text")

    def _relation_schema(uid: str) -> tuple[str, str, str]:
        upstream = nodes.get(uid) or manifest.get("sources", {}).get(uid) or {}
        name = upstream.get("alias") or upstream.get("identifier") or upstream.get("name", "")
        return (upstream.get("database") or "").lower(), upstream.get("schema", "").lower(), name.lower()

    @functools.cache
    def _lineage(uid: str) -> dict[str, frozenset[Feed]]:
        node = models[uid]
        where = node.get("original_file_path") or node["name"]
        sql_text = compiled(node)
        if not sql_text:
            raise LineageError(
                f"model {node['name']} ({where}) has no compiled SQL: run `dbt compile` or `dbt build` first"
            )
        catalog: dict = {}
        for dep in (node.get("depends_on") or {}).get("nodes", []):
            database, schema, table = _relation_schema(dep)
            catalog.setdefault(database, {}).setdefault(schema, {})[table] = _columns_of(dep)
        try:
            direct = select_lineage(sql_text, catalog)
        except LineageError as err:
            raise LineageError(f"model {node['name']} ({where}): its compiled SQL cannot be read ({err})") from err
        result: dict[str, frozenset[Feed]] = {}
        for column, leaves in direct.items():
            feeds: set[Feed] = set()
            for schema, table, source_column in leaves:
                if (schema, table) in sources:
                    feeds.add(Feed(sources[(schema, table)], source_column, (where,)))
                elif (schema, table) in by_relation:
                    upstream = _lineage(by_relation[(schema, table)])
                    for feed in upstream.get(source_column, ()):
                        feeds.add(Feed(feed.source, feed.column, (where, *feed.via)))
                # else a seed or an infrastructure source (ledger, Matomo): outside the policy
            result[column] = frozenset(feeds)
        return result

    return {m.name: _lineage(m.unique_id) for m in policy.published if only is None or m.name == only}


def _allowed(column_node: Mapping) -> set[tuple[str, str]]:
    """(source, column) pairs the published column's yml allows, each with a non-empty reason."""
    meta = {**((column_node.get("config") or {}).get("meta") or {}), **(column_node.get("meta") or {})}
    allowed = set()
    for entry in meta.get("derived_from_allowed") or []:
        if isinstance(entry, Mapping) and str(entry.get("reason") or "").strip() and "." in str(entry.get("source")):
            table, column = str(entry["source"]).rsplit(".", 1)
            allowed.add((table.lower(), column.lower()))
    return allowed


def lineage_findings(
    manifest: Mapping, policy, compiled: Callable[[Mapping], str | None], only: str | None = None
) -> list[LineageFinding]:
    """Every published column (of model `only`, or of all) fed by a direct identifier or free text of a source,
    not allowed by its yml. Raises LineageError (the release is blocked) when a model's SQL cannot be read."""
    feeds = published_feeds(manifest, policy, compiled, only)
    nodes = manifest.get("nodes", {})
    findings = []
    for model in policy.published:
        if model.name not in feeds:
            continue
        node = nodes.get(model.unique_id, {})
        declared = {name.lower(): c for name, c in (node.get("columns") or {}).items()}
        for column, column_feeds in sorted(feeds[model.name].items()):
            allowed = _allowed(declared.get(column, {}))
            for feed in sorted(column_feeds, key=lambda f: (f.source, f.column, f.via)):
                privacy = (policy.sources.get(feed.source) or {}).get(feed.column)
                if privacy not in BLOCKING_SOURCE_CLASSES or (feed.source.lower(), feed.column) in allowed:
                    continue
                findings.append(
                    LineageFinding(
                        model=model.name,
                        column=column,
                        source=feed.source,
                        source_column=feed.column,
                        privacy=privacy,
                        model_file=feed.via[0],
                        message=(
                            f"published column {model.name}.{column} ({feed.via[0]}) is computed from source "
                            f"column {feed.source}.{feed.column}, classified {privacy}, through "
                            f"{' ← '.join(feed.via)}; stop selecting it, or if the derivation is safe declare it "
                            f"in the column's yml: meta: {{derived_from_allowed: [{{source: "
                            f"{feed.source}.{feed.column}, reason: \"…\"}}]}}"
                        ),
                    )
                )
    # one finding per (published column, source column): several paths say the same thing
    unique = {(f.model, f.column, f.source, f.source_column): f for f in reversed(findings)}
    return sorted(unique.values(), key=lambda f: (f.model, f.column, f.source, f.source_column))
