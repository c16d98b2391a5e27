"""`commons-assets`: one command for each thing a person does.

    commons-assets demo seed [--users N] [--events M] [--seed S] [--until DATE]
    commons-assets release [--week 2026-W47] [--target DIR]
    commons-assets validate [--week 2026-W47]
    commons-assets ui [--port 3000]
    commons-assets bench [--users N] [--events M] [--week 2026-W47]
    commons-assets prepare
    commons-assets dbt ARGS…            (dbt on the service's project, with the warehouse settings set)
    commons-assets init DIR [--source-schema NAME]
    commons-assets warehouse start|stop|url

COMMONS_DBT_PROJECT_DIR names the service's dbt project (default: the bundled demo) for every command.

Errors a person can fix (a bad setting, an unreachable server, a bad argument) are one clear line and exit 1;
a blocked release exits 2; anything else is a bug, shown with its traceback, and exits 3.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import sys
import traceback
from pathlib import Path

from commons_assets.dagster_home import prepare_dagster_home
from commons_assets.errors import CommonsError, InputError
from commons_assets.settings import get_settings

EXIT_BLOCKED = 2  # the release was stopped by a check: nothing was published
EXIT_ERROR = 1  # a setting or an input is wrong
EXIT_BUG = 3  # an unexpected exception: a bug to report, with its traceback


class CliError(InputError):
    """The command cannot do what was asked; the message says why."""


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error; here 2 means « blocked », so a usage error is EXIT_ERROR."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date as YYYY-MM-DD") from None


def _load_dotenv() -> None:
    """Read `.env` from the current folder, as `dagster dev` does; variables already set win."""
    from dotenv import load_dotenv

    path = Path.cwd() / ".env"
    if path.is_file():
        load_dotenv(path, override=False)


def _cmd_demo_seed(args: argparse.Namespace) -> int:
    import psycopg

    from commons_assets import warehouse
    from commons_assets.demo.seed import seed_demo
    from commons_assets.ledger import reset_usage_history

    settings = get_settings()
    info = warehouse.resolve()
    warehouse.check_reachable(info)
    until = args.until
    started = dt.datetime.now()
    with psycopg.connect(info.conninfo()) as conn:
        counts = seed_demo(
            conn, schema=settings.source_schema, users=args.users, events=args.events, seed=args.seed, until=until
        )
        # a new demo is a new history: the usage weeks counted or frozen from the previous one are forgotten
        reset_usage_history(conn, dbt_schema=settings.dbt_target_schema)
    took = (dt.datetime.now() - started).total_seconds()
    print(f"demo service seeded in schema {settings.source_schema!r} of {info.describe()} in {took:.1f} s:")
    for table, rows in counts.items():
        print(f"  {table:<12} {rows:>12,} rows")
    return 0


def _run_weekly_release(
    week: str, target: str | None, publish: bool, *, allow_empty: bool = False, republish: bool = False
) -> int:
    import dagster as dg
    from dagster._core.utils import make_new_run_id

    from commons_assets import warehouse
    from commons_assets.dbt.project import ensure_manifest
    from commons_assets.progress import StageProgress
    from commons_assets.release.outcome import PlainWriter, render_event_log
    from commons_assets.week import Week, releasable_week

    release_week = releasable_week(week or Week.last_complete().label)
    week, partition_key = release_week.label, release_week.partition_key
    info = warehouse.resolve()
    warehouse.check_reachable(info)
    where = _preflight(info, week, target, publish, republish)
    prepare_dagster_home()
    ensure_manifest()
    from commons_assets.definitions import JOB_NAME, VALIDATION_JOB_NAME, defs
    from commons_assets.service import load_service

    load_service()  # a missing vars.service key stops validate too, before a run, not only the export

    job = defs.resolve_job_def(JOB_NAME if publish else VALIDATION_JOB_NAME)
    run_config: dict = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    if publish:
        publication: dict = {"republish": republish}
        if target:
            publication["target"] = where
        run_config["ops"] = {
            "release_publication": {"config": publication},
            "release_export": {"config": {"allow_empty": allow_empty}},
        }
    # A validation records nothing in the Dagster home the UI reads: its materialisations would show a
    # validated week as filled among the released ones. Its log file below is its record.
    instance = dg.DagsterInstance.get() if publish else dg.DagsterInstance.ephemeral()
    run_id = make_new_run_id()
    progress = StageProgress(sys.stdout)
    instance.add_event_listener(run_id, progress.on_event)
    print(f"{'release' if publish else 'validation'} of {week} (run {run_id}):", flush=True)
    # Each run its own log, named by its run id: dbt's output (not the terminal's: the CLI prints each stage
    # and a summary, the UI has the rest), then every event of the run, without colour codes.
    logs = get_settings().home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{'release' if publish else 'validate'}-{week}-{run_id}.log"
    started = _warehouse_now(info)  # the ledger's clock, not this machine's: its rows are stamped by the server
    with open(log_path, "w", encoding="utf-8") as log:
        with contextlib.redirect_stdout(PlainWriter(log)):
            result = job.execute_in_process(
                instance=instance,
                partition_key=partition_key,
                run_config=run_config,
                raise_on_error=False,
                run_id=run_id,
                tags={"commons/launched_by": "cli"},
            )
        log.write(f"\n---- events of run {run_id} ----\n")
        log.write(render_event_log(instance.all_logs(run_id)))
    published = _published_by_run(info, week, started) if publish else []
    code = _report(result, week, publish, published)
    print(f"  log: {log_path}", file=sys.stderr if code else sys.stdout)
    return code


DATAGOUV_TARGET = "datagouv"


def _preflight(info, week: str, target: str | None, publish: bool, republish: bool) -> str | None:
    """Everything that can be known wrong before any work, in seconds: the source schema, the target, a week
    older than the last one published. Returns the target as the job is given it."""
    import psycopg

    from commons_assets.ledger import last_published_week
    from commons_assets.release.assets import refuse_older_week
    from commons_assets.release.targets import check_folder_target

    settings = get_settings()
    with psycopg.connect(info.conninfo(), autocommit=True) as conn:
        (exists,) = conn.execute(
            "select exists (select 1 from information_schema.schemata where schema_name = %s)",
            (settings.source_schema,),
        ).fetchone()
        if not exists:
            raise CliError(
                f"the source schema {settings.source_schema!r} does not exist in {info.describe()}: "
                "set COMMONS_SOURCE_SCHEMA to the service's schema"
            )
        if not publish:
            return None
        if target == DATAGOUV_TARGET:
            return target  # the publisher asks the portal itself, before uploading anything
        where = str(check_folder_target(Path(target) if target else settings.releases_dir))
        refuse_older_week(week, last_published_week(conn, target=where), where, republish)
    return where


def _warehouse_now(info) -> dt.datetime:
    import psycopg

    with psycopg.connect(info.conninfo(), autocommit=True) as conn:
        return conn.execute("select now()").fetchone()[0]


def _published_by_run(info, week: str, since: dt.datetime) -> list[str]:
    """The targets the ledger says this run published `week` to: the outcome is what is recorded, not what
    the steps reported."""
    import psycopg

    from commons_assets.ledger import published_by_run

    with psycopg.connect(info.conninfo(), autocommit=True) as conn:
        return published_by_run(conn, week=week, since=since)


def _report(result, week: str, publish: bool, published: list[str]) -> int:
    import dagster as dg

    from commons_assets.release.outcome import EXIT_BUG, EXIT_OK, facts_of, verdict

    facts = facts_of(result, published)
    code = verdict(facts)
    warned = facts.warned_checks
    verb = "release" if publish else "validation"
    if code != EXIT_OK:
        if facts.published_targets:
            print(f"{verb} of {week} was PUBLISHED to {', '.join(facts.published_targets)} (run {result.run_id}), "
                  "but a step failed afterwards:", file=sys.stderr)
        elif code == EXIT_BLOCKED:
            print(f"{verb} of {week} BLOCKED (run {result.run_id}); nothing was published.", file=sys.stderr)
        else:
            print(f"{verb} of {week} FAILED (run {result.run_id}); nothing was published.", file=sys.stderr)
        for check, description in facts.failed_checks:
            print(f"  failed check {check}", file=sys.stderr)
            for line in check_lines(description):
                print(f"      {line}", file=sys.stderr)
        for failure in facts.failures:
            print(f"  failed step {failure.step}: {failure.message}", file=sys.stderr)
        if code == EXIT_BUG:
            print("  (an unexpected error: a bug, please report it with the run's log, which holds its traceback)",
                  file=sys.stderr)
        return code
    if not publish:
        print(f"validation of {week} passed: every published model passes the privacy gate (run {result.run_id}).")
        _print_warned(warned)
        return 0
    [materialization] = [
        m for m in result.asset_materializations_for_node("release_publication")
        if m.asset_key == dg.AssetKey("release_publication")  # the node also materialises each published dataset
    ]
    metadata = materialization.metadata
    datasets = metadata["datasets"].value
    if metadata["already_published"].value:
        print(f"release {week} was already published to {metadata['target'].value}: nothing changed.")
    else:
        print(f"release {week} published to {metadata['target'].value} (run {result.run_id}):")
    for dataset, item in datasets.items():
        print(f"  {dataset:<24} {item['rows']:>10,} rows  {item['licence']:<9} {item['url']}")
    print(f"  {len(datasets)} dataset(s)")
    _print_warned(warned)
    return 0


def check_lines(description: str | None) -> list[str]:
    """A check's description, one line per finding. The gate's findings are `[kind] message` joined by "; ",
    and a message may hold "; " itself: they are split only before the next `[kind]`, so that each finding
    (its kind, model and column) stays on one line. Other checks' descriptions are lists joined by "; "."""
    if not description:
        return []
    if description.startswith("["):
        return re.split(r"; (?=\[)", description)
    return description.split("; ")


def _print_warned(evaluations) -> None:
    for evaluation in evaluations:
        key = evaluation.asset_check_key
        print(f"  check {key.asset_key.to_user_string()}:{key.name} not met (declared a warning, not blocking)")
        for line in check_lines(evaluation.description):
            print(f"      {line}")


def _cmd_release(args: argparse.Namespace) -> int:
    return _run_weekly_release(
        args.week, args.target, publish=True, allow_empty=args.allow_empty, republish=args.republish
    )


def _cmd_validate(args: argparse.Namespace) -> int:
    return _run_weekly_release(args.week, None, publish=False)


def _cmd_ui(args: argparse.Namespace) -> int:
    from commons_assets import warehouse
    from commons_assets.dbt.project import ensure_manifest

    warehouse.check_reachable(warehouse.resolve())
    prepare_dagster_home()
    ensure_manifest()
    workspace = Path(__file__).resolve().parents[1] / "workspace.yaml"
    dagster = Path(sys.executable).with_name("dagster")
    os.execv(
        str(dagster),
        [str(dagster), "dev", "-w", str(workspace), "--host", args.host, "--port", str(args.port)],
    )
    return 0  # not reached


def _cmd_prepare(args: argparse.Namespace) -> int:
    from commons_assets.dbt.project import ensure_manifest

    print(f"dbt manifest ready: {ensure_manifest()}")
    return 0


def _cmd_dbt(args: argparse.Namespace) -> int:
    import subprocess

    from commons_assets import warehouse
    from commons_assets.dbt.project import _dbt_executable, dbt_package_env, ensure_manifest, service_project_dir
    from commons_assets.release.lock import dbt_needs_lock, held_for_dbt

    info = warehouse.resolve()
    warehouse.check_reachable(info)
    directory = service_project_dir()
    ensure_manifest(directory)  # installs the project's packages (our privacy macros) before the first run
    dbt_args = list(args.dbt_args)
    if dbt_args[:1] == ["--"]:
        dbt_args = dbt_args[1:]
    if not dbt_args:
        raise CliError("say which dbt command to run, e.g. `commons-assets dbt build --select staging`")
    # dbt's own options go after its subcommand; ours point it at the service's project and profile
    command = [str(_dbt_executable()), *dbt_args]
    if "--project-dir" not in dbt_args:
        command += ["--project-dir", str(directory)]
    if "--profiles-dir" not in dbt_args:
        command += ["--profiles-dir", str(directory)]
    env = {**os.environ, **info.dbt_env(), **dbt_package_env()}
    if not dbt_needs_lock(dbt_args):
        return subprocess.run(command, env=env, cwd=directory).returncode
    settings = get_settings()
    say = lambda message: print(message, file=sys.stderr)  # noqa: E731
    with held_for_dbt(info, settings.dbt_target_schema, settings.release_lock_wait_s, say=say):
        return subprocess.run(command, env=env, cwd=directory).returncode


def _cmd_init(args: argparse.Namespace) -> int:
    from commons_assets import warehouse
    from commons_assets.scaffold import init_project

    settings = get_settings()
    schema = args.source_schema or settings.source_schema
    info = warehouse.resolve()
    warehouse.check_reachable(info)
    result = init_project(Path(args.directory), schema=schema, info=info)
    print(f"dbt project for schema {schema!r} created in {result.directory}:")
    where = result.sources_file.relative_to(result.directory)
    print(f"  {where}: {result.tables} table(s), {result.columns} column(s)")
    print(f"  {result.suggested} column(s) with a suggested privacy class, none confirmed: the release stays")
    print("  blocked until an analyst sets meta.privacy on every column (see privacy_suggested, privacy_reason).")
    print(f"  next: confirm each class in {where}, then set COMMONS_DBT_PROJECT_DIR={args.directory} (in .env) and")
    print("  follow the README's « Adopting commons-assets for your service »")
    return 0


def _cmd_warehouse(args: argparse.Namespace) -> int:
    from commons_assets import warehouse

    settings = get_settings()
    if args.action == "stop":
        if settings.warehouse_url:
            raise CliError("COMMONS_WAREHOUSE_URL is set: that server is not ours to stop")
        stopped = warehouse.stop_embedded(settings.warehouse_data_dir)
        print("embedded warehouse stopped" if stopped else "embedded warehouse was not running")
        return 0
    info = warehouse.resolve()
    warehouse.check_reachable(info)
    print(f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}")
    if args.action == "url":
        # where local state lives, resolved once: the same from whatever directory the command is run
        print(f"COMMONS_HOME={settings.home}")
        print(f"COMMONS_DBT_PROJECT_DIR={settings.dbt_project_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="commons-assets",
        description="Weekly anonymised open-data releases of a public digital service.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the bundled demo service (the dbt project in dbt_project/)")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True)
    seed = demo_sub.add_parser("seed", help="(re)create the demo service's database, deterministically")
    seed.add_argument("--users", type=int, default=20_000)
    seed.add_argument("--events", type=int, default=300_000)
    seed.add_argument("--seed", type=int, default=42)
    seed.add_argument("--until", type=_date, help="last day with data, YYYY-MM-DD (default: COMMONS_TODAY, else today)")
    seed.set_defaults(func=_cmd_demo_seed)

    release = sub.add_parser("release", help="run the weekly release for one ISO week")
    release.add_argument("--week", help="ISO week, e.g. 2026-W47 (default: the last complete week)")
    release.add_argument(
        "--target",
        help="a release folder (default: COMMONS_RELEASES_DIR or ./releases), or `datagouv` to publish to "
        "data.gouv.fr (DATAGOUV_API_KEY, DATAGOUV_ORGANIZATION, DATAGOUV_ENVIRONMENT, DATAGOUV_BASE_URL)",
    )
    release.add_argument(
        "--allow-empty", action="store_true", help="publish even if every dataset is empty (a week before any data)"
    )
    release.add_argument(
        "--republish", action="store_true", help="publish a week older than the last one published to the target"
    )
    release.set_defaults(func=_cmd_release)

    validate = sub.add_parser("validate", help="build the models and run every check, without exporting")
    validate.add_argument("--week", help="ISO week, e.g. 2026-W47 (default: the last complete week)")
    validate.set_defaults(func=_cmd_validate)

    ui = sub.add_parser("ui", help="open the Dagster UI (dagster dev) on this project")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=_cmd_ui)

    from commons_assets.bench.command import add_parser as add_bench_parser

    add_bench_parser(sub)

    prepare = sub.add_parser("prepare", help="parse the dbt project (the manifest the definitions load)")
    prepare.set_defaults(func=_cmd_prepare)

    dbt = sub.add_parser(
        "dbt",
        help="run dbt on the service's project (COMMONS_DBT_PROJECT_DIR) with the warehouse settings set",
        prefix_chars="\0",  # every argument, options included, is dbt's
    )
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER)
    dbt.set_defaults(func=_cmd_dbt)

    init = sub.add_parser("init", help="create a new service's dbt project, its sources scaffolded from a schema")
    init.add_argument("directory", help="an empty or new folder")
    init.add_argument("--source-schema", help="the service's schema in the warehouse (default: COMMONS_SOURCE_SCHEMA)")
    init.set_defaults(func=_cmd_init)

    wh = sub.add_parser("warehouse", help="the embedded warehouse")
    wh.add_argument("action", choices=["start", "stop", "url"])
    wh.set_defaults(func=_cmd_warehouse)
    return parser


def main(argv: list[str] | None = None) -> int:
    _load_dotenv()
    args = build_parser().parse_args(argv)  # a usage error exits EXIT_ERROR here
    try:
        return args.func(args)
    except CommonsError as err:
        print(f"commons-assets: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception:
        traceback.print_exc()
        print("commons-assets: unexpected error (a bug, please report it with the traceback above)", file=sys.stderr)
        return EXIT_BUG

if __name__ == "__main__":
    sys.exit(main())
