"""Weekly usage per feature from a Matomo instance, through its Reporting API.

One ISO week is read with four report methods, `period=week` and the week's Monday as `date` (Matomo's weeks
run Monday to Sunday in the site's time zone, like ISO weeks):

- `Events.getCategory` → label_kind `event_category`: nb_events ← `nb_events`;
- `Events.getAction` → `event_action`: nb_events ← `nb_events`;
- `Actions.getPageUrls` with `flat=1` → `page_url`: nb_events ← `nb_hits` (page views);
- `VisitsSummary.get` → `visits_summary`, one row labelled `total`: nb_events ← `nb_actions` (every tracked
  action: page views, events, downloads…).
Each row also has nb_visits ← `nb_visits` and nb_uniq_visitors ← `nb_uniq_visitors` when Matomo gives it.

Event reports are read at their top level (one row per category, one per action): their sub-tables hold event
*names*, which trackers fill with free text. Page URLs are read flattened, so that a label is a whole path
("/demarches/nouvelle") rather than one folder of it.

Unique visitors: for a week, Matomo gives `nb_uniq_visitors` only where the instance processes unique visitors
for weeks (`enable_processing_unique_visitors_week`, on by default) and, even then, not in the Events and
Actions reports, which carry `sum_daily_nb_uniq_visitors` instead. That sum counts a person once per day they
came back, so it is *not* a number of distinct visitors: we store `nb_uniq_visitors` when Matomo gives it and
NULL otherwise, and never substitute the sum.

Personal data: labels are stored raw, as Matomo gives them, in the warehouse only. They can carry personal data
(a page URL with `?email=…`, an event action built from a user's input), so they are never published as they
are: the dbt feature catalogue maps each label to a declared feature or to « autre », like the service's own
event names.

The token: Matomo recommends sending `token_auth` as a POST field, never in the URL, where proxies and access
logs would keep it. This module sends it only in the POST body and keeps it out of every message, log line
and exception it produces (the HTTP client replaces it by "[redacted]" should Matomo ever echo it back).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from commons_assets.errors import CommonsError, InputError
from commons_assets.http import DeadlinePassed, GaveUp, HttpClient, HttpError, Refused
from commons_assets.settings import SettingsError
from commons_assets.week import ISO_WEEK_PATTERN, Week

log = logging.getLogger(__name__)

SOURCE = "matomo"
TABLE = "matomo_weekly_usage"
ENV_URL = "MATOMO_URL"
ENV_SITE_ID = "MATOMO_SITE_ID"
ENV_TOKEN = "MATOMO_TOKEN"
LABEL_KINDS = ("event_category", "event_action", "page_url", "visits_summary")
VISITS_SUMMARY_LABEL = "total"

# A weekly report of a small service answers in a few seconds; 30 s leaves room for an instance that archives
# the week on the fly (browser-triggered archiving) without hanging a Dagster run.
DEFAULT_TIMEOUT = 30.0
# 4 attempts, up to 2 s, 4 s, 8 s apart (jittered; or what Retry-After asks): a restarting PHP-FPM or a
# database failover is over by then.
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_BACKOFF = 2.0
_MAX_BACKOFF = 30.0
# One deadline for the four reports of a week, retries included: a Dagster run never hangs on Matomo.
DEFAULT_DEADLINE = 600.0
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class MatomoError(CommonsError, RuntimeError):
    """Matomo could not be read; the message says which call and why, never the token."""


class MatomoSettingsError(MatomoError, SettingsError):
    """A MATOMO_* variable is missing or malformed; the message names it (and never shows the token)."""


@dataclass(frozen=True)
class MatomoSettings:
    """Where the Matomo instance is and how to read it. The token is left out of repr() so that no log of the
    settings can show it."""

    url: str
    site_id: int
    token: str = field(repr=False)

    @property
    def api_url(self) -> str:
        return self.url + "/index.php"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MatomoSettings | None:
        """The settings from MATOMO_URL, MATOMO_SITE_ID and MATOMO_TOKEN; None when none of them is set (the
        Matomo source is then simply off); MatomoSettingsError when only some are set, or one is malformed."""
        values = {name: (env.get(name) or "").strip() for name in (ENV_URL, ENV_SITE_ID, ENV_TOKEN)}
        if not any(values.values()):
            return None
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise MatomoSettingsError(
                f"the Matomo source needs {ENV_URL}, {ENV_SITE_ID} and {ENV_TOKEN} together: "
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set "
                "(unset all three to turn the Matomo source off)"
            )
        return cls(
            url=_parse_url(values[ENV_URL]),
            site_id=_parse_site_id(values[ENV_SITE_ID]),
            token=_parse_token(values[ENV_TOKEN]),
        )


def _parse_url(value: str) -> str:
    parsed = urllib.parse.urlsplit(value)
    # Checked first, and the value not repeated: credentials or a token_auth in the address would end up in
    # logs and error messages; the token has its own variable.
    if "@" in parsed.netloc or parsed.query or parsed.fragment:
        raise MatomoSettingsError(
            f"{ENV_URL} must be the bare address of the Matomo instance, without credentials, query or fragment "
            f"(the token goes in {ENV_TOKEN})"
        )
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise MatomoSettingsError(
            f"{ENV_URL}={value!r} is not an http(s) address of a Matomo instance, e.g. https://stats.example.gouv.fr"
        )
    path = re.sub(r"/index\.php$", "", parsed.path.rstrip("/")).rstrip("/")
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, "", ""))


def _parse_site_id(value: str) -> int:
    if not re.fullmatch(r"[0-9]+", value) or int(value) < 1:
        raise MatomoSettingsError(f"{ENV_SITE_ID}={value!r} is not a Matomo site id (a positive whole number, e.g. 3)")
    return int(value)


def _parse_token(value: str) -> str:
    # Matomo's tokens are 32 hexadecimal characters; other shapes are let through (proxies, future versions)
    # but a space or a control character is a copy-paste accident. The value is never repeated back.
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise MatomoSettingsError(f"{ENV_TOKEN} contains spaces or control characters: copy the token again")
    return value


@dataclass(frozen=True, slots=True)
class MatomoUsageRow:
    """One label of one Matomo report for one ISO week. `label` is raw and may carry personal data: it is for
    the warehouse only, never published as it is."""

    week: str
    source: str
    label_kind: str
    label: str
    nb_events: int | None
    nb_visits: int | None
    nb_uniq_visitors: int | None


class MatomoClient:
    """Calls Matomo's Reporting API through the project's HTTP client (commons_assets.http): 429, 5xx, timeouts
    and dropped connections retried with backoff (or after Retry-After), at most `max_attempts` times per call
    and within one deadline for every call of the client; one-line errors that never show the token."""

    def __init__(
        self,
        settings: MatomoSettings,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
        deadline_s: float = DEFAULT_DEADLINE,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.settings = settings
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.deadline_s = deadline_s
        # Built here, not at import: requests reads the proxy variables (https_proxy…) when it sends.
        self._http = HttpClient(
            deadline_s=deadline_s,
            secrets=[settings.token],
            headers={"Accept": "application/json", "User-Agent": "commons-assets (usage statistics)"},
            max_attempts=max_attempts,
            backoff=backoff,
            backoff_cap=_MAX_BACKOFF,
            connect_timeout=timeout,
            read_timeout=timeout,
            logger=log,
        )

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, **params: Any) -> Any:
        """The decoded JSON of `method` for the configured site. Raises MatomoError."""
        query = {"module": "API", "method": method, "idSite": self.settings.site_id, "format": "JSON", **params}
        url = self.settings.api_url + "?" + urllib.parse.urlencode(query)
        # The token travels in the POST body only.
        body = urllib.parse.urlencode({"token_auth": self.settings.token}).encode()
        what = f"{method} ({_describe(params)})"
        log.debug("Matomo %s", what)
        try:
            response = self._http.request(
                "POST",
                url,
                what=f"Matomo {what}",
                body=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        except HttpError as err:
            failure = err
        else:
            return self._decode(what, response.status_code, response.headers.get("Content-Type", ""), response.content)
        # Raised here, outside the except block: the client's exception is neither the cause nor the context.
        raise self._error(failure, method, what)

    def _error(self, err: HttpError, method: str, what: str) -> MatomoError:
        if isinstance(err, Refused):
            suffix = _error_message_suffix(err.body.encode(), self._redact)
            if 300 <= err.status < 400:
                return MatomoError(
                    f"Matomo answered a redirect (HTTP {err.status}) to {err.location or '?'} for {method}: set "
                    f"{ENV_URL} to the address the instance redirects to"
                )
            if err.status in (401, 403):
                return MatomoError(
                    f"Matomo refused the token (HTTP {err.status}) for {method}: check {ENV_TOKEN} and "
                    f"that its user has 'view' access to site {self.settings.site_id}{suffix}"
                )
            return MatomoError(f"Matomo answered HTTP {err.status} for {method}{suffix}")
        if isinstance(err, GaveUp):
            message = f"Matomo {what} failed after {err.attempts} attempts: {err.reason}"
            if err.next_delay is not None:
                message += (
                    f"; gave up: the next try, in {err.next_delay:.1f} s, would pass the {self.deadline_s:g} s deadline"
                )
            return MatomoError(message)
        if isinstance(err, DeadlinePassed):
            return MatomoError(f"Matomo {what}: the {self.deadline_s:g} s deadline passed")
        return MatomoError(str(err))  # TLS: a certificate problem does not go away by asking again

    def _decode(self, what: str, status: int, content_type: str, payload: bytes) -> Any:
        try:
            data = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            # The body itself is not repeated: an HTML login or error page says nothing useful in one line.
            raise MatomoError(
                f"Matomo {what} did not answer JSON (HTTP {status}, {content_type or 'no content type'}, "
                f"{len(payload)} bytes): is {ENV_URL} the address of the Matomo instance?"
            ) from None
        if isinstance(data, dict) and data.get("result") == "error":
            message = self._redact(str(data.get("message", "no message")).strip())
            raise MatomoError(f"Matomo {what} answered an error: {_one_line(message)}")
        return data

    def _redact(self, text: str) -> str:
        return self._http.redact(text)


def _describe(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in params.items())


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_message_suffix(payload: bytes, redact) -> str:
    """' (Matomo says: …)' when an error body is Matomo's JSON error, else ''."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ""
    if isinstance(data, dict) and data.get("message"):
        return f" (Matomo says: {_one_line(redact(str(data['message'])))})"
    return ""


def fetch_week(
    settings: MatomoSettings,
    week_monday: dt.date,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff: float = DEFAULT_BACKOFF,
    deadline_s: float = DEFAULT_DEADLINE,
) -> list[MatomoUsageRow]:
    """Every label of the four reports for the ISO week starting on `week_monday`, raw."""
    week = Week(week_monday).label  # refuses anything but a Monday date
    client = MatomoClient(settings, timeout=timeout, max_attempts=max_attempts, backoff=backoff, deadline_s=deadline_s)
    try:
        return _fetch_week(client, settings, week_monday, week)
    finally:
        client.close()


def _fetch_week(
    client: MatomoClient, settings: MatomoSettings, week_monday: dt.date, week: str
) -> list[MatomoUsageRow]:
    # filter_limit=-1: Matomo returns 100 rows by default, silently; the rest would be lost.
    common = {"period": "week", "date": week_monday.isoformat(), "filter_limit": -1}
    rows: list[MatomoUsageRow] = []
    for method, kind, extra in (
        ("Events.getCategory", "event_category", {"flat": 0}),
        ("Events.getAction", "event_action", {"flat": 0}),
        ("Actions.getPageUrls", "page_url", {"flat": 1}),
    ):
        data = client.call(method, **common, **extra)
        rows.extend(_report_rows(method, data, week, kind))
    summary = client.call("VisitsSummary.get", period="week", date=week_monday.isoformat())
    rows.extend(_summary_rows(summary, week))
    log.info("Matomo site %s, week %s: %d rows", settings.site_id, week, len(rows))
    return rows


def _report_rows(method: str, data: Any, week: str, kind: str) -> list[MatomoUsageRow]:
    if isinstance(data, dict) and not data:
        data = []  # PHP's empty array may come back as {} from some proxies and versions
    if not isinstance(data, list):
        raise MatomoError(
            f"Matomo {method} answered a {type(data).__name__} where a list of rows was expected: "
            "a single week and a single site must be asked"
        )
    events_key = "nb_hits" if kind == "page_url" else "nb_events"
    rows = []
    for item in data:
        if not isinstance(item, dict) or "label" not in item:
            raise MatomoError(f"Matomo {method} answered a row without a label")
        rows.append(
            MatomoUsageRow(
                week=week,
                source=SOURCE,
                label_kind=kind,
                label=str(item["label"]),
                nb_events=_count(method, item, events_key),
                nb_visits=_count(method, item, "nb_visits"),
                nb_uniq_visitors=_count(method, item, "nb_uniq_visitors"),
            )
        )
    return rows


def _summary_rows(data: Any, week: str) -> list[MatomoUsageRow]:
    method = "VisitsSummary.get"
    if data in ([], {}):
        log.warning("Matomo %s returned no data for week %s (no visit, or the week is not archived yet)", method, week)
        return []
    if not isinstance(data, dict):
        raise MatomoError(f"Matomo {method} answered a {type(data).__name__} where one set of metrics was expected")
    return [
        MatomoUsageRow(
            week=week,
            source=SOURCE,
            label_kind="visits_summary",
            label=VISITS_SUMMARY_LABEL,
            nb_events=_count(method, data, "nb_actions"),
            nb_visits=_count(method, data, "nb_visits"),
            nb_uniq_visitors=_count(method, data, "nb_uniq_visitors"),
        )
    ]


def _count(method: str, item: Mapping[str, Any], key: str) -> int | None:
    """A count from a Matomo row: absent → None; Matomo sends some as strings ("14") or floats (14.0)."""
    value = item.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MatomoError(f"Matomo {method} gave {key} as a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"[0-9]+(\.0+)?", value.strip()):
        number = int(float(value))
    else:
        raise MatomoError(f"Matomo {method} gave {key} that is not a whole number")
    if number < 0:
        raise MatomoError(f"Matomo {method} gave a negative {key}")
    return number


def load_rows(
    conn: psycopg.Connection,
    schema: str,
    rows: Iterable[MatomoUsageRow],
    *,
    week: str | None = None,
) -> int:
    """Write `rows` into `<schema>.matomo_weekly_usage`, replacing whatever was there for their weeks, in one
    transaction: loading a week twice leaves one copy of it. Pass `week` to clear a week that Matomo returned
    no rows for. Returns the number of rows written."""
    if not _SCHEMA_NAME.match(schema):
        raise InputError(f"{schema!r} is not a valid schema name (lower case letters, digits and _)")
    rows = list(rows)
    weeks = {row.week for row in rows}
    if week is not None:
        if weeks - {week}:
            raise ValueError(f"rows of weeks {sorted(weeks - {week})} given to load week {week}")
        weeks.add(week)
    for row in rows:
        if row.label_kind not in LABEL_KINDS:
            raise ValueError(f"unknown label_kind {row.label_kind!r}")
    if not weeks:
        return 0
    table = sql.Identifier(schema, TABLE)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        cur.execute(
            sql.SQL(
                """
                    create table if not exists {table} (
                        week text not null check (week ~ {week_pattern}),
                        source text not null,
                        label_kind text not null check (label_kind in ({kinds})),
                        label text not null,
                        nb_events bigint check (nb_events >= 0),
                        nb_visits bigint check (nb_visits >= 0),
                        nb_uniq_visitors bigint check (nb_uniq_visitors >= 0),
                        loaded_at timestamptz not null default now()
                    )
                    """
            ).format(
                table=table,
                week_pattern=sql.Literal(ISO_WEEK_PATTERN),
                kinds=sql.SQL(", ").join(sql.Literal(k) for k in LABEL_KINDS),
            )
        )
        cur.execute(
            sql.SQL("comment on table {} is {}").format(
                table,
                sql.Literal(
                    "Raw weekly Matomo reports. Labels may carry personal data (URLs, free text): "
                    "never publish them as they are; map them through the feature catalogue."
                ),
            )
        )
        # Two loads of the same week at once must not interleave their delete and insert.
        cur.execute(sql.SQL("lock table {} in share row exclusive mode").format(table))
        cur.execute(sql.SQL("delete from {} where week = any(%s)").format(table), [sorted(weeks)])
        with cur.copy(
            sql.SQL(
                "copy {} (week, source, label_kind, label, nb_events, nb_visits, nb_uniq_visitors) from stdin"
            ).format(table)
        ) as copy:
            for row in rows:
                copy.write_row(
                    (row.week, row.source, row.label_kind, row.label, row.nb_events, row.nb_visits,
                     row.nb_uniq_visitors)
                )
    log.info("Loaded %d Matomo rows into %s.%s for %s", len(rows), schema, TABLE, ", ".join(sorted(weeks)))
    return len(rows)
