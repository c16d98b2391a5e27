"""End to end: a seeded demo service released through the CLI, Dagster and dbt on a real PostgreSQL."""

import csv
import json
from pathlib import Path

import pytest

from commons_assets import cli
from tests.conftest import DEMO_WEEK, SOURCE_SCHEMA
from tests.release_files import published_text, tree_digest

pytestmark = pytest.mark.e2e

DATASETS = {"signalements", "cohortes-usagers", "usage-fonctionnalites"}
DIRECT_IDENTIFIER_NAMES = {"email", "first_name", "last_name", "phone", "street_address", "signup_ip", "ip_address",
                           "user_agent", "message", "user_id", "author_id", "report_id", "visitor_id", "session_id"}




@pytest.fixture(scope="module")
def release(demo_counts, tmp_path_factory):
    target = tmp_path_factory.mktemp("releases")
    code = cli.main(["release", "--week", DEMO_WEEK, "--target", str(target)])
    return code, target


def test_release_exits_0_and_writes_one_csv_per_published_model(release):
    code, target = release
    assert code == 0
    week_dir = target / DEMO_WEEK
    assert {p.name for p in week_dir.iterdir() if p.is_dir()} == DATASETS
    for dataset in DATASETS:
        assert (week_dir / dataset / f"{dataset}.csv").is_file()
    # nothing but the week folder: no staging or half-moved folder left behind
    assert [p.name for p in target.iterdir()] == [DEMO_WEEK]


def test_row_counts_match_the_files_and_the_warehouse(release, db):
    _, target = release
    manifest = json.loads((target / DEMO_WEEK / "release.json").read_text())
    tables = {"signalements": "reports_anonymised", "cohortes-usagers": "user_cohorts_weekly",
              "usage-fonctionnalites": "feature_usage_weekly"}
    for item in manifest["files"]:
        with open(target / DEMO_WEEK / item["path"], newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        assert len(rows) - 1 == item["rows"]
        (in_db,) = db.execute(f"select count(*) from test_commons_open_data.{tables[item['dataset']]}").fetchone()
        assert in_db == item["rows"]
        assert item["rows"] > 0, f"{item['dataset']} is empty: the demo should publish something"


def test_no_direct_identifier_reaches_any_output(release, db):
    _, target = release
    for path in (target / DEMO_WEEK).rglob("*.csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle))
        assert not set(header) & DIRECT_IDENTIFIER_NAMES, path
    published = published_text(target / DEMO_WEEK)
    for column in ("email", "phone", "last_name", "street_address", "signup_ip"):
        values = [r[0] for r in db.execute(
            f"select distinct {column}::text from {SOURCE_SCHEMA}.users where {column} is not null"
        ).fetchall()]
        # last names are checked as whole CSV fields: "Martin" may legitimately be part of a commune name
        if column == "last_name":
            fields = {f for line in published.splitlines() for f in line.split(",")}
            leaked = [v for v in values if v in fields]
        else:
            leaked = [v for v in values if v in published]
        assert not leaked, f"{len(leaked)} value(s) of users.{column} found in the release"


def test_weeks_after_the_released_week_are_not_published(release):
    _, target = release
    with open(target / DEMO_WEEK / "usage-fonctionnalites" / "usage-fonctionnalites.csv", encoding="utf-8") as f:
        weeks = {row["semaine"] for row in csv.DictReader(f)}
    assert max(weeks) == DEMO_WEEK


def test_blocked_release_exits_non_zero_names_the_check_and_leaves_target_untouched(
    release, fresh_demo, db, capsys
):
    _, target = release
    before = tree_digest(target)
    leak = "jean.dupont@exemple.fr"
    # A category label that holds an email: the kind of thing a back-office edit leaves behind.
    db.execute(f"update {SOURCE_SCHEMA}.categories set label = %s where category_code = 'voirie'", (leak,))
    code = cli.main(["release", "--week", DEMO_WEEK, "--target", str(target)])
    out = capsys.readouterr()
    assert code == cli.EXIT_BLOCKED
    assert "privacy_gate" in out.err and "categorie" in out.err and "email" in out.err
    assert leak not in out.err + out.out
    assert tree_digest(target) == before


def test_unclassified_source_column_blocks_the_release(release, fresh_demo, db, capsys):
    _, target = release
    before = tree_digest(target)
    db.execute(f"alter table {SOURCE_SCHEMA}.users add column telephone text")
    code = cli.main(["release", "--week", DEMO_WEEK, "--target", str(target)])
    out = capsys.readouterr()
    assert code == cli.EXIT_BLOCKED
    assert "users.telephone" in out.err
    assert "meta: {privacy:" in out.err  # the yml to add
    assert tree_digest(target) == before


# csv-detective formats that would mean personal data: data.gouv.fr runs csv-detective on every upload.
PERSONAL_FORMATS = {
    "email", "tel_fr", "adresse", "username", "code_postal", "sexe", "date", "datetime_aware",
    "datetime_naive", "datetime_rfc822", "latitude_wgs", "longitude_wgs", "latlon_wgs", "lonlat_wgs",
    "latitude_wgs_fr_metropole", "longitude_wgs_fr_metropole", "latitude_l93", "longitude_l93",
}


def test_release_holds_parquet_schemas_datapackage_readme_report_and_checksums(release):
    _, target = release
    week_dir = target / DEMO_WEEK
    for dataset in DATASETS:
        for name in (f"{dataset}.csv", f"{dataset}.parquet", "schema.json"):
            assert (week_dir / dataset / name).is_file(), (dataset, name)
    for name in ("datapackage.json", "README.md", "rapport-confidentialite.json", "SHA256SUMS", "release.json"):
        assert (week_dir / name).is_file(), name
    import subprocess

    check = subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=week_dir, capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr
    readme = (week_dir / "README.md").read_text(encoding="utf-8")
    for fragment in ("Licence Ouverte", "ODbL", "hebdomadaire", "k-anonymat", f"--week {DEMO_WEEK}", "version `"):
        assert fragment in readme, fragment


def test_parquet_copies_match_the_csv(release):
    import pyarrow.parquet as pq

    _, target = release
    for dataset in DATASETS:
        with open(target / DEMO_WEEK / dataset / f"{dataset}.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        table = pq.read_table(target / DEMO_WEEK / dataset / f"{dataset}.parquet")
        assert table.num_rows == len(rows)
        assert table.column_names == list(rows[0].keys())


def test_every_file_validates_with_frictionless(release):
    from frictionless import Package

    _, target = release
    report = Package(str(target / DEMO_WEEK / "datapackage.json")).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:20]
    package = json.loads((target / DEMO_WEEK / "datapackage.json").read_text(encoding="utf-8"))
    licences = {r["name"]: r["licenses"][0]["name"] for r in package["resources"]}
    assert licences == {"signalements": "odc-odbl", "cohortes-usagers": "lov2", "usage-fonctionnalites": "lov2"}


def test_csv_detective_finds_no_personal_data_format(release):
    from csv_detective import routine

    _, target = release
    for dataset in DATASETS:
        result = routine(str(target / DEMO_WEEK / dataset / f"{dataset}.csv"), num_rows=-1, save_results=False)
        formats = {column: info.get("format") for column, info in result["columns"].items()}
        assert not {f for f in formats.values()} & PERSONAL_FORMATS, (dataset, formats)
