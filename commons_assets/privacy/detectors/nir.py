"""French social security numbers (NIR), validated by their key."""

from __future__ import annotations

import re

from commons_assets.privacy.detectors._common import CheckedCandidates, Regex

NAME = "nir"
DESCRIPTION = "French social security numbers (NIR): 13 characters + key = 97 - (n mod 97), 2A/2B aware."
LABELS = ("nir", "numero_securite_sociale", "securite_sociale", "secu", "insee", "nss", "ssn")
TRUE_VALUES = (
    "1 85 05 78 006 084 91",
    "185057800608491",
    "NIR : 1850578006084 91",
    "2 90 02 2A 004 123 04",
    "2 90 02 2B 004 123 31",
    "2900219004123 04",
    "2.69.04.75.112.053.69",
)
FALSE_VALUES = (
    "1 85 05 78 006 084 92",
    "185057800608492",
    "123456789012345",
    "1850578006084",
    "2A",
    "2 90 02 2A 004 123 31",
    "1234567890123456789",
    "75011",
)

# Sex (1/2, 3/4 and 7/8 for provisional numbers), year, month, département (2 digits or 2A/2B; the
# 3-digit overseas départements take one digit from the commune, so the shape is the same), commune,
# order, key, each optionally separated by one space or dot. The left guard is consumed, the right one is
# a lookahead: two adjacent NIRs are both enumerated.
_CANDIDATE = Regex(
    r"(^|[^0-9A-Za-z])"
    r"([123478][ .]?[0-9]{2}[ .]?[0-9]{2}[ .]?(?:[0-9]{2}|2[AaBb])[ .]?[0-9]{3}[ .]?[0-9]{3}[ .]?[0-9]{2})"
    r"(?![0-9A-Za-z])"
)
_SHAPE = re.compile(r"[123478][0-9]{4}(?:[0-9]{2}|2[AB])[0-9]{8}")


def is_valid_nir(candidate: str) -> bool:
    """The Python twin of `commons_privacy.is_valid_nir` (functions.sql)."""
    compact = re.sub(r"[^0-9A-Za-z]", "", candidate).upper()
    if not _SHAPE.fullmatch(compact):
        return False
    # Corsica: the key is computed with 2A read as 19 and 2B as 18.
    number = int(compact[:13].replace("2A", "19").replace("2B", "18"))
    return 97 - number % 97 == int(compact[13:])


_DETECTOR = CheckedCandidates(_CANDIDATE, 2, "commons_privacy.is_valid_nir", is_valid_nir)


def sql_predicate(column_sql: str) -> str:
    return _DETECTOR.sql(column_sql)


def matches(value: str) -> bool:
    return _DETECTOR.search(value)
