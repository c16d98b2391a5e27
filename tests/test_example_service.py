"""The second example service (examples/france_services_rdv), of another shape than Signalo: two source schemas,
a many-to-many table, naive UTC timestamps, no event table. What a service's analyst meets before any release:
`commons-assets init` suggests the right classes, and the release stays blocked by an unconfirmed class or a
column the yml does not know, whatever schema it is in. The gate's cases are in test_example_gate.py, the
release itself in test_example_release.py."""

from __future__ import annotations

import psycopg
import pytest
import yaml

from commons_assets import cli
from commons_assets.scaffold import init_project
from tests.conftest import EXAMPLE_SCHEMA, EXAMPLE_WEEK

IDENTIFIERS = {
    EXAMPLE_SCHEMA: {("users", c) for c in ("email", "phone_number", "first_name", "last_name", "address")},
    "annuaire": {("structures", "street_address"), ("structures", "phone"), ("structures", "email"),
                 ("agents", "first_name"), ("agents", "last_name"), ("agents", "email")},
}  # fmt: skip


@pytest.mark.parametrize("schema", sorted(IDENTIFIERS))
def test_init_suggests_direct_identifiers_for_emails_phones_names_and_addresses(example_service, tmp_path, schema):
    result = init_project(tmp_path / "new_service", schema=schema, info=example_service.info)
    [source] = yaml.safe_load(result.sources_file.read_text())["sources"]
    suggested = {(t["name"], c["name"]): c["meta"] for t in source["tables"] for c in t["columns"]}
    for column in IDENTIFIERS[schema]:
        assert suggested[column]["privacy_suggested"] == "direct_identifier", (column, suggested[column])
        assert "privacy" not in suggested[column]
    # the many-to-many table's keys and the naive timestamps are scaffolded too, never as identifiers to publish
    if schema == EXAMPLE_SCHEMA:
        assert suggested[("appointment_motives", "motive_id")]["privacy_suggested"] == "internal_id"
        assert suggested[("appointments", "notes")]["privacy_suggested"] == "free_text"
        # naive timestamps: the source zone is written with the question an analyst must answer, and the columns
        # that raise it; no event table, so no usage suggestion
        project = (result.directory / "dbt_project.yml").read_text()
        assert yaml.safe_load(project)["vars"]["service"] == {"timezone": "Europe/Paris", "source_timezone": "UTC"}
        assert "the zone your naive timestamps are in" in project and "appointments.starts_at" in project
        assert "usage_event" not in result.sources_file.read_text()


def _secret(example_service, query: str) -> str:
    with psycopg.connect(example_service.info.conninfo()) as conn:
        return conn.execute(query).fetchone()[0]


def test_an_unconfirmed_class_blocks_naming_the_column_and_its_yml(example_service):
    sources = example_service.project / "models" / "staging" / "rdv" / "_rdv__sources.yml"
    original = sources.read_text(encoding="utf-8")
    line = "{name: post_code, data_type: text, meta: {privacy: quasi_identifier}}"
    assert line in original
    # what `init` writes, left as it was: a suggestion nobody confirmed
    sources.write_text(original.replace(line, line.replace("privacy:", "privacy_suggested:")), encoding="utf-8")
    try:
        done = example_service.cli("validate", "--week", EXAMPLE_WEEK)
    finally:
        sources.write_text(original, encoding="utf-8")
    assert done.returncode == cli.EXIT_ERROR, (done.stdout + done.stderr)[-3000:]
    assert "source column users.post_code has no meta.privacy" in done.stderr
    assert "models/staging/rdv/_rdv__sources.yml" in done.stderr
    assert "Traceback" not in done.stderr
    value = _secret(example_service, f"select post_code from {EXAMPLE_SCHEMA}.users order by id limit 1")
    assert value not in done.stdout + done.stderr


@pytest.mark.e2e
@pytest.mark.one_version
def test_a_column_missing_from_the_yml_of_the_second_schema_blocks(example_service):
    # a column the directory (a CRM) gains after the yml was written: the second schema is audited like the first
    value = "1 80 05 56 260 042 17"
    with psycopg.connect(example_service.info.conninfo(), autocommit=True) as conn:
        conn.execute("alter table annuaire.agents add column nir text")
        conn.execute("update annuaire.agents set nir = %s where id = 1", (value,))
    try:
        done = example_service.cli("validate", "--week", EXAMPLE_WEEK)
    finally:
        with psycopg.connect(example_service.info.conninfo(), autocommit=True) as conn:
            conn.execute("alter table annuaire.agents drop column nir")
    assert done.returncode == cli.EXIT_BLOCKED, (done.stdout + done.stderr)[-3000:]
    lines = done.stderr.splitlines()
    assert any("without a privacy class" in line and "annuaire.agents.nir" in line for line in lines), done.stderr
    assert "_annuaire__sources.yml" in done.stderr  # the fix-it hint names the file that declares that source
    assert value not in done.stdout + done.stderr


def test_the_seed_never_replaces_a_schema_it_did_not_create(example_service):
    with psycopg.connect(example_service.info.conninfo(), autocommit=True) as conn:
        conn.execute("create schema if not exists rdv_of_someone_else")
        conn.execute("create table if not exists rdv_of_someone_else.precious (id int)")
    done = example_service.cli("dbt", "run-operation", "seed_source", "--args", "{service: rdv_of_someone_else}")
    assert done.returncode != 0
    assert "rdv_of_someone_else" in done.stdout + done.stderr and "refusing" in done.stdout + done.stderr
    with psycopg.connect(example_service.info.conninfo()) as conn:
        assert conn.execute("select to_regclass('rdv_of_someone_else.precious')").fetchone()[0] is not None
