"""Exact calendar dates (day precision), the shape of a birth date: ISO, French numeric and written forms."""

from __future__ import annotations

from commons_assets.privacy.detectors._common import WS, Prefiltered, Regex, ci

NAME = "birth_date"
DESCRIPTION = "Exact dates (1987-03-14, 14/03/1987, 14 mars 1987, ISO timestamps); not weeks, months, years."
LABELS = (
    "date_naissance", "date_de_naissance", "naissance", "birth_date", "birthdate", "dob", "ddn",
    "ne_le",
)
TRUE_VALUES = (
    "1987-03-14",
    "14/03/1987",
    "14 mars 1987",
    "1987-03-14T08:30:00Z",
    "né le 1er février 1990 à Lyon",
    "14.03.1987",
    "3-7-2001",
    "03/02/87",
    "1987/03/14",
    "14 DÉCEMBRE 1987",
    "March 14, 1987",
    "le 2 fevrier 2003",
)
FALSE_VALUES = (
    "2026-W47",
    "2026-11",
    "2026",
    "11/2026",
    "2026-13-45",
    "14/03",
    "mars 2026",
    "semaine 47",
    "1.2.3",
    "0.42",
    "32/01/1987",
)

_DAY = "(?:0?[1-9]|[12][0-9]|3[01])"
_DAY2 = "(?:0[1-9]|[12][0-9]|3[01])"
_MONTH = "(?:0?[1-9]|1[0-2])"
_MONTH2 = "(?:0[1-9]|1[0-2])"
_YEAR = "(?:1[89][0-9]{2}|20[0-9]{2})"
_SEP = "[-/.]"
_FR_MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
    "novembre", "décembre", "janv.", "févr.", "fév.", "avr.", "juil.", "sept.", "oct.", "nov.", "déc.",
)
_EN_MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december",
)
_MONTH_WORD = "(?:" + "|".join(ci(m) for m in sorted(_FR_MONTHS + _EN_MONTHS, key=len, reverse=True)) + ")"
_NOT_DIGIT_BEFORE = "(^|[^0-9])"
_NOT_DIGIT_AFTER = "(?![0-9])"

_PATTERN = Regex(
    _NOT_DIGIT_BEFORE
    + "(?:"
    # ISO and its slash/dot variants, year first; a time may follow (the right guard does not care).
    + f"{_YEAR}{_SEP}{_MONTH2}{_SEP}{_DAY2}"
    # Day first, French order, 4-digit year.
    + f"|{_DAY}{_SEP}{_MONTH}{_SEP}{_YEAR}"
    # Day first with a 2-digit year: only the fully padded slash form, 03/02/87.
    + f"|{_DAY2}/{_MONTH2}/[0-9]{{2}}"
    # Written month, French order: 14 mars 1987, 1er février 1990.
    + f"|(?:1[eE][rR]|{_DAY}){WS}+{_MONTH_WORD}{WS}+{_YEAR}"
    # Written month, English order: March 14, 1987.
    + f"|{_MONTH_WORD}{WS}+{_DAY}(?:st|nd|rd|th)?,?{WS}+{_YEAR}"
    + ")"
    + _NOT_DIGIT_AFTER
)


# Prefilters, each a small automaton that PostgreSQL evaluates cheaply (the full pattern costs ~20 us per
# value whatever the text): two digits in a row (every form holds a year), then a necessary skeleton of
# each form: ISO, day-first numeric, "<day> <month word> <year>", "<month word> <day>, <year>".
_LOOSE_LETTER = "[A-Za-z\u00c0-\u00ff]"
_SKELETON = Regex(
    "[0-9]{4}[-/.][0-9]{2}[-/.][0-9]{2}"
    "|[0-9][-/.][0-9]{1,2}[-/.][0-9]{2}"
    f"|[0-9rR]{WS}+{_LOOSE_LETTER}{{3,}}[.]?{WS}+[0-9]{{4}}"
    f"|{_LOOSE_LETTER}{WS}+[0-9]{{1,2}}(?:[a-z]{{2}})?,?{WS}+[0-9]{{4}}"
)
_DETECTOR = Prefiltered(Regex("[0-9][0-9]"), Prefiltered(_SKELETON, _PATTERN))


def sql_predicate(column_sql: str) -> str:
    return _DETECTOR.sql(column_sql)


def matches(value: str) -> bool:
    return _DETECTOR.search(value)
