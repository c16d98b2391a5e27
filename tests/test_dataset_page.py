"""What a published dataset's page and the terminal show, decided by pure helpers (release/dataset_page.py,
progress.py); the UI test and the release test show them end to end."""

import datetime as dt
import io
from types import SimpleNamespace

import dagster as dg

from commons_assets.progress import StageProgress, stage_label
from commons_assets.release import dataset_page as page

RISK = {
    "plus_petit_groupe": 11,
    "part_combinaisons_uniques": 0.0,
    "risque_procureur_max": 0.090909,
    "risque_procureur_moyen": 0.03,
}


def test_risk_figures_are_numbers_dagster_can_plot():
    metadata = page.published_dataset_metadata(
        licence="odc-odbl",
        location="https://demo.data.gouv.fr/datasets/signalements/",
        week="2026-W47",
        published_at=dt.datetime(2026, 11, 23, 3, 5, tzinfo=dt.UTC),
        rows=3894,
        risk=RISK,
    )
    assert isinstance(metadata[page.SMALLEST_GROUP], dg.IntMetadataValue) and metadata[page.SMALLEST_GROUP].value == 11
    for label in (page.SHARE_UNIQUE, page.RISK_MAX, page.RISK_AVERAGE):
        assert isinstance(metadata[label], dg.FloatMetadataValue), label
    assert metadata[page.RISK_MAX].value == 0.090909
    assert isinstance(metadata[page.ROWS], dg.IntMetadataValue)
    # when, as a timestamp (not a path), and where, as a link
    assert isinstance(metadata[page.PUBLISHED_AT], dg.TimestampMetadataValue)
    assert metadata[page.PUBLISHED_AT].value == dt.datetime(2026, 11, 23, 3, 5, tzinfo=dt.UTC).timestamp()
    assert isinstance(metadata[page.WHERE], dg.UrlMetadataValue)
    assert metadata[page.LAST_WEEK].value == "2026-W47"
    assert metadata[page.LICENCE].value == "Open Database License (ODbL) (odc-odbl)"


def test_a_folder_is_a_path_and_a_missing_figure_is_left_out_not_zero():
    metadata = page.published_dataset_metadata(
        licence="lov2",
        location="/srv/releases/2026-W47/cohortes-usagers",
        week="2026-W47",
        published_at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC),
        rows=0,
        risk={"plus_petit_groupe": None},
    )
    assert isinstance(metadata[page.WHERE], dg.PathMetadataValue)
    # an empty week has no smallest group: 0 would read as « safe », a missing key says « nothing measured »
    assert page.SMALLEST_GROUP not in metadata and page.RISK_MAX not in metadata


def _entry(kind: str, step: str, at: float):
    return SimpleNamespace(timestamp=at, dagster_event=SimpleNamespace(event_type_value=kind, step_key=step))


def test_each_stage_prints_its_start_and_its_end_with_the_duration_of_the_run_events():
    out = io.StringIO()
    progress = StageProgress(out)
    for entry in (
        _entry("STEP_START", "service_dbt_models", 100.0),
        _entry("STEP_SUCCESS", "service_dbt_models", 123.34),
        _entry("STEP_START", "open_data__reports_anonymised_privacy_gate", 124.0),
        _entry("STEP_FAILURE", "open_data__reports_anonymised_privacy_gate", 124.5),
        _entry("STEP_SKIPPED", "release_export", 125.0),
        SimpleNamespace(timestamp=126.0, dagster_event=None),  # a log line, not a step event
    ):
        progress.on_event(entry)
    assert out.getvalue().splitlines() == [
        "  start  dbt build (models and tests)",
        "  done   dbt build (models and tests) (23.3 s)",
        "  start  privacy gate: reports_anonymised",
        "  FAILED privacy gate: reports_anonymised (0.5 s)",
        "  skip   export (CSV, Parquet, schemas, README, privacy report) (an upstream stage failed or was blocked)",
    ]
    assert stage_label("some_new_step") == "some_new_step"


def test_the_figures_shown_are_keys_of_the_published_privacy_report():
    from commons_assets.privacy.risk import REPORT_KEYS

    assert {key for key, _, _ in page.RISK_FIGURES} <= set(REPORT_KEYS)
