"""`run_bench()`: seed, full release, incremental release, floor, pandas, code location, in that order."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from commons_assets.bench.floor import compiled_published_sql, time_floor
from commons_assets.bench.pandas_baseline import run_pandas
from commons_assets.bench.report import print_table
from commons_assets.bench.seeding import (
    forget_usage_history,
    ledger_kept,
    seed_at_scale,
    source_counts,
    week_bounds,
)
from commons_assets.bench.timing import (
    code_location_load,
    dagster_home,
    mb,
    run_release,
    step_times,
)
from commons_assets.settings import get_settings
from commons_assets.week import Week


def run_bench(users: int, events: int, week: str | None, out=sys.stdout, *, seed: bool = True) -> dict:
    """Seed, full release, incremental release, floor, pandas, code location; print the figures and return
    them.

    `week` is the week of the incremental run: the data end with it. The full run releases the week before,
    from an empty usage history (nothing counted, nothing frozen), as a service's first release; the
    incremental run then releases `week` on top of it, as the schedule does every Monday. The floor and
    pandas compute the full run's week."""
    from commons_assets import warehouse
    from commons_assets.dbt.project import ensure_manifest
    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    settings = get_settings()
    release_week, until = week_bounds(week or Week.last_complete().label)
    week = release_week.label
    full_monday = release_week.previous().monday
    full_week = release_week.previous().label
    info = warehouse.resolve()
    warehouse.check_reachable(info)
    dagster_home()
    ensure_manifest()
    figures: dict = {"users": users, "events": events, "week": week, "full_week": full_week,
                     "until": until.isoformat(), "seeded": seed}  # fmt: skip
    say(f"bench: {users:,} users, {events:,} events, full release of {full_week}, then {week} incrementally, "
        f"warehouse {info.describe()}, schema {settings.source_schema}")  # fmt: skip

    if seed:
        seed_s, counts = seed_at_scale(info, settings.source_schema, users, events, until)
        say(f"  seeded in {seed_s:.1f} s: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    else:
        seed_s, counts = 0.0, source_counts(info, settings.source_schema)
        say("  not seeded (--no-seed): " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    figures.update(seed_s=seed_s, rows=counts)
    forget_usage_history(info, settings.dbt_target_schema)

    with tempfile.TemporaryDirectory(prefix="commons-bench-") as tmp:
        workdir = Path(tmp)
        with ledger_kept(info):
            release, run_id = run_release(full_week, workdir / "releases")
            run_id, steps, stages, run_wall = step_times(run_id)
            say(f"  full release of {full_week} done in {release.wall_s:.1f} s (run {run_id})")
            incremental, incremental_run_id = run_release(week, workdir / "releases")
            incremental_run_id, incremental_steps, incremental_stages, _ = step_times(incremental_run_id)
            say(f"  incremental release of {week} done in {incremental.wall_s:.1f} s (run {incremental_run_id})")

        compiled, k = compiled_published_sql(full_monday, info, workdir)
        floor, floor_via = time_floor(compiled, info)
        floor_s = sum(floor.values())
        say(f"  floor done in {floor_s:.1f} s")

        pandas_run, pandas_detail = run_pandas(info, settings.source_schema, full_monday, k, workdir)
        say(f"  pandas done in {pandas_run.wall_s:.1f} s")

    load_times = code_location_load()

    figures.update(
        run_id=run_id,
        release_wall_s=release.wall_s,
        release_run_wall_s=run_wall,
        steps_s=steps,
        stages_s=stages,
        release_peak_rss_mb=mb(release.peak_python_rss),
        release_peak_total_rss_mb=mb(release.peak_total_rss),
        release_peak_rss_by_process_mb={role: mb(v) for role, v in release.peak_by_role.items()},
        release_samples=release.samples,
        release_commands={role: sorted(c) for role, c in release.commands_by_role.items()},
        incremental_run_id=incremental_run_id,
        incremental_wall_s=incremental.wall_s,
        incremental_steps_s=incremental_steps,
        incremental_stages_s=incremental_stages,
        incremental_peak_rss_mb=mb(incremental.peak_python_rss),
        incremental_to_full=incremental.wall_s / release.wall_s,
        floor_s=floor_s,
        floor_by_model_s=floor,
        floor_via=floor_via,
        pandas_wall_s=pandas_run.wall_s,
        pandas_detail_s=pandas_detail.get("times", {}),
        pandas_rows=pandas_detail.get("rows", {}),
        pandas_peak_rss_mb=mb(pandas_run.peak_python_rss),
        code_location_load_s=min(load_times),
        code_location_load_runs_s=load_times,
    )
    figures["ratio_to_floor"] = release.wall_s / floor_s if floor_s > 0 else float("inf")
    figures["speedup_vs_pandas"] = pandas_run.wall_s / release.wall_s
    figures["peak_rss_mb"] = max(figures["release_peak_rss_mb"], figures["incremental_peak_rss_mb"])
    print_table(figures, release, pandas_run, say)
    say(f"incremental_to_full={figures['incremental_to_full']:.3f}")
    say(f"ratio_to_floor={figures['ratio_to_floor']:.2f}")
    say(f"speedup_vs_pandas={figures['speedup_vs_pandas']:.2f}")
    say(f"peak_rss_mb={figures['peak_rss_mb']:.0f}")
    return figures
