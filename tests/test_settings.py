"""The settings: one typed object, built from the environment at each call, that names a bad variable and never
shows a secret."""

import datetime as dt
import re
from pathlib import Path

import pytest

from commons_assets.errors import CommonsError, SettingsError
from commons_assets.settings import BUNDLED_DBT_PROJECT_DIR, Settings, get_settings

README = Path(__file__).resolve().parents[1] / "README.md"
SECRETS = {"COMMONS_WAREHOUSE_URL": "postgresql://u:hunter2@db.example/x", "MATOMO_TOKEN": "a" * 32,
           "DATAGOUV_API_KEY": "key-hunter2"}


@pytest.fixture
def clean_env(monkeypatch):
    for name in [info.validation_alias for info in Settings.model_fields.values()]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_are_the_readmes(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    settings = get_settings()
    repo_home = BUNDLED_DBT_PROJECT_DIR.parent / ".commons"
    assert settings.dbt_project_dir == BUNDLED_DBT_PROJECT_DIR
    assert settings.home == repo_home
    assert settings.source_schema == "service"
    assert settings.dbt_target_schema == "commons"
    assert settings.matomo_schema == "matomo"
    assert settings.releases_dir == tmp_path / "releases"
    assert settings.export_staging_dir == repo_home / "staging"
    assert settings.dagster_home == repo_home / "dagster"
    assert settings.warehouse_url is None and not settings.matomo_enabled


def test_every_declared_variable_is_in_the_readmes_settings_table():
    rows = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", "\n".join(rows)))
    declared = {info.validation_alias for info in Settings.model_fields.values()}
    assert declared - documented == set()


def test_the_environment_is_read_at_each_call(clean_env):
    clean_env.setenv("COMMONS_SOURCE_SCHEMA", "first")
    assert get_settings().source_schema == "first"
    clean_env.setenv("COMMONS_SOURCE_SCHEMA", "second")
    assert get_settings().source_schema == "second"


@pytest.mark.parametrize(
    "variable, value",
    [("COMMONS_SOURCE_SCHEMA", "Service"), ("COMMONS_DBT_SCHEMA", "drop table"), ("COMMONS_MATOMO_SCHEMA", "1x"),
     ("COMMONS_WAREHOUSE_PORT", "70000"), ("COMMONS_TODAY", "25/11/2026"), ("COMMONS_TEST_PAUSE_AT", "gates")],
)
def test_an_invalid_value_is_a_settings_error_naming_the_variable(clean_env, variable, value):
    clean_env.setenv(variable, value)
    with pytest.raises(SettingsError, match=f"^{variable}=") as info:
        get_settings()
    assert isinstance(info.value, CommonsError)
    assert "\n" not in str(info.value)


def test_secrets_are_known_to_be_set_but_never_shown(clean_env):
    for name, value in SECRETS.items():
        clean_env.setenv(name, value)
    settings = get_settings()
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    for name, value in SECRETS.items():
        assert settings.is_set(name), name
        if name != "COMMONS_WAREHOUSE_URL":  # the URL is needed in the clear to connect, but never printed
            assert value not in shown, name
    assert SECRETS["COMMONS_WAREHOUSE_URL"] not in repr(settings)


def test_a_bad_secret_is_named_without_its_value(clean_env):
    clean_env.setenv("COMMONS_WAREHOUSE_URL", "postgresql://u:hunter2@db.example/x")
    clean_env.setenv("COMMONS_WAREHOUSE_PORT", "hunter2")
    with pytest.raises(SettingsError) as info:
        get_settings()
    assert "COMMONS_WAREHOUSE_PORT" in str(info.value)
    assert "hunter2@" not in str(info.value)


def test_the_clock_is_a_setting(clean_env):
    clean_env.setenv("COMMONS_TODAY", "2026-11-25")
    assert get_settings().today == dt.date(2026, 11, 25)
    clean_env.delenv("COMMONS_TODAY")
    assert abs(get_settings().today - dt.date.today()) <= dt.timedelta(days=1)


def test_commons_home_does_not_depend_on_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("COMMONS_HOME", raising=False)
    monkeypatch.delenv("COMMONS_DBT_PROJECT_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    home = get_settings().home
    assert home == BUNDLED_DBT_PROJECT_DIR.parent / ".commons"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert get_settings().home == home


def test_a_service_project_keeps_its_state_beside_it(monkeypatch, tmp_path):
    monkeypatch.delenv("COMMONS_HOME", raising=False)
    monkeypatch.setenv("COMMONS_DBT_PROJECT_DIR", str(tmp_path / "service"))
    assert get_settings().home == tmp_path / "service" / ".commons"
    monkeypatch.setenv("COMMONS_HOME", "relative-home")
    monkeypatch.chdir(tmp_path)
    assert get_settings().home == tmp_path / "relative-home"  # resolved once, absolute


def test_a_folder_without_dbt_project_is_a_clear_error(monkeypatch, tmp_path):
    from commons_assets.dbt.project import service_project_dir
    from commons_assets.errors import ManifestError

    monkeypatch.setenv("COMMONS_DBT_PROJECT_DIR", str(tmp_path))
    with pytest.raises(ManifestError, match=r"not a dbt project.*commons-assets init"):
        service_project_dir()


def test_dbt_target_path_is_read_as_dbt_reads_it_relative_to_the_project(clean_env, tmp_path):
    project = tmp_path / "service"
    assert get_settings().dbt_target_dir(project) == project / "target"
    clean_env.setenv("DBT_TARGET_PATH", "build/target")
    assert get_settings().dbt_target_dir(project) == project / "build" / "target"
    clean_env.setenv("DBT_TARGET_PATH", str(tmp_path / "elsewhere"))
    assert get_settings().dbt_target_dir(project) == tmp_path / "elsewhere"


def test_the_lineage_finds_the_runs_compiled_manifest_under_dbt_target_path(clean_env, tmp_path):
    from commons_assets.privacy.lineage import run_manifest

    run_id = "0123456789abcdef"
    built = tmp_path / "elsewhere" / f"dbt_models-{run_id[:7]}-x1y2z3"
    built.mkdir(parents=True)
    (built / "manifest.json").write_text('{"nodes": {"model.a": {}}}')
    assert run_manifest(tmp_path / "service", run_id) is None  # not under the project's target/
    clean_env.setenv("DBT_TARGET_PATH", str(tmp_path / "elsewhere"))
    assert run_manifest(tmp_path / "service", run_id) == {"nodes": {"model.a": {}}}
    assert run_manifest(tmp_path / "service", "fedcba9876543210") is None  # another run's


class _Paused(Exception):
    pass


def test_the_test_pause_hook_stops_only_at_its_stage_and_writes_its_file(clean_env, tmp_path):
    from commons_assets.release import lock

    def _sleep(seconds):
        raise _Paused  # the hook would sleep for ever: stop it at its first sleep

    clean_env.setattr(lock.time, "sleep", _sleep)
    marker = tmp_path / "paused"
    lock.pause_for_tests("gate")  # unset: never pauses
    clean_env.setenv("COMMONS_TEST_PAUSE_AT", "gate")
    clean_env.setenv("COMMONS_TEST_PAUSE_FILE", str(marker))
    lock.pause_for_tests("export")
    assert not marker.exists()
    with pytest.raises(_Paused):
        lock.pause_for_tests("gate")
    assert marker.read_text().split()[1] == "gate"


def test_the_manifest_is_parsed_where_it_is_loaded_from_whatever_dbt_target_path_says(monkeypatch, tmp_path):
    import shutil

    from commons_assets.dbt.project import ensure_manifest, load_manifest

    project = tmp_path / "service"
    shutil.copytree(BUNDLED_DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    # moved out of the repository, the project names the privacy package as a service's own does (init writes it)
    (project / "packages.yml").write_text(
        "packages:\n  - local: \"{{ env_var('COMMONS_PRIVACY_PACKAGE_DIR') }}\"\n", encoding="utf-8"
    )
    monkeypatch.setenv("COMMONS_DBT_PROJECT_DIR", str(project))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "elsewhere"))  # a person's own setting for their dbt
    assert ensure_manifest() == project / "target" / "manifest.json"
    assert load_manifest()["nodes"]
    assert not (tmp_path / "elsewhere" / "manifest.json").exists()
