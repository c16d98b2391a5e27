"""French phone numbers, metropolitan and overseas, in the formats people actually type."""

from __future__ import annotations

from commons_assets.privacy.detectors._common import Prefiltered, Regex

NAME = "phone_fr"
DESCRIPTION = "French phone numbers: 0X XX XX XX XX, +33 / 0033 (with or without (0)), overseas +262, +687…"
LABELS = ("telephone", "téléphone", "tel", "tél", "phone", "mobile", "portable", "numero", "fax")
TRUE_VALUES = (
    "06 12 34 56 78",
    "+33 6 12 34 56 78",
    "+33 (0)6 12 34 56 78",
    "0033612345678",
    "06.12.34.56.78",
    "06-12-34-56-78",
    "Rappeler au 0612345678 svp",
    "01 42 76 40 40",
    "09 70 12 34 56",
    "+262 692 12 34 56",
    "+590 690 12 34 56",
    "+687 28 12 34",
    "+689 87 12 34 56",
    "0692 12 34 56",
)
FALSE_VALUES = (
    "123",
    "75011",
    "0612345",
    "06123456789",
    "2026-W47",
    "0.42",
    "1 85 05 78 006 084 36",
    "2026-11-14 09:30:00",
    "00 12 34 56 78",
    "+44 20 7946 0958",
    "711d9942-a28b-4b5d-91ec-0569209771b8",
    "60393b06-8752-4015-9b1d-c62d7ed63203",
)

_SEP = "[ .\u00a0\u202f-]"
_PAIRS = f"(?:{_SEP}?[0-9]{{2}})"
# Not glued to a letter either: inside a hex token (a UUID, a hash) ten digits in a row are not a phone.
_START = "(^|[^0-9A-Za-z+])"
_END = "(?![0-9A-Za-z])"
_INTL = "(?:[+]|00)"
_TRUNK = rf"(?:{_SEP}?\(0\))?{_SEP}?"

_PATTERN = Regex(
    _START
    + "(?:"
    # National format, every number plan prefix 01-09 (overseas numbers too: 0262, 0590, 0692…).
    + f"0[1-9]{_PAIRS}{{4}}"
    # +33 / 0033, optionally with the "(0)" people keep from the national format.
    + f"|{_INTL}33{_TRUNK}[1-9]{_PAIRS}{{4}}"
    # Overseas departments with their own country code: 9 national digits, grouped freely.
    + f"|{_INTL}(?:262|269|590|594|596){_TRUNK}[1-9](?:{_SEP}?[0-9]){{8}}"
    # New Caledonia, Wallis-et-Futuna, Saint-Pierre-et-Miquelon: 6 digits.
    + f"|{_INTL}(?:687|681|508){_SEP}?[0-9]{{2}}{_PAIRS}{{2}}"
    # French Polynesia: 8 digits since 2017.
    + f"|{_INTL}689{_SEP}?[0-9]{{2}}{_PAIRS}{{3}}"
    + ")"
    + _END
)


# Prefilter (two digits in a row): a small automaton PostgreSQL runs cheaply, so most values skip the full
# pattern.
_DETECTOR = Prefiltered(Regex(r"[0-9][0-9]"), _PATTERN)


def sql_predicate(column_sql: str) -> str:
    return _DETECTOR.sql(column_sql)


def matches(value: str) -> bool:
    return _DETECTOR.search(value)
