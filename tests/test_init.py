"""`commons-assets init`: a new service's project scaffolded from a live schema, blocked until classes are confirmed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from commons_assets.scaffold import InitError, init_project, suggest_from_name
from tests.conftest import SOURCE_SCHEMA


@pytest.fixture(scope="module")
def project(warehouse_info, tmp_path_factory):
    directory = tmp_path_factory.mktemp("service-project") / "new_service"
    result = init_project(directory, schema=SOURCE_SCHEMA, info=warehouse_info)
    return result


def _columns(result) -> dict[tuple[str, str], dict]:
    document = yaml.safe_load(result.sources_file.read_text())
    [source] = document["sources"]
    return {(t["name"], c["name"]): c for t in source["tables"] for c in t["columns"]}


def test_every_column_is_scaffolded_with_its_type_and_no_confirmed_class(project):
    columns = _columns(project)
    assert columns[("users", "signup_ip")]["data_type"] == "inet"
    assert columns[("users", "created_at")]["data_type"] == "timestamp with time zone"
    assert len(columns) == project.columns
    assert all("privacy" not in c["meta"] for c in columns.values())


def test_the_users_identifiers_are_suggested_as_direct_identifiers(project):
    columns = _columns(project)
    for name in ("email", "phone", "first_name", "last_name", "street_address", "signup_ip"):
        meta = columns[("users", name)]["meta"]
        assert meta["privacy_suggested"] == "direct_identifier", (name, meta)
        assert meta["privacy_reason"]


def test_a_free_text_column_is_suggested_with_what_its_values_hold(project):
    # a free-text column is suggested as such, and the reason says what its sampled values hold
    meta = _columns(project)[("reports", "message")]["meta"]
    assert meta["privacy_suggested"] == "free_text"
    assert "sampled values" in meta["privacy_reason"]


def test_no_value_of_the_schema_is_written(project, warehouse_info):
    import psycopg

    text = project.sources_file.read_text()
    with psycopg.connect(warehouse_info.conninfo()) as conn:
        emails = [r[0] for r in conn.execute(f"select email from {SOURCE_SCHEMA}.users limit 50").fetchall()]
    assert not any(email in text for email in emails)


def test_a_release_right_after_init_is_blocked_naming_unconfirmed_columns(project):
    env = {**os.environ, "COMMONS_DBT_PROJECT_DIR": str(project.directory)}
    done = subprocess.run(
        [sys.executable, "-m", "commons_assets.cli", "release"], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode != 0
    assert "users.email has no meta.privacy" in done.stderr, done.stderr[-2000:]
    # the scaffolded suggestion is named as one, with the real yml and what to write there
    yml = project.sources_file.relative_to(project.directory).as_posix()
    assert "meta.privacy_suggested (direct_identifier) is only a suggestion" in done.stderr
    assert f"{yml}, table users, column email, by writing `privacy: direct_identifier`" in done.stderr
    assert "Traceback" not in done.stderr


def test_packages_yml_holds_no_path_of_this_machine(project):
    # a project committed to the service's repository must work from any clone, on any machine
    from commons_assets.dbt.project import DBT_PACKAGE_DIR, DBT_PACKAGE_ENV

    text = (project.directory / "packages.yml").read_text()
    assert str(DBT_PACKAGE_DIR) not in text and str(project.directory) not in text
    [package] = yaml.safe_load(text)["packages"]
    assert package == {"local": f"{{{{ env_var('{DBT_PACKAGE_ENV}') }}}}"}


def test_prepare_installs_the_privacy_package_named_by_the_variable(project):
    # dbt deps renders env_var() in packages.yml: commons-assets sets it, so parsing the new project works
    from commons_assets.dbt.project import ensure_manifest

    ensure_manifest(project.directory)
    assert (project.directory / "dbt_packages" / "commons_privacy" / "macros").is_dir()
    manifest = json.loads((project.directory / "target" / "manifest.json").read_text())
    assert "macro.commons_privacy.layer_schema_name" in manifest["macros"]


def test_the_schema_name_rule_has_one_home():
    # dbt honours generate_schema_name only in the root project: both root macros delegate to the package's
    from commons_assets.dbt.project import DBT_PACKAGE_DIR
    from commons_assets.scaffold import GENERATE_SCHEMA_NAME
    from commons_assets.settings import BUNDLED_DBT_PROJECT_DIR

    bundled = (BUNDLED_DBT_PROJECT_DIR / "macros" / "generate_schema_name.sql").read_text()
    assert bundled == GENERATE_SCHEMA_NAME
    assert "commons_privacy.layer_schema_name(" in GENERATE_SCHEMA_NAME and "target.schema" not in bundled
    assert "macro layer_schema_name(" in (DBT_PACKAGE_DIR / "macros" / "schema_name.sql").read_text()


def test_layers_land_in_the_target_schema_and_their_name(manifest):
    # the package's rule, through the demo's root macro: <COMMONS_DBT_SCHEMA>_<layer>
    schemas = {n["schema"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert schemas == {"test_commons_staging", "test_commons_intermediate", "test_commons_open_data"}


def test_init_refuses_a_non_empty_folder_and_a_missing_schema(warehouse_info, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "README.md").write_text("x")
    with pytest.raises(InitError, match="not an empty folder"):
        init_project(tmp_path / "full", schema=SOURCE_SCHEMA, info=warehouse_info)
    with pytest.raises(InitError, match="schema 'no_such_schema' does not exist"):
        init_project(tmp_path / "new", schema="no_such_schema", info=warehouse_info)


@pytest.mark.parametrize(
    ("name", "cls"),
    [("courriel", "direct_identifier"), ("Téléphone", "direct_identifier"), ("date_naissance", "quasi_identifier"),
     ("nom_usage", "direct_identifier"), ("iban", "direct_identifier"), ("patient_id", "internal_id"),
     ("commentaire", "free_text"), ("ip_address", "direct_identifier"), ("adresse_ip", "direct_identifier"),
     ("status", None)],
)
def test_names_suggest_classes_as_anon_detect_does(name, cls):
    found = suggest_from_name(name)
    assert (found[0] if found else None) == cls


@pytest.mark.e2e
def test_a_copy_of_the_demo_project_elsewhere_releases(warehouse_info, tmp_path):
    # the service's project lives outside this repository: COMMONS_DBT_PROJECT_DIR is all it takes, and the
    # privacy package is found through the variable its packages.yml names, which commons-assets sets
    import shutil

    from commons_assets.scaffold import PACKAGES_YML
    from commons_assets.settings import BUNDLED_DBT_PROJECT_DIR
    from tests.conftest import DEMO_WEEK

    copy = tmp_path / "signalo-elsewhere"
    ignored = shutil.ignore_patterns("target", "logs", "dbt_packages", "package-lock.yml")
    shutil.copytree(BUNDLED_DBT_PROJECT_DIR, copy, ignore=ignored)
    (copy / "packages.yml").write_text(PACKAGES_YML)  # what init writes: no path of this machine
    target = tmp_path / "releases"
    env = {**os.environ, "COMMONS_DBT_PROJECT_DIR": str(copy)}
    done = subprocess.run(
        [sys.executable, "-m", "commons_assets.cli", "release", "--week", DEMO_WEEK, "--target", str(target)],
        env=env, capture_output=True, text=True, timeout=1200,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert (copy / "target" / "manifest.json").is_file()  # parsed there, not in the bundled project
    assert (copy / "dbt_packages" / "commons_privacy").exists()
    assert list(target.rglob("*.csv"))


def test_validate_stops_on_a_missing_service_key_before_any_run(warehouse_info, tmp_path):
    # `validate` is a service's CI: what would stop the release's export must stop it too, naming the key
    import shutil

    from commons_assets.scaffold import PACKAGES_YML
    from commons_assets.settings import BUNDLED_DBT_PROJECT_DIR

    copy = tmp_path / "no-service-block"
    ignored = shutil.ignore_patterns("target", "logs", "dbt_packages", "package-lock.yml")
    shutil.copytree(BUNDLED_DBT_PROJECT_DIR, copy, ignore=ignored)
    (copy / "packages.yml").write_text(PACKAGES_YML)
    project = yaml.safe_load((copy / "dbt_project.yml").read_text())
    del project["vars"]["service"]["contact"]
    (copy / "dbt_project.yml").write_text(yaml.safe_dump(project, allow_unicode=True, sort_keys=False))
    env = {**os.environ, "COMMONS_DBT_PROJECT_DIR": str(copy)}
    done = subprocess.run(
        [sys.executable, "-m", "commons_assets.cli", "validate"], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "vars.service.contact: missing" in done.stderr and "Traceback" not in done.stderr
    assert not list((copy / "target").glob("*-*-*/manifest.json"))  # no Dagster run started a dbt build
