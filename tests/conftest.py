"""Shared fixtures: real PostgreSQL servers, a seeded demo cloned per module or per test, throwaway homes.

How a run is laid out (see tests/pg_servers.py):
- the first pytest process makes a run folder and hands it to its xdist workers (`COMMONS_TESTS_RUN_DIR`);
- one PostgreSQL server per version for the whole run (embedded 18; Debian's 15 for the tests that run on
  both), each with a template database holding the demo seeded once with the constants below;
- each worker has its own COMMONS_HOME, DAGSTER_HOME and release folder, and a database of its own as the
  default `COMMONS_WAREHOUSE_URL`; each test module that asks for `warehouse_info` gets a clone of the template,
  and each test that asks for `fresh_demo` gets another one it may alter. Nothing is reseeded between tests and
  no test sees another's writes, so `pytest -n auto` works and the order of the tests does not matter.

`commons_env` is session-scoped and autouse, and it must run before anything imports
`commons_assets.definitions`: the warehouse resource is built with `dg.EnvVar("COMMONS_WAREHOUSE_URL")` only
when that variable is set at import time, and reads it at run time, which is what lets a module or a test point
the same definitions at its own database. The tests always start their own servers: a COMMONS_WAREHOUSE_URL
set before the run is replaced, never written to.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from tests import pg_servers

# A fixed last day of data, so that releases are reproducible whatever the date the tests run on.
DEMO_UNTIL = dt.date(2026, 11, 25)
DEMO_WEEK = "2026-W47"  # the last complete ISO week before DEMO_UNTIL
DEMO_USERS = 3000
DEMO_EVENTS = 40_000
SOURCE_SCHEMA = "test_service"

URL_SETTING = "COMMONS_WAREHOUSE_URL"
DEFAULT_PG = "18"
# Tests marked with these markers are not about the PostgreSQL version: they run on the default one only.
_NOT_VERSIONED = ("ui", "datagouv", "one_version")
_OWNED_RUN_DIR = pytest.StashKey[Path]()
_UDATA_BUILDER = pytest.StashKey[subprocess.Popen]()
_FRESH_INFO = pytest.StashKey[object]()
# Module-scoped fixtures of this conftest: cheap (a clone), so a test may share them with another worker.
_INFRA_FIXTURES = {"pg_version", "pg_server", "warehouse_info", "demo_counts"}


# ------------------------------------------------------------------------------------------------- hooks


def pytest_configure(config: pytest.Config) -> None:
    # The suite starts hundreds of Python processes (the CLI, dbt, udata): where the environment sets
    # PYTHONDONTWRITEBYTECODE (this machine's does), each would compile Dagster, dbt and Great Expectations from
    # source again, about 8 s more per release. The processes started from here (xdist's workers included) write
    # and reuse the bytecode of what they import; pip installs with --no-compile, so nothing else is compiled.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False
    # `-n N` alone means `--dist load` to xdist; here it means `--dist loadgroup` (see the groups below), unless
    # --dist is given. Set here rather than in addopts, so that `-p no:xdist` still works.
    explicit = any(arg.startswith(("--dist", "-d")) for arg in config.invocation_params.args)
    if getattr(config.option, "dist", "no") == "load" and not explicit:
        config.option.dist = "loadgroup"
    # The controller (or a run without xdist) makes the run folder; workers inherit the variable when spawned.
    if not hasattr(config, "workerinput") and not os.environ.get(pg_servers.RUN_DIR_SETTING):
        root = Path(tempfile.mkdtemp(prefix="commons-tests-"))
        os.environ[pg_servers.RUN_DIR_SETTING] = str(root)
        config.stash[_OWNED_RUN_DIR] = root


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    # Workers parse the command line again and would not see the mode chosen above: hand it to them.
    node.workerinput["commons_dist"] = node.config.option.dist


def _loadgroup(config: pytest.Config) -> bool:
    workerinput = getattr(config, "workerinput", None) or {}
    return workerinput.get("commons_dist") == "loadgroup" or bool(getattr(config.option, "loadgroup", False))


def pytest_unconfigure(config: pytest.Config) -> None:
    builder = config.stash.get(_UDATA_BUILDER, None)
    if builder is not None and builder.poll() is None:
        builder.wait()  # killing pip halfway would leave a venv that the lock's next holder rebuilds anyway
    root = config.stash.get(_OWNED_RUN_DIR, None)
    if root is not None:
        pg_servers.stop_all(root)
        pg_servers.remove_run_dir(root)
        os.environ.pop(pg_servers.RUN_DIR_SETTING, None)


def _versioned(item_or_function) -> bool:
    """Does this test run on every PostgreSQL version? End-to-end tests and those marked `pg_matrix` do, except
    those whose subject is the UI, data.gouv.fr, or is not our SQL on each version (`one_version`: the README's
    guide followed step by step, the second example's blocking cases, the benchmark, a project moved elsewhere,
    whose SQL other tests run on both)."""
    marks = {m.name for m in item_or_function.iter_markers()}
    return bool(marks & {"e2e", "pg_matrix"}) and not marks & set(_NOT_VERSIONED)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pg_version" in metafunc.fixturenames and _versioned(metafunc.definition):
        metafunc.parametrize(
            "pg_version",
            [pytest.param("18", id="pg18"), pytest.param("15", id="pg15", marks=pytest.mark.pg15)],
            indirect=True,
            scope="module",
        )


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    result = yield
    if _loadgroup(config):
        # A module's tests stay on one worker (per PostgreSQL version), so that its module-scoped fixtures (a
        # release, a udata, a browser) are built once, not once per worker. A test with a fresh demo of its own
        # and no module fixture to share goes wherever a worker is free.
        for item in items:
            names = set(getattr(item, "fixturenames", ()))
            version = item.callspec.params.get("pg_version", DEFAULT_PG) if hasattr(item, "callspec") else DEFAULT_PG
            shares_module_state = any(
                _fixture_scope(item, name) == "module" and name not in _INFRA_FIXTURES for name in names
            )
            if "fresh_demo" in names and not shares_module_state:
                continue
            _join_group(item, f"{item.nodeid.split('::')[0]}:pg{version}")
    return result


def _join_group(item: pytest.Item, group: str) -> None:
    """What `@pytest.mark.xdist_group(group)` does under `--dist loadgroup`: xdist finds the group after the
    node id's last "@". xdist 3.8 writes `item._nodeid`, which pytest 9 no longer reads (it keeps `_id`), so
    its own marker has no effect here; this writes the id pytest 9 reads."""
    from _pytest.nodeid import coerce_node_id

    item._id = coerce_node_id(f"{item.nodeid}@{group}")


def _fixture_scope(item: pytest.Item, name: str) -> str | None:
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.get(name) if info else None
    return defs[-1].scope if defs else None


def pytest_collection_finish(session: pytest.Session) -> None:
    # udata's own virtualenv takes minutes to build on a new machine: start building it now, in the background,
    # so that the data.gouv.fr tests find it ready instead of holding a worker while pip runs. Its file lock
    # makes every other builder (another worker, the fixture itself) wait for this one and reuse its result.
    if not any(item.get_closest_marker("datagouv") for item in session.items):
        return
    from tests import udata_server

    if udata_server.udata_venv_ready():
        return
    log = pg_servers.run_dir() / f"udata-venv-{os.getpid()}.log"
    with open(log, "wb") as out:
        session.config.stash[_UDATA_BUILDER] = subprocess.Popen(
            [sys.executable, str(Path(udata_server.__file__).resolve()), "venv"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )


# ---------------------------------------------------------------------------------------------- fixtures


def _url(info) -> str:
    auth = quote(info.user, safe="")
    if info.password:
        auth += ":" + quote(info.password, safe="")
    return f"postgresql://{auth}@{info.host}:{info.port}/{quote(info.dbname, safe='')}"


def _server(version: str) -> pg_servers.Server:
    try:
        return pg_servers.server(version, seed)
    except pg_servers.ServerUnavailable as err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL {version} is required in CI: {err}")
        pytest.skip(f"PostgreSQL {version} is not available here: {err}")


@pytest.fixture(scope="session", autouse=True)
def commons_env() -> Iterator[Path]:
    """This worker's throwaway home, Dagster home and release folder, its own database as the default
    warehouse, and the dbt manifest parsed once for the whole run; a developer's own warehouse, releases and
    Dagster history are never touched."""
    root = pg_servers.run_dir()
    home = root / os.environ.get("PYTEST_XDIST_WORKER", "main")
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    (home / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ.update(
        COMMONS_HOME=str(home),
        COMMONS_SOURCE_SCHEMA=SOURCE_SCHEMA,
        COMMONS_DBT_SCHEMA="test_commons",
        COMMONS_MATOMO_SCHEMA="test_matomo_usage",
        COMMONS_RELEASES_DIR=str(home / "releases"),
        DAGSTER_HOME=str(home / "dagster"),
        COMMONS_TODAY=DEMO_UNTIL.isoformat(),  # the clock: release tests never depend on the real date
    )
    from commons_assets.dbt.project import ensure_manifest

    # Every worker uses the same schema names, so one manifest serves all; parsed by one worker at a time.
    with pg_servers.file_lock(root / "dbt-parse.lock"):
        ensure_manifest()
    default = pg_servers.clone(_server(DEFAULT_PG), "worker")
    os.environ[URL_SETTING] = _url(default)
    yield home
    pg_servers.drop(default)


@pytest.fixture(scope="module")
def pg_version(request) -> str:
    """The PostgreSQL version of this module's database: parametrised (18, 15) for end-to-end tests."""
    return getattr(request, "param", DEFAULT_PG)


@pytest.fixture(scope="module")
def pg_server(pg_version, commons_env) -> pg_servers.Server:
    return _server(pg_version)


@pytest.fixture(scope="module")
def warehouse_info(pg_server, request) -> Iterator:
    """The connection info of this module's own database (a clone of the seeded template); the warehouse of
    everything the module runs (CLI, Dagster, dbt) while it runs. A test with `fresh_demo` has another one."""
    info = pg_servers.clone(pg_server, request.module.__name__.rsplit(".", 1)[-1])
    with _warehouse(info):
        yield info
    pg_servers.drop(info)


@contextlib.contextmanager
def _warehouse(info) -> Iterator[None]:
    """Point COMMONS_WAREHOUSE_URL (read at run time by the CLI, Dagster's resource and dbt) at `info`."""
    previous = os.environ.get(URL_SETTING)
    os.environ[URL_SETTING] = _url(info)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(URL_SETTING, None)
        else:
            os.environ[URL_SETTING] = previous


@pytest.fixture
def db(request, warehouse_info) -> Iterator[psycopg.Connection]:
    """An autocommit connection to this test's database: its `fresh_demo` if it has one, else its module's."""
    info = warehouse_info
    if "fresh_demo" in request.fixturenames:
        request.getfixturevalue("fresh_demo")
        info = request.node.stash[_FRESH_INFO]
    with psycopg.connect(info.conninfo(), autocommit=True) as conn:
        yield conn



def dbt_env(warehouse_info) -> dict[str, str]:
    """The environment for a dbt (or sqlfluff) command a test runs itself: that database, and a target and log
    folder of this worker's own. dbt writes its manifest into its target folder, and the run's shared
    `dbt_project/target/manifest.json` must not change under the other workers (a changed one is parsed again).
    dagster-dbt gives each of its own invocations a target folder already."""
    target = pg_servers.run_dir() / os.environ.get("PYTEST_XDIST_WORKER", "main") / "dbt-target"
    return {**os.environ, **warehouse_info.dbt_env(), "DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)}


@pytest.fixture(scope="session")
def manifest(commons_env) -> dict:
    from commons_assets.dbt.project import load_manifest

    return load_manifest()


def seed(warehouse_info, **overrides) -> dict[str, int]:
    """Seed the demo into that database, replacing what its source schema held (the template is seeded with
    this, without overrides)."""
    from commons_assets.demo.seed import seed_demo
    from commons_assets.ledger import reset_usage_history
    from commons_assets.settings import get_settings

    params = dict(schema=SOURCE_SCHEMA, users=DEMO_USERS, events=DEMO_EVENTS, seed=7, until=DEMO_UNTIL)
    params.update(overrides)
    with psycopg.connect(warehouse_info.conninfo()) as conn:
        counts = seed_demo(conn, **params)
    with psycopg.connect(warehouse_info.conninfo()) as conn:
        # a reseeded demo is a new history: no usage week of the previous one is counted or frozen
        reset_usage_history(conn, dbt_schema=get_settings().dbt_target_schema)
    return counts


@pytest.fixture(scope="module")
def demo_counts(warehouse_info, pg_server) -> dict[str, int]:
    """The seeded demo's row counts (this module's database is a clone of the template seeded once)."""
    return dict(pg_server.demo_counts)


@pytest.fixture
def fresh_demo(request, pg_server, warehouse_info) -> Iterator[dict[str, int]]:
    """A database of this test's own, holding the freshly seeded demo (a clone of the template), which the test
    may alter (planted leaks, schema drift); the CLI, Dagster and dbt use it for the length of the test, and
    `db` connects to it (`warehouse_info`, module-scoped, stays the module's database). Dropped afterwards."""
    info = pg_servers.clone(pg_server, request.node.name)
    request.node.stash[_FRESH_INFO] = info
    with _warehouse(info):
        yield dict(pg_server.demo_counts)
    pg_servers.drop(info)


# ------------------------------------------------------------------------------------ the second example

EXAMPLE_PROJECT = Path(__file__).resolve().parents[1] / "examples" / "france_services_rdv"
EXAMPLE_SCHEMA = "rdv"  # the example's own schema (its COMMONS_SOURCE_SCHEMA); its directory schema is `annuaire`
EXAMPLE_WEEK = "2026-W47"  # its seed has fixed dates, from 2026-W40 to 2026-W48


class ExampleService:
    """The second example service in a module's database, and a copy of its dbt project that the module's
    commands are pointed at (COMMONS_DBT_PROJECT_DIR)."""

    def __init__(self, info, project: Path) -> None:
        self.info = info
        self.project = project
        self.env = {**os.environ, "COMMONS_WAREHOUSE_URL": _url(info), "COMMONS_DBT_PROJECT_DIR": str(project),
                    "COMMONS_SOURCE_SCHEMA": EXAMPLE_SCHEMA}  # fmt: skip

    def cli(self, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
        """`commons-assets ARGS` on this example, in a process of its own (as a service's analyst runs it)."""
        return subprocess.run(
            [sys.executable, "-m", "commons_assets.cli", *args],
            env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip


def example_project_copy(directory: Path) -> Path:
    """A copy of the example's dbt project, its privacy package named by absolute path. The commands parse a
    project into its own target folder: each module works on a copy, so that no two workers share one, and a
    test may edit its copy (an unconfirmed class, a leaking model) without touching the repository's."""
    import shutil

    from commons_assets.dbt.project import DBT_PACKAGE_DIR

    ignored = shutil.ignore_patterns("target", "logs", "dbt_packages", "package-lock.yml")
    shutil.copytree(EXAMPLE_PROJECT, directory, ignore=ignored)
    (directory / "packages.yml").write_text(f"packages:\n  - local: {DBT_PACKAGE_DIR}\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def example_service(warehouse_info, tmp_path_factory) -> ExampleService:
    """The second example (« Rendez-vous France services ») seeded into this module's database by its own
    `seed_source` macro, as its README says: a clone of the template, so Signalo's schema is there too,
    untouched, and must never leak into the example's release. Module-scoped: seeding and parsing cost a dbt
    run each (seconds), and the example's tests only read the source."""
    example = ExampleService(warehouse_info, example_project_copy(tmp_path_factory.mktemp("example") / "rdv"))
    done = example.cli("dbt", "run-operation", "seed_source")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return example
