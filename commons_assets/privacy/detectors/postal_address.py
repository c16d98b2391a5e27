"""Postal addresses: a street number with a street type, or a postcode followed by a commune."""

from __future__ import annotations

from commons_assets.privacy.detectors._common import LETTER, UPPER, WS, Prefiltered, Regex, ci

NAME = "postal_address"
DESCRIPTION = "Postal addresses: number + street type (12 rue de la Paix, 3 bis av. Foch) or 75011 Paris."
LABELS = ("adresse", "address", "rue", "voie", "adresse_postale", "street", "localisation", "lieu")
TRUE_VALUES = (
    "12 rue de la République",
    "3 bis avenue Jean Jaurès",
    "5 bd Voltaire",
    "10, place de la Mairie",
    "4 allée des Tilleuls",
    "8 impasse du Moulin",
    "75011 Paris",
    "25 chemin des Vignes, 69003 Lyon",
    "12 RUE PASTEUR",
    "j'habite au 7 rue de la paix",
    "14B quai d'Orsay",
    "97400 Saint-Denis",
)
FALSE_VALUES = (
    "12 demandes",
    "3 places de parking",
    "1 place de parking libre",
    "1 cours annulé",
    "75",
    "75011",
    "Rue",
    "Paris",
    "2 avenues fermées",
    "Place de la Mairie",
    "12 rue",
)

# Street types that are hardly anything else: any word may follow (addresses are often typed in lower
# case). The ambiguous ones ("1 place de parking", "1 cours annulé", "2 voies de bus") need a capitalised
# name after optional articles: "10 place de la Mairie", "14 quai d'Orsay".
_STRONG_TYPES = (
    "rue", "avenue", "av", "boulevard", "bd", "bld", "blvd", "allée", "impasse", "chemin", "faubourg", "fbg",
    "ruelle", "lotissement", "lieu-dit", "résidence", "chaussée", "venelle", "sentier", "rte", "hameau",
)
_WEAK_TYPES = (
    "place", "pl", "cours", "route", "quai", "square", "sq", "passage", "voie", "villa", "mail", "clos",
    "domaine", "promenade", "esplanade", "parvis", "montée", "rond-point", "carrefour", "traverse", "cité",
)


def _alternation(words: tuple[str, ...]) -> str:
    return "(?:" + "|".join(ci(w) for w in sorted(words, key=len, reverse=True)) + ")"


_NUMBER = (
    "(^|[^0-9])[0-9]{1,4}(?:"
    + f"{WS}?"
    + "(?:"
    + "|".join(ci(w, accents=False) for w in ("quater", "bis", "ter"))
    + ")|[A-Da-d])?"
)
_BEFORE_TYPE = f",?{WS}+"
_AFTER_TYPE = rf"\.?{WS}+"
_ARTICLES = (
    "(?:(?:" + "|".join(ci(w, accents=False) for w in ("des", "de", "du", "la", "le", "les", "aux", "au"))
    + f"){WS}+|[dDlL]['\u2019]{WS}*)*"
)
_COMMUNE = f"[{UPPER}][{LETTER}]"
_POSTCODE = "(?:0[1-9]|[1-8][0-9]|9[0-8])[0-9]{3}"

_PATTERN = Regex(
    f"{_NUMBER}{_BEFORE_TYPE}{_alternation(_STRONG_TYPES)}{_AFTER_TYPE}[{LETTER}0-9]"
    f"|{_NUMBER}{_BEFORE_TYPE}{_alternation(_WEAK_TYPES)}{_AFTER_TYPE}{_ARTICLES}[{UPPER}]"
    # 75011 Paris, 69003 LYON, 97400 Saint-Denis (CEDEX codes too).
    f"|(^|[^0-9]){_POSTCODE}{WS}+(?:{ci('cedex', accents=False)}{WS}+)?{_COMMUNE}"
)


# Prefilters, small automata that PostgreSQL evaluates cheaply (the full pattern costs ~20 us per value
# whatever the text): a digit, then a necessary skeleton: a number (maybe bis/ter or a letter), blanks and
# two letters; or five digits and a blank.
_SKELETON = Regex(
    f"[0-9](?:{WS}?[A-Za-z]{{3,6}}|[A-Da-d])?,?{WS}+[A-Za-z\u00c0-\u00ff]{{2}}|[0-9]{{5}}{WS}"
)
_DETECTOR = Prefiltered(Regex("[0-9]"), Prefiltered(_SKELETON, _PATTERN))


def sql_predicate(column_sql: str) -> str:
    return _DETECTOR.sql(column_sql)


def matches(value: str) -> bool:
    return _DETECTOR.search(value)
