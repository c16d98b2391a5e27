"""`commons-assets init`: a new service's project scaffolded from a live schema, blocked until classes are confirmed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from commons_assets.scaffold import (
    Column,
    InitError,
    init_project,
    service_time_settings,
    suggest_event_roles,
    suggest_from_name,
)
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


def test_init_writes_the_time_zones_and_nothing_that_would_describe_the_service(project):
    text = (project.directory / "dbt_project.yml").read_text()
    service = yaml.safe_load(text)["vars"]["service"]
    # the demo's timestamps are all timestamptz: UTC is suggested, and the comment says why it barely matters
    assert service == {"timezone": "Europe/Paris", "source_timezone": "UTC"}
    assert "Every timestamp column of the schema is `timestamp with time zone`" in text
    # name, producer, contact and description are the analyst's to write: a guess would be published
    assert "add name, producer, contact" in text


def test_the_demo_event_log_is_suggested_commented_out_never_declared(project):
    text = project.sources_file.read_text()
    [source] = yaml.safe_load(text)["sources"]
    events = next(t for t in source["tables"] if t["name"] == "events")
    # parsed, nothing is declared: the exemption report measures no table on init's guess
    assert "meta" not in events and not any("usage_event" in c["meta"] for c in events["columns"])
    assert "#   commons: {usage_events: true}" in text
    # uncommented, the suggestion is the declaration service.usage_event_source() reads
    uncommented = re.sub(r"# (meta:|  commons: |usage_event: )", r"\1", text)
    [source] = yaml.safe_load(uncommented)["sources"]
    events = next(t for t in source["tables"] if t["name"] == "events")
    assert events["meta"] == {"commons": {"usage_events": True}}
    roles = {c["name"]: c["meta"]["usage_event"] for c in events["columns"] if "usage_event" in c["meta"]}
    assert roles == {"occurred_at": "time", "event_name": "name", "visitor_id": "visitor", "ip_address": "ip"}
    # no other table of the demo looks like an event log
    assert text.count("#   commons: {usage_events: true}") == 1


def test_the_guide_shows_the_dbt_project_init_writes_with_only_the_description_added(project):
    # the README's step 7 says « the project init wrote, with the description added »: so it must be
    from tests.test_adoption_guide import STEPS

    [shown] = [s.text for s in STEPS if s.kind == "file" and s.path.endswith("dbt_project.yml")]
    name = yaml.safe_load(shown)["vars"]["service"]["name"]
    written = (project.directory / "dbt_project.yml").read_text().replace(project.directory.name, "open_data")
    lines = shown.splitlines()
    # the description the analyst added: from `name:` to `homepage:`
    start = lines.index(f"    name: {name}")
    end = next(i for i, line in enumerate(lines) if line.startswith("    homepage: "))
    assert "\n".join(lines[:start] + lines[end + 1 :]) + "\n" == written


def _table(name: str, *columns: tuple[str, str]) -> list[Column]:
    return [Column(name, column, data_type) for column, data_type in columns]


TS, NAIVE = "timestamp with time zone", "timestamp(3) without time zone"


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (_table("event_log", ("id", "bigint"), ("action", "text"), ("logged_at", TS), ("remote_addr", "text")),
         {"event_log": {"logged_at": "time", "action": "name", "remote_addr": "ip"}}),
        (_table("app_events", ("type", "character varying(40)"), ("created_at", NAIVE), ("anonymous_id", "uuid")),
         {"app_events": {"created_at": "time", "type": "name", "anonymous_id": "visitor"}}),
        (_table("logs", ("event_type", "text"), ("created_at", TS), ("occurred_at", TS), ("ip", "inet")),
         {"logs": {"occurred_at": "time", "event_type": "name", "ip": "ip"}}),
        # near misses: a timestamp and a type, but not an event table by its name; an event table without a name
        # column; one without a timestamp
        (_table("reports", ("category", "text"), ("created_at", TS)), {}),
        (_table("events", ("payload", "jsonb"), ("created_at", TS)), {}),
        (_table("events", ("event_name", "text"), ("day", "date")), {}),
        (_table("prevention", ("type", "text"), ("created_at", TS)), {}),
    ],
)  # fmt: skip
def test_a_table_is_suggested_as_an_event_log_by_its_name_and_shape(columns, expected):
    assert suggest_event_roles(columns) == expected


def test_naive_timestamps_ask_for_their_zone_and_name_the_columns():
    columns = _table("rdv", *[(f"t{i}_at", NAIVE) for i in range(6)], ("created_at", TS))
    text = service_time_settings(columns)
    block = yaml.safe_load("vars:\n" + text)["vars"]["service"]
    assert block == {"timezone": "Europe/Paris", "source_timezone": "UTC"}
    flat = " ".join(line.strip("# ") for line in text.splitlines())
    assert "the zone your naive timestamps are in. 6 column(s)" in flat
    assert "rdv.t0_at, rdv.t1_at, rdv.t2_at, rdv.t3_at and 2 more" in flat
    assert "No timestamp column" in service_time_settings(_table("x", ("d", "date")))
    assert all(len(line) <= 120 for line in text.splitlines())


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
