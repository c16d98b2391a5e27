"""The one HTTP client (commons_assets.http), against a real HTTP server on 127.0.0.1 that answers what each
test scripts: what is retried and how long it waits, what fails at once, the run's deadline, and that a
secret never shows in a message or a log line."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import io
import logging
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from commons_assets import http

KEY = "s3cr3t-key-0123456789abcdef"


@dataclass
class Step:
    status: int = 200
    body: str = "{}"
    headers: dict = field(default_factory=dict)
    drop: bool = False  # close the connection without an answer
    delay: float = 0.0  # wait this long before answering


@dataclass
class Seen:
    at: float  # time.monotonic() when the request arrived
    method: str
    path: str
    headers: dict
    body: bytes


class ScriptedServer:
    """Answers each request to a path with the next scripted step (the last one repeats); records requests."""

    def __init__(self):
        self.steps: dict[str, list[Step]] = {}
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.seen.append(Seen(time.monotonic(), self.command, self.path, dict(self.headers), body))
                queue = server.steps.get(self.path.split("?")[0]) or [Step(404, '{"message": "not scripted"}')]
                step = queue.pop(0) if len(queue) > 1 else queue[0]
                if step.delay:
                    time.sleep(step.delay)
                if step.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                payload = step.body.encode()
                self.send_response(step.status)
                for name, value in step.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _answer

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def script(self, path: str, *steps: Step) -> None:
        self.steps[path] = list(steps)

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path.split("?")[0] == path]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def server():
    srv = ScriptedServer()
    yield srv
    srv.close()


def _client(**overrides) -> http.HttpClient:
    params = dict(deadline_s=20, secrets=[KEY], headers={"X-API-KEY": KEY}, backoff=0.01, backoff_cap=0.05,
                  read_timeout=5, logger=logging.getLogger("test_http"))  # fmt: skip
    params.update(overrides)
    return http.HttpClient(**params)


def _assert_secret_absent(caplog, err: BaseException | None = None) -> None:
    assert KEY not in caplog.text
    for record in caplog.records:
        assert KEY not in record.getMessage()
    if err is not None:
        assert KEY not in str(err) and KEY not in repr(err)
        assert KEY not in "".join(traceback.format_exception(err))


def test_a_503_then_a_200_is_retried_and_succeeds(server, caplog):
    server.script("/a", Step(503, '{"message": "maintenance"}'), Step(200, '{"ok": true}'))
    with _client() as client:
        response = client.request("GET", server.url + "/a")
    assert response.json() == {"ok": True}
    assert len(server.requests_to("/a")) == 2
    assert "HTTP 503" in caplog.text and "retrying" in caplog.text


def test_a_429_waits_for_its_retry_after_in_seconds(server):
    server.script("/a", Step(429, headers={"Retry-After": "1"}), Step(200))
    with _client() as client:
        client.request("GET", server.url + "/a")
    first, second = server.requests_to("/a")
    assert second.at - first.at >= 1.0  # the server's wish, not the 0.01 s backoff


def test_a_429_waits_for_its_retry_after_as_an_http_date(server):
    # An HTTP date has whole seconds: two seconds ahead is at least one second of wait.
    when = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2), usegmt=True)
    server.script("/a", Step(429, headers={"Retry-After": when}), Step(200))
    with _client() as client:
        client.request("GET", server.url + "/a")
    first, second = server.requests_to("/a")
    assert second.at - first.at >= 1.0


def test_retry_after_reads_seconds_and_http_dates():
    now = dt.datetime(2026, 12, 1, 8, 0, 0, tzinfo=dt.UTC)
    assert http.retry_after_seconds("120", now) == 120.0
    assert http.retry_after_seconds("Tue, 01 Dec 2026 08:00:30 GMT", now) == 30.0
    assert http.retry_after_seconds("Tue, 01 Dec 2026 07:59:00 GMT", now) == 0.0  # already past: no wait
    assert http.retry_after_seconds("bientôt", now) is None
    assert http.retry_after_seconds(None, now) is None


def test_each_backoff_lies_between_half_its_ceiling_and_its_ceiling():
    # Equal jitter: spread, but never an immediate retry (full jitter can draw 0 s and hammer the server).
    import tenacity

    with _client(backoff=0.5, backoff_cap=4.0) as client:
        for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
            state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
            state.attempt_number = attempt
            waits = [client._wait(state) for _ in range(500)]
            assert ceiling / 2 <= min(waits) and max(waits) <= ceiling, (attempt, min(waits), max(waits))
            assert max(waits) - min(waits) > ceiling / 4  # still jittered


def test_endless_500s_stop_at_the_deadline_with_a_clear_message(server, caplog):
    server.script("/a", Step(500, '{"message": "boom"}'))
    tries = []  # when the client sent each try, by its own clock: what its deadline governs
    with _client(deadline_s=1.5, backoff=0.2, backoff_cap=0.4) as client, pytest.raises(http.GaveUp) as info:
        send = client._session.request
        client._session.request = lambda *args, **kwargs: (tries.append(time.monotonic()), send(*args, **kwargs))[1]
        client.request("GET", server.url + "/a")
    message = str(info.value)
    assert "GET /a" in message and "HTTP 500" in message and "gave up" in message and "1.5 s deadline" in message
    assert len(server.requests_to("/a")) == len(tries) >= 2  # retried
    # no try started after the deadline (compared with the client's own deadline, not with when the server saw
    # it: on a busy machine a try sent in time may arrive a little later)
    assert all(at < client.deadline for at in tries)
    _assert_secret_absent(caplog, info.value)


def test_the_deadline_covers_every_call_of_the_client(server):
    server.script("/a", Step(500))
    server.script("/b", Step(200))
    with _client(deadline_s=0.5, backoff=0.1, backoff_cap=0.2) as client:
        with pytest.raises(http.GaveUp):
            client.request("GET", server.url + "/a")
        time.sleep(max(0.0, client.deadline - time.monotonic()) + 0.05)
        with pytest.raises(http.DeadlinePassed, match=r"0\.5 s deadline passed"):
            client.request("GET", server.url + "/b")
    assert server.requests_to("/b") == []  # the second call never went out


def test_max_attempts_bounds_each_call(server):
    server.script("/a", Step(503))
    with _client(max_attempts=3) as client, pytest.raises(http.GaveUp, match="failed after 3 attempts: HTTP 503"):
        client.request("GET", server.url + "/a")
    assert len(server.requests_to("/a")) == 3


def test_a_dropped_connection_is_retried(server):
    server.script("/a", Step(drop=True), Step(200, '{"ok": 1}'))
    with _client() as client:
        assert client.request("GET", server.url + "/a").json() == {"ok": 1}
    assert len(server.requests_to("/a")) == 2


def test_endless_dropped_connections_give_up_naming_them(server):
    server.script("/a", Step(drop=True))
    with _client(deadline_s=1, backoff=0.1, backoff_cap=0.2) as client, pytest.raises(
        http.GaveUp, match="dropped connection"
    ):
        client.request("GET", server.url + "/a")
    assert len(server.requests_to("/a")) >= 2


def test_a_sleep_that_overruns_the_deadline_still_names_the_last_failure(server, monkeypatch):
    # A busy machine wakes a sleeping client late: its next try finds the deadline passed before it starts. The
    # message must still say what failed (here a dropped connection), not only that time ran out.
    server.script("/a", Step(drop=True))
    real_sleep = time.sleep
    with _client(deadline_s=1, backoff=0.1, backoff_cap=0.2) as client:
        monkeypatch.setattr(time, "sleep", lambda s: real_sleep(max(s, client.deadline - time.monotonic() + 0.01)))
        with pytest.raises(http.GaveUp) as info:
            client.request("GET", server.url + "/a")
    message = str(info.value)
    assert "dropped connection" in message and "1 s deadline passed" in message, message
    assert "failed 1 time(s)" in message and len(server.requests_to("/a")) == 1


def test_a_timeout_is_retried(server):
    server.script("/a", Step(200, '{"late": 1}', delay=1.0), Step(200, '{"ok": 1}'))
    with _client(read_timeout=0.3) as client:
        assert client.request("GET", server.url + "/a").json() == {"ok": 1}
    assert len(server.requests_to("/a")) == 2


def test_an_unreachable_server_is_retried_then_named():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with _client(max_attempts=2) as client, pytest.raises(http.GaveUp, match="failed after 2 attempts: cannot reach"):
        client.request("GET", f"http://127.0.0.1:{port}/a")


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_a_client_error_fails_at_once(server, status):
    server.script("/a", Step(status, '{"message": "non"}'))
    with _client() as client, pytest.raises(http.Refused) as info:
        client.request("POST", server.url + "/a", json={"x": 1})
    assert info.value.status == status and info.value.text == "non"
    assert len(server.requests_to("/a")) == 1


def test_a_redirect_is_not_followed(server):
    server.script("/a", Step(301, headers={"Location": "https://ailleurs.example/a"}))
    with _client() as client, pytest.raises(http.Refused) as info:
        client.request("POST", server.url + "/a", body=b"token_auth=x")
    assert info.value.status == 301 and info.value.location == "https://ailleurs.example/a"
    assert len(server.seen) == 1


def test_a_status_in_accept_is_returned(server):
    server.script("/a", Step(404, '{"message": "absent"}'))
    with _client() as client:
        assert client.request("GET", server.url + "/a", accept=(404,)).status_code == 404


def test_each_attempt_sends_a_fresh_body(server):
    """A stream is consumed by the attempt that sends it: the retry must send a new one, whole."""
    server.script("/a", Step(503), Step(201))
    with _client() as client:
        client.request("POST", server.url + "/a", body=lambda: io.BytesIO(b"the whole file"))
    assert [s.body for s in server.requests_to("/a")] == [b"the whole file"] * 2


def test_on_transient_can_end_the_call_with_what_it_found(server):
    server.script("/a", Step(502))
    with _client() as client:
        assert client.request("POST", server.url + "/a", on_transient=lambda: "found it") == "found it"
    assert len(server.requests_to("/a")) == 1


def test_the_secret_is_in_no_message_and_no_log_record(server, caplog):
    caplog.set_level(logging.DEBUG)
    # Servers echo what they got: the key, and a Matomo token in a form body or a URL.
    echo = f'{{"message": "bad key {KEY} in token_auth={KEY}&x=1"}}'
    server.script("/transient", Step(503, echo), Step(503, echo))
    server.script("/refused", Step(400, echo))
    server.script("/redirect", Step(302, headers={"Location": f"https://ailleurs.example/?token_auth={KEY}"}))
    errors = []
    with _client(max_attempts=2) as client:
        for path in ("/transient", "/refused", "/redirect"):
            with pytest.raises(http.HttpError) as info:
                client.request("POST", f"{server.url}{path}?token_auth={KEY}", body=f"token_auth={KEY}".encode())
            errors.append(info.value)
    assert server.seen[0].headers["X-API-KEY"] == KEY  # it was sent, where it belongs
    assert "[redacted]" in str(errors[1])
    for err in errors:
        _assert_secret_absent(caplog, err)
        for value in vars(err).values():
            assert KEY not in str(value)
    assert any("HTTP 503" in r.getMessage() for r in caplog.records)  # the retry was logged, redacted


def test_a_client_refuses_a_nonsense_policy():
    with pytest.raises(ValueError, match="max_attempts"):
        http.HttpClient(deadline_s=1, max_attempts=0)
    with pytest.raises(ValueError, match="deadline_s"):
        http.HttpClient(deadline_s=0)
