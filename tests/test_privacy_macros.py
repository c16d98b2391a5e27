"""The anonymisation macros of commons_assets/dbt_package/macros/privacy, rendered by dbt and run by PostgreSQL.

Macros that models use are also covered by the models' dbt unit tests; this test pins each macro's edge
cases (top-coding, Corsica, overseas, the ISO year, Paris time, the 2-decimal ceiling, naive and aware
timestamps, the release window's bounds) in one dbt call, in a session whose time zone is none of the service's.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import dbt_env

DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"

RELEASE_WEEK = "2026-11-16"
# UTC+14: a session zone no service uses, so a macro that leant on the session's zone would be found out.
SESSION_TIMEZONE = "Pacific/Kiritimati"


def _stored(macro: str, value: str) -> str:
    """The macro applied to a column of a one-row relation holding `value`: a timestamp as a table stores it."""
    return f"(select {{{{ commons_privacy.{macro}('stored.at') }}}} from (select {value} as at) as stored)"


def _rows(people) -> str:
    """A relation of one row per person key given, all in the same week and département."""
    values = ", ".join(f"({i}, 'W1', '75', {p})" for i, p in enumerate(people))
    return f"(values {values}) as t(row_id, week, departement_code, person_id)"


def _recoded(person_key: str = "", people=(1, 1, 2)) -> str:
    recode = (
        "{{ commons_privacy.recode_small_groups('departement_code', ['week'], 3, \"'autres'\"" + person_key + ") }}"
    )
    return f"(select string_agg(recoded, ',') from (select {recode} as recoded from {_rows(people)}) as r)"


def _suppressed(person_key: str = "", people=(1, 1, 2), size: bool = False) -> str:
    query = '{{ commons_privacy.suppress_small_groups("' + _rows(people) + '", [\'week\'], 3' + person_key + ") }}"
    return f"(select {'max(_group_size)' if size else 'count(*)'} from ({query}) as kept)"


def _counted(person_key: str = "", people=(1, 1, 2, 2)) -> str:
    count = "{{ commons_privacy.suppress_small_count('count(*)', 3" + person_key + ") }}"
    return f"(select {count} from {_rows(people)})"


def _fresh(week: str, *published_in: str) -> str:
    """not_frozen() for a row of `week` (a SQL expression), the ledger's copy holding rows published in these
    weeks (none: nothing published yet)."""
    copy = (
        "(values " + ", ".join(f"('{w}')" for w in published_in) + ") as copy(published_in_week)"
        if published_in
        else "(select null::text as published_in_week where false) as copy"
    )
    return "{{ commons_privacy.not_frozen(\"" + copy + "\", \"" + week + "\") }}"


CASES = {
    "band_35": ("{{ commons_privacy.age_band(\"'1990-06-15'::date\", \"'2026-11-18'::date\") }}", "35-39"),
    "band_90_on_birthday": ("{{ commons_privacy.age_band(\"'1936-11-18'::date\", \"'2026-11-18'::date\") }}", "90+"),
    "band_85_day_before": ("{{ commons_privacy.age_band(\"'1936-11-19'::date\", \"'2026-11-18'::date\") }}", "85-89"),
    "band_top_coded_100": ("{{ commons_privacy.age_band(\"'1920-01-01'::date\", \"'2026-11-18'::date\") }}", "90+"),
    "band_null": ("{{ commons_privacy.age_band('null::date', \"'2026-11-18'::date\") }}", None),
    "commune_paris": ("{{ commons_privacy.commune_to_departement(\"'75056'\") }}", "75"),
    "commune_corse_sud": ("{{ commons_privacy.commune_to_departement(\"'2A004'\") }}", "2A"),
    "commune_reunion": ("{{ commons_privacy.commune_to_departement(\"'97411'\") }}", "974"),
    "commune_ain": ("{{ commons_privacy.commune_to_departement(\"'01053'\") }}", "01"),
    "postcode_ajaccio": ("{{ commons_privacy.postcode_to_departement(\"'20000'\") }}", "2A"),
    "postcode_porto_vecchio": ("{{ commons_privacy.postcode_to_departement(\"'20137'\") }}", "2A"),
    "postcode_bastia": ("{{ commons_privacy.postcode_to_departement(\"'20200'\") }}", "2B"),
    "postcode_reunion": ("{{ commons_privacy.postcode_to_departement(\"'97400'\") }}", "974"),
    "postcode_paris": ("{{ commons_privacy.postcode_to_departement(\"'75011'\") }}", "75"),
    "coordinate_2_decimals": ("{{ commons_privacy.round_coordinate('48.856614') }}::text", "48.86"),
    "coordinate_negative": ("{{ commons_privacy.round_coordinate('-1.553621') }}::text", "-1.55"),
    "coordinate_ceiling": ("{{ commons_privacy.round_coordinate('2.352222', 4) }}::text", "2.35"),
    "week_iso_53": ("{{ commons_privacy.to_iso_week(\"'2026-12-31 12:00:00+01'::timestamptz\") }}", "2026-W53"),
    "week_paris_monday": ("{{ commons_privacy.to_iso_week(\"'2027-01-03 23:30:00+00'::timestamptz\") }}", "2027-W01"),
    "month_paris": ("{{ commons_privacy.to_month(\"'2026-11-30 23:30:00+00'::timestamptz\") }}", "2026-12"),
    "year_paris": ("{{ commons_privacy.to_year(\"'2026-12-31 23:30:00+00'::timestamptz\") }}", "2027"),
    # Timestamps of either kind (vars.service.source_timezone: UTC in the demo; publishing zone Europe/Paris).
    # The same instant, Sunday 2026-11-22 23:30 UTC = Monday 00:30 in Paris, stored naive-UTC (Rails, Django)
    # and as timestamptz, is in the same ISO week: the next one.
    "week_naive_utc_sunday_night": (_stored("to_iso_week", "'2026-11-22 23:30:00'::timestamp"), "2026-W48"),
    "week_timestamptz_sunday_night": (_stored("to_iso_week", "'2026-11-22 23:30:00+00'::timestamptz"), "2026-W48"),
    "week_naive_utc_sunday_evening": (_stored("to_iso_week", "'2026-11-22 22:30:00'::timestamp"), "2026-W47"),
    # summer time: Sunday 22:30 UTC is already Monday 00:30 in Paris
    "week_naive_utc_summer": (_stored("to_iso_week", "'2026-06-28 22:30:00'::timestamp"), "2026-W27"),
    # a naive value in another declared zone (the optional argument): Sunday 22:00 in Cayenne is Monday 02:00
    # in Paris; the same wall-clock time read as Paris time stays on Sunday
    "week_naive_cayenne": (
        "{{ commons_privacy.to_iso_week(\"'2026-11-22 22:00:00'::timestamp\", 'America/Cayenne') }}", "2026-W48"
    ),
    "week_naive_paris": (
        "{{ commons_privacy.to_iso_week(\"'2026-11-22 22:00:00'::timestamp\", 'Europe/Paris') }}", "2026-W47"
    ),
    "month_naive_utc": (_stored("to_month", "'2026-11-30 23:30:00'::timestamp"), "2026-12"),
    "year_naive_utc": (_stored("to_year", "'2026-12-31 23:30:00'::timestamp"), "2027"),
    "local_date_naive_utc": (_stored("to_local_date", "'2026-11-22 23:30:00'::timestamp") + "::text",
                             "2026-11-23"),
    "local_date_of_a_date": ("{{ commons_privacy.to_local_date(\"'2026-11-22'::date\") }}::text", "2026-11-22"),
    # the release window (release_week 2026-11-16: it ends Monday 2026-11-23 00:00 Paris = Sunday 23:00 UTC)
    "window_naive_before_end": (_stored("before_release_week_end", "'2026-11-22 22:59:59'::timestamp"), True),
    "window_naive_at_end": (_stored("before_release_week_end", "'2026-11-22 23:00:00'::timestamp"), False),
    "window_timestamptz_before_end": (
        _stored("before_release_week_end", "'2026-11-22 23:59:59+01'::timestamptz"), True
    ),
    "window_timestamptz_at_end": (_stored("before_release_week_end", "'2026-11-23 00:00:00+01'::timestamptz"), False),
    "release_week_label": ("{{ commons_privacy.release_week_label() }}", "2026-W47"),
    "release_week_end": ("{{ commons_privacy.release_week_end() }} = '2026-11-22 23:00:00+00'::timestamptz", True),
    # the session runs in a zone unlike both (PGTZ below): no macro may depend on it
    "session_time_zone": ("current_setting('TimeZone')", "Pacific/Kiritimati"),
    "small_count_suppressed": ("{{ commons_privacy.suppress_small_count('5', 11) }}", None),
    "count_at_threshold": ("{{ commons_privacy.suppress_small_count('11', 11) }}", 11),
    # k counts people, not rows (person_key): three rows of two people are a group of two
    "recode_rows": (_recoded(), "75,75,75"),
    "recode_persons": (_recoded(", 'person_id'"), "autres,autres,autres"),
    "recode_three_persons": (_recoded(", 'person_id'", people=(1, 2, 3)), "75,75,75"),
    "suppress_rows": (_suppressed(), 3),
    "suppress_persons": (_suppressed(", 'person_id'"), 0),
    "suppress_three_persons": (_suppressed(", 'person_id'", people=(1, 2, 3)), 3),
    "suppress_group_size_in_persons": (_suppressed(", 'person_id'", people=(4, 5, 5, 6), size=True), 3),
    "suppress_null_key_is_one_person": (_suppressed(", 'person_id'", people=("null", "null", 1)), 0),
    "small_count_rows": (_counted(), 4),
    "small_count_persons": (_counted(", 'person_id'"), None),
    "small_count_persons_enough": (_counted(", 'person_id'", people=(1, 2, 3, 3)), 4),
    "ids_differ": ("({{ commons_privacy.release_scoped_id() }}) <> ({{ commons_privacy.release_scoped_id() }})", True),
    "id_length": ("length({{ commons_privacy.release_scoped_id() }})", 36),
    # frozen weeks (the release is 2026-W47): a week up to the last one published is republished from the
    # ledger's copy, never computed again; before the first release every row is computed, a null week included
    "fresh_first_release": (_fresh("'2026-W40'"), True),
    "fresh_first_release_null_week": (_fresh("null"), True),
    "frozen_published_week": (_fresh("'2026-W46'", "2026-W45", "2026-W46"), False),
    "frozen_earlier_week": (_fresh("'2025-W52'", "2026-W46"), False),
    "fresh_next_week": (_fresh("'2026-W47'", "2026-W45", "2026-W46"), True),
    "frozen_null_week": (_fresh("null", "2026-W46"), False),
    # W47 republished after W49 was: the copy counts only up to the released week, so W47 is frozen, no later
    "frozen_capped_at_the_released_week": (_fresh("'2026-W47'", "2026-W49"), False),
    "fresh_after_the_released_week": (_fresh("'2026-W48'", "2026-W49"), True),
    # the plausibility tests' bounds (issue 12): the demo declares vars.service_life_start, the clock is
    # COMMONS_TODAY (2026-11-25 in the tests) and the end is exclusive, one day of tolerance after tomorrow
    "life_start": ("({{ commons_privacy.service_life_start() }})::text", "2020-01-01"),
    "life_end": ("({{ commons_privacy.service_life_end() }})::text", "2026-11-27"),
    "life_end_no_tolerance": ("({{ commons_privacy.service_life_end(0) }})::text", "2026-11-26"),
}


@pytest.fixture(scope="module")
def rendered(warehouse_info, manifest) -> dict:
    query = "select " + ", ".join(f"{expr} as {name}" for name, (expr, _) in CASES.items())
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "show", "--quiet", "--output", "json", "--inline", query,
         "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT),
         "--vars", json.dumps({"release_week": RELEASE_WEEK})],
        env={**dbt_env(warehouse_info), "PGTZ": SESSION_TIMEZONE},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout[result.stdout.index("{"):])["show"][0]


@pytest.mark.parametrize("name", CASES)
def test_privacy_macro(rendered, name):
    expected = CASES[name][1]
    assert rendered[name] == expected
