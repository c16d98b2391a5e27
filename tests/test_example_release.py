"""End to end: the second example service (examples/france_services_rdv) released by the same code as Signalo,
with COMMONS_DBT_PROJECT_DIR pointing at it. Nothing of Signalo's may appear in what it publishes, its groups
stand for at least k people (not appointments), and no identifier of its two source schemas goes out."""

from __future__ import annotations

import csv
import json
from collections import defaultdict

import psycopg
import pytest

from tests.conftest import EXAMPLE_SCHEMA, EXAMPLE_WEEK
from tests.release_files import published_text

pytestmark = pytest.mark.e2e

DATASETS = {"rendez-vous-france-services": "rendez_vous_anonymised",
            "motifs-rendez-vous-france-services": "motifs_rendez_vous_hebdomadaires"}  # fmt: skip
# Signalo's words and datasets, and what a release holds only with a usage or an ODbL dataset
FOREIGN = ["signalo", "signalements", "usage-fonctionnalites", "cohortes-usagers", "statistiques.html", "odbl",
           "odc-odbl", "matomo"]  # fmt: skip
OPEN_DATA = "test_commons_open_data"
INTERMEDIATE = "test_commons_intermediate"
QIS = ("semaine_rendez_vous", "departement_code", "tranche_age")


@pytest.fixture(scope="module")
def release(example_service, tmp_path_factory):
    target = tmp_path_factory.mktemp("example-releases")
    done = example_service.cli("release", "--week", EXAMPLE_WEEK, "--target", str(target))
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return target / EXAMPLE_WEEK


def _csv(week_dir, dataset: str) -> list[dict[str, str]]:
    with open(week_dir / dataset / f"{dataset}.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _query(example_service, query: str) -> list[tuple]:
    with psycopg.connect(example_service.info.conninfo()) as conn:
        return conn.execute(query).fetchall()


def test_the_example_publishes_its_own_datasets_and_nothing_of_signalo(release):
    assert {p.name for p in release.iterdir() if p.is_dir()} == set(DATASETS)
    text = published_text(release).lower()
    found = [word for word in FOREIGN if word in text]
    assert not found, f"the example's release mentions {found}"
    readme = (release / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# Rendez-vous France services")
    package = json.loads((release / "datapackage.json").read_text(encoding="utf-8"))
    assert {r["name"] for r in package["resources"]} >= set(DATASETS)


def test_the_example_release_validates_as_a_reuser_checks_it(release):
    from frictionless import Package

    report = Package(str(release / "datapackage.json")).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:20]
    package = json.loads((release / "datapackage.json").read_text(encoding="utf-8"))
    assert {r["name"]: r["licenses"][0]["name"] for r in package["resources"] if r["name"] in DATASETS} == {
        dataset: "lov2" for dataset in DATASETS
    }


def test_every_published_group_stands_for_at_least_k_people(release, example_service):
    rows = _csv(release, "rendez-vous-france-services")
    (built,) = _query(example_service, f"select count(*) from {OPEN_DATA}.rendez_vous_anonymised")[0]
    assert len(rows) == built > 5000
    groups: dict[tuple, int] = defaultdict(int)
    for row in rows:
        groups[tuple(row[c] for c in QIS)] += 1
    # the people behind each published group, counted where the person key lives (never published)
    people = {
        (week, departement, band): (appointments, users)
        for week, departement, band, appointments, users in _query(
            example_service,
            f"select appointment_week, departement_code, coalesce(age_band, ''), count(*), count(distinct user_id) "
            f"from {INTERMEDIATE}.int_appointments__k_anonymised group by 1, 2, 3",
        )
    }
    assert set(groups) == set(people)
    assert all(people[g][0] == n and people[g][1] >= 11 for g, n in groups.items())
    # several appointments per person somewhere: rows alone would have overstated k
    assert any(appointments > users for appointments, users in people.values())
    assert {r["semaine_rendez_vous"] for r in rows} <= {f"2026-W{w}" for w in range(40, 48)}  # nothing after W47
    # what the release tells its reader is that promise, in persons: the report's smallest group is the fewest
    # users behind a published group, and the README promises persons, not rows
    report = json.loads((release / "rapport-confidentialite.json").read_text(encoding="utf-8"))
    entry = report["jeux_de_donnees"]["rendez-vous-france-services"]
    assert entry["groupes_comptes_en"] == "personnes distinctes" and entry["lignes"] == len(rows)
    assert entry["plus_petit_groupe"] == min(users for _, users in people.values())
    readme = (release / "README.md").read_text(encoding="utf-8")
    assert "au moins 11 personnes distinctes" in readme and "au moins 11 lignes" not in readme


def test_three_people_with_eleven_appointments_are_not_published(release, example_service):
    # the seed's three weekly visitors of the Vannes counter (56): eleven appointments in 2026-W47
    ((planted,),) = _query(
        example_service,
        f"select count(*) from {EXAMPLE_SCHEMA}.appointments where structure_id = 13 "
        f"and starts_at >= '2026-11-16' and starts_at < '2026-11-23'",
    )
    assert planted == 11
    assert not [r for r in _csv(release, "rendez-vous-france-services") if r["departement_code"] == "56"]
    cells = _csv(release, "motifs-rendez-vous-france-services")
    vannes = [c for c in cells if c["departement_code"] == "56"]
    assert vannes and all(c["nombre_rendez_vous"] == c["nombre_usagers"] == "" for c in vannes)
    published = [int(c[n]) for c in cells for n in ("nombre_rendez_vous", "nombre_usagers") if c[n]]
    assert published and min(published) >= 11


def test_no_identifier_of_either_source_schema_is_published(release, example_service):
    text = published_text(release)
    fields = {field for line in text.splitlines() for field in line.split(",")}
    values = _query(
        example_service,
        f"select email from {EXAMPLE_SCHEMA}.users union all select phone_number from {EXAMPLE_SCHEMA}.users "
        f"union all select address from {EXAMPLE_SCHEMA}.users union all select email from annuaire.agents "
        f"union all select street_address from annuaire.structures union all select phone from annuaire.structures "
        f"union all select distinct notes from {EXAMPLE_SCHEMA}.appointments where notes is not null",
    )
    assert len(values) > 9000
    assert not [v for (v,) in values if v in text]
    # names are compared as whole fields: « Martin » may be part of a longer word
    names = _query(example_service, f"select last_name from {EXAMPLE_SCHEMA}.users union select last_name "
                                    "from annuaire.agents")  # fmt: skip
    assert not [v for (v,) in names if v in fields]
