"""What makes a release readable without our tools: Parquet copies, Table Schemas, a data package, a French
README, the privacy report and checksums. Pure functions over the policy and the exported files, except
`write_parquet`, which streams from PostgreSQL in bounded batches."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from psycopg import sql

from commons_assets.privacy.policy import Policy, PublishedModel
from commons_assets.release.licences import check_licence
from commons_assets.service import Service

# Rows per Parquet row group and per fetch: memory stays bounded whatever the size of the table.
PARQUET_BATCH_ROWS = 50_000
ODBL, LOV2 = "odc-odbl", "lov2"

_TABLE_SCHEMA_TYPES = {
    "text": "string",
    "varchar": "string",
    "character varying": "string",
    "bigint": "integer",
    "integer": "integer",
    "int": "integer",
    "smallint": "integer",
    "numeric": "number",
    "double precision": "number",
    "real": "number",
    "date": "date",
    "boolean": "boolean",
    "timestamp with time zone": "datetime",
}


def _arrow_type(data_type: str):
    import pyarrow as pa

    return {
        "string": pa.string(),
        "integer": pa.int64(),
        "number": pa.float64(),
        "date": pa.date32(),
        "boolean": pa.bool_(),
        "datetime": pa.timestamp("us", tz="UTC"),
    }[_TABLE_SCHEMA_TYPES.get(data_type, "string")]


def table_schema(model: PublishedModel) -> dict:
    """Frictionless Table Schema of a published CSV, from the model's yml (types, constraints, descriptions)."""
    fields = []
    for column in model.columns:
        field = {
            "name": column.name,
            "type": _TABLE_SCHEMA_TYPES.get(column.data_type, "string"),
            "description": column.description,
        }
        constraints = {}
        if column.required:
            constraints["required"] = True
        if column.privacy == "release_id":
            constraints["unique"] = True
        if column.privacy == "count":
            constraints["minimum"] = model.spec.k
        if constraints:
            field["constraints"] = constraints
        fields.append(field)
    schema = {"fields": fields, "missingValues": [""]}
    release_ids = [c.name for c in model.columns if c.privacy == "release_id"]
    if release_ids:
        schema["primaryKey"] = release_ids
    return schema


def write_parquet(conn, model: PublishedModel, path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c.name, _arrow_type(c.data_type)) for c in model.columns])
    query = sql.SQL("select {cols} from {rel} order by {cols}").format(
        cols=sql.SQL(", ").join(map(sql.Identifier, model.column_names)), rel=sql.SQL(model.relation)
    )
    rows = 0
    # A named (server-side) cursor: PostgreSQL hands the rows over batch by batch.
    with conn.transaction(), conn.cursor(name=f"parquet_{model.name}") as cursor, pq.ParquetWriter(
        path, schema, compression="zstd"
    ) as writer:
        cursor.itersize = PARQUET_BATCH_ROWS
        cursor.execute(query)
        while batch := cursor.fetchmany(PARQUET_BATCH_ROWS):
            columns = list(zip(*batch, strict=False))
            writer.write_table(
                pa.table({name: pa.array(values, type=schema.field(name).type)
                          for name, values in zip(model.column_names, columns, strict=False)}, schema=schema)
            )
            rows += len(batch)
        if rows == 0:
            writer.write_table(schema.empty_table())
    return rows


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_checksums(week_dir: Path) -> Path:
    """SHA256SUMS in the format `sha256sum -c` reads, for every file of the release."""
    lines = [
        f"{sha256_of(p)}  {p.relative_to(week_dir).as_posix()}"
        for p in sorted(week_dir.rglob("*"))
        if p.is_file() and p.name != "SHA256SUMS"
    ]
    path = week_dir / "SHA256SUMS"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _licence_entry(licence_id: str) -> dict:
    licence = check_licence(licence_id)
    return {"name": licence.id, "title": licence.title, "path": licence.url}


def datapackage(
    week: str, policy: Policy, files: list[dict], code_version: str, service: Service, usage_datasets=()
) -> dict:
    """The Frictionless data package describing every table of the release."""
    by_dataset = {m.dataset: m for m in policy.published}
    resources = []
    for item in files:
        model = by_dataset[item["dataset"]]
        base = {
            "title": model.spec.title,
            "description": model.spec.description.strip(),
            "licenses": [_licence_entry(model.spec.licence)],
        }
        resources.append(
            {
                "name": item["dataset"],
                "path": item["path"],
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "hash": f"sha256:{item['sha256']}",
                "bytes": item["bytes"],
                "schema": f"{item['dataset']}/schema.json",
                **base,
            }
        )
    published = {item["dataset"] for item in files}
    holds = ["un export anonymisé de la base de données du service"] if published - set(usage_datasets) else []
    if published & set(usage_datasets):
        holds.append("des statistiques d'usage par fonctionnalité")
    package = {
        "name": f"{service.slug}-{week.lower()}",
        "title": f"{service.name} — données ouvertes de la semaine {week}",
        "description": (
            f"{service.description.strip()} Cette publication contient {' et '.join(holds) or 'aucun jeu'}, "
            f"semaine ISO {week}. Produit par commons-assets (version {code_version})."
        ),
        "version": week,
        "licenses": sorted(
            ({"name": e["name"], "title": e["title"], "path": e["path"]}
             for e in {m.spec.licence: _licence_entry(m.spec.licence) for m in policy.published}.values()),
            key=lambda e: e["name"],
        ),
        "sources": [{"title": f"Base de données du service {service.name}"}],
        "contributors": [{"title": service.producer, "role": "publisher",
                          **({"path": service.contact} if service.contact.startswith("http") else
                             {"email": service.contact})}],
        "citation": service.how_to_cite,
        "resources": resources,
    }
    if service.homepage:
        package["homepage"] = service.homepage
    return package


def _k_sentence(model: PublishedModel) -> str:
    qis = ", ".join(f"`{q}`" for q in model.spec.quasi_identifiers)
    if model.spec.kind == "records":
        return (
            f"une ligne par enregistrement ; chaque combinaison de quasi-identifiants ({qis}) est partagée par "
            f"au moins {model.spec.k} lignes (k-anonymat)"
        )
    return f"comptages par {qis} ; aucune valeur publiée n'est inférieure à {model.spec.k} (secret statistique)"


def readme(
    week: str,
    policy: Policy,
    files: list[dict],
    risk_summaries: dict[str, str],
    code_version: str,
    repository_url: str,
    exemption_table: str = "",
    *,
    service: Service,
    usage_datasets: tuple[str, ...] | list[str] = (),
    stats_page: bool = False,
) -> str:
    """The French README of a release: what, how it was anonymised, thresholds, licences, rebuild command.
    It says only what the release holds: no usage section without a usage dataset in `files`, no licence
    sentence for a licence no dataset uses."""
    by_dataset = {m.dataset: m for m in policy.published}
    published = [by_dataset[item["dataset"]] for item in files]
    usage = [m for m in published if m.dataset in set(usage_datasets)]
    records = [m for m in published if m.dataset not in set(usage_datasets)]
    holds = []
    if records:
        holds.append("un export anonymisé de sa base de données")
    if usage:
        holds.append("les statistiques d'utilisation de chacune de ses fonctionnalités")
    about = [f"Producteur : {service.producer}. Contact : {service.contact}."]
    if service.homepage:
        about.append(f"Site du service : {service.homepage}.")
    lines = [
        f"# {service.name} — données ouvertes, semaine {week}",
        "",
        service.description.strip(),
        "",
        f"Ce dossier est la publication hebdomadaire des données du service numérique public {service.name}, "
        f"tenues en commun numérique : {' et '.join(holds) or 'aucun jeu de données cette semaine'}, dans des "
        "formats lisibles sans outil particulier (CSV, Parquet), décrits par des schémas (Table Schema) et un "
        "paquet de données (`datapackage.json`).",
        "",
        " ".join(about),
        "",
        f"Mise à jour : **hebdomadaire** (chaque lundi, pour la semaine ISO écoulée, fuseau {service.timezone}).",
        "",
        "## Jeux de données",
        "",
        "| jeu | fichiers | lignes | licence |",
        "|---|---|---|---|",
    ]
    for item in files:
        model = by_dataset[item["dataset"]]
        licence = check_licence(model.spec.licence)
        lines.append(
            f"| {model.spec.title} | `{item['path']}`, `{item['dataset']}/{item['dataset']}.parquet`, "
            f"`{item['dataset']}/schema.json` | {item['rows']} | [{licence.title}]({licence.url}) |"
        )
    lines += ["", "## Anonymisation", ""]
    lines += [
        "Aucun identifiant direct (nom, courriel, téléphone, adresse, adresse IP, agent utilisateur) ni texte "
        "libre n'est publié. Les quasi-identifiants sont généralisés (par exemple les dates à la semaine ISO). "
        "Les identifiants publiés sont tirés au hasard à chaque publication : ils ne permettent pas de relier "
        "deux publications. Une publication n'est faite que si chaque table passe la barrière de "
        "confidentialité (colonnes autorisées, détecteurs d'identifiants, k-anonymat, l-diversité, secret "
        "statistique primaire et secondaire, absence d'identifiant commun avec la publication précédente).",
        "",
    ]
    for item in files:
        model = by_dataset[item["dataset"]]
        lines.append(f"- **{item['dataset']}** : {_k_sentence(model)}.")
    lines += ["", "### Rapport de confidentialité", ""]
    lines += [f"- {summary}" for summary in risk_summaries.values()]
    lines += [
        "",
        "Le détail (taille des groupes, risque de ré-identification) est dans `rapport-confidentialite.json`.",
        "",
    ]
    if usage:
        names = ", ".join(f"`{m.dataset}`" for m in usage)
        lines += [
            "## Statistiques d'utilisation",
            "",
            f"La fréquentation de chaque fonctionnalité ({names}) est mesurée comme le ferait un "
            "outil de mesure d'audience exempté de consentement (CNIL) : pas de traceur tiers, aucun identifiant "
            "publié, et chaque semaine publiée n'est plus jamais révisée (les événements arrivés en retard ne "
            "modifient pas une semaine déjà publiée)."
            + (" La page `statistiques.html` (aussi dans `statistiques.zip`) les présente en graphiques, sans "
               "aucune ressource externe." if stats_page else ""),
            "",
            "Conditions de l'exemption de consentement, pour chaque source de mesure d'audience déclarée "
            "(« non mesuré » : rien ne permettait de la vérifier) :",
            "",
            exemption_table or "(non mesurées)",
            "",
        ]
    licences = {m.spec.licence for m in published}
    lines += ["## Licences", ""]
    if ODBL in licences:
        odbl = ", ".join(f"`{m.dataset}`" for m in published if m.spec.licence == ODBL)
        lines.append(
            f"Les jeux {odbl} sont publiés sous licence de repartage ODbL : leurs réutilisations doivent rester "
            "ouvertes."
        )
    if LOV2 in licences:
        lov2 = ", ".join(f"`{m.dataset}`" for m in published if m.spec.licence == LOV2)
        lines.append(f"Les jeux {lov2} sont publiés sous Licence Ouverte 2.0 (Etalab).")
    lines += [
        "",
        f"Pour citer ces données : « {service.how_to_cite} », semaine {week}.",
        "",
        "## Reproduire cette publication",
        "",
        f"Code : {repository_url or 'commons-assets (adresse du dépôt non renseignée : COMMONS_REPOSITORY_URL)'}"
        f", version `{code_version}`.",
        "",
        "```",
        f"git checkout {code_version.removesuffix('-dirty')}",
        "python3 -m venv .venv && .venv/bin/pip install -e .",
        f".venv/bin/commons-assets release --week {week}",
        "```",
        "",
        "Intégrité : `sha256sum -c SHA256SUMS`.",
        "",
    ]
    return "\n".join(lines)


def write_json(path: Path, payload: dict) -> Path:
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
