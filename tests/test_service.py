"""The service describes itself in its dbt project: its description, its usage datasets, the units it counts.
The release's texts say only what the release holds, and no Python module outside the demo names the demo's
datasets, models or columns."""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import pytest

from commons_assets.errors import PolicyError
from commons_assets.privacy.policy import PublishedColumn, PublishedModel, PublishSpec, load_policy
from commons_assets.privacy.risk import french_summary
from commons_assets.release.packaging import datapackage, readme
from commons_assets.service import (
    Service,
    ServiceError,
    load_service,
    service_from_vars,
    usage_datasets,
    usage_event_source,
)

PACKAGE = Path(__file__).resolve().parents[1] / "commons_assets"
# The demo's own packages may name it; everything else must read it from the manifest.
DEMO_PACKAGES = ("demo", "bench")
# Words that are the engine's own vocabulary as well as a demo column's name: the usage role `source` (service
# or matomo, written by the engine's Matomo loader), the `total` row code, and `semaine`, the key of the week in
# the engine's own privacy report (rapport-confidentialite.json).
ENGINE_WORDS = {"source", "total", "semaine"}

SERVICE = Service(
    name="Rendez-vous Santé",
    producer="Agence exemple",
    contact="donnees@agence.exemple.fr",
    description="Prise de rendez-vous dans les centres de santé.",
    citation="Rendez-vous Santé, Agence exemple",
)


def _model(name: str, dataset: str, licence: str, kind: str = "aggregate", unit: str | None = None, **spec):
    columns = (PublishedColumn(name="periode", privacy="quasi_identifier", data_type="text", description=""),
               PublishedColumn(name="effectif", privacy="count", data_type="bigint", description=""))
    return PublishedModel(
        name=name, unique_id=f"model.rdv.{name}", schema="open_data", relation=f'"open_data"."{name}"',
        spec=PublishSpec(dataset=dataset, title=f"Titre {dataset}", description="Une description.", licence=licence,
                         kind=kind, unit=unit, quasi_identifiers=["periode"], count_columns=["effectif"], **spec),
        columns=columns,
    )


def _policy(*models):
    from commons_assets.privacy.policy import Policy

    return Policy(sources={}, source_schema="rdv", published=tuple(models))


def _files(*models):
    return [{"dataset": m.dataset, "path": f"{m.dataset}/{m.dataset}.csv", "rows": 3, "bytes": 10, "sha256": "0" * 64}
            for m in models]


# --- the service's description --------------------------------------------------------------------------------


def test_the_bundled_project_describes_its_service():
    service = load_service()
    assert service.name and service.producer and service.contact and service.description


@pytest.mark.parametrize("missing", ["name", "producer", "contact", "description"])
def test_a_missing_key_is_named(missing):
    block = SERVICE.model_dump()
    del block[missing]
    with pytest.raises(ServiceError, match=rf"vars\.service\.{missing}: missing"):
        service_from_vars({"service": block})


def test_the_source_zone_defaults_to_utc_and_is_distinct_from_the_publishing_zone():
    assert (SERVICE.timezone, SERVICE.source_timezone) == ("Europe/Paris", "UTC")
    declared = service_from_vars({"service": {**SERVICE.model_dump(), "source_timezone": "America/Cayenne"}})
    assert (declared.timezone, declared.source_timezone) == ("Europe/Paris", "America/Cayenne")
    assert load_service().source_timezone == "UTC"  # the demo declares it


def test_no_service_block_says_where_to_write_it(tmp_path):
    (tmp_path / "dbt_project.yml").write_text("name: x\nvars: {k_anonymity: 11}\n", encoding="utf-8")
    with pytest.raises(ServiceError, match=r"vars:.*service:"):
        load_service(tmp_path)


@pytest.mark.parametrize(("key", "value"), [("contact", "téléphone"), ("timezone", "Mars/Olympus"),
                                             ("source_timezone", "UTC+1"),
                                             ("homepage", "www.exemple.fr"), ("first_week", "2026-47"),
                                             ("colour", "blue")])
def test_a_wrong_value_is_refused_with_its_key(key, value):
    with pytest.raises(ServiceError, match=rf"vars\.service\.{key}"):
        service_from_vars({"service": {**SERVICE.model_dump(), key: value}})


# --- the texts say only what the release holds ----------------------------------------------------------------


def test_a_release_without_usage_or_odbl_says_neither():
    model = _model("rdv_par_semaine", "rendez-vous", "lov2", unit="rendez-vous")
    text = readme("2026-W47", _policy(model), _files(model), {}, "abc", "", service=SERVICE)
    assert text.startswith("# Rendez-vous Santé — données ouvertes, semaine 2026-W47")
    assert "Agence exemple" in text and "donnees@agence.exemple.fr" in text
    assert "> Rendez-vous Santé, Agence exemple, semaine 2026-W47." in text
    for absent in ("Statistiques d'utilisation", "statistiques.html", "exemption", "ODbL", "fonctionnalité"):
        assert absent not in text, absent
    assert "Licence Ouverte 2.0" in text


def test_an_odbl_only_release_has_no_licence_ouverte_sentence():
    model = _model("rdv_par_semaine", "rendez-vous", "odc-odbl")
    text = readme("2026-W47", _policy(model), _files(model), {}, "abc", "", service=SERVICE)
    assert "ODbL" in text and "`rendez-vous`" in text
    assert "Licence Ouverte" not in text


def test_the_usage_section_appears_with_a_usage_dataset_only():
    data = _model("rdv_par_semaine", "rendez-vous", "odc-odbl")
    usage = _model("frequentation", "frequentation", "lov2")
    policy, files = _policy(data, usage), _files(data, usage)
    text = readme("2026-W47", policy, files, {}, "abc", "", "| condition |", service=SERVICE,
                  usage_datasets=["frequentation"], stats_page=True)
    assert "## Statistiques d'utilisation" in text and "(`frequentation`)" in text
    assert "statistiques.html" in text and "| condition |" in text
    package = datapackage("2026-W47", policy, files, "abc", SERVICE, ["frequentation"])
    assert package["name"] == "rendez-vous-sante-2026-w47"
    assert "statistiques d'usage" in package["description"]
    assert package["contributors"] == [{"title": "Agence exemple", "role": "publisher",
                                        "email": "donnees@agence.exemple.fr"}]
    without = datapackage("2026-W47", _policy(data), _files(data), "abc", SERVICE)
    assert "usage" not in without["description"] and "Rendez-vous Santé" in without["title"]


# --- usage datasets and units ---------------------------------------------------------------------------------


def test_the_demo_declares_its_usage_dataset_by_column_roles(manifest):
    policy = load_policy(manifest)
    usage = usage_datasets(manifest, policy)
    assert len(usage) == 1
    assert {"week", "feature", "events"} <= set(usage[0].roles)
    assert set(usage[0].frozen_columns) == set(usage[0].roles.values())


def test_a_usage_dataset_without_a_required_role_is_refused(manifest):
    policy = load_policy(manifest)
    broken = {**manifest, "nodes": dict(manifest["nodes"])}
    (usage,) = usage_datasets(manifest, policy)
    node = dict(broken["nodes"][usage.model.unique_id])
    node["columns"] = {
        name: {**column, "meta": {k: v for k, v in (column.get("meta") or {}).items() if v != "events"},
               "config": {"meta": {k: v for k, v in ((column.get("config") or {}).get("meta") or {}).items()
                                   if v != "events"}}}
        for name, column in node["columns"].items()
    }
    broken["nodes"][usage.model.unique_id] = node
    with pytest.raises(PolicyError, match=r"no column declares meta\.usage: events"):
        usage_datasets(broken, policy)


def test_the_risk_report_names_the_declared_unit_never_people_by_default():
    risk = {"kind": "aggregate", "groups": 2, "people_covered": 30, "smallest_group": 12, "k": 11,
            "k_reached": True, "prosecutor_risk_max": 0.08, "prosecutor_risk_average": 0.06, "share_unique": 0.0,
            "suppressed_cells": 0}
    assert "la plus petite compte 12 rendez-vous" in french_summary("rdv", {**risk, "unit": "rendez-vous"})
    assert "personnes" not in french_summary("rdv", risk)
    assert "30 lignes en 2 groupes" in french_summary("rdv", {**risk, "kind": "records"})


# --- no Python module names the demo ----------------------------------------------------------------------------


def _demo_names(manifest) -> set[str]:
    policy = load_policy(manifest)
    names = set()
    for model in policy.published:
        names |= {model.name, model.dataset, *model.column_names}
    return names - ENGINE_WORDS


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    }


def test_no_python_module_outside_the_demo_names_the_demos_datasets_models_or_columns(manifest):
    names = _demo_names(manifest)
    assert {"usage-fonctionnalites", "feature_usage_weekly"} & names  # the list is the demo's, not empty
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in DEMO_PACKAGES:
            continue
        for constant in _string_constants(path):
            # within prose, only names no French sentence would use: identifiers with _ or -
            words = {w.strip(".,;:()«»`'\"") for w in constant.split()}
            hits = names & ({constant} | {w for w in words if "_" in w or "-" in w})
            offenders += [f"{relative}: {hit!r}" for hit in sorted(hits)]
    assert not offenders, "the demo is named in Python (move it to the dbt project):\n" + "\n".join(offenders)


def test_a_project_without_a_service_block_has_no_declared_service_but_a_wrong_block_still_fails(tmp_path):
    from commons_assets.service import declared_service

    (tmp_path / "dbt_project.yml").write_text("name: new_service\nvars: {k_anonymity: 11}\n")
    assert declared_service(tmp_path) is None  # init's project: first week, owners, severities take defaults
    (tmp_path / "dbt_project.yml").write_text("name: new_service\nvars: {service: {name: X, owners: [bob]}}\n")
    with pytest.raises(ServiceError, match=r"vars\.service\.owners"):
        declared_service(tmp_path)
    # the block init writes, time zones only: not described yet, yet a misspelt zone is named at once
    (tmp_path / "dbt_project.yml").write_text(
        "vars: {service: {timezone: Europe/Paris, source_timezone: UTC}}\n"
    )
    assert declared_service(tmp_path) is None
    (tmp_path / "dbt_project.yml").write_text("vars: {service: {timezone: Europe/Paris, source_timezone: Paris}}\n")
    with pytest.raises(ServiceError, match=r"vars\.service\.source_timezone: .*unknown time zone") as raised:
        declared_service(tmp_path)
    assert "vars.service.name" not in str(raised.value)


# --- the declared event source (meta.commons.usage_events, meta.usage_event roles) ----------------------------

EVENTS_ID = "source.commons_assets.service.events"


def _with_event_roles(manifest: dict, unique_id: str, roles: dict[str, str], marked: bool = True) -> dict:
    """A copy of the manifest in which the source table `unique_id` carries these column roles, and the mark
    (meta.commons.usage_events) when `marked`; every other declaration of an event source is removed."""
    variant = copy.deepcopy(manifest)
    for source in variant["sources"].values():
        for meta in (source.get("meta") or {}, (source.get("config") or {}).get("meta") or {}):
            meta.pop("commons", None)
        for column in source.get("columns", {}).values():
            for meta in (column.get("meta") or {}, (column.get("config") or {}).get("meta") or {}):
                meta.pop("usage_event", None)
    source = variant["sources"][unique_id]
    if marked:
        source["meta"] = {"commons": {"usage_events": True}}
        source.setdefault("config", {})["meta"] = {"commons": {"usage_events": True}}
    for role, name in roles.items():
        column = source["columns"][name]
        column["meta"] = {**(column.get("meta") or {}), "usage_event": role}
        column.setdefault("config", {})["meta"] = dict(column["meta"])
    return variant


def test_the_demo_declares_its_event_table_and_every_role_in_its_sources_yml(manifest):
    source = usage_event_source(manifest)
    assert source is not None
    assert (source.source_name, source.name) == ("service", "events")
    assert source.yml == "models/staging/service/_service__sources.yml"
    assert set(source.roles) == {"time", "visitor", "ip", "name"}
    # the columns named are the source's own, as its yml lists them
    assert set(source.roles.values()) <= set(manifest["sources"][EVENTS_ID]["columns"])


def test_a_project_without_a_declared_event_table_has_none(manifest):
    assert usage_event_source(_with_event_roles(manifest, EVENTS_ID, {}, marked=False)) is None


def test_a_declared_event_table_without_its_time_column_is_refused_naming_the_yml(manifest):
    roles = {r: c for r, c in usage_event_source(manifest).roles.items() if r != "time"}
    with pytest.raises(PolicyError) as raised:
        usage_event_source(_with_event_roles(manifest, EVENTS_ID, roles))
    message = str(raised.value)
    assert "models/staging/service/_service__sources.yml" in message
    assert "no column declares meta.usage_event: time" in message


def test_an_unknown_event_role_is_refused(manifest):
    roles = {**usage_event_source(manifest).roles}
    broken = _with_event_roles(manifest, EVENTS_ID, roles)
    broken["sources"][EVENTS_ID]["columns"][roles["ip"]]["config"]["meta"]["usage_event"] = "address"
    with pytest.raises(PolicyError, match=r"meta\.usage_event 'address' is not one of time, visitor, ip, name"):
        usage_event_source(broken)


def test_two_declared_event_tables_are_refused_naming_both_and_their_yml(manifest):
    variant = _with_event_roles(manifest, EVENTS_ID, usage_event_source(manifest).roles)
    other_id = "source.commons_assets.service.reports"
    other = variant["sources"][other_id]
    other["config"]["meta"] = {"commons": {"usage_events": True}}
    other["columns"]["created_at"]["config"]["meta"]["usage_event"] = "time"
    with pytest.raises(PolicyError) as raised:
        usage_event_source(variant)
    message = str(raised.value)
    assert "2 source tables declare meta.commons.usage_events" in message
    assert "service.events (models/staging/service/_service__sources.yml)" in message
    assert "service.reports (models/staging/service/_service__sources.yml)" in message
