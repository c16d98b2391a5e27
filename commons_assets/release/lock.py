"""One release at a time per warehouse: a PostgreSQL advisory lock held by each run from start to end.

Two runs that share a warehouse share its dbt schemas: without a lock, one run rebuilds a table after the other
run's gate checked it and before that run exported it, and a week's folder ends up holding another week's rows.
So every run of the job takes a session-level advisory lock, keyed by the dbt schema, on a connection of its own
that it holds until the run ends (the `release_lock` resource: the job runs in one process, with the in-process
executor, so the resource is set up once per run, before the first step, and torn down after the last). Whatever
launches the run (the CLI, the schedule, a backfill, the UI) goes through it. A run killed with `kill -9` loses
its connection, and PostgreSQL releases the lock at once.

A second run waits for the lock, at most COMMONS_RELEASE_LOCK_WAIT_S seconds (default 900), then gives up with
one line naming the run that holds it (the CLI exits 1). Once it holds the lock, a run cleans up after the runs
that died before it (commons_assets/release/recovery.py) and marks them failed in Dagster: a dead run is a run of
this warehouse still STARTED whose lock connection no longer exists.

Tests only: COMMONS_TEST_PAUSE_AT=<stage> (dbt, gate, export, publication) makes a run stop at that point and
write COMMONS_TEST_PAUSE_FILE, so that a test can `kill -9` it there deterministically (tests/test_crash.py).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from commons_assets.errors import CommonsError
from commons_assets.settings import get_settings
from commons_assets.warehouse import check_reachable, resolve

LOCK_TAG = "commons/release_lock"
# application_name of a lock connection: the run id after it lets a run tell live runs from dead ones
_APPLICATION_PREFIX = "commons-assets run "
_POLL_S = 1.0
# application_name of `commons-assets dbt`'s lock connection (not a run: never reaped as a dead one)
DBT_APPLICATION = "commons-assets dbt"
# dbt commands that write no table: they run beside a release without the lock
READ_ONLY_DBT_COMMANDS = frozenset({"parse", "compile", "ls", "list", "docs", "debug", "deps", "clean", "show"})
PAUSE_AT_SETTING = "COMMONS_TEST_PAUSE_AT"
PAUSE_FILE_SETTING = "COMMONS_TEST_PAUSE_FILE"


class ReleaseLockBusy(CommonsError):
    """Another run of the same warehouse held the release lock for longer than this run would wait."""


def lock_label(info, schema: str) -> str:
    """Which lock: the warehouse and the dbt schema (two services in one database do not block each other)."""
    return f"{info.host}:{info.port}/{info.dbname}/{schema}"


def _lock_ids(conn, schema: str) -> tuple[int, int]:
    (namespace, key) = conn.execute("select hashtext('commons_assets.release'), hashtext(%s)", (schema,)).fetchone()
    return namespace, key


def _holder_application(conn, ids: tuple[int, int]) -> str | None:
    """The application_name of the session holding the lock (None if it is free)."""
    row = conn.execute(
        "select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid "
        "where l.locktype = 'advisory' and l.granted and l.objsubid = 2 "
        "and l.database = (select oid from pg_database where datname = current_database()) "
        "and l.classid = %s::bigint::oid and l.objid = %s::bigint::oid",
        (ids[0] & 0xFFFFFFFF, ids[1] & 0xFFFFFFFF),
    ).fetchone()
    return None if row is None else (row[0] or "")


def _holder(conn, ids: tuple[int, int]) -> str | None:
    """The run id holding the lock (None if it is free, or held by something that is not a run of ours)."""
    name = _holder_application(conn, ids)
    if name is None or not name.startswith(_APPLICATION_PREFIX):
        return None
    return name[len(_APPLICATION_PREFIX) :]


def _who(conn, ids: tuple[int, int]) -> str:
    """The holder, as the waiting side's message names it."""
    name = _holder_application(conn, ids) or ""
    if name.startswith(_APPLICATION_PREFIX):
        return f"run {name[len(_APPLICATION_PREFIX) :]}"
    if name == DBT_APPLICATION:
        return "a `commons-assets dbt` command"
    return "another session"


def _live_runs(conn) -> set[str]:
    rows = conn.execute(
        "select application_name from pg_stat_activity where application_name like %s",
        (_APPLICATION_PREFIX + "%",),
    ).fetchall()
    return {name[len(_APPLICATION_PREFIX) :] for (name,) in rows}


def acquire(conn, schema: str, wait_s: float, say=print) -> float:
    """Take the release lock on `conn` (autocommit), waiting at most `wait_s` seconds; returns the seconds
    waited. Raises ReleaseLockBusy, naming the run that holds it."""
    ids = _lock_ids(conn, schema)
    started = time.monotonic()
    announced = False
    while True:
        (taken,) = conn.execute("select pg_try_advisory_lock(%s, %s)", ids).fetchone()
        if taken:
            return time.monotonic() - started
        who = _who(conn, ids)
        waited = time.monotonic() - started
        if waited >= wait_s:
            raise ReleaseLockBusy(
                f"another release of this warehouse ({who}) still holds the release lock of schema {schema!r} "
                f"after {waited:.0f} s of waiting (COMMONS_RELEASE_LOCK_WAIT_S={wait_s:g}): run again once it has "
                "finished"
            )
        if not announced:
            say(f"waiting for the release lock of schema {schema!r}, held by {who} (at most {wait_s:g} s)")
            announced = True
        time.sleep(min(_POLL_S, max(wait_s - waited, 0.05)))


def reap_dead_runs(instance, conn, label: str, run_id: str) -> list[str]:
    """Mark failed the runs of this warehouse that Dagster still thinks STARTED but whose lock connection is
    gone (killed, or lost with their machine). Called under the lock."""
    live = _live_runs(conn)
    dead = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], tags={LOCK_TAG: label})):
        if run.run_id != run_id and run.run_id not in live:
            instance.report_run_failed(
                run, message="marked failed by a later run: this run's process died without finishing"
            )
            dead.append(run.run_id)
    return dead


def recover(conn, *, instance, label: str, run_id: str, say) -> None:
    """Everything a dead run may have left, put right before this run does anything (see recovery.py)."""
    from commons_assets.ledger import end_publication, pending_publications, published_checksums
    from commons_assets.release.recovery import reconcile_week_folder, remove_dead_staging

    if instance is not None:
        for dead in reap_dead_runs(instance, conn, label, run_id):
            say(f"run {dead} died without finishing: marked failed")
    for removed in remove_dead_staging(get_settings().export_staging_dir, keep={run_id} | _live_runs(conn)):
        say(f"staging folder of run {removed} removed")
    for dead_run, week, target in pending_publications(conn):
        if dead_run == run_id:
            continue
        if target.startswith("datagouv:"):
            # the portal cannot be rolled back from here: the ledger keeps the last recorded release, and the
            # next publication of that week replaces the resources it finds
            action = f"publication of {week} to {target} by run {dead_run} did not finish; it will be made again"
        else:
            recorded = published_checksums(conn, week=week, target=target)
            action = reconcile_week_folder(Path(target), week, recorded)
        end_publication(conn, run_id=dead_run)
        say(f"unfinished publication of run {dead_run}: {action}")


@contextlib.contextmanager
def _held(info, application_name: str, schema: str, wait_s: float, say) -> Iterator[tuple[object, float]]:
    """The release lock of `schema`, held on a connection of its own named `application_name` (which tells the
    waiting side who holds it); yields the connection and the seconds waited, and releases the lock on exit."""
    import psycopg

    with psycopg.connect(info.conninfo(), autocommit=True, application_name=application_name) as conn:
        waited = acquire(conn, schema, wait_s, say=say)
        try:
            yield conn, waited
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.execute("select pg_advisory_unlock_all()")


class ReleaseLock(dg.ConfigurableResource):
    """Holds the warehouse's release lock for the whole run (see the module's docstring). `url` as the
    warehouse resource's: None means COMMONS_WAREHOUSE_URL or the embedded server."""

    url: str | None = None

    @contextlib.contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[ReleaseLock]:
        settings = get_settings()
        info = resolve(self.url)
        check_reachable(info)
        run_id = context.run.run_id if context.run is not None else "ephemeral"
        label = lock_label(info, settings.dbt_target_schema)
        log = context.log

        def say(message: str) -> None:
            if log is not None:
                log.info(message)
            print(message, file=sys.stderr)

        schema = settings.dbt_target_schema
        with _held(info, _APPLICATION_PREFIX + run_id, schema, settings.release_lock_wait_s, say) as (conn, waited):
            if log is not None:
                log.info(f"release lock of schema {schema!r} taken after {waited:.1f} s of waiting")
            instance = context.instance
            if instance is not None and context.run is not None:
                instance.add_run_tags(run_id, {LOCK_TAG: label})
            recover(conn, instance=instance, label=label, run_id=run_id, say=say)
            yield self


def dbt_needs_lock(dbt_args: list[str]) -> bool:
    """Does this dbt command line write tables a release reads? Unknown commands are assumed to (fail closed)."""
    command = next((arg for arg in dbt_args if not arg.startswith("-")), None)
    return command not in READ_ONLY_DBT_COMMANDS


@contextlib.contextmanager
def held_for_dbt(info, schema: str, wait_s: float, say=print) -> Iterator[None]:
    """The release lock, for an analyst's `commons-assets dbt build` (or run, seed, run-operation…): it rebuilds the
    tables a release reads, so it must not run between a release's gate and its export. It waits for a running
    release, and a release started meanwhile waits for it, naming it."""
    with _held(info, DBT_APPLICATION, schema, wait_s, say):
        yield


def release_lock_resource() -> ReleaseLock:
    # Through dg.EnvVar, as the warehouse resource: the URL may hold a password.
    from commons_assets.warehouse import URL_SETTING

    if get_settings().warehouse_url:
        return ReleaseLock(url=dg.EnvVar(URL_SETTING))
    return ReleaseLock()


def pause_for_tests(stage: str) -> None:
    """Tests only (COMMONS_TEST_PAUSE_AT): stop here for ever, so that a test can kill the run at this stage."""
    settings = get_settings()
    if settings.test_pause_at != stage:
        return
    if settings.test_pause_file:
        settings.test_pause_file.write_text(f"{os.getpid()} {stage}\n", encoding="utf-8")
    while True:
        time.sleep(60)
