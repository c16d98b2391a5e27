"""Processes timed and sampled for memory (the release, pandas), stage times from the Dagster run, and the time to
load the code location."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from commons_assets.bench.common import MB, SAMPLE_EVERY_S, BenchError

# Dagster step keys → release stage.
STAGES = ("dbt build", "gate", "export", "publish", "other steps")


def stage_of(step_key: str) -> str:
    if step_key == "service_dbt_models":
        return "dbt build"
    if step_key.endswith("privacy_gate") or "privacy_gate" in step_key:
        return "gate"
    if step_key == "release_export":
        return "export"
    if step_key == "release_publication":
        return "publish"
    return "other steps"




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
                        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                            commands.add(" ".join(proc.cmdline())[:160])
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




def dagster_home() -> Path:
    from commons_assets.dagster_home import prepare_dagster_home

    return prepare_dagster_home()


def run_release(week: str, target: Path) -> tuple[Sampled, str]:
    cmd = [sys.executable, "-m", "commons_assets.cli", "release", "--week", week, "--target", str(target)]
    result = run_sampled(cmd, root_role="python (release CLI)", env=dict(os.environ))
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise BenchError(f"the release of {week} failed (exit {result.returncode}):\n{tail}")
    match = re.search(r"\(run ([0-9a-f-]{36})\)", result.stdout + result.stderr)
    return result, (match.group(1) if match else "")


def step_times(run_id: str) -> tuple[str, dict[str, float], dict[str, float], float | None]:
    """(run id, wall seconds per step key, per stage, run wall from the run's own start and end)."""
    import dagster as dg

    dagster_home()
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
    stages = dict.fromkeys(STAGES, 0.0)
    for key, seconds in steps.items():
        stages[stage_of(key)] += seconds
    return run_id, steps, stages, run_wall




def code_location_load(runs: int = 2) -> list[float]:
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

def mb(n: float) -> float:
    return n / MB
