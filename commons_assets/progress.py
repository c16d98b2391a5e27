"""What the terminal shows while a release or a validation runs: each stage as it starts and ends, with its
duration, read from the Dagster run's own events (so the times are the ones the UI shows for the run).

The in-process executor runs one step at a time, so a start line is always followed by its end line.
"""

from __future__ import annotations

from typing import TextIO

# Step keys of the weekly job and what a person calls them; a step not listed is shown under its key.
_STAGES = {
    "warehouse_setup": "setup (ledger and Matomo tables)",
    "warehouse_setup_source_schema_classified": "source schema audit (every column classified)",
    "matomo_weekly_usage": "Matomo week",
    "service_dbt_models": "dbt build (models and tests)",
    "usage_exemption_report": "CNIL exemption report",
    "release_export": "export (CSV, Parquet, schemas, README, privacy report)",
    "release_publication": "publication",
}
_GATE_SUFFIX = "_privacy_gate"


def stage_label(step_key: str) -> str:
    """A step key → the stage's name: `open_data__<model>_privacy_gate` → privacy gate: …"""
    if step_key in _STAGES:
        return _STAGES[step_key]
    if step_key.endswith(_GATE_SUFFIX):
        model = step_key[: -len(_GATE_SUFFIX)].rsplit("__", 1)[-1]
        return f"privacy gate: {model}"
    return step_key


def _seconds(value: float) -> str:
    return f"{value:.1f} s"


class StageProgress:
    """An event listener (DagsterInstance.add_event_listener) that prints one line per stage start and end."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._started: dict[str, float] = {}
        self.lines: list[str] = []

    def _print(self, line: str) -> None:
        self.lines.append(line)
        print(line, file=self._out, flush=True)

    def on_event(self, entry) -> None:
        event = entry.dagster_event
        if event is None or not event.step_key:
            return
        kind = event.event_type_value
        step, label = event.step_key, stage_label(event.step_key)
        if kind == "STEP_START":
            self._started[step] = entry.timestamp
            self._print(f"  {'start':<6} {label}")
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            took = entry.timestamp - self._started.pop(step, entry.timestamp)
            mark = "done" if kind == "STEP_SUCCESS" else "FAILED"
            self._print(f"  {mark:<6} {label} ({_seconds(took)})")
        elif kind == "STEP_SKIPPED":
            self._print(f"  skip   {label} (an upstream stage failed or was blocked)")
