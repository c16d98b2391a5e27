"""Typed settings read from the environment: every variable the code reads is declared here, once.

Nothing here is read at import time: every caller asks `get_settings()` when it needs a value, so that
tests, the CLI and `dagster dev` can each point the same code at their own warehouse and folders.

Secrets (the warehouse URL, which may hold a password, the Matomo token, the data.gouv.fr key) are declared so
that the settings know whether they are set, but they never appear in `repr()` or in an error message; Dagster
resources still read them through `dg.EnvVar`. The Matomo and data.gouv.fr variables are checked by their own
modules (`MatomoSettings.from_env`, `DatagouvSettings.from_env`), whose messages say how to fix them.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from commons_assets.errors import SettingsError

__all__ = ["Settings", "SettingsError", "get_settings"]

# The folder holding local state (warehouse data, Dagster home, export staging); git-ignored. Its default is
# computed once from where the dbt project is, never from the directory a command is run in.
HOME_FOLDER = ".commons"
# The demo's dbt project, bundled with the repository: the default service.
BUNDLED_DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
DEFAULT_SOURCE_SCHEMA = "service"
DEFAULT_DBT_SCHEMA = "commons"
DEFAULT_MATOMO_SCHEMA = "matomo"
DEFAULT_RELEASES_DIR = "releases"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SECRETS = ("COMMONS_WAREHOUSE_URL", "MATOMO_TOKEN", "DATAGOUV_API_KEY")


def _env(name: str, **kwargs):
    return Field(validation_alias=name, **kwargs)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, env_ignore_empty=True, extra="ignore", case_sensitive=True)

    home_setting: Path | None = _env("COMMONS_HOME", default=None)
    # The service's dbt project (models, sources yml, publication settings); default: the bundled demo.
    dbt_project_dir: Path = _env("COMMONS_DBT_PROJECT_DIR", default=BUNDLED_DBT_PROJECT_DIR)
    warehouse_url: str | None = _env("COMMONS_WAREHOUSE_URL", default=None, repr=False)
    warehouse_port: int = _env("COMMONS_WAREHOUSE_PORT", default=0, ge=0, le=65535)
    source_schema: str = _env("COMMONS_SOURCE_SCHEMA", default=DEFAULT_SOURCE_SCHEMA)
    dbt_target_schema: str = _env("COMMONS_DBT_SCHEMA", default=DEFAULT_DBT_SCHEMA)
    matomo_schema: str = _env("COMMONS_MATOMO_SCHEMA", default=DEFAULT_MATOMO_SCHEMA)
    releases_dir: Path = _env("COMMONS_RELEASES_DIR", default=Path(DEFAULT_RELEASES_DIR))
    # The only place the pipeline writes to local disk; point it at a volume in production.
    export_staging_dir_setting: Path | None = _env("COMMONS_EXPORT_STAGING_DIR", default=None)
    repository_url: str | None = _env("COMMONS_REPOSITORY_URL", default=None)
    datagouv_ids_file: Path | None = _env("COMMONS_DATAGOUV_IDS_FILE", default=None)
    # The clock of « last complete week » and of the demo seed's default end: tests and replays pin it.
    today_setting: dt.date | None = _env("COMMONS_TODAY", default=None)
    dagster_home_setting: Path | None = _env("DAGSTER_HOME", default=None)
    # How long a run waits for the warehouse's release lock held by another run before it gives up: a weekly
    # release takes minutes, so a schedule that meets a CLI run waits for it rather than failing at once.
    release_lock_wait_s: float = _env("COMMONS_RELEASE_LOCK_WAIT_S", default=900, ge=0)
    # dbt's own variable, read here too: dagster-dbt writes each build's compiled project under it, where the
    # gate's lineage reads this run's compiled SQL. Relative to the dbt project, as dbt reads it.
    dbt_target_path: Path | None = _env("DBT_TARGET_PATH", default=None)
    # Tests only: a run stops for ever at this stage, after writing the pause file, so that a test can kill it
    # there (release/lock.py `pause_for_tests`).
    test_pause_at: Literal["dbt", "gate", "export", "publication"] | None = _env("COMMONS_TEST_PAUSE_AT", default=None)
    test_pause_file: Path | None = _env("COMMONS_TEST_PAUSE_FILE", default=None)

    matomo_url: str | None = _env("MATOMO_URL", default=None)
    matomo_site_id: str | None = _env("MATOMO_SITE_ID", default=None)
    matomo_token: SecretStr | None = _env("MATOMO_TOKEN", default=None, repr=False)
    matomo_declared_ip_masked_bytes: str | None = _env("MATOMO_DECLARED_IP_MASKED_BYTES", default=None)
    matomo_declared_visitor_cookie_days: str | None = _env("MATOMO_DECLARED_VISITOR_COOKIE_DAYS", default=None)
    matomo_declared_raw_data_retention_days: str | None = _env(
        "MATOMO_DECLARED_RAW_DATA_RETENTION_DAYS", default=None
    )
    datagouv_api_key: SecretStr | None = _env("DATAGOUV_API_KEY", default=None, repr=False)
    datagouv_organization: str | None = _env("DATAGOUV_ORGANIZATION", default=None)
    datagouv_environment: str | None = _env("DATAGOUV_ENVIRONMENT", default=None)
    datagouv_base_url: str | None = _env("DATAGOUV_BASE_URL", default=None)

    @field_validator("source_schema", "dbt_target_schema", "matomo_schema", mode="before")
    @classmethod
    def _schema_name(cls, value):
        value = str(value).strip()
        if not _IDENTIFIER.match(value):
            raise ValueError(
                "is not a valid PostgreSQL schema name (lower case letters, digits and _, starting with a letter)"
            )
        return value

    @field_validator("warehouse_url", "repository_url", mode="before")
    @classmethod
    def _stripped(cls, value):
        return (str(value).strip() or None) if value is not None else None

    @field_validator(
        "home_setting", "dbt_project_dir", "releases_dir", "export_staging_dir_setting", "dagster_home_setting",
        mode="after",
    )
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @property
    def home(self) -> Path:
        """COMMONS_HOME, else `.commons` beside the dbt project (the repository's root for the bundled demo, the
        project's folder for a service's own project): an absolute path, the same from any working directory."""
        if self.home_setting is not None:
            return self.home_setting
        if self.dbt_project_dir == BUNDLED_DBT_PROJECT_DIR:
            return BUNDLED_DBT_PROJECT_DIR.parent / HOME_FOLDER
        return self.dbt_project_dir / HOME_FOLDER

    @property
    def today(self) -> dt.date:
        """COMMONS_TODAY, else today in the service's publishing zone (the zone its weeks are cut in)."""
        if self.today_setting:
            return self.today_setting
        from commons_assets.week import publishing_timezone

        return dt.datetime.now(ZoneInfo(publishing_timezone())).date()

    def dbt_target_dir(self, project_dir: Path) -> Path:
        """DBT_TARGET_PATH (default `target`) as dbt resolves it for the project in `project_dir`."""
        target = self.dbt_target_path or Path("target")
        return target if target.is_absolute() else project_dir / target

    @property
    def export_staging_dir(self) -> Path:
        return self.export_staging_dir_setting or self.home / "staging"

    @property
    def warehouse_data_dir(self) -> Path:
        return self.home / "warehouse"

    @property
    def dagster_home(self) -> Path:
        return self.dagster_home_setting or self.home / "dagster"

    @property
    def matomo_enabled(self) -> bool:
        return any((self.matomo_url, self.matomo_site_id, self.matomo_token))

    def variables(self) -> dict[str, str]:
        """The declared variables that are set, by name, as text, secrets in the clear: for the modules that check
        their own variables with their own messages (Matomo, data.gouv.fr). Never log or print it."""
        values = {}
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            values[info.validation_alias] = value.isoformat() if isinstance(value, dt.date) else str(value)
        return values

    def is_set(self, variable: str) -> bool:
        """Whether an environment variable declared here has a (non-empty) value, secrets included."""
        for name, info in type(self).model_fields.items():
            if info.validation_alias == variable:
                return getattr(self, name) is not None
        raise KeyError(f"{variable} is not a declared setting")


def _message(error: dict) -> str:
    variable = str(error["loc"][0]) if error.get("loc") else "a setting"
    reason = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    if variable in _SECRETS:
        return f"{variable} {reason}"  # never the value
    return f"{variable}={error.get('input')!r}: {reason}"


def get_settings() -> Settings:
    """The settings as the environment says now (built at each call: a variable changed since is honoured)."""
    try:
        return Settings()
    except ValidationError as err:
        raise SettingsError("; ".join(_message(e) for e in err.errors(include_url=False))) from None
