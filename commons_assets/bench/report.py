"""The table the benchmark prints, and its last three lines."""

from __future__ import annotations

from commons_assets.bench.timing import STAGES, Sampled, stage_of


def print_table(f: dict, release: Sampled, pandas_run: Sampled, say) -> None:
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
    for stage in STAGES:
        keys = [k for k in f["steps_s"] if stage_of(k) == stage]
        if keys or stage != "other steps":
            rows.append((f"  step: {stage} ({len(keys)} step{'s' if len(keys) != 1 else ''})",
                         f"{f['stages_s'][stage]:8.1f} s"))  # fmt: skip
    for key, seconds in sorted(f["steps_s"].items(), key=lambda kv: -kv[1]):
        rows.append((f"    {key}", f"{seconds:8.2f} s"))
    rows.append((f"incremental release of {f['week']} (one more week), wall", f"{f['incremental_wall_s']:8.1f} s"))
    for stage in STAGES:
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
