"""Identifier detectors, one small module per identifier type (after data.gouv.fr's csv-detective).

The privacy gate runs them in PostgreSQL over every text column of every published table, whatever the
column is called; the same decisions are available in Python for tests and for scanning artefacts.

Each module `<name>.py` exposes NAME, DESCRIPTION, LABELS (column-name hints), TRUE_VALUES and
FALSE_VALUES (examples it must / must not flag; the tests walk them), `sql_predicate(column_sql)` (a NULL-
safe boolean SQL expression) and `matches(value)` (the same decision in Python). Adding a module is enough
to add a detector: they are discovered here. Modules whose name starts with `_` are helpers.

Checksums (NIR, IBAN) are PL/pgSQL functions in `functions.sql` (schema `commons_privacy`, with the table
of first names); `install_functions(conn)` installs them and must have run before any predicate does.
Nothing here ever returns an offending value: only counts leave the database.

Decisions worth knowing (details in each module):
- ip_address: a dotted quad right after "<token>/" (Chrome/120.0.0.0) or glued to a letter (v4.2.1.0) is a
  software version, not an address; one after "//" (a URL) is an address.
- person_name: a cheap regex prefilter, then word tokens looked up in `commons_privacy.first_names`
  (filled from data/first_names_fr.txt by install_functions()).
- birth_date flags every exact date (day precision), birth or not: published tables carry weeks.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from psycopg import sql

FUNCTIONS_SQL = Path(__file__).with_name("functions.sql")
SCHEMA = "commons_privacy"
# PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1).
_MAX_IDENTIFIER_BYTES = 63
_REQUIRED_FUNCTIONS = ("is_valid_nir(text)", "iban_length(text)", "is_valid_iban(text)")


def _discover() -> tuple[ModuleType, ...]:
    modules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.ispkg:
            continue
        modules.append(importlib.import_module(f"{__name__}.{info.name}"))
    return tuple(modules)


DETECTORS: tuple[ModuleType, ...] = _discover()
_BY_NAME = {detector.NAME: detector for detector in DETECTORS}


def _first_name_spellings() -> list[str]:
    from commons_assets.privacy.detectors import person_name

    return sorted(person_name.spellings())


def _installed_version(text: str, spellings: list[str]) -> str:
    digest = hashlib.sha256(text.encode("utf-8"))
    digest.update("\n".join(spellings).encode("utf-8"))
    return f"commons-assets privacy detectors; sha256={digest.hexdigest()}"


def install_functions(conn) -> None:
    """Install (or update) the `commons_privacy` schema on a psycopg 3 connection; idempotent.

    Runs functions.sql and refills `commons_privacy.first_names` from data/first_names_fr.txt. The
    installed version (a hash of both) is recorded as the schema's comment: when it is current and the
    functions exist, nothing is executed, so a routine gate run needs no DDL privilege and takes no lock.
    Otherwise everything runs in one transaction (a savepoint if one is already open) under an advisory
    lock, so that two concurrent runs do not collide on `create or replace`.
    """
    text = FUNCTIONS_SQL.read_text(encoding="utf-8")
    spellings = _first_name_spellings()
    marker = _installed_version(text, spellings)
    checks = sql.SQL(" and ").join(
        sql.SQL("to_regprocedure({}) is not null").format(sql.Literal(f"{SCHEMA}.{f}")) for f in _REQUIRED_FUNCTIONS
    )
    schema, names = sql.Identifier(SCHEMA), sql.Identifier(SCHEMA, "first_names")
    current = conn.execute(
        sql.SQL(
            "select coalesce(obj_description(to_regnamespace({name}), 'pg_namespace') = %s "
            "and {checks} and to_regclass({table}) is not null, false)"
        ).format(name=sql.Literal(SCHEMA), checks=checks, table=sql.Literal(names.as_string())),
        (marker,),
    ).fetchone()[0]
    if current:
        return
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('commons_privacy.install_functions'))")
        conn.execute(text)
        conn.execute(sql.SQL("truncate {}").format(names))
        with conn.cursor() as cursor, cursor.copy(sql.SQL("copy {} (spelling) from stdin").format(names)) as copy:
            for spelling in spellings:
                copy.write_row((spelling,))
        conn.execute(sql.SQL("analyze {}").format(names))
        # a DDL statement takes no parameter: the marker goes in as a quoted literal
        conn.execute(sql.SQL("comment on schema {} is {}").format(schema, sql.Literal(marker)))


def scan_values(values: Iterable[str]) -> dict[str, int]:
    """Python scan: detector name -> number of values it flags (None and non-strings are skipped)."""
    counts = {detector.NAME: 0 for detector in DETECTORS}
    for value in values:
        if not isinstance(value, str) or not value:
            continue
        for detector in DETECTORS:
            if detector.matches(value):
                counts[detector.NAME] += 1
    return counts


def scan_alias(detector_name: str, column: str) -> str:
    """The result column of scan_sql() for one (detector, column): `<detector>__<column>`.

    Beyond PostgreSQL's 63-byte identifier limit, the column part is shortened and suffixed with a hash
    (still unique); use scan_aliases() to map a result column back to its detector and column.
    """
    alias = f"{detector_name}__{column}"
    if len(alias.encode("utf-8")) <= _MAX_IDENTIFIER_BYTES:
        return alias
    suffix = "_" + hashlib.sha256(column.encode("utf-8")).hexdigest()[:8]
    budget = _MAX_IDENTIFIER_BYTES - len(f"{detector_name}__".encode()) - len(suffix)
    prefix = column.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    return f"{detector_name}__{prefix}{suffix}"


def scan_aliases(text_columns: list[str]) -> dict[str, tuple[str, str]]:
    """Result column of scan_sql() -> (detector name, column name), in the statement's order."""
    return {
        scan_alias(detector.NAME, column): (detector.NAME, column)
        for column in dict.fromkeys(text_columns)
        for detector in DETECTORS
    }


def scan_sql(table_sql: str, text_columns: list[str]) -> str:
    """One SELECT that reads `table_sql` once and returns one row: a count of rows per (detector, column).

    `table_sql` is inserted as is (a quoted, schema-qualified name, or a parenthesised subquery with an
    alias); column names are quoted here. Result columns are named by scan_alias(), e.g. "email__message",
    and hold bigint row counts. Only counts come back, never a value. The statement needs
    install_functions() to have run. It holds no `%` (drivers with pyformat placeholders are fine); its
    regexes are E'' literals (backslashes mean the same whatever standard_conforming_strings says) that may
    contain braces and lone colons (SQLAlchemy's text() needs those colons escaped).

    Why GROUPING SETS: published text columns are mostly categorical (a week, a category, a commune), and a
    detector costs microseconds per value in PostgreSQL's regex engine. Grouping each column on its own in
    the same pass (one scan, one hash table per column) lets every detector run once per distinct value,
    weighted by its number of rows; a column of unique free text costs what a plain scan would.
    """
    aliases = scan_aliases(text_columns)
    columns = list(dict.fromkeys(text_columns))
    if not columns:
        # Nothing to scan: a valid statement returning one empty row, without reading the table.
        return "select"
    slots = {column: f"v{i}" for i, column in enumerate(columns)}
    # Text, not a Composable: callers insert this statement into larger ones (the gate, through GX).
    source = ", ".join(f"{sql.Identifier(column).as_string(None)}::text as {slot}" for column, slot in slots.items())
    grouping = ", ".join(f"grouping({slot}) as g{slot}" for slot in slots.values())
    sets = ", ".join(f"({slot})" for slot in slots.values())
    distinct = (
        f"select {grouping}, {', '.join(slots.values())}, count(*) as row_count\n"
        f"    from (select {source} from {table_sql}) as source\n"
        f"    group by grouping sets ({sets})"
    )
    items = []
    for alias, (name, column) in aliases.items():
        slot = slots[column]
        predicate = _BY_NAME[name].sql_predicate(slot)
        # CASE, not AND: the rows of the other columns' grouping sets must skip the predicate for sure.
        items.append(
            f"coalesce(sum(row_count) filter (where case when g{slot} = 0 then {predicate} else false end), 0)"
            f"::bigint as {sql.Identifier(alias).as_string(None)}"
        )
    return (
        f"with distinct_values as (\n    {distinct}\n)\n"
        "select\n    " + ",\n    ".join(items) + "\nfrom distinct_values"
    )

