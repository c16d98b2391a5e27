"""End to end: releases that overlap, releases killed with `kill -9`, refused and blocked runs, as an operator
meets them. Each release here is a real `commons-assets release` process (a subprocess when it must run
alongside another or be killed), on this module's own database.

The kill points are deterministic: COMMONS_TEST_PAUSE_AT=<stage> makes the run stop at that stage (after the dbt
build, in the privacy gate, after the export, after the files moved into the target and before the ledger
recorded them) and write COMMONS_TEST_PAUSE_FILE; the test then kills the whole process group.
"""

import csv
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from commons_assets import cli
from commons_assets.ledger import ledger_schema
from commons_assets.release.lock import (
    LOCK_TAG,
    PAUSE_AT_SETTING,
    PAUSE_FILE_SETTING,
    _holder,
    _lock_ids,
    lock_label,
)
from commons_assets.settings import get_settings
from commons_assets.warehouse import resolve
from tests.conftest import DEFAULT_PG, DEMO_WEEK, SOURCE_SCHEMA

pytestmark = pytest.mark.e2e

NEXT_WEEK = "2026-W48"
ISO_WEEK = re.compile(r"^\d{4}-W\d{2}$")
STAGES = ("dbt", "gate", "export", "publication")


def _start(args: list[str], **env: str) -> subprocess.Popen:
    # a session of its own, so that killing it kills dbt with it, as `kill -9` of a whole run would
    return subprocess.Popen(
        [sys.executable, "-m", "commons_assets.cli", "release", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _lock_holder(info) -> str | None:
    with psycopg.connect(info.conninfo(), autocommit=True) as conn:
        return _holder(conn, _lock_ids(conn, get_settings().dbt_target_schema))


def _weeks_in(week_dir: Path) -> set[str]:
    weeks = set()
    for path in week_dir.rglob("*.csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            weeks |= {cell for row in csv.reader(handle) for cell in row if ISO_WEEK.match(cell)}
    return weeks


def _assert_whole_and_recorded(target: Path, week: str, db) -> None:
    """The week folder holds exactly the files SHA256SUMS lists, with those checksums, and the ledger records
    the same checksums; nothing else is left in the target."""
    week_dir = target / week
    listed = {}
    for line in (week_dir / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    on_disk = {p.relative_to(week_dir).as_posix() for p in week_dir.rglob("*") if p.is_file()} - {"SHA256SUMS"}
    assert on_disk == set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((week_dir / name).read_bytes()).hexdigest() == digest, name
    recorded = dict(
        db.execute(
            f'select file, sha256 from "{ledger_schema()}".releases where week = %s and target = %s',
            (week, str(target.resolve())),
        ).fetchall()
    )
    assert recorded and all(listed[name] == digest for name, digest in recorded.items())
    assert not [p.name for p in target.iterdir() if p.name.startswith(".")]


def test_two_overlapping_releases_run_one_after_the_other(warehouse_info, demo_counts, tmp_path):
    target = tmp_path / "releases"
    clock = {"COMMONS_TODAY": "2026-11-30"}  # W48 is complete too
    first = _start(["--week", DEMO_WEEK, "--target", str(target)], **clock)
    deadline = time.monotonic() + 180
    while _lock_holder(warehouse_info) is None:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first release never took the lock"
        time.sleep(0.2)
    second = _start(["--week", NEXT_WEEK, "--target", str(target)], **clock)
    _, err1 = first.communicate(timeout=600)
    _, err2 = second.communicate(timeout=600)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    # the second run said it was waiting, and for whom
    assert "waiting for the release lock" in err2
    # the folder labelled W47 holds W47's release, not rows of W48 built by the other run
    weeks = _weeks_in(target / DEMO_WEEK)
    assert weeks and max(weeks) == DEMO_WEEK
    assert max(_weeks_in(target / NEXT_WEEK)) == NEXT_WEEK


def test_a_run_killed_at_each_stage_is_cleaned_up_and_the_next_run_publishes_a_whole_release(
    warehouse_info, demo_counts, db, tmp_path, pg_version
):
    # On PostgreSQL 15, the kill during dbt (a connection dying in a transaction) and after the files moved (the
    # journal and the ledger): what the server does; the gate and export stages only differ in the files left,
    # which the PostgreSQL 18 run covers. It keeps the full suite within its 20 minutes.
    stages = STAGES if pg_version == DEFAULT_PG else ("dbt", "publication")
    target = tmp_path / "releases"
    assert cli.main(["release", "--week", DEMO_WEEK, "--target", str(target)]) == 0
    staging = get_settings().export_staging_dir
    for stage in stages:
        marker = tmp_path / f"paused-{stage}"
        run = _start(
            ["--week", DEMO_WEEK, "--target", str(target)], **{PAUSE_AT_SETTING: stage, PAUSE_FILE_SETTING: str(marker)}
        )
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, f"the run never reached {stage}"
            time.sleep(0.2)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        run.stdout.close()
        run.stderr.close()
    # what the last kill left: the new files moved in, the ledger not yet written, the recorded release hidden
    assert [p.name for p in target.iterdir() if p.name.startswith(".previous-")]
    assert any(staging.iterdir())

    assert cli.main(["release", "--week", DEMO_WEEK, "--target", str(target)]) == 0
    _assert_whole_and_recorded(target, DEMO_WEEK, db)
    assert not staging.exists() or not list(staging.iterdir())
    with psycopg.connect(warehouse_info.conninfo(), autocommit=True) as conn:
        pending = conn.execute(f'select count(*) from "{ledger_schema()}".publication_journal').fetchone()
    assert pending == (0,)
    # the killed runs are failed in Dagster, none left STARTED
    instance = dg.DagsterInstance.get()
    label = lock_label(resolve(), get_settings().dbt_target_schema)
    runs = instance.get_runs(filters=dg.RunsFilter(tags={LOCK_TAG: label}))
    statuses = [r.status for r in runs]
    assert dg.DagsterRunStatus.STARTED not in statuses
    assert statuses.count(dg.DagsterRunStatus.FAILURE) >= len(stages)


def test_a_week_without_data_is_refused_unless_allowed(fresh_demo, db, tmp_path, capsys):
    # A week before the first one the service declares is refused before any work (test_operations.py); a
    # releasable week can still hold nothing, e.g. a source emptied by a failed import: refused, not published.
    db.execute(f"truncate {SOURCE_SCHEMA}.events, {SOURCE_SCHEMA}.reports, {SOURCE_SCHEMA}.users")
    assert cli.main(["release", "--week", DEMO_WEEK, "--target", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"every dataset of {DEMO_WEEK} is empty" in err and "--allow-empty" in err, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_blocked_run_keeps_a_log_of_its_own_that_names_the_failed_check(fresh_demo, db, tmp_path, capsys):
    db.execute(f"alter table {SOURCE_SCHEMA}.users add column nickname text")
    assert cli.main(["release", "--week", DEMO_WEEK, "--target", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    [path] = re.findall(r"log: (\S+)", err)
    log = Path(path)
    run_id = re.search(r"\(run ([0-9a-f-]{36})\)", err).group(1)
    assert run_id in log.name and DEMO_WEEK in log.name
    text = log.read_text(encoding="utf-8")
    assert "check warehouse_setup:source_schema_classified FAILED" in text
    assert "nickname" in text  # the column, named: never a value
    assert "\x1b[" not in text
    assert list(tmp_path.iterdir()) == []
