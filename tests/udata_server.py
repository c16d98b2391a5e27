"""A real data.gouv.fr server (udata) on loopback for the publisher's tests, and a proxy that injects faults.

This file has two roles:
- imported by the tests (in the project's virtualenv): `udata_venv()`, `start_udata()`, `FaultProxy`;
- run as a script by the udata virtualenv's python (`python udata_server.py serve CONFIG.json`): the launcher
  that builds the udata app, creates its fixtures and serves it;
- run as a script by the project's python (`python udata_server.py venv`): builds the cached udata virtualenv
  (the test session starts it in the background). It therefore imports nothing but the standard
  library at module level; udata is imported inside `_serve` only.

Tricks, each needed for udata to run here without its usual services:
- udata has its own virtualenv, created once and cached (`$COMMONS_UDATA_VENV`, else
  `~/.cache/commons-assets/udata-venv`), keyed by the udata and mongomock pins and the Python version:
  installed beside our stack, udata downgrades Unidecode and packaging.
- No MongoDB here: `MONGODB_SETTINGS` passes `mongo_client_class=mongomock.MongoClient`, which mongoengine
  0.29 hands the connection to (its `mongomock://` URLs were removed). mongomock lives in the process's memory,
  so the launcher creates the user, organisation, licences and API key in the very process that then serves.
- No Redis: Celery runs tasks eagerly on a `memory://` broker, and the cache is flask-caching's NullCache.
- Uploads go to flask-storage's local backend under the test's folder.
- Local URLs are allowed (`URLS_ALLOW_LOCAL`, `URLS_ALLOW_PRIVATE`): the schema URLs of resources point at
  the server itself, 127.0.0.1.
- The server is werkzeug's, single-threaded: mongomock is not meant to be shared between threads, and a
  test's requests are sequential anyway.
- The launcher reads its standard input and exits when it closes: a test run that dies takes its udata along.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

UDATA_VERSION = "17.18.0"
MONGOMOCK_VERSION = "4.3.0"
REQUIREMENTS = (f"udata=={UDATA_VERSION}", f"mongomock=={MONGOMOCK_VERSION}")
# udata's default list of accepted extensions, plus parquet, which data.gouv.fr added on request
# (datagouv/data.gouv.fr#665). The publisher reads the list from the server, as it does in production.
EXTRA_EXTENSIONS = ("parquet",)
START_TIMEOUT_S = 60.0


def _progress(message: str) -> None:
    # Straight to the terminal: pytest captures a fixture's output, and creating the venv takes minutes.
    print(f"[udata] {message}", file=sys.__stderr__, flush=True)


# ------------------------------------------------------------------------------------------- the venv


def _venv_paths() -> tuple[Path, str, Path]:
    root = Path(os.environ.get("COMMONS_UDATA_VENV") or Path.home() / ".cache" / "commons-assets" / "udata-venv")
    key = f"udata-{UDATA_VERSION}-mongomock-{MONGOMOCK_VERSION}-py{sys.version_info.major}.{sys.version_info.minor}"
    return root, key, root / key


def udata_venv_ready() -> bool:
    _, _, venv = _venv_paths()
    return (venv / ".complete").exists() and (venv / "bin" / "python").exists()


def udata_venv() -> Path:
    """The python of the cached udata virtualenv, created on first use (a few minutes, progress printed).

    The test session starts building it in the background as soon as it has collected a data.gouv.fr test
    (`python udata_server.py venv`, see conftest); a test that needs it first waits on the lock below."""
    root, key, venv = _venv_paths()
    python = venv / "bin" / "python"
    marker = venv / ".complete"
    if marker.exists() and python.exists():
        return python
    root.mkdir(parents=True, exist_ok=True)
    # Two test runs at once build it once: the second waits on the lock, then finds it complete.
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and python.exists():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        started = time.monotonic()
        _progress(f"creating {venv} ({' '.join(REQUIREMENTS)}), once; this takes a few minutes")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = subprocess.Popen(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--progress-bar",
                "off",
                *REQUIREMENTS,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        tail: list[str] = []
        for line in pip.stdout:
            tail = ([*tail, line.rstrip()])[-30:]
            if line.startswith(("Collecting", "Installing", "Successfully")):
                _progress(line.rstrip()[:150])
        if pip.wait() != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise RuntimeError("pip could not install udata:\n" + "\n".join(tail))
        marker.write_text("\n".join(REQUIREMENTS) + "\n")
        _progress(f"udata venv ready in {time.monotonic() - started:.0f} s")
    return python


# ------------------------------------------------------------------------------------------- the server


@dataclass
class UdataServer:
    base_url: str
    api_key: str = field(repr=False)
    organization_id: str
    process: subprocess.Popen
    log_file: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stdin:
            self.process.stdin.close()


def start_udata(workdir: Path, licences: list[dict]) -> UdataServer:
    """Start udata on 127.0.0.1 (a free port) with one organisation, its admin user, an API key for that user
    and the given licences (`{id, title, url}`); return once it answers."""
    python = udata_venv()
    workdir.mkdir(parents=True, exist_ok=True)
    state_file = workdir / "state.json"
    config = {
        "fs_root": str(workdir / "fs"),
        "state_file": str(state_file),
        "licences": licences,
        "extra_extensions": list(EXTRA_EXTENSIONS),
    }
    config_file = workdir / "config.json"
    config_file.write_text(json.dumps(config))
    log_file = workdir / "udata.log"
    started = time.monotonic()
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            [str(python), str(Path(__file__).resolve()), "serve", str(config_file)],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            # udata reads its optional settings file from here; none is wanted.
            env={**os.environ, "UDATA_SETTINGS": str(workdir / "no-udata.cfg")},
        )
    try:
        while not state_file.exists():
            if process.poll() is not None:
                raise RuntimeError(f"udata exited ({process.returncode}); its log:\n{log_file.read_text()[-4000:]}")
            if time.monotonic() - started > START_TIMEOUT_S:
                raise RuntimeError(
                    f"udata did not start in {START_TIMEOUT_S:.0f} s; its log:\n{log_file.read_text()[-4000:]}"
                )
            time.sleep(0.1)
        state = json.loads(state_file.read_text())
        server = UdataServer(
            base_url=f"http://127.0.0.1:{state['port']}",
            api_key=state["api_key"],
            organization_id=state["organization_id"],
            process=process,
            log_file=log_file,
        )
        with urllib.request.urlopen(server.base_url + "/api/1/datasets/licenses/", timeout=10) as response:
            assert response.status == 200
    except BaseException:
        process.kill()
        raise
    _progress(f"udata {UDATA_VERSION} serving on {server.base_url} after {time.monotonic() - started:.1f} s")
    return server


def _serve(config_file: str) -> None:
    """The launcher, run by the udata venv's python: build the app, create the fixtures, serve."""
    import datetime as dt
    import uuid

    import mongomock
    from udata.app import create_app, standalone
    from udata.settings import Defaults
    from werkzeug.serving import make_server

    config = json.loads(Path(config_file).read_text())

    class Settings:
        SECRET_KEY = uuid.uuid4().hex
        # Not TESTING: it would rename the database and turn on two-factor login; we want production paths.
        TESTING = False
        DEBUG = False
        MONGODB_SETTINGS: ClassVar[dict] = {
            "host": "mongodb://localhost/udata", "mongo_client_class": mongomock.MongoClient,
        }
        CELERY_BROKER_URL = "memory://"
        CELERY_RESULT_BACKEND = "cache+memory://"
        CELERY_TASK_ALWAYS_EAGER = True
        CELERY_TASK_EAGER_PROPAGATES = True
        CACHE_TYPE = "flask_caching.backends.NullCache"
        CACHE_NO_NULL_WARNING = True
        SEND_MAIL = False
        WTF_CSRF_ENABLED = False
        URLS_ALLOW_LOCAL = True
        URLS_ALLOW_PRIVATE = True
        URLS_RESOLVE_HOSTNAME = False
        PUBLISH_ON_RESOURCE_EVENTS = False
        API_TOKEN_SECRET = uuid.uuid4().hex
        FS_BACKEND = "local"
        FS_ROOT = config["fs_root"]
        FS_SERVE = True
        ALLOWED_RESOURCES_EXTENSIONS = Defaults.ALLOWED_RESOURCES_EXTENSIONS + config["extra_extensions"]

    app = standalone(create_app(override=Settings))
    with app.app_context():
        from udata.core.api_token.models import ApiToken
        from udata.core.organization.models import Member
        from udata.models import License, Organization, User

        for licence in config["licences"]:
            License.objects.create(id=licence["id"], title=licence["title"], url=licence["url"], active=True)
        user = User(
            email="publication@example.org",
            first_name="Robot",
            last_name="Publication",
            active=True,
            confirmed_at=dt.datetime.now(dt.UTC),
            fs_uniquifier=uuid.uuid4().hex,
        ).save()
        organization = Organization(
            name="Service Signalo",
            description="Organisation de test de commons-assets",
            members=[Member(user=user, role="admin")],
        ).save()
        _, api_key = ApiToken.generate(user, name="commons-assets tests")

    server = make_server("127.0.0.1", 0, app, threaded=False)
    state = {"port": server.server_port, "api_key": api_key, "organization_id": str(organization.id)}
    # Written whole then renamed: the test reads it as soon as it exists. Readable by its owner only: a key.
    tmp = Path(config["state_file"] + ".tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(json.dumps(state))
    os.replace(tmp, config["state_file"])

    def exit_with_parent():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=exit_with_parent, daemon=True).start()
    server.serve_forever()


# -------------------------------------------------------------------------------------------- the proxy


@dataclass
class Fault:
    """What the proxy does to the requests that match (`method`, a `path` substring): answer `status` itself
    (with `headers`), or `drop` the connection without an answer, before (`forward=False`) or after
    (`forward=True`: udata did the work, its answer is lost) passing the request on. The first `skip` matching
    requests pass untouched; then `times` of them (None: every one) get the fault. `body`: the JSON the answer
    carries instead of an error message (a portal that answers otherwise than udata's defaults)."""

    method: str | None = None
    path: str | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: object = None
    drop: bool = False
    forward: bool = False
    skip: int = 0
    times: int | None = 1
    seen: int = 0
    applied: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or self.path in path)


@dataclass
class Exchange:
    at: float
    method: str
    path: str
    outcome: str  # the status sent back, "dropped", or "forwarded-then-dropped"
    fault: bool


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of udata that injects the faults udata cannot produce (429, 5xx,
    dropped connections) and records every exchange. Bounded: it serves at most `max_requests` requests,
    then answers 503 to everything, so that a runaway retry loop ends by itself."""

    def __init__(self, upstream: str, max_requests: int = 2000):
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.max_requests = max_requests
        self.faults: list[Fault] = []
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real front would

            def log_message(self, *args):  # the exchanges are recorded instead
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._fault_for(self.command, self.path)
                outcome = proxy._apply(self, fault, body)
                with proxy._lock:
                    proxy.exchanges.append(
                        Exchange(time.monotonic(), self.command, self.path, outcome, fault is not None)
                    )

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.exchanges.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def requests(self, method: str | None = None, path: str | None = None) -> list[Exchange]:
        with self._lock:
            return [
                e for e in self.exchanges if (method is None or e.method == method) and (path is None or path in e.path)
            ]

    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self._lock:
            if len(self.exchanges) >= self.max_requests:
                return Fault(status=503)
            for fault in self.faults:
                if not fault.matches(method, path):
                    continue
                fault.seen += 1
                if fault.seen <= fault.skip or (fault.times is not None and fault.applied >= fault.times):
                    continue
                fault.applied += 1
                return fault
        return None

    def _apply(self, handler, fault: Fault | None, body: bytes) -> str:
        if fault is not None and fault.drop and not fault.forward:
            return self._drop(handler, "dropped")
        if fault is not None and fault.status is not None:
            payload = json.dumps(
                {"message": f"injected {fault.status}"} if fault.body is None else fault.body
            ).encode()
            handler.send_response(fault.status)
            for name, value in {"Content-Type": "application/json", **fault.headers}.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return str(fault.status)
        status, headers, payload = self._forward(handler, body)
        if fault is not None and fault.drop:
            return self._drop(handler, "forwarded-then-dropped")
        handler.send_response(status)
        for name, value in headers:
            if name.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
        return str(status)

    def _forward(self, handler, body: bytes):
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("connection", "keep-alive")}
            connection.request(handler.command, handler.path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    @staticmethod
    def _drop(handler, outcome: str) -> str:
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)
        return outcome


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        _serve(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == "venv":
        print(udata_venv())
    else:
        sys.exit("usage: python udata_server.py serve CONFIG.json | venv")
