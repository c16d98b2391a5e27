"""Two consecutive weekly releases, compared as a reader would compare them.

WP216's linkability test across releases: the records added between release N−1 and release N must not be
singled out by subtracting one release from the other, no identifier may be shared, and what was published
about past weeks must not move by a handful of people.
"""

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from commons_assets import cli
from tests.conftest import DEMO_WEEK

pytestmark = pytest.mark.e2e

PREVIOUS_WEEK = "2026-W46"
K = 11


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def two_releases(demo_counts, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("consecutive")
    assert cli.main(["release", "--week", PREVIOUS_WEEK, "--target", str(target)]) == 0
    assert cli.main(["release", "--week", DEMO_WEEK, "--target", str(target)]) == 0
    return target


def test_records_added_between_releases_form_groups_of_at_least_k(two_releases):
    before = _rows(two_releases / PREVIOUS_WEEK / "signalements" / "signalements.csv")
    after = _rows(two_releases / DEMO_WEEK / "signalements" / "signalements.csv")
    key = lambda r: (r["semaine_creation"], r["departement_code"], r["categorie"])  # noqa: E731
    counts_before, counts_after = Counter(map(key, before)), Counter(map(key, after))
    assert len(after) > len(before)
    for group in counts_after.keys() | counts_before.keys():
        added = counts_after[group] - counts_before[group]
        # either the group did not move, or it moved by at least k records: never by a handful
        assert added == 0 or abs(added) >= K, (group, added)


def test_no_identifier_is_shared_by_two_releases(two_releases):
    previous_csv = two_releases / PREVIOUS_WEEK / "signalements" / "signalements.csv"
    ids_before = {r["signalement_id"] for r in _rows(previous_csv)}
    ids_after = {r["signalement_id"] for r in _rows(two_releases / DEMO_WEEK / "signalements" / "signalements.csv")}
    assert ids_before and ids_after
    assert not ids_before & ids_after


@pytest.mark.parametrize(
    "dataset, period, keys",
    [
        ("cohortes-usagers", "semaine_inscription", ("semaine_inscription", "tranche_age", "departement_code")),
        ("usage-fonctionnalites", "semaine", ("semaine", "fonctionnalite")),
    ],
)
def test_published_past_weeks_are_not_revised(two_releases, dataset, period, keys):
    before = _rows(two_releases / PREVIOUS_WEEK / dataset / f"{dataset}.csv")
    after = _rows(two_releases / DEMO_WEEK / dataset / f"{dataset}.csv")
    past_after = {tuple(r[k] for k in keys): r for r in after if r[period] <= PREVIOUS_WEEK}
    assert {tuple(r[k] for k in keys): r for r in before} == past_after
    assert any(r[period] == DEMO_WEEK for r in after)


def test_each_release_carries_a_privacy_report_that_reaches_k(two_releases):
    for week in (PREVIOUS_WEEK, DEMO_WEEK):
        report = json.loads((two_releases / week / "rapport-confidentialite.json").read_text(encoding="utf-8"))
        assert report["semaine"] == week
        for dataset, risk in report["jeux_de_donnees"].items():
            assert risk["k_atteint"], dataset
            assert risk["plus_petit_groupe"] is None or risk["plus_petit_groupe"] >= K
            assert risk["repartition_des_tailles"]["1"] == 0
            assert risk["risque_procureur_max"] <= 1 / K
        assert all("seuil k = 11 atteint" in line for line in report["resume"])
