"""Shared fixtures: a real PostgreSQL, a seeded demo service, a throwaway Dagster home.

`commons_env` is session-scoped and autouse, and it must run before anything imports
`commons_assets.definitions`: settings are read from the environment at call time, and pointing the
environment at a throwaway home first is what keeps the tests away from a developer's own warehouse,
releases and Dagster history. With COMMONS_WAREHOUSE_URL set, the tests use that server instead, in schemas
of their own (test_service, test_commons_*), which they drop and recreate.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

# A fixed last day of data, so that releases are reproducible whatever the date the tests run on.
DEMO_UNTIL = dt.date(2026, 11, 25)
DEMO_WEEK = "2026-W47"  # the last complete ISO week before DEMO_UNTIL
DEMO_USERS = 3000
DEMO_EVENTS = 40_000
SOURCE_SCHEMA = "test_service"


@pytest.fixture(scope="session", autouse=True)
def commons_env(tmp_path_factory) -> Path:
    # Not under pytest's own temp root: every new pytest session closes that root again (mode 0700), and the
    # embedded server runs as another system user that must keep reaching its data directory.
    home = Path(tempfile.mkdtemp(prefix="commons-tests-"))
    os.environ.update(
        COMMONS_HOME=str(home),
        COMMONS_SOURCE_SCHEMA=SOURCE_SCHEMA,
        COMMONS_DBT_SCHEMA="test_commons",
        COMMONS_MATOMO_SCHEMA="test_matomo_usage",
        COMMONS_RELEASES_DIR=str(home / "releases"),
        DAGSTER_HOME=str(home / "dagster"),
        COMMONS_TODAY=DEMO_UNTIL.isoformat(),  # the clock: release tests never depend on the real date
    )
    (home / "dagster").mkdir()
    (home / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    yield home
    if not os.environ.get("COMMONS_WAREHOUSE_URL"):
        from commons_assets import warehouse

        warehouse.stop_embedded(home / "warehouse")
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def warehouse_info(commons_env):
    from commons_assets import warehouse

    info = warehouse.resolve()
    warehouse.check_reachable(info, attempts=10)
    return info


@pytest.fixture
def db(warehouse_info):
    with psycopg.connect(warehouse_info.conninfo(), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def manifest(commons_env) -> dict:
    from commons_assets.dbt.project import ensure_manifest, load_manifest

    ensure_manifest()
    return load_manifest()


def seed(warehouse_info, **overrides) -> dict[str, int]:
    from commons_assets.demo.seed import seed_demo

    params = dict(schema=SOURCE_SCHEMA, users=DEMO_USERS, events=DEMO_EVENTS, seed=7, until=DEMO_UNTIL)
    params.update(overrides)
    from commons_assets.settings import get_settings
    from commons_assets.ledger import reset_usage_history

    with psycopg.connect(warehouse_info.conninfo()) as conn:
        counts = seed_demo(conn, **params)
    with psycopg.connect(warehouse_info.conninfo()) as conn:
        # a reseeded demo is a new history: no usage week of the previous one is counted or frozen
        reset_usage_history(conn, dbt_schema=get_settings().dbt_target_schema)
    return counts


@pytest.fixture(scope="session")
def demo_counts(warehouse_info) -> dict[str, int]:
    """The demo service seeded once per session; tests that plant leaks reseed it afterwards."""
    return seed(warehouse_info)


@pytest.fixture
def fresh_demo(warehouse_info, demo_counts):
    """A freshly seeded demo for a test that alters the source (planted leaks, schema drift); the demo is
    seeded again afterwards so that the tests after it see a clean service."""
    yield seed(warehouse_info)
    seed(warehouse_info)
