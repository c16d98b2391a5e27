"""Identifier detectors, one small module per identifier type (after data.gouv.fr's csv-detective).

The privacy gate runs them in PostgreSQL over every text column of every published table, whatever the
column is called; the same decisions are available in Python for tests and for scanning artefacts.

Each module `<name>.py` exposes NAME, DESCRIPTION, LABELS (column-name hints), TRUE_VALUES and
FALSE_VALUES (examples it must / must not flag; the tests walk them), `sql_predicate(column_sql)` (a NULL-
safe boolean SQL expression) and `matches(value)` (the same decision in Python). Adding a module is enough
to add a detector: they are discovered here. Modules whose name starts with `_` are helpers.

Checksums (NIR, IBAN) are PL/pgSQL functions in `functions.sql`, schema `commons_privacy`, installed by
`install_functions(conn)` before any predicate runs. Nothing here ever returns an offending value: only
counts leave the database.

Decisions worth knowing (details in each module):
- ip_address: a dotted quad right after "<token>/" (Chrome/120.0.0.0) or glued to a letter (v4.2.1.0) is a
  software version, not an address; one after "//" (a URL) is an address.
- person_name: the first-name dictionary is compiled into the regex (no table lookup per row).
- birth_date flags every exact date (day precision), birth or not: published tables carry weeks.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

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


def _functions_sql() -> tuple[str, str]:
    text = FUNCTIONS_SQL.read_text(encoding="utf-8")
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


def install_functions(conn) -> None:
    """Install (or update) the `commons_privacy` functions on a psycopg 3 connection; idempotent.

    The installed version is recorded in the schema's comment: when it matches functions.sql and the
    functions exist, nothing is executed, so a gate run needs no DDL privilege and takes no lock. Otherwise
    the file runs in one transaction (a savepoint if one is open) under an advisory lock, so that two
    concurrent runs do not collide on `create or replace`.
    """
    text, digest = _functions_sql()
    marker = f"commons-assets privacy detectors; functions.sql sha256={digest}"
    checks = " and ".join(f"to_regprocedure('{SCHEMA}.{f}') is not null" for f in _REQUIRED_FUNCTIONS)
    current = conn.execute(
        f"select coalesce(obj_description(to_regnamespace('{SCHEMA}'), 'pg_namespace') = %s and {checks}, "
        "false)",
        (marker,),
    ).fetchone()[0]
    if current:
        return
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('commons_privacy.install_functions'))")
        conn.execute(text)
        conn.execute(f"comment on schema {SCHEMA} is '{marker}'")


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


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
    """One SELECT that reads `table_sql` once and returns one row: a count per (detector, column).

    `table_sql` is inserted as is (a quoted, schema-qualified name, or a parenthesised subquery with an
    alias); column names are quoted here. Result columns are named by scan_alias(), e.g. "email__message".
    Only counts come back, never a value. The statement holds no `%`, so it can be executed with or
    without a parameter tuple.
    """
    aliases = scan_aliases(text_columns)
    if not aliases:
        # Nothing to scan: a valid statement returning one empty row, without reading the table.
        return "select"
    items = []
    for alias, (name, column) in aliases.items():
        detector = _BY_NAME[name]
        predicate = detector.sql_predicate(f"{quote_ident(column)}::text")
        items.append(f"count(*) filter (where {predicate}) as {quote_ident(alias)}")
    return "select\n    " + ",\n    ".join(items) + f"\nfrom {table_sql}"


_BY_NAME = {detector.NAME: detector for detector in DETECTORS}
