"""The service's dbt project (COMMONS_DBT_PROJECT_DIR, default the bundled demo) and the manifest everything else
reads (assets, privacy policy, publishing). The project is read from the settings at each call, never at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from commons_assets.errors import ManifestError
from commons_assets.settings import get_settings

# The privacy macros and generic tests, a dbt package any service's packages.yml names as a `local:` package.
DBT_PACKAGE_DIR = Path(__file__).resolve().parents[1] / "dbt_package"
DBT_PACKAGE_NAME = "commons_privacy"
# A service's packages.yml names the package through this variable, which commons-assets sets for every dbt
# command it runs: the project then holds no path of one machine and uses the macros of the installed engine.
DBT_PACKAGE_ENV = "COMMONS_PRIVACY_PACKAGE_DIR"
_WATCHED = ("models", "macros", "seeds", "tests", "dbt_project.yml", "profiles.yml", "packages.yml")
# Settings rendered into the manifest at parse time (source schema, target schema): a change re-parses.
_PARSE_ENV = ("COMMONS_SOURCE_SCHEMA", "COMMONS_DBT_SCHEMA", "COMMONS_MATOMO_SCHEMA")


PREPARE_COMMAND = "commons-assets prepare"


def service_project_dir() -> Path:
    """The service's dbt project, as COMMONS_DBT_PROJECT_DIR says now; a clear error when it is not one."""
    directory = get_settings().dbt_project_dir
    if not (directory / "dbt_project.yml").is_file():
        raise ManifestError(
            f"COMMONS_DBT_PROJECT_DIR={str(directory)!r} is not a dbt project (no dbt_project.yml there); "
            "create one with `commons-assets init DIR`"
        )
    return directory


def dbt_project() -> DbtProject:
    """The project, once its manifest is prepared. Never parses: loading the definitions must not start
    `dbt parse` (seconds, a subprocess, at every import); the CLI, the tests and `commons-assets ui` call
    `ensure_manifest()` first. A missing or stale manifest fails closed: a model added since the last parse
    would otherwise be published without its privacy gate."""
    directory = service_project_dir()
    if manifest_is_stale(directory):
        raise ManifestError(
            f"the dbt manifest ({directory / 'target' / 'manifest.json'}) is missing or older than the dbt "
            f"project or its settings: run `{PREPARE_COMMAND}` (or any of release, validate, ui), then load again"
        )
    return _project(directory)


@cache
def _project(directory: Path) -> DbtProject:
    return DbtProject(project_dir=directory, profiles_dir=directory)


def dbt_resource() -> DbtCliResource:
    # The dbt installed beside this Python, so that a venv works without being activated.
    return DbtCliResource(
        project_dir=dbt_project(), profiles_dir=str(service_project_dir()), dbt_executable=str(_dbt_executable())
    )


def dbt_package_env() -> dict[str, str]:
    """The variable a service's packages.yml reads (`local: "{{ env_var('COMMONS_PRIVACY_PACKAGE_DIR') }}"`)."""
    return {DBT_PACKAGE_ENV: str(DBT_PACKAGE_DIR)}


def _dbt_executable() -> Path:
    beside = Path(sys.executable).with_name("dbt")
    return beside if beside.exists() else Path("dbt")


def _parse_env() -> str:
    # the raw variables rather than the settings: the stamp must change with any spelling dbt's env_var() sees
    return json.dumps({name: os.environ.get(name, "") for name in _PARSE_ENV}, sort_keys=True)


def _stamp(manifest: Path) -> str:
    return _parse_env() + f"\n{manifest.stat().st_mtime_ns}"


def manifest_is_stale(project_dir: Path | None = None) -> bool:
    project_dir = project_dir or service_project_dir()
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


def ensure_manifest(project_dir: Path | None = None) -> Path:
    """Parse the dbt project when its manifest is missing or older than a model, macro or yml; first install its
    packages (`dbt deps`: local ones only, such as our privacy package) when they are not installed yet.

    Parsing takes seconds, so it happens here (CLI, tests) rather than at every code-location load.
    """
    project_dir = project_dir or service_project_dir()
    manifest = project_dir / "target" / "manifest.json"
    if manifest_is_stale(project_dir):
        dbt = _dbt_executable()
        if _packages_missing(project_dir):
            _run_dbt(dbt, "deps", project_dir)
        # the manifest goes where everything loads it from, whatever DBT_TARGET_PATH says (dagster-dbt's own
        # builds go under DBT_TARGET_PATH, where the lineage reads them)
        command = [str(dbt), "parse", "--quiet", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
        result = subprocess.run(
            [*command, "--target-path", str(manifest.parent)],
            capture_output=True,
            text=True,
            env={**os.environ, **dbt_package_env()},
        )
        if result.returncode != 0:
            detail = (result.stdout + result.stderr).strip().splitlines()
            raise ManifestError("dbt parse failed: " + " | ".join(detail[-5:]))
        (project_dir / "target" / ".parse_env.json").write_text(_stamp(manifest))
    return manifest


def _packages_missing(project_dir: Path) -> bool:
    """Whether packages.yml names a package not installed in dbt_packages/ (dbt deps links a local one)."""
    import yaml

    packages_yml = project_dir / "packages.yml"
    if not packages_yml.is_file():
        return False
    lock = project_dir / "package-lock.yml"
    if not lock.is_file() or lock.stat().st_mtime < packages_yml.stat().st_mtime:
        return True
    try:
        locked = yaml.safe_load(lock.read_text()) or {}
    except yaml.YAMLError:
        return True
    names = [p.get("name") for p in locked.get("packages") or [] if isinstance(p, dict)]
    return not names or any(not name or not (project_dir / "dbt_packages" / name).exists() for name in names)


def _run_dbt(dbt: Path, command: str, project_dir: Path) -> None:
    result = subprocess.run(
        [str(dbt), command, "--quiet", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)],
        capture_output=True,
        text=True,
        env={**os.environ, **dbt_package_env()},
    )
    if result.returncode != 0:
        detail = (result.stdout + result.stderr).strip().splitlines()
        raise ManifestError(f"dbt {command} failed: " + " | ".join(detail[-5:]))


def load_manifest(project_dir: Path | None = None) -> dict:
    project_dir = project_dir or service_project_dir()
    return json.loads((project_dir / "target" / "manifest.json").read_text())
