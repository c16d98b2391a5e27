"""`commons-assets release --target datagouv`: the demo release published to a real udata on loopback.

udata is data.gouv.fr's own server software (tests/udata_server.py starts it, in its own virtualenv).
"""

import dataclasses
import shutil
from pathlib import Path

import pytest
import requests

from commons_assets import cli
from commons_assets.release.licences import LICENCES
from tests.conftest import DEMO_WEEK
from tests.udata_server import start_udata

pytestmark = [pytest.mark.datagouv, pytest.mark.e2e]
REPO = Path(__file__).resolve().parents[1]
EXPECTED_LICENCES = {"signalements": "odc-odbl", "cohortes-usagers": "lov2", "usage-fonctionnalites": "lov2"}


@pytest.fixture(scope="module")
def udata(tmp_path_factory):
    server = start_udata(
        tmp_path_factory.mktemp("udata_release"), [dataclasses.asdict(lic) for lic in LICENCES.values()]
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def published(udata, demo_counts, tmp_path_factory):
    """Two runs of the same week through the CLI; the data.gouv.fr settings come from the environment."""
    ids_file = tmp_path_factory.mktemp("ids") / "datagouv.yml"
    shutil.copy(REPO / "dbt_project" / "publication" / "datagouv.yml", ids_file)
    env = {
        "DATAGOUV_API_KEY": udata.api_key,
        "DATAGOUV_ORGANIZATION": udata.organization_id,
        "DATAGOUV_ENVIRONMENT": "demo",
        "DATAGOUV_BASE_URL": udata.base_url,
        "COMMONS_DATAGOUV_IDS_FILE": str(ids_file),
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        first = cli.main(["release", "--week", DEMO_WEEK, "--target", "datagouv"])
        datasets_after_first = _datasets(udata)
        second = cli.main(["release", "--week", DEMO_WEEK, "--target", "datagouv"])
    return first, second, datasets_after_first, ids_file


def _datasets(udata) -> dict:
    session = requests.Session()
    session.headers["X-API-KEY"] = udata.api_key
    page = session.get(f"{udata.base_url}/api/1/organizations/{udata.organization_id}/datasets/?page_size=50",
                       timeout=30).json()
    return {d["title"]: d for d in page["data"] if not d.get("deleted")}


def test_release_to_datagouv_exits_0_and_announces_each_dataset(published, udata):
    first, _, datasets, ids_file = published
    assert first == 0
    assert len(datasets) == 3
    text = ids_file.read_text()
    for slug in EXPECTED_LICENCES:
        assert slug in text  # the ids the user commits


def test_licences_frequency_and_temporal_coverage(published, udata):
    _, _, datasets, _ = published
    by_licence = sorted(d["license"] for d in datasets.values())
    assert by_licence == sorted(EXPECTED_LICENCES.values())
    for dataset in datasets.values():
        assert dataset["frequency"] == "weekly"
        assert dataset["temporal_coverage"]["end"].startswith("2026-11-22")
        assert not dataset["private"]
        titles = {r["title"] for r in dataset["resources"]}
        assert any(t.endswith("(CSV)") for t in titles) and any(t.endswith("(Parquet)") for t in titles)
        assert "Rapport de confidentialité" in titles and "Lisez-moi de la publication" in titles
        for resource in dataset["resources"]:
            assert resource["checksum"]["value"]


def test_publishing_the_same_week_again_changes_nothing(published, udata):
    _, second, before, _ = published
    assert second == 0
    after = _datasets(udata)
    assert {t: sorted((r["id"], r["checksum"]["value"]) for r in d["resources"]) for t, d in after.items()} == {
        t: sorted((r["id"], r["checksum"]["value"]) for r in d["resources"]) for t, d in before.items()
    }


def test_api_key_is_nowhere_in_the_runs(published, udata, commons_env):
    """The Dagster home (event log, compute logs, run config), the CLI's logs, the staging folder, dbt's
    target folder: the key is in none of them."""
    needle = udata.api_key.encode()
    roots = [commons_env, REPO / "dbt_project" / "target"]
    warehouse = (commons_env / "warehouse").resolve()
    found = [
        str(p) for root in roots for p in root.rglob("*")
        if p.is_file() and warehouse not in p.resolve().parents and needle in p.read_bytes()
    ]
    assert not found, found
