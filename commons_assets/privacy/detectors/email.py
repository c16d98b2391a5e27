"""E-mail addresses, plain or obfuscated the way people do it in free text to dodge spam bots."""

from __future__ import annotations

from commons_assets.privacy.detectors._common import WS, Prefiltered, Regex

NAME = "email"
DESCRIPTION = "E-mail addresses, plain (jean@exemple.fr) or obfuscated ([at], (at), arobase, [dot], point)."
LABELS = ("email", "e-mail", "mail", "courriel", "adresse_mail", "contact")
TRUE_VALUES = (
    "jean.dupont@exemple.fr",
    "Contact : Marie.Claire+demande@mairie.exemple.gouv.fr merci",
    "JEAN.DUPONT@EXEMPLE.FR",
    "jean.dupont [at] exemple [dot] fr",
    "jean.dupont(at)exemple.fr",
    "écrire à jean.dupont arobase exemple.fr",
    "jean_dupont {at} exemple (point) com",
    "jean.dupont @ exemple.fr",
    "mailto:contact-42@asso.exemple.org",
)
FALSE_VALUES = (
    "depot_sauvage",
    "@mairie_paris",
    "jean.dupont",
    "exemple.fr",
    "user@localhost",
    "rendez-vous at 10 dot",
    "look at exemple.fr",
    "Voirie",
)

_LOCAL = "[a-z0-9._%+-]+"
_LABEL = "[a-z0-9-]+"
_TLD = "[a-z]{2,}"
_OPEN = r"[\[({<]"
_CLOSE = r"[\])}>]"
# The word "at" alone is plain English; only bracketed it is an obfuscated @. "arobase" is unambiguous.
_AT = (
    f"(?:{WS}*@{WS}*"
    f"|{WS}*{_OPEN}{WS}*(?:at|@|ar?robase){WS}*{_CLOSE}{WS}*"
    f"|{WS}+ar?robase{WS}+)"
)
_DOT_OBFUSCATED = f"(?:{WS}*{_OPEN}{WS}*(?:dot|point){WS}*{_CLOSE}{WS}*|{WS}+(?:dot|point){WS}+)"
_DOT = rf"(?:\.|{_DOT_OBFUSCATED})"
_PATTERN = Regex(
    f"{_LOCAL}{_AT}{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}{_TLD}"
    # "jean at exemple dot fr": a bare "at" only counts when the dot is obfuscated too.
    f"|{_LOCAL}{WS}+at{WS}+{_LABEL}(?:{_DOT}{_LABEL})*{_DOT_OBFUSCATED}{_TLD}",
    ignore_case=True,
)


# Prefilter (an @, a bracketed or free-standing 'at', or (ar)robase): a small automaton PostgreSQL runs
# cheaply, so most values skip the full pattern.
_DETECTOR = Prefiltered(Regex(f"@|(?:{WS}|{_OPEN})at(?:{WS}|{_CLOSE})|robase", ignore_case=True), _PATTERN)


def sql_predicate(column_sql: str) -> str:
    return _DETECTOR.sql(column_sql)


def matches(value: str) -> bool:
    return _DETECTOR.search(value)
