"""Typed settings read from the environment.

Nothing here is read at import time: every caller asks `get_settings()` when it needs a value, so that
tests, the CLI and `dagster dev` can each point the same code at their own warehouse and folders.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

# The folder holding local state (warehouse data, Dagster home, export staging); git-ignored.
DEFAULT_HOME = ".commons"
DEFAULT_SOURCE_SCHEMA = "service"
DEFAULT_RELEASES_DIR = "releases"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the setting."""


@dataclass(frozen=True)
class Settings:
    home: Path
    warehouse_url: str | None
    source_schema: str
    releases_dir: Path
    export_staging_dir: Path
    dbt_target_schema: str

    @property
    def warehouse_data_dir(self) -> Path:
        return self.home / "warehouse"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


def _schema_name(var: str, default: str) -> str:
    value = os.environ.get(var, default).strip()
    if not _IDENTIFIER.match(value):
        raise SettingsError(
            f"{var}={value!r} is not a valid PostgreSQL schema name "
            "(lower case letters, digits and _, starting with a letter)"
        )
    return value


def get_settings() -> Settings:
    home = Path(os.environ.get("COMMONS_HOME", DEFAULT_HOME)).expanduser().resolve()
    url = os.environ.get("COMMONS_WAREHOUSE_URL", "").strip() or None
    return Settings(
        home=home,
        warehouse_url=url,
        source_schema=_schema_name("COMMONS_SOURCE_SCHEMA", DEFAULT_SOURCE_SCHEMA),
        releases_dir=Path(os.environ.get("COMMONS_RELEASES_DIR", DEFAULT_RELEASES_DIR))
        .expanduser()
        .resolve(),
        # The only place the pipeline writes to local disk; point it at a volume in production.
        export_staging_dir=Path(os.environ.get("COMMONS_EXPORT_STAGING_DIR", home / "staging"))
        .expanduser()
        .resolve(),
        dbt_target_schema=_schema_name("COMMONS_DBT_SCHEMA", "commons"),
    )
