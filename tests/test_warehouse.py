import subprocess
import sys

import pytest

from commons_assets.warehouse import WarehouseError, check_reachable, parse_url


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("mysql://u:p@host/db", "must start with postgresql://"),
        ("postgresql://u:p@host:notaport/db", "not a valid postgresql:// URL"),
        ("postgresql://u:p@host:5432/", "must name a host and a database"),
        ("postgresql:///db", "must name a host and a database"),
    ],
)
def test_malformed_url_names_the_setting(url, fragment):
    with pytest.raises(WarehouseError) as err:
        parse_url(url)
    assert "COMMONS_WAREHOUSE_URL" in str(err.value)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_url_is_parsed_with_escapes():
    info = parse_url("postgresql://ana%40x:p%2Fw@db.example:6543/service_replica")
    assert (info.user, info.password, info.host, info.port, info.dbname) == (
        "ana@x",
        "p/w",
        "db.example",
        6543,
        "service_replica",
    )
    assert "p/w" not in info.describe()


def test_unreachable_server_is_one_line_without_the_password():
    info = parse_url("postgresql://u:s3cret-pass@127.0.0.1:1/db")
    with pytest.raises(WarehouseError) as err:
        check_reachable(info)
    message = str(err.value)
    assert "COMMONS_WAREHOUSE_URL" in message and "127.0.0.1:1" in message
    assert "s3cret-pass" not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("postgresql://u:s3cret-pass@127.0.0.1:1/db", "cannot reach the warehouse"),
        ("not a url", "must start with postgresql://"),
    ],
)
def test_cli_reports_bad_warehouse_without_traceback(tmp_path, url, fragment):
    env = {"COMMONS_WAREHOUSE_URL": url, "COMMONS_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "commons_assets.cli", "release", "--week", "2026-W47"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1
    assert fragment in result.stderr
    assert "COMMONS_WAREHOUSE_URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret-pass" not in result.stderr + result.stdout
