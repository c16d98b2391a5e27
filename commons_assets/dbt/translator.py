"""Groups and metadata of dbt assets, derived from the manifest (Cal-ITP style: publish what the yml says)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from commons_assets.dbt.setup import SETUP_ASSET
from commons_assets.privacy.policy import PUBLISHED_PATH_PREFIX

LICENCE_NAMES = {"lov2": "Licence Ouverte / Open Licence version 2.0", "odc-odbl": "Open Database License (ODbL)"}


class CommonsDbtTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

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
