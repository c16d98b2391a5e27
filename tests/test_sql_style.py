"""The dbt models follow the committed .sqlfluff (dbt templater, postgres dialect, dbt Labs style): Signalo's and
the second example's."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLE_SCHEMA, dbt_env, example_project_copy

DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"


def _lint(project: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("sqlfluff")), "lint", "models"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("==="))
    assert result.returncode == 0, report[-5000:]


def test_dbt_models_pass_sqlfluff(warehouse_info, manifest):
    # The dbt templater compiles the project, and compiling opens a connection: give it the test warehouse.
    _lint(DBT_PROJECT, dbt_env(warehouse_info))


def test_the_second_example_passes_sqlfluff(warehouse_info, tmp_path):
    # a copy with its privacy package installed: the templater compiles it, and the repository's stays clean
    project = example_project_copy(tmp_path / "rdv")
    env = {**dbt_env(warehouse_info), "COMMONS_SOURCE_SCHEMA": EXAMPLE_SCHEMA}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "deps", "--project-dir", str(project), "--profiles-dir",
         str(project)], env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    _lint(project, env)
