"""One home for each shared piece, kept so: the settings read the environment, ledger.py reads and writes the
ledger, week.py converts ISO weeks, psycopg.sql quotes identifiers. Each rule is checked on the package's source
(its syntax tree, not its comments), so that a new module that re-derives one of them on its own fails here,
naming the file and line."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "commons_assets"
MODULES = sorted(PACKAGE.rglob("*.py"))

# The ledger's tables as SQL names them: `from releases`, `into "x_ledger".release_ids`, `published__<dataset>`…
_LEDGER_TABLES = r"(releases|release_ids|publication_journal|published_feature_usage|published__\w*)\b"
LEDGER_SQL = re.compile(
    rf"\b(from|into|join|update|table|truncate)\s+(\S+\.)?\"?{_LEDGER_TABLES}"
    # the rest of a relation whose schema an f-string puts before it: f'"{schema}".releases'
    rf'|^"?\.{_LEDGER_TABLES}',
    re.IGNORECASE,
)
# An identifier quoted by hand in an f-string of SQL: `f'"{schema}".t'`, `f"select … from \"{name}\""` (an
# HTML attribute, `x="{…}"`, is not one).
HAND_QUOTED = re.compile(r'(^|[\s(,.])"$')
SQL_WORDS = re.compile(r"\b(select|insert|delete|update|create|drop|alter|copy|truncate|from|into|join)\b", re.I)
WEEK_FORMS = re.compile(r"isocalendar|fromisocalendar|%G|%V")

# Where a rule does not apply, and why.
ENVIRONMENT_READERS = {
    # the settings themselves
    "settings.py": "the one typed settings object",
    # the stamp of a parse records the variables exactly as dbt's env_var() sees them, spelling included
    "dbt/project.py": "the raw variables dbt renders into the manifest",
}
WEEK_CONVERTERS = {
    "week.py": "the one home of the ISO week",
    # vectorised over millions of rows, as a naive pandas job computes weeks: the baseline it is measured against
    "bench/pandas_baseline.py": "the pandas baseline",
}


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _strings(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def _docstrings(tree: ast.AST) -> set[int]:
    """Line numbers of docstrings, which may name a table in prose."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                lines.add(body[0].value.lineno)
    return lines


def _environment_reads(tree: ast.AST) -> list[int]:
    """Lines that read a variable's value: os.getenv(…), os.environ.get(…), os.environ[…] (not an assignment)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            if func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os":
                found.append(node.lineno)
            if func.attr == "get" and _is_environ(func.value):
                found.append(node.lineno)
        if isinstance(node, ast.Subscript) and _is_environ(node.value) and isinstance(node.ctx, ast.Load):
            found.append(node.lineno)
    return found


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and getattr(node.value, "id", None) == "os"


def test_only_the_settings_read_environment_variables():
    found = [
        f"{_relative(path)}:{line}"
        for path in MODULES
        if _relative(path) not in ENVIRONMENT_READERS
        for line in _environment_reads(_tree(path))
    ]
    assert found == [], "read it through commons_assets.settings.get_settings(): " + ", ".join(found)


def test_only_ledger_py_writes_sql_naming_a_ledger_table():
    found = []
    for path in MODULES:
        if _relative(path) == "ledger.py":
            continue
        tree = _tree(path)
        docstrings = _docstrings(tree)
        found += [
            f"{_relative(path)}:{line}"
            for line, text in _strings(tree)
            if line not in docstrings and LEDGER_SQL.search(text)
        ]
    assert found == [], "add a function to commons_assets/ledger.py and call it: " + ", ".join(found)


def _hand_quoted(tree: ast.AST) -> list[int]:
    """Lines of f-strings of SQL that put a value between double quotes themselves."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.JoinedStr):
            continue
        text = "".join(str(p.value) for p in node.values if isinstance(p, ast.Constant))
        if not SQL_WORDS.search(text) and not text.startswith('"'):
            continue
        for before, after in itertools.pairwise(node.values):
            if (
                isinstance(before, ast.Constant)
                and isinstance(after, ast.FormattedValue)
                and HAND_QUOTED.search(str(before.value))
            ):
                found.append(node.lineno)
    return found


def test_no_identifier_is_quoted_by_hand_in_an_f_string():
    found = [f"{_relative(path)}:{line}" for path in MODULES for line in _hand_quoted(_tree(path))]
    assert found == [], "quote identifiers with psycopg.sql.Identifier: " + ", ".join(sorted(set(found)))


def test_only_week_py_converts_iso_weeks():
    found = []
    for path in MODULES:
        if _relative(path) in WEEK_CONVERTERS:
            continue
        text = path.read_text(encoding="utf-8")
        found += [
            f"{_relative(path)}:{i}"
            for i, line in enumerate(text.splitlines(), 1)
            if WEEK_FORMS.search(line.split("#")[0])
        ]
    assert found == [], "use commons_assets.week.Week: " + ", ".join(found)


@pytest.mark.parametrize(
    "code, rule",
    [
        ("import os\nx = os.environ.get('COMMONS_X')\n", _environment_reads),
        ("import os\nx = os.getenv('COMMONS_X')\n", _environment_reads),
        ("import os\nx = os.environ['COMMONS_X']\n", _environment_reads),
    ],
)
def test_the_environment_rule_sees_each_way_of_reading_a_variable(code, rule):
    assert rule(ast.parse(code)) == [2]


def test_the_environment_rule_lets_a_subprocess_inherit_the_environment():
    code = "import os\nenv = {**os.environ, 'A': '1'}\nos.environ['B'] = '2'\nos.environ.setdefault('C', '3')\n"
    assert _environment_reads(ast.parse(code)) == []


@pytest.mark.parametrize(
    "text",
    [
        "select max(week) from releases where target = %s",
        'select 1 from "commons_ledger".release_ids',
        "delete from {s}.publication_journal where run_id = %s",
        "insert into x.published__signalements (a) values (1)",
        '".releases',  # what follows the schema in f'"{schema}".releases'
    ],
)
def test_the_ledger_rule_sees_sql_naming_a_ledger_table(text):
    assert LEDGER_SQL.search(text)


def test_the_ledger_rule_ignores_prose_about_releases():
    assert not LEDGER_SQL.search("the last complete week, from which the releases are made")
    assert not LEDGER_SQL.search("a release folder (default: COMMONS_RELEASES_DIR or ./releases)")


def test_the_quoting_rule_sees_a_hand_quoted_identifier_in_sql_only():
    def flagged(code: str) -> bool:
        return bool(_hand_quoted(ast.parse(code)))

    assert flagged("""x = f'select max(week) from "{schema}".releases'""")
    assert flagged("""x = f'"{schema}".releases'""")
    assert not flagged("""x = f'<text x="{tx}">{label}</text>'""")
    assert not flagged("x = f'select {columns} from {relation}'")
