"""Precise geographic coordinates written as text (lat/lon with 3+ decimals, i.e. ~100 m or better)."""

from __future__ import annotations

from commons_assets.privacy.detectors._common import Prefiltered, Regex

NAME = "coordinates"
DESCRIPTION = "Latitude/longitude in text with 3+ decimals (|value| <= 180): alone, pairs, URLs, WKT."
LABELS = (
    "latitude", "longitude", "lat", "lon", "lng", "coordonnees", "coordinates", "geo_point", "position",
    "gps",
)
TRUE_VALUES = (
    "48.85661",
    "2.352222",
    "48.8566, 2.3522",
    "-21.115141",
    "https://carte.exemple.fr/?lat=45.764043&lon=4.835659",
    "POINT(2.3522 48.8566)",
    "48,85661",
    "48.8566,2.3522",
    "#map=18/48.85661/2.35222",
)
FALSE_VALUES = (
    "0.42",
    "48.85",
    "1.2.3",
    "Chrome/120.0.6099.109",
    "200.12345",
    "2026-11-14T09:30:00.123Z",
    "12,500 visites",
    "v2.345",
    "10.0.19045.3570",
    "14.03.1987",
)

# |integer part| <= 180 (a longitude; a latitude is a subset), then 3+ decimals after a dot, or 4+ after a
# comma: "12,500" is a French thousand, "48,8566" a French decimal coordinate. The left guard refuses a
# digit or a dot (inside a longer number or a version), a letter or underscore (v2.345), and a colon (the
# fractional seconds of 09:30:00.123); a comma is refused only before a comma decimal. The right guard
# refuses a further ".digit" (versions, dotted dates), so "48.8566,2.3522" still gives two values.
_INT = "-?(?:180|1[0-7][0-9]|[0-9]{1,2})"
_PATTERN = Regex(
    rf"(^|[^0-9A-Za-z_.:]){_INT}\.[0-9]{{3,}}(?![0-9]|\.[0-9])"
    rf"|(^|[^0-9A-Za-z_.,:]){_INT},[0-9]{{4,}}(?![0-9]|,[0-9])"
)


# Prefilter (a digit, a decimal separator and three decimals): a small automaton PostgreSQL runs cheaply,
# so most values skip the full pattern.
_DETECTOR = Prefiltered(Regex(r"[0-9][.,][0-9][0-9][0-9]"), _PATTERN)


def sql_predicate(column_sql: str) -> str:
    return _DETECTOR.sql(column_sql)


def matches(value: str) -> bool:
    return _DETECTOR.search(value)
