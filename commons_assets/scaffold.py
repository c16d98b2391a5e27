"""`commons-assets init DIR`: a new service's dbt project, its sources scaffolded from the live schema.

Every column of the schema is written to the sources yml with its type and a *suggested* privacy class, never a
class: `meta: {privacy_suggested: …, privacy_reason: …}` and no `privacy` key, so the policy (which blocks on a
source column without `meta.privacy`) keeps the release blocked until an analyst has confirmed each column.

A suggestion comes from the column's name (a dictionary of names, as PostgreSQL Anonymizer's `anon.detect()`)
and from its values: the identifier detectors run in PostgreSQL on a sample of each table, and only counts come
back (no value is ever read into Python, printed or written).
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import psycopg
import yaml
from psycopg import sql

from commons_assets.dbt.project import DBT_PACKAGE_ENV
from commons_assets.errors import InputError
from commons_assets.privacy import detectors
from commons_assets.service import DEFAULT_SOURCE_TIMEZONE, DEFAULT_TIMEZONE

SAMPLE_ROWS = 1000
# share of the sampled non-null values a detector must flag for the column to be suggested its class
VALUE_SHARE = 0.5
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# What each detector finding suggests for the column holding it.
DETECTOR_CLASSES = {
    "email": "direct_identifier",
    "phone_fr": "direct_identifier",
    "person_name": "direct_identifier",
    "postal_address": "direct_identifier",
    "ip_address": "direct_identifier",
    "iban": "direct_identifier",
    "nir": "direct_identifier",
    "vehicle_plate": "direct_identifier",
    "url_personal_data": "direct_identifier",
    "birth_date": "quasi_identifier",
    "coordinates": "quasi_identifier",
}

# Column-name dictionary: (class, what the name says, patterns on the accent-free lower-case name). The first
# match wins, so the more specific entries come first.
NAME_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("direct_identifier", "an e-mail address", (r"e_?mail", r"courriel", r"(^|_)mail($|_)")),
    ("direct_identifier", "a phone number", (r"phone", r"(^|_)tel($|_)", r"telephone", r"mobile", r"portable",
                                             r"(^|_)fax($|_)")),
    ("direct_identifier", "a person's name", (r"first_?name", r"last_?name", r"full_?name", r"given_?name",
                                               r"family_?name", r"sur_?name", r"prenom", r"(^|_)nom($|_)",
                                               r"nom_de_famille", r"nom_usage", r"maiden")),
    ("direct_identifier", "an IP address", (r"(^|_)ip($|_)", r"ip_?address", r"remote_addr", r"forwarded_for",
                                            r"(^|_)ipv[46]($|_)")),
    ("direct_identifier", "a postal address", (r"street", r"address", r"adresse", r"(^|_)rue($|_)",
                                               r"(^|_)voie($|_)")),
    ("direct_identifier", "a bank account", (r"iban", r"(^|_)rib($|_)", r"bank_account", r"compte_bancaire")),
    ("direct_identifier", "a social security number (NIR)", (r"(^|_)nir($|_)", r"securite_sociale",
                                                              r"(^|_)ssn($|_)", r"(^|_)nss($|_)")),
    ("direct_identifier", "a credential or a token", (r"password", r"mot_de_passe", r"token", r"secret",
                                                      r"api_key")),
    ("direct_identifier", "a vehicle plate", (r"immatriculation", r"license_plate", r"plaque")),
    ("quasi_identifier", "a birth date", (r"birth", r"naissance", r"(^|_)dob($|_)", r"(^|_)ddn($|_)")),
    ("quasi_identifier", "a location", (r"postcode", r"post_code", r"zip", r"code_postal", r"commune", r"city",
                                        r"ville", r"(^|_)lat($|_)", r"latitude", r"(^|_)lon($|_)", r"longitude",
                                        r"(^|_)lng($|_)", r"coordinates", r"geo")),
    ("quasi_identifier", "a personal attribute", (r"gender", r"(^|_)sexe?($|_)", r"(^|_)age($|_)",
                                                  r"nationalit", r"profession", r"job")),
    ("sensitive", "a sensitive attribute (health, beliefs, income…)", (r"health", r"sante", r"handicap",
                                                                      r"religion", r"politic", r"income",
                                                                      r"revenu", r"salaire", r"salary")),
    ("free_text", "text typed by people", (r"message", r"comment", r"commentaire", r"description", r"(^|_)body($|_)",
                                           r"(^|_)text($|_)", r"(^|_)texte($|_)", r"(^|_)notes?($|_)", r"content",
                                           r"remarque", r"user_agent")),
    ("internal_id", "a key of the service's database", (r"(^|_)id$", r"_uuid$", r"^uuid$", r"_key$")),
    ("quasi_identifier", "a timestamp (an exact time can single a person out)", (r"_at$", r"_on$", r"(^|_)date",
                                                                                 r"timestamp", r"(^|_)time")),
)

_SOURCE_HEADER = """\
version: 2

# Scaffolded by `commons-assets init` from the schema {schema!r}. Every column below carries a SUGGESTED class
# (meta.privacy_suggested, with the reason), not a class: the release stays blocked until an analyst has read
# each column and confirmed it by adding `privacy: <class>` to its meta. Classes:
#   direct_identifier  identifies a person alone (email, name, phone, IP): never selected by staging
#   quasi_identifier   identifies in combination (birth date, commune, timestamps): generalised before publishing
#   sensitive          an attribute a reader must not infer about a person
#   free_text          typed by people, may hold anything: never published
#   internal_id        a key of the service's database: never published, replaced by release-scoped ids
#   public             reference data or categories: may be published as is
# Suggestions come from the column's name and from identifier detectors run on a sample of its values; a column
# without a suggestion still needs a class.

"""


class InitError(InputError):
    """The project cannot be created as asked; the message says why."""


@dataclass(frozen=True)
class Column:
    table: str
    name: str
    data_type: str
    suggested: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class InitResult:
    directory: Path
    sources_file: Path
    tables: int
    columns: int
    suggested: int


def _plain(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def suggest_from_name(name: str) -> tuple[str, str] | None:
    """(class, reason) that a column's name suggests, or None."""
    plain = _plain(name)
    for cls, what, patterns in NAME_RULES:
        if any(re.search(pattern, plain) for pattern in patterns):
            return cls, f"its name looks like {what}"
    return None


def read_schema(conn, schema: str) -> list[Column]:
    """Every column of every table, view and foreign table of `schema`, with its type, in table order."""
    rows = conn.execute(
        """
        select c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm', 'f')
        order by c.relname, a.attnum
        """,
        (schema,),
    ).fetchall()
    return [Column(table, name, data_type) for table, name, data_type in rows]


def _value_findings(conn, schema: str, table: str, columns: list[Column]) -> dict[str, tuple[str, int, int]]:
    """column -> (detector, flagged, sampled non-null) for the detector flagging most of a sample's values.
    Only counts leave the database."""
    scanned = [c.name for c in columns if c.data_type != "bytea"]
    if not scanned:
        return {}
    # every column as text, so that inet, dates and json are scanned as people would read them
    sample = sql.SQL("(select {cols} from {table} limit {n}) as sample").format(
        cols=sql.SQL(", ").join(
            sql.SQL("{}::text as {}").format(sql.Identifier(name), sql.Identifier(name)) for name in scanned
        ),
        table=sql.Identifier(schema, table),
        n=sql.Literal(SAMPLE_ROWS),
    ).as_string(conn)
    counts = conn.execute(detectors.scan_sql(sample, scanned)).fetchone()
    aliases = list(detectors.scan_aliases(scanned).values())
    non_null = conn.execute(
        sql.SQL("select {} from {}").format(
            sql.SQL(", ").join(sql.SQL("count({})").format(sql.Identifier(name)) for name in scanned),
            sql.SQL(sample),
        )
    ).fetchone()
    totals = dict(zip(scanned, non_null, strict=True))
    best: dict[str, tuple[str, int, int]] = {}
    for (detector, column), flagged in zip(aliases, counts, strict=True):
        if flagged and (column not in best or flagged > best[column][1]):
            best[column] = (detector, int(flagged), int(totals[column]))
    return best


def suggest(columns: list[Column], findings: dict[tuple[str, str], tuple[str, int, int]]) -> list[Column]:
    """Each column with its suggested class and the reason: a value finding on most of the sample wins (values say
    more than names) unless the name says free text; then the name; a detector flagging a few values of a text
    column suggests free text."""
    out = []
    for column in columns:
        by_name = suggest_from_name(column.name)
        finding = findings.get((column.table, column.name))
        cls, reasons = None, []
        if finding:
            detector, flagged, total = finding
            share = flagged / total if total else 0
            seen = f"{flagged} of {total} sampled values flagged by the {detector} detector"
            if share >= VALUE_SHARE and detector in DETECTOR_CLASSES:
                cls = DETECTOR_CLASSES[detector]
                reasons.append(seen)
            elif column.data_type in ("text", "character varying") or column.data_type.startswith(
                ("character varying", "jsonb", "json")
            ):
                cls = "free_text"
                reasons.append(seen + " (a few: free text that may hold identifiers)")
        if by_name:
            name_cls, name_reason = by_name
            # free text that holds identifiers stays free text (never published, whatever it holds)
            if cls is None or name_cls == "free_text" or (cls == "free_text" and name_cls == "direct_identifier"):
                cls = name_cls
            reasons.insert(0, name_reason)
        out.append(Column(column.table, column.name, column.data_type, cls, "; ".join(reasons) or None))
    return out


def sources_yml(schema: str, columns: list[Column]) -> str:
    tables: dict[str, list[dict]] = {}
    for column in columns:
        entry: dict = {"name": column.name, "data_type": column.data_type}
        meta = {}
        if column.suggested:
            meta = {"privacy_suggested": column.suggested, "privacy_reason": column.reason}
        else:
            meta = {"privacy_suggested": None, "privacy_reason": "nothing in its name or sampled values: decide"}
        entry["meta"] = meta
        tables.setdefault(column.table, []).append(entry)
    document = {
        "sources": [
            {
                # the engine reads the service's source under this name
                "name": "service",
                "schema": f"{{{{ env_var('COMMONS_SOURCE_SCHEMA', '{schema}') }}}}",
                "tables": [{"name": table, "columns": cols} for table, cols in tables.items()],
            }
        ]
    }
    dumped = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
    return _SOURCE_HEADER.format(schema=schema) + _with_event_suggestions(dumped, suggest_event_roles(columns))


# ------------------------------------------------------------------------------------- time and usage events

# The time settings init writes in vars.service: the engine's defaults, written out so that an analyst sees
# them. The publishing zone is French public services' own; the source zone cannot be read from a naive column,
# so a comment asks whoever knows the application to check it.
PUBLISHING_TIMEZONE = DEFAULT_TIMEZONE
SUGGESTED_SOURCE_TIMEZONE = DEFAULT_SOURCE_TIMEZONE
_LISTED_COLUMNS = 4  # naive columns named in the comment; the rest are counted
_COMMENT_WIDTH = 112


def _is_timestamp(column: Column) -> bool:
    return column.data_type.startswith("timestamp")


def _is_naive(column: Column) -> bool:
    return _is_timestamp(column) and "without time zone" in column.data_type


def service_time_settings(columns: list[Column]) -> str:
    """The `service:` block of vars (YAML text, indented for `vars:`): only the two zones, each with a comment
    saying what it is and, for the source zone, whether it matters for this schema. The description keys
    (name, producer, contact, description) are left to the analyst: a guess there would be published."""
    naive = [f"{c.table}.{c.name}" for c in columns if _is_naive(c)]
    if naive:
        listed = ", ".join(naive[:_LISTED_COLUMNS]) + (f" and {len(naive) - _LISTED_COLUMNS} more"
                                                       if len(naive) > _LISTED_COLUMNS else "")  # fmt: skip
        source = (
            f"CHECK: the zone your naive timestamps are in. {len(naive)} column(s) of the schema are `timestamp "
            f"without time zone` ({listed}): they carry no zone, and the privacy macros read them in this one. "
            "Rails and Django store UTC; an application that stores its users' local time needs Europe/Paris "
            "(or theirs)."
        )
    elif any(_is_timestamp(c) for c in columns):
        source = (
            "Every timestamp column of the schema is `timestamp with time zone` and carries its own zone: UTC here "
            "only applies to a naive (`timestamp without time zone`) column, should one be added."
        )
    else:
        source = (
            "No timestamp column in the schema: this zone only applies to a naive (`timestamp without time zone`) "
            "column, should one be added."
        )
    lines = [
        "  # The service as the release's README, datapackage.json and data.gouv.fr present it: before the first",
        "  # release, add name, producer, contact (an e-mail address or a URL) and description (see the README,",
        "  # « Adopting commons-assets for your service », step 7).",
        "  service:",
        "    # The zone of the published ISO weeks: a week runs from Monday 00:00 to Monday 00:00 there.",
        f"    timezone: {PUBLISHING_TIMEZONE}",
        *textwrap.wrap(source, _COMMENT_WIDTH, initial_indent="    # ", subsequent_indent="    # "),
        f"    source_timezone: {SUGGESTED_SOURCE_TIMEZONE}",
    ]
    return "\n".join(lines) + "\n"


# A table whose name says it logs events (events, event_*, *_events, logs, *_log…) and that has a timestamp and
# a column naming what happened looks like the service's usage events. Only a suggestion, written commented out:
# declaring a table measured by the CNIL exemption report is for an analyst who knows what it holds.
_EVENT_TABLE = re.compile(r"(^|_)(events?|logs?|tracking|analytics)($|_)")
_EVENT_NAME = (r"^event_?(name|type|action|kind)?$", r"^(name|type|action|kind|category)$", r"(^|_)action($|_)")
_EVENT_TIME = (r"occurred|happened|^event_?(at|time|date)$|^(timestamp|ts|time|at)$", r"created|logged|recorded")
_EVENT_VISITOR = (r"visitor", r"anonymous_id|device_id|client_id|cookie")


def _first_match(columns: list[Column], patterns: tuple[str, ...]) -> Column | None:
    for pattern in patterns:
        for column in columns:
            if re.search(pattern, _plain(column.name)):
                return column
    return None


def suggest_event_roles(columns: list[Column]) -> dict[str, dict[str, str]]:
    """{table: {column: role}} of the tables that look like an event log: `time` (a timestamp), `name` (what
    happened), and `visitor` and `ip` where a column's name (or type, for IPs) says so. A table needs a time and
    a name to be suggested at all."""
    tables: dict[str, list[Column]] = {}
    for column in columns:
        tables.setdefault(column.table, []).append(column)
    found: dict[str, dict[str, str]] = {}
    for table, cols in tables.items():
        if not _EVENT_TABLE.search(_plain(table)):
            continue
        time = _first_match([c for c in cols if _is_timestamp(c)], _EVENT_TIME) or next(
            (c for c in cols if _is_timestamp(c)), None
        )
        name = _first_match([c for c in cols if not _is_timestamp(c) and not c.name.endswith("_id")], _EVENT_NAME)
        if time is None or name is None:
            continue
        roles = {time.name: "time", name.name: "name"}
        visitor = _first_match([c for c in cols if c.name not in roles], _EVENT_VISITOR)
        if visitor is not None:
            roles[visitor.name] = "visitor"
        ip = next(
            (c for c in cols if c.name not in roles and (c.data_type == "inet" or _names_an_ip(c.name))), None
        )
        if ip is not None:
            roles[ip.name] = "ip"
        found[table] = roles
    return found


def _names_an_ip(name: str) -> bool:
    found = suggest_from_name(name)
    return found is not None and "IP address" in found[1]


def _with_event_suggestions(text: str, roles: dict[str, dict[str, str]]) -> str:
    """The dumped sources yml with the suggested event declarations as comments: under the table, the mark to
    uncomment; in each role's column meta, its `usage_event` to uncomment. Uncommented, both are valid YAML in
    place (the mark at the table's keys, the role among the column's meta keys)."""
    out: list[str] = []
    table = column = None
    for line in text.splitlines():
        out.append(line)
        if line.startswith("  - name: "):
            table, column = line.removeprefix("  - name: ").strip(), None
            if table in roles:
                described = ", ".join(f"{c}: {r}" for c, r in roles[table].items())
                out += textwrap.wrap(
                    "SUGGESTED, not declared: this table looks like an event log. If it holds the service's usage "
                    "events, uncomment the mark below: the CNIL exemption report then measures it, on the columns "
                    f"whose meta.usage_event you confirm too (suggested: {described}).",
                    _COMMENT_WIDTH, initial_indent="    # ", subsequent_indent="    # ",
                )  # fmt: skip
                out += [
                    "    # meta:",
                    "    #   commons: {usage_events: true}",
                ]
        elif line.startswith("    - name: "):
            column = line.removeprefix("    - name: ").strip()
        elif line == "      meta:" and table in roles and column in roles[table]:
            out.append(f"        # usage_event: {roles[table][column]}  # suggested: uncomment once confirmed")
    return "\n".join(out) + "\n"


def _project_name(directory: Path) -> str:
    name = _plain(directory.name) or "service"
    return name if name[0].isalpha() else f"service_{name}"


_DBT_PROJECT_YML = """\
name: {name}
version: "0.1.0"
config-version: 2
profile: commons_assets

model-paths: ["models"]
macro-paths: ["macros"]
seed-paths: ["seeds"]
test-paths: ["tests"]
target-path: "target"
clean-targets: ["target", "logs"]

vars:
  # The Monday (Europe/Paris) of the ISO week being released, as YYYY-MM-DD: commons-assets passes it.
  release_week: null
  # Smallest group a published row or count may stand for.
  k_anonymity: 11
{service}
models:
  {name}:
    staging:
      +materialized: view
      +schema: staging
    intermediate:
      +materialized: view
      +schema: intermediate
    marts:
      open_data:
        +materialized: table
        +schema: open_data
        # Everything published has an enforced contract: a renamed or retyped column fails the build.
        +contract:
          enforced: true
"""

_PROFILES_YML = """\
# commons-assets sets these variables before every dbt invocation (COMMONS_WAREHOUSE_URL or its embedded
# warehouse); run dbt through `commons-assets dbt …`. The defaults only serve `dbt parse`.
commons_assets:
  target: warehouse
  outputs:
    warehouse:
      type: postgres
      host: "{{ env_var('COMMONS_PG_HOST', '127.0.0.1') }}"
      port: "{{ env_var('COMMONS_PG_PORT', '5432') | as_number }}"
      user: "{{ env_var('COMMONS_PG_USER', 'postgres') }}"
      password: "{{ env_var('COMMONS_PG_PASSWORD', '') }}"
      dbname: "{{ env_var('COMMONS_PG_DBNAME', 'postgres') }}"
      schema: "{{ env_var('COMMONS_DBT_SCHEMA', 'commons') }}"
      threads: 2
      connect_timeout: 10
"""

# Why a variable: an absolute path ties the project to one machine, and a relative one to where the virtualenv
# sits beside the repository (it differs between a laptop, CI and a server); the installed commons-assets is the
# one that knows where its package is, and it runs every dbt command, so it says so at run time.
PACKAGES_YML = f"""\
# The privacy macros (commons_privacy.to_iso_week, age_band, suppress_small_groups…) and generic tests ship with
# commons-assets. Their folder is named through an environment variable that commons-assets sets for every dbt
# command it runs (release, validate, prepare, `commons-assets dbt …`): this project, committed to the service's
# repository, holds no path of one machine, and always uses the macros of the installed commons-assets.
packages:
  - local: "{{{{ env_var('{DBT_PACKAGE_ENV}') }}}}"
"""

# The root project's schema-name macro: dbt honours it only there, so it delegates to the package, where the
# rule lives. The bundled demo's macros/generate_schema_name.sql is this same text (a test compares them).
GENERATE_SCHEMA_NAME = """\
{#- dbt only honours this macro in the root project: the rule lives in the commons_privacy package. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ return(commons_privacy.layer_schema_name(custom_schema_name, node)) }}
{%- endmacro %}
"""

_GITIGNORE = "target/\nlogs/\ndbt_packages/\npackage-lock.yml\n.user.yml\n.commons/\nreleases/\n.env\n"


def init_project(directory: Path, *, schema: str, info) -> InitResult:
    """Create the project in `directory` (new or empty) from `schema` of the warehouse `info`."""
    directory = directory.expanduser().resolve()
    if not _IDENTIFIER.match(schema):
        raise InitError(f"--source-schema {schema!r} is not a valid PostgreSQL schema name")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InitError(f"{directory} is not an empty folder: init only creates a project in a new or empty one")
    with psycopg.connect(info.conninfo()) as conn:
        exists = conn.execute("select 1 from pg_namespace where nspname = %s", (schema,)).fetchone()
        if not exists:
            found = [r[0] for r in conn.execute(
                "select nspname from pg_namespace where nspname !~ '^(pg_|information_schema$)' order by 1"
            ).fetchall()]
            raise InitError(
                f"schema {schema!r} does not exist in {info.describe()}; schemas there: {', '.join(found) or 'none'} "
                "(choose one with --source-schema)"
            )
        columns = read_schema(conn, schema)
        if not columns:
            raise InitError(f"schema {schema!r} has no table or view to describe")
        detectors.install_functions(conn)
        findings: dict[tuple[str, str], tuple[str, int, int]] = {}
        for table in dict.fromkeys(c.table for c in columns):
            found = _value_findings(conn, schema, table, [c for c in columns if c.table == table])
            findings.update({(table, column): finding for column, finding in found.items()})
        conn.rollback()  # the sample was only read; the detector functions were committed by install_functions
    columns = suggest(columns, findings)

    name = _project_name(directory)
    staging = directory / "models" / "staging" / schema
    for folder in (staging, directory / "models" / "intermediate", directory / "models" / "marts" / "open_data",
                   directory / "macros", directory / "seeds", directory / "tests"):
        folder.mkdir(parents=True, exist_ok=True)
    for folder in ("models/intermediate", "models/marts/open_data", "seeds", "tests"):
        (directory / folder / ".gitkeep").touch()
    (directory / "dbt_project.yml").write_text(
        _DBT_PROJECT_YML.format(name=name, service=service_time_settings(columns)), encoding="utf-8"
    )
    (directory / "profiles.yml").write_text(_PROFILES_YML, encoding="utf-8")
    (directory / "packages.yml").write_text(PACKAGES_YML, encoding="utf-8")
    (directory / "macros" / "generate_schema_name.sql").write_text(GENERATE_SCHEMA_NAME, encoding="utf-8")
    (directory / ".gitignore").write_text(_GITIGNORE, encoding="utf-8")
    sources_file = staging / f"_{schema}__sources.yml"
    sources_file.write_text(sources_yml(schema, columns), encoding="utf-8")
    return InitResult(
        directory=directory,
        sources_file=sources_file,
        tables=len({c.table for c in columns}),
        columns=len(columns),
        suggested=sum(1 for c in columns if c.suggested),
    )
