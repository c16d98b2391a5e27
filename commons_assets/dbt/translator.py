"""Groups and metadata of dbt assets, derived from the manifest (Cal-ITP style: publish what the yml says)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from commons_assets.dbt.setup import SETUP_ASSET
from commons_assets.privacy.policy import PUBLISHED_PATH_PREFIX

LICENCE_NAMES = {"lov2": "Licence Ouverte / Open Licence version 2.0", "odc-odbl": "Open Database License (ODbL)"}


_RESOURCE_NAMES = {"model": "Modèle", "seed": "Table de référence", "snapshot": "Instantané", "source": "Source"}


def test_description(test: Mapping[str, Any]) -> str:
    """What a dbt data test checks, in French: the test's own `description` (or `meta.description`) when its yml
    gives one, else a sentence made from the generic test and its arguments. Names only, never a value."""
    own = test.get("description") or (test.get("config", {}).get("meta") or {}).get("description") or (
        test.get("meta") or {}
    ).get("description")
    if own:
        return " ".join(str(own).split())
    generic = test.get("test_metadata") or {}
    kwargs = generic.get("kwargs") or {}
    column = kwargs.get("column_name")
    name = generic.get("name", "")
    if name == "not_null" and column:
        return f"La colonne {column} n'est jamais vide."
    if name == "unique" and column:
        return f"Chaque valeur de {column} n'apparaît qu'une fois."
    if name == "accepted_values" and column:
        return f"La colonne {column} ne prend que les valeurs déclarées dans le yml."
    if name == "relationships" and column:
        return f"Chaque valeur de la colonne {column} existe dans la table de référence déclarée."
    if name == "unique_combination_of_columns":
        columns = kwargs.get("columns") or kwargs.get("combination_of_columns") or []
        return f"Chaque combinaison de {', '.join(columns) or 'colonnes déclarées'} n'apparaît qu'une fois."
    return f"Test dbt {test.get('name', name)}" + (f" sur la colonne {column}." if column else ".")


class CommonsDbtTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        # the yml's description only: the raw SQL (Jinja included) is in the repository and the dbt docs, and
        # in the UI it buries the description the service's team reads
        description = " ".join(str(dbt_resource_props.get("description") or "").split())
        if description:
            return dbt_resource_props["description"].strip()
        kind = _RESOURCE_NAMES.get(dbt_resource_props.get("resource_type", ""), "Ressource")
        return f"{kind} dbt {dbt_resource_props.get('name')} (sans description dans son yml)."

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project) -> dg.AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=test_description(manifest["nodes"].get(unique_id, {})))

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props.get("resource_type") not in ("model", "seed", "snapshot"):
            return spec
        path = props.get("original_file_path", "")
        if path.startswith("models/" + PUBLISHED_PATH_PREFIX):
            group = "open_data"
        elif path.startswith("models/"):
            group = path.split("/")[1]
        else:
            group = "reference"
        # every dbt node waits for the setup and its blocking schema audit (commons_assets.dbt.setup)
        spec = spec.replace_attributes(group_name=group).merge_attributes(deps=[SETUP_ASSET])
        publish = (props.get("config", {}).get("meta") or {}).get("publish")
        if publish:
            spec = spec.merge_attributes(
                metadata={
                    "dataset": publish.get("dataset"),
                    "licence": dg.MetadataValue.text(
                        f"{publish.get('licence')} ({LICENCE_NAMES.get(publish.get('licence'), 'unknown')})"
                    ),
                    "kind": publish.get("kind"),
                    "k": publish.get("k"),
                    "quasi_identifiers": ", ".join(publish.get("quasi_identifiers", [])),
                },
                tags={"published": "true", "licence": str(publish.get("licence"))},
            )
        return spec
