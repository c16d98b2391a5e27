"""Subtraction of consecutive releases (REDTEAM.md 17, issue 12 problem 3), end to end: W47 is released, then
the four changes a reader could try to isolate are made in the source — one report deleted, one status
changed, one report back-dated into a week already published, one account deleted — and W48 is released.

Each is absorbed by the freezing method: the weeks a release already published are published again as they were
(the ledger's copy, `published__<dataset>`), so every group of the weeks both releases cover is identical and
nothing moved by 1..k−1; the gate's subtraction rule (proven in tests/test_gate.py) found nothing to block.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from commons_assets import cli
from tests.conftest import DEMO_WEEK, SOURCE_SCHEMA

pytestmark = pytest.mark.e2e

S = SOURCE_SCHEMA
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


def _groups(release: Path, dataset: str, up_to: str) -> Counter:
    period, columns = DATASETS[dataset]
    with open(release / dataset / f"{dataset}.csv", newline="", encoding="utf-8") as handle:
        return Counter(tuple(r[c] for c in columns) for r in csv.DictReader(handle) if r[period] <= up_to)


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
def two_releases(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("subtraction")


def test_the_four_changes_to_the_past_are_absorbed_never_isolated(fresh_demo, db, two_releases, capsys, monkeypatch):
    target = two_releases
    assert cli.main(["release", "--week", DEMO_WEEK, "--target", str(target)]) == 0, capsys.readouterr().err
    _the_four_changes(db)
    monkeypatch.setenv("COMMONS_TODAY", "2026-11-30")  # W48 is over

    code = cli.main(["release", "--week", NEXT_WEEK, "--target", str(target)])
    out = capsys.readouterr()

    assert code == 0, out.out + out.err
    for dataset in DATASETS:
        before = _groups(target / DEMO_WEEK, dataset, DEMO_WEEK)
        after = _groups(target / NEXT_WEEK, dataset, DEMO_WEEK)
        assert before, dataset
        # every group of the weeks both releases cover is published exactly as before: nothing moved at all
        assert after == before, dataset
    reports = _groups(target / NEXT_WEEK, "signalements", NEXT_WEEK)
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
