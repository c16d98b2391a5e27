"""The CLI's exit codes: 1 for what a person can fix (one line), 2 for a blocked release, 3 for a bug."""

import os

import pytest

from commons_assets import cli, warehouse
from commons_assets.errors import CommonsError, PolicyError, SettingsError, WarehouseError, WeekError


def test_a_bug_shows_its_traceback_and_exits_3(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise KeyError("not a user error")

    monkeypatch.setattr(warehouse, "resolve", broken)
    assert cli.main(["warehouse", "url"]) == cli.EXIT_BUG == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "KeyError: 'not a user error'" in err


def test_a_value_error_from_a_bug_is_not_taken_for_a_user_error(monkeypatch, capsys):
    def broken(*args, **kwargs):
        return int("not a number")

    monkeypatch.setattr(warehouse, "resolve", broken)
    assert cli.main(["warehouse", "url"]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_a_bad_setting_is_one_line_naming_it_and_exits_1(monkeypatch, capsys):
    monkeypatch.setenv("COMMONS_SOURCE_SCHEMA", "Bad-Schema")
    assert cli.main(["warehouse", "stop"]) == cli.EXIT_ERROR == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("commons-assets: COMMONS_SOURCE_SCHEMA='Bad-Schema'")
    assert "Traceback" not in err


def test_a_secret_setting_is_named_but_never_shown(monkeypatch, capsys):
    monkeypatch.setenv("COMMONS_WAREHOUSE_PORT", "not-a-port")
    monkeypatch.setenv("MATOMO_TOKEN", "0123456789abcdef")
    assert cli.main(["warehouse", "stop"]) == 1
    err = capsys.readouterr().err
    assert "COMMONS_WAREHOUSE_PORT" in err
    assert "0123456789abcdef" not in err


@pytest.mark.parametrize(
    "argv",
    [[], ["no-such-command"], ["release", "--week"], ["ui", "--port", "eighty"], ["demo", "seed", "--until", "soon"]],
)
def test_bad_usage_exits_1_not_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 1
    assert "usage: commons-assets" in capsys.readouterr().err


def test_a_malformed_week_is_one_line_and_exits_1(capsys):
    assert cli.main(["validate", "--week", "2026-47"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("commons-assets: a week must look like 2026-W47")
    assert "Traceback" not in err


def test_expected_errors_share_one_base():
    for kind in (SettingsError, WarehouseError, WeekError, PolicyError, cli.CliError):
        assert issubclass(kind, CommonsError)


def test_dotenv_is_read_and_the_environment_wins(tmp_path, monkeypatch, capsys):
    (tmp_path / ".env").write_text("COMMONS_SOURCE_SCHEMA=From-Dotenv\nCOMMONS_DBT_SCHEMA=Also-Bad\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COMMONS_SOURCE_SCHEMA", raising=False)
    monkeypatch.setenv("COMMONS_DBT_SCHEMA", "commons")
    try:
        assert cli.main(["warehouse", "stop"]) == 1
        err = capsys.readouterr().err
        assert "COMMONS_SOURCE_SCHEMA='From-Dotenv'" in err
        assert "COMMONS_DBT_SCHEMA" not in err
    finally:
        os.environ.pop("COMMONS_SOURCE_SCHEMA", None)  # set by .env behind monkeypatch's back


def test_bench_without_its_extra_says_how_to_install_it(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "psutil" else real(name, *a))
    assert cli.main(["bench", "--users", "10"]) == 1
    err = capsys.readouterr().err
    assert "psutil" in err and "pip install -e '.[bench]'" in err


def test_the_benchmark_never_imports_the_cli():
    """The CLI registers `bench`; the benchmark imports nothing of the CLI, not even inside a function."""
    import ast
    from pathlib import Path

    import commons_assets.bench

    for path in Path(commons_assets.bench.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            assert not any(n == "commons_assets.cli" for n in names), f"{path.name} imports the CLI"


def test_a_portal_or_tracker_that_fails_for_good_is_an_error_to_act_on_not_a_bug(monkeypatch, capsys):
    from commons_assets.http import GaveUp, HttpError
    from commons_assets.release.datagouv import DatagouvError
    from commons_assets.release.outcome import EXIT_ERROR, RunFacts, StepFailure, verdict
    from commons_assets.usage.matomo import MatomoError

    for kind in (HttpError, GaveUp, MatomoError, DatagouvError):
        assert issubclass(kind, CommonsError), kind
    # a step of the run that raised one, unwrapped: the run's verdict is 1, as for a setting
    failure = StepFailure("release_publication", "GaveUp", "GET /api/1/me/: HTTP 503")
    failed = RunFacts(failures=[failure], success=False)
    assert verdict(failed) == EXIT_ERROR

    def unreachable(*args, **kwargs):
        raise GaveUp("GET /api/1/me/: gave up after 5 attempts", attempts=5, reason="HTTP 503", next_delay=None)

    monkeypatch.setattr(warehouse, "resolve", unreachable)
    assert cli.main(["warehouse", "url"]) == 1
    err = capsys.readouterr().err
    assert err == "commons-assets: GET /api/1/me/: gave up after 5 attempts\n"


def test_each_gate_finding_is_printed_on_one_line_even_when_its_message_holds_a_semicolon():
    # the gate joins its findings with "; ", and some messages hold "; " themselves (release_id_shape's advice)
    description = (
        "[release_id_shape] t.id: 1 release id(s) not drawn by release_scoped_id() (a random UUID); build release "
        "ids with that macro; [detectors:email] t.label: 2 value(s) look like email"
    )
    assert cli.check_lines(description) == [
        "[release_id_shape] t.id: 1 release id(s) not drawn by release_scoped_id() (a random UUID); build release "
        "ids with that macro",
        "[detectors:email] t.label: 2 value(s) look like email",
    ]
    # another check's description is a list joined by "; " (the CNIL exemption's conditions)
    assert cli.check_lines("matomo : a (non mesurée); service : b (non respectée)") == [
        "matomo : a (non mesurée)",
        "service : b (non respectée)",
    ]
    assert cli.check_lines(None) == [] == cli.check_lines("")
