"""Red team: leaks planted into a seeded demo service, each released through the real pipeline.

Every category of ../shared/REDTEAM.md has several variants. Each case ends as it must:
- "blocked": non-zero exit, target untouched, the message names the check and the column, never the value;
- "by_design": the release goes out and the value is nowhere in it, generalised or suppressed by the models.
Cases of one kind that plant into different places are released together (one run, each value checked on its
own), so that the suite stays within CI's time. The last test greps everything the runs left behind — logs,
the Dagster event log and compute logs, dbt's target folder, the staging folder, the releases — for every
planted value, and finds none outside the source schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from commons_assets import cli
from tests.conftest import DEMO_WEEK, SOURCE_SCHEMA
from tests.release_files import published_text, tree_digest

pytestmark = pytest.mark.e2e

S = SOURCE_SCHEMA
PLANTED: set[str] = set()  # every value planted by this module, for the final grep


@dataclass(frozen=True)
class Leak:
    name: str
    category: str
    value: str
    plant: str  # SQL with %(v)s for the value; {s} for the source schema
    outcome: str  # "blocked" | "by_design"
    check: str = ""  # blocked: what the message must name (check)
    column: str = ""  # blocked: and the column
    extra: tuple = field(default=())


def _label(value: str) -> str:
    # a back-office edit of a category label: the one text path from the source to a published column
    return "update {s}.categories set label = %(v)s where category_code = 'voirie'"


BLOCKED = [
    # 1. emails, plain and obfuscated
    Leak("email_plain", "email", "jeanne.dupond@exemple.fr", _label(""), "blocked", "detectors", "categorie"),
    Leak("email_at_dot", "email", "jean.dupont [at] exemple [dot] fr", _label(""), "blocked", "detectors", "categorie"),
    Leak("email_arobase", "email", "marie.curie arobase laposte point net", _label(""), "blocked", "detectors",
         "categorie"),
    # 2. French phone numbers, every usual format, overseas
    Leak("phone_spaces", "phone", "06 12 34 56 78", _label(""), "blocked", "detectors", "categorie"),
    Leak("phone_intl", "phone", "+33 6 12 34 56 78", _label(""), "blocked", "detectors", "categorie"),
    Leak("phone_0033", "phone", "0033612345678", _label(""), "blocked", "detectors", "categorie"),
    Leak("phone_dots", "phone", "06.12.34.56.78", _label(""), "blocked", "detectors", "categorie"),
    Leak("phone_reunion", "phone", "+262 692 12 34 56", _label(""), "blocked", "detectors", "categorie"),
    # 3. NIR with a valid key, with and without spaces, Corsica
    Leak("nir_compact", "nir", "185057800608491", _label(""), "blocked", "detectors", "categorie"),
    Leak("nir_spaces", "nir", "2 94 03 75 120 005 91", _label(""), "blocked", "detectors", "categorie"),
    Leak("nir_corsica", "nir", "1 80 01 2A 004 123 43", _label(""), "blocked", "detectors", "categorie"),
    # 4. IBAN
    Leak("iban_spaces", "iban", "FR76 3000 6000 0112 3456 7890 189", _label(""), "blocked", "detectors", "categorie"),
    Leak("iban_compact", "iban", "DE89370400440532013000", _label(""), "blocked", "detectors", "categorie"),
    # 5. IP addresses
    Leak("ipv4", "ip", "192.168.12.34", _label(""), "blocked", "detectors", "categorie"),
    Leak("ipv6", "ip", "2001:db8:85a3::8a2e:370:7334", _label(""), "blocked", "detectors", "categorie"),
    Leak("ip_in_url", "ip", "http://82.64.12.7/signalement", _label(""), "blocked", "detectors", "categorie"),
    # 6. vehicle plates
    Leak("plate_siv", "plate", "AB-123-CD", _label(""), "blocked", "detectors", "categorie"),
    Leak("plate_fni", "plate", "1234 AB 69", _label(""), "blocked", "detectors", "categorie"),
    # 7. coordinates with 3+ decimals
    Leak("coordinates_pair", "coordinates", "48.85661, 2.35222", _label(""), "blocked", "detectors", "categorie"),
    Leak("coordinates_single", "coordinates", "lat 43.29648", _label(""), "blocked", "detectors", "categorie"),
    # 8. names and addresses in a column that should hold a category
    Leak("name", "name", "Jean Dupont", _label(""), "blocked", "detectors", "categorie"),
    Leak("name_title", "name", "Mme Martin", _label(""), "blocked", "detectors", "categorie"),
    Leak("address", "address", "12 rue de la République", _label(""), "blocked", "detectors", "categorie"),
    # 9. dates of birth, exact timestamps
    Leak("birth_date", "date", "14/03/1987", _label(""), "blocked", "detectors", "categorie"),
    Leak("timestamp", "date", "2026-11-17T09:31:12", _label(""), "blocked", "detectors", "categorie"),
    # 10. URLs carrying personal data
    Leak("url_email", "url", "https://signalo.example.gouv.fr/suivi?email=paul", _label(""), "blocked",
         "detectors", "categorie"),
    Leak("url_token", "url", "https://signalo.example.gouv.fr/r?token=a8f5f167f44f4964", _label(""), "blocked",
         "detectors", "categorie"),
    # a value copied from the source's direct identifiers, which no detector recognises
    Leak("source_last_name", "source", "", "update {s}.categories set label = (select last_name from {s}.users "
         "order by user_id limit 1) where category_code = 'voirie'", "blocked", "source_identifier", "categorie"),
    # 15. a hash of an email published as if it were a category
    Leak("hash_of_email", "linkage", "", "update {s}.categories set label = (select md5(email) from {s}.users "
         "order by user_id limit 1) where category_code = 'voirie'", "blocked", "source_identifier", "categorie"),
    # a status outside the declared values (a phone in the status column) fails the staging data test
    Leak("status_phone", "phone", "07 98 76 54 32", "update {s}.reports set status = %(v)s where report_id = 1",
         "blocked", "accepted_values", "report_status"),
    # 11. schema drift: a new column, or an innocent name holding personal data
    Leak("drift_telephone", "drift", "", "alter table {s}.users add column telephone text", "blocked",
         "service_dbt_models", "users.telephone"),
    Leak("drift_innocent_name", "drift", "", "alter table {s}.reports add column notes_internes text", "blocked",
         "service_dbt_models", "reports.notes_internes"),
]


def _resolved(leak: Leak, db) -> str:
    """The planted value (computed from the source when the case copies one)."""
    if leak.value:
        return leak.value
    if leak.name == "source_last_name":
        return db.execute(f"select last_name from {S}.users order by user_id limit 1").fetchone()[0]
    if leak.name == "hash_of_email":
        return db.execute(f"select md5(email) from {S}.users order by user_id limit 1").fetchone()[0]
    return ""


@pytest.fixture(scope="module")
def baseline(demo_counts, tmp_path_factory) -> Path:
    """A clean release already in the target: a blocked run must leave it exactly as it is."""
    target = tmp_path_factory.mktemp("redteam_releases")
    assert cli.main(["release", "--week", DEMO_WEEK, "--target", str(target)]) == 0
    return target


@pytest.mark.parametrize("leak", BLOCKED, ids=lambda l: f"{l.category}-{l.name}")
def test_planted_leak_blocks_the_release(leak, baseline, fresh_demo, db, capsys):
    before = tree_digest(baseline)
    db.execute(leak.plant.format(s=S), {"v": leak.value} if leak.value else None)
    value = _resolved(leak, db)
    if value:
        PLANTED.add(value)
    code = cli.main(["release", "--week", DEMO_WEEK, "--target", str(baseline)])
    out = capsys.readouterr()
    assert code == cli.EXIT_BLOCKED, out.out + out.err
    assert leak.check in out.err and leak.column in out.err, out.err
    if value:
        assert value not in out.out + out.err
    assert tree_digest(baseline) == before


BY_DESIGN = {
    # free text and direct identifiers are never selected by staging
    "never_selected": [
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
    ],
    # raw event names and URLs are mapped to the feature catalogue; unknown ones are counted as « autre »
    "unknown_event_names": [
        ("event_url_email", "update {s}.events set event_name = %(v)s where event_id between 10 and 30",
         "/signalement?email=lea.moreau@exemple.fr"),
        ("event_name_phone", "update {s}.events set event_name = %(v)s where event_id between 40 and 60",
         "rappel_0611223344"),
        ("event_token", "update {s}.events set event_name = %(v)s where event_id between 70 and 90",
         "/r?token=9f86d081884c7d65"),
    ],
    # generalisation: places to the département, whatever the commune code says
    "generalised": [
        ("commune_code_email", "insert into {s}.communes values (%(v)s, 'Nulle-Part', '99999', '99', 1)",
         "xq.secret@exemple.fr"),
        ("commune_code_email_used", "update {s}.reports set commune_code = %(v)s where report_id = 5",
         "xq.secret@exemple.fr"),
    ],
}


def _rare_combinations(db) -> str:
    # 12. one 97-year-old in a small commune; a category with a single member
    db.execute(f"update {S}.users set birth_date = date '1929-05-01', commune_code = "
               f"(select commune_code from {S}.communes order by population limit 1) where user_id = 10")
    db.execute(f"insert into {S}.categories values ('rare', 'Catégorie unique')")
    db.execute(f"update {S}.reports set category_code = 'rare' where report_id = 6")
    # 13. inference: every report of the released week in its most common category shares one status
    in_week = ("r.created_at >= timestamptz '2026-11-16 00:00+01' "
               "and r.created_at < timestamptz '2026-11-23 00:00+01'")
    category, label = db.execute(f"""
        select r.category_code, k.label from {S}.reports r join {S}.categories k using (category_code)
        where {in_week} group by 1, 2 order by count(*) desc limit 1""").fetchone()
    db.execute(f"update {S}.reports r set status = 'rejete' where r.category_code = %s and {in_week}",
               (category,))
    # 14. small cells: a feature used three times only in the released week
    week_events = ("occurred_at >= timestamptz '2026-11-16 00:00+01' "
                   "and occurred_at < timestamptz '2026-11-23 00:00+01'")
    db.execute(f"update {S}.events set event_name = 'consultation_carte' "
               f"where event_name = 'telechargement_donnees' and {week_events}")
    db.execute(f"update {S}.events set event_name = 'telechargement_donnees' where event_id in ("
               f"select event_id from {S}.events where {week_events} order by event_id limit 3)")
    return label


@pytest.mark.parametrize("group", sorted(BY_DESIGN))
def test_planted_values_are_generalised_or_suppressed_by_design(group, fresh_demo, db, tmp_path):
    for _, plant, value in BY_DESIGN[group]:
        db.execute(plant.format(s=S), {"v": value})
        PLANTED.add(value)
    assert cli.main(["release", "--week", DEMO_WEEK, "--target", str(tmp_path)]) == 0
    published = published_text(tmp_path / DEMO_WEEK)
    for name, _, value in BY_DESIGN[group]:
        assert value not in published, name


def test_rare_combinations_inference_and_small_cells_are_suppressed(fresh_demo, db, tmp_path):
    import csv

    label = _rare_combinations(db)
    assert cli.main(["release", "--week", DEMO_WEEK, "--target", str(tmp_path)]) == 0
    week = tmp_path / DEMO_WEEK
    published = published_text(week)
    assert "Catégorie unique" not in published  # a category with a single member is suppressed
    with open(week / "cohortes-usagers" / "cohortes-usagers.csv", encoding="utf-8") as f:
        assert all(int(r["nombre_usagers"]) >= 11 for r in csv.DictReader(f))
    with open(week / "signalements" / "signalements.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f)]
    group = [r for r in rows if (r["semaine_creation"], r["categorie"]) == (DEMO_WEEK, label)]
    assert len(group) >= 11 and all(r["statut"] == "" for r in group)  # the shared status is not published
    with open(week / "usage-fonctionnalites" / "usage-fonctionnalites.csv", encoding="utf-8") as f:
        usage = [r for r in csv.DictReader(f) if r["semaine"] == DEMO_WEEK and r["source"] == "service"]
    download = next(r for r in usage if r["fonctionnalite"] == "telechargement_donnees")
    assert download["nombre_evenements"] == ""  # 3 events: suppressed
    hidden = [r for r in usage if r["fonctionnalite"] != "total" and r["nombre_evenements"] == ""]
    assert len(hidden) >= 2  # and another one, or the total would give it away


def test_no_planted_value_survives_anywhere_in_the_runs(commons_env, tmp_path_factory):
    """Run last (pytest keeps file order): grep every artefact of every run for every planted value: the
    Dagster home (event log, compute logs), the CLI's logs, the export staging folder, every release written
    by these tests, and dbt's target folder (logs, compiled SQL, run results)."""
    assert PLANTED, "the red-team cases above did not run"
    # the warehouse's own data files hold the source schema, where the values were planted on purpose
    warehouse = (commons_env / "warehouse").resolve()
    roots = [commons_env, tmp_path_factory.getbasetemp(), Path(__file__).resolve().parents[1] / "dbt_project" / "target"]
    found = []
    needles = [v.encode("utf-8") for v in PLANTED if len(v) >= 6]
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file() or warehouse in path.resolve().parents:
                continue
            data = path.read_bytes()
            found += [(str(path), n.decode()) for n in needles if n in data]
    assert not found, f"{len(found)} planted value(s) found in artefacts: {sorted({p for p, _ in found})[:10]}"
