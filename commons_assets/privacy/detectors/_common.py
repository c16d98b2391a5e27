"""Shared building blocks of the detectors (a private module: the discovery skips names starting with `_`).

Every detector decides twice, once in PostgreSQL (the gate scans published tables where they live) and
once in Python (unit tests, artefact scanning). To keep the two decisions identical, one regex source
serves both engines. It is written in the subset that PostgreSQL's ARE and Python's `re` read the same
way:

- no lookbehind (the brief), no `\\b`/`\\d`/`\\s`/`\\w` (their meaning depends on the locale in
  PostgreSQL and on Unicode in Python): explicit classes instead;
- left guards are consumed groups such as `(^|[^0-9])`, right guards are lookaheads `(?![0-9])`
  (both engines support lookahead);
- `.` is never used unescaped (it does not match a newline in Python, it does in PostgreSQL);
- case: a detector either matches case-sensitively (`~` / no flag) or case-insensitively on ASCII only
  (`~*` / `re.IGNORECASE | re.ASCII`); a non-ASCII letter is always written with both of its cases, so
  the result does not depend on the database collation either;
- every non-ASCII character, and `%`, is written as a `\\uXXXX` escape that both engines read: the SQL
  we generate is then pure ASCII (no client-encoding surprise) and holds no `%` (no clash with a
  driver's placeholders).
"""

from __future__ import annotations

import re

# Whitespace, explicitly: ASCII blanks plus the no-break spaces French typography puts before ":" or
# inside phone numbers.
WS = "[ \t\r\n\u00a0\u202f]"
# Latin letters used in French; code-point ranges read the same in both engines whatever the collation.
UPPER = "A-Z\u00c0-\u00d6\u00d8-\u00de\u0152\u0178"
LOWER = "a-z\u00df-\u00f6\u00f8-\u00ff\u0153"
LETTER = UPPER + LOWER

_ACCENT_VARIANTS = {
    "a": "aA\u00e0\u00c0\u00e2\u00c2",
    "c": "cC\u00e7\u00c7",
    "e": "eE\u00e9\u00c9\u00e8\u00c8\u00ea\u00ca\u00eb\u00cb",
    "i": "iI\u00ee\u00ce\u00ef\u00cf",
    "o": "oO\u00f4\u00d4\u00f6\u00d6",
    "u": "uU\u00f9\u00d9\u00fb\u00db\u00fc\u00dc",
}
_BASE_LETTER = {variant: base for base, variants in _ACCENT_VARIANTS.items() for variant in variants}


def ascii_regex(pattern: str) -> str:
    """The same regex with every non-ASCII character and `%` written as a `\\uXXXX` escape."""
    out = []
    for ch in pattern:
        code = ord(ch)
        if code > 0xFFFF:
            out.append(f"\\U{code:08x}")
        elif code > 0x7E or ch == "%":
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def sql_string(text: str) -> str:
    """An SQL string literal whose meaning does not depend on `standard_conforming_strings`."""
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def ci(word: str, accents: bool = True) -> str:
    """A case-insensitive spelling of `word` usable inside a case-sensitive pattern.

    Case-sensitive patterns need it where one part must be case-insensitive (a street type) and another
    must not (the capital of a name). With `accents`, an accented letter matches its plain and accented
    forms in both cases (allée, allee, ALLÉE), because free text drops accents as often as it keeps them;
    plain letters only get their two cases, which keeps the automaton small.
    """
    parts = []
    for ch in word:
        base = _BASE_LETTER.get(ch)
        if accents and base is not None and not ch.isascii():
            parts.append("[" + _ACCENT_VARIANTS[base] + "]")
        elif ch.isalpha():
            parts.append("[" + ch.lower() + ch.upper() + "]")
        elif ch in ".()[]{}?*+|^$\\":
            parts.append("\\" + ch)
        else:
            parts.append(ch)
    return "".join(parts)


class Regex:
    """One regex source, compiled for Python and rendered for PostgreSQL."""

    def __init__(self, pattern: str, ignore_case: bool = False) -> None:
        self.source = ascii_regex(pattern)
        self.ignore_case = ignore_case
        flags = re.IGNORECASE | re.ASCII if ignore_case else 0
        self.compiled = re.compile(self.source, flags)

    def search(self, value: object) -> bool:
        return isinstance(value, str) and self.compiled.search(value) is not None

    def sql(self, column_sql: str) -> str:
        """True when the pattern occurs; false (not NULL) on NULL, so the result can be negated safely."""
        op = "~*" if self.ignore_case else "~"
        return f"coalesce(({column_sql}) {op} {sql_string(self.source)}, false)"


class CheckedCandidates:
    """A regex that finds candidates, and a checksum that decides on each candidate.

    `group` is the capture group holding the candidate. Candidates are enumerated the same way in both
    engines (`re.finditer`, `regexp_matches(…, 'g')`: leftmost, non-overlapping); the patterns are written
    so that, from a given start, only one candidate can match, which keeps the two enumerations equal.
    """

    def __init__(self, regex: Regex, group: int, sql_function: str, validator) -> None:
        self.regex = regex
        self.group = group
        self.sql_function = sql_function
        self.validator = validator

    def search(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        return any(self.validator(m.group(self.group)) for m in self.regex.compiled.finditer(value))

    def sql(self, column_sql: str) -> str:
        # The regex alone is the cheap prefilter: CASE guarantees the checksum (and its subquery) only runs
        # on the few values that contain a candidate.
        flags = "gi" if self.regex.ignore_case else "g"
        return (
            f"(case when {self.regex.sql(column_sql)} then exists ("
            f"select 1 from regexp_matches(({column_sql}), {sql_string(self.regex.source)}, '{flags}') "
            f"as candidate(groups) where {self.sql_function}(candidate.groups[{self.group}])"
            f") else false end)"
        )


class Prefiltered:
    """Cheap necessary condition first, then the real checks (any of them).

    PostgreSQL's regex engine is fast on simple patterns but slow (tens of microseconds per value) on
    large alternations and guards; a one-class prefilter such as "has two digits" rules most values out
    for almost nothing. CASE guarantees the order in SQL; Python applies the very same prefilter, so the
    two decisions stay identical even if a prefilter were not strictly necessary.
    """

    def __init__(self, prefilter: Regex, *checks) -> None:
        self.prefilter = prefilter
        self.checks = checks

    def search(self, value: object) -> bool:
        return self.prefilter.search(value) and any(check.search(value) for check in self.checks)

    def sql(self, column_sql: str) -> str:
        checks = " or ".join(check.sql(column_sql) for check in self.checks)
        return f"(case when {self.prefilter.sql(column_sql)} then ({checks}) else false end)"


class AnyOf:
    """Several independent checks; true when one of them is."""

    def __init__(self, *checks) -> None:
        self.checks = checks

    def search(self, value: object) -> bool:
        return any(check.search(value) for check in self.checks)

    def sql(self, column_sql: str) -> str:
        return "(" + " or ".join(check.sql(column_sql) for check in self.checks) + ")"
