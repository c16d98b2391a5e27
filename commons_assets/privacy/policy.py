"""The privacy policy, read from the dbt manifest where analysts write it.

Sources: every dbt source is the service's data, whatever its name or schema, and every one of its columns
carries `meta.privacy`; the only exception is a source commons-assets itself fills (the release ledger, Matomo
reports), which its yml marks `meta: {commons: infrastructure}` on the source. The mark is the exception rather
than the rule so that a source nobody thought about (a second `crm` schema) is classified, audited and compared
by default: the policy fails closed. Published models (marts/open_data): `meta.publish` describes the
dataset, and every column carries its class. Anything missing or unknown is an error (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from commons_assets.errors import PolicyError

SOURCE_CLASSES = frozenset(
    {"direct_identifier", "quasi_identifier", "sensitive", "free_text", "internal_id", "public"}
)
# What a published column may be: a generalised quasi-identifier, a sensitive attribute, public reference
# data, an identifier drawn at random for this release only, or a count.
PUBLISHED_CLASSES = frozenset({"quasi_identifier", "sensitive", "public", "release_id", "count"})
PUBLISHED_PATH_PREFIX = "marts/open_data/"
DEFAULT_K = 11


class TotalSpec(BaseModel):
    """A published total row: `dimension` = `total_value` holds the sum of the other rows of each group.

    The gate then checks secondary suppression: no group may have exactly one suppressed cell."""

    model_config = ConfigDict(extra="forbid")

    dimension: str
    total_value: str
    group_by: list[str]
    measures: list[str]


class PersonKeySpec(BaseModel):
    """Where several published rows can belong to one person (a user's weekly appointments): the model upstream
    of the published one (never published itself) that holds each published row with the person's key.

    The gate groups that model's rows like the published table (records: by its quasi-identifiers; aggregates:
    by every column but the counts) and measures each group in distinct `column` values. `columns` maps a
    published column to the model's column of another name (the mart renames to French); unlisted, the same."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    column: str = Field(min_length=1)
    columns: dict[str, str] = Field(default_factory=dict)

    def upstream(self, published_column: str) -> str:
        return self.columns.get(published_column, published_column)


class PublishSpec(BaseModel):
    """`meta.publish` of a published model, typed so that a wrong licence fails before anything runs."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    title: str = Field(min_length=3)
    description: str = Field(min_length=3)
    licence: Literal["lov2", "odc-odbl"]
    kind: Literal["records", "aggregate"]
    k: int = Field(default=DEFAULT_K, ge=2)
    quasi_identifiers: list[str] = Field(default_factory=list)
    sensitive: list[str] = Field(default_factory=list)
    count_columns: list[str] = Field(default_factory=list)
    totals: list[TotalSpec] = Field(default_factory=list)
    # aggregates: the count that stands for people (the risk report's group size); default the first count
    population_column: str | None = None
    # the ISO-week column that dates each row: gives the temporal coverage announced on data.gouv.fr
    period_column: str | None = None
    tags: list[str] = Field(default_factory=list)
    # what one row (records) or the population count (aggregates) counts, in French and in the plural
    # (« rendez-vous », « personnes »): the risk report's unit. Unset: « lignes » / « unités comptées ».
    unit: str | None = Field(default=None, min_length=2)
    # several rows per person: k then counts people (see PersonKeySpec); unset, one row is one person
    person_key: PersonKeySpec | None = None
    # the version of the published table's schema.json (semver, as schema.data.gouv.fr asks): raise it when a
    # column is added, renamed or retyped, so that reusers see the change
    schema_version: str = Field(default="1.0.0", pattern=r"^\d+\.\d+\.\d+$")


@dataclass(frozen=True)
class PublishedColumn:
    name: str
    privacy: str
    data_type: str
    description: str
    required: bool = False
    # for the reader of schema.json: a short French title (meta.title) and an example value (meta.example) from
    # the column's yml, and the values its `accepted_values` test allows
    title: str = ""
    example: str | int | float | None = None
    accepted_values: tuple = ()


@dataclass(frozen=True)
class PublishedModel:
    name: str  # the dbt model
    unique_id: str
    schema: str  # where dbt builds it
    relation: str  # schema.name, quoted for SQL
    spec: PublishSpec
    columns: tuple[PublishedColumn, ...]
    # (schema, name) of spec.person_key's model, resolved from the manifest (None without a person key)
    person_relation: tuple[str, str] | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def group_columns(self) -> list[str]:
        """What one group is, for a person count: the quasi-identifiers of records, every column but the
        counts of an aggregate (one published row is one cell)."""
        if self.spec.kind == "records":
            return list(self.spec.quasi_identifiers)
        return [c for c in self.column_names if c not in self.spec.count_columns]

    @property
    def dataset(self) -> str:
        return self.spec.dataset


@dataclass(frozen=True)
class Policy:
    # source table -> column -> class (None when unclassified). A table of `source_schema` is keyed by its name,
    # a table of any other schema by `schema.table` (see `relation()`).
    sources: Mapping[str, Mapping[str, str | None]]
    source_schema: str
    published: tuple[PublishedModel, ...] = field(default_factory=tuple)
    # source table key -> the yml file that declares it (the manifest's original_file_path), for fix-it hints
    source_files: Mapping[str, str] = field(default_factory=dict)
    # source table key -> the dbt source name, to find it in compiled SQL's lineage (`source.<project>.<n>.<t>`)
    source_names: Mapping[str, str] = field(default_factory=dict)

    def relation(self, key: str) -> tuple[str, str]:
        """(schema, table) of a source table key."""
        if "." in key:
            schema, table = key.split(".", 1)
            return schema, table
        return self.source_schema, key

    def source_schemas(self) -> list[str]:
        """Every schema holding a source under the policy, the service's own first."""
        others = sorted({self.relation(key)[0] for key in self.sources} - {self.source_schema})
        return [self.source_schema, *others] if self.source_schema else others

    def tables_of(self, schema: str) -> dict[str, str]:
        """{table name: source key} of the policy's tables in one schema."""
        return {
            table: key for key in self.sources for s, table in [self.relation(key)] if s == schema
        }

    def direct_identifier_columns(self) -> list[tuple[str, str]]:
        return [
            (table, column)
            for table, columns in sorted(self.sources.items())
            for column, cls in sorted(columns.items())
            if cls == "direct_identifier"
        ]

    def published_model(self, name: str) -> PublishedModel:
        for model in self.published:
            if model.name == name:
                return model
        raise KeyError(name)


def _source_yml_hint(table: str, column: str, yml: str | None = None) -> str:
    return (
        f"add to {yml or 'the sources yml that declares it'}, under table {table}:\n"
        f"          - name: {column}\n"
        f"            meta: {{privacy: <one of {', '.join(sorted(SOURCE_CLASSES))}>}}"
    )


def _meta(column: Mapping) -> dict:
    """A column's meta, wherever dbt put it (`meta` or `config.meta`, depending on how the yml wrote it)."""
    return {**((column.get("config") or {}).get("meta") or {}), **(column.get("meta") or {})}


def _unconfirmed_message(table: str, column: str, suggested: str, yml: str | None) -> str:
    """A column `commons-assets init` scaffolded and nobody confirmed: its suggestion is not a class, so that
    only a person who has read the column decides what may happen to it."""
    return (
        f"source column {table}.{column} has no meta.privacy: its meta.privacy_suggested ({suggested}) is only a "
        f"suggestion and never counts as a class. Read the column, then confirm it in "
        f"{yml or 'the sources yml that declares it'}, table {table}, column {column}, by writing "
        f"`privacy: {suggested}` in its meta (or another of {', '.join(sorted(SOURCE_CLASSES))})"
    )


def load_policy(manifest: Mapping) -> Policy:
    """Build the policy from a dbt manifest; raise PolicyError naming every problem found."""
    problems: list[str] = []
    sources: dict[str, dict[str, str | None]] = {}
    source_files: dict[str, str] = {}
    source_names: dict[str, str] = {}
    service_tables = [s for s in manifest.get("sources", {}).values() if not _is_infrastructure(s)]
    source_schema = _service_schema(service_tables)
    for source in service_tables:
        key = source["name"] if source["schema"] == source_schema else f"{source['schema']}.{source['name']}"
        yml = source.get("original_file_path") or None
        columns: dict[str, str | None] = {}
        for name, column in source.get("columns", {}).items():
            cls = (column.get("meta") or {}).get("privacy") or (column.get("config", {}).get("meta") or {}).get(
                "privacy"
            )
            if cls is not None and cls not in SOURCE_CLASSES:
                problems.append(
                    f"source column {key}.{name} has unknown privacy class {cls!r} "
                    f"(expected one of {', '.join(sorted(SOURCE_CLASSES))})"
                )
            columns[name] = cls
        if key in sources:
            problems.append(f"source table {key} is declared twice (sources {source_names[key]!r} and "
                            f"{source.get('source_name')!r})")
        sources[key] = columns
        source_names[key] = source.get("source_name", "")
        if yml:
            source_files[key] = yml
        for name, cls in columns.items():
            if cls is None:
                suggested = _meta(source["columns"][name]).get("privacy_suggested")
                problems.append(
                    _unconfirmed_message(key, name, suggested, yml)
                    if suggested in SOURCE_CLASSES
                    else f"source column {key}.{name} has no meta.privacy: " + _source_yml_hint(key, name, yml)
                )
        if not columns:
            problems.append(
                f"source table {key} (source {source.get('source_name')!r}) declares no columns: list and classify "
                f"each one in {yml or 'its yml'}, or mark the source `meta: {{commons: infrastructure}}` if "
                "commons-assets itself fills it"
            )

    accepted = _accepted_values(manifest)
    published: list[PublishedModel] = []
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        path = node.get("original_file_path", "")
        in_open_data = f"/{PUBLISHED_PATH_PREFIX}" in f"/{path}" or path.startswith(
            "models/" + PUBLISHED_PATH_PREFIX
        )
        meta = node.get("config", {}).get("meta") or node.get("meta") or {}
        if not in_open_data:
            if "publish" in meta:
                problems.append(
                    f"model {node['name']} has meta.publish but lives outside models/{PUBLISHED_PATH_PREFIX}"
                )
            continue
        if "publish" not in meta:
            problems.append(f"published model {node['name']} ({path}) has no meta.publish in its yml")
            continue
        try:
            spec = PublishSpec.model_validate(meta["publish"])
        except ValidationError as err:
            for error in err.errors():
                where = ".".join(str(p) for p in error["loc"])
                problems.append(f"model {node['name']}: meta.publish.{where}: {error['msg']}")
            continue
        columns = []
        for name, column in node.get("columns", {}).items():
            cls = (column.get("meta") or {}).get("privacy") or (column.get("config", {}).get("meta") or {}).get(
                "privacy"
            )
            if cls not in PUBLISHED_CLASSES:
                problems.append(
                    f"published column {node['name']}.{name} must carry meta.privacy, one of "
                    f"{', '.join(sorted(PUBLISHED_CLASSES))} (got {cls!r})"
                )
            columns.append(
                PublishedColumn(
                    name=name,
                    privacy=cls or "",
                    data_type=(column.get("data_type") or "text").lower(),
                    description=(column.get("description") or "").strip(),
                    required=any(c.get("type") == "not_null" for c in column.get("constraints") or []),
                    title=str(_column_meta(column).get("title") or ""),
                    example=_column_meta(column).get("example"),
                    accepted_values=accepted.get((node["unique_id"], name), ()),
                )
            )
        names = {c.name for c in columns}
        declared_names = spec.quasi_identifiers + spec.sensitive + spec.count_columns
        if spec.kind == "aggregate" and not spec.count_columns:
            problems.append(f"model {node['name']}: an aggregate must list its count_columns in meta.publish")
        declared_names = declared_names + [c for c in (spec.population_column, spec.period_column) if c]
        for total in spec.totals:
            declared_names += [total.dimension, *total.group_by, *total.measures]
        for declared in declared_names:
            if declared not in names:
                problems.append(
                    f"model {node['name']}: meta.publish names column {declared!r}, which it does not declare"
                )
        if not columns:
            problems.append(f"published model {node['name']} declares no columns: its yml is the allow-list")
        person_relation = None
        if spec.person_key is not None:
            person_relation = _person_relation(manifest, node, spec.person_key, problems)
            for published_column in spec.person_key.columns:
                if published_column not in names:
                    problems.append(
                        f"model {node['name']}: meta.publish.person_key.columns names column {published_column!r}, "
                        "which it does not declare"
                    )
        published.append(
            PublishedModel(
                name=node["name"],
                unique_id=node["unique_id"],
                schema=node["schema"],
                relation=sql.Identifier(node["schema"], node.get("alias") or node["name"]).as_string(None),
                spec=spec,
                columns=tuple(columns),
                person_relation=person_relation,
            )
        )
    datasets = [m.dataset for m in published]
    for dataset in {d for d in datasets if datasets.count(d) > 1}:
        problems.append(f"dataset {dataset!r} is published by more than one model")
    if problems:
        raise PolicyError("privacy policy incomplete:\n- " + "\n- ".join(problems))
    return Policy(
        sources=sources,
        source_schema=source_schema,
        published=tuple(sorted(published, key=lambda m: m.name)),
        source_files=source_files,
        source_names=source_names,
    )


def _person_relation(
    manifest: Mapping, node: Mapping, person_key: PersonKeySpec, problems: list[str]
) -> tuple[str, str] | None:
    """The quoted relation of `meta.publish.person_key.model`: a model upstream of the published one and never
    published itself (the person keys it holds must stay in the warehouse)."""
    where = f"model {node['name']}: meta.publish.person_key.model {person_key.model!r}"
    models = {n["name"]: n for n in manifest.get("nodes", {}).values() if n.get("resource_type") == "model"}
    upstream = models.get(person_key.model)
    if upstream is None:
        problems.append(f"{where} is no model of the dbt project")
        return None
    if PUBLISHED_PATH_PREFIX in upstream.get("original_file_path", ""):
        problems.append(f"{where} is a published model: the person key must be read on a relation never published")
        return None
    if upstream["unique_id"] not in _ancestors(manifest, node["unique_id"]):
        problems.append(f"{where} is not upstream of {node['name']}: it must hold the published rows")
        return None
    return upstream["schema"], upstream.get("alias") or upstream["name"]


def _ancestors(manifest: Mapping, unique_id: str) -> set[str]:
    nodes = manifest.get("nodes", {})
    seen: set[str] = set()
    todo = [unique_id]
    while todo:
        for parent in (nodes.get(todo.pop(), {}).get("depends_on") or {}).get("nodes", []):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def _column_meta(column: Mapping) -> Mapping:
    return (column.get("config") or {}).get("meta") or column.get("meta") or {}


def _accepted_values(manifest: Mapping) -> dict[tuple[str, str], tuple]:
    """{(model unique_id, column): values} of every `accepted_values` test in the manifest."""
    found: dict[tuple[str, str], tuple] = {}
    for node in manifest.get("nodes", {}).values():
        metadata = node.get("test_metadata") or {}
        if node.get("resource_type") != "test" or metadata.get("name") != "accepted_values":
            continue
        kwargs = metadata.get("kwargs") or {}
        model = node.get("attached_node") or next(iter((node.get("depends_on") or {}).get("nodes") or []), None)
        column = kwargs.get("column_name") or node.get("column_name")
        if model and column and isinstance(kwargs.get("values"), list):
            found[(model, column)] = tuple(kwargs["values"])
    return found


INFRASTRUCTURE_MARK = {"commons": "infrastructure"}


def _is_infrastructure(source: Mapping) -> bool:
    """A source commons-assets fills itself (ledger, Matomo reports): its yml says so on the source."""
    metas = (source.get("source_meta") or {}, source.get("meta") or {}, (source.get("config") or {}).get("meta") or {})
    return any(meta.get("commons") == "infrastructure" for meta in metas)


def _service_schema(tables: list[Mapping]) -> str:
    """The service's own schema: the one of the source named `service` if there is one, else the schema holding
    the most tables (other schemas' tables are keyed `schema.table`)."""
    for source in tables:
        if source.get("source_name") == "service":
            return source["schema"]
    counts: dict[str, int] = {}
    for source in tables:
        counts[source["schema"]] = counts.get(source["schema"], 0) + 1
    return max(sorted(counts), key=lambda schema: counts[schema]) if counts else ""


def unclassified_columns(policy: Policy, actual: Mapping[str, list[str]], schema: str | None = None) -> list[str]:
    """`table.column` (the table by its policy key) of every column present in the source database but absent
    from the policy.

    `actual` maps each table of `schema` (default: the service's) to its columns as found in
    information_schema. A table unknown to the policy is ignored (staging cannot read it), but a new column of
    a known table blocks the release.
    """
    keys = policy.tables_of(policy.source_schema if schema is None else schema)
    missing = []
    for table, columns in sorted(actual.items()):
        if table not in keys:
            continue
        for column in columns:
            if column not in policy.sources[keys[table]]:
                missing.append(f"{keys[table]}.{column}")
    return missing


def schema_drift_message(missing: list[str], policy: Policy | None = None) -> str:
    files = policy.source_files if policy else {}
    hints = "\n".join(
        _source_yml_hint(key, column, files.get(key)) for key, column in (item.rsplit(".", 1) for item in missing)
    )
    return (
        f"release blocked: {len(missing)} source column(s) without a privacy class: {', '.join(missing)}.\n"
        f"Classify each one before anything is published:\n{hints}"
    )
