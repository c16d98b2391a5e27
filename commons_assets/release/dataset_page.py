"""What a published dataset's page of the Dagster UI shows: what, which licence, where, which week, when, how
many rows, how risky.

Each published dataset is an asset of its own, `published/<dataset>` (group `published`), downstream of the dbt
model it is exported from: the warehouse table and the published files are two things, and the dataset's page
is the one a person looks for. `release_publication` materialises it once per released week (partition); the
overview then shows the latest figures, and the Plots tab the numeric ones (int, float) over the weeks. Labels
are French, since the service's team reads them. Group sizes and risks only: never a value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import dagster as dg

from commons_assets.dbt.translator import LICENCE_NAMES

PUBLISHED_GROUP = "published"
# The labels, one home: the UI test and the README name them.
LICENCE = "Licence"
WHERE = "Adresse de publication"
LAST_WEEK = "Dernière semaine publiée"
PUBLISHED_AT = "Publiée le"
ROWS = "Lignes publiées"
SMALLEST_GROUP = "Plus petit groupe"
SHARE_UNIQUE = "Part de combinaisons uniques"
RISK_MAX = "Risque de ré-identification maximal (procureur)"
RISK_AVERAGE = "Risque de ré-identification moyen (procureur)"

# The figures of a dataset's entry in the published privacy report (rapport-confidentialite.json, its French keys
# documented in commons_assets.privacy.risk.REPORT_KEYS) shown, under their label.
RISK_FIGURES = (
    ("plus_petit_groupe", SMALLEST_GROUP, dg.MetadataValue.int),
    ("part_combinaisons_uniques", SHARE_UNIQUE, dg.MetadataValue.float),
    ("risque_procureur_max", RISK_MAX, dg.MetadataValue.float),
    ("risque_procureur_moyen", RISK_AVERAGE, dg.MetadataValue.float),
)


def published_dataset_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey([PUBLISHED_GROUP, dataset])


def published_dataset_definition_metadata(dataset: str, licence: str) -> dict[str, dg.MetadataValue]:
    """What is known before any release: the dataset's name and its licence."""
    return {"Jeu de données": dg.MetadataValue.text(dataset), LICENCE: dg.MetadataValue.text(licence_label(licence))}


def location_value(location: str) -> dg.MetadataValue:
    """A data.gouv.fr address is a link; a local folder is a path."""
    if location.startswith(("https://", "http://")):
        return dg.MetadataValue.url(location)
    return dg.MetadataValue.path(location)


def licence_label(licence: str) -> str:
    return f"{LICENCE_NAMES.get(licence, licence)} ({licence})"


def published_dataset_metadata(
    *,
    licence: str,
    location: str,
    week: str,
    published_at: dt.datetime,
    rows: int,
    risk: Mapping,
) -> dict[str, dg.MetadataValue]:
    """The metadata of one published dataset for one week. `risk` is the dataset's entry of the published privacy
    report (French keys);
    a figure it lacks (no group in an empty week) is left out rather than shown as 0, which would read as safe."""
    metadata: dict[str, dg.MetadataValue] = {
        LICENCE: dg.MetadataValue.text(licence_label(licence)),
        WHERE: location_value(location),
        LAST_WEEK: dg.MetadataValue.text(week),
        PUBLISHED_AT: dg.MetadataValue.timestamp(published_at),
        ROWS: dg.MetadataValue.int(int(rows)),
    }
    for key, label, kind in RISK_FIGURES:
        value = risk.get(key)
        if value is not None:
            metadata[label] = kind(int(value) if kind is dg.MetadataValue.int else float(value))
    return metadata
