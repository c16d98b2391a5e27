"""The red team's index (the table in tests/test_redteam.py's docstring) keeps every category and names only
tests that exist (issue 10: « no category of REDTEAM.md is lost »).

A renamed or deleted test would otherwise leave the index pointing at nothing, and a category could lose its
last test without anyone noticing. REDTEAM.md lives beside the repository (`../shared/REDTEAM.md`, the path
the docstring cites); where it is there, its categories are counted too.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REDTEAM_MD = TESTS.parents[1] / "shared" / "REDTEAM.md"
# The numbered categories of REDTEAM.md's « Categories of planted leaks the gate must stop » (1 to 22); the
# index may add rows of its own after them (23: an outcome that does not tell the truth, 24: stale inputs).
REDTEAM_CATEGORIES = 22

ROW = re.compile(r"^\|\s*(?P<number>\d*)\s*\|(?P<category>[^|]*)\|(?P<proof>[^|]*)\|\s*$")
MODULE = re.compile(r"\b(test_\w+)\.py\b")
# a test function named in the index: test_x, test_x_* (a family), test_x[param], module.py::test_x
NAMED = re.compile(
    r"(?:\b(?P<module>test_\w+)\.py::)?(?<![\w.])(?P<name>test_\w+\*?)(?![\w*]|\.py)(?:\[(?P<param>[\w-]+)\])?"
)


def index_rows(docstring: str) -> dict[int, tuple[str, str]]:
    """{category number: (category, where it is proven)}, the table's continuation rows joined to theirs."""
    rows: dict[int, tuple[str, str]] = {}
    current = None
    for line in docstring.splitlines():
        matched = ROW.match(line.strip())
        if not matched or re.fullmatch(r"-+", matched["category"].strip()):
            continue  # not a row, or the header's rule
        if matched["number"]:
            current = int(matched["number"])
            rows[current] = (matched["category"].strip(), matched["proof"].strip())
        elif current is not None:
            category, proof = rows[current]
            rows[current] = (f"{category} {matched['category'].strip()}".strip(), f"{proof} {matched['proof'].strip()}")
    return rows


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def missing_references(proof: str, here: str, functions: dict[str, set[str]]) -> list[str]:
    """What a row names that does not exist: a test module, or a test function (in the module it is qualified
    with; unqualified, in the module the index lives in or any module the row names)."""
    modules = MODULE.findall(proof)
    missing = [f"{m}.py" for m in modules if m not in functions]
    for found in NAMED.finditer(proof):
        name = found["name"]
        where = [found["module"]] if found["module"] else [here, *modules]
        if not any(fnmatch.filter(functions.get(m, set()), name) for m in where):
            missing.append(f"{found['module'] + '.py::' if found['module'] else ''}{name}")
    return missing


def _functions() -> dict[str, set[str]]:
    return {path.stem: _test_functions(path) for path in TESTS.glob("test_*.py")}


def _index() -> dict[int, tuple[str, str]]:
    import tests.test_redteam as redteam

    return index_rows(redteam.__doc__ or "")


def test_every_category_of_the_red_team_has_its_row_and_at_least_one_test():
    rows = _index()
    assert set(range(1, REDTEAM_CATEGORIES + 1)) <= set(rows), sorted(rows)
    assert sorted(rows) == list(range(1, max(rows) + 1)), "the index skips a number"
    for number, (category, proof) in sorted(rows.items()):
        assert category, number
        assert NAMED.search(proof) or MODULE.search(proof), f"category {number} ({category}) names no test"


def test_every_test_the_index_names_exists():
    functions = _functions()
    missing = {
        n: m for n, (_, proof) in _index().items() if (m := missing_references(proof, "test_redteam", functions))
    }
    assert not missing, f"the red team's index names tests that do not exist: {missing}"


def test_every_end_to_end_red_team_case_is_in_the_index():
    named = " ".join(proof for _, proof in _index().values())
    cases = sorted(f for f in _test_functions(TESTS / "test_redteam.py") if f.startswith("test_"))
    assert cases
    unlisted = [c for c in cases if not any(fnmatch.fnmatch(c, n["name"]) for n in NAMED.finditer(named))]
    assert not unlisted, f"red-team cases the index does not name: {unlisted}"


@pytest.mark.skipif(not REDTEAM_MD.is_file(), reason="REDTEAM.md is not beside this checkout (../shared/)")
def test_the_index_counts_the_categories_of_redteam_md():
    text = REDTEAM_MD.read_text(encoding="utf-8")
    section = text.split("## Categories", 1)[1].split("\n## ", 1)[0]
    numbers = [int(n) for n in re.findall(r"^(\d+)\. ", section, re.M)]
    assert numbers == list(range(1, REDTEAM_CATEGORIES + 1)), (
        "REDTEAM.md changed: update REDTEAM_CATEGORIES and the index"
    )


INDEX = """
| #  | category           | proven by                                   |
|----|--------------------|---------------------------------------------|
| 1  | emails             | test_a.py::test_one_*; here: test_here      |
|    |                    | (e2e), test_a.py (test_two[email])          |
| 2  | phones             | test_b.py                                   |
"""


@pytest.mark.parametrize(
    ("functions", "missing"),
    [
        ({"test_a": {"test_one_x", "test_two"}, "test_b": set(), "here": {"test_here"}}, {}),
        ({"test_a": {"test_one_x"}, "test_b": set(), "here": {"test_here"}}, {1: ["test_two"]}),
        ({"test_a": {"test_two"}, "test_b": set(), "here": {"test_here"}}, {1: ["test_a.py::test_one_*"]}),
        ({"test_a": {"test_one_x", "test_two"}, "here": {"test_here"}}, {2: ["test_b.py"]}),
        ({"test_a": {"test_one_x", "test_two"}, "test_b": set(), "here": set()}, {1: ["test_here"]}),
    ],
)
def test_the_index_check_finds_a_missing_module_or_test(functions, missing):
    rows = index_rows(INDEX)
    assert [c for c, _ in rows.values()] == ["emails", "phones"]
    found = {n: m for n, (_, proof) in rows.items() if (m := missing_references(proof, "here", functions))}
    assert found == missing
