"""Red team, end to end: one planted leak per kind of check, released through the real pipeline.

Each kind of leak is proven once where it is decided — every variant of a detector in tests/test_detectors.py,
every gate rule (broken, and a near miss) in tests/test_gate.py, the privacy policy in tests/test_policy.py —
and here once per check kind, through the CLI, Dagster, dbt and the gate on a seeded demo. Each case ends as
../shared/REDTEAM.md requires:
- blocked: exit code 2, the target untouched, the check's kind and the column named on one line of stderr,
  the planted value nowhere in stdout or stderr;
- by design: the release goes out and the planted value (or person) is nowhere in it, and the published
  files themselves show why (counts of at least k, no group sharing one status), read from the CSV rather
  than by re-running the models' own filters.
Every e2e case then greps every artefact its run left behind — logs, the Dagster home (event log, compute
logs), dbt's target folder, the export staging folder, the releases — for the values it planted.

Where each category of REDTEAM.md is proven:

| #  | category                                   | proven by                                                         |
|----|--------------------------------------------|-------------------------------------------------------------------|
| 1  | emails, plain and obfuscated               | test_detectors.py::test_red_team_variant_* (1-email);             |
|    |                                            | here: test_a_detector_a_hostile_value_and_source_identifiers_*    |
| 2  | phone numbers, every format, overseas      | test_detectors.py::test_red_team_variant_* (2-phone);             |
|    |                                            | here: test_a_value_outside_the_accepted_values_blocks_the_release |
| 3  | NIR, key checked, 2A/2B, wrong key         | test_detectors.py (3-nir variants and near misses,                |
|    |                                            | test_nir_key_is_checked, test_corsican_nir_is_flagged)            |
| 4  | IBAN                                       | test_detectors.py (4-iban, test_a_valid_iban_with_one_character_*)|
| 5  | IPv4/IPv6 alone, in a URL, in a user agent | test_detectors.py (5-ip); here, by design (user agent, signup_ip): |
|    |                                            | test_planted_values_and_rare_people_are_never_published_*;        |
|    |                                            | test_release.py::test_no_direct_identifier_reaches_any_output     |
| 6  | vehicle plates                             | test_detectors.py (6-plate)                                       |
| 7  | coordinates with 3+ decimals               | test_detectors.py (7-coordinates); here: by design (exact         |
|    |                                            | coordinates never selected), test_planted_values_and_rare_*       |
| 8  | names and addresses                        | test_detectors.py (8-name, 8-address); here: by design (name col),|
|    |                                            | test_planted_values_and_rare_*                                    |
| 9  | dates of birth, exact timestamps           | test_detectors.py (9-date); here: by design (exact birth date),   |
|    |                                            | test_planted_values_and_rare_*                                    |
| 10 | URLs carrying personal data                | test_detectors.py (10-url); here: by design (event URLs),         |
|    |                                            | test_planted_values_and_rare_*                                    |
| 11 | schema drift                               | test_policy.py (unclassified columns);                            |
|    |                                            | here: test_a_new_source_column_blocks_the_release                 |
| 12 | rare combinations                          | test_gate.py::test_k_anonymity_fires_*, test_k_anonymity_lets_*;  |
|    |                                            | here: test_planted_values_and_rare_people_are_never_published_*   |
| 13 | inference (everyone shares the status)     | test_gate.py::test_l_diversity_fires_*, test_l_diversity_lets_*;  |
|    |                                            | here: test_planted_values_and_rare_people_are_never_published_*   |
| 14 | small cells, cells totals would reveal     | test_gate.py::test_small_cells_*, test_secondary_suppression_*;   |
|    |                                            | here: test_planted_values_and_rare_people_are_never_published_*   |
| 15 | linkage across releases, hashed ids        | test_gate.py::test_cross_release_*,                               |
|    |                                            | test_gate.py::test_a_release_id_that_is_not_a_random_uuid_blocks, |
|    |                                            | test_gate.py::test_source_values_in_a_plain_column_are_found;     |
|    |                                            | here: test_an_id_reused_from_the_last_release_blocks_the_release, |
|    |                                            | test_a_detector_a_hostile_value_and_source_identifiers_* (a hash  |
|    |                                            | of an email);                                                     |
|    |                                            | test_consecutive_releases.py (records added between releases)     |
| 16 | leaks through artefacts, secrets           | here: _assert_nowhere_in_artefacts after every e2e case (and      |
|    |                                            | test_the_artefact_search_finds_a_planted_value_*); test_gate.py   |
|    |                                            | (GX results and check metadata hold counts only);                 |
|    |                                            | test_datagouv.py / test_matomo.py (API key and token redacted)    |
| 17 | subtraction of consecutive releases        | test_gate.py::test_subtraction_* (moves of 1..k−1 block, 0 and    |
|    |                                            | ≥ k pass, hidden cells, covered periods only);                    |
|    |                                            | test_consecutive_releases.py (W47 then W48 with the four changes  |
|    |                                            | to the past: absorbed by frozen weeks); dbt unit tests            |
|    |                                            | *_published_weeks_are_frozen; test_consecutive_releases.py        |
| 18 | people, not rows                           | test_gate.py (11 rows of 3 people block, 11 people pass; cells);  |
|    |                                            | test_privacy_macros.py (person_key); test_example_gate.py (the    |
|    |                                            | second example, macros without it); test_example_release.py      |
| 19 | declared but not detected (lineage)        | test_lineage.py (free text planted in an innocent demo column,    |
|    |                                            | compiled demo SQL); end to end (validate, the second example):    |
|    |                                            | test_example_gate.py::test_a_free_text_column_published_as_*;     |
|    |                                            | test_a_detector_a_hostile_value_and_source_identifiers_* covers   |
|    |                                            | values copied verbatim or hashed from direct identifiers          |
| 20 | hostile values for reusers                 | test_gate.py::test_hostile_text_* (each value of the issue, near  |
|    |                                            | misses -12.5, a@b); here (a spreadsheet formula in a label):      |
|    |                                            | test_a_detector_a_hostile_value_and_source_identifiers_*          |
|    |                                            | (values of 100,000 characters: test_gate.py::test_hostile_text_*  |
|    |                                            | [hundred_thousand_characters], kind length, near miss 32,767)     |
| 21 | implausible values                         | here: test_implausible_source_values_block_the_release_each_named |
|    |                                            | (1900, 9999, NULL, ±infinity, a future birth date; dbt tests      |
|    |                                            | plausible_timestamp, plausible_birth_date)                        |
| 22 | races, crashes                             | test_concurrency_and_crashes.py: two overlapping releases (W47,   |
|    |                                            | W48: the second waits for the lock, W47's files hold no later     |
|    |                                            | week), kill -9 after dbt, in the gate, after the export and after |
|    |                                            | the move into the target, then a clean run whose files match      |
|    |                                            | SHA256SUMS and the ledger (e2e); test_operations.py (the lock on  |
|    |                                            | PostgreSQL, folder recovery, dead staging)                        |
| 23 | an outcome that does not tell the truth    | test_operations.py (verdict from what the run left, exit codes,   |
|    |                                            | target a file / read-only / under a file, missing source schema,  |
|    |                                            | older week, all before any work); test_concurrency_and_crashes.py |
|    |                                            | (an empty week refused, e2e; a blocked run's own log naming the   |
|    |                                            | check, e2e); test_datagouv.py (a licence or a file the portal     |
|    |                                            | refuses stops before any upload, Parquet left out)                |
| 24 | stale inputs                               | test_operations.py (Matomo rows cleared when Matomo is off)       |
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from commons_assets import cli
from tests.conftest import DEMO_WEEK, SOURCE_SCHEMA
from tests.release_files import published_text, tree_digest

pytestmark = pytest.mark.e2e

S = SOURCE_SCHEMA
K = 11
PREVIOUS_WEEK = "2026-W46"  # the week before DEMO_WEEK
DBT_TARGET = Path(__file__).resolve().parents[1] / "dbt_project" / "target"
# a gate finding, as the CLI prints it: "      [kind] model.column: n value(s) …"
FINDING = re.compile(r"^\s+\[(?P<kind>[^\]]+)\] (?P<where>[^\s:]+):", re.MULTILINE)


# --- helpers ------------------------------------------------------------------------------------------------


def _target(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A target that already holds a release: a blocked run must leave it byte for byte as it was."""
    target = tmp_path / "target"
    earlier = target / PREVIOUS_WEEK
    earlier.mkdir(parents=True)
    (earlier / "README.md").write_text("an earlier release\n", encoding="utf-8")
    (earlier / "SHA256SUMS").write_text("0" * 64 + "  README.md\n", encoding="utf-8")
    return target, tree_digest(target)


def _release(week: str, target: Path, capsys) -> tuple[int, str, str]:
    code = cli.main(["release", "--week", week, "--target", str(target)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _findings(err: str) -> set[tuple[str, str]]:
    return {(m["kind"], m["where"]) for m in FINDING.finditer(err)}


def _one_line_names(err: str, *fragments: str) -> bool:
    return any(all(f in line for f in fragments) for line in err.splitlines())


def _assert_blocked(code, out, err, target, before, values, *fragments):
    assert code == cli.EXIT_BLOCKED, out + err
    assert _one_line_names(err, *fragments), f"no line of stderr names {fragments}:\n{err}"
    leaked = [v for v in values if v in out + err]
    assert not leaked, "a planted value is printed"
    assert tree_digest(target) == before, "the target was changed"


def _assert_nowhere_in_artefacts(values, commons_env: Path, tmp_path_factory) -> None:
    """Grep everything the runs left behind — the home (logs, Dagster event log and compute logs, staging),
    every folder pytest handed out (releases), dbt's target folder — for the planted values. PostgreSQL's own
    data directories (wherever a server keeps them) hold the source schema, where the values were planted on
    purpose: they are left out."""
    needles = [v.encode("utf-8") for v in values if len(v) >= 6]
    assert needles, "nothing to look for"
    found = []
    for root in (commons_env, tmp_path_factory.getbasetemp(), DBT_TARGET):
        data_dirs = {marker.parent.resolve() for marker in root.rglob("PG_VERSION")}
        for path in root.rglob("*"):
            if not path.is_file() or data_dirs & set(path.resolve().parents):
                continue
            data = path.read_bytes()
            found += [str(path) for needle in needles if needle in data]
    assert not found, f"a planted value was found in {len(found)} artefact(s): {sorted(set(found))[:10]}"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# --- blocked: one case per check kind ---------------------------------------------------------------------


# 21: values the service cannot have recorded, each caught by a plausibility test of the privacy package applied
# in the sources yml (dbt_package/tests/generic/plausible.sql): (table.column, test, the planting SQL).
IMPLAUSIBLE = [
    ("reports.created_at", "plausible_timestamp",
     "update {s}.reports set created_at = timestamptz '1900-01-03 10:00+00' where report_id = 11"),
    ("users.created_at", "plausible_timestamp",
     "update {s}.users set created_at = timestamptz '9999-06-01 10:00+00' where user_id = 12"),
    ("events.occurred_at", "plausible_timestamp",
     "update {s}.events set occurred_at = 'infinity' where event_id = 13"),
    ("reports.closed_at", "plausible_timestamp",
     "update {s}.reports set closed_at = '-infinity' where report_id = 14"),
    ("users.birth_date", "plausible_birth_date",
     "update {s}.users set birth_date = date '2031-02-01' where user_id = 15"),
]


@pytest.mark.e2e
def test_implausible_source_values_block_the_release_each_named(fresh_demo, db, tmp_path, capsys):
    for _, _, plant in IMPLAUSIBLE:
        db.execute(plant.format(s=S))
    # NULL timestamps: the demo's schema forbids them, a service's may not
    db.execute(f"alter table {S}.reports alter column created_at drop not null")
    db.execute(f"update {S}.reports set created_at = null where report_id = 16")
    target, before = _target(tmp_path)

    code, out, err = _release(DEMO_WEEK, target, capsys)

    assert code == cli.EXIT_BLOCKED, out + err
    assert tree_digest(target) == before, "the target was changed"
    for column, test, _ in IMPLAUSIBLE:
        table, name = column.split(".")
        assert _one_line_names(err, test, table, name), f"{test} on {column} is not named:\n{err}"
    assert "1900-W01" not in out + err and "9999" not in out + err


SOURCE_COPIES = {
    # a direct identifier copied as it is, which no detector recognises
    # (the longest one, so that the artefacts can be searched for it without matching common words)
    "last_name": f"select last_name from {S}.users order by length(last_name) desc, user_id limit 1",
    # a hash of an email: a pseudonym, reversible by hashing every plausible email
    "hash_of_email": f"select md5(email) from {S}.users order by user_id limit 1",
}
# The three kinds of check that read the published values (detectors, hostile text, source identifiers), each
# planted in the label of a category of its own — a back-office edit of a label is the one free-text path from
# the source to a published column — and every one of these categories is frequent enough to be published. One
# release proves the three kinds: each finding is asserted on a line of its own (the source identifiers with
# their count of distinct values), and the set of findings exactly, so that no plant can hide another's; one
# release per kind would cost two more releases on each PostgreSQL version.
DETECTED_EMAIL = ("proprete", "jeanne.dupond@exemple.fr")
# 20: a category label a spreadsheet would run when a reuser opens the CSV
SPREADSHEET_FORMULA = ("depot_sauvage", '=HYPERLINK("http://x","y")')
SOURCE_COPY_CATEGORIES = {"last_name": "voirie", "hash_of_email": "eclairage"}


@pytest.mark.e2e
def test_a_detector_a_hostile_value_and_source_identifiers_each_block_the_release(
    fresh_demo, db, tmp_path, capsys, commons_env, tmp_path_factory
):
    plants = [DETECTED_EMAIL, SPREADSHEET_FORMULA]
    for copy, category in SOURCE_COPY_CATEGORIES.items():
        (value,) = db.execute(SOURCE_COPIES[copy]).fetchone()
        plants.append((category, value))
    for category, value in plants:
        db.execute(f"update {S}.categories set label = %s where category_code = %s", (value, category))
    values = [value for _, value in plants]
    target, before = _target(tmp_path)

    code, out, err = _release(DEMO_WEEK, target, capsys)

    column = "reports_anonymised.categorie"
    # the detectors and hostile_text count published rows (every report of that category), source_identifier
    # counts distinct values
    _assert_blocked(code, out, err, target, before, values, "[detectors:email]", f"{column}:", "look like email")
    assert _one_line_names(err, "[hostile_text]", f"{column}:", "hostile value(s) (formula:"), err
    # both copies found: the copied name and the hash of an email, two values of the source's users
    assert _one_line_names(err, "[source_identifier]", f"{column}: 2 value(s)", "source's users"), err
    assert _findings(err) == {("detectors:email", column), ("hostile_text", column), ("source_identifier", column)}, err
    _assert_nowhere_in_artefacts(values, commons_env, tmp_path_factory)


@pytest.mark.e2e
def test_a_value_outside_the_accepted_values_blocks_the_release(
    fresh_demo, db, tmp_path, capsys, commons_env, tmp_path_factory
):
    # a phone number in the status column: staging's accepted_values test stops the build before the gate
    value = "07 98 76 54 32"
    db.execute(f"update {S}.reports set status = %s where report_id = 1", (value,))
    target, before = _target(tmp_path)

    code, out, err = _release(DEMO_WEEK, target, capsys)

    _assert_blocked(code, out, err, target, before, [value], "failed check", "accepted_values", "report_status")
    _assert_nowhere_in_artefacts([value], commons_env, tmp_path_factory)


@pytest.mark.e2e
def test_a_new_source_column_blocks_the_release(fresh_demo, db, tmp_path, capsys, commons_env, tmp_path_factory):
    value = "06 55 44 33 22"
    db.execute(f"alter table {S}.users add column telephone text")
    db.execute(f"update {S}.users set telephone = %s where user_id = 1", (value,))
    target, before = _target(tmp_path)

    code, out, err = _release(DEMO_WEEK, target, capsys)

    _assert_blocked(code, out, err, target, before, [value], "without a privacy class", "users.telephone")
    assert "meta: {privacy:" in err  # the yml to write
    _assert_nowhere_in_artefacts([value], commons_env, tmp_path_factory)


@pytest.mark.e2e
def test_an_id_reused_from_the_last_release_blocks_the_release(fresh_demo, db, tmp_path, capsys):
    """A model whose "random" ids come back from one release to the next (a sequence instead of a random
    draw). The warehouse's gen_random_uuid() is shadowed, for this database only, by a function that numbers
    its calls; restarting the numbering makes the second release reuse the first one's ids. The ids keep the
    shape of a random UUID, so that only the cross-release rule can see it."""
    database = db.info.dbname
    db.execute("create sequence public.redteam_release_ids")
    db.execute(
        "create function public.gen_random_uuid() returns uuid language sql volatile as $$ select "
        "('00000000-0000-4000-8000-' || lpad(nextval('public.redteam_release_ids')::text, 12, '0'))::uuid $$"
    )
    db.execute(f'alter database "{database}" set search_path = "$user", public, pg_catalog')
    try:
        target = tmp_path / "target"
        code, out, err = _release(PREVIOUS_WEEK, target, capsys)
        assert code == 0, out + err
        before = tree_digest(target)
        db.execute("alter sequence public.redteam_release_ids restart")

        code, out, err = _release(DEMO_WEEK, target, capsys)
    finally:
        db.execute(f'alter database "{database}" reset search_path')
        db.execute("drop function public.gen_random_uuid()")
        db.execute("drop sequence public.redteam_release_ids")

    _assert_blocked(code, out, err, target, before, [], "[cross_release]", "reports_anonymised.signalement_id")
    assert _findings(err) == {("cross_release", "reports_anonymised.signalement_id")}, err
    assert sorted(p.name for p in target.iterdir()) == [PREVIOUS_WEEK]


# --- by design: the release goes out and the planted values are nowhere ----------------------------------

BY_DESIGN = [
    # free text and direct identifiers are never selected by staging
    ("email_in_message", "update {s}.reports set message = %(v)s where report_id = 1",
     "Contactez-moi : camille.leroy@exemple.fr"),
    ("phone_in_message", "update {s}.reports set message = %(v)s where report_id = 2", "Rappelez le 06 98 76 54 31"),
    ("nir_in_message", "update {s}.reports set message = %(v)s where report_id = 3", "NIR 2 94 03 75 120 005 22"),
    ("name_column", "update {s}.users set last_name = %(v)s where user_id = 1", "Zébulon-Tartempion"),
    ("exact_coordinates", "update {s}.reports set latitude = %(v)s::double precision, longitude = 2.3522219 "
     "where report_id = 4", "48.8566114"),
    ("user_agent_with_ip", "update {s}.events set user_agent = %(v)s where event_id = 1",
     "Mozilla/5.0 (X11; Linux x86_64) 10.20.30.40"),
    ("ip_column", "update {s}.users set signup_ip = %(v)s::inet where user_id = 2", "203.0.113.77"),
    ("exact_birth_date", "update {s}.users set birth_date = %(v)s::date where user_id = 3", "1956-02-29"),
    # raw event names and URLs are mapped to the feature catalogue; unknown ones are counted as « autre »
    ("event_url_email", "update {s}.events set event_name = %(v)s where event_id between 10 and 30",
     "/signalement?email=lea.moreau@exemple.fr"),
    ("event_name_phone", "update {s}.events set event_name = %(v)s where event_id between 40 and 60",
     "rappel_0611223344"),
    ("event_token", "update {s}.events set event_name = %(v)s where event_id between 70 and 90",
     "/r?token=9f86d081884c7d65"),
    # generalisation: places to the département, whatever the commune code says
    ("commune_code_email", "insert into {s}.communes values (%(v)s, 'Nulle-Part', '99999', '99', 1)",
     "xq.secret@exemple.fr"),
    ("commune_code_email_used", "update {s}.reports set commune_code = %(v)s where report_id = 5",
     "xq.secret@exemple.fr"),
]


def _plant_rare_people(db) -> dict:
    """12: one 97-year-old in the smallest commune, a category with a single report; 13: every report of the
    released week in its most common category shares one status; 14: a feature used three times only."""
    db.execute(f"update {S}.users set birth_date = date '1929-05-01', commune_code = "
               f"(select commune_code from {S}.communes order by population, commune_code limit 1) "
               f"where user_id = 10")
    # the planted person's combination, computed from the source (not by the models)
    week, commune = db.execute(
        f"select to_char(created_at at time zone 'Europe/Paris', 'IYYY-\"W\"IW'), commune_code "
        f"from {S}.users where user_id = 10"
    ).fetchone()
    departement = commune[:3] if commune.startswith("97") else commune[:2]
    (alone,) = db.execute(
        f"select count(*) from {S}.users where to_char(created_at at time zone 'Europe/Paris', 'IYYY-\"W\"IW') "
        f"= %s and left(commune_code, %s) = %s "
        f"and extract(year from age((created_at at time zone 'Europe/Paris')::date, birth_date)) >= 90",
        (week, len(departement), departement),
    ).fetchone()
    assert alone == 1, "the planted 97-year-old should be alone in the source"
    db.execute(f"insert into {S}.categories values ('rare', 'Catégorie unique')")
    db.execute(f"update {S}.reports set category_code = 'rare' where report_id = 6")
    in_week = ("r.created_at >= timestamptz '2026-11-16 00:00+01' "
               "and r.created_at < timestamptz '2026-11-23 00:00+01'")
    category, label = db.execute(f"""
        select r.category_code, k.label from {S}.reports r join {S}.categories k using (category_code)
        where {in_week} group by 1, 2 order by count(*) desc, 1 limit 1""").fetchone()
    db.execute(f"update {S}.reports r set status = 'rejete' where r.category_code = %s and {in_week}", (category,))
    week_events = ("occurred_at >= timestamptz '2026-11-16 00:00+01' "
                   "and occurred_at < timestamptz '2026-11-23 00:00+01'")
    db.execute(f"update {S}.events set event_name = 'consultation_carte' "
               f"where event_name = 'telechargement_donnees' and {week_events}")
    db.execute(f"update {S}.events set event_name = 'telechargement_donnees' where event_id in ("
               f"select event_id from {S}.events where {week_events} order by event_id limit 3)")
    return {"signup_week": week, "departement": departement, "label": label}


@pytest.mark.e2e
def test_planted_values_and_rare_people_are_never_published_by_design(
    fresh_demo, db, tmp_path, capsys, commons_env, tmp_path_factory
):
    """Both kinds of by-design case in one release (they touch different rows, and each assertion reads the
    published files): values that are never selected, generalised or mapped (5, 7-10), and people whom
    generalisation and suppression hide (12-14)."""
    for _, plant, value in BY_DESIGN:
        db.execute(plant.format(s=S), {"v": value})
    values = sorted({value for _, _, value in BY_DESIGN})
    planted = _plant_rare_people(db)

    code, out, err = _release(DEMO_WEEK, tmp_path, capsys)

    assert code == 0, out + err
    week = tmp_path / DEMO_WEEK
    # 5, 7-10: the planted values are nowhere, neither in the files nor in what the run printed or left
    published = published_text(week)
    assert published.count("\n") > 100, "the release is nearly empty: nothing would be found in it"
    assert not [name for name, _, value in BY_DESIGN if value in published]
    assert not [value for value in values if value in out + err]
    _assert_nowhere_in_artefacts(values, commons_env, tmp_path_factory)
    # 12. cohorts: every published cell holds k people or more; the planted person's cell (alone in the
    # source) is not there; no band reveals an exact age of 90 or more
    cohorts = _read_csv(week / "cohortes-usagers" / "cohortes-usagers.csv")
    assert cohorts and all(int(r["nombre_usagers"]) >= K for r in cohorts)
    old = [r for r in cohorts if r["tranche_age"][:1].isdigit() and int(re.split(r"\D", r["tranche_age"])[0]) >= 90]
    assert {r["tranche_age"] for r in old} <= {"90+"}
    assert not [r for r in old if (r["semaine_inscription"], r["departement_code"])
                == (planted["signup_week"], planted["departement"])]
    # 12. records: counted from the published file itself, every combination of quasi-identifiers holds
    # k rows or more, and the single-member category is absent
    reports = _read_csv(week / "signalements" / "signalements.csv")
    groups: dict[tuple, list[str]] = {}
    for r in reports:
        groups.setdefault((r["semaine_creation"], r["departement_code"], r["categorie"]), []).append(r["statut"])
    assert groups and min(len(statuses) for statuses in groups.values()) >= K
    assert "Catégorie unique" not in published_text(week)
    # 13. inference: no published group in which every row shows one and the same status
    assert not [key for key, statuses in groups.items() if len(set(statuses)) == 1 and statuses[0] != ""]
    planted_groups = [s for key, s in groups.items() if key[0] == DEMO_WEEK and key[2] == planted["label"]]
    assert planted_groups and all(set(s) == {""} for s in planted_groups)  # the shared status is not published
    # 14. small cells: the feature used 3 times is hidden, and so is another cell of its week, or the total
    # minus the others would give it away
    usage = [r for r in _read_csv(week / "usage-fonctionnalites" / "usage-fonctionnalites.csv")
             if r["semaine"] == DEMO_WEEK and r["source"] == "service"]
    download = next(r for r in usage if r["fonctionnalite"] == "telechargement_donnees")
    assert download["nombre_evenements"] == ""
    assert all(int(r["nombre_evenements"]) >= K for r in usage if r["nombre_evenements"] != "")
    hidden = [r for r in usage if r["fonctionnalite"] != "total" and r["nombre_evenements"] == ""]
    assert len(hidden) >= 2


def test_the_artefact_search_finds_a_planted_value_and_skips_postgresql_data(commons_env, tmp_path, tmp_path_factory):
    """The search every e2e case ends with can fail: a value written in a searched folder is found, and one in a
    PostgreSQL data directory (marked by PG_VERSION) is not."""
    value = "planted.artefact@exemple.fr"
    data_dir = tmp_path / "pgdata"
    data_dir.mkdir()
    (data_dir / "PG_VERSION").write_text("18\n")
    (data_dir / "base.dat").write_bytes(value.encode())
    _assert_nowhere_in_artefacts([value], commons_env, tmp_path_factory)
    (tmp_path / "dagster.log").write_text(f"step failed on {value}\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="found in 1 artefact"):
        _assert_nowhere_in_artefacts([value], commons_env, tmp_path_factory)
    (tmp_path / "dagster.log").unlink()
