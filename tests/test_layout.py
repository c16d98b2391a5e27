"""The README's Layout section matches the modules as they are (issue 10, « What it must show »).

A module added, renamed or given a new role without its line in the Layout block makes the README lie to the
next person who reads it: this reads the block and the package, and names what is missing.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from commons_assets import cli

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "commons_assets"
ENTRY = re.compile(r"^  (?P<name>[\w./]+)\s{2,}(?P<text>.*)$")


def _layout_block(readme: str) -> list[str]:
    """The lines of the first code block after `## Layout`."""
    after = readme.split("\n## Layout\n", 1)
    assert len(after) == 2, "README.md has no `## Layout` section"
    block = re.search(r"^```\n(.*?)^```$", after[1], re.S | re.M)
    assert block, "the Layout section has no code block"
    return block.group(1).splitlines()


def package_entries(readme: str) -> dict[str, str]:
    """{entry name (`cli.py`, `privacy/`): its text, continuation lines included} under `commons_assets/`."""
    lines = _layout_block(readme)
    assert "commons_assets/" in [line.strip() for line in lines], "the Layout block does not list commons_assets/"
    entries: dict[str, str] = {}
    current = None
    for line in lines[[line.strip() for line in lines].index("commons_assets/") + 1 :]:
        if line and not line.startswith(" "):
            break  # the next top-level folder (examples/, dbt_project/, tests/)
        matched = ENTRY.match(line)
        if matched:
            current = matched["name"]
            entries[current] = matched["text"]
        elif current and line.strip():
            entries[current] += " " + line.strip()
    return entries


def _mentions(text: str, module: str) -> bool:
    """`schema_audit` is mentioned as « schema_audit » or « schema audit », as a word of its own."""
    words = re.escape(module).replace("_", "[_ ]")
    return re.search(rf"(?<![\w-]){words}(?![\w-])", text, re.IGNORECASE) is not None


def layout_problems(readme: str, package: Path = PACKAGE) -> list[str]:
    entries = package_entries(readme)
    problems = []
    for path in sorted(package.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.is_file() and path.suffix == ".py":
            if path.name not in entries:
                problems.append(f"{path.name} has no line in the Layout block")
        elif path.is_dir():
            key = f"{path.name}/"
            if key not in entries:
                problems.append(f"{key} has no line in the Layout block")
                continue
            # each module (and sub-package) of a sub-package is named on its line
            inner = sorted({p.stem for p in path.iterdir() if p.suffix == ".py" and not p.name.startswith("_")}
                           | {p.name for p in path.iterdir() if (p / "__init__.py").is_file()})  # fmt: skip
            problems += [f"{key}{name} is not named on the {key} line" for name in inner
                         if not _mentions(entries[key], name)]  # fmt: skip
    return problems


def cli_commands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    """Every sub-command argparse defines, nested ones as `demo seed`."""
    commands = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = cli_commands(sub, f"{prefix}{name} ")
                commands += nested or [f"{prefix}{name}"]
    return commands


def test_every_module_of_the_package_has_its_place_in_the_readme_layout():
    problems = layout_problems((ROOT / "README.md").read_text(encoding="utf-8"))
    assert not problems, "README.md ## Layout: " + "; ".join(problems)


def test_the_cli_line_of_the_layout_lists_every_sub_command():
    line = package_entries((ROOT / "README.md").read_text(encoding="utf-8")).get("cli.py", "")
    listed = {part.strip() for part in line.split("commons-assets", 1)[-1].split("|")}
    commands = cli_commands(cli.build_parser())
    assert {"release", "demo seed"} <= set(commands)  # the parser was read
    missing = [c for c in commands if c not in listed]
    assert not missing, f"README.md ## Layout, cli.py line: sub-command(s) {missing} not listed"


LAYOUT = """\
# t

## Layout

```
commons_assets/
  cli.py            commons-assets release | demo seed
  week.py           Week
  privacy/          policy, detectors and
                    schema audit
examples/           not the package
  gate.py           not the package either
```
"""


@pytest.mark.parametrize(
    ("files", "problems"),
    [
        (["cli.py", "week.py", "privacy/policy.py", "privacy/schema_audit.py", "privacy/detectors/__init__.py"], []),
        (["cli.py", "week.py", "gate.py"], ["gate.py has no line in the Layout block"]),
        (["cli.py", "privacy/gate.py", "privacy/policy.py"], ["privacy/gate is not named on the privacy/ line"]),
        (["cli.py", "release/export.py"], ["release/ has no line in the Layout block"]),
        (["cli.py", "privacy/polic.py"], ["privacy/polic is not named on the privacy/ line"]),  # a word of its own
    ],
)
def test_the_layout_check_names_what_is_missing(tmp_path, files, problems):
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("", encoding="utf-8")
    assert layout_problems(LAYOUT, tmp_path) == problems
