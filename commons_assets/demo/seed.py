"""Fill the demo service « Signalo » with fictional but realistic-looking data.

Everything is generated inside PostgreSQL with set-based `INSERT … SELECT … FROM generate_series`, because
the demo must scale to a million users and ten million events in minutes; a Python loop over rows would
take hours. Every pseudo-random value is a hash of (row key, stream, seed) rather than `random()`, so the
output does not depend on the plan, on parallel workers or on row order: the same arguments always give
the same rows, byte for byte.

Weighted draws (communes by population, categories, event names, hours of the day…) use inverse CDFs:
Python computes cumulative weight arrays once, and `width_bucket(u, thresholds)` binary-searches them per row.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import logging
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

from psycopg import sql

from commons_assets.errors import InputError
from commons_assets.settings import get_settings
from commons_assets.week import TIMEZONE, Week

DEMO_DIR = Path(__file__).parent
DATA_DIR = DEMO_DIR / "data"
SCHEMA_SQL = DEMO_DIR / "schema.sql"
BASE_URL = "https://signalo.example.gouv.fr"
TABLES = ("communes", "categories", "users", "reports", "events")
REPORTS_PER_USER = 1.5
# The comment a demo schema carries: the only mark that lets `demo seed` and `bench` drop a schema, so that a
# service's own schema (named the same by mistake) is never dropped by us.
DEMO_SCHEMA_MARK = "commons-assets demo"

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
log = logging.getLogger(__name__)

CATEGORIES: list[tuple[str, str, float]] = [
    ("voirie", "Voirie et trottoirs", 30),
    ("eclairage", "Éclairage public", 14),
    ("proprete", "Propreté", 15),
    ("depot_sauvage", "Dépôt sauvage", 15),
    ("mobilier_urbain", "Mobilier urbain", 7),
    ("espaces_verts", "Espaces verts", 8),
    ("stationnement", "Stationnement gênant", 8),
    ("autre", "Autre", 3),
]

# The opening of a report's message, per category (same order as CATEGORIES).
PROBLEMS: dict[str, list[str]] = {
    "voirie": [
        "Nid de poule dangereux", "Chaussée très dégradée", "Trottoir défoncé",
        "Plaque d'égout descellée", "Marquage au sol effacé", "Affaissement de la chaussée",
        "Bordure de trottoir cassée",
    ],
    "eclairage": [
        "Lampadaire éteint depuis plusieurs jours", "Éclairage public en panne",
        "Lampadaire qui clignote toute la nuit", "Rue entièrement dans le noir", "Poteau d'éclairage penché",
    ],
    "proprete": [
        "Poubelles qui débordent", "Déjections canines sur le trottoir", "Trottoir très sale",
        "Tags sur la façade", "Bris de verre sur la chaussée", "Corbeille de rue pleine",
    ],
    "depot_sauvage": [
        "Dépôt sauvage de gravats", "Matelas abandonné", "Encombrants déposés sur le trottoir",
        "Sacs poubelle abandonnés", "Pneus abandonnés", "Électroménager abandonné",
    ],
    "mobilier_urbain": [
        "Banc cassé", "Abribus vandalisé", "Panneau de signalisation tombé", "Barrière arrachée",
        "Potelet plié", "Jeux pour enfants dégradés",
    ],
    "espaces_verts": [
        "Arbre tombé", "Branches qui gênent le passage", "Herbes hautes non entretenues",
        "Haie qui déborde sur le trottoir", "Arbre malade qui menace de tomber",
    ],
    "stationnement": [
        "Voiture ventouse", "Véhicule garé sur le passage piéton", "Stationnement gênant sur la piste cyclable",
        "Véhicule épave", "Camion garé sur le trottoir",
    ],
    "autre": [
        "Fuite d'eau", "Bruit nocturne récurrent", "Présence de rats", "Problème non listé", "Odeur suspecte",
    ],
}

# Closing remarks with no personal data; messages that carry some (a phone, a name, an e-mail) are built
# in SQL from the author's row, because real free text leaks exactly that.
REMARKS = [
    " Merci d'intervenir rapidement.", " C'est dangereux pour les piétons.",
    " Déjà signalé il y a deux semaines, toujours rien.", " Problème récurrent depuis des mois.", " Merci !",
    " Les enfants passent par là pour aller à l'école.", " Photo jointe.", " Urgent.",
]

EVENT_NAMES: list[tuple[str, float]] = [
    ("consultation_carte", 34),
    ("recherche_adresse", 20),
    ("creation_signalement", 9),
    ("suivi_signalement", 13),
    ("connexion", 4),
    ("inscription", 2.5),
    ("telechargement_donnees", 3),
    ("consultation_aide", 6),
    ("", 0.5),  # junk: trackers record raw names, experiments and URLs with personal data in them
]
JUNK_EVENT_NAMES = [
    "exp_formulaire_v2", "test", "Consultation_Carte", "clic-bouton-signaler", "undefined", "null",
    "page_view", "exp_carte_clusters_b",
]
HELP_PAGES = ["faq", "contact", "accessibilite", "mentions-legales", "donnees-personnelles"]

# (user agent, weight): a French public's mix of browsers, with a few bots.
USER_AGENTS: list[tuple[str, float]] = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", 22),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Mobile/15E148 Safari/604.1", 18),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Mobile Safari/537.36", 20),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", 8),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", 9),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Safari/605.1.15", 6),
    ("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", 5),
    ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.6 Mobile/15E148 Safari/604.1", 3),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", 2),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/130.0.0.0 Safari/537.36", 1.5),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", 3),
    ("Mozilla/5.0 (Linux; Android 13; M2101K6G) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/129.0.6668.100 Mobile Safari/537.36", 2),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 0.3),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 0.2),
]

EMAIL_DOMAINS: list[tuple[str, float]] = [
    ("gmail.com", 35), ("orange.fr", 14), ("hotmail.fr", 9), ("yahoo.fr", 7), ("free.fr", 7),
    ("laposte.net", 6), ("sfr.fr", 5), ("outlook.fr", 5), ("wanadoo.fr", 4), ("icloud.com", 3),
    ("hotmail.com", 2), ("exemple.fr", 1), ("live.fr", 2),
]

# First octets of addresses French ISPs hand out; the rest is drawn uniformly.
IPV4_FIRST_OCTETS = [2, 5, 31, 37, 46, 77, 78, 79, 80, 81, 82, 83, 84, 86, 88, 89, 90, 91, 92, 93, 109, 176, 185,
                     188, 212, 213]
IPV6_PREFIXES = ["2a01:cb00", "2a01:cb14", "2a01:e0a", "2a01:e34", "2001:861", "2a02:8428", "2a04:cec0"]

# Relative activity per local hour (0..23), on working days and on week-ends / public holidays.
HOURS_WORKDAY = [0.25, 0.12, 0.07, 0.05, 0.05, 0.10, 0.35, 0.90, 1.60, 2.00, 2.10, 1.90,
                 1.50, 1.50, 1.80, 1.90, 1.80, 1.70, 1.60, 1.50, 1.40, 1.20, 0.85, 0.50]
HOURS_WEEKEND = [0.40, 0.25, 0.15, 0.08, 0.06, 0.07, 0.15, 0.35, 0.70, 1.20, 1.60, 1.70,
                 1.50, 1.30, 1.40, 1.50, 1.50, 1.40, 1.30, 1.20, 1.10, 0.95, 0.75, 0.55]
# Monday .. Sunday.
WEEKDAY_FACTOR = [1.10, 1.05, 1.00, 1.00, 0.90, 0.55, 0.45]
# Fixed-date French public holidays (month, day): they look like Sundays in the traffic.
HOLIDAYS = {(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)}


class SeedError(InputError):
    """The arguments cannot produce a demo database; the message says which one."""


@dataclass(frozen=True)
class Period:
    """The seeded time span: `weeks` ISO weeks ending with the week of `until`, cut at `until`'s end of day."""

    first_day: dt.date  # a Monday
    last_day: dt.date  # == until

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


@contextlib.contextmanager
def _step(name: str) -> Iterator[None]:
    # Seeding at full scale takes minutes: say where the time goes.
    start = time.perf_counter()
    yield
    log.info("demo seed: %s in %.1f s", name, time.perf_counter() - start)


def demo_period(until: dt.date | None = None, weeks: int = 26) -> Period:
    """The period seed_demo() fills; `until` defaults to the clock setting (COMMONS_TODAY, else today in the
    service's time zone)."""
    until = until or get_settings().today
    monday = Week.containing(until).monday
    return Period(first_day=monday - dt.timedelta(weeks=weeks - 1), last_day=until)


def _read_column(name: str, column: str) -> list[str]:
    with open(DATA_DIR / name, newline="", encoding="utf-8") as f:
        return [row[column] for row in csv.DictReader(f)]


def _read_communes() -> list[dict[str, str]]:
    with open(DATA_DIR / "communes.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    # Sorted by code so that the commune index used by the weighted draws never depends on file order.
    return sorted(rows, key=lambda r: r["commune_code"])


def _cumulative(weights: list[float]) -> list[float]:
    """Lower bounds of each weight's slice of [0, 1): the thresholds `width_bucket` needs (first is 0)."""
    total = float(sum(weights))
    out, acc = [], 0.0
    for w in weights:
        out.append(acc / total)
        acc += w
    return out


def _hour_buckets(period: Period, growth: float, rng: random.Random, spikes: int) -> tuple[list[float], list[float]]:
    """Cumulative thresholds and widths of one bucket per local hour of the period.

    A day's weight grows linearly by `growth` over the period (the service is gaining users), follows the
    week's rhythm, gets ±10 % noise and, for a few days, a spike (a local news story about the service).
    """
    n = period.days
    spike_days = set(rng.sample(range(n), min(spikes, n)))
    weights: list[float] = []
    for d in range(n):
        day = period.first_day + dt.timedelta(days=d)
        rest_day = day.weekday() >= 5 or (day.month, day.day) in HOLIDAYS
        factor = WEEKDAY_FACTOR[6] if (day.month, day.day) in HOLIDAYS else WEEKDAY_FACTOR[day.weekday()]
        w_day = (1.0 + growth * d / max(n - 1, 1)) * factor * rng.uniform(0.9, 1.1)
        if d in spike_days:
            w_day *= rng.uniform(1.8, 3.0)
        hours = HOURS_WEEKEND if rest_day else HOURS_WORKDAY
        weights.extend(w_day * h for h in hours)
    cum = _cumulative(weights)
    total = float(sum(weights))
    widths = [w / total for w in weights]
    return cum, widths


def _functions(seed: int) -> str:
    """Session-local helpers; plain SQL so that the planner inlines them (a function call per row is slow).

    `rnd(key, stream)` is a uniform double in [0, 1) that depends only on its arguments and the seed: the
    key is the row's number and each independent draw on the same row uses its own stream number.
    """
    salt = f"({int(seed)}::bigint << 16)"
    return f"""
    create or replace function pg_temp.rnd(key bigint, stream integer) returns double precision
        language sql immutable parallel safe
        as $$ select (hashint8extended(key, {salt} + stream) & 9007199254740991)::float8
                     / 9007199254740992.0 $$;
    create or replace function pg_temp.pick(key bigint, stream integer, n integer) returns integer
        language sql immutable parallel safe
        as $$ select 1 + floor(pg_temp.rnd(key, stream) * n)::integer $$;
    create or replace function pg_temp.wpick(key bigint, stream integer, cum double precision[])
        returns integer language sql immutable parallel safe
        as $$ select width_bucket(pg_temp.rnd(key, stream), cum) $$;
    create or replace function pg_temp.hex16(key bigint, stream integer) returns text
        language sql immutable parallel safe
        as $$ select lpad(to_hex(hashint8extended(key, {salt} + stream)), 16, '0') $$;
    """


def _drop_functions(cur) -> None:
    cur.execute(
        """
        drop function if exists pg_temp.rnd(bigint, integer);
        drop function if exists pg_temp.pick(bigint, integer, integer);
        drop function if exists pg_temp.wpick(bigint, integer, double precision[]);
        drop function if exists pg_temp.hex16(bigint, integer);
        """
    )


def _ipv4(key: str, stream: int) -> str:
    """SQL for a plausible French residential IPv4 address (text) drawn from `key`."""
    s = stream
    return (
        f"((%(ipv4_first)s::int[])[pg_temp.pick({key}, {s}, %(n_ipv4_first)s)]::text"
        f" || '.' || floor(pg_temp.rnd({key}, {s + 1}) * 256)::int"
        f" || '.' || floor(pg_temp.rnd({key}, {s + 2}) * 256)::int"
        f" || '.' || (1 + floor(pg_temp.rnd({key}, {s + 3}) * 254)::int))"
    )


def _ipv6(key: str, stream: int) -> str:
    """SQL for a plausible French residential IPv6 address (text) drawn from `key`."""
    s = stream
    return (
        f"((%(ipv6_prefixes)s::text[])[pg_temp.pick({key}, {s}, %(n_ipv6_prefixes)s)]"
        f" || ':' || to_hex(floor(pg_temp.rnd({key}, {s + 1}) * 65536)::int)"
        f" || ':' || to_hex(floor(pg_temp.rnd({key}, {s + 2}) * 65536)::int)"
        f" || ':' || to_hex(floor(pg_temp.rnd({key}, {s + 3}) * 65536)::int)"
        f" || '::' || to_hex(1 + floor(pg_temp.rnd({key}, {s + 4}) * 65535)::int))"
    )


def _ip(key: str, stream: int, v6_share: float) -> str:
    return (
        f"(case when pg_temp.rnd({key}, {stream}) < {v6_share} then {_ipv6(key, stream + 1)}"
        f" else {_ipv4(key, stream + 6)} end)::inet"
    )


def _epoch(bucket: str, fraction: str) -> str:
    """SQL for the Unix time at `fraction` of the hour bucket `bucket` (1-based).

    Timestamps are computed as float8 seconds and turned into timestamptz once with to_timestamp():
    interval arithmetic and `at time zone` cost microseconds a call, which is minutes at 10 million rows.
    Python resolved each local hour to Unix time beforehand, daylight saving time included.
    """
    return f"((%(bucket_epoch)s::float8[])[{bucket}] + 3600.0 * ({fraction}))"


def _bucket_epochs(period: Period) -> list[float]:
    tz = ZoneInfo(TIMEZONE)
    return [
        dt.datetime(day.year, day.month, day.day, hour, tzinfo=tz).timestamp()
        for day in (period.first_day + dt.timedelta(days=d) for d in range(period.days))
        for hour in range(24)
    ]


def seed_demo(
    conn,
    *,
    schema: str = "service",
    users: int = 2000,
    events: int = 50000,
    seed: int = 42,
    until: dt.date | None = None,
    weeks: int = 26,
) -> dict[str, int]:
    """(Re)create `schema` from schema.sql and fill it; return the row count of each table.

    `conn` is an open psycopg 3 connection, not in autocommit: everything happens in one transaction that
    is committed at the end (with whatever the caller had pending on it), so a failure rolls back and leaves
    the previous demo data in place. Then the tables are analysed.

    The output depends only on (users, events, seed, until, weeks); `until` defaults to today, so pass it
    for reproducible data. Timestamps cover the `weeks` ISO weeks ending with the week of `until`, from
    Monday 00:00 Europe/Paris up to the end of `until` (never later).
    """
    if not _IDENTIFIER.match(schema):
        raise SeedError(f"schema={schema!r} is not a valid PostgreSQL schema name")
    if users < 1:
        raise SeedError("users must be at least 1")
    if events < 0:
        raise SeedError("events cannot be negative")
    if weeks < 2:
        # The releases are weekly: at least one complete week before until's week must exist.
        raise SeedError("weeks must be at least 2")
    seed = int(seed)
    period = demo_period(until, weeks)
    n_reports = round(users * REPORTS_PER_USER)

    communes = _read_communes()
    first_names = _read_column("first_names.csv", "first_name")
    last_names = _read_column("last_names.csv", "last_name")
    streets = _read_column("street_names.csv", "street_name")

    rng = random.Random(seed)
    user_cum, user_widths = _hour_buckets(period, growth=2.0, rng=rng, spikes=3)
    event_cum, event_widths = _hour_buckets(period, growth=0.8, rng=rng, spikes=4)
    hour_cum = _cumulative(HOURS_WORKDAY)

    problems = [p for code, _, _ in CATEGORIES for p in PROBLEMS[code]]
    offsets, acc = [], 0
    for code, _, _ in CATEGORIES:
        offsets.append(acc)
        acc += len(PROBLEMS[code])

    params = {
        # Unix time of the end of `until` in Paris: nothing may happen at or after it.
        "end_epoch": dt.datetime.combine(
            period.last_day + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(TIMEZONE)
        ).timestamp(),
        "bucket_epoch": _bucket_epochs(period),
        "n_users": users,
        "n_reports": n_reports,
        "n_events": events,
        # Communes are drawn with population^0.75: big cities dominate, small communes still appear.
        "commune_cum": _cumulative([int(c["population"]) ** 0.75 for c in communes]),
        "commune_codes": [c["commune_code"] for c in communes],
        "first_names": first_names,
        "n_first": len(first_names),
        "last_names": last_names,
        "n_last": len(last_names),
        "streets": streets,
        "streets_q": [quote_plus(s) for s in streets],
        "n_streets": len(streets),
        "user_cum": user_cum,
        "user_widths": user_widths,
        "event_cum": event_cum,
        "event_widths": event_widths,
        "hour_cum": hour_cum,
        "domains": [d for d, _ in EMAIL_DOMAINS],
        "domain_cum": _cumulative([w for _, w in EMAIL_DOMAINS]),
        "ipv4_first": IPV4_FIRST_OCTETS,
        "n_ipv4_first": len(IPV4_FIRST_OCTETS),
        "ipv6_prefixes": IPV6_PREFIXES,
        "n_ipv6_prefixes": len(IPV6_PREFIXES),
        "category_codes": [c for c, _, _ in CATEGORIES],
        "category_cum": _cumulative([w for _, _, w in CATEGORIES]),
        "problems": problems,
        "problem_offsets": offsets,
        "problem_counts": [len(PROBLEMS[c]) for c, _, _ in CATEGORIES],
        "remarks": REMARKS,
        "n_remarks": len(REMARKS),
        "event_names": [n for n, _ in EVENT_NAMES],
        "event_name_cum": _cumulative([w for _, w in EVENT_NAMES]),
        "junk_names": JUNK_EVENT_NAMES,
        "n_junk": len(JUNK_EVENT_NAMES),
        "help_pages": HELP_PAGES,
        "n_help": len(HELP_PAGES),
        "user_agents": [u for u, _ in USER_AGENTS],
        "ua_cum": _cumulative([w for _, w in USER_AGENTS]),
    }
    s = sql.Identifier(schema)
    try:
        counts = _seed(conn, s, schema, seed, period, communes, params)
    except BaseException:
        # Leave the connection usable and the previous demo data in place.
        conn.rollback()
        raise
    # ANALYZE after the commit, so that it does not lengthen the write transaction.
    with _step("analyze"), conn.cursor() as cur:
        for table in TABLES:
            cur.execute(sql.SQL("analyze {}.{}").format(s, sql.Identifier(table)))
    conn.commit()
    return counts


def count_rows(cur, schema: str) -> dict[str, int]:
    """Rows per table of the demo service in `schema` (a cursor or a connection)."""
    return {
        table: cur.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))).fetchone()[0]
        for table in TABLES
    }


def _seed(conn, s: sql.Identifier, schema: str, seed: int, period: Period, communes: list[dict[str, str]],
          params: dict) -> dict[str, int]:
    with conn.cursor() as cur:
        # Sorts (email de-duplication, constraint checks) and index builds are the big memory users.
        cur.execute("set local work_mem = '256MB'")
        cur.execute("set local maintenance_work_mem = '1GB'")
        with _step("schema"):
            refuse_foreign_schema(cur, schema)
            cur.execute(SCHEMA_SQL.read_text(encoding="utf-8").replace("{schema}", schema))
            constraints = _detach_constraints(cur, schema)
            cur.execute(_functions(seed))
            _load_reference(cur, s, communes)
        with _step("users"):
            _insert_users(cur, s, params)
            params["users_before_day"] = _users_before_day(cur, s, period)
            # The reports join users: without statistics the planner guesses a tiny table and a bad plan.
            cur.execute(sql.SQL("analyze {}.users").format(s))
        with _step("reports"):
            _insert_reports(cur, s, params)
        with _step("events"):
            _insert_events(cur, s, params)
        with _step("keys"):
            _restore_constraints(cur, constraints)
        with _step("indexes"):
            for table, column in (("users", "created_at"), ("reports", "created_at"), ("reports", "author_id"),
                                  ("events", "occurred_at")):
                cur.execute(
                    sql.SQL("create index {} on {}.{} ({})").format(
                        sql.Identifier(f"{table}_{column}_idx"), s, sql.Identifier(table),
                        sql.Identifier(column),
                    )
                )
        _drop_functions(cur)
        counts = count_rows(cur, schema)
    if counts["events"] != params["n_events"]:
        raise SeedError(f"generated {counts['events']} events instead of {params['n_events']}")
    conn.commit()
    return counts


def refuse_foreign_schema(cur, schema: str) -> None:
    """Stop before dropping a schema the demo did not create: one that exists with any table, view or sequence
    in it and without the demo's mark. A missing or empty schema is ours to create."""
    cur.execute(
        """
        select obj_description(n.oid, 'pg_namespace'),
               (select count(*) from pg_class c where c.relnamespace = n.oid)
        from pg_namespace n where n.nspname = %s
        """,
        (schema,),
    )
    row = cur.fetchone()
    if row is None:
        return
    mark, objects = row
    if mark != DEMO_SCHEMA_MARK and objects:
        raise SeedError(
            f"schema {schema!r} exists, holds {objects} table(s) or other object(s) and was not created by the demo "
            f"(no comment {DEMO_SCHEMA_MARK!r} on it): it is left untouched. Seed the demo in another schema "
            "(COMMONS_SOURCE_SCHEMA) or another warehouse (COMMONS_HOME, COMMONS_WAREHOUSE_URL)"
        )


def _detach_constraints(cur, schema: str) -> list[tuple[str, str, str]]:
    """Drop the keys of the fresh tables and return them to re-add after the bulk load.

    Checking a foreign key row by row costs a query per row (minutes at 10 million rows), and building a
    primary key index once, sorted, is faster than maintaining it during the insert; re-adding both after
    the load validates them in one pass each. Their definitions are read back from the catalog so that
    schema.sql stays the single source of truth.
    """
    cur.execute(
        """
        select c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype
        from pg_constraint c
        join pg_namespace n on n.oid = c.connamespace
        where n.nspname = %s and c.contype in ('p', 'u', 'f')
        order by (c.contype = 'f') desc, c.conname
        """,
        (schema,),
    )
    rows = cur.fetchall()
    for table, name, _, _ in rows:  # foreign keys first: a key cannot go while one references it
        cur.execute(sql.SQL("alter table {} drop constraint {}").format(sql.SQL(table), sql.Identifier(name)))
    # Re-add keys before foreign keys, which need the referenced key's unique index.
    return [(t, n, d) for t, n, d, _ in sorted(rows, key=lambda r: (r[3] == "f", r[1]))]


def _restore_constraints(cur, constraints: list[tuple[str, str, str]]) -> None:
    for table, name, definition in constraints:
        cur.execute(
            sql.SQL("alter table {} add constraint {} {}").format(
                sql.SQL(table), sql.Identifier(name), sql.SQL(definition)
            )
        )


def _load_reference(cur, s: sql.Identifier, communes: list[dict[str, str]]) -> None:
    cur.execute(
        """
        drop table if exists pg_temp.demo_communes;
        create temp table demo_communes (
            idx integer primary key,
            commune_code text not null,
            name text not null,
            postcode text not null,
            departement_code text not null,
            population integer not null,
            latitude double precision not null,
            longitude double precision not null
        ) on commit drop
        """
    )
    with cur.copy(
        "copy demo_communes (idx, commune_code, name, postcode, departement_code, population, latitude,"
        " longitude) from stdin"
    ) as copy:
        for i, c in enumerate(communes, start=1):
            copy.write_row(
                (i, c["commune_code"], c["name"], c["postcode"], c["departement_code"], int(c["population"]),
                 float(c["latitude"]), float(c["longitude"]))
            )
    cur.execute(
        sql.SQL(
            "insert into {}.communes (commune_code, name, postcode, departement_code, population)"
            " select commune_code, name, postcode, departement_code, population from demo_communes"
        ).format(s)
    )
    with cur.copy(sql.SQL("copy {}.categories (category_code, label) from stdin").format(s)) as copy:
        for code, label, _ in CATEGORIES:
            copy.write_row((code, label))


def _ascii_lower(expr: str) -> str:
    """SQL folding a name to what people type in an e-mail address: lower case, no accents, spaces, quotes."""
    return f"translate(lower({expr}), 'àâäáéèêëíîïôöóùûüúçÿñ'' ', 'aaaaeeeeiiiooouuuucyn')"


def _insert_users(cur, s: sql.Identifier, params: dict) -> None:
    ts = "to_timestamp(" + _epoch("b", "(v - (%(user_cum)s::float8[])[b]) / (%(user_widths)s::float8[])[b]") + ")"
    phone_digits = "lpad(floor(pg_temp.rnd(g, 30) * 100000000)::bigint::text, 8, '0')"
    ip = _ip("g", 40, 0.12)
    query = sql.SQL(
        f"""
        insert into {{s}}.users (user_id, email, first_name, last_name, phone, birth_date, street_address,
                                 postcode, commune_code, signup_ip, created_at)
        select user_id,
               local_part
                 || case when dup > 1 then dup::text else '' end
                 || '@' || domain,
               first_name, last_name, phone, birth_date, street_address, postcode, commune_code, signup_ip,
               created_at
        from (
            select *, row_number() over (partition by local_part, domain order by user_id) as dup
            from (
                select g as user_id,
                       first_name, last_name,
                       case
                           when e < 0.40 then fl || '.' || ll
                           when e < 0.55 then left(fl, 1) || '.' || ll || (10 + floor(pg_temp.rnd(g, 8) * 90))::int
                           when e < 0.70 then replace(fl, '-', '') || replace(ll, '-', '')
                                              || lpad((extract(year from birth_date)::int %% 100)::text, 2, '0')
                           when e < 0.80 then ll || '.' || fl
                           when e < 0.90 then fl || '_' || ll
                           else fl || (100 + floor(pg_temp.rnd(g, 8) * 900))::int
                       end as local_part,
                       (%(domains)s::text[])[pg_temp.wpick(g, 9, %(domain_cum)s)] as domain,
                       case
                           when ph < 0.10 then null
                           when ph < 0.50 then substr(d, 1, 2) || ' ' || substr(d, 3, 2) || ' ' || substr(d, 5, 2)
                                               || ' ' || substr(d, 7, 2) || ' ' || substr(d, 9, 2)
                           when ph < 0.72 then d
                           when ph < 0.84 then '+33 ' || substr(d, 2, 1) || ' ' || substr(d, 3, 2) || ' '
                                               || substr(d, 5, 2) || ' ' || substr(d, 7, 2) || ' ' || substr(d, 9, 2)
                           when ph < 0.93 then substr(d, 1, 2) || '.' || substr(d, 3, 2) || '.' || substr(d, 5, 2)
                                               || '.' || substr(d, 7, 2) || '.' || substr(d, 9, 2)
                           else '+33' || substr(d, 2)
                       end as phone,
                       birth_date,
                       (1 + floor(pg_temp.rnd(g, 20) ^ 2 * 180))::int
                         || case when pg_temp.rnd(g, 21) < 0.03 then ' bis' else '' end
                         || ' ' || (%(streets)s::text[])[pg_temp.pick(g, 22, %(n_streets)s)] as street_address,
                       c.postcode, c.commune_code,
                       {ip} as signup_ip,
                       {ts} as created_at
                from (
                    select g, first_name, last_name, birth_date, e, ph, v, b,
                           {_ascii_lower("first_name")} as fl, {_ascii_lower("last_name")} as ll,
                           -- Mostly mobiles (06, 07), then landlines by region (01-05) and boxes (09).
                           (case
                                when pg_temp.rnd(g, 31) < 0.45 then '06'
                                when pg_temp.rnd(g, 31) < 0.70 then '07'
                                when pg_temp.rnd(g, 31) < 0.94 then '0' || pg_temp.pick(g, 32, 5)
                                else '09'
                            end) || {phone_digits} as d,
                           cidx
                    from (
                        select g,
                               (%(first_names)s::text[])[pg_temp.pick(g, 1, %(n_first)s)] as first_name,
                               (%(last_names)s::text[])[pg_temp.pick(g, 2, %(n_last)s)] as last_name,
                               -- Adults dominate: the mean of two uniforms peaks mid-range (born ~1969).
                               date '1930-01-01' + floor((pg_temp.rnd(g, 3) + pg_temp.rnd(g, 4)) / 2
                                                         * (date '2008-12-31' - date '1930-01-01'))::int
                                   as birth_date,
                               pg_temp.rnd(g, 5) as e,
                               pg_temp.rnd(g, 6) as ph,
                               pg_temp.wpick(g, 7, %(commune_cum)s) as cidx,
                               -- Stratified (one draw per 1/N slice) and so increasing with g: user ids
                               -- grow with the sign-up time, as a serial column does.
                               v,
                               width_bucket(v, %(user_cum)s::float8[]) as b
                        from (
                            select g, (g - 1 + pg_temp.rnd(g, 0)) / %(n_users)s as v
                            from generate_series(1, %(n_users)s::bigint) g
                        ) strata
                        offset 0
                    ) drawn
                    offset 0
                ) u
                join demo_communes c on c.idx = u.cidx
            ) shaped
        ) numbered
        """
    ).format(s=s)
    cur.execute(query, params)


def _users_before_day(cur, s: sql.Identifier, period: Period) -> list[int]:
    """For each day of the period, how many users signed up before it began (user ids are in sign-up order)."""
    cur.execute(
        sql.SQL("select (created_at at time zone {tz})::date as day, count(*) from {s}.users group by 1").format(
            tz=sql.Literal(TIMEZONE), s=s
        )
    )
    per_day = dict(cur.fetchall())
    out, acc = [], 0
    for d in range(period.days):
        out.append(acc)
        acc += per_day.get(period.first_day + dt.timedelta(days=d), 0)
    return out


def _insert_reports(cur, s: sql.Identifier, params: dict) -> None:
    # Streams 100-199: the reports' own draws, independent of the users' ones on the same row numbers.
    # A later report keeps the day drawn for it but gets a daytime hour.
    later = _epoch(
        "(width_bucket(base_later, %(bucket_epoch)s::float8[]) - 1) / 24 * 24"
        " + width_bucket(pg_temp.rnd(g, 114), %(hour_cum)s::float8[])",
        "pg_temp.rnd(g, 115)",
    )
    query = sql.SQL(
        f"""
        insert into {{s}}.reports (report_id, author_id, category_code, message, commune_code, latitude,
                                   longitude, status, created_at, updated_at, closed_at)
        select g, author_id, category_code, message, commune_code, latitude, longitude, status,
               to_timestamp(created),
               to_timestamp(case
                   when status in ('resolu', 'rejete') then closed
                   when status = 'en_cours' then created + (end_epoch - created) * pg_temp.rnd(g, 125)
                   else created
               end),
               case when status in ('resolu', 'rejete') then to_timestamp(closed) end
        from (
            select *,
                   -- Young reports are mostly new; old ones mostly dealt with, a few rejected.
                   case
                       when st < 0.03 + 0.60 * exp(-age / 7.0) then 'nouveau'
                       when st < 0.08 + 0.60 * exp(-age / 7.0) + 0.35 * exp(-age / 30.0) then 'en_cours'
                       when st < 0.16 + 0.60 * exp(-age / 7.0) + 0.35 * exp(-age / 30.0) then 'rejete'
                       else 'resolu'
                   end as status,
                   created + (end_epoch - created) * (0.02 + 0.9 * pg_temp.rnd(g, 124) ^ 2) as closed
            from (
                select *, (end_epoch - created) / 86400.0 as age
                from (
                    select g, author_id, category_code, end_epoch, commune_code, st,
                           problem || ' ' || case pg_temp.pick(g, 116, 6)
                               when 1 then 'devant le ' || num || ' ' || street
                               when 2 then 'en face du ' || num || ' ' || street
                               when 3 then 'au niveau du ' || num || ' ' || street
                               when 4 then 'à hauteur du ' || num || ' ' || street
                               when 5 then street || ', près de l''école'
                               else street
                           end || '.'
                           -- Free text carries personal data, as real messages do.
                           || case
                               when x < 0.04 then ' Vous pouvez me joindre au ' || coalesce(phone,
                                   '06 ' || lpad(floor(pg_temp.rnd(g, 117) * 100)::int::text, 2, '0') || ' 45 '
                                   || lpad(floor(pg_temp.rnd(g, 118) * 100)::int::text, 2, '0') || ' 12')
                               when x < 0.07 then ' Cordialement, ' || first_name || ' ' || last_name
                               when x < 0.09 then ' Contact : ' || email
                               when x < 0.10 then ' Le véhicule appartient à M. '
                                   || (%(last_names)s::text[])[pg_temp.pick(g, 119, %(n_last)s)]
                                   || ', il habite au ' || (1 + floor(pg_temp.rnd(g, 120) * 60))::int || '.'
                               when x < 0.32 then (%(remarks)s::text[])[pg_temp.pick(g, 121, %(n_remarks)s)]
                               else ''
                           end as message,
                           -- Six decimals, as a GPS or a map click gives them (float rounding is cheaper
                           -- than numeric's).
                           round((latitude + (pg_temp.rnd(g, 126) - 0.5) * spread) * 1e6) / 1e6 as latitude,
                           round((longitude + (pg_temp.rnd(g, 127) - 0.5) * spread
                                  / cos(radians(latitude))) * 1e6) / 1e6 as longitude,
                           -- Many reports are the reason for their author's sign-up and come minutes after
                           -- it; the others come later (occasional users sooner rather than later).
                           greatest(author_created, least(
                               end_epoch - 0.001,
                               case
                                   when first_report then author_created + 120 + 1680 * pg_temp.rnd(g, 113)
                                   else greatest({later}, author_created + 60)
                               end
                           )) as created
                    from (
                        select r.*, u.first_name, u.last_name, u.email, u.phone, u.author_created,
                               u.author_created + (r.end_epoch - u.author_created)
                                   * pg_temp.rnd(r.g, 112) ^ case when r.regular then 1 else 2 end as base_later,
                               c.commune_code, c.latitude, c.longitude,
                               -- Bigger communes spread their reports wider around the centre.
                               0.004 + 0.04 * sqrt(c.population / 2000000.0) as spread
                        from (
                            select g,
                                   -- Three quarters from anyone, a quarter from regulars (the earliest
                                   -- users, who had the time to become regulars).
                                   case when regular
                                        then 1 + floor(%(n_users)s * pg_temp.rnd(g, 102) ^ 2)::bigint
                                        else 1 + floor(%(n_users)s * pg_temp.rnd(g, 102))::bigint
                                   end as author_id,
                                   regular,
                                   (%(category_codes)s::text[])[k] as category_code,
                                   (%(problems)s::text[])[(%(problem_offsets)s::int[])[k]
                                       + pg_temp.pick(g, 104, (%(problem_counts)s::int[])[k])] as problem,
                                   (1 + floor(pg_temp.rnd(g, 105) ^ 2 * 150))::int as num,
                                   (%(streets)s::text[])[pg_temp.pick(g, 106, %(n_streets)s)] as street,
                                   pg_temp.rnd(g, 107) as x,
                                   -- The reason for an occasional user's sign-up, minutes before.
                                   not regular and pg_temp.rnd(g, 108) < 0.55 as first_report,
                                   -- A tenth are made away from home (work, holidays).
                                   case when pg_temp.rnd(g, 109) < 0.10
                                        then pg_temp.wpick(g, 110, %(commune_cum)s) end as other_idx,
                                   pg_temp.rnd(g, 123) as st,
                                   %(end_epoch)s::float8 as end_epoch
                            from (
                                select g, pg_temp.wpick(g, 103, %(category_cum)s) as k,
                                       pg_temp.rnd(g, 101) >= 0.75 as regular
                                from generate_series(1, %(n_reports)s::bigint) g
                            ) k
                            offset 0
                        ) r
                        join (
                            select user_id, first_name, last_name, email, phone, commune_code,
                                   date_part('epoch', created_at) as author_created
                            from {{s}}.users
                        ) u on u.user_id = r.author_id
                        join demo_communes c
                            on c.commune_code = coalesce((%(commune_codes)s::text[])[r.other_idx], u.commune_code)
                        offset 0
                    ) joined
                    offset 0
                ) shaped
            ) aged
        ) statused
        """
    ).format(s=s)
    cur.execute(query, params)


def _insert_events(cur, s: sql.Identifier, params: dict) -> None:
    """Sessions first (visitor, user, address, browser, start time), then their events one after the other.

    Streams 200-299; each level ends with `offset 0` so that PostgreSQL computes a session's attributes
    once per session instead of re-deriving them for every event of it.
    """
    if params["n_events"] == 0:
        return
    # Sessions have 4.03 events on average: events / 3.7 sessions (+100 for tiny counts) always cover them.
    params = dict(params, n_sessions=params["n_events"] * 10 // 37 + 100)
    start = _epoch("b", "(v - (%(event_cum)s::float8[])[b]) / (%(event_widths)s::float8[])[b]")
    ip = _ip("ip_key", 260, 0.15)
    base = BASE_URL
    # 1-based positions in EVENT_NAMES, as the SQL arrays and width_bucket count them.
    ix = {name: i for i, (name, _) in enumerate(EVENT_NAMES, start=1)}
    query = sql.SQL(
        f"""
        insert into {{s}}.events (event_id, event_name, occurred_at, visitor_id, session_id, user_id,
                                  ip_address, user_agent, page_url)
        select e,
               case ni
                   when {ix[""]} then case
                       when pg_temp.rnd(e, 290) < 0.6
                           then (%(junk_names)s::text[])[pg_temp.pick(e, 291, %(n_junk)s)]
                       when pg_temp.rnd(e, 290) < 0.8
                           then '/signalement/' || (1 + floor(pg_temp.rnd(e, 292) * %(n_reports)s))::bigint
                           || '?email='
                               || {_ascii_lower("(%(first_names)s::text[])[pg_temp.pick(e, 293, %(n_first)s)]")}
                           || '.' || {_ascii_lower("(%(last_names)s::text[])[pg_temp.pick(e, 294, %(n_last)s)]")}
                           || '@gmail.com'
                       else 'recherche_adresse:' || (1 + floor(pg_temp.rnd(e, 295) * 80))::int || ' '
                           || (%(streets)s::text[])[pg_temp.pick(e, 296, %(n_streets)s)]
                   end
                   else (%(event_names)s::text[])[ni]
               end,
               to_timestamp(least(%(end_epoch)s::float8 - 0.001, start + k * 60 + 55 * pg_temp.rnd(e, 282))),
               visitor_id, session_id, user_id, ip_address, user_agent,
               '{base}' || case ni
                   when {ix["consultation_carte"]} then '/carte?commune=' || commune_code
                       || case when pg_temp.rnd(e, 283) < 0.3
                               then '&zoom=' || (12 + pg_temp.pick(e, 284, 5)) else '' end
                   when {ix["recherche_adresse"]} then '/recherche?q='
                       || (1 + floor(pg_temp.rnd(e, 285) ^ 2 * 150))::int || '+'
                       || (%(streets_q)s::text[])[pg_temp.pick(e, 286, %(n_streets)s)] || '&commune=' || commune_code
                   when {ix["creation_signalement"]} then '/signalements/nouveau'
                       || case when pg_temp.rnd(e, 287) < 0.5
                               then '?categorie=' || (%(category_codes)s::text[])[pg_temp.pick(e, 288, 8)] else '' end
                   when {ix["suivi_signalement"]} then '/signalements/'
                       || (1 + floor(pg_temp.rnd(e, 289) * %(n_reports)s))::bigint
                   when {ix["connexion"]} then '/connexion'
                   when {ix["inscription"]} then '/inscription'
                   when {ix["telechargement_donnees"]} then '/donnees/signalements.csv'
                   when {ix["consultation_aide"]} then '/aide/'
                       || (%(help_pages)s::text[])[pg_temp.pick(e, 297, %(n_help)s)]
                   else '/?utm_source=newsletter&utm_medium=email'
               end
        from (
            select visitor_id, session_id, user_id, ip_address, user_agent, commune_code, start, first_off,
                   len
            from (
                select *,
                       pg_temp.hex16(visitor_key, 250) as visitor_id,
                       substr(sx, 1, 8) || '-' || substr(sx, 9, 4) || '-4' || substr(sx, 14, 3) || '-'
                           || substr('89ab', pg_temp.pick(sid, 247, 4), 1)
                               || substr(sx, 18, 3) || '-' || substr(sx, 21, 12)
                           as session_id,  -- shaped as a random (version 4) UUID
                       {ip} as ip_address,
                       (%(user_agents)s::text[])[pg_temp.wpick(visitor_key, 251, %(ua_cum)s)] as user_agent,
                       (%(commune_codes)s::text[])[pg_temp.wpick(visitor_key, 252, %(commune_cum)s)] as commune_code
                from (
                    select *,
                           pg_temp.hex16(sid, 240) || pg_temp.hex16(sid, 241) as sx,
                           -- A signed-in user comes back from one or two devices; anonymous visitors
                           -- come back too, the more regular ones more often.
                           case when user_id is not null
                                then -(user_id * 4 + case when pg_temp.rnd(sid, 242) < 0.75 then 0
                                                          else pg_temp.pick(sid, 243, 2) end)
                                else 1 + floor(%(n_sessions)s / 2 * pg_temp.rnd(sid, 244) ^ 1.5)::bigint
                           end as visitor_key,
                           -- Mostly the home address, sometimes work or a mobile network.
                           case when user_id is not null
                                then -(user_id * 8 + case when pg_temp.rnd(sid, 245) < 0.7 then 0
                                                          else pg_temp.pick(sid, 246, 7) end)
                                else sid
                           end as ip_key
                    from (
                        select sid, len, first_off,
                               {start} as start,
                               case when pg_temp.rnd(sid, 203) < 0.40
                                         and (%(users_before_day)s::int[])[(b - 1) / 24 + 1] > 0
                                    then 1 + floor((%(users_before_day)s::int[])[(b - 1) / 24 + 1]
                                                   * pg_temp.rnd(sid, 204))::bigint
                               end as user_id
                        from (
                            select sid, len, first_off, v, width_bucket(v, %(event_cum)s::float8[]) as b
                            from (
                                select sid, len, sum(len) over (order by sid) - len as first_off,
                                       pg_temp.rnd(sid, 202) as v
                                from (
                                    select g as sid,
                                           1 + least(39, floor(-ln(1 - pg_temp.rnd(g, 201)) * 3.5))::int as len
                                    from generate_series(1, %(n_sessions)s::bigint) g
                                ) lengths
                            ) offsets
                            where first_off < %(n_events)s
                        ) timed
                        offset 0
                    ) sessions
                    offset 0
                ) keyed
                offset 0
            ) attributes
            offset 0
        ) sess
        cross join lateral (
            select k, e,
                   -- Signed-in sessions usually open with the sign-in.
                   case when k = 0 and sess.user_id is not null and pg_temp.rnd(e, 280) < 0.6 then {ix["connexion"]}
                        else pg_temp.wpick(e, 281, %(event_name_cum)s)
                   end as ni
            from (
                select k, sess.first_off + k + 1 as e
                from generate_series(0, sess.len - 1) k
                where sess.first_off + k < %(n_events)s
            ) numbered
            offset 0
        ) ev
        """
    ).format(s=s)
    cur.execute(query, params)
