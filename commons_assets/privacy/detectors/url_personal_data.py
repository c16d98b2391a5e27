"""URLs that carry personal data or credentials in their query string or fragment."""

from __future__ import annotations

from commons_assets.privacy.detectors._common import Prefiltered, Regex

NAME = "url_personal_data"
DESCRIPTION = "URLs carrying personal data or credentials in parameters (?email=, &token=, nom=, session, JWT)."
LABELS = ("url", "uri", "referer", "referrer", "page", "path", "lien", "link", "landing_page")
TRUE_VALUES = (
    "https://exemple.gouv.fr/suivi?email=jean.dupont%40exemple.fr",
    "/api/demandes?id=12&token=abc123def",
    "https://exemple.gouv.fr/rappel?tel=0612345678",
    "https://exemple.gouv.fr/profil?nom=Dupont&prenom=Jean",
    "https://exemple.gouv.fr/app#access_token=ya29.a0AfH6SM",
    "https://exemple.gouv.fr/?user_id=4521",
    "https://exemple.gouv.fr/panier;jsessionid=ABC123DEF",
    "https://exemple.gouv.fr/callback?SESSION=9f8e7d",
    "https://exemple.gouv.fr/a/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
    "https://exemple.gouv.fr/reset?login=jdupont&jwt=xyz",
)
FALSE_VALUES = (
    "https://exemple.gouv.fr/carte?zoom=12&categorie=voirie",
    "https://exemple.gouv.fr/demandes?page=2",
    "https://exemple.gouv.fr/faq#nom",
    "https://exemple.gouv.fr/?email=",
    "consultation_carte",
    "https://exemple.gouv.fr/stats?semaine=2026-W47",
    "https://exemple.gouv.fr/demande?id=123",
    "https://exemple.gouv.fr/recherche?sort_key=date&name_filter=voirie",
    "email",
)

# Parameter names, matched whole (after ?, &, ; or #, before =) so that "sort_key" or "username_hint"
# do not count as "key" or "username". Plain "id" and "name" are left out: resource ids and category names
# are what public URLs carry.
_PARAMETERS = (
    "email", "e-mail", "mail", "courriel", "adresse_mail", "email_address",
    "tel", "telephone", "t%C3%A9l%C3%A9phone", "phone", "mobile", "portable",
    "nom", "prenom", "pr%C3%A9nom", "firstname", "first_name", "lastname", "last_name", "fullname", "full_name",
    "user", "username", "user_id", "userid", "uid", "login", "utilisateur",
    "token", "access_token", "id_token", "refresh_token", "auth", "auth_token", "authorization", "code_verifier",
    "session", "session_id", "sessionid", "sid", "jsessionid", "phpsessid",
    "jwt", "password", "passwd", "pwd", "secret", "api_key", "apikey",
    "nir", "iban", "adresse", "address", "date_naissance", "birthdate", "dob", "ip",
)
_PARAMETER = "(?:" + "|".join(sorted(_PARAMETERS, key=len, reverse=True)) + ")"
_PATTERN = Regex(
    rf"[?&;#]{_PARAMETER}=[^&#; \t\r\n]"
    # A JSON Web Token anywhere in the URL (path segments too): base64url header and payload, both JSON.
    r"|eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.",
    ignore_case=True,
)


# Prefilter (a parameter needs '=', a JWT starts with eyJ): a small automaton PostgreSQL runs cheaply, so
# most values skip the full pattern.
_DETECTOR = Prefiltered(Regex(r"=|eyJ", ignore_case=True), _PATTERN)


def sql_predicate(column_sql: str) -> str:
    return _DETECTOR.sql(column_sql)


def matches(value: str) -> bool:
    return _DETECTOR.search(value)
