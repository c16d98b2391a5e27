"""Re-identification risk of a published table, measured in SQL.

Records: the groups are the combinations of quasi-identifiers; a row in a group of n rows is re-identified
with probability 1/n by an attacker who knows someone is in the data (prosecutor model). Aggregates: each
cell stands for what it counts (`population_column`), and suppressed cells are reported apart. The report
names the unit each dataset counts as declared in `meta.publish.unit` (« rendez-vous », « personnes »…).

With `meta.publish.person_key` (several rows may belong to one person), k is counted in persons, and so is
every figure here: a group's size is the number of distinct persons behind it on the person-key relation,
measured by the gate's own query (`gate.persons_per_group`), so that what the report says is what the gate
decided on, and 11 rows of 3 persons show as a group of 3.
"""

from __future__ import annotations

from psycopg import sql

from commons_assets.errors import PolicyError
from commons_assets.french import integer, percent
from commons_assets.privacy.policy import PublishedModel

# Buckets of group sizes shown in the report; the first two must stay empty at k = 11.
BUCKETS = ((1, 1), (2, 4), (5, 10), (11, 19), (20, 49), (50, 99), (100, None))
# What a group's size counts when k is counted in persons (meta.publish.person_key); never a declared unit
# (a service may declare `unit: personnes` for one row per person), so that the two cannot be mistaken
PERSONS = "personnes distinctes"


def _bucket_label(low: int, high: int | None) -> str:
    return f"{low}+" if high is None else (str(low) if low == high else f"{low}-{high}")


def _group_sizes(conn, model: PublishedModel) -> tuple[sql.Composable, int]:
    """(query of one row per published group: `n` its size, `published` its rows; suppressed cells)."""
    from commons_assets.privacy.gate import persons_per_group

    qis = model.spec.quasi_identifiers
    rel = sql.SQL(model.relation)
    # aggregates: the count that stands for people (policy: an aggregate lists its counts)
    counts = [model.spec.population_column] if model.spec.population_column else model.spec.count_columns
    population = sql.Identifier(counts[0]) if model.spec.kind == "aggregate" else None
    if model.spec.person_key is not None:
        measured = persons_per_group(model, rel)
        if measured is None:
            raise PolicyError(
                f"{model.name}: meta.publish.person_key model {model.spec.person_key.model!r} was not resolved; "
                "its groups cannot be measured in persons"
            )
        # groups of the person-key relation that the table does not publish are no published group
        sizes = sql.SQL(
            "select persons::bigint as n, published::bigint as published from ({}) as g where published > 0"
        ).format(measured)
    elif model.spec.kind == "records":
        # no quasi-identifier: the whole table is one group (PostgreSQL refuses `group by true`), none if empty
        grouped = (
            sql.SQL("group by {}").format(sql.SQL(", ").join(map(sql.Identifier, qis)))
            if qis
            else sql.SQL("having count(*) > 0")
        )
        sizes = sql.SQL("select count(*) as n, count(*) as published from {rel} {grouped}").format(
            rel=rel, grouped=grouped
        )
    else:
        sizes = sql.SQL("select {c} as n, 1 as published from {rel} where {c} is not null").format(
            rel=rel, c=population
        )
    if model.spec.kind == "records":
        return sizes, 0
    (suppressed,) = conn.execute(
        sql.SQL("select count(*) from {rel} where {c} is null").format(rel=rel, c=population)
    ).fetchone()
    return sizes, int(suppressed)


def measure_risk(conn, model: PublishedModel) -> dict:
    """The risk figures of one published table, in the unit k is counted in (`counted_in`): its rows (or the
    aggregate's population count), or distinct persons with a person key."""
    sizes_query, suppressed = _group_sizes(conn, model)
    buckets = sql.SQL(", ").join(
        sql.SQL("count(*) filter (where n >= {lo}{hi})").format(
            lo=sql.Literal(lo), hi=sql.SQL(" and n <= {}").format(sql.Literal(hi)) if hi else sql.SQL("")
        )
        for lo, hi in BUCKETS
    )
    row = conn.execute(
        sql.SQL(
            "select count(*), coalesce(sum(n), 0), coalesce(sum(published), 0), min(n), "
            "count(*) filter (where n = 1), {buckets} from ({sizes}) as groups"
        ).format(buckets=buckets, sizes=sizes_query)
    ).fetchone()
    groups, people, rows, smallest, unique_groups = int(row[0]), int(row[1]), int(row[2]), row[3], int(row[4])
    distribution = {_bucket_label(lo, hi): int(v) for (lo, hi), v in zip(BUCKETS, row[5:], strict=False)}
    return {
        "kind": model.spec.kind,
        "unit": unit_of(model),
        "counted_in": PERSONS if model.spec.person_key is not None else unit_of(model),
        "k": model.spec.k,
        "quasi_identifiers": model.spec.quasi_identifiers,
        "rows": rows if model.spec.kind == "records" else None,
        "groups": groups,
        "people_covered": people,
        "smallest_group": int(smallest) if smallest is not None else None,
        "group_size_distribution": distribution,
        # in persons: the share of persons alone in their group (a group of one person, whatever its rows)
        "share_unique": round(unique_groups / people, 6) if people else 0.0,
        # prosecutor risk: 1/n for a member of a group of n; average over people = groups / people
        # a published group of 0 persons (absent from the person-key relation) is not safe: the worst risk, 1
        "prosecutor_risk_max": round(1 / smallest, 6) if smallest else (1.0 if smallest == 0 else 0.0),
        "prosecutor_risk_average": round(groups / people, 6) if people else 0.0,
        "suppressed_cells": int(suppressed),
        "k_reached": smallest is None or smallest >= model.spec.k,
    }


# What a count stands for when meta.publish.unit is not declared: never a guess such as « personnes ».
DEFAULT_UNITS = {"records": "lignes", "aggregate": "unités comptées"}


def unit_of(model: PublishedModel) -> str:
    """What the dataset counts, as its yml declares it (`meta.publish.unit`), else a neutral default."""
    return model.spec.unit or DEFAULT_UNITS[model.spec.kind]


# rapport-confidentialite.json is read by the public: French keys, each documented here once. The README lists
# them (and a test checks that every key written is documented), so that a reader needs no code to read it.
REPORT_KEYS: dict[str, str] = {
    "semaine": "semaine ISO publiée (AAAA-Www)",
    "version_du_code": "commit git de commons-assets qui a produit la publication",
    "seuils": "seuils appliqués ; `seuils.k` : taille minimale d'un groupe, par jeu de données",
    "resume": "une phrase en français par jeu de données (celles de ce README)",
    "jeux_de_donnees": "le détail par jeu de données, sous les clés qui suivent",
    "nature": "« enregistrements » (une ligne par enregistrement) ou « comptages » (des cases comptées)",
    "unite": "ce que compte une ligne (enregistrements) ou la colonne de population (comptages)",
    "groupes_comptes_en": "ce que compte la taille d'un groupe ou d'une case (`k`, `plus_petit_groupe`, "
    "`repartition_des_tailles`, `somme_des_groupes` et les risques qui suivent) : « personnes distinctes » quand "
    "une même personne peut avoir plusieurs lignes (chaque groupe compte alors ses personnes distinctes, sur une "
    "table du producteur jamais publiée), sinon la même chose que `unite`",
    "k": "taille minimale exigée d'un groupe (enregistrements) ou d'une case publiée (comptages), dans l'unité "
    "de `groupes_comptes_en`",
    "quasi_identifiants": "colonnes dont la combinaison forme un groupe",
    "lignes": "nombre de lignes publiées (enregistrements ; vide pour des comptages)",
    "groupes": "nombre de combinaisons de quasi-identifiants (enregistrements) ou de cases publiées non vides "
    "(comptages)",
    "somme_des_groupes": "somme des tailles des groupes : le nombre de lignes (enregistrements comptés en lignes) ; "
    "comptée en personnes, une personne présente dans plusieurs groupes (plusieurs semaines) compte dans chacun ; "
    "pour des comptages, la somme des cases publiées, qui n'est pas un nombre de personnes distinctes (une même "
    "personne compte dans plusieurs semaines, plusieurs cases et la ligne de total)",
    "plus_petit_groupe": "taille du plus petit groupe ou de la plus petite case publiée",
    "repartition_des_tailles": "nombre de groupes (ou de cases) par tranche de taille",
    "part_combinaisons_uniques": "part des lignes seules dans leur groupe, ou, comptée en personnes, des "
    "personnes seules dans leur groupe (entre 0 et 1 ; 0 attendu)",
    "risque_procureur_max": "probabilité de ré-identification la plus haute (1 / plus petit groupe), pour un "
    "attaquant qui sait qu'une personne figure dans les données",
    "risque_procureur_moyen": "probabilité moyenne de ré-identification (groupes / somme des groupes)",
    "cases_masquees": "nombre de cases laissées vides par le secret statistique (comptages)",
    "k_atteint": "vrai si le plus petit groupe atteint k",
}
# measure_risk's keys (read by the Dagster metadata and the gate) → the report's French keys
_REPORT_NAMES = {
    "kind": "nature",
    "unit": "unite",
    "counted_in": "groupes_comptes_en",
    "k": "k",
    "quasi_identifiers": "quasi_identifiants",
    "rows": "lignes",
    "groups": "groupes",
    "people_covered": "somme_des_groupes",
    "smallest_group": "plus_petit_groupe",
    "group_size_distribution": "repartition_des_tailles",
    "share_unique": "part_combinaisons_uniques",
    "prosecutor_risk_max": "risque_procureur_max",
    "prosecutor_risk_average": "risque_procureur_moyen",
    "suppressed_cells": "cases_masquees",
    "k_reached": "k_atteint",
}
_KINDS = {"records": "enregistrements", "aggregate": "comptages"}


def report_entry(risk: dict) -> dict:
    """One dataset's measured risk under the report's French keys (REPORT_KEYS), in the same order."""
    entry = {_REPORT_NAMES[key]: value for key, value in risk.items() if key in _REPORT_NAMES}
    entry["nature"] = _KINDS.get(risk["kind"], risk["kind"])
    return entry


def risk_report(week: str, code_version: str, thresholds: dict[str, int], risks: dict[str, dict]) -> dict:
    """The content of rapport-confidentialite.json: French keys only, every one in REPORT_KEYS."""
    return {
        "semaine": week,
        "version_du_code": code_version,
        "seuils": {"k": thresholds},
        "resume": [french_summary(dataset, risk) for dataset, risk in risks.items()],
        "jeux_de_donnees": {dataset: report_entry(risk) for dataset, risk in risks.items()},
    }


def french_summary(dataset: str, risk: dict) -> str:
    """One French sentence. Records: rows in groups. Aggregates: published cells and the smallest one, never a
    sum of cells presented as a number of people (cells overlap: weeks, features, the total row). Where k is
    counted in persons, the group sizes and the threshold say « personnes distinctes », never rows."""
    if risk["groups"] == 0:
        return f"« {dataset} » : aucune ligne publiée cette semaine."
    unit = risk.get("unit") or DEFAULT_UNITS[risk["kind"]]
    in_persons = risk.get("counted_in") == PERSONS
    smallest = integer(risk["smallest_group"])
    persons = f"réunit {smallest} {PERSONS}"
    if risk["kind"] == "records":
        rows = risk["rows"] if in_persons else risk["people_covered"]
        text = f"« {dataset} » : {integer(rows)} {unit} en {integer(risk['groups'])} groupes ; le plus petit "
        text += persons if in_persons else f"en compte {smallest}"
    else:
        text = f"« {dataset} » : {integer(risk['groups'])} cases publiées ; la plus petite "
        text += persons if in_persons else f"compte {smallest} {unit}"
    threshold = f"{risk['k']} personnes" if in_persons else f"{risk['k']}"
    text += (
        f" (seuil k = {threshold} {'atteint' if risk['k_reached'] else 'NON atteint'}) ; risque de "
        f"ré-identification (modèle du procureur) : au plus {percent(risk['prosecutor_risk_max'])}, en moyenne "
        f"{percent(risk['prosecutor_risk_average'])} ; combinaisons uniques : {percent(risk['share_unique'])}"
    )
    if risk["suppressed_cells"]:
        text += f" ; {integer(risk['suppressed_cells'])} case(s) masquée(s) (secret statistique)"
    return text + "."
