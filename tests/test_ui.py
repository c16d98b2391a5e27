"""The Dagster UI, as a person sees it: `commons-assets ui` started for real, opened in headless Chromium.

Debian's chromium is driven through Playwright's protocol client (no browser download): .ci/run installs it.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from commons_assets import cli
from commons_assets.week import Week
from tests.chromium import headless_chromium
from tests.conftest import DEMO_WEEK

pytestmark = [pytest.mark.ui, pytest.mark.e2e]  # the run history needs one release through the CLI

SCREENSHOTS = Path(__file__).parents[1] / "docs" / "screenshots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cli_run(demo_counts, tmp_path_factory) -> Path:
    """One release through the CLI, so that the UI's run history has it; returns the release's folder."""
    target = tmp_path_factory.mktemp("ui_release")
    assert cli.main(["release", "--week", DEMO_WEEK, "--target", str(target)]) == 0
    return target / DEMO_WEEK


@pytest.fixture(scope="module")
def dagster_ui(cli_run, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("ui") / "dagster-dev.log"
    commons = Path(sys.executable).with_name("commons-assets")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(commons), "ui", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy(),
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(url + "/server_info", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("dagster dev did not start:\n" + log.read_text()[-3000:])
                time.sleep(1)
        yield url
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)


@pytest.fixture(scope="module")
def browser():
    with headless_chromium() as browser:
        yield browser


def test_asset_graph_shows_the_published_models(dagster_ui, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(
        dagster_ui + "/locations/commons_assets/asset-groups/open_data", wait_until="networkidle", timeout=120_000
    )
    for model in ("reports_anonymised", "user_cohorts_weekly", "feature_usage_weekly"):
        page.get_by_text(model, exact=True).first.wait_for(timeout=60_000)
    page.screenshot(path=str(tmp_path / "asset-graph.png"))
    page.close()


def test_job_schedule_and_cli_run_are_visible(dagster_ui, browser):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(dagster_ui + "/overview/automation", wait_until="networkidle", timeout=120_000)
    page.get_by_text("weekly_release_schedule", exact=True).first.wait_for(timeout=60_000)
    page.goto(dagster_ui + "/runs", wait_until="networkidle", timeout=120_000)
    # One row of the runs list holds both the job's exact name and the CLI's exact tag (the UI writes a user
    # tag as « key: value »); a loose text match would find « cli » in any word of the page. The rows are
    # blocks, not table rows: the innermost block holding both, with a single run link, is one run's row.
    job = page.get_by_text(re.compile(r"^weekly_release$"))
    tag = page.get_by_text(re.compile(r"^commons/launched_by\s*:\s*cli$"))
    row = page.locator("div").filter(has=job).filter(has=tag).last
    row.wait_for(timeout=60_000)
    # the row may link its run more than once (id, timestamp): every link in it must name the same run
    hrefs = row.locator("a[href*='/runs/']").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    run_ids = {match.group(1) for href in hrefs if (match := re.search(r"/runs/([0-9a-f-]{36})", href))}
    assert len(run_ids) == 1, f"the tag and the job name are not in one run's row ({len(run_ids)} runs)"
    page.close()



def _screenshot(page, name: str, tmp_path: Path) -> None:
    """Into the test's folder; into docs/screenshots (the README shows them) with COMMONS_UPDATE_SCREENSHOTS=1."""
    # a fresh Dagster home opens a « Join the Dagster community » dialog over the page: it is not what we show
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.first.click()
        skip.first.wait_for(state="hidden", timeout=10_000)
        page.wait_for_timeout(1500)  # the dialog fades out
    page.screenshot(path=str(tmp_path / name))
    if os.environ.get("COMMONS_UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=str(SCREENSHOTS / name))


def test_a_published_datasets_page_shows_licence_address_week_and_risk(dagster_ui, browser, cli_run, tmp_path):
    from commons_assets.release import dataset_page as labels

    report = json.loads((cli_run / "rapport-confidentialite.json").read_text(encoding="utf-8"))
    risk = report["jeux_de_donnees"]["signalements"]
    page = browser.new_page(viewport={"width": 1600, "height": 1300})
    page.goto(dagster_ui + "/assets/published/signalements", wait_until="networkidle", timeout=120_000)
    page.get_by_text(labels.RISK_MAX, exact=True).first.wait_for(timeout=60_000)
    # the status block loads on its own: the latest materialised week
    page.get_by_text(Week.parse(DEMO_WEEK).partition_key, exact=True).first.wait_for(timeout=60_000)
    text = page.inner_text("body")
    assert "odc-odbl" in text and "Open Database License" in text
    assert str(cli_run / "signalements") in text  # where it was published (a folder here, a URL on data.gouv.fr)
    assert Week.parse(DEMO_WEEK).partition_key in text  # the latest materialised week, as an ISO week
    assert re.search(rf"{re.escape(labels.LAST_WEEK)}\s+.*?\s+{DEMO_WEEK}\b", text, re.S)
    # a risk figure, as the published privacy report gives it
    assert re.search(rf"{re.escape(labels.RISK_MAX)}\s+.*?\s+{risk['risque_procureur_max']}\b", text, re.S)
    assert re.search(rf"{re.escape(labels.SMALLEST_GROUP)}\s+.*?\s+{risk['plus_petit_groupe']}\b", text, re.S)
    _screenshot(page, "published-dataset.png", tmp_path)
    page.close()


def test_the_release_run_page_shows_its_iso_week(dagster_ui, browser, cli_run, tmp_path):
    import dagster as dg

    instance = dg.DagsterInstance.get()  # the Dagster home the CLI and the UI share
    [run] = [r for r in instance.get_runs(limit=20) if r.job_name == "weekly_release"][:1]
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(dagster_ui + f"/runs/{run.run_id}", wait_until="networkidle", timeout=120_000)
    page.get_by_text("release_publication", exact=True).first.wait_for(timeout=60_000)
    page.get_by_text(Week.parse(DEMO_WEEK).partition_key, exact=True).first.wait_for(timeout=60_000)
    _screenshot(page, "release-run.png", tmp_path)
    page.close()
