"""French number plates: current SIV (AB-123-CD) and former FNI (123 ABC 75)."""

from __future__ import annotations

from commons_assets.privacy.detectors._common import Prefiltered, Regex

NAME = "vehicle_plate"
DESCRIPTION = "French number plates: SIV AB-123-CD / AB 123 CD / AB123CD, former FNI 123 ABC 75, 12 ABC 2A."
LABELS = ("immatriculation", "plaque", "plaque_immatriculation", "plate", "license_plate", "vehicule")
TRUE_VALUES = (
    "AB-123-CD",
    "AB 123 CD",
    "AB123CD",
    "Véhicule ventouse immatriculé GH-456-JK rue X",
    "ab-123-cd",
    "123 ABC 75",
    "1234 AB 69",
    "12 ABC 2A",
    "456-XY-971",
    "789EFG13",
)
FALSE_VALUES = (
    "2026-W47",
    "2026W47",
    "AB-12-CD",
    "AB-1234-CD",
    "2A",
    "123",
    "le 123 de la rue",
    "ab 123 cd",
    "12 ABC 99",
    "IO-123-UU",
    "75011 Paris",
)

# SIV letters skip I, O and U. Upper case with any separator; lower case only in the hyphenated form,
# because "le 123 de" is ordinary French.
_SIV_LETTERS = "[A-HJ-NP-TV-Z]{2}"
_SIV = (
    f"{_SIV_LETTERS}[ -]?[0-9]{{3}}[ -]?{_SIV_LETTERS}"
    "|[a-hj-np-tv-z]{2}-[0-9]{3}-[a-hj-np-tv-z]{2}"
)
# FNI: 1-4 digits, 1-3 letters, a département. The two separators must agree (both spaces, both hyphens
# or none): "2026-W47", an ISO week, has a hyphen then nothing. Glued, at least two letters, so that the
# compact week "2026W47" is not a plate either.
_DEPT = "(?:0[1-9]|[1-8][0-9]|9[0-5]|2[AB]|97[1-6])"
_FNI = (
    f"[0-9]{{1,4}} [A-Z]{{1,3}} {_DEPT}"
    f"|[0-9]{{1,4}}-[A-Z]{{1,3}}-{_DEPT}"
    f"|[0-9]{{1,4}}[A-Z]{{2,3}}{_DEPT}"
)
_PATTERN = Regex(f"(^|[^A-Za-z0-9])(?:{_SIV}|{_FNI})(?![A-Za-z0-9])")


# Prefilters, small automata that PostgreSQL evaluates cheaply: a digit (not two: "12 ABC 2A" has no two
# in a row), then a skeleton: letter, 3 digits, letter (SIV) or digit, capitals, digit (FNI).
_SKELETON = Regex("[A-Za-z][ -]?[0-9]{3}[ -]?[A-Za-z]|[0-9][ -]?[A-Z]{1,3}[ -]?[0-9]")
_DETECTOR = Prefiltered(Regex("[0-9]"), Prefiltered(_SKELETON, _PATTERN))


def sql_predicate(column_sql: str) -> str:
    return _DETECTOR.sql(column_sql)


def matches(value: str) -> bool:
    return _DETECTOR.search(value)
