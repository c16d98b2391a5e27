"""The privacy gate on the second example service: what an analyst of another service can get wrong in SQL and
yml, caught before anything is published. One `validate` (the gate without the export) of one copy of the
example whose models leak three ways at once; each test reads its own finding:

- a `free_text` source column (the agents' notes) published as `public`, on rows whose values no detector
  flags: only the lineage of the compiled SQL can block it;
- an e-mail column published under another name (« reference_dossier »);
- k counted in rows instead of people: the suppression macros called without their person key, so the
  eleven appointments of three people who come every week to the Vannes counter make a group of « eleven ».
"""

from __future__ import annotations

import re

import psycopg
import pytest

from commons_assets import cli
from tests.conftest import EXAMPLE_SCHEMA, EXAMPLE_WEEK

# One validation through Dagster and dbt: end to end, on one version (the rules it reaches run on both in
# test_gate.py and test_lineage.py).
pytestmark = [pytest.mark.e2e, pytest.mark.one_version]

FINDING = re.compile(r"^\s+\[(?P<check>[^\]]+)\] (?P<text>.*)$", re.MULTILINE)
SAFE_NOTE = "Dossier complet, accompagnement en ligne"

LEAKING_MODEL = f"""\
with

appointments as (
    select * from {{{{ source('rdv', 'appointments') }}}}
),

users as (
    select * from {{{{ source('rdv', 'users') }}}}
),

final as (
    select
        {{{{ commons_privacy.release_scoped_id() }}}} as suivi_id,
        appointments.notes as commentaire,
        users.email as reference_dossier
    from appointments
    inner join users
        on appointments.user_id = users.id
    where appointments.notes = '{SAFE_NOTE}'
)

select * from final
"""

LEAKING_YML = """\
version: 2

models:
  - name: rendez_vous_suivis
    description: Un modèle qui publie ce qu'il ne doit pas.
    config:
      meta:
        publish:
          dataset: suivis-rendez-vous
          title: Suivis des rendez-vous
          description: Notes de suivi des rendez-vous.
          licence: lov2
          kind: records
    columns:
      - {name: suivi_id, data_type: text, meta: {privacy: release_id}}
      - {name: commentaire, data_type: text, meta: {privacy: public}}
      - {name: reference_dossier, data_type: text, meta: {privacy: public}}
"""


@pytest.fixture(scope="module")
def blocked(example_service):
    project = example_service.project
    marts = project / "models" / "marts" / "open_data"
    (marts / "rendez_vous_suivis.sql").write_text(LEAKING_MODEL, encoding="utf-8")
    (marts / "rendez_vous_suivis.yml").write_text(LEAKING_YML, encoding="utf-8")
    # k in rows: the person key left out of the suppression macros (the gate still knows it from meta.publish)
    k_model = project / "models" / "intermediate" / "int_appointments__k_anonymised.sql"
    sql = k_model.read_text(encoding="utf-8")
    rows_sql = sql.replace(", 'user_id'\n", "\n")
    assert rows_sql.count("'user_id'") == 0 and rows_sql != sql
    k_model.write_text(rows_sql, encoding="utf-8")
    # and its dbt unit test, which catches exactly that mistake before the gate does, dropped with it
    k_yml = k_model.with_suffix(".yml")
    text = k_yml.read_text(encoding="utf-8")
    k_yml.write_text(text[: text.index("unit_tests:")] + text[text.index("models:") :], encoding="utf-8")
    done = example_service.cli("validate", "--week", EXAMPLE_WEEK)
    findings = [(m["check"], m["text"]) for m in FINDING.finditer(done.stderr)]
    return done, findings


def _secrets(example_service) -> list[str]:
    with psycopg.connect(example_service.info.conninfo()) as conn:
        emails = [r[0] for r in conn.execute(f"select email from {EXAMPLE_SCHEMA}.users where id > 2990").fetchall()]
    return [*emails, SAFE_NOTE]


def test_the_validation_is_blocked_and_prints_no_value(blocked, example_service):
    done, findings = blocked
    assert done.returncode == cli.EXIT_BLOCKED, (done.stdout + done.stderr)[-3000:]
    assert findings, done.stderr
    assert "Traceback" not in done.stderr
    leaked = [v for v in _secrets(example_service) if v in done.stdout + done.stderr]
    assert not leaked, "a source value is printed"


def test_a_free_text_column_published_as_public_is_blocked_by_lineage(blocked):
    _, findings = blocked
    lineage = [text for check, text in findings if check == "lineage" and "rendez_vous_suivis.commentaire" in text]
    assert lineage and "appointments.notes, classified free_text" in lineage[0], findings
    # its values hold nothing a detector recognises: lineage alone blocks it
    assert not [t for c, t in findings if c.startswith("detectors") and "commentaire" in t], findings


def test_an_email_column_published_under_another_name_is_blocked(blocked):
    _, findings = blocked
    about = {check for check, text in findings if "reference_dossier" in text}
    assert {"lineage", "detectors:email", "source_identifier"} <= about, findings
    lineage = [t for c, t in findings if c == "lineage" and "reference_dossier" in t]
    assert "users.email, classified direct_identifier" in lineage[0]


def test_eleven_appointments_of_three_people_are_not_a_group_of_eleven(blocked):
    _, findings = blocked
    k = [text for check, text in findings if check == "k_anonymity"]
    assert len(k) == 1, findings
    assert k[0].startswith("rendez_vous_anonymised:")
    assert "(semaine_rendez_vous, departement_code, tranche_age)" in k[0]
    assert "fewer than k=11 persons (user_id of int_appointments__k_anonymised)" in k[0]
    # the aggregate counts people in its macros: it stays clean
    assert not [t for c, t in findings if t.startswith("motifs_rendez_vous_hebdomadaires")], findings
