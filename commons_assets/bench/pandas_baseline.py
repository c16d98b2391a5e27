"""The naive baseline: the published tables computed by pandas after `read_sql` of the source tables.

Run as a process of its own (`python -m commons_assets.bench.pandas_baseline <json>`), sampled like the release;
it imports neither Dagster nor dbt."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

from commons_assets.bench.common import BenchError
from commons_assets.bench.timing import Sampled, run_sampled
from commons_assets.week import TIMEZONE, Week


def _pandas_cmd(info, schema: str, monday: dt.date, k: int, out_dir: Path) -> list[str]:
    from commons_assets.dbt.project import service_project_dir

    args = {
        "url": info.sqlalchemy_url(),
        "schema": schema,
        "monday": monday.isoformat(),
        "k": k,
        "out": str(out_dir),
        # passed rather than imported there: importing commons_assets.dbt loads Dagster, which pandas needs not
        "catalogue": str(service_project_dir() / "seeds" / "feature_catalogue.csv"),
    }
    return [sys.executable, "-m", "commons_assets.bench.pandas_baseline", json.dumps(args)]


def _iso_week(ts) -> object:
    """'2026-W47' labels of a tz-aware datetime Series, in the service time zone (as the models' to_iso_week).
    Vectorised, as a naive pandas job would write it, rather than Week per value: millions of rows."""
    local = ts.dt.tz_convert(TIMEZONE)
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
    week_end = pd.Timestamp(Week(dt.date.fromisoformat(monday)).end_at)
    from psycopg import sql

    engine = sa.create_engine(url)
    # SQLAlchemy takes text: the schema is quoted by psycopg.sql, then written out
    source = sql.Identifier(schema).as_string()
    with engine.connect() as conn:
        users = pd.read_sql(f"select * from {source}.users", conn)
        reports = pd.read_sql(f"select * from {source}.reports", conn)
        categories = pd.read_sql(f"select * from {source}.categories", conn)
        communes = pd.read_sql(f"select * from {source}.communes", conn)  # noqa: F841 (read, as a naive job does)
        events = pd.read_sql(
            f"select event_id, event_name, occurred_at, visitor_id, session_id from {source}.events", conn
        )
    engine.dispose()
    for frame, column in ((users, "created_at"), (reports, "created_at"), (events, "occurred_at")):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    catalogue = pd.read_csv(catalogue, dtype=str)
    t1 = time.perf_counter()
    times["read_sql"] = t1 - t0

    # user_cohorts_weekly
    u = users[users["created_at"] < week_end]
    created_local = u["created_at"].dt.tz_convert(TIMEZONE)
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


def run_pandas(info, schema: str, monday: dt.date, k: int, workdir: Path) -> tuple[Sampled, dict]:
    cmd = _pandas_cmd(info, schema, monday, k, workdir / "pandas")
    result = run_sampled(cmd, root_role="python (pandas)", env=dict(os.environ))
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BenchError(f"the pandas baseline failed (exit {result.returncode}):\n{tail}")
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return result, (json.loads(lines[-1]) if lines else {})


def _pandas_main(payload: str) -> int:
    args = json.loads(payload)
    detail = pandas_baseline(
        args["url"], args["schema"], args["monday"], int(args["k"]), args["out"], args["catalogue"]
    )
    print(json.dumps(detail))
    return 0


if __name__ == "__main__":
    # run by run_pandas() as a process of its own, so that its memory is sampled apart from ours
    sys.exit(_pandas_main(sys.argv[1]))
