"""Re-identification risk of a published table, measured in SQL.

Records: the groups are the combinations of quasi-identifiers; a row in a group of n rows is re-identified
with probability 1/n by an attacker who knows someone is in the data (prosecutor model). Aggregates: each
cell stands for what it counts (`population_column`), and suppressed cells are reported apart. The report
names the unit each dataset counts as declared in `meta.publish.unit` (« signalements », « personnes »…).
"""

from __future__ import annotations

from psycopg import sql

from commons_assets.privacy.policy import PublishedModel

# Buckets of group sizes shown in the report; the first two must stay empty at k = 11.
BUCKETS = ((1, 1), (2, 4), (5, 10), (11, 19), (20, 49), (50, 99), (100, None))


def _bucket_label(low: int, high: int | None) -> str:
    return f"{low}+" if high is None else (str(low) if low == high else f"{low}-{high}")


def measure_risk(conn, model: PublishedModel) -> dict:
    qis = model.spec.quasi_identifiers
    if model.spec.kind == "records":
        sizes_query = sql.SQL("select count(*) as n from {rel} group by {qis}").format(
            rel=sql.SQL(model.relation), qis=sql.SQL(", ").join(map(sql.Identifier, qis)) if qis else sql.SQL("true")
        )
        suppressed = 0
    else:
        population = model.spec.population_column or model.spec.count_columns[0]
        sizes_query = sql.SQL("select {c} as n from {rel} where {c} is not null").format(
            rel=sql.SQL(model.relation), c=sql.Identifier(population)
        )
        (suppressed,) = conn.execute(
            sql.SQL("select count(*) from {rel} where {c} is null").format(
                rel=sql.SQL(model.relation), c=sql.Identifier(population)
            )
        ).fetchone()
    buckets = sql.SQL(", ").join(
        sql.SQL("count(*) filter (where n >= {lo}{hi})").format(
            lo=sql.Literal(lo), hi=sql.SQL(" and n <= {}").format(sql.Literal(hi)) if hi else sql.SQL("")
        )
        for lo, hi in BUCKETS
    )
    row = conn.execute(
        sql.SQL(
            "select count(*), coalesce(sum(n), 0), min(n), count(*) filter (where n = 1), "
            "{buckets} from ({sizes}) as groups"
        ).format(buckets=buckets, sizes=sizes_query)
    ).fetchone()
    groups, people, smallest, unique_groups = int(row[0]), int(row[1]), row[2], int(row[3])
    distribution = {_bucket_label(lo, hi): int(v) for (lo, hi), v in zip(BUCKETS, row[4:], strict=False)}
    return {
        "kind": model.spec.kind,
        "unit": unit_of(model),
        "k": model.spec.k,
        "quasi_identifiers": qis,
        "rows": people if model.spec.kind == "records" else None,
        "groups": groups,
        "people_covered": people,
        "smallest_group": int(smallest) if smallest is not None else None,
        "group_size_distribution": distribution,
        "share_unique": round(unique_groups / people, 6) if people else 0.0,
        # prosecutor risk: 1/n for a member of a group of n; average over people = groups / people
        "prosecutor_risk_max": round(1 / smallest, 6) if smallest else 0.0,
        "prosecutor_risk_average": round(groups / people, 6) if people else 0.0,
        "suppressed_cells": int(suppressed),
        "k_reached": smallest is None or smallest >= model.spec.k,
    }


# What a count stands for when meta.publish.unit is not declared: never a guess such as « personnes ».
DEFAULT_UNITS = {"records": "lignes", "aggregate": "unités comptées"}


def unit_of(model: PublishedModel) -> str:
    """What the dataset counts, as its yml declares it (`meta.publish.unit`), else a neutral default."""
    return model.spec.unit or DEFAULT_UNITS[model.spec.kind]


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %".replace(".", ",")


def french_summary(dataset: str, risk: dict) -> str:
    if risk["groups"] == 0:
        return f"« {dataset} » : aucune ligne publiée cette semaine."
    unit = risk.get("unit") or DEFAULT_UNITS[risk["kind"]]
    text = (
        f"« {dataset} » : {risk['people_covered']} {unit} en {risk['groups']} groupes ; le plus petit en "
        f"compte {risk['smallest_group']} (seuil k = {risk['k']} "
        f"{'atteint' if risk['k_reached'] else 'NON atteint'}) ; risque de ré-identification (modèle du "
        f"procureur) : au plus {_pct(risk['prosecutor_risk_max'])}, en moyenne "
        f"{_pct(risk['prosecutor_risk_average'])} ; combinaisons uniques : {_pct(risk['share_unique'])}"
    )
    if risk["suppressed_cells"]:
        text += f" ; {risk['suppressed_cells']} case(s) masquée(s) (secret statistique)"
    return text + "."
