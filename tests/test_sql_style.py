"""The dbt models follow the committed .sqlfluff (dbt templater, postgres dialect, dbt Labs style)."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import dbt_env

DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"


def test_dbt_models_pass_sqlfluff(warehouse_info, manifest):
    # The dbt templater compiles the project, and compiling opens a connection: give it the test warehouse.
    env = dbt_env(warehouse_info)
    result = subprocess.run(
        [str(Path(sys.executable).with_name("sqlfluff")), "lint", "models"],
        cwd=DBT_PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("==="))
    assert result.returncode == 0, report[-5000:]
