import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from commons_assets.errors import CommonsError, SettingsError, WeekError
from commons_assets.week import ISO_WEEK_PATTERN, Week, publishing_timezone, releasable_week

PARIS = ZoneInfo("Europe/Paris")


def test_an_iso_label_maps_to_its_monday_and_back():
    week = Week.parse("2026-W47")
    assert week.monday == dt.date(2026, 11, 16)
    assert week.partition_key == "2026-W47-1"  # what the Dagster UI shows: the ISO week, not a date
    assert week.dbt_var == "2026-11-16"  # what dbt's macros compare with dates
    assert week.label == "2026-W47" == str(week)
    assert Week.from_partition_key("2026-W47-1") == week


def test_the_iso_year_differs_from_the_calendar_year_around_new_year():
    assert Week.parse("2026-W01").monday == dt.date(2025, 12, 29)
    assert Week.from_partition_key("2026-W01-1").monday == dt.date(2025, 12, 29)
    assert Week.parse("2026-W01").partition_key == "2026-W01-1"
    assert Week.containing(dt.date(2026, 12, 31)).label == "2026-W53"
    assert Week.parse("2026-W53").next().label == "2027-W01"


@pytest.mark.parametrize(
    "bad", ["2026-47", "2026W47", "W47", "2026-W5", "2026-W54", "2025-W53", "next week", "", "٢٠٢٦-W47"]
)
def test_malformed_or_impossible_labels_are_week_errors(bad):
    with pytest.raises(WeekError):
        Week.parse(bad)


def test_week_errors_are_commons_errors():
    assert issubclass(WeekError, CommonsError)


@pytest.mark.parametrize("bad", ["2026-11-16", "16/11/2026", "2026-W47", "2026-W47-3", "2026W471", "2026-W54-1"])
def test_a_partition_key_must_be_a_mondays_iso_week_date(bad):
    with pytest.raises(WeekError):
        Week.from_partition_key(bad)


def test_a_week_is_built_from_a_date_not_a_datetime():
    with pytest.raises(TypeError):
        Week(dt.datetime(2026, 11, 16))
    with pytest.raises(WeekError, match="not a Monday"):
        Week(dt.date(2026, 11, 18))


def test_bounds_are_monday_to_next_monday_in_paris():
    week = Week.parse("2026-W43")  # ends on the night the clocks go back (25 Oct 2026)
    assert week.end == dt.date(2026, 10, 26)
    assert week.sunday == dt.date(2026, 10, 25)
    assert week.start_at == dt.datetime(2026, 10, 19, tzinfo=PARIS)
    assert week.start_at.utcoffset() == dt.timedelta(hours=2)
    assert week.end_at == dt.datetime(2026, 10, 26, tzinfo=PARIS)
    assert week.end_at.utcoffset() == dt.timedelta(hours=1)
    utc = dt.UTC
    assert week.end_at.astimezone(utc) - week.start_at.astimezone(utc) == dt.timedelta(days=7, hours=1)


def test_containing_reads_an_aware_instant_in_paris():
    # Sunday 23:30 UTC is already Monday in Paris
    assert Week.containing(dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC)).label == "2026-W48"
    assert Week.containing(dt.datetime(2026, 11, 22, 22, 30, tzinfo=dt.UTC)).label == "2026-W47"
    assert Week.containing(dt.date(2026, 11, 22)).label == "2026-W47"


def test_weeks_are_ordered_and_step_by_seven_days():
    week = Week.parse("2026-W47")
    assert week.previous() < week < week.next()
    assert week.previous().label == "2026-W46"
    assert week.next().monday == week.end
    assert sorted([Week.parse("2027-W01"), Week.parse("2026-W52"), week]) == [
        week, Week.parse("2026-W52"), Week.parse("2027-W01")
    ]
    assert len({Week.parse("2026-W47"), Week.from_partition_key("2026-W47-1")}) == 1


def test_last_complete_week_is_in_paris_time():
    assert Week.last_complete(dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC)).label == "2026-W47"
    assert Week.last_complete(dt.datetime(2026, 11, 22, 22, 30, tzinfo=dt.UTC)).label == "2026-W46"
    assert Week.last_complete(dt.date(2026, 11, 23)).label == "2026-W47"


def test_last_complete_week_follows_the_clock_setting(monkeypatch):
    monkeypatch.setenv("COMMONS_TODAY", "2026-11-25")
    assert Week.last_complete().label == "2026-W47"
    monkeypatch.setenv("COMMONS_TODAY", "2026-11-30")
    assert Week.last_complete().label == "2026-W48"


def test_a_week_not_over_cannot_be_released():
    now = dt.datetime(2026, 11, 25, 12, tzinfo=PARIS)
    assert releasable_week("2026-W47", now).partition_key == "2026-W47-1"
    with pytest.raises(WeekError, match="not over"):
        releasable_week("2026-W48", now)
    with pytest.raises(WeekError, match="before the first"):
        releasable_week("2020-W10", now)


def test_partition_keys_round_trip_through_dagsters_own_format():
    """Dagster writes and parses the keys with PARTITION_KEY_FORMAT: its keys must be Week's, both ways."""
    from commons_assets.partitions import _weekly_partitions

    partitions = _weekly_partitions("2025-W50-1", "Europe/Paris")
    keys = partitions.get_partition_keys(current_time=dt.datetime(2026, 1, 13, tzinfo=PARIS))
    assert keys == ["2025-W50-1", "2025-W51-1", "2025-W52-1", "2026-W01-1", "2026-W02-1"]
    for key in keys:
        window = partitions.time_window_for_partition_key(key)
        assert window.start == Week.from_partition_key(key).start_at
        assert window.end == Week.from_partition_key(key).end_at


def test_the_first_releasable_week_is_the_one_the_service_declares(tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    import yaml

    from commons_assets.partitions import weekly_partitions
    from commons_assets.week import FIRST_WEEK, first_week

    project = tmp_path / "service"
    shutil.copytree(Path(__file__).parents[1] / "dbt_project", project, ignore=shutil.ignore_patterns("target"))
    monkeypatch.setenv("COMMONS_DBT_PROJECT_DIR", str(project))
    now = dt.date(2026, 11, 25)
    config = yaml.safe_load((project / "dbt_project.yml").read_text())
    for declared, expected in (("2026-W40", "2026-W40"), (None, FIRST_WEEK)):
        config["vars"]["service"]["first_week"] = declared
        (project / "dbt_project.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
        assert first_week().label == expected
        assert weekly_partitions().get_first_partition_key() == f"{expected}-1"
    config["vars"]["service"]["first_week"] = "2026-W40"
    (project / "dbt_project.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
    with pytest.raises(WeekError, match="before the first releasable week \\(2026-W40\\)"):
        releasable_week("2026-W39", now)
    assert releasable_week("2026-W40", now).label == "2026-W40"


# --- the publishing zone is the service's, declared once in its dbt project ---------------------------------


def _project(tmp_path, service_block: str):
    (tmp_path / "dbt_project.yml").write_text(f"name: x\nvars:\n  service:\n{service_block}", encoding="utf-8")
    return tmp_path


def test_the_bundled_demo_publishes_in_paris():
    assert publishing_timezone() == "Europe/Paris"
    assert Week.parse("2026-W47").end_at == dt.datetime(2026, 11, 23, tzinfo=PARIS)


def test_weeks_are_cut_in_the_zone_the_project_declares(tmp_path, monkeypatch):
    monkeypatch.setenv("COMMONS_DBT_PROJECT_DIR", str(_project(tmp_path, "    timezone: America/Cayenne\n")))
    assert publishing_timezone() == "America/Cayenne"
    week = Week.parse("2026-W47")
    assert week.end_at == dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)  # Monday 00:00 in Cayenne (UTC-3)
    # Sunday 23:30 UTC is Monday in Paris but still Sunday in Cayenne
    assert Week.containing(dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC)) == week


def test_a_project_without_a_zone_publishes_in_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("COMMONS_DBT_PROJECT_DIR", str(_project(tmp_path, "    name: X\n")))
    assert publishing_timezone() == "Europe/Paris"


def test_an_unknown_zone_is_one_clear_error_naming_the_var(tmp_path, monkeypatch):
    monkeypatch.setenv("COMMONS_DBT_PROJECT_DIR", str(_project(tmp_path, "    timezone: Paris/Europe\n")))
    with pytest.raises(SettingsError, match=r"vars\.service\.timezone 'Paris/Europe' is not a time zone"):
        publishing_timezone()


def test_the_week_number_and_the_label_pattern_readers_check_agree_with_parse():
    import re

    assert Week.parse("2026-W07").number == 7 and Week.parse("2026-W53").number == 53
    assert Week.parse("2026-W01").number == 1  # its Monday is in December 2025
    for label in ("2026-W01", "2026-W47", "2026-W53"):
        assert re.match(ISO_WEEK_PATTERN, Week.parse(label).label)
    for bad in ("2026-W5", "2026W47", "٢٠٢٦-W47"):  # ASCII digits only, as PostgreSQL's regexes read them
        assert not re.match(ISO_WEEK_PATTERN, bad)
