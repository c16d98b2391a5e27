"""The Definitions load, and what they publish cannot change without the snapshot changing with it.

A renamed dbt model or a dropped check would otherwise silently change what is published. After an
intended change, regenerate with: COMMONS_UPDATE_SNAPSHOTS=1 pytest tests/test_definitions.py (the run that
rewrites the snapshot is reported as skipped, never as passed: only a run that compares can pass).
"""

import datetime as dt
import json
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


@pytest.fixture(scope="module")
def defs(manifest):
    from commons_assets.definitions import defs

    return defs


def _describe(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    return {
        "asset_keys": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
        "asset_check_keys": sorted(k.to_user_string() for k in graph.asset_check_keys),
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in defs.schedules),
    }


def test_definitions_match_snapshot(defs):
    described = _describe(defs)
    if os.environ.get("COMMONS_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(described, indent=2) + "\n")
        pytest.skip(f"snapshot rewritten: {SNAPSHOT}; review the diff, then run again without COMMONS_UPDATE_SNAPSHOTS")
    expected = json.loads(SNAPSHOT.read_text())
    for part in expected:
        missing = sorted(set(expected[part]) - set(described[part]))
        added = sorted(set(described[part]) - set(expected[part]))
        assert not missing and not added, f"{part}: missing {missing}, new {added} (see the module docstring)"
    assert described == expected


def test_every_published_model_has_a_blocking_privacy_gate(defs):
    graph = defs.resolve_asset_graph()
    published = [k for k in graph.get_all_asset_keys() if k.path[0] == "open_data"]
    assert len(published) >= 3
    gate_checks = {k.asset_key: k for k in graph.asset_check_keys if k.name == "privacy_gate"}
    for key in published:
        assert key in gate_checks, key
        spec = graph.get_check_spec(gate_checks[key])
        assert spec.blocking


def test_published_models_carry_licence_metadata(defs):
    graph = defs.resolve_asset_graph()
    licences = {}
    for key in graph.get_all_asset_keys():
        if key.path[0] == "open_data":
            metadata = graph.get(key).metadata
            licences[key.path[-1]] = str(metadata["licence"].value).split()[0]
    assert licences == {
        "reports_anonymised": "odc-odbl",
        "user_cohorts_weekly": "lov2",
        "feature_usage_weekly": "lov2",
    }


def test_weekly_release_job_covers_build_gate_export_and_publish(defs):
    job = defs.resolve_job_def("weekly_release")
    keys = {k.to_user_string() for k in job.asset_layer.asset_graph.get_all_asset_keys()}
    assert {"release_export", "release_publication", "open_data/reports_anonymised"} <= keys
    assert job.partitions_def is not None


def test_schedule_runs_monday_3am_paris_for_the_week_just_ended(defs):
    schedule = defs.resolve_schedule_def("weekly_release_schedule")
    assert schedule.cron_schedule == "0 3 * * 1"
    assert schedule.execution_timezone == "Europe/Paris"
    tick = dt.datetime(2026, 11, 23, 3, 0, tzinfo=ZoneInfo("Europe/Paris"))
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        result = schedule.evaluate_tick(context)
    [request] = result.run_requests
    assert request.partition_key == "2026-11-16"  # ISO week 2026-W47, Monday 16 to Sunday 22 November


def test_loading_the_definitions_never_parses_dbt(monkeypatch):
    """A stale or missing manifest is a clear error naming the command that prepares it, not a `dbt parse`."""
    import subprocess

    from commons_assets.dbt import project
    from commons_assets.errors import ManifestError

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"a subprocess was started: {args}")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    monkeypatch.setattr(project, "manifest_is_stale", lambda *args: True)
    with pytest.raises(ManifestError, match="run `commons-assets prepare`"):
        project.dbt_project()


def test_the_schema_audit_is_a_blocking_check_upstream_of_every_dbt_model(defs):
    graph = defs.resolve_asset_graph()
    audit = next(k for k in graph.asset_check_keys if k.name == "source_schema_classified")
    assert graph.get_check_spec(audit).blocking
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key.path[0] in ("staging", "intermediate", "open_data") and node.is_materializable:
            assert audit.asset_key in node.parent_keys, key


def test_dg_loads_the_same_definitions(manifest):
    """`dg dev`, which Dagster advises over `dagster dev`, finds the project through [tool.dg] in pyproject."""
    import subprocess
    import sys

    dg_cli = Path(sys.executable).with_name("dg")
    result = subprocess.run(
        [str(dg_cli), "check", "defs"], capture_output=True, text=True, cwd=Path(__file__).parents[1], timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_validate_runs_the_same_privacy_gate_as_a_release_lineage_included(defs):
    # `commons-assets validate` is the data-contract command of a service's CI: it must block on everything a
    # release blocks on. Both jobs run each model's blocking gate check, whose body is gate_findings (lineage,
    # then the GX suite): one code path, so a free-text feed found by lineage fails validate as it fails release.
    import inspect

    from commons_assets.definitions import JOB_NAME, VALIDATION_JOB_NAME
    from commons_assets.privacy import checks, gate

    def gate_ops(name: str) -> set[str]:
        return {n.name for n in defs.resolve_job_def(name).graph.nodes if n.name.endswith("_privacy_gate")}

    published = [k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "open_data"]
    assert gate_ops(VALIDATION_JOB_NAME) == gate_ops(JOB_NAME) and len(gate_ops(JOB_NAME)) == len(published)
    assert "gate_findings(" in inspect.getsource(checks._gate_check)
    assert "lineage_check(" in inspect.getsource(gate.gate_findings)
