"""`commons-assets bench` at a tiny scale: seeds, releases, measures the floor and pandas, prints its figures.

One test, because it is slow (a full release in a subprocess, a dbt compile, pandas in a subprocess). The
benchmark reseeds the source schema (test_service) at its own scale: the standard demo is seeded again
afterwards, whatever happens, so that the tests after this one see the service they expect. The benchmark
puts the release ledger back as it found it by itself.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from pathlib import Path

import pytest

from commons_assets import cli
from commons_assets.bench.pandas_baseline import pandas_baseline
from commons_assets.bench.run import run_bench
from commons_assets.settings import get_settings
from tests.conftest import DEMO_WEEK, SOURCE_SCHEMA, seed

# The benchmark's subject is time and memory; the SQL it runs is the release's, run on both versions elsewhere.
pytestmark = [pytest.mark.e2e, pytest.mark.one_version]

USERS = 800
EVENTS = 8000
DATASETS = ("signalements", "cohortes-usagers", "usage-fonctionnalites")
RANDOM_COLUMNS = {"signalement_id"}  # drawn anew by each side: compared by count and shape only
CATALOGUE = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds" / "feature_catalogue.csv"


def _table(path: Path) -> tuple[list[str], list[tuple[str, ...]]]:
    """Header and rows, the random columns left out, rows sorted: the content, whatever the order."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        keep = [i for i, name in enumerate(header) if name not in RANDOM_COLUMNS]
        rows = sorted(tuple(row[i] for i in keep) for row in reader)
    return [header[i] for i in keep], rows


def _checksum(rows: list[tuple[str, ...]]) -> str:
    return hashlib.sha256("\n".join("\x1f".join(row) for row in rows).encode()).hexdigest()


@pytest.mark.e2e
def test_the_pandas_baseline_computes_the_same_three_tables_as_the_release(demo_counts, warehouse_info, tmp_path):
    """The speed-up is measured against a baseline that must compute the same thing: the published tables
    and pandas' tables of one week, on the same demo, hold the same rows (the random ids aside)."""
    assert cli.main(["release", "--week", DEMO_WEEK, "--target", str(tmp_path / "releases")]) == 0
    year, week = (int(part) for part in DEMO_WEEK.split("-W"))
    monday = dt.date.fromisocalendar(year, week, 1)
    detail = pandas_baseline(
        warehouse_info.sqlalchemy_url(), SOURCE_SCHEMA, monday.isoformat(), 11, str(tmp_path / "pandas"),
        str(CATALOGUE),
    )
    for dataset in DATASETS:
        published_header, published = _table(tmp_path / "releases" / DEMO_WEEK / dataset / f"{dataset}.csv")
        pandas_header, computed = _table(tmp_path / "pandas" / f"{dataset}.csv")
        assert pandas_header == published_header, dataset
        assert detail["rows"][dataset] == len(computed) == len(published) > 0, dataset
        if _checksum(computed) != _checksum(published):
            only_pandas = sorted(set(computed) - set(published))[:5]
            only_release = sorted(set(published) - set(computed))[:5]
            pytest.fail(f"{dataset}: pandas only {only_pandas}, release only {only_release}")


@pytest.mark.e2e
def test_bench_runs_end_to_end_and_prints_its_three_figures_last(warehouse_info):
    assert get_settings().source_schema == SOURCE_SCHEMA  # the bench seeds the test schema, nothing else
    out = io.StringIO()
    try:
        figures = run_bench(USERS, EVENTS, DEMO_WEEK, out=out)
    finally:
        seed(warehouse_info)
    printed = out.getvalue()
    lines = printed.rstrip("\n").splitlines()
    assert len(lines) > 3, printed

    ratio, speedup, peak = lines[-3:]
    assert re.fullmatch(r"ratio_to_floor=\d+\.\d{2}", ratio), ratio
    assert re.fullmatch(r"speedup_vs_pandas=\d+\.\d+", speedup), speedup
    assert re.fullmatch(r"peak_rss_mb=\d+(\.\d+)?", peak), peak
    assert float(ratio.split("=")[1]) > 0
    assert float(speedup.split("=")[1]) > 0
    assert float(peak.split("=")[1]) > 0

    assert figures["users"] == USERS and figures["events"] == EVENTS and figures["week"] == DEMO_WEEK
    assert figures["rows"]["users"] == USERS and figures["rows"]["events"] == EVENTS
    for name in ("seed_s", "release_wall_s", "floor_s", "pandas_wall_s", "code_location_load_s",
                 "release_peak_rss_mb", "pandas_peak_rss_mb", "ratio_to_floor", "speedup_vs_pandas",
                 "peak_rss_mb"):  # fmt: skip
        assert figures[name] > 0, name
    # the stages come from the Dagster run's step events
    assert figures["stages_s"]["dbt build"] > 0
    assert figures["stages_s"]["gate"] > 0
    assert figures["stages_s"]["export"] > 0
    assert figures["stages_s"]["publish"] > 0
    assert figures["release_wall_s"] >= figures["stages_s"]["dbt build"]
    # the floor ran every published model, and pandas produced the three tables (their content is compared
    # with the release's by the test above)
    assert set(figures["floor_by_model_s"]) == {"reports_anonymised", "user_cohorts_weekly", "feature_usage_weekly"}
    assert all(seconds > 0 for seconds in figures["floor_by_model_s"].values())
    assert set(figures["pandas_rows"]) == {"signalements", "cohortes-usagers", "usage-fonctionnalites"}
    assert any(role.startswith("dbt") for role in figures["release_peak_rss_by_process_mb"])
    assert figures["peak_rss_mb"] == max(figures["release_peak_rss_mb"], figures["incremental_peak_rss_mb"])
    # the full run released the week before DEMO_WEEK, the incremental run DEMO_WEEK on top of it
    assert figures["full_week"] == "2026-W46"
    assert figures["incremental_wall_s"] > 0 and figures["incremental_stages_s"]["dbt build"] > 0
    assert f"incremental_to_full={figures['incremental_to_full']:.3f}" in lines[-4]
    assert f"peak_rss_mb={figures['peak_rss_mb']:.0f}" == peak
