"""The Dagster home the CLI, the benchmark and `commons-assets ui` share, so CLI runs show in the UI's history."""

from __future__ import annotations

import os
from pathlib import Path

from commons_assets.settings import get_settings


def prepare_dagster_home() -> Path:
    """Create the Dagster home of the settings (DAGSTER_HOME, else COMMONS_HOME/dagster) and point DAGSTER_HOME at
    it, for this process and the ones it starts."""
    home = get_settings().dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        # run monitoring: the daemon fails runs stuck starting or cancelling; a run whose process died while
        # STARTED is failed by the next run of the warehouse (commons_assets/release/lock.py), since the default
        # run launcher cannot check a run worker's health
        config.write_text("telemetry:\n  enabled: false\nrun_monitoring:\n  enabled: true\n")
    os.environ["DAGSTER_HOME"] = str(home)
    return home
