"""Does an audience-measurement source meet the CNIL's conditions for the consent exemption?

The CNIL exempts audience-measurement trackers from consent when they only produce anonymous statistics for the
publisher (« Cookies : solutions pour les outils de mesure d'audience »,
https://www.cnil.fr/fr/cookies-et-autres-traceurs/regles/cookies-solutions-pour-les-outils-de-mesure-daudience).
Three of its conditions can be measured on the data, and this module measures them:

- ``ip_truncated`` — IP addresses cut short enough that they cannot locate anyone more precisely than a town.
  The CNIL's guidance for Matomo is to anonymise at least 2 bytes. Matomo's own masks (Matomo\\Network\\IPv6::
  anonymize) are, for 1, 2 and 3 bytes: IPv4 — the last 1, 2, 3 octets set to zero; IPv4-mapped IPv6
  (::ffff:a.b.c.d) — treated as IPv4; IPv6 — the last 64, 80, 104 bits set to zero (/64, /48, /24). So
  « 2 bytes » means: IPv4 x.y.0.0, IPv6 with its last 80 bits zero, and that is what we check.
- ``visitor_id_lifetime`` — a visitor identifier (the cookie) lives at most 13 months, not extended by each
  visit. On an event table we see an identifier only when it is used, so the longest span between its first and
  last event is a lower bound of its lifetime: a span above 13 months proves the condition broken; spans
  below it are no proof that the cookie itself expires in time.
- ``raw_event_retention`` — the collected data is kept at most 25 months: the oldest raw event must be younger.

The others (information of users, no cross-site tracking, no transfer to third parties, no re-use) are
commitments, not measurements: the published page says who stands by them.

Every condition is reported with a measured value: counts, durations, never an address or an identifier.
Only what the service declared is measured: its event table and the columns playing each role are named in its
dbt sources yml (`commons_assets.service.usage_event_source`); a condition whose column is not declared, or
with nothing to measure (an empty table), is « non mesuré » (`holds` None), never shown as met.

Matomo: its Reporting API has no method that reads these settings. PrivacyManager's API only has setters (marked
@internal, super-user only) and `getComplianceStatus`, which is internal, super-user only and behind a feature
flag; a token that can read reports should not be a super-user token. So the operator of the Matomo instance
*declares* them, in three variables read by `check_matomo_settings`:

- MATOMO_DECLARED_IP_MASKED_BYTES: « Anonymiser l'adresse IP des visiteurs », bytes masked (1 to 3; 0 when
  anonymisation is off). Holds from 2.
- MATOMO_DECLARED_VISITOR_COOKIE_DAYS: lifetime of the `_pk_id` visitor cookie (the tracker's
  `setVisitorCookieTimeout`, 393 days by default), in days; 0 when the tracker sets no cookie. Holds up to 393.
- MATOMO_DECLARED_RAW_DATA_RETENTION_DAYS: « Supprimer régulièrement les anciennes données brutes »
  (`delete_logs_older_than`), in days; 0 when the deletion is off. Holds from 1 to 758.

393 days is the shortest 13-month span (1 February to 1 March of the next year) and 758 days the shortest
25-month span, so the limits hold whatever day a cookie was set or an event recorded; Matomo's default cookie
lifetime is precisely 393 days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
from psycopg import sql

from commons_assets.service import EventSource
from commons_assets.settings import get_settings
from commons_assets.usage.matomo import MatomoSettings, MatomoSettingsError

VISITOR_ID_MAX_MONTHS = 13
RAW_EVENT_MAX_MONTHS = 25
MIN_IP_MASKED_BYTES = 2
# Matomo's IPv6 prefix kept for each number of masked bytes (Matomo\Network\IPv6::anonymize).
_IPV6_PREFIX_FOR_BYTES = {1: 64, 2: 48, 3: 24}
# The shortest spans of 13 and 25 calendar months, in days (see the module docstring).
VISITOR_COOKIE_MAX_DAYS = 393
RAW_DATA_MAX_DAYS = 758
_DAYS_PER_MONTH = 365.25 / 12

ENV_IP_MASKED_BYTES = "MATOMO_DECLARED_IP_MASKED_BYTES"
ENV_VISITOR_COOKIE_DAYS = "MATOMO_DECLARED_VISITOR_COOKIE_DAYS"
ENV_RAW_DATA_RETENTION_DAYS = "MATOMO_DECLARED_RAW_DATA_RETENTION_DAYS"

SOURCE_SERVICE = "Mesure interne du service"
SOURCE_MATOMO = "Matomo"


@dataclass(frozen=True)
class ExemptionCondition:
    """One CNIL condition for one source: a stable code, what it requires (French), whether it holds (None when
    it could not be measured), and the measured value with its unit (French, aggregated: never an address or an
    identifier)."""

    code: str
    label: str
    holds: bool | None  # None: not measured (nothing declared or nothing to measure), never shown as ✔
    measured: str
    source: str = SOURCE_SERVICE


def _int_fr(value: int) -> str:
    return f"{value:,}".replace(",", "\u202f")


def _dec_fr(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def _days_fr(days: float) -> str:
    whole = int(days)
    unit = "jour" if whole < 2 else "jours"
    return f"{_int_fr(whole)} {unit} ({_dec_fr(days / _DAYS_PER_MONTH)} mois)"


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{_int_fr(count)} {singular if count < 2 else plural}"


NOT_MEASURED = "non mesuré"
_NAIVE_TIMESTAMP = "timestamp without time zone"
_IP_LABEL = "Adresses IP tronquées d'au moins 2 octets (IPv4 : 2 derniers octets ; IPv6 : 80 derniers bits)"
_VISITOR_LABEL = f"Identifiants de visiteur utilisés au plus {VISITOR_ID_MAX_MONTHS} mois"
_RETENTION_LABEL = f"Événements bruts conservés au plus {RAW_EVENT_MAX_MONTHS} mois"


def _not_measured(why: str) -> str:
    return f"{NOT_MEASURED} : {why}"


def _column_type(conn: psycopg.Connection, source: EventSource, column: str) -> str | None:
    """The column's PostgreSQL type (`timestamp without time zone`…), None when the table or column is absent."""
    row = conn.execute(
        """
        select format_type(a.atttypid, a.atttypmod)
        from pg_attribute as a
        where a.attrelid = to_regclass(%s) and a.attname = %s and not a.attisdropped
        """,
        (sql.Identifier(source.schema, source.table).as_string(conn), column),
    ).fetchone()
    return row[0] if row else None


def _instant(column: str, column_type: str, source_timezone: str) -> sql.Composable:
    """The column as an instant (timestamptz): a naive timestamp is read in the source's time zone (Rails and
    Django store naive UTC), an aware one is left as it is."""
    if column_type == _NAIVE_TIMESTAMP:
        return sql.SQL("({} at time zone {})").format(sql.Identifier(column), sql.Literal(source_timezone))
    return sql.SQL("{}::timestamptz").format(sql.Identifier(column))


def check_event_source(
    conn: psycopg.Connection,
    source: EventSource,
    *,
    as_of: dt.datetime,
    source_timezone: str = "UTC",
) -> list[ExemptionCondition]:
    """The three measurable conditions on the service's declared event table, computed in SQL as of `as_of`
    (an aware datetime), from the columns its yml gives a role (`time` always; `ip` and `visitor` if any).

    Only what was declared and found is measured: a condition whose column is not declared, or that has no
    value to measure (an empty table, a column with no value), does not hold and is not broken: it is
    « non mesuré » (`holds` None), never ✔."""
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must be timezone-aware, e.g. datetime.now(timezone.utc)")
    time_column, ip_column, visitor_column = source.column("time"), source.column("ip"), source.column("visitor")
    time_type = _column_type(conn, source, time_column) if time_column else None
    if time_type is None:
        why = _not_measured(f"table {source.label} ou colonne {time_column} introuvable")
        return _conditions(None, why, None, why, None, why)
    events = sql.Identifier(source.schema, source.table)
    event_at = _instant(time_column, time_type, source_timezone)
    ip = sql.SQL("{}::inet").format(sql.Identifier(ip_column)) if ip_column else sql.SQL("null::inet")
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                """
                with events as (
                    select {ip} as ip, {event_at} as event_at from {events}
                )
                select
                    count(*),
                    count(ip),
                    count(*) filter (
                        where ip is not null
                        and host(ip) <> host(network(set_masklen(ip,
                            case
                                when family(ip) = 4 then 32 - 8 * %(bytes)s
                                -- IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d): as IPv4
                                when ip <<= inet '::ffff:0:0/96' or ip <<= inet '::/96'
                                    then 128 - 8 * %(bytes)s
                                else %(v6_prefix)s
                            end
                        )))
                    ),
                    count(*) filter (where event_at < %(as_of)s::timestamptz - %(retention)s::interval),
                    -- an infinite timestamp (blocked by the plausibility tests anyway) has no age in days
                    extract(epoch from %(as_of)s::timestamptz - min(event_at) filter (where isfinite(event_at)))
                    / 86400.0
                from events
                """
            ).format(ip=ip, event_at=event_at, events=events),
            {
                "bytes": MIN_IP_MASKED_BYTES,
                "v6_prefix": _IPV6_PREFIX_FOR_BYTES[MIN_IP_MASKED_BYTES],
                "as_of": as_of,
                "retention": f"{RAW_EVENT_MAX_MONTHS} months",
            },
        )
        n_events, n_with_ip, n_not_truncated, n_too_old, oldest_age_days = cur.fetchone()
        n_visitors = n_visitors_too_long = longest_days = None
        if visitor_column and n_events:
            cur.execute(
                sql.SQL(
                    """
                    with per_visitor as (
                        select min({event_at}) as first_seen_at, max({event_at}) as last_seen_at
                        from {events}
                        where {visitor} is not null and isfinite({event_at})
                        group by {visitor}
                    )
                    select
                        count(*),
                        count(*) filter (where last_seen_at > first_seen_at + %(lifetime)s::interval),
                        extract(epoch from max(last_seen_at - first_seen_at)) / 86400.0
                    from per_visitor
                    """
                ).format(event_at=event_at, events=events, visitor=sql.Identifier(visitor_column)),
                {"lifetime": f"{VISITOR_ID_MAX_MONTHS} months"},
            )
            n_visitors, n_visitors_too_long, longest_days = cur.fetchone()

    if n_events == 0:
        why = _not_measured(f"aucun événement dans {source.label}")
        return _conditions(None, why, None, why, None, why)
    if not ip_column:
        ip_holds, ip_measured = None, _not_measured("aucune colonne d'adresse IP déclarée (meta.usage_event: ip)")
    elif n_with_ip == 0:
        ip_holds, ip_measured = None, _not_measured(f"aucune adresse IP dans {source.label}.{ip_column}")
    else:
        share = 100.0 * n_not_truncated / n_with_ip
        ip_holds = n_not_truncated == 0
        ip_measured = (
            f"{_plural(n_not_truncated, 'adresse non tronquée', 'adresses non tronquées')} "
            f"sur {_plural(n_with_ip, 'événement avec adresse IP', 'événements avec adresse IP')} "
            f"({_dec_fr(share)} %)"
        )
    if not visitor_column:
        visitor_holds = None
        lifetime_measured = _not_measured(
            "aucune colonne d'identifiant de visiteur déclarée (meta.usage_event: visitor)"
        )
    elif not n_visitors:
        visitor_holds = None
        lifetime_measured = _not_measured(f"aucun identifiant de visiteur dans {source.label}.{visitor_column}")
    else:
        visitor_holds = n_visitors_too_long == 0
        lifetime_measured = (
            f"durée d'usage la plus longue : {_days_fr(float(longest_days))} ; "
            f"{_plural(n_visitors_too_long, 'identifiant', 'identifiants')} sur {_int_fr(n_visitors)} "
            f"au-delà de {VISITOR_ID_MAX_MONTHS} mois"
        )
    retention_measured = (
        f"plus ancien événement conservé : {_days_fr(max(float(oldest_age_days), 0.0))} ; "
        f"{_plural(n_too_old, 'événement', 'événements')} de plus de {RAW_EVENT_MAX_MONTHS} mois"
    )
    return _conditions(ip_holds, ip_measured, visitor_holds, lifetime_measured, n_too_old == 0, retention_measured)


def _conditions(
    ip_holds: bool | None, ip_measured: str,
    visitor_holds: bool | None, visitor_measured: str,
    retention_holds: bool | None, retention_measured: str,
) -> list[ExemptionCondition]:
    return [
        ExemptionCondition(code="ip_truncated", label=_IP_LABEL, holds=ip_holds, measured=ip_measured),
        ExemptionCondition(
            code="visitor_id_lifetime", label=_VISITOR_LABEL, holds=visitor_holds, measured=visitor_measured
        ),
        ExemptionCondition(
            code="raw_event_retention", label=_RETENTION_LABEL, holds=retention_holds, measured=retention_measured
        ),
    ]


def _declared_int(env: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise MatomoSettingsError(f"{name}={raw!r} must be a whole number from {low} to {high}")
    return int(raw)


def check_matomo_settings(env: Mapping[str, str] | None = None) -> list[ExemptionCondition]:
    """The same conditions for the Matomo instance, as its operator declares them (see the module docstring).

    [] when the Matomo source is off (MATOMO_URL, MATOMO_SITE_ID, MATOMO_TOKEN unset). An undeclared condition
    does not hold: the page then says it was not declared rather than assuming it."""
    env = get_settings().variables() if env is None else env
    if MatomoSettings.from_env(env) is None:
        return []
    masked = _declared_int(env, ENV_IP_MASKED_BYTES, 0, 4)
    cookie_days = _declared_int(env, ENV_VISITOR_COOKIE_DAYS, 0, 100_000)
    retention_days = _declared_int(env, ENV_RAW_DATA_RETENTION_DAYS, 0, 100_000)

    def undeclared(name: str) -> str:
        return f"non déclaré par l'exploitant ({name})"

    if masked is None:
        ip_measured = undeclared(ENV_IP_MASKED_BYTES)
    elif masked == 0:
        ip_measured = "anonymisation des adresses IP désactivée (déclaré)"
    else:
        ip_measured = f"{_plural(masked, 'octet masqué', 'octets masqués')} (déclaré)"
    if cookie_days is None:
        cookie_measured = undeclared(ENV_VISITOR_COOKIE_DAYS)
    elif cookie_days == 0:
        cookie_measured = "aucun cookie de visiteur (déclaré)"
    else:
        cookie_measured = f"cookie de visiteur de {_days_fr(cookie_days)} (déclaré)"
    if retention_days is None:
        retention_measured = undeclared(ENV_RAW_DATA_RETENTION_DAYS)
    elif retention_days == 0:
        retention_measured = "suppression des anciennes données brutes désactivée (déclaré)"
    else:
        retention_measured = f"données brutes supprimées après {_days_fr(retention_days)} (déclaré)"
    return [
        ExemptionCondition(
            code="matomo_ip_truncated",
            label=_IP_LABEL,
            holds=masked is not None and masked >= MIN_IP_MASKED_BYTES,
            measured=ip_measured,
            source=SOURCE_MATOMO,
        ),
        ExemptionCondition(
            code="matomo_visitor_id_lifetime",
            label=f"Cookie de visiteur d'une durée de vie d'au plus {VISITOR_ID_MAX_MONTHS} mois",
            holds=cookie_days is not None and cookie_days <= VISITOR_COOKIE_MAX_DAYS,
            measured=cookie_measured,
            source=SOURCE_MATOMO,
        ),
        ExemptionCondition(
            code="matomo_raw_event_retention",
            label=f"Données brutes conservées au plus {RAW_EVENT_MAX_MONTHS} mois",
            holds=retention_days is not None and 1 <= retention_days <= RAW_DATA_MAX_DAYS,
            measured=retention_measured,
            source=SOURCE_MATOMO,
        ),
    ]
