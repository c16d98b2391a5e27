"""Publication to data.gouv.fr, against the real server software (udata) on loopback.

The faults udata cannot produce (429, 5xx, dropped connections) are injected by `FaultProxy`, which sits
between the publisher and udata. Every test starts from its own ids file, so that each publishes its own
datasets on the one udata the module shares.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import ipaddress
import itertools
import json
import logging
import shutil
import socket
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
import yaml

from commons_assets.release.datagouv import (
    IDS_FILE_HEADER,
    DatagouvError,
    DatagouvSettings,
    DatagouvSettingsError,
    DatasetFile,
    DatasetPublication,
    publish_release,
)
from commons_assets.release.licences import LICENCES
from tests.udata_server import Fault, FaultProxy, start_udata

pytestmark = pytest.mark.datagouv

REPO = Path(__file__).resolve().parents[1]
WEEKS = {
    "2026-W47": (dt.date(2026, 11, 16), dt.date(2026, 11, 22)),
    "2026-W48": (dt.date(2026, 11, 23), dt.date(2026, 11, 29)),
}


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def udata(tmp_path_factory):
    """One real udata for the module: starting it takes a few seconds (its venv, minutes, once per machine)."""
    server = start_udata(
        tmp_path_factory.mktemp("udata"), [dataclasses.asdict(licence) for licence in LICENCES.values()]
    )
    yield server
    server.stop()


@pytest.fixture
def proxy(udata):
    """A fresh fault-injecting proxy per test, so that one test's faults and request log never leak into
    another's."""
    proxy = FaultProxy(udata.base_url)
    yield proxy
    proxy.close()


@pytest.fixture
def settings(udata, proxy) -> DatagouvSettings:
    return DatagouvSettings(
        api_key=udata.api_key, organization=udata.organization_id, environment="demo", base_url=proxy.base_url
    )


@pytest.fixture
def ids_file(tmp_path) -> Path:
    """A copy of the committed ids file (empty environments): the tests write their ids there, never in it."""
    path = tmp_path / "datagouv.yml"
    shutil.copy(REPO / "dbt_project" / "publication" / "datagouv.yml", path)
    return path


@pytest.fixture(autouse=True)
def clean_portal(request):
    """Each test publishes on an empty organisation: its datasets are deleted afterwards, so that the next
    test's run neither finds nor reuses them (a run reuses a private dataset of its organisation that an
    earlier run created without recording it)."""
    yield
    if "udata" not in request.fixturenames:
        return
    udata = request.getfixturevalue("udata")
    session = requests.Session()
    session.headers["X-API-KEY"] = udata.api_key
    page = session.get(
        f"{udata.base_url}/api/1/organizations/{udata.organization_id}/datasets/?page_size=100", timeout=10
    ).json()
    for dataset in page["data"]:
        if not dataset.get("deleted"):
            session.delete(f"{udata.base_url}/api/1/datasets/{dataset['id']}/", timeout=10).raise_for_status()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Nothing a test runs may reach past this machine: data.gouv.fr's production portal least of all. Any
    resolution or connection to another address is refused and recorded; the test fails unless it cleared the
    record itself (the one test that checks the guard)."""
    blocked: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def is_loopback(host) -> bool:
        if host in ("localhost", None):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def getaddrinfo(host, *args, **kwargs):
        if not is_loopback(host):
            blocked.append(str(host))
            raise socket.gaierror(f"test guard: {host} is not loopback")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if isinstance(address, tuple) and not is_loopback(address[0]):
            blocked.append(str(address[0]))
            raise ConnectionRefusedError(f"test guard: {address[0]} is not loopback")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield blocked
    assert not blocked, f"a request tried to leave loopback: {blocked}"


# ------------------------------------------------------------------------------------------- the release


def make_release(root: Path, week: str) -> Path:
    """A small staged release folder, shaped as the export step writes it; its content depends on the week,
    except the cohorts' schema, identical from week to week."""
    start, _ = WEEKS[week]
    week_dir = root / week
    departements = ["01", "13", "33", "59", "69", "75"]
    shift = int(week[-2:])
    signalements = {
        "semaine": [week] * 6,
        "departement": departements,
        "categorie": ["voirie", "proprete", "eclairage", "voirie", "bruit", "proprete"],
        "nombre": [(i * 7 + shift) % 23 + 11 for i in range(6)],
    }
    cohortes = {
        "semaine": [week] * 3,
        "tranche_age": ["18-29", "30-49", "50+"],
        "usagers": [shift + 40, shift + 55, shift + 31],
    }
    for name, table in (("signalements", signalements), ("cohortes-usagers", cohortes)):
        folder = week_dir / name
        folder.mkdir(parents=True)
        columns = list(table)
        lines = [",".join(columns)] + [
            ",".join(str(table[c][i]) for c in columns) for i in range(len(table[columns[0]]))
        ]
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        pq.write_table(pa.table(table), folder / f"{name}.parquet")
        fields = [{"name": c, "type": "integer" if isinstance(table[c][0], int) else "string"} for c in columns]
        (folder / "schema.json").write_text(json.dumps({"fields": fields}, indent=2), encoding="utf-8")
    (week_dir / "README.md").write_text(f"# Publication {week}\n\nDonnées anonymisées du {start}.\n", encoding="utf-8")
    (week_dir / "datapackage.json").write_text(json.dumps({"name": "signalo", "version": week}), encoding="utf-8")
    (week_dir / "rapport-confidentialite.json").write_text(json.dumps({"semaine": week, "k": 5}), encoding="utf-8")
    (week_dir / "statistiques.html").write_text(f"<html><body>{week}</body></html>", encoding="utf-8")
    sums = [
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(week_dir).as_posix()}"
        for p in sorted(week_dir.rglob("*"))
        if p.is_file()
    ]
    (week_dir / "SHA256SUMS").write_text("\n".join(sums) + "\n", encoding="utf-8")
    return week_dir


RELEASE_DOCS = (
    DatasetFile(
        "README.md",
        "Lisez-moi de la publication",
        "Contenu, méthode d'anonymisation, seuils.",
        "documentation",
        upload_name="README.txt",
    ),
    DatasetFile(
        "datapackage.json", "Description Frictionless (datapackage.json)", "Le paquet de données.", "documentation"
    ),
    DatasetFile(
        "rapport-confidentialite.json",
        "Rapport de confidentialité",
        "Contrôles passés par la publication.",
        "documentation",
    ),
    DatasetFile(
        "SHA256SUMS",
        "Sommes de contrôle SHA-256",
        "Une ligne par fichier de la publication.",
        "documentation",
        upload_name="SHA256SUMS.txt",
    ),
)


def publications(week: str, only: str | None = None) -> list[DatasetPublication]:
    coverage = WEEKS[week]
    datasets = [
        DatasetPublication(
            slug="signalements",
            title="Signalements des usagers de Signalo",
            description=f"Signalements anonymisés, agrégés par semaine et département. Semaine **{week}**.",
            licence="odc-odbl",
            temporal_coverage=coverage,
            tags=("signalements", "signalo"),
            files=[
                (
                    "signalements/signalements.csv",
                    "Signalements (CSV)",
                    "Une ligne par semaine, département et catégorie.",
                    "main",
                    "signalements/schema.json",
                ),
                DatasetFile(
                    "signalements/signalements.parquet",
                    "Signalements (Parquet)",
                    "Les mêmes données en Parquet.",
                    "main",
                    "signalements/schema.json",
                ),
                DatasetFile(
                    "signalements/schema.json", "Schéma des signalements", "Table Schema du CSV.", "documentation"
                ),
                *RELEASE_DOCS,
            ],
        ),
        DatasetPublication(
            slug="cohortes-usagers",
            title="Cohortes d'usagers de Signalo",
            description=f"Usagers par tranche d'âge, semaine {week}.",
            licence="lov2",
            temporal_coverage=coverage,
            tags=("usagers", "signalo"),
            files=[
                DatasetFile(
                    "cohortes-usagers/cohortes-usagers.csv",
                    "Cohortes (CSV)",
                    "Usagers par tranche d'âge.",
                    "main",
                    "cohortes-usagers/schema.json",
                ),
                DatasetFile(
                    "cohortes-usagers/cohortes-usagers.parquet",
                    "Cohortes (Parquet)",
                    "Les mêmes données en Parquet.",
                    "main",
                    # A schema named as schema.data.gouv.fr names them (this udata has no catalog to check it).
                    {"name": "signalo/cohortes-usagers", "version": "1.0.0"},
                ),
                DatasetFile(
                    "cohortes-usagers/schema.json", "Schéma des cohortes", "Table Schema du CSV.", "documentation"
                ),
                *RELEASE_DOCS,
            ],
        ),
    ]
    return [d for d in datasets if only is None or d.slug == only]


def read_dataset(udata, dataset_id: str) -> dict:
    """The dataset as the portal serves it, read straight from udata (not through the proxy)."""
    response = requests.get(
        f"{udata.base_url}/api/1/datasets/{dataset_id}/", headers={"X-API-KEY": udata.api_key}, timeout=10
    )
    response.raise_for_status()
    return response.json()


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def writes(proxy: FaultProxy) -> list:
    return [e for e in proxy.exchanges if e.method in ("POST", "PUT", "DELETE")]


def assert_key_absent(key: str, *texts: str) -> None:
    for text in texts:
        assert key not in text


# ---------------------------------------------------------------------------------------------- behaviour


def test_a_release_reads_back_with_its_licences_frequency_coverage_resources_and_checksums(
    udata, settings, ids_file, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    week_dir = make_release(tmp_path, "2026-W47")
    published = publish_release(week_dir, publications("2026-W47"), settings, ids_file)

    assert [p.slug for p in published] == ["signalements", "cohortes-usagers"]
    ids = yaml.safe_load(ids_file.read_text())
    assert ids_file.read_text().startswith(IDS_FILE_HEADER)
    for publication, result in zip(publications("2026-W47"), published, strict=True):
        assert ids["demo"][result.slug]["dataset_id"] == result.dataset_id
        assert ids["demo"][result.slug]["resources"] == result.resources
        assert sorted(result.uploaded) == sorted(f.path for f in publication.files) and result.unchanged == []
        dataset = read_dataset(udata, result.dataset_id)
        assert dataset["license"] == publication.licence
        assert dataset["frequency"] == "weekly"
        assert dataset["temporal_coverage"]["start"][:10] == "2026-11-16"
        assert dataset["temporal_coverage"]["end"][:10] == "2026-11-22"
        assert dataset["private"] is False and dataset["deleted"] is None
        assert dataset["organization"]["id"] == udata.organization_id
        assert dataset["title"] == publication.title and dataset["description"] == publication.description
        assert sorted(dataset["tags"]) == sorted(publication.tags)
        remote = {r["id"]: r for r in dataset["resources"]}
        assert len(remote) == len(publication.files)
        for item in publication.files:
            resource = remote[result.resources[item.path]]
            assert (resource["title"], resource["description"], resource["type"]) == (
                item.title,
                item.description,
                item.type,
            )
            assert resource["checksum"] == {"type": "sha1", "value": sha1(week_dir / item.path)}
            assert resource["filetype"] == "file"
            if isinstance(item.schema, dict):
                assert resource["schema"] == {"name": "signalo/cohortes-usagers", "version": "1.0.0", "url": None}
            elif item.schema:
                schema_rid = result.resources[item.schema]
                assert resource["schema"]["url"].endswith(f"/api/1/datasets/r/{schema_rid}")
            else:
                assert not resource["schema"]
        formats = {item.path: remote[result.resources[item.path]]["format"] for item in publication.files}
        assert formats[f"{result.slug}/{result.slug}.csv"] == "csv"
        assert formats[f"{result.slug}/{result.slug}.parquet"] == "parquet"
        assert formats["SHA256SUMS"] == "txt"
    assert "retry" not in caplog.text  # a healthy portal answers every call the first time
    assert_key_absent(udata.api_key, caplog.text, ids_file.read_text(), repr(published), repr(settings))


def test_publishing_the_same_week_again_changes_nothing(udata, settings, ids_file, proxy, tmp_path):
    week_dir = make_release(tmp_path, "2026-W47")
    first = publish_release(week_dir, publications("2026-W47"), settings, ids_file)
    before = {p.dataset_id: read_dataset(udata, p.dataset_id) for p in first}
    proxy.reset()

    again = publish_release(week_dir, publications("2026-W47"), settings, ids_file)

    assert writes(proxy) == []  # no upload, no metadata update, no new resource
    for one, two in zip(first, again, strict=True):
        assert (two.dataset_id, two.resources) == (one.dataset_id, one.resources)
        assert two.uploaded == [] and sorted(two.unchanged) == sorted(one.uploaded)
        after = read_dataset(udata, two.dataset_id)
        assert after["last_modified"] == before[two.dataset_id]["last_modified"]
        assert [r["id"] for r in after["resources"]] == [r["id"] for r in before[two.dataset_id]["resources"]]


def test_a_second_week_replaces_every_resource_in_place(udata, settings, ids_file, proxy, tmp_path):
    first = publish_release(make_release(tmp_path, "2026-W47"), publications("2026-W47"), settings, ids_file)
    proxy.reset()
    week_dir = make_release(tmp_path, "2026-W48")

    second = publish_release(week_dir, publications("2026-W48"), settings, ids_file)

    # Only in-place replacements: no upload creates a resource.
    assert not any(e.path.endswith(f"/datasets/{p.dataset_id}/upload/") for e in proxy.exchanges for p in second)
    for one, two in zip(first, second, strict=True):
        assert two.dataset_id == one.dataset_id and two.resources == one.resources
        dataset = read_dataset(udata, two.dataset_id)
        assert dataset["temporal_coverage"]["start"][:10] == "2026-11-23"
        assert dataset["description"].endswith("2026-W48.") or "2026-W48" in dataset["description"]
        remote = {r["id"]: r for r in dataset["resources"]}
        assert set(remote) == set(two.resources.values())
        for path, rid in two.resources.items():
            assert remote[rid]["checksum"]["value"] == sha1(week_dir / path)
    cohorts = second[1]
    assert cohorts.unchanged == ["cohortes-usagers/schema.json"]  # the one file identical from week to week
    assert "cohortes-usagers/cohortes-usagers.csv" in cohorts.uploaded


def test_a_release_failing_halfway_keeps_the_announcement_and_the_next_run_repairs_it(
    udata, settings, ids_file, proxy, tmp_path, caplog
):
    first = publish_release(make_release(tmp_path, "2026-W47"), publications("2026-W47"), settings, ids_file)
    week_dir = make_release(tmp_path, "2026-W48")
    # From the 2nd upload of the run on, every upload's connection is cut, endlessly.
    proxy.inject(Fault(method="POST", path="/upload/", drop=True, skip=1, times=None))

    with pytest.raises(DatagouvError, match="dropped connection") as err:
        publish_release(week_dir, publications("2026-W48"), settings, ids_file, deadline_s=3)

    assert len([e for e in proxy.exchanges if e.outcome == "dropped"]) > 1  # retried, then gave up
    for published in first:
        dataset = read_dataset(udata, published.dataset_id)
        assert dataset["temporal_coverage"]["start"][:10] == "2026-11-16"  # still announcing W47
        assert "2026-W47" in dataset["description"]
    proxy.reset()

    repaired = publish_release(week_dir, publications("2026-W48"), settings, ids_file)

    for one, two in zip(first, repaired, strict=True):
        assert two.resources == one.resources  # same resources, no duplicate
        dataset = read_dataset(udata, two.dataset_id)
        assert dataset["temporal_coverage"]["start"][:10] == "2026-11-23"
        assert len(dataset["resources"]) == len(two.resources)
        for path, rid in two.resources.items():
            assert {r["id"]: r for r in dataset["resources"]}[rid]["checksum"]["value"] == sha1(week_dir / path)
    assert "signalements/signalements.csv" in repaired[0].unchanged  # the upload that got through is kept
    assert_key_absent(udata.api_key, str(err.value), caplog.text)


def test_a_new_dataset_stays_private_until_its_files_are_verified(udata, settings, ids_file, proxy, tmp_path):
    week_dir = make_release(tmp_path, "2026-W47")
    proxy.inject(Fault(method="POST", path="/upload/", status=500, skip=2, times=None))

    # the deadline ends the endless 500s; 2 s was too short for the GETs before them on a loaded CI machine
    with pytest.raises(DatagouvError, match="HTTP 500"):
        publish_release(week_dir, publications("2026-W47", only="signalements"), settings, ids_file, deadline_s=10)

    dataset_id = yaml.safe_load(ids_file.read_text())["demo"]["signalements"]["dataset_id"]
    assert read_dataset(udata, dataset_id)["private"] is True  # created, not announced
    proxy.reset()
    published = publish_release(week_dir, publications("2026-W47", only="signalements"), settings, ids_file)
    assert published[0].dataset_id == dataset_id
    assert read_dataset(udata, dataset_id)["private"] is False


def test_a_recorded_dataset_that_no_longer_exists_stops_the_release_without_creating_another(
    settings, ids_file, proxy, tmp_path
):
    ids_file.write_text(
        IDS_FILE_HEADER
        + "demo:\n  signalements:\n    dataset_id: 0123456789abcdef01234567\n    resources: {}\nwww: {}\n"
    )

    with pytest.raises(DatagouvError, match=r"0123456789abcdef01234567.*no longer exists.*Remove it"):
        publish_release(
            make_release(tmp_path, "2026-W47"), publications("2026-W47", only="signalements"), settings, ids_file
        )

    assert writes(proxy) == []


def test_a_file_the_portal_refuses_stops_the_release_before_anything_changes(settings, ids_file, proxy, tmp_path):
    week_dir = make_release(tmp_path, "2026-W47")
    dataset = publications("2026-W47", only="cohortes-usagers")[0]
    others = [f for f in dataset.files if f.path != "README.md"]
    as_is = dataclasses.replace(dataset, files=[*others, DatasetFile("README.md", "Lisez-moi", "", "documentation")])

    with pytest.raises(
        DatagouvError, match=r"refuses the extension of README.md \(as README.md\); nothing was published"
    ):
        publish_release(week_dir, [as_is], settings, ids_file)
    html = dataclasses.replace(
        dataset, files=[*dataset.files, DatasetFile("statistiques.html", "Statistiques", "", "documentation")]
    )
    with pytest.raises(DatagouvError, match="refuses every HTML upload"):
        publish_release(week_dir, [html], settings, ids_file)

    assert writes(proxy) == []
    assert yaml.safe_load(ids_file.read_text()) == {"demo": {}, "www": {}}


def test_a_licence_the_portal_does_not_know_stops_the_release_before_anything_changes(
    udata, settings, ids_file, proxy, tmp_path
):
    week_dir = make_release(tmp_path, "2026-W47")
    known = [item for item in requests.get(f"{udata.base_url}/api/1/datasets/licenses/", timeout=30).json()
             if item["id"] != "odc-odbl"]
    proxy.inject(Fault(method="GET", path="/api/1/datasets/licenses/", status=200, body=known))

    with pytest.raises(DatagouvError, match=r"does not know the licence odc-odbl; nothing was published"):
        publish_release(week_dir, publications("2026-W47", only="signalements"), settings, ids_file)

    assert writes(proxy) == []


def test_a_portal_without_parquet_gets_the_release_without_its_parquet_copies(
    udata, settings, ids_file, proxy, tmp_path, caplog
):
    week_dir = make_release(tmp_path, "2026-W47")
    accepted = requests.get(f"{udata.base_url}/api/1/datasets/extensions/", timeout=30).json()
    proxy.inject(Fault(method="GET", path="/api/1/datasets/extensions/", status=200,
                       body=[e for e in accepted if e != "parquet"]))
    dataset = publications("2026-W47", only="cohortes-usagers")[0]
    parquet = [f.path for f in dataset.files if f.path.endswith(".parquet")]
    assert parquet, "the fixture release must hold a Parquet copy"
    optional = dataclasses.replace(
        dataset, files=[dataclasses.replace(f, optional=f.path in parquet) for f in dataset.files]
    )

    with caplog.at_level(logging.WARNING, logger="commons_assets.release.datagouv"):
        [published] = publish_release(week_dir, [optional], settings, ids_file)

    assert set(published.resources) == {f.path for f in dataset.files} - set(parquet)
    assert "does not accept parquet files" in caplog.text


# ---------------------------------------------------------------------------------------------- HTTP faults


def test_a_503_is_retried_and_the_release_goes_through(settings, ids_file, proxy, tmp_path):
    proxy.inject(Fault(method="POST", path="/upload/", status=503, times=1))

    published = publish_release(
        make_release(tmp_path, "2026-W47"), publications("2026-W47", only="cohortes-usagers"), settings, ids_file
    )

    uploads = proxy.requests("POST", "/upload/")
    assert uploads[0].outcome == "503" and uploads[1].outcome == "201"
    assert len(published[0].resources) == len(publications("2026-W47", only="cohortes-usagers")[0].files)


def test_an_endless_500_fails_within_the_deadline_with_a_clear_message(
    udata, settings, ids_file, proxy, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    proxy.inject(Fault(status=500, times=None))

    with pytest.raises(DatagouvError) as err:
        publish_release(make_release(tmp_path, "2026-W47"), publications("2026-W47"), settings, ids_file, deadline_s=3)

    tries = proxy.exchanges
    assert len(tries) >= 3 and {(e.method, e.path, e.outcome) for e in tries} == {("GET", "/api/1/me/", "500")}
    # the give-up came from the deadline, and counted every try the portal saw
    message = str(err.value)
    assert f"failed {len(tries)} time(s)" in message, message
    assert "GET /api/1/me/" in message and "HTTP 500" in message and "3 s deadline" in message and "gave up" in message
    # backoff, not hammering: every retry waited (the shortest backoff is half its 1st ceiling)
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(tries)]
    assert min(gaps) > 0.05, gaps
    assert_key_absent(udata.api_key, message, caplog.text)


def test_a_429_waits_for_its_retry_after(settings, ids_file, proxy, tmp_path):
    proxy.inject(Fault(method="GET", path="/api/1/me/", status=429, headers={"Retry-After": "1"}, times=1))

    publish_release(
        make_release(tmp_path, "2026-W47"), publications("2026-W47", only="cohortes-usagers"), settings, ids_file
    )

    throttled, retried = proxy.requests("GET", "/api/1/me/")[:2]
    assert throttled.outcome == "429" and retried.outcome == "200"
    delay = retried.at - throttled.at
    assert 1.0 <= delay < 2.5, delay


def test_a_dropped_connection_is_retried(settings, ids_file, proxy, tmp_path):
    proxy.inject(Fault(method="PUT", path="/resources/", drop=True, times=1))

    published = publish_release(
        make_release(tmp_path, "2026-W47"), publications("2026-W47", only="cohortes-usagers"), settings, ids_file
    )

    puts = proxy.requests("PUT", "/resources/")
    assert puts[0].outcome == "dropped" and puts[1].outcome == "200"
    assert published[0].resources


def test_a_lost_answer_to_a_new_upload_creates_no_duplicate_resource(udata, settings, ids_file, proxy, tmp_path):
    # udata stores the file, then the connection drops before its answer: the retry must not upload it twice.
    proxy.inject(Fault(method="POST", path="/upload/", drop=True, forward=True, times=1))

    published = publish_release(
        make_release(tmp_path, "2026-W47"), publications("2026-W47", only="cohortes-usagers"), settings, ids_file
    )

    assert proxy.requests("POST", "/upload/")[0].outcome == "forwarded-then-dropped"
    dataset = read_dataset(udata, published[0].dataset_id)
    assert len(dataset["resources"]) == len(publications("2026-W47", only="cohortes-usagers")[0].files)


def test_a_refused_key_fails_at_once_without_showing_it(udata, ids_file, proxy, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "udata_" + "k3y" * 20
    settings = DatagouvSettings(api_key=wrong, organization=udata.organization_id, base_url=proxy.base_url)

    with pytest.raises(DatagouvError) as err:
        publish_release(make_release(tmp_path, "2026-W47"), publications("2026-W47"), settings, ids_file)

    assert [(e.method, e.path, e.outcome) for e in proxy.exchanges] == [("GET", "/api/1/me/", "401")]  # no retry
    assert "retry" not in caplog.text
    assert str(err.value) == f"DATAGOUV_API_KEY refused by {proxy.base_url} (401 on GET /api/1/me/)"
    assert err.value.__cause__ is None and err.value.__context__ is None
    assert_key_absent(wrong, str(err.value), repr(err.value), caplog.text, repr(settings))


def test_a_400_is_not_retried(udata, settings, ids_file, proxy, tmp_path, caplog):
    proxy.inject(Fault(method="PUT", status=400, times=None))

    with pytest.raises(DatagouvError, match=r"PUT /api/1/datasets/.* refused by .* \(400\): injected 400"):
        publish_release(
            make_release(tmp_path, "2026-W47"), publications("2026-W47", only="cohortes-usagers"), settings, ids_file
        )

    assert len(proxy.requests("PUT")) == 1
    assert_key_absent(udata.api_key, caplog.text)


def test_no_request_reaches_the_production_portal(udata, ids_file, tmp_path, loopback_only):
    """The guard this module runs under: settings left at `www` aim at www.data.gouv.fr, and are stopped."""
    settings = DatagouvSettings(api_key=udata.api_key, organization=udata.organization_id, environment="www")
    assert settings.base_url == "https://www.data.gouv.fr"

    with pytest.raises(DatagouvError, match="dropped connection"):
        publish_release(make_release(tmp_path, "2026-W47"), publications("2026-W47"), settings, ids_file, deadline_s=1)

    assert set(loopback_only) == {"www.data.gouv.fr"}
    loopback_only.clear()


# ---------------------------------------------------------------------------------------------- settings


def test_settings_from_the_environment():
    org = "0123456789abcdef01234567"
    demo = DatagouvSettings.from_env({"DATAGOUV_API_KEY": "secret-key", "DATAGOUV_ORGANIZATION": org})
    assert (demo.environment, demo.base_url, demo.organization) == ("demo", "https://demo.data.gouv.fr", org)
    www = DatagouvSettings.from_env(
        {"DATAGOUV_API_KEY": "k", "DATAGOUV_ORGANIZATION": org, "DATAGOUV_ENVIRONMENT": "www"}
    )
    assert www.base_url == "https://www.data.gouv.fr"
    local = DatagouvSettings.from_env(
        {"DATAGOUV_API_KEY": "k", "DATAGOUV_ORGANIZATION": org, "DATAGOUV_BASE_URL": "http://127.0.0.1:8000/"}
    )
    assert local.base_url == "http://127.0.0.1:8000"
    assert "secret-key" not in repr(demo)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATAGOUV_ORGANIZATION": "0123456789abcdef01234567"}, "DATAGOUV_API_KEY"),
        ({"DATAGOUV_API_KEY": "k"}, "DATAGOUV_ORGANIZATION"),
        ({"DATAGOUV_API_KEY": "k", "DATAGOUV_ORGANIZATION": "signalo"}, "DATAGOUV_ORGANIZATION"),
        (
            {
                "DATAGOUV_API_KEY": "k",
                "DATAGOUV_ORGANIZATION": "0123456789abcdef01234567",
                "DATAGOUV_ENVIRONMENT": "prod",
            },
            "DATAGOUV_ENVIRONMENT",
        ),
        (
            {
                "DATAGOUV_API_KEY": "k",
                "DATAGOUV_ORGANIZATION": "0123456789abcdef01234567",
                "DATAGOUV_BASE_URL": "http://data.example.org",
            },
            "DATAGOUV_BASE_URL",
        ),
        (
            {
                "DATAGOUV_API_KEY": "k",
                "DATAGOUV_ORGANIZATION": "0123456789abcdef01234567",
                "DATAGOUV_BASE_URL": "ftp://x",
            },
            "DATAGOUV_BASE_URL",
        ),
    ],
)
def test_a_missing_or_wrong_setting_is_named(env, named):
    with pytest.raises(DatagouvSettingsError, match=named):
        DatagouvSettings.from_env(env)
