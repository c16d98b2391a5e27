"""Operating a release: the lock between runs, recovery after a crash, refusals, the CLI's verdict, the run's log.

The rules are proven here where they are decided (pure helpers, and the lock on a real PostgreSQL); the whole
pipeline under concurrency and `kill -9` is in tests/test_concurrency_and_crashes.py.
"""

import datetime as dt
import hashlib
import time
from pathlib import Path

import psycopg
import pytest

from commons_assets import cli
from commons_assets.errors import ReleaseRefused, TargetError
from commons_assets.release import recovery
from commons_assets.release.assets import refuse_empty_release, refuse_older_week
from commons_assets.release.lock import ReleaseLockBusy, acquire, dbt_needs_lock, held_for_dbt
from commons_assets.release.outcome import (
    EXIT_BLOCKED,
    EXIT_BUG,
    EXIT_ERROR,
    EXIT_OK,
    PlainWriter,
    RunFacts,
    StepFailure,
    verdict,
)
from commons_assets.release.targets import check_folder_target
from tests.conftest import DEMO_WEEK

# ------------------------------------------------------------------------------------------ recovery


def _release(folder: Path, content: str) -> dict[str, str]:
    """A week folder with one data file and its SHA256SUMS; returns {path: sha256} as the ledger records it."""
    (folder / "d").mkdir(parents=True)
    (folder / "d" / "d.csv").write_text(content, encoding="utf-8")
    digest = hashlib.sha256(content.encode()).hexdigest()
    (folder / "SHA256SUMS").write_text(f"{digest}  d/d.csv\n", encoding="utf-8")
    return {"d/d.csv": digest}


def test_a_publication_killed_after_the_move_is_rolled_back_to_the_recorded_release(tmp_path):
    recorded = _release(tmp_path / ".previous-2026-W47-aaaa", "a\n1\n")
    _release(tmp_path / "2026-W47", "a\n2\n")  # moved in, never recorded
    (tmp_path / ".incoming-2026-W47-bbbb").mkdir()
    action = recovery.reconcile_week_folder(tmp_path, "2026-W47", recorded)
    assert "restored" in action
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-W47"]
    assert (tmp_path / "2026-W47" / "d" / "d.csv").read_text() == "a\n1\n"


def test_a_recorded_release_is_kept_and_the_leftovers_removed(tmp_path):
    recorded = _release(tmp_path / "2026-W47", "a\n2\n")
    _release(tmp_path / ".previous-2026-W47-aaaa", "a\n1\n")
    (tmp_path / ".previous-2026-W47-cccc").mkdir()  # half removed
    action = recovery.reconcile_week_folder(tmp_path, "2026-W47", recorded)
    assert "kept" in action and "2 leftover" in action
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-W47"]


def test_a_first_publication_never_recorded_leaves_no_folder(tmp_path):
    _release(tmp_path / "2026-W47", "a\n2\n")
    _release(tmp_path / "2026-W46", "a\n0\n")  # another week: not this recovery's business
    recovery.reconcile_week_folder(tmp_path, "2026-W47", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-W46"]


def test_staging_of_other_runs_is_removed(tmp_path):
    for run in ("dead-1", "dead-2", "me"):
        (tmp_path / run / "2026-W47").mkdir(parents=True)
    assert recovery.remove_dead_staging(tmp_path, keep="me") == ["dead-1", "dead-2"]
    assert [p.name for p in tmp_path.iterdir()] == ["me"]
    (tmp_path / "live-elsewhere").mkdir()  # a run of another warehouse sharing the folder, still running
    assert recovery.remove_dead_staging(tmp_path, keep={"me", "live-elsewhere"}) == []
    assert recovery.remove_dead_staging(tmp_path / "missing", keep="me") == []


# ---------------------------------------------------------------------------------------- refusals


def test_an_older_week_is_refused_unless_republished():
    with pytest.raises(ReleaseRefused, match=r"2026-W46 is older than 2026-W47.*--republish"):
        refuse_older_week("2026-W46", "2026-W47", "/r", republish=False)
    refuse_older_week("2026-W46", "2026-W47", "/r", republish=True)
    refuse_older_week("2026-W47", "2026-W47", "/r", republish=False)  # the same week again is not older
    refuse_older_week("2026-W47", None, "/r", republish=False)


def test_a_release_of_empty_datasets_is_refused_unless_allowed():
    with pytest.raises(ReleaseRefused, match=r"every dataset of 2024-W02 is empty.*--allow-empty"):
        refuse_empty_release("2024-W02", {"a": 0, "b": 0}, allow_empty=False)
    refuse_empty_release("2024-W02", {"a": 0, "b": 0}, allow_empty=True)
    refuse_empty_release("2024-W02", {"a": 0, "b": 1}, allow_empty=False)


def test_a_target_that_is_a_file_or_under_one_or_not_writable_is_refused(tmp_path, monkeypatch):
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(TargetError, match="is a file, not a folder"):
        check_folder_target(file)
    with pytest.raises(TargetError, match="which is a file"):
        check_folder_target(file / "sub")
    assert check_folder_target(tmp_path / "new" / "deeper") == (tmp_path / "new" / "deeper").resolve()
    # the tests run as root, for whom every folder is writable: the permission is what os.access answers
    monkeypatch.setattr("os.access", lambda path, mode: False)
    with pytest.raises(TargetError, match="not writable"):
        check_folder_target(tmp_path)


# ----------------------------------------------------------------------------------------- run log


def _run_log_of(error: Exception) -> str:
    import dagster as dg

    from commons_assets.release.outcome import render_event_log

    @dg.op
    def release_export_probe():
        _raise_it(error)

    @dg.job
    def probe():
        release_export_probe()

    instance = dg.DagsterInstance.ephemeral()
    result = probe.execute_in_process(instance=instance, raise_on_error=False)
    return render_event_log(instance.all_logs(result.run_id))


def _raise_it(error: Exception) -> None:
    raise error


def test_a_bugs_run_log_holds_its_traceback_but_no_more_of_its_message_than_the_summary():
    log = _run_log_of(psycopg.errors.UniqueViolation("duplicate key\nDETAIL: Key (email)=(jeanne@exemple.fr) exists"))
    assert "Traceback of UniqueViolation: duplicate key" in log
    assert "in _raise_it" in log and "raise error" in log  # the frame that raised, as the CLI asks to report
    assert "jeanne@exemple.fr" not in log  # a database error's detail can quote a row's values


def test_an_error_a_person_fixes_is_one_line_in_the_run_log():
    log = _run_log_of(ReleaseRefused("every dataset of 2024-W02 is empty: pass --allow-empty"))
    assert "every dataset of 2024-W02 is empty" in log
    assert "Traceback" not in log and "_raise_it" not in log


# ------------------------------------------------------------------------------------- risk, once


def test_the_export_takes_the_risk_the_gate_of_its_run_measured_for_each_model_that_passed(manifest):
    import dagster as dg

    from commons_assets.privacy.checks import GATE_CHECK_NAME, RISK_METADATA, gate_risks
    from commons_assets.privacy.policy import load_policy

    demo_policy = load_policy(manifest)

    first, second = demo_policy.published[:2]
    keys = {m.name: dg.AssetKey(["open_data", m.name]) for m in demo_policy.published}

    def evaluation(model, passed=True, name=GATE_CHECK_NAME, risk=None):
        metadata = {RISK_METADATA: dg.MetadataValue.json(risk)} if risk is not None else {}
        return dg.AssetCheckEvaluation(asset_key=keys[model.name], check_name=name, passed=passed, metadata=metadata)

    measured = {"smallest_group": 12, "k_reached": True, "group_size_distribution": {"1": 0, "11-19": 3}}
    evaluations = [
        evaluation(first, risk=measured),
        evaluation(second, passed=False, risk={"smallest_group": 2}),  # a blocked gate is no measure to publish
        evaluation(second, name="another_check", risk={"smallest_group": 40}),
    ]
    assert gate_risks(evaluations, keys, demo_policy) == {first.dataset: measured}
    assert gate_risks([evaluation(first)], keys, demo_policy) == {}  # a gate that recorded none: measured again


# ----------------------------------------------------------------------------------------- verdict


@pytest.mark.parametrize(
    "facts, code",
    [
        (RunFacts(published_targets=["/r"]), EXIT_OK),
        # the CNIL report failing after the export used to print « BLOCKED … nothing was published »
        (RunFacts(published_targets=["/r"], failures=[StepFailure("usage", "Failure", "x")], success=False), EXIT_BUG),
        (RunFacts(failed_checks=[("m:privacy_gate", "[k_anonymity] …")], success=False), EXIT_BLOCKED),
        (RunFacts(failures=[StepFailure("release_export", "ReleaseRefused", "empty")], success=False), EXIT_ERROR),
        (RunFacts(failures=[StepFailure("set-up", "ReleaseLockBusy", "busy")], success=False), EXIT_ERROR),
        (RunFacts(failures=[StepFailure("release_export", "KeyError", "'x'")], success=False), EXIT_BUG),
        (
            RunFacts(failures=[StepFailure("dbt", "DagsterDbtCliRuntimeError", "1 of 9 FAIL")], success=False),
            EXIT_BLOCKED,
        ),
        (RunFacts(), EXIT_OK),
    ],
)
def test_the_exit_code_follows_what_the_run_did(facts, code):
    assert verdict(facts) == code


def test_the_run_log_has_no_colour_codes(tmp_path):
    path = tmp_path / "log"
    with open(path, "w", encoding="utf-8") as handle:
        PlainWriter(handle).write("\x1b[32mCompleted successfully\x1b[0m\n")
    assert path.read_text() == "Completed successfully\n"


# ---------------------------------------------------------------------------- the lock, on PostgreSQL


def test_a_second_holder_waits_then_gives_up_naming_the_run_that_holds_the_lock(warehouse_info):
    first = psycopg.connect(warehouse_info.conninfo(), autocommit=True, application_name="commons-assets run r-1")
    second = psycopg.connect(warehouse_info.conninfo(), autocommit=True, application_name="commons-assets run r-2")
    said = []
    try:
        assert acquire(first, "test_lock_schema", wait_s=0) == pytest.approx(0, abs=1)
        started = time.monotonic()
        with pytest.raises(ReleaseLockBusy, match="run r-1"):
            acquire(second, "test_lock_schema", wait_s=1.5, say=said.append)
        assert time.monotonic() - started >= 1.5
        assert said and "held by run r-1" in said[0]
        # another dbt schema, another lock: two services of one warehouse do not wait for each other
        acquire(second, "test_other_schema", wait_s=0)
        first.close()  # a run that dies loses its session: PostgreSQL releases the lock at once
        assert acquire(second, "test_lock_schema", wait_s=5) < 5
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(
    ("dbt_args", "needs"),
    [
        (["build", "--select", "staging"], True),
        (["run"], True),
        (["seed"], True),
        (["run-operation", "seed_source"], True),
        (["--debug", "build"], True),  # a global option before the command
        (["some-future-command"], True),  # unknown: assumed to write (fails closed)
        (["parse"], False),
        (["compile", "--select", "marts"], False),
        (["ls"], False),
        (["docs", "generate"], False),
        (["show", "--inline", "select 1"], False),
    ],
)
def test_dbt_commands_that_write_tables_take_the_release_lock(dbt_args, needs):
    assert dbt_needs_lock(dbt_args) is needs


def test_a_release_waits_for_an_analysts_dbt_command_and_names_it(warehouse_info):
    # `commons-assets dbt build` rebuilds the tables a release reads: a release must not run between them
    release = psycopg.connect(warehouse_info.conninfo(), autocommit=True, application_name="commons-assets run r-3")
    said = []
    try:
        with held_for_dbt(warehouse_info, "test_dbt_lock_schema", wait_s=0):
            with pytest.raises(ReleaseLockBusy, match="a `commons-assets dbt` command"):
                acquire(release, "test_dbt_lock_schema", wait_s=1, say=said.append)
            assert said and "held by a `commons-assets dbt` command" in said[0]
        assert acquire(release, "test_dbt_lock_schema", wait_s=5) < 5  # released when the command ends
        # and the other way round: the analyst's command waits for the release, naming its run
        with (
            pytest.raises(ReleaseLockBusy, match="run r-3"),
            held_for_dbt(warehouse_info, "test_dbt_lock_schema", wait_s=0.5, say=said.append),
        ):
            pytest.fail("the dbt command ran while a release held the lock")
    finally:
        release.close()


# ------------------------------------------------------------------------------ the CLI, before any work


def test_a_target_that_is_a_file_exits_1_before_dagster_or_dbt(warehouse_info, tmp_path, monkeypatch, capsys):
    # « before any work » is proven by what runs, not by a wall clock on a shared machine: the first steps of
    # a run (the Dagster home, dbt's manifest) must never be reached
    from commons_assets.dbt import project

    def reached(*args, **kwargs):
        raise AssertionError("the release went past its preflight")

    monkeypatch.setattr(cli, "prepare_dagster_home", reached)
    monkeypatch.setattr(project, "ensure_manifest", reached)
    file = tmp_path / "releases"
    file.write_text("not a folder")
    assert cli.main(["release", "--week", DEMO_WEEK, "--target", str(file)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "Traceback" not in err


def test_a_missing_source_schema_exits_1_before_dbt(warehouse_info, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COMMONS_SOURCE_SCHEMA", "no_such_schema")
    assert cli.main(["release", "--week", DEMO_WEEK, "--target", str(tmp_path)]) == EXIT_ERROR
    assert "source schema 'no_such_schema' does not exist" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_week_older_than_the_last_published_exits_1_unless_republished(warehouse_info, db, tmp_path, capsys):
    from commons_assets.ledger import ensure_ledger

    schema = ensure_ledger(db)
    db.execute(
        f'insert into "{schema}".releases (week, dataset, file, rows, sha256, licence, code_version, target) '
        "values ('2026-W47', 'd', 'd/d.csv', 1, 'x', 'lov2', 'test', %s)",
        (str(tmp_path.resolve()),),
    )
    try:
        assert cli.main(["release", "--week", "2026-W46", "--target", str(tmp_path)]) == EXIT_ERROR
        assert "2026-W46 is older than 2026-W47" in capsys.readouterr().err
    finally:
        db.execute(f'delete from "{schema}".releases where target = %s', (str(tmp_path.resolve()),))


# ------------------------------------------------------------------------------------------ Matomo


def test_matomo_rows_loaded_earlier_are_cleared_when_matomo_is_off(db):
    from commons_assets.usage.assets import ensure_matomo_table, load_matomo_week
    from commons_assets.usage.matomo import LABEL_KINDS, TABLE, MatomoUsageRow, load_rows

    schema = "test_ops_matomo"
    ensure_matomo_table(db, schema)
    row = MatomoUsageRow(
        week="2026-W46",
        source="matomo",
        label_kind=sorted(LABEL_KINDS)[0],
        label="signaler",
        nb_events=40,
        nb_visits=30,
        nb_uniq_visitors=20,
    )
    assert load_rows(db, schema, [row], week="2026-W46") == 1
    metadata = load_matomo_week(db, None, schema, dt.date(2026, 11, 16))
    assert metadata["rows_cleared"] == 1
    assert db.execute(f'select count(*) from "{schema}".{TABLE}').fetchone() == (0,)


# ------------------------------------------------------------------------------- a rule that cannot run


def test_a_rule_that_fails_to_run_names_the_postgresql_error_class_with_literals_masked(warehouse_info, db):
    import great_expectations as gx
    import great_expectations.expectations as gxe

    from commons_assets.privacy.gate import gate_url, rule_error

    db.execute("create table if not exists public.ops_rule_probe (v text)")
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_postgres(name="w", connection_string=gate_url(warehouse_info))
    batch = source.add_table_asset(name="p", table_name="ops_rule_probe", schema_name="public")
    definition = batch.add_batch_definition_whole_table("whole")
    # a literal the message quotes back: it must not reach the log
    query = "select * from {batch} where v::int = 'jean.dupont@example.org'::int"
    suite = context.suites.add(
        gx.ExpectationSuite(name="probe", expectations=[gxe.UnexpectedRowsExpectation(unexpected_rows_query=query)])
    )
    validation = context.validation_definitions.add(gx.ValidationDefinition(name="probe", data=definition, suite=suite))
    [item] = validation.run(result_format="COMPLETE").results
    assert not item.success
    reason = rule_error(item.exception_info)
    assert reason is not None and reason.startswith("InvalidTextRepresentation: invalid input syntax for type integer")
    assert "jean.dupont" not in reason
