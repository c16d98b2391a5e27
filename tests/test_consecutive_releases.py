"""Consecutive weekly releases, compared as a reader would compare them: W46, W47, then W48 after four changes
to the past.

WP216's linkability test across releases: the records added between release N−1 and release N must not be
singled out by subtracting one release from the other, no identifier may be shared, and what was published
about past weeks must not move by a handful of people.

Subtraction of consecutive releases (REDTEAM.md 17, issue 12 problem 3): after W47 is released, the four changes
a reader could try to isolate are made in the source — one report deleted, one status changed, one report
back-dated into a week already published, one account deleted — and W48 is released. Each is absorbed by the
freezing method: the weeks a release already published are published again as they were (the ledger's copy,
`published__<dataset>`), so every group of the weeks both releases cover is identical and nothing moved by
1..k−1; the gate's subtraction rule (proven in tests/test_gate.py) found nothing to block.

The three releases are one sequence in the module's own database (W47 is both the second release of the first
comparison and the first of the second), rather than two pairs in two databases: one release fewer per
PostgreSQL version.
"""

import csv
import json
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from commons_assets import cli
from tests.conftest import DEMO_WEEK, SOURCE_SCHEMA

pytestmark = pytest.mark.e2e

S = SOURCE_SCHEMA
PREVIOUS_WEEK = "2026-W46"
NEXT_WEEK = "2026-W48"
K = 11
# (dataset, period column, columns of a group): records are counted per group, aggregates compared per cell
DATASETS = {
    "signalements": ("semaine_creation", ("semaine_creation", "departement_code", "categorie", "statut")),
    "cohortes-usagers": ("semaine_inscription", ("semaine_inscription", "tranche_age", "departement_code",
                                                 "nombre_usagers")),
    "usage-fonctionnalites": ("semaine", ("semaine", "source", "fonctionnalite", "nombre_evenements",
                                          "nombre_visites", "nombre_visiteurs")),
}  # fmt: skip


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _groups(release: Path, dataset: str, up_to: str) -> Counter:
    period, columns = DATASETS[dataset]
    rows = _rows(release / dataset / f"{dataset}.csv")
    return Counter(tuple(r[c] for c in columns) for r in rows if r[period] <= up_to)


def _the_four_changes(db) -> dict[str, object]:
    """The issue's four changes, made to the source between the two releases; what they touch is returned."""
    w47 = "created_at >= timestamptz '2026-11-16 00:00+01' and created_at < timestamptz '2026-11-23 00:00+01'"
    # 1. delete one report of the published week, in its largest group
    (deleted,) = db.execute(
        f"select report_id from {S}.reports where {w47} and category_code = (select category_code from {S}.reports "
        f"where {w47} group by 1 order by count(*) desc, 1 limit 1) order by report_id limit 1"
    ).fetchone()
    db.execute(f"delete from {S}.reports where report_id = %s", (deleted,))
    # 2. change one status in that week
    (changed,) = db.execute(f"select report_id from {S}.reports where {w47} and status = 'resolu' "
                            f"order by report_id limit 1").fetchone()  # fmt: skip
    db.execute(f"update {S}.reports set status = 'en_cours' where report_id = %s", (changed,))
    # 3. add one report back-dated into W46, a week both releases cover
    db.execute(
        f"insert into {S}.reports (report_id, author_id, category_code, message, commune_code, latitude, longitude, "
        f"status, created_at, updated_at) select max(report_id) + 1, min(author_id), 'voirie', 'Nid de poule', "
        f"'75056', 48.85, 2.35, 'nouveau', timestamptz '2026-11-11 10:00+01', now() from {S}.reports"
    )
    # 4. delete one account (one without reports, so that only the cohorts can show it)
    (user,) = db.execute(f"select user_id from {S}.users u where not exists (select 1 from {S}.reports r "
                         f"where r.author_id = u.user_id) order by created_at limit 1").fetchone()  # fmt: skip
    db.execute(f"delete from {S}.users where user_id = %s", (user,))
    return {"deleted_report": deleted, "changed_report": changed, "deleted_user": user}


@pytest.fixture(scope="module")
def releases(warehouse_info, demo_counts, tmp_path_factory) -> Path:
    """W46 and W47 as the demo is, then the four changes to the past, then W48 (once W48 is over)."""
    target = tmp_path_factory.mktemp("consecutive")
    assert cli.main(["release", "--week", PREVIOUS_WEEK, "--target", str(target)]) == 0
    assert cli.main(["release", "--week", DEMO_WEEK, "--target", str(target)]) == 0
    with psycopg.connect(warehouse_info.conninfo(), autocommit=True) as db:
        _the_four_changes(db)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COMMONS_TODAY", "2026-11-30")  # W48 is over
        assert cli.main(["release", "--week", NEXT_WEEK, "--target", str(target)]) == 0
    return target


# --- W46 then W47: records added between two releases ---------------------------------------------------------


def test_records_added_between_releases_form_groups_of_at_least_k(releases):
    before = _rows(releases / PREVIOUS_WEEK / "signalements" / "signalements.csv")
    after = _rows(releases / DEMO_WEEK / "signalements" / "signalements.csv")
    key = lambda r: (r["semaine_creation"], r["departement_code"], r["categorie"])  # noqa: E731
    counts_before, counts_after = Counter(map(key, before)), Counter(map(key, after))
    assert len(after) > len(before)
    for group in counts_after.keys() | counts_before.keys():
        added = counts_after[group] - counts_before[group]
        # either the group did not move, or it moved by at least k records: never by a handful
        assert added == 0 or abs(added) >= K, (group, added)


def test_no_identifier_is_shared_by_releases(releases):
    previous_csv = releases / PREVIOUS_WEEK / "signalements" / "signalements.csv"
    ids_before = {r["signalement_id"] for r in _rows(previous_csv)}
    ids_after = {r["signalement_id"] for r in _rows(releases / DEMO_WEEK / "signalements" / "signalements.csv")}
    assert ids_before and ids_after
    assert not ids_before & ids_after


@pytest.mark.parametrize(
    "dataset, period, keys",
    [
        ("cohortes-usagers", "semaine_inscription", ("semaine_inscription", "tranche_age", "departement_code")),
        ("usage-fonctionnalites", "semaine", ("semaine", "fonctionnalite")),
    ],
)
def test_published_past_weeks_are_not_revised(releases, dataset, period, keys):
    before = _rows(releases / PREVIOUS_WEEK / dataset / f"{dataset}.csv")
    after = _rows(releases / DEMO_WEEK / dataset / f"{dataset}.csv")
    past_after = {tuple(r[k] for k in keys): r for r in after if r[period] <= PREVIOUS_WEEK}
    assert {tuple(r[k] for k in keys): r for r in before} == past_after
    assert any(r[period] == DEMO_WEEK for r in after)


def test_each_release_carries_a_privacy_report_that_reaches_k(releases):
    for week in (PREVIOUS_WEEK, DEMO_WEEK, NEXT_WEEK):
        report = json.loads((releases / week / "rapport-confidentialite.json").read_text(encoding="utf-8"))
        assert report["semaine"] == week
        for dataset, risk in report["jeux_de_donnees"].items():
            assert risk["k_atteint"], dataset
            assert risk["plus_petit_groupe"] is None or risk["plus_petit_groupe"] >= K
            assert risk["repartition_des_tailles"]["1"] == 0
            assert risk["risque_procureur_max"] <= 1 / K
        assert all("seuil k = 11 atteint" in line for line in report["resume"])


# --- W47, four changes to the past, then W48: subtraction -------------------------------------------------


def test_the_four_changes_to_the_past_are_absorbed_never_isolated(releases):
    for dataset in DATASETS:
        before = _groups(releases / DEMO_WEEK, dataset, DEMO_WEEK)
        after = _groups(releases / NEXT_WEEK, dataset, DEMO_WEEK)
        assert before, dataset
        # every group of the weeks both releases cover is published exactly as before: nothing moved at all
        assert after == before, dataset
    reports = _groups(releases / NEXT_WEEK, "signalements", NEXT_WEEK)
    assert any(group[0] == NEXT_WEEK for group in reports), "W48 itself is computed"


def test_without_freezing_the_changes_would_move_groups_by_one(fresh_demo, db):
    """The same changes, counted in the source as the models would without freezing: each moves a group of W46 or
    W47 by exactly one, which is what the frozen weeks (and the gate's subtraction rule) keep from a reader."""

    def counts():
        return dict(
            db.execute(
                f"select to_char(created_at at time zone 'Europe/Paris', 'IYYY-\"W\"IW') || '/' || category_code "
                f"|| '/' || status, count(*) from {S}.reports where created_at < timestamptz '2026-11-23 00:00+01' "
                f"group by 1"
            ).fetchall()
        )

    before = counts()
    _the_four_changes(db)
    after = counts()
    moves = {g: after.get(g, 0) - before.get(g, 0) for g in before.keys() | after.keys()}
    # W47: one report fewer, one status moved from one group to another; W46: one report more
    assert sorted(m for m in moves.values() if m) == [-1, -1, 1, 1], moves
