"""The release as a reuser reads it, decided by pure helpers: French numbers, the privacy report's French and
documented keys, schema.json files that follow schema.data.gouv.fr's conventions and hold with frictionless,
the README's sections, and the dbt docs (described source and staging columns, one exposure per dataset).
The whole release is read end to end in tests/test_release.py."""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path

import pytest

from commons_assets import french
from commons_assets.privacy.policy import PersonKeySpec, load_policy
from commons_assets.privacy.risk import PERSONS, REPORT_KEYS, french_summary, risk_report
from commons_assets.release.packaging import ISO_WEEK_PATTERN, commit_url, dataset_pages, readme, table_schema
from commons_assets.service import Service, load_service

NNBSP = "\u202f"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SERVICE = Service(
    name="Rendez-vous Santé",
    producer="Agence exemple",
    contact="donnees@agence.exemple.fr",
    description="Prise de rendez-vous dans les centres de santé.",
)


# --- French numbers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (0, "0"),
        (999, "999"),
        (1000, f"1{NNBSP}000"),
        (50671, f"50{NNBSP}671"),
        (1234567, f"1{NNBSP}234{NNBSP}567"),
        (-4200, f"-4{NNBSP}200"),
    ],
)
def test_integers_are_grouped_by_three_with_a_narrow_no_break_space(value, written):
    assert french.integer(value) == written


def test_decimals_and_percentages_use_a_comma_and_a_narrow_no_break_space():
    assert french.decimal(1234.56) == f"1{NNBSP}234,6"
    assert french.percent(0.0909) == f"9,1{NNBSP}%"
    assert french.percent(1.0, digits=0) == f"100{NNBSP}%"


# --- the privacy report ---------------------------------------------------------------------------------------

RECORDS = {
    "kind": "records",
    "unit": "signalements",
    "k": 11,
    "quasi_identifiers": ["semaine"],
    "rows": 50671,
    "groups": 1204,
    "people_covered": 50671,
    "smallest_group": 11,
    "group_size_distribution": {"1": 0, "11-19": 3},
    "share_unique": 0.0,
    "prosecutor_risk_max": 0.0909,
    "prosecutor_risk_average": 0.0238,
    "suppressed_cells": 0,
    "k_reached": True,
}
AGGREGATE = {
    **RECORDS,
    "kind": "aggregate",
    "unit": "visiteurs",
    "rows": None,
    "groups": 312,
    "people_covered": 50671,
    "smallest_group": 12,
    "suppressed_cells": 1043,
}


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_every_key_of_the_privacy_report_is_french_and_documented():
    report = risk_report("2026-W47", COMMIT, {"a": 11, "b": 11}, {"a": RECORDS, "b": AGGREGATE})
    # the values of `seuils.k`, `jeux_de_donnees` and `repartition_des_tailles` are keyed by dataset or bucket
    keys = _keys(report) - {"a", "b"} - set(RECORDS["group_size_distribution"])
    assert keys <= set(REPORT_KEYS), keys - set(REPORT_KEYS)
    english = {"kind", "unit", "rows", "groups", "people_covered", "smallest_group", "k_reached", "share_unique"}
    assert not keys & english
    assert report["jeux_de_donnees"]["b"]["nature"] == "comptages"
    assert report["jeux_de_donnees"]["a"]["plus_petit_groupe"] == 11


def test_the_readme_documents_every_key_of_the_privacy_report(demo_policy):
    text = _demo_readme(demo_policy)
    for key in REPORT_KEYS:
        assert f"| `{key}` |" in text, key


def test_an_aggregate_summary_counts_cells_never_a_sum_of_cells_as_people():
    records = french_summary("signalements", RECORDS)
    assert f"50{NNBSP}671 signalements en 1{NNBSP}204 groupes" in records
    usage = french_summary("usage", AGGREGATE)
    # 50 671 is a sum of weekly cells (a visitor counts in every week and feature): never shown as a head count
    assert "50" + NNBSP + "671" not in usage and "50671" not in usage
    assert "312 cases publiées ; la plus petite compte 12 visiteurs" in usage
    assert f"1{NNBSP}043 case(s) masquée(s)" in usage
    assert f"au plus 9,1{NNBSP}%" in usage


def test_where_k_counts_persons_the_summary_says_persons_never_rows():
    # 11 appointments of 3 people: the threshold and the smallest group are in persons, the rows stay rows
    risk = {**RECORDS, "unit": "rendez-vous", "counted_in": PERSONS, "rows": 11, "groups": 1, "people_covered": 3,
            "smallest_group": 3, "k_reached": False}  # fmt: skip
    text = french_summary("rdv", risk)
    assert "11 rendez-vous en 1 groupes ; le plus petit réunit 3 personnes distinctes" in text
    assert "(seuil k = 11 personnes NON atteint)" in text
    cells = french_summary("motifs", {**AGGREGATE, "unit": "rendez-vous", "counted_in": PERSONS})
    assert "312 cases publiées ; la plus petite réunit 12 personnes distinctes (seuil k = 11 personnes" in cells
    # without a person key nothing changes: the declared unit, never « personnes »
    assert "personnes" not in french_summary("signalements", {**RECORDS, "counted_in": "signalements"})
    entry = risk_report("2026-W47", COMMIT, {"rdv": 11}, {"rdv": risk})["jeux_de_donnees"]["rdv"]
    assert entry["groupes_comptes_en"] == "personnes distinctes" and entry["plus_petit_groupe"] == 3


def test_where_k_counts_persons_the_readme_promises_persons_not_rows(demo_policy):
    records = next(m for m in demo_policy.published if m.spec.kind == "records")
    aggregate = next(m for m in demo_policy.published if m.spec.kind == "aggregate")
    key = PersonKeySpec(model="int_rows_with_their_person", column="usager_id")

    def in_persons(model):
        spec = model.spec.model_copy(update={"person_key": key})
        return dataclasses.replace(model, spec=spec, person_relation=("intermediate", key.model))

    policy = dataclasses.replace(demo_policy, published=tuple(
        in_persons(m) if m in (records, aggregate) else m for m in demo_policy.published
    ))  # fmt: skip
    lines = {line.split("**")[1]: line for line in _demo_readme(policy).splitlines() if line.startswith("- **")}
    assert f"au moins {records.spec.k} personnes distinctes (k-anonymat compté en personnes" in lines[records.dataset]
    assert f"{records.spec.k} lignes" not in lines[records.dataset]
    assert f"chaque case publiée compte au moins {aggregate.spec.k} personnes distinctes" in lines[aggregate.dataset]
    # the same datasets without a person key keep their promise in rows
    rows = {line.split("**")[1]: line for line in _demo_readme(demo_policy).splitlines() if line.startswith("- **")}
    assert f"au moins {records.spec.k} lignes (k-anonymat)" in rows[records.dataset]
    assert "personnes" not in rows[records.dataset] + rows[aggregate.dataset]


# --- schema.json ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_policy(manifest):
    return load_policy(manifest)


def test_each_schema_carries_schema_data_gouv_fr_metadata_and_described_fields(demo_policy):
    service = load_service()
    for model in demo_policy.published:
        schema = table_schema(model, service)
        for key in ("name", "title", "description", "version", "licenses", "contributors", "fields", "missingValues"):
            assert schema.get(key), (model.dataset, key)
        assert schema["name"] == model.dataset and re.fullmatch(r"\d+\.\d+\.\d+", schema["version"])
        assert schema["contributors"][0]["title"] == service.producer
        assert schema["licenses"][0]["name"] == model.spec.licence
        assert schema["missingValues"] == [""]
        for field in schema["fields"]:
            where = (model.dataset, field["name"])
            assert field["title"] and field["title"] != field["name"], where
            assert field["description"] and field["example"], where
            assert "required" in field["constraints"], where
        by_name = {f["name"]: f for f in schema["fields"]}
        assert by_name[model.spec.period_column]["constraints"]["pattern"] == ISO_WEEK_PATTERN
        for column in model.columns:
            if column.privacy == "count":
                assert by_name[column.name]["constraints"]["minimum"] == model.spec.k


def test_accepted_values_become_an_enum(demo_policy):
    enums = {
        (m.dataset, f["name"]): f["constraints"]["enum"]
        for m in demo_policy.published
        for f in table_schema(m)["fields"]
        if "enum" in f["constraints"]
    }
    assert enums, "the demo declares accepted_values on a published column"
    for (dataset, column), values in enums.items():
        model = next(m for m in demo_policy.published if m.dataset == dataset)
        assert values == list(next(c for c in model.columns if c.name == column).accepted_values)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _validate(tmp_path: Path, schema: dict, rows: list[list[str]]):
    from frictionless import Resource, Schema

    path = _write_csv(tmp_path / "data.csv", [f["name"] for f in schema["fields"]], rows)
    return Resource(path=path.name, schema=Schema.from_descriptor(schema), basepath=str(tmp_path)).validate()


def test_every_schema_is_valid_for_frictionless_and_its_examples_satisfy_it(demo_policy, tmp_path):
    from frictionless import Schema

    for model in demo_policy.published:
        schema = table_schema(model, load_service())
        Schema.from_descriptor(schema)  # raises on an invalid descriptor
        example = [f["example"] for f in schema["fields"]]
        report = _validate(tmp_path, schema, [example])
        assert report.valid, (model.dataset, report.flatten(["fieldName", "type", "note"]))


def test_frictionless_rejects_a_week_a_value_and_a_count_the_schema_forbids(demo_policy, tmp_path):
    for model in demo_policy.published:
        schema = table_schema(model)
        fields = schema["fields"]
        example = [f["example"] for f in fields]
        period = [f["name"] for f in fields].index(model.spec.period_column)
        bad_week = list(example)
        bad_week[period] = "2026-47"
        report = _validate(tmp_path, schema, [bad_week])
        assert not report.valid and report.flatten(["type"]) == [["constraint-error"]], model.dataset
        for index, field in enumerate(fields):
            wrong = None
            if "enum" in field["constraints"]:
                wrong = "inconnu"
            elif "minimum" in field["constraints"]:
                wrong = str(field["constraints"]["minimum"] - 1)
            if wrong is None:
                continue
            row = list(example)
            row[index] = wrong
            assert not _validate(tmp_path, schema, [row]).valid, (model.dataset, field["name"])
            # an empty cell is a suppressed or emptied value: allowed where the column is not required
            row[index] = ""
            assert _validate(tmp_path, schema, [row]).valid == (not field["constraints"]["required"])


# --- the README -------------------------------------------------------------------------------------------------


def _files(policy) -> list[dict]:
    return [
        {"dataset": m.dataset, "path": f"{m.dataset}/{m.dataset}.csv", "rows": 50671, "bytes": 10, "sha256": "0" * 64}
        for m in policy.published
    ]


def _demo_readme(policy, **overrides) -> str:
    params = dict(
        week="2026-W47",
        policy=policy,
        files=_files(policy),
        risk_summaries={},
        code_version=COMMIT,
        repository_url="https://forge.exemple.fr/commons-assets",
        service=SERVICE,
        pages={m.dataset: {"url": f"https://www.data.gouv.fr/fr/datasets/{m.dataset}/"} for m in policy.published},
    )
    return readme(**{**params, **overrides})


def test_the_readme_answers_who_what_how_to_cite_which_code_and_what_can_be_reproduced(demo_policy):
    text = _demo_readme(demo_policy)
    for section in (
        "## Producteur et contact",
        "## Jeux de données",
        "## Méthode",
        "## Licences",
        "## Comment citer",
        "## Version du code",
        "## Reproduire",
    ):
        assert f"\n{section}\n" in text, section
    assert "Producteur : Agence exemple" in text
    assert "[donnees@agence.exemple.fr](mailto:donnees@agence.exemple.fr)" in text
    assert "> Rendez-vous Santé, Agence exemple, semaine 2026-W47." in text
    assert f"[`{COMMIT}`](https://forge.exemple.fr/commons-assets/commit/{COMMIT})" in text
    assert "git clone https://forge.exemple.fr/commons-assets commons-assets" in text
    reproduce = text.split("## Reproduire")[1]
    assert "base de données source" in reproduce and "n'est pas publiée" in reproduce
    assert "sha256sum -c SHA256SUMS" in reproduce and "frictionless validate datapackage.json" in reproduce
    for model in demo_policy.published:
        assert f"<https://www.data.gouv.fr/fr/datasets/{model.dataset}/>" in text


def test_the_readme_writes_numbers_the_french_way(demo_policy):
    text = _demo_readme(demo_policy)
    assert f"| 50{NNBSP}671 |" in text and "50671" not in text


def test_the_readme_links_no_commit_it_cannot_name():
    assert commit_url("https://forge.exemple.fr/x", COMMIT + "-dirty").endswith(f"/commit/{COMMIT}")
    assert commit_url("", COMMIT) == ""
    assert commit_url("https://forge.exemple.fr/x", "0.1.0") == ""


def test_a_dirty_checkout_is_said_and_no_repository_is_not_invented(demo_policy):
    text = _demo_readme(demo_policy, code_version=COMMIT + "-dirty", repository_url="")
    assert "modifications non enregistrées" in text and "/commit/" not in text
    assert "COMMONS_REPOSITORY_URL" in text and "git clone" not in text


def test_each_resource_of_the_data_package_links_its_data_gouv_fr_page(demo_policy):
    from commons_assets.release.packaging import datapackage

    files = _files(demo_policy)
    first = files[0]["dataset"]
    package = datapackage("2026-W47", demo_policy, files, COMMIT, SERVICE, (), {first: {"url": "https://x.fr/d/"}})
    homepages = {r["name"]: r.get("homepage") for r in package["resources"]}
    assert homepages.pop(first) == "https://x.fr/d/" and not any(homepages.values())


# --- dbt docs: described columns and exposures --------------------------------------------------------------


def test_every_published_model_is_an_exposure_with_its_url_and_owner(manifest, demo_policy):
    pages = dataset_pages(manifest, demo_policy)
    assert set(pages) == {m.dataset for m in demo_policy.published}
    for dataset, page in pages.items():
        assert re.match(r"^https://(www|demo)\.data\.gouv\.fr/fr/datasets/[a-z0-9-]+/$", page["url"]), dataset
        assert page["owner"], dataset


def test_a_dataset_without_an_exposure_has_no_page_and_a_bad_url_is_ignored(manifest, demo_policy):
    exposures = {name: dict(e) for name, e in manifest["exposures"].items()}
    first = sorted(exposures)[0]
    exposures[first]["url"] = "javascript:alert(1)"
    pages = dataset_pages({**manifest, "exposures": exposures}, demo_policy)
    assert len(pages) == len(demo_policy.published) - 1


def _described(column: dict) -> bool:
    return bool((column.get("description") or "").strip())


def test_every_source_column_is_described(manifest):
    missing = [
        f"{s['source_name']}.{s['name']}.{c}"
        for s in manifest["sources"].values()
        for c, column in s["columns"].items()
        if not _described(column)
    ]
    undescribed_tables = [s["unique_id"] for s in manifest["sources"].values() if not s.get("description")]
    assert not missing and not undescribed_tables, (missing, undescribed_tables)


def _models_under(manifest, folder: str) -> list[dict]:
    return [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["original_file_path"].startswith(f"models/{folder}/")
    ]


def _selected_columns(node: dict, manifest: dict) -> set[str]:
    """The columns a model's SQL selects, read with sqlglot from its raw SQL: its sources and refs become tables
    with the columns their yml declares (so a `select *` expands), other Jinja a null."""
    from commons_assets.privacy.lineage import select_lineage

    sources = {(s["source_name"], s["name"]): s for s in manifest["sources"].values()}
    refs = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")}
    schema: dict = {"src": {}, "ref": {}}

    def _source(match: re.Match) -> str:
        source = sources[(match.group(1), match.group(2))]
        schema["src"][source["name"]] = {c: "text" for c in source["columns"]}
        return f"src.{source['name']}"

    def _ref(match: re.Match) -> str:
        ref = refs[match.group(1)]
        schema["ref"][ref["name"]] = {c: "text" for c in ref["columns"]}
        return f"ref.{ref['name']}"

    raw = re.sub(r"\{\{\s*source\(\s*'([^']+)'\s*,\s*'([^']+)'\s*\)\s*\}\}", _source, node["raw_code"])
    raw = re.sub(r"\{\{\s*ref\(\s*'([^']+)'\s*\)\s*\}\}", _ref, raw)
    raw = re.sub(r"\{\{.*?\}\}", "null", raw, flags=re.S)
    raw = re.sub(r"\{%.*?%\}", "", raw, flags=re.S)
    return set(select_lineage(raw, schema))


@pytest.mark.parametrize("folder", ["staging", "intermediate"])
def test_every_staging_and_intermediate_column_is_described(manifest, folder):
    models = _models_under(manifest, folder)
    assert models
    for node in models:
        assert node.get("description"), node["name"]
        assert node["columns"], f"{node['name']} declares no column in its yml"
        undescribed = [name for name, column in node["columns"].items() if not _described(column)]
        assert not undescribed, (node["name"], undescribed)


def test_every_column_a_staging_model_selects_is_declared_in_its_yml(manifest):
    # read from the SQL, so that a column added to a model but not to its yml cannot go undocumented
    for node in _models_under(manifest, "staging"):
        selected = _selected_columns(node, manifest)
        assert selected, node["name"]
        assert selected <= set(node["columns"]), (node["name"], sorted(selected - set(node["columns"])))
