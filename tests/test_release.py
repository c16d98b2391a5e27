"""End to end: a seeded demo service released through the CLI, Dagster and dbt on a real PostgreSQL.

Blocked releases (a detector finding, an unclassified source column, …) are proven end to end once per check
kind in tests/test_redteam.py. The week is always given (DEMO_WEEK, of a demo seeded until DEMO_UNTIL), so
that nothing here depends on the date the tests run on.
"""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEMO_WEEK, SOURCE_SCHEMA
from tests.release_files import published_text

pytestmark = pytest.mark.e2e

DATASETS = {"signalements", "cohortes-usagers", "usage-fonctionnalites"}
DIRECT_IDENTIFIER_NAMES = {"email", "first_name", "last_name", "phone", "street_address", "signup_ip", "ip_address",
                           "user_agent", "message", "user_id", "author_id", "report_id", "visitor_id", "session_id"}
# How a reader would see a source value written out: `inet::text` carries a netmask (`203.0.113.77/32`) that no
# published text holds, so an address is compared in its written form.
WRITTEN_FORM = {"signup_ip": "host({c})"}


def _written_values(db, relation: str, column: str) -> list[str]:
    expression = WRITTEN_FORM.get(column, "{c}::text").format(c=column)
    return sorted(r[0] for r in db.execute(
        f"select distinct {expression} from {relation} where {column} is not null"
    ).fetchall())


def _leaked(column: str, values: list[str], published: str) -> list[str]:
    # last names are checked as whole CSV fields: "Martin" may legitimately be part of a commune name
    if column == "last_name":
        fields = {f for line in published.splitlines() for f in line.split(",")}
        return [v for v in values if v in fields]
    return [v for v in values if v in published]


def test_the_leak_check_finds_a_planted_address_as_a_reader_would_see_it(db):
    db.execute("drop table if exists pg_temp.planted")
    db.execute("create temp table planted (signup_ip inet, last_name text)")
    db.execute("insert into planted values ('203.0.113.77', 'Martin'), ('2001:db8::7', 'Dupont')")
    addresses = _written_values(db, "pg_temp.planted", "signup_ip")
    assert addresses == ["2001:db8::7", "203.0.113.77"]
    published = "semaine,ip\n2026-W47,203.0.113.77\n"
    assert _leaked("signup_ip", addresses, published) == ["203.0.113.77"]
    # the form the check used to compare: it can never be found in a published text
    (masked,) = db.execute("select '203.0.113.77'::inet::text").fetchone()
    assert _leaked("signup_ip", [masked], published) == []
    names = _written_values(db, "pg_temp.planted", "last_name")
    assert _leaked("last_name", names, "commune\nSaint-Martin\nMartin\n") == ["Martin"]
    assert _leaked("last_name", names, "commune\nSaint-Martin\n") == []


@pytest.fixture(scope="module")
def release_output(demo_counts, tmp_path_factory):
    """The release as a person runs it: the installed command in a process of its own, so that what the terminal
    shows (stages, summary, any Python or Dagster warning on stderr) is exactly what is checked."""
    target = tmp_path_factory.mktemp("releases")
    command = Path(sys.executable).with_name("commons-assets")
    result = subprocess.run(
        [str(command), "release", "--week", DEMO_WEEK, "--target", str(target)],
        capture_output=True, text=True, env=os.environ.copy(), timeout=900,
    )
    return result, target


@pytest.fixture(scope="module")
def release(release_output):
    result, target = release_output
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.returncode, target


def test_a_normal_release_shows_each_stage_and_no_warning(release_output):
    from commons_assets.progress import stage_label

    result, _ = release_output
    assert result.returncode == 0, result.stderr[-3000:]
    # nothing on stderr: no Python warning, no Dagster notice, no dbt line
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"release of {DEMO_WEEK} (run ")
    stages = ["service_dbt_models", "open_data__reports_anonymised_privacy_gate", "release_export",
              "release_publication"]
    for step in stages:
        label = stage_label(step)
        started = [i for i, line in enumerate(lines) if line.split(None, 1) == ["start", label]]
        ended = [i for i, line in enumerate(lines) if re.fullmatch(rf"done\s+{re.escape(label)} \(\d+\.\d s\)",
                                                                   line.strip())]
        assert len(started) == len(ended) == 1, (label, result.stdout)
        assert started[0] < ended[0]
    # the stages come in the job's order, then the summary
    ends = [next(i for i, line in enumerate(lines) if line.strip().startswith("done") and stage_label(s) in line)
            for s in stages]
    assert ends == sorted(ends)
    summary = next(i for i, line in enumerate(lines) if line.startswith(f"release {DEMO_WEEK} published to"))
    assert summary > ends[-1]


@pytest.mark.e2e
def test_release_exits_0_and_writes_one_csv_per_published_model(release):
    code, target = release
    assert code == 0
    week_dir = target / DEMO_WEEK
    assert {p.name for p in week_dir.iterdir() if p.is_dir()} == DATASETS
    for dataset in DATASETS:
        assert (week_dir / dataset / f"{dataset}.csv").is_file()
    # nothing but the week folder: no staging or half-moved folder left behind
    assert sorted(p.name for p in target.iterdir()) == [DEMO_WEEK]


@pytest.mark.e2e
def test_row_counts_match_the_files_and_the_warehouse(release, db):
    _, target = release
    manifest = json.loads((target / DEMO_WEEK / "release.json").read_text())
    tables = {"signalements": "reports_anonymised", "cohortes-usagers": "user_cohorts_weekly",
              "usage-fonctionnalites": "feature_usage_weekly"}
    for item in sorted(manifest["files"], key=lambda item: item["path"]):
        with open(target / DEMO_WEEK / item["path"], newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        assert len(rows) - 1 == item["rows"]
        (in_db,) = db.execute(f"select count(*) from test_commons_open_data.{tables[item['dataset']]}").fetchone()
        assert in_db == item["rows"]
        assert item["rows"] > 0, f"{item['dataset']} is empty: the demo should publish something"


@pytest.mark.e2e
def test_no_direct_identifier_reaches_any_output(release, db):
    _, target = release
    for path in sorted((target / DEMO_WEEK).rglob("*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle))
        assert not set(header) & DIRECT_IDENTIFIER_NAMES, path
    published = published_text(target / DEMO_WEEK)
    for column in ("email", "phone", "last_name", "street_address", "signup_ip"):
        values = _written_values(db, f"{SOURCE_SCHEMA}.users", column)
        assert len(values) > 100, column
        leaked = _leaked(column, values, published)
        assert not leaked, f"{len(leaked)} value(s) of users.{column} found in the release"


@pytest.mark.e2e
def test_weeks_after_the_released_week_are_not_published(release):
    _, target = release
    with open(target / DEMO_WEEK / "usage-fonctionnalites" / "usage-fonctionnalites.csv", encoding="utf-8") as f:
        weeks = {row["semaine"] for row in csv.DictReader(f)}
    assert max(weeks) == DEMO_WEEK


# csv-detective formats that would mean personal data: data.gouv.fr runs csv-detective on every upload.
PERSONAL_FORMATS = {
    "email", "tel_fr", "adresse", "username", "code_postal", "sexe", "date", "datetime_aware",
    "datetime_naive", "datetime_rfc822", "latitude_wgs", "longitude_wgs", "latlon_wgs", "lonlat_wgs",
    "latitude_wgs_fr_metropole", "longitude_wgs_fr_metropole", "latitude_l93", "longitude_l93",
}


@pytest.mark.e2e
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
    # what the service is, who publishes it and how to cite it come from the dbt project's vars.service
    from commons_assets.service import load_service

    service = load_service()
    for fragment in (f"# {service.name} — ", service.producer, service.contact, service.how_to_cite,
                     "## Statistiques d'utilisation", "statistiques.html"):
        assert fragment in readme, fragment
    # each dataset's count is named by its declared unit, never « personnes » by default
    summaries = readme.split("### Rapport")[1].split("| clé |")[0]
    assert " signalements en " in readme and "personnes" not in summaries
    package = json.loads((week_dir / "datapackage.json").read_text(encoding="utf-8"))
    assert package["contributors"][0]["title"] == service.producer and service.name in package["title"]


@pytest.mark.e2e
def test_parquet_copies_match_the_csv(release):
    import pyarrow.parquet as pq

    _, target = release
    for dataset in DATASETS:
        with open(target / DEMO_WEEK / dataset / f"{dataset}.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        table = pq.read_table(target / DEMO_WEEK / dataset / f"{dataset}.parquet")
        assert table.num_rows == len(rows)
        assert table.column_names == list(rows[0].keys())


@pytest.mark.e2e
def test_every_file_validates_with_frictionless(release):
    from frictionless import Package

    _, target = release
    report = Package(str(target / DEMO_WEEK / "datapackage.json")).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:20]
    package = json.loads((target / DEMO_WEEK / "datapackage.json").read_text(encoding="utf-8"))
    licences = {r["name"]: r["licenses"][0]["name"] for r in package["resources"]}
    assert licences == {"signalements": "odc-odbl", "cohortes-usagers": "lov2", "usage-fonctionnalites": "lov2"}


@pytest.mark.e2e
def test_csv_detective_finds_no_personal_data_format(release):
    from csv_detective import routine

    _, target = release
    for dataset in DATASETS:
        result = routine(str(target / DEMO_WEEK / dataset / f"{dataset}.csv"), num_rows=-1, save_results=False)
        formats = {column: info.get("format") for column, info in result["columns"].items()}
        assert not {f for f in formats.values()} & PERSONAL_FORMATS, (dataset, formats)


@pytest.mark.e2e
def test_a_release_without_usage_dataset_has_no_usage_section_no_stats_page_and_only_its_licences(
    release, db, manifest, tmp_path
):
    """The same built marts exported as a service that publishes only its ODbL dataset would: the texts
    say nothing of what the release does not hold."""
    import dataclasses

    from commons_assets.privacy.policy import load_policy
    from commons_assets.release.export import export_release
    from commons_assets.service import Service

    policy = load_policy(manifest)
    odbl_only = dataclasses.replace(
        policy, published=tuple(m for m in policy.published if m.spec.licence == "odc-odbl")
    )
    assert odbl_only.published and len(odbl_only.published) < len(policy.published)
    service = Service(name="Autre Service", producer="Une agence", contact="https://agence.exemple.fr/contact",
                      description="Un autre service public.")
    week_dir = tmp_path / DEMO_WEEK
    week_dir.mkdir()
    export_release(db, odbl_only, week_dir, DEMO_WEEK, service=service, usage=[])
    assert not (week_dir / "statistiques.html").exists() and not (week_dir / "statistiques.zip").exists()
    readme = (week_dir / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(f"# Autre Service — données ouvertes, semaine {DEMO_WEEK}")
    for absent in ("Statistiques d'utilisation", "statistiques.html", "exemption", "Licence Ouverte"):
        assert absent not in readme, absent
    # the service's own words are from `service`; only the datasets' titles (their yml) may name the demo
    prose = readme.split("## Jeux de données")[0] + readme.split("## Licences")[1]
    assert "Signalo" not in prose
    package = json.loads((week_dir / "datapackage.json").read_text(encoding="utf-8"))
    for key in ("name", "title", "description", "sources", "contributors"):
        assert "Signalo" not in json.dumps(package[key]) and "signalo" not in json.dumps(package[key]), key
    assert "usage" not in package["description"]


@pytest.mark.e2e
def test_the_release_reads_as_a_reuser_needs_it(release, manifest):
    """README sections and French numbers, schema.json metadata, a privacy report with documented French keys,
    and a stats page linking to every dataset's data.gouv.fr page (the exposures) and to the contact."""
    from commons_assets import french
    from commons_assets.privacy.policy import load_policy
    from commons_assets.privacy.risk import REPORT_KEYS
    from commons_assets.release.packaging import ISO_WEEK_PATTERN, dataset_pages
    from commons_assets.service import load_service

    _, target = release
    week_dir = target / DEMO_WEEK
    service, policy = load_service(), load_policy(manifest)
    pages = dataset_pages(manifest, policy)
    readme = (week_dir / "README.md").read_text(encoding="utf-8")
    for section in ("## Producteur et contact", "## Méthode", "## Comment citer", "## Version du code",
                    "## Reproduire"):
        assert f"\n{section}\n" in readme, section
    assert "base de données source" in readme.split("## Reproduire")[1]
    released = json.loads((week_dir / "release.json").read_text(encoding="utf-8"))
    for item in released["files"]:
        assert f"| {french.integer(item['rows'])} |" in readme, item["dataset"]
        assert f"<{pages[item['dataset']]['url']}>" in readme
    summaries = readme.split("### Rapport de confidentialité")[1].split("| clé |")[0]
    assert not re.search(r"\d{4}", summaries), "a number of four digits or more is not grouped the French way"
    for dataset in DATASETS:
        schema = json.loads((week_dir / dataset / "schema.json").read_text(encoding="utf-8"))
        assert schema["name"] == dataset and schema["version"] and schema["contributors"][0]["title"]
        assert all(f["title"] and f["example"] and "constraints" in f for f in schema["fields"])
        assert ISO_WEEK_PATTERN in [f["constraints"].get("pattern") for f in schema["fields"]]
    report = json.loads((week_dir / "rapport-confidentialite.json").read_text(encoding="utf-8"))
    keys = set(report) | {k for entry in report["jeux_de_donnees"].values() for k in entry}
    assert keys <= set(REPORT_KEYS), keys - set(REPORT_KEYS)
    page = (week_dir / "statistiques.html").read_text(encoding="utf-8")
    for dataset in DATASETS:
        assert f'href="{pages[dataset]["url"]}"' in page, dataset
    assert service.contact in page.split('id="contact"')[1]


@pytest.mark.e2e
def test_frictionless_checks_the_published_schemas_constraints_as_a_reuser_runs_it(release, tmp_path):
    """`frictionless validate datapackage.json`, as the README tells reusers, passes on the release and fails on
    a copy whose CSV holds a week that is not an ISO week: the schemas' constraints are read from the files."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    _, target = release
    frictionless = Path(sys.executable).with_name("frictionless")
    ok = subprocess.run([frictionless, "validate", "datapackage.json"], cwd=target / DEMO_WEEK,
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout[-2000:]
    copy = shutil.copytree(target / DEMO_WEEK, tmp_path / DEMO_WEEK)
    path = copy / "signalements" / "signalements.csv"
    header, first, *rest = path.read_text(encoding="utf-8").splitlines()
    broken = re.sub(r"(\d{4})-W(\d{2})", r"\1-\2", first, count=1)
    assert broken != first
    path.write_text("\n".join([header, broken, *rest]) + "\n", encoding="utf-8")
    from frictionless import Package

    report = Package(str(copy / "datapackage.json")).validate()
    assert not report.valid
    assert {e[0] for e in report.flatten(["type"])} <= {"constraint-error", "hash-count", "byte-count"}
    assert ["constraint-error"] in report.flatten(["type"])


def test_the_privacy_report_is_what_the_gate_measured_in_the_same_run(release_output, release, db, manifest, tmp_path,
                                                                       monkeypatch):
    import dagster as dg

    from commons_assets.privacy.checks import RISK_METADATA
    from commons_assets.privacy.policy import load_policy
    from commons_assets.privacy.risk import report_entry
    from commons_assets.release import export

    result, target = release_output
    run_id = re.search(r"\(run ([0-9a-f-]{36})\)", result.stdout).group(1)
    policy = load_policy(manifest)
    datasets = {m.name: m.dataset for m in policy.published}
    events = dg.DagsterInstance.get().all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    measured = {
        datasets[data.asset_key.path[-1]]: data.metadata[RISK_METADATA].value
        for data in (e.dagster_event.event_specific_data for e in events)
        if RISK_METADATA in data.metadata
    }
    assert set(measured) == DATASETS
    report = json.loads((target / DEMO_WEEK / "rapport-confidentialite.json").read_text(encoding="utf-8"))
    expected = {dataset: report_entry(risk) for dataset, risk in measured.items()}
    assert report["jeux_de_donnees"] == json.loads(json.dumps(expected))

    # given the gate's measurement, the export does not measure the tables again
    def measured_again(conn, model):
        raise AssertionError(f"{model.name} measured a second time")

    monkeypatch.setattr(export, "measure_risk", measured_again)
    (tmp_path / DEMO_WEEK).mkdir()
    _, risks = export.export_release(db, policy, tmp_path / DEMO_WEEK, DEMO_WEEK, risks=measured)
    assert risks == measured
