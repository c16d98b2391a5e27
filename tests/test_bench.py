"""`commons-assets bench` at a tiny scale: seeds, releases, measures the floor and pandas, prints its figures.

One test, because it is slow (a full release in a subprocess, a dbt compile, pandas in a subprocess). The
benchmark reseeds the source schema (test_service) at its own scale: the standard demo is seeded again
afterwards, whatever happens, so that the tests after this one see the service they expect. The benchmark
puts the release ledger back as it found it by itself.
"""

from __future__ import annotations

import io
import re

import pytest

from commons_assets.bench import run_bench
from commons_assets.settings import get_settings
from tests.conftest import DEMO_WEEK, SOURCE_SCHEMA, seed

pytestmark = pytest.mark.e2e

USERS = 800
EVENTS = 8000


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
    # the floor ran every published model, and pandas produced the same three tables
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
