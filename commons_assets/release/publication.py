"""What each published dataset becomes on data.gouv.fr: French metadata from the dbt yml, and its files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from psycopg import sql

from commons_assets.privacy.policy import Policy, PublishedModel
from commons_assets.release.datagouv import DatasetFile, DatasetPublication
from commons_assets.week import Week

# Files of the whole release, attached to every dataset as documentation. data.gouv.fr refuses some
# extensions (.md, no extension, and any HTML page), hence the names it stores them under.
RELEASE_DOCUMENTS = (
    ("README.md", "Lisez-moi de la publication", "Producteur et contact, ce que contient la publication, "
     "méthode et anonymisation, licences, comment citer, version du code, ce qui peut être reproduit.", "README.txt"),
    ("datapackage.json", "Paquet de données (Frictionless)", "Description de toutes les tables de la "
     "publication : fichiers, schémas, licences, empreintes.", None),
    ("rapport-confidentialite.json", "Rapport de confidentialité", "Taille des groupes, part des "
     "combinaisons uniques et risque de ré-identification de chaque jeu de données (clés expliquées dans le "
     "lisez-moi).", None),
    ("SHA256SUMS", "Empreintes SHA-256", "Empreintes de tous les fichiers de la publication "
     "(`sha256sum -c`).", "SHA256SUMS.txt"),
    ("statistiques.zip", "Page publique de statistiques d'utilisation", "La page statistiques.html (à "
     "ouvrir dans un navigateur, sans connexion nécessaire) : fréquentation hebdomadaire de chaque "
     "fonctionnalité, en graphiques.", None),
)


def temporal_coverage(conn, model: PublishedModel, week: str) -> tuple[dt.date, dt.date]:
    """From the Monday of the earliest week in the table to the Sunday of the released week."""
    released = Week.parse(week)
    if not model.spec.period_column:
        return released.monday, released.sunday
    (first,) = conn.execute(
        sql.SQL("select min({c}) from {rel}").format(c=sql.Identifier(model.spec.period_column),
                                                     rel=sql.SQL(model.relation))
    ).fetchone()
    return (Week.parse(first) if first else released).monday, released.sunday


def dataset_publications(
    conn, policy: Policy, week_dir: Path, week: str, extra_documents: tuple = ()
) -> list[DatasetPublication]:
    publications = []
    documents = [d for d in RELEASE_DOCUMENTS + tuple(extra_documents) if (week_dir / d[0]).exists()]
    for model in policy.published:
        d = model.dataset
        files = [
            DatasetFile(f"{d}/{d}.csv", f"{model.spec.title} (CSV)",
                        "Fichier CSV (UTF-8, séparateur virgule, ligne d'en-tête), décrit par schema.json.",
                        "main", schema=f"{d}/schema.json"),
            DatasetFile(f"{d}/{d}.parquet", f"{model.spec.title} (Parquet)",
                        "Les mêmes données au format Parquet.", "main", optional=True),
            DatasetFile(f"{d}/schema.json", "Schéma des données (Table Schema)",
                        "Colonnes, types, contraintes et descriptions du fichier CSV.", "documentation"),
        ] + [
            DatasetFile(path, title, description, "documentation", upload_name=upload_name)
            for path, title, description, upload_name in documents
        ]
        publications.append(
            DatasetPublication(
                slug=d,
                title=model.spec.title,
                description=model.spec.description.strip()
                + f"\n\nMis à jour chaque semaine. Dernière semaine publiée : {week}.",
                licence=model.spec.licence,
                temporal_coverage=temporal_coverage(conn, model, week),
                tags=[_tag(t) for t in model.spec.tags],
                files=files,
            )
        )
    return publications


def _tag(text: str) -> str:
    """data.gouv.fr tags are lower-case ASCII words joined by hyphens."""
    import unicodedata

    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join("".join(c if c.isalnum() else " " for c in ascii_text.lower()).split())
