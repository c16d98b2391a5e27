"""IBANs (ISO 13616) of every registered country, validated by their mod-97 check digits."""

from __future__ import annotations

import re

from commons_assets.privacy.detectors._common import CheckedCandidates, Regex

NAME = "iban"
DESCRIPTION = "IBANs (ISO 13616) of any registered country, spaced or not, mod-97 check digits verified."
LABELS = ("iban", "rib", "bic_iban", "compte_bancaire", "bank_account")
TRUE_VALUES = (
    "FR76 3000 6000 0112 3456 7890 189",
    "FR7630006000011234567890189",
    "IBAN : FR14 2004 1010 0505 0001 3M02 606 (BIC PSSTFRPPXXX)",
    "fr76 3000 6000 0112 3456 7890 189",
    "DE89 3704 0044 0532 0130 00",
    "GB82 WEST 1234 5698 7654 32",
    "virement ab12 BE68 5390 0754 7034 reçu",
    "NO9386011117947",
    "MT84 MALT 0110 0001 2345 MTLC AST0 01S",
)
FALSE_VALUES = (
    "de23f028-91b3-4710-89a9-0b8e70df11c5",
    "FR76 3000 6000 0112 3456 7890 188",
    "FR76 3000 6000 0112 3456 7890 18",
    "GB82 WEST 1234 5698 7654 33",
    "XX12 3456 7890 1234 5678 90",
    "FR76",
    "2026-W47",
    "depot_sauvage",
    "AB12 CD34 EF56 GH78",
)

# ISO 13616 registry: country code -> IBAN length (French overseas collectivities that have their own
# code use the French length). Mirrored by commons_privacy.iban_length() in functions.sql; a test checks
# that the two agree.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
    "BL": 27, "GF": 27, "GP": 27, "MF": 27, "MQ": 27, "NC": 27, "PF": 27, "PM": 27, "RE": 27, "TF": 27,
    "WF": 27, "YT": 27,
}

# A country code and check digits at the start of a token, then at least 11 more alphanumerics in groups
# separated by at most one space or hyphen. The run is not bounded: the checksum function looks for the
# IBAN at each group start of the run and only reads as many characters as the country's length, so
# words following the IBAN, or a short code before it, do not hide it.
# Written either compact, or in the printed groups of four (the last one shorter): a hex token such as a
# UUID (8-4-4-4-12) is neither, and would otherwise pass mod 97 once in 97 tries.
_CANDIDATE = Regex(
    r"(^|[^a-z0-9])([a-z]{2}[0-9]{2}(?:[a-z0-9]{11,}|(?:[ \u00a0-][a-z0-9]{4}){2,}"
    r"(?:[ \u00a0-][a-z0-9]{1,4})?))(?![a-z0-9])",
    ignore_case=True,
)
_GROUP_SPLIT = re.compile(r"[^A-Z0-9]+")
_IBAN_START = re.compile(r"[A-Z]{2}[0-9]{2}")


def _checksum_ok(compact: str) -> bool:
    expected = IBAN_LENGTHS.get(compact[:2])
    if expected is None or len(compact) < expected:
        return False
    iban = compact[:expected]
    rearranged = iban[4:] + iban[:4]
    remainder = 0
    for ch in rearranged:  # chunked mod 97, like the SQL twin
        remainder = (remainder * 10 + int(ch)) % 97 if ch.isdigit() else (remainder * 100 + ord(ch) - 55) % 97
    return remainder == 1


def is_valid_iban(candidate: str) -> bool:
    """The Python twin of `commons_privacy.is_valid_iban` (functions.sql)."""
    groups = [g for g in _GROUP_SPLIT.split(candidate.upper()) if g]
    return any(
        _IBAN_START.match(group) and _checksum_ok("".join(groups[i:]))
        for i, group in enumerate(groups)
    )


_DETECTOR = CheckedCandidates(_CANDIDATE, 2, "commons_privacy.is_valid_iban", is_valid_iban)


def sql_predicate(column_sql: str) -> str:
    return _DETECTOR.sql(column_sql)


def matches(value: str) -> bool:
    return _DETECTOR.search(value)
