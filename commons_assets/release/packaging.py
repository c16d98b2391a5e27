"""What makes a release readable without our tools: Parquet copies, Table Schemas, a data package, a French
README, the privacy report and checksums. Pure functions over the policy and the exported files, except
`write_parquet`, which streams from PostgreSQL in bounded batches."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from psycopg import sql

from commons_assets.french import integer
from commons_assets.privacy.policy import Policy, PublishedModel
from commons_assets.release.licences import check_licence
from commons_assets.service import Service
from commons_assets.week import ISO_WEEK_PATTERN  # the period column of every published model

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


# How an empty cell is written: a suppressed count (secret statistique) or a value emptied by the anonymisation.
MISSING_VALUES = [""]


def _contributor(service: Service, role: str) -> dict:
    where = {"path": service.contact} if service.contact.startswith("http") else {"email": service.contact}
    return {"title": service.producer, "role": role, **where}


def table_schema(model: PublishedModel, service: Service | None = None) -> dict:
    """Table Schema of a published CSV, following schema.data.gouv.fr's conventions: the schema's own metadata
    (name, title, description, version, licences, contributors) and per field its title, description, example
    and constraints, all from the model's yml; the ISO-week pattern on the period column, `enum` from an
    `accepted_values` test, `minimum` k on counts. `created`/`lastModified` are left out: the dbt project does
    not record when a table's columns last changed, and a date that moved every week would be false."""
    fields = []
    for column in model.columns:
        field = {
            "name": column.name,
            "title": column.title or column.name,
            "description": column.description,
            "type": _TABLE_SCHEMA_TYPES.get(column.data_type, "string"),
        }
        if column.example is not None:
            field["example"] = str(column.example)
        constraints: dict = {"required": bool(column.required)}
        if column.privacy == "release_id":
            constraints["unique"] = True
        if column.privacy == "count":
            # a published count is never under k: smaller ones are suppressed (empty), never written
            constraints["minimum"] = model.spec.k
        if column.name == model.spec.period_column:
            constraints["pattern"] = ISO_WEEK_PATTERN
        if column.accepted_values:
            constraints["enum"] = list(column.accepted_values)
        field["constraints"] = constraints
        fields.append(field)
    licence = check_licence(model.spec.licence)
    schema = {
        "$schema": "https://frictionlessdata.io/schemas/table-schema.json",
        "name": model.dataset,
        "title": model.spec.title,
        "description": " ".join(model.spec.description.split()),
        "countryCode": "FR",
        "keywords": list(model.spec.tags),
        "version": model.spec.schema_version,
        "licenses": [{"name": licence.id, "title": licence.title, "path": licence.url}],
        "fields": fields,
        "missingValues": MISSING_VALUES,
    }
    if service is not None:
        schema["contributors"] = [_contributor(service, "author")]
        if service.homepage:
            schema["homepage"] = service.homepage
    release_ids = [c.name for c in model.columns if c.privacy == "release_id"]
    if release_ids:
        schema["primaryKey"] = release_ids
    return schema


def dataset_pages(manifest: dict, policy: Policy) -> dict[str, dict]:
    """{dataset: {"url", "owner", "label"}} from the dbt project's exposures: an exposure that depends on a
    published model is that dataset's page on data.gouv.fr (its `url`) and names its `owner`. A dataset
    without an exposure simply has no link in the texts."""
    by_id = {m.unique_id: m.dataset for m in policy.published}
    pages: dict[str, dict] = {}
    for exposure in (manifest.get("exposures") or {}).values():
        url = exposure.get("url") or ""
        if not url.startswith(("https://", "http://")):
            continue
        owner = exposure.get("owner") or {}
        for node in (exposure.get("depends_on") or {}).get("nodes") or []:
            if node in by_id:
                pages[by_id[node]] = {
                    "url": url,
                    "owner": owner.get("name") or owner.get("email") or "",
                    "label": exposure.get("label") or exposure.get("name") or "",
                }
    return pages


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
    week: str, policy: Policy, files: list[dict], code_version: str, service: Service, usage_datasets=(),
    pages: dict[str, dict] | None = None,
) -> dict:
    """The Frictionless data package describing every table of the release; a resource's `homepage` is its
    dataset's data.gouv.fr page when the dbt project declares it (an exposure)."""
    by_dataset = {m.dataset: m for m in policy.published}
    resources = []
    for item in files:
        model = by_dataset[item["dataset"]]
        base = {
            "title": model.spec.title,
            "description": model.spec.description.strip(),
            "licenses": [_licence_entry(model.spec.licence)],
        }
        if (pages or {}).get(item["dataset"]):
            base["homepage"] = pages[item["dataset"]]["url"]
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
        "contributors": [_contributor(service, "publisher")],
        "citation": service.how_to_cite,
        "resources": resources,
    }
    if service.homepage:
        package["homepage"] = service.homepage
    return package


def _k_sentence(model: PublishedModel) -> str:
    """What k guarantees, in the unit the gate counts it in: rows, or distinct persons with a person key
    (« au moins 11 lignes » would be true there, but less than what is guaranteed)."""
    in_persons = model.spec.person_key is not None
    if model.spec.kind == "records":
        qis = ", ".join(f"`{q}`" for q in model.spec.quasi_identifiers)
        if in_persons:
            return (
                f"une ligne par enregistrement ; chaque combinaison de quasi-identifiants ({qis}) est partagée par "
                f"au moins {model.spec.k} personnes distinctes (k-anonymat compté en personnes : une même personne "
                "peut avoir plusieurs lignes, elle ne compte qu'une fois par combinaison)"
            )
        return (
            f"une ligne par enregistrement ; chaque combinaison de quasi-identifiants ({qis}) est partagée par "
            f"au moins {model.spec.k} lignes (k-anonymat)"
        )
    # an aggregate that declares no quasi-identifier is counted by every column but its counts
    cells = ", ".join(f"`{c}`" for c in model.spec.quasi_identifiers or model.group_columns)
    if in_persons:
        return (
            f"comptages par {cells} ; chaque case publiée compte au moins {model.spec.k} personnes distinctes et "
            f"aucune valeur publiée n'est inférieure à {model.spec.k} ; les autres cases sont vides (secret "
            "statistique)"
        )
    return f"comptages par {cells} ; aucune valeur publiée n'est inférieure à {model.spec.k} (secret statistique)"


def _contact_link(contact: str) -> str:
    return f"<{contact}>" if contact.startswith(("https://", "http://")) else f"[{contact}](mailto:{contact})"


def commit_url(repository_url: str, code_version: str) -> str:
    """The web page of the exact commit that made the release, when the repository and a commit are known."""
    commit = code_version.removesuffix("-dirty")
    is_commit = len(commit) == 40 and all(c in "0123456789abcdef" for c in commit)
    if not repository_url or not is_commit:
        return ""
    return f"{repository_url.rstrip('/')}/commit/{commit}"


def _report_keys_table() -> list[str]:
    from commons_assets.privacy.risk import REPORT_KEYS

    return ["| clé | sens |", "|---|---|"] + [f"| `{key}` | {meaning} |" for key, meaning in REPORT_KEYS.items()]


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
    pages: dict[str, dict] | None = None,
) -> str:
    """The French README of a release, for a reuser who has only these files: who publishes (producer, contact),
    what (datasets, rows, licences, data.gouv.fr pages), how it was made (method, privacy report and its keys),
    how to cite it, the exact code version, and what « reproduire » can and cannot mean for them. It says only
    what the release holds: no usage section without a usage dataset in `files`, no licence sentence for a
    licence no dataset uses. Numbers are written the French way (commons_assets.french)."""
    pages = pages or {}
    by_dataset = {m.dataset: m for m in policy.published}
    published = [by_dataset[item["dataset"]] for item in files]
    usage = [m for m in published if m.dataset in set(usage_datasets)]
    records = [m for m in published if m.dataset not in set(usage_datasets)]
    holds = []
    if records:
        holds.append("un export anonymisé de sa base de données")
    if usage:
        holds.append("les statistiques d'utilisation de chacune de ses fonctionnalités")
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
        f"Mise à jour : **hebdomadaire** (chaque lundi, pour la semaine ISO écoulée, fuseau {service.timezone}).",
        "",
        "## Producteur et contact",
        "",
        f"- Producteur : {service.producer}",
        f"- Contact (questions, erreurs à signaler) : {_contact_link(service.contact)}",
    ]
    if service.homepage:
        lines.append(f"- Site du service : <{service.homepage}>")
    lines += [
        "",
        "## Jeux de données",
        "",
        "| jeu | fichiers | lignes | licence | page data.gouv.fr |",
        "|---|---|---:|---|---|",
    ]
    for item in files:
        model = by_dataset[item["dataset"]]
        licence = check_licence(model.spec.licence)
        page = pages.get(item["dataset"], {}).get("url")
        lines.append(
            f"| {model.spec.title} | `{item['path']}`, `{item['dataset']}/{item['dataset']}.parquet`, "
            f"`{item['dataset']}/schema.json` | {integer(item['rows'])} | [{licence.title}]({licence.url}) | "
            f"{f'<{page}>' if page else '—'} |"
        )
    lines += [
        "",
        "Chaque `schema.json` décrit les colonnes de son fichier (titre, description, type, exemple, valeurs "
        "admises) ; une case vide est une valeur masquée par le secret statistique ou retirée par "
        "l'anonymisation.",
        "",
        "## Méthode",
        "",
        "Les données sont extraites chaque semaine de la base de données du service, transformées par un projet "
        "dbt (sources → préparation → généralisation → tables publiées), contrôlées, puis exportées telles que "
        "contrôlées. Aucun identifiant direct (nom, courriel, téléphone, adresse, adresse IP, agent utilisateur) "
        "ni texte libre n'est publié. Les quasi-identifiants sont généralisés (par exemple les dates à la "
        "semaine ISO). Les identifiants publiés sont tirés au hasard à chaque publication : ils ne permettent "
        "pas de relier deux publications. Une publication n'est faite que si chaque table passe la barrière de "
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
        "Le détail est dans `rapport-confidentialite.json`, dont voici les clés :",
        "",
        *_report_keys_table(),
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
            "Chaque nombre compte ce que dit sa colonne, pour une semaine et une fonctionnalité : un visiteur "
            "qui revient plusieurs semaines, ou qui utilise plusieurs fonctionnalités, compte dans chacune ; "
            "additionner des lignes ne donne donc pas un nombre de personnes.",
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
    commit = commit_url(repository_url, code_version)
    code = (
        f"[`{code_version}`]({commit})" if commit else f"`{code_version}`"
    )
    lines += [
        "",
        "## Comment citer",
        "",
        f"> {service.how_to_cite}, semaine {week}. Producteur : {service.producer}.",
        "",
        "Mentionnez aussi la licence du jeu réutilisé et, si possible, la page data.gouv.fr du jeu.",
        "",
        "## Version du code",
        "",
        f"Publication produite par commons-assets, version {code}"
        + (f", dépôt <{repository_url}>." if repository_url else
           " (adresse du dépôt non renseignée : COMMONS_REPOSITORY_URL).")
        + (" Le code contenait des modifications non enregistrées (`-dirty`) : cette version ne suffit pas à "
           "le retrouver exactement." if code_version.endswith("-dirty") else ""),
        "",
        "## Reproduire",
        "",
        "**Avec les seuls fichiers publiés**, chacun peut :",
        "",
        "- vérifier leur intégrité : `sha256sum -c SHA256SUMS` ;",
        "- vérifier chaque fichier contre son schéma : `frictionless validate datapackage.json` ;",
        "- recalculer les chiffres du rapport de confidentialité (tailles des groupes, cases masquées) à "
        "partir des CSV.",
        "",
        f"**Refaire la publication elle-même** demande la base de données source du service {service.name}, "
        "qui contient des données personnelles et n'est pas publiée : seul le producteur peut la refaire, "
        "avec cette version du code :",
        "",
        "```",
        *([f"git clone {repository_url} commons-assets && cd commons-assets"] if repository_url else []),
        f"git checkout {code_version.removesuffix('-dirty')}",
        "python3 -m venv .venv && .venv/bin/pip install -e .",
        f".venv/bin/commons-assets release --week {week}",
        "```",
        "",
        "Sans cette base, le code peut tourner sur le service de démonstration qu'il contient "
        "(`commons-assets demo seed`) : cela montre la méthode, pas ces chiffres.",
        "",
    ]
    return "\n".join(lines)


def write_json(path: Path, payload: dict) -> Path:
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
