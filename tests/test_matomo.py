"""The Matomo source: settings, the Reporting API client against a fake Matomo on loopback, loading the warehouse.

The fake server replays the JSON of tests/fixtures/matomo, whose shapes follow real Matomo 4/5 answers for
`period=week`:
- Events.getCategory / Events.getAction at their top level: `nb_visits`, `nb_events`, event-value metrics,
  `sum_daily_nb_uniq_visitors` and no `nb_uniq_visitors` (Events archives compute it for days only), `segment`,
  `idsubdatatable`;
- Actions.getPageUrls with flat=1: whole paths as labels, `nb_hits`, some metrics as strings, `url`, and a
  « - Others » summary row without `url`;
- VisitsSummary.get: one object, without `nb_uniq_visitors` where the instance does not process unique visitors
  for weeks;
- errors: HTTP 200 (401 on recent versions) with {"result": "error", "message": …}.
Labels include personal data on purpose (an e-mail in a URL, an address typed in a search).
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import traceback

import psycopg
import pytest

from commons_assets.usage import matomo
from commons_assets.usage.matomo import MatomoError, MatomoSettings, MatomoSettingsError, MatomoUsageRow
from tests.fake_matomo import DEFAULT_RESPONSES, TOKEN, serve
from tests.fake_matomo import fixture as _fixture

WEEK_MONDAY = dt.date(2026, 11, 16)
WEEK = "2026-W47"
SCHEMA = "test_matomo"


@pytest.fixture
def fake_matomo():
    """A fake Matomo on a free loopback port, stopped after the test."""
    with serve() as server:
        yield server


@pytest.fixture
def settings(fake_matomo) -> MatomoSettings:
    return MatomoSettings(url=fake_matomo.base_url, site_id=3, token=TOKEN)


def _fast(**overrides) -> dict:
    return {"timeout": 2.0, "max_attempts": 3, "backoff": 0.01, **overrides}


def _assert_token_hidden(caplog, err: BaseException | None = None) -> None:
    assert TOKEN not in caplog.text
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
    if err is not None:
        assert TOKEN not in str(err)
        assert TOKEN not in repr(err)
        assert TOKEN not in "".join(traceback.format_exception(err))


# --- settings -------------------------------------------------------------------------------------------------

def test_matomo_is_off_when_no_variable_is_set():
    assert MatomoSettings.from_env({}) is None
    assert MatomoSettings.from_env({"MATOMO_URL": " ", "MATOMO_SITE_ID": "", "MATOMO_TOKEN": ""}) is None


def test_partial_settings_name_the_missing_variables():
    with pytest.raises(MatomoSettingsError, match="MATOMO_SITE_ID, MATOMO_TOKEN are not set"):
        MatomoSettings.from_env({"MATOMO_URL": "https://stats.example.gouv.fr"})
    with pytest.raises(MatomoSettingsError, match="MATOMO_URL is not set"):
        MatomoSettings.from_env({"MATOMO_SITE_ID": "3", "MATOMO_TOKEN": TOKEN})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MATOMO_URL", "stats.example.gouv.fr"),
        ("MATOMO_URL", "ftp://stats.example.gouv.fr"),
        ("MATOMO_URL", f"https://stats.example.gouv.fr/?token_auth={TOKEN}"),
        ("MATOMO_URL", "https://admin:secret@stats.example.gouv.fr"),
        ("MATOMO_SITE_ID", "trois"),
        ("MATOMO_SITE_ID", "0"),
        ("MATOMO_TOKEN", TOKEN[:10] + " " + TOKEN[10:]),
    ],
)
def test_malformed_settings_name_the_variable_and_never_show_the_token(variable, value):
    env = {"MATOMO_URL": "https://stats.example.gouv.fr", "MATOMO_SITE_ID": "3", "MATOMO_TOKEN": TOKEN}
    env[variable] = value
    with pytest.raises(MatomoSettingsError) as info:
        MatomoSettings.from_env(env)
    assert variable in str(info.value)
    assert TOKEN not in str(info.value) and TOKEN[:10] not in str(info.value)


def test_settings_normalise_the_address_and_keep_the_token_out_of_repr():
    settings = MatomoSettings.from_env(
        {"MATOMO_URL": "https://stats.example.gouv.fr/matomo/index.php", "MATOMO_SITE_ID": " 12 ",
         "MATOMO_TOKEN": TOKEN}
    )
    assert settings.url == "https://stats.example.gouv.fr/matomo"
    assert settings.api_url == "https://stats.example.gouv.fr/matomo/index.php"
    assert settings.site_id == 12
    assert TOKEN not in repr(settings)


# --- fetching a week ------------------------------------------------------------------------------------------

def test_fetch_week_reads_the_four_reports_raw(fake_matomo, settings, caplog):
    caplog.set_level(logging.DEBUG, logger="commons_assets.usage.matomo")
    rows = matomo.fetch_week(settings, WEEK_MONDAY, **_fast())

    by_kind: dict[str, list[MatomoUsageRow]] = {}
    for row in rows:
        assert row.week == WEEK and row.source == "matomo"
        by_kind.setdefault(row.label_kind, []).append(row)
    assert {kind: len(items) for kind, items in by_kind.items()} == {
        "event_category": 6, "event_action": 9, "page_url": 6, "visits_summary": 1,
    }
    carte = next(r for r in by_kind["event_category"] if r.label == "carte")
    # Week reports of Events carry sum_daily_nb_uniq_visitors only: it is not a distinct count, so it is not used.
    assert (carte.nb_events, carte.nb_visits, carte.nb_uniq_visitors) == (5034, 1512, None)
    page = next(r for r in by_kind["page_url"] if r.label == "/carte")
    assert (page.nb_events, page.nb_visits) == (4388, 1620)  # nb_hits: page views
    # Raw labels are kept as Matomo gives them, personal data included: mapping happens in dbt.
    assert "/connexion?email=jeanne.martin@example.fr" in {r.label for r in by_kind["page_url"]}
    assert "/signalements/ - Others" in {r.label for r in by_kind["page_url"]}
    [summary] = by_kind["visits_summary"]
    assert (summary.label, summary.nb_events, summary.nb_visits, summary.nb_uniq_visitors) == (
        "total", 9873, 2406, 1843,
    )
    _assert_token_hidden(caplog)


def test_requests_are_posts_with_the_token_in_the_body_only(fake_matomo, settings):
    matomo.fetch_week(settings, WEEK_MONDAY, **_fast())

    assert len(fake_matomo.requests) == 4
    for request in fake_matomo.requests:
        assert request["verb"] == "POST"
        assert request["path"] == "/matomo/index.php"
        assert request["body"] == {"token_auth": TOKEN}
        assert TOKEN not in request["raw_path"]
        assert all(TOKEN not in value for value in request["headers"].values())
        query = request["query"]
        assert "token_auth" not in query
        assert (query["module"], query["idSite"], query["format"]) == ("API", "3", "JSON")
        assert (query["period"], query["date"]) == ("week", "2026-11-16")
    [pages] = fake_matomo.calls("Actions.getPageUrls")
    assert (pages["query"]["flat"], pages["query"]["filter_limit"]) == ("1", "-1")
    [categories] = fake_matomo.calls("Events.getCategory")
    assert categories["query"]["filter_limit"] == "-1"


def test_a_week_without_unique_visitors_gives_none_not_a_sum(fake_matomo, settings):
    fake_matomo.script("VisitsSummary.get", (200, _fixture("visitsSummary_get_week_no_uniq.json"), 0))
    rows = matomo.fetch_week(settings, WEEK_MONDAY, **_fast())
    [summary] = [r for r in rows if r.label_kind == "visits_summary"]
    assert (summary.nb_visits, summary.nb_uniq_visitors) == (2406, None)


def test_a_week_without_data_gives_no_rows(fake_matomo, settings, caplog):
    for method in DEFAULT_RESPONSES:
        fake_matomo.script(method, (200, "[]", 0))
    assert matomo.fetch_week(settings, WEEK_MONDAY, **_fast()) == []
    assert "no data" in caplog.text


def test_fetch_week_wants_a_monday(settings):
    with pytest.raises(ValueError, match="Monday"):
        matomo.fetch_week(settings, dt.date(2026, 11, 18))


# --- errors ---------------------------------------------------------------------------------------------------

def test_a_bad_token_is_a_one_line_error_with_matomos_message(fake_matomo, caplog):
    caplog.set_level(logging.DEBUG, logger="commons_assets.usage.matomo")
    wrong = MatomoSettings(url=fake_matomo.base_url, site_id=3, token="0" * 32)
    with pytest.raises(MatomoError) as info:
        matomo.fetch_week(wrong, WEEK_MONDAY, **_fast())
    message = str(info.value)
    assert "\n" not in message
    assert "Events.getCategory" in message
    assert "Unable to authenticate with the provided token" in message
    assert "0" * 32 not in message and "0" * 32 not in caplog.text
    assert len(fake_matomo.requests) == 1  # an error answer is final, not retried


def test_http_401_names_the_token_variable_and_is_not_retried(fake_matomo, settings, caplog):
    fake_matomo.script("Events.getCategory", (401, _fixture("error_bad_token.json"), 0))
    with pytest.raises(MatomoError) as info:
        matomo.fetch_week(settings, WEEK_MONDAY, **_fast())
    message = str(info.value)
    assert "HTTP 401" in message and "MATOMO_TOKEN" in message and "invalid or expired" in message
    assert len(fake_matomo.calls("Events.getCategory")) == 1
    _assert_token_hidden(caplog, info.value)


def test_a_token_echoed_back_by_matomo_is_redacted(fake_matomo, settings, caplog):
    fake_matomo.script(
        "Events.getCategory", (200, {"result": "error", "message": "Token {token} has no view access to site 3"}, 0)
    )
    with pytest.raises(MatomoError) as info:
        matomo.fetch_week(settings, WEEK_MONDAY, **_fast())
    assert "[redacted]" in str(info.value)
    _assert_token_hidden(caplog, info.value)


def test_a_redirect_is_reported_not_followed(fake_matomo, settings, caplog):
    # Following it would turn the POST into a GET without the token, and Matomo would blame the token.
    fake_matomo.script("Events.getCategory", (301, "", 0))
    with pytest.raises(MatomoError, match=r"redirect \(HTTP 301\) to https://stats.example.gouv.fr/index.php"):
        matomo.fetch_week(settings, WEEK_MONDAY, **_fast())
    assert len(fake_matomo.requests) == 1
    _assert_token_hidden(caplog)


def test_a_server_error_is_retried_then_succeeds(fake_matomo, settings, caplog):
    caplog.set_level(logging.DEBUG, logger="commons_assets.usage.matomo")
    fake_matomo.script(
        "Events.getAction",
        (500, "<html><body>Internal Server Error</body></html>", 0),
        (200, _fixture("events_getAction_week.json"), 0),
    )
    rows = matomo.fetch_week(settings, WEEK_MONDAY, **_fast())
    assert len([r for r in rows if r.label_kind == "event_action"]) == 9
    assert len(fake_matomo.calls("Events.getAction")) == 2
    assert "HTTP 500" in caplog.text and "retrying" in caplog.text
    _assert_token_hidden(caplog)


def test_endless_server_errors_give_up_after_the_bounded_attempts(fake_matomo, settings, caplog):
    fake_matomo.script("Events.getCategory", (503, "Service Unavailable", 0))
    with pytest.raises(MatomoError, match=r"failed after 3 attempts: HTTP 503") as info:
        matomo.fetch_week(settings, WEEK_MONDAY, **_fast())
    assert len(fake_matomo.calls("Events.getCategory")) == 3  # the bounded attempts, no more
    _assert_token_hidden(caplog, info.value)


def test_a_timeout_is_retried_then_reported(fake_matomo, settings, caplog):
    fake_matomo.script("Events.getCategory", (200, _fixture("events_getCategory_week.json"), 1.5))
    with pytest.raises(MatomoError, match=r"failed after 2 attempts: no answer within 0.3 s") as info:
        matomo.fetch_week(settings, WEEK_MONDAY, **_fast(timeout=0.3, max_attempts=2))
    assert len(fake_matomo.calls("Events.getCategory")) == 2  # each slow answer cut at the timeout, then retried
    _assert_token_hidden(caplog, info.value)


def test_a_slow_answer_then_a_quick_one_succeeds(fake_matomo, settings):
    fake_matomo.script(
        "VisitsSummary.get",
        (200, _fixture("visitsSummary_get_week.json"), 1.5),
        (200, _fixture("visitsSummary_get_week.json"), 0),
    )
    rows = matomo.fetch_week(settings, WEEK_MONDAY, **_fast(timeout=0.3))
    assert [r.nb_visits for r in rows if r.label_kind == "visits_summary"] == [2406]


def test_malformed_json_is_a_clear_error_that_does_not_quote_the_page(fake_matomo, settings, caplog):
    page = f"<!DOCTYPE html><html><body>Sign in <input value='{TOKEN}'></body></html>"
    fake_matomo.script("Events.getCategory", (200, page, 0))
    with pytest.raises(MatomoError, match=r"did not answer JSON .*MATOMO_URL") as info:
        matomo.fetch_week(settings, WEEK_MONDAY, **_fast())
    assert "<html" not in str(info.value)
    assert len(fake_matomo.calls("Events.getCategory")) == 1
    _assert_token_hidden(caplog, info.value)


def test_a_row_with_a_non_numeric_count_is_rejected(fake_matomo, settings):
    fake_matomo.script("Events.getAction", (200, [{"label": "connexion", "nb_events": "beaucoup"}], 0))
    with pytest.raises(MatomoError, match="nb_events that is not a whole number"):
        matomo.fetch_week(settings, WEEK_MONDAY, **_fast())


def test_an_unreachable_instance_is_retried_then_reported(caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = MatomoSettings(url=f"http://127.0.0.1:{port}", site_id=3, token=TOKEN)
    with pytest.raises(MatomoError, match="failed after 2 attempts: cannot reach") as info:
        matomo.fetch_week(settings, WEEK_MONDAY, **_fast(max_attempts=2))
    _assert_token_hidden(caplog, info.value)


# --- loading the warehouse ------------------------------------------------------------------------------------

@pytest.fixture
def matomo_schema(db):
    """A schema of our own, dropped afterwards, so that these tests never touch the release's schemas."""
    db.execute(f"drop schema if exists {SCHEMA} cascade")
    yield SCHEMA
    db.execute(f"drop schema if exists {SCHEMA} cascade")


def _row(week: str, label: str, events: int | None = 10, kind: str = "event_action") -> MatomoUsageRow:
    return MatomoUsageRow(week, "matomo", kind, label, events, events, None)


def _table(db) -> list[tuple]:
    return db.execute(
        f"select week, label_kind, label, nb_events, nb_visits, nb_uniq_visitors from {SCHEMA}.matomo_weekly_usage "
        "order by week, label_kind, label"
    ).fetchall()


def test_load_rows_creates_the_table_and_is_idempotent_per_week(db, matomo_schema, fake_matomo, settings):
    rows = matomo.fetch_week(settings, WEEK_MONDAY, **_fast())
    assert matomo.load_rows(db, matomo_schema, rows) == len(rows)
    first = _table(db)
    assert len(first) == len(rows)
    assert ("2026-W47", "visits_summary", "total", 9873, 2406, 1843) in first

    matomo.load_rows(db, matomo_schema, rows)
    assert _table(db) == first  # loading the same week again leaves one copy


def test_load_rows_replaces_only_the_weeks_it_loads(db, matomo_schema):
    matomo.load_rows(db, matomo_schema, [_row("2026-W46", "connexion"), _row("2026-W47", "connexion")])
    matomo.load_rows(db, matomo_schema, [_row("2026-W47", "inscription", 12)])
    assert [(w, label) for w, _, label, *_ in _table(db)] == [("2026-W46", "connexion"), ("2026-W47", "inscription")]


def test_an_empty_week_can_be_cleared(db, matomo_schema):
    matomo.load_rows(db, matomo_schema, [_row("2026-W46", "connexion"), _row("2026-W47", "connexion")])
    assert matomo.load_rows(db, matomo_schema, [], week="2026-W47") == 0
    assert [w for w, *_ in _table(db)] == ["2026-W46"]
    with pytest.raises(ValueError, match="given to load week"):
        matomo.load_rows(db, matomo_schema, [_row("2026-W46", "x")], week="2026-W47")


def test_a_failed_load_leaves_the_previous_week_in_place(db, matomo_schema):
    matomo.load_rows(db, matomo_schema, [_row("2026-W47", "connexion")])
    with pytest.raises(psycopg.errors.CheckViolation):
        # A negative count violates the table's check in the middle of the copy: the delete is rolled back too.
        matomo.load_rows(db, matomo_schema, [_row("2026-W47", "inscription"), _row("2026-W47", "bad", -1)])
    assert [label for _, _, label, *_ in _table(db)] == ["connexion"]


def test_load_rows_refuses_a_bad_schema_name(db):
    with pytest.raises(ValueError, match="schema name"):
        matomo.load_rows(db, "public; drop table x", [_row(WEEK, "a")])
