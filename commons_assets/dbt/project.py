"""The one dbt project and the manifest everything else reads (assets, privacy policy, publishing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from commons_assets.errors import ManifestError

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
_WATCHED = ("models", "macros", "seeds", "tests", "dbt_project.yml", "profiles.yml")
# Settings rendered into the manifest at parse time (source schema, target schema): a change re-parses.
_PARSE_ENV = ("COMMONS_SOURCE_SCHEMA", "COMMONS_DBT_SCHEMA", "COMMONS_MATOMO_SCHEMA")


PREPARE_COMMAND = "commons-assets prepare"


def dbt_project() -> DbtProject:
    """The project, once its manifest is prepared. Never parses: loading the definitions must not start
    `dbt parse` (seconds, a subprocess, at every import); the CLI, the tests and `commons-assets ui` call
    `ensure_manifest()` first. A missing or stale manifest fails closed: a model added since the last parse
    would otherwise be published without its privacy gate."""
    if manifest_is_stale(DBT_PROJECT_DIR):
        raise ManifestError(
            f"the dbt manifest ({DBT_PROJECT_DIR / 'target' / 'manifest.json'}) is missing or older than the dbt "
            f"project or its settings: run `{PREPARE_COMMAND}` (or any of release, validate, ui), then load again"
        )
    return _project()


@cache
def _project() -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_resource() -> DbtCliResource:
    # The dbt installed beside this Python, so that a venv works without being activated.
    return DbtCliResource(
        project_dir=dbt_project(), profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=str(_dbt_executable())
    )


def _dbt_executable() -> Path:
    beside = Path(sys.executable).with_name("dbt")
    return beside if beside.exists() else Path("dbt")


def _parse_env() -> str:
    # the raw variables rather than the settings: the stamp must change with any spelling dbt's env_var() sees
    return json.dumps({name: os.environ.get(name, "") for name in _PARSE_ENV}, sort_keys=True)


def _stamp(manifest: Path) -> str:
    return _parse_env() + f"\n{manifest.stat().st_mtime_ns}"


def manifest_is_stale(project_dir: Path = DBT_PROJECT_DIR) -> bool:
    manifest = project_dir / "target" / "manifest.json"
    stamp = project_dir / "target" / ".parse_env.json"
    # The stamp records the settings and the manifest it was made with: a `dbt parse` run by hand with other
    # settings changes the manifest's mtime, and we parse again.
    if not manifest.exists() or not stamp.exists() or stamp.read_text() != _stamp(manifest):
        return True
    built = manifest.stat().st_mtime
    for name in _WATCHED:
        path = project_dir / name
        paths = path.rglob("*") if path.is_dir() else [path]
        if any(p.is_file() and p.stat().st_mtime > built for p in paths):
            return True
    return False


def ensure_manifest(project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """Parse the dbt project when its manifest is missing or older than a model, macro or yml.

    Parsing takes seconds, so it happens here (CLI, tests) rather than at every code-location load.
    """
    manifest = project_dir / "target" / "manifest.json"
    if manifest_is_stale(project_dir):
        dbt = _dbt_executable()
        result = subprocess.run(
            [str(dbt), "parse", "--quiet", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            detail = (result.stdout + result.stderr).strip().splitlines()
            raise ManifestError("dbt parse failed: " + " | ".join(detail[-5:]))
        (project_dir / "target" / ".parse_env.json").write_text(_stamp(manifest))
    return manifest


def load_manifest(project_dir: Path = DBT_PROJECT_DIR) -> dict:
    return json.loads((project_dir / "target" / "manifest.json").read_text())
