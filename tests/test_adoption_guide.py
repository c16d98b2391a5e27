"""The README's adoption guide, followed word for word: README and code cannot drift apart.

The guide's fenced blocks carry what the test needs in their info string:
- ```` ```sh adopt ```` a shell block to run (` exit=N`: it must exit N, e.g. a release still blocked);
- ```` ```yaml adopt file=PATH ```` a file the analyst writes, at PATH from the repository's root;
- ```` ```text adopt-output ```` lines the previous shell block's output must hold, each one.
Blocks without `adopt` (installing, publishing to data.gouv.fr) are for the reader only.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Adopting commons-assets for your service"
_FENCE = re.compile(r"^```(\S*)(.*)$")


@dataclass(frozen=True)
class Step:
    kind: str  # run | file | output
    text: str
    path: str | None = None
    exit_code: int = 0


def guide_section(readme: str) -> str:
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    return readme[start : end if end != -1 else len(readme)]


def guide_steps(section: str) -> list[Step]:
    """The marked blocks of the guide, in order."""
    steps: list[Step] = []
    lines = section.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = lines.index("```", i + 1)
        body = "\n".join(lines[i + 1 : end]) + "\n"
        words = opening.group(2).split()
        options = dict(w.split("=", 1) for w in words if "=" in w)
        if "adopt-output" in words:
            steps.append(Step("output", body))
        elif "adopt" in words and "file" in options:
            steps.append(Step("file", body, path=options["file"]))
        elif "adopt" in words:
            steps.append(Step("run", body, exit_code=int(options.get("exit", 0))))
        i = end + 1
    return steps


STEPS = guide_steps(guide_section(README.read_text(encoding="utf-8")))


def test_the_guide_goes_from_init_to_a_first_release():
    runs = [s.text for s in STEPS if s.kind == "run"]
    assert runs[0].startswith("commons-assets init ")
    assert runs[-1].strip() == "commons-assets release"
    assert any(s.kind == "run" and s.exit_code != 0 for s in STEPS), "the guide shows a blocked run"
    files = [s.path for s in STEPS if s.kind == "file"]
    assert ".env" in files and any(f.endswith("dbt_project.yml") for f in files)
    assert any("/marts/open_data/" in f and f.endswith(".yml") for f in files)
    for path in files:
        assert not Path(path).is_absolute() and ".." not in Path(path).parts, path
    # every output block follows a command whose output it describes
    for before, step in itertools.pairwise(STEPS):
        assert step.kind != "output" or before.kind == "run", step.text


def test_the_error_table_names_every_error_a_new_adopter_meets():
    section = guide_section(README.read_text(encoding="utf-8"))
    for fragment in (
        "is only a suggestion",  # an unconfirmed class
        "has no meta.privacy: add to",  # a column without class
        "source column(s) without a privacy class",  # a column missing from the yml
        "source tables missing",
        "[lineage]",
        "[detectors:",
        "[k_anonymity]",
        "[small_cells]",
        "vars.service.",
        "cannot reach the warehouse",
        "meta.publish.licence",
    ):
        assert fragment in section, fragment


def _guide_env(venv_bin: Path) -> dict[str, str]:
    """The guide's environment: no COMMONS_* setting of the test run but the database (a copy of the demo's,
    which the guide's .env cannot name) and the clock (the last complete week of the demo's data); the
    guide's own .env says the rest. The CLI is this checkout's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMONS_")}
    env["COMMONS_WAREHOUSE_URL"] = os.environ["COMMONS_WAREHOUSE_URL"]
    env["COMMONS_TODAY"] = os.environ["COMMONS_TODAY"]
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.e2e
@pytest.mark.walkthrough
def test_the_adoption_guide_followed_word_for_word_leads_to_a_first_release(fresh_demo, db, tmp_path):
    from tests.conftest import DEMO_WEEK, SOURCE_SCHEMA

    # the demo's source schema stands in for « your database », under the name the guide gives it
    [init] = [s for s in STEPS if s.kind == "run" and s.text.startswith("commons-assets init ")]
    schema = shlex.split(init.text)[shlex.split(init.text).index("--source-schema") + 1]
    db.execute(f"alter schema {SOURCE_SCHEMA} rename to {schema}")

    repository = tmp_path / "service-repository"
    repository.mkdir()
    env = _guide_env(Path(sys.executable).parent)
    output = ""
    for step in STEPS:
        if step.kind == "file":
            path = repository / step.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(step.text, encoding="utf-8")
        elif step.kind == "run":
            done = subprocess.run(
                ["bash", "-e", "-c", step.text], cwd=repository, env=env, capture_output=True, text=True, timeout=1200
            )
            output = done.stdout + done.stderr
            assert done.returncode == step.exit_code, f"{step.text}\n{output[-3000:]}"
            assert "Traceback" not in output, output[-3000:]
        else:
            for line in filter(None, (line.strip() for line in step.text.splitlines())):
                assert line in output, f"{line!r} not in the output:\n{output[-3000:]}"

    release = repository / "releases" / DEMO_WEEK
    for name in ("README.md", "datapackage.json", "SHA256SUMS", "rapport-confidentialite.json", "release.json"):
        assert (release / name).is_file(), name
    [csv] = (release / "signalements-par-semaine").glob("*.csv")
    assert len(csv.read_text(encoding="utf-8").splitlines()) > 1  # a header and rows

    # The table's lineage row, for real, through `validate` (a service's CI): the free-text message reaches a
    # published column whose values do not change (coalesce of a non-null label), so only lineage can block.
    _plant(repository, "open-data/models/staging/app/stg_service__reports.sql", "category_code,\n", "message,\n")
    _plant(
        repository,
        "open-data/models/intermediate/int_reports__generalised.sql",
        "categories.category_label,",
        "coalesce(categories.category_label, reports.message) as category_label,",
        replace=True,
    )
    done = subprocess.run(
        ["bash", "-e", "-c", "commons-assets validate"],
        cwd=repository,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2 and "BLOCKED" in output, output[-3000:]
    for fragment in _table_excerpt("[lineage]"):
        assert fragment in output, f"{fragment!r} not in the output:\n{output[-3000:]}"
    assert "models/staging/app/stg_service__reports.sql" in output


def _plant(repository: Path, path: str, anchor: str, added: str, replace: bool = False) -> None:
    file = repository / path
    text = file.read_text(encoding="utf-8")
    assert anchor in text, (path, anchor)
    file.write_text(text.replace(anchor, added if replace else anchor + " " * 8 + added, 1), encoding="utf-8")


def _table_excerpt(start: str) -> list[str]:
    """The fragments (between the ellipses) of the error table's message that starts with `start`."""
    section = guide_section(README.read_text(encoding="utf-8"))
    [cell] = [m for m in re.findall(r"^\| `([^`]+)`", section, re.MULTILINE) if m.startswith(start)]
    return [fragment.strip(" ,.()") for fragment in cell.split("…") if fragment.strip(" ,.()")]
