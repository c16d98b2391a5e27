"""A fake Matomo on loopback, for the Matomo client's tests and the release tests that use Matomo as a source.

It replays the JSON of tests/fixtures/matomo (shapes of real Matomo 4/5 answers for `period=week`, see
tests/test_matomo.py), checks the token in the POST body, and records every request.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "matomo"
TOKEN = "5ec7e7b0c1d2e3f4a5b6c7d8e9f0a1b2"
DEFAULT_RESPONSES = {
    "Events.getCategory": "events_getCategory_week.json",
    "Events.getAction": "events_getAction_week.json",
    "Actions.getPageUrls": "actions_getPageUrls_flat_week.json",
    "VisitsSummary.get": "visitsSummary_get_week.json",
}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class FakeMatomo(http.server.ThreadingHTTPServer):
    """Matomo's API endpoint on 127.0.0.1: answers each method from a script of (status, body, delay) steps,
    the last step repeating, and records every request it gets."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.scripts: dict[str, list[tuple[int, bytes, float]]] = {}
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/matomo"

    def script(self, method: str, *steps: tuple[int, bytes | str | dict | list, float]) -> None:
        encoded = []
        for status, body, delay in steps:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            encoded.append((status, body.encode() if isinstance(body, str) else body, delay))
        self.scripts[method] = encoded

    def next_step(self, method: str) -> tuple[int, bytes, float]:
        with self.lock:
            steps = self.scripts.get(method)
            if steps:
                return steps.pop(0) if len(steps) > 1 else steps[0]
        if method in DEFAULT_RESPONSES:
            return 200, fixture(DEFAULT_RESPONSES[method]), 0.0
        return 200, json.dumps({"result": "error", "message": f"The method '{method}' does not exist"}).encode(), 0.0

    def calls(self, method: str) -> list[dict]:
        return [r for r in self.requests if r["query"].get("method") == method]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FakeMatomo

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass

    def _record(self) -> dict:
        split = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        record = {
            "verb": self.command,
            "path": split.path,
            "raw_path": self.path,
            "query": {k: v[0] for k, v in urllib.parse.parse_qs(split.query).items()},
            "raw_body": body,
            "body": {k: v[0] for k, v in urllib.parse.parse_qs(body).items()},
            "headers": dict(self.headers.items()),
        }
        with self.server.lock:
            self.server.requests.append(record)
        return record

    def do_GET(self) -> None:
        self._record()
        self._send(405, b'{"result":"error","message":"POST expected"}')

    def do_POST(self) -> None:
        record = self._record()
        method = record["query"].get("method", "")
        if record["body"].get("token_auth") != TOKEN:
            self._send(200, fixture("error_bad_token.json"))
            return
        status, body, delay = self.server.next_step(method)
        if delay:
            time.sleep(delay)
        body = body.replace(b"{token}", TOKEN.encode())
        self._send(status, body)

    def _send(self, status: int, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            if 300 <= status < 400:
                self.send_header("Location", "https://stats.example.gouv.fr/index.php")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (timeout tests)



@contextlib.contextmanager
def serve() -> Iterator[FakeMatomo]:
    """A fake Matomo on a free loopback port, stopped on exit; handler threads are daemons so that a
    deliberately slow answer cannot hold the test run."""
    server = FakeMatomo()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
