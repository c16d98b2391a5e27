"""The one HTTP client of the project (data.gouv.fr's API, Matomo's Reporting API), with one retry policy.

- Retried: 429, every 5xx, timeouts and dropped connections, with exponential backoff and "equal" jitter
  (clients that failed together do not come back together, and no retry comes back at once), or after the
  server's `Retry-After` (seconds or an HTTP date) when it gives one.
- One deadline for the whole run, shared by every call of a client: a retry that would start after it is not
  made, and each request's timeouts are cut to what is left of it. An optional cap on attempts per call.
- Anything else fails at once: 400, 401, 403, 404…, a redirect (never followed: it would drop a POST body
  and its token), a TLS failure. The caller turns a `Refused` into its own message.
- Secrets (an API key header, a token in a form body) never appear in a message or a log line this module
  makes: every text built from a server answer or a network error goes through `redact`, which also hides any
  `token_auth=` parameter.

The retry loop is tenacity's (`Retrying`), not ours: this module only says what is transient, how long to
wait and when to stop.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json as jsonlib
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
import tenacity
import urllib3

from commons_assets.errors import CommonsError

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, *range(500, 600)})
REDACTED = "[redacted]"
# Ceilings of 0.5 s, 1 s, 2 s… capped at 30 s; each wait is drawn between half its ceiling and the ceiling
# ("equal jitter"): spread enough that clients failing together do not retry together, and never an
# immediate retry, which full jitter (drawn from 0) allows and which only hammers a struggling server.
# A restarting API or a load balancer switching over is back within a few tries.
DEFAULT_BACKOFF = 0.5
DEFAULT_BACKOFF_CAP = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 300.0
_MAX_MESSAGE = 300
# An error body is read up to this size, for its message only.
_MAX_ERROR_BODY = 64 * 1024
_TOKEN_PARAM = re.compile(r"(token_auth=)[^&\s'\"]*", re.IGNORECASE)


class _RedactingFilter(logging.Filter):
    """urllib3 logs every request line at DEBUG, query string included: a secret a caller put in a URL would
    be written there. This filter, on urllib3's logger, redacts the secrets of every open client."""

    def __init__(self):
        super().__init__()
        self.secrets: dict[int, list[str]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        redacted = _TOKEN_PARAM.sub(r"\1" + REDACTED, text)
        for secrets in list(self.secrets.values()):
            for secret in secrets:
                redacted = redacted.replace(secret, REDACTED)
        if redacted != text:
            record.msg, record.args = redacted, ()
        return True


_URLLIB3_FILTER = _RedactingFilter()
logging.getLogger("urllib3.connectionpool").addFilter(_URLLIB3_FILTER)


class HttpError(CommonsError, RuntimeError):
    """A call failed for good (a server refused, or stayed unreachable until the attempts or the deadline ran
    out): something a person checks or retries, not a bug. The message is redacted and names the call
    (`METHOD /path`)."""


class Refused(HttpError):
    """The server answered a status that asking again would not change (4xx but 429, or a redirect)."""

    def __init__(self, message: str, *, status: int, text: str, body: str, location: str | None):
        super().__init__(message)
        self.status = status
        self.text = text  # the answer's message, redacted and cut to one line
        self.body = body  # the answer's body (its first 64 KiB), redacted
        self.location = location  # where a redirect points, redacted


class GaveUp(HttpError):
    """Transient failures until the attempts or the deadline ran out."""

    def __init__(self, message: str, *, attempts: int, reason: str, next_delay: float | None):
        super().__init__(message)
        self.attempts = attempts
        self.reason = reason  # the last failure, e.g. "HTTP 503" or "no answer within 30 s"
        self.next_delay = next_delay  # the wait the deadline refused; None when the attempts ran out


class DeadlinePassed(HttpError):
    """The run's deadline passed before this call could start."""


class _Transient(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _DeadlineReached(_Transient):
    """A try that would start after the deadline: a sleep may overrun it by a few milliseconds."""


@dataclass
class _CallState:
    refused_delay: float | None = None
    # the last failure that came from the server or the network: what the final message names, even when the
    # last try found the deadline already passed
    last_reason: str | None = None


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Retry-After in seconds, given as seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


class HttpClient:
    """A requests session with the retry policy above. `deadline_s` counts from the client's creation (or ends
    at `deadline_at`, a time.monotonic() value, when the run started earlier) and covers every call it makes;
    `max_attempts` (None: until the deadline) caps each call."""

    def __init__(
        self,
        *,
        deadline_s: float,
        deadline_at: float | None = None,
        secrets: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        max_attempts: int | None = None,
        backoff: float = DEFAULT_BACKOFF,
        backoff_cap: float = DEFAULT_BACKOFF_CAP,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        logger: logging.Logger | None = None,
    ):
        if max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if deadline_s <= 0:
            raise ValueError("deadline_s must be positive")
        self.deadline_s = deadline_s
        self.deadline = time.monotonic() + deadline_s if deadline_at is None else deadline_at
        self.max_attempts = max_attempts
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._backoff = tenacity.wait_exponential(multiplier=backoff / 2, max=backoff_cap / 2) + (
            tenacity.wait_random_exponential(multiplier=backoff / 2, max=backoff_cap / 2)
        )
        # Every form a secret can take in a URL, a form body or a header.
        self._secrets = sorted(
            {form for s in secrets if s for form in (s, urllib.parse.quote(s, safe=""), urllib.parse.quote_plus(s))},
            key=len,
            reverse=True,
        )
        self._log = logger or log
        _URLLIB3_FILTER.secrets[id(self)] = self._secrets
        self._session = requests.Session()
        self._session.headers.update(headers or {})

    def close(self) -> None:
        self._session.close()
        _URLLIB3_FILTER.secrets.pop(id(self), None)

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _TOKEN_PARAM.sub(r"\1" + REDACTED, text)

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str | None = None,
        json: Any = None,
        body: Callable[[], Any] | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        accept: Sequence[int] = (),
        on_transient: Callable[[], Any] | None = None,
    ) -> Any:
        """The response (2xx, or a status in `accept`). `body` is bytes or a function making a fresh body for
        each attempt (a stream is consumed by the first). After a transient failure, `on_transient` is called
        first: what it returns, if not None, is returned instead (a non-idempotent call checks there whether
        its lost answer had in fact succeeded). Raises Refused, GaveUp, DeadlinePassed or HttpError."""
        what = what or f"{method} {urllib.parse.urlsplit(url).path}"
        if self.deadline - time.monotonic() <= 0:
            raise DeadlinePassed(f"{what}: the {self.deadline_s:g} s deadline passed")
        state = _CallState()

        def attempt() -> Any:
            try:
                return self._once(method, url, what, json, body, headers, accept)
            except _DeadlineReached:
                raise
            except _Transient as err:
                state.last_reason = err.reason
                if on_transient is not None:
                    found = on_transient()
                    if found is not None:
                        return found
                raise

        stop = tenacity.stop_any(
            *([tenacity.stop_after_attempt(self.max_attempts)] if self.max_attempts else []),
            lambda rs: self._past_deadline(rs, state),
        )
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            wait=self._wait,
            stop=stop,
            before_sleep=lambda rs: self._log_retry(rs, what),
            sleep=time.sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Transient as err:
            attempts = retrying.statistics.get("attempt_number", 1)
            reason = err.reason
            if isinstance(err, _DeadlineReached) and state.last_reason is not None:
                attempts -= 1  # the last "try" never reached the server
                reason = state.last_reason
            if isinstance(err, _DeadlineReached):
                message = (
                    f"{what} failed {attempts} time(s), last with {reason}; gave up: the {self.deadline_s:g} s "
                    "deadline passed"
                )
            elif state.refused_delay is not None:
                message = (
                    f"{what} failed {attempts} time(s), last with {reason}; gave up: the next try, in "
                    f"{state.refused_delay:.1f} s, would pass the {self.deadline_s:g} s deadline"
                )
            else:
                message = f"{what} failed after {attempts} attempts: {reason}"
            raise GaveUp(
                self.redact(message), attempts=attempts, reason=self.redact(reason), next_delay=state.refused_delay
            ) from None

    def _wait(self, retry_state: tenacity.RetryCallState) -> float:
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(failure, "retry_after", None)
        if retry_after is not None:
            # At least what the server asked, plus a little so that throttled clients do not come back together.
            return retry_after + tenacity.wait_random(0, min(1.0, 0.1 * retry_after + 0.05))(retry_state)
        return self._backoff(retry_state)

    def _past_deadline(self, retry_state: tenacity.RetryCallState, state: _CallState) -> bool:
        delay = retry_state.upcoming_sleep or 0.0
        if time.monotonic() + delay >= self.deadline:
            state.refused_delay = delay
            return True
        return False

    def _log_retry(self, retry_state: tenacity.RetryCallState, what: str) -> None:
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        self._log.warning(
            "%s: %s; retrying in %.1f s (attempt %d)",
            what,
            self.redact(getattr(failure, "reason", "?")),
            retry_state.upcoming_sleep,
            retry_state.attempt_number,
        )

    def _once(self, method, url, what, json, body, headers, accept):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _DeadlineReached(f"the {self.deadline_s:g} s deadline passed")
        data = body() if callable(body) else body
        connect, read = min(self.connect_timeout, remaining), min(self.read_timeout, remaining)
        try:
            response = self._session.request(
                method,
                url,
                json=json,
                data=data,
                headers=dict(headers or {}),
                timeout=(connect, read),
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as err:
            # A certificate problem does not go away by asking again.
            reason = type(_root(err)).__name__
            raise HttpError(self.redact(f"{what}: TLS with {_origin(url)} failed ({reason})")) from None
        except requests.exceptions.ConnectTimeout:
            raise _Transient(f"no connection within {connect:g} s to {_origin(url)}") from None
        except requests.exceptions.Timeout:
            raise _Transient(f"no answer within {read:g} s") from None
        except requests.exceptions.ConnectionError as err:
            root = _root(err)
            reason = getattr(err.args[0], "reason", None) if err.args else None
            if isinstance(reason, urllib3.exceptions.NewConnectionError) or isinstance(root, ConnectionRefusedError):
                # Worded so that both a refused and a cut connection read as "dropped connection" in a search.
                reason = f"cannot reach {_origin(url)} (refused or dropped connection: {type(root).__name__})"
                raise _Transient(reason) from None
            raise _Transient(f"a dropped connection ({type(root).__name__})") from None
        except requests.exceptions.ChunkedEncodingError as err:
            raise _Transient(f"a dropped connection ({type(_root(err)).__name__})") from None
        finally:
            if data is not None and callable(body) and hasattr(data, "close"):
                data.close()
        status = response.status_code
        if 200 <= status < 300 or status in accept:
            return response
        if status in RETRYABLE_STATUS:
            text = _message(response)
            suffix = f" ({self.redact(text)})" if text else ""
            response.close()
            raise _Transient(f"HTTP {status}{suffix}", retry_after_seconds(response.headers.get("Retry-After")))
        text = self.redact(_message(response))
        location = response.headers.get("Location")
        response.close()
        raise Refused(
            self.redact(f"{what} refused ({status})" + (f": {text}" if text else "")),
            status=status,
            text=text,
            body=self.redact(response.content[:_MAX_ERROR_BODY].decode("utf-8", errors="replace")),
            location=self.redact(location) if location else None,
        )


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _root(err: BaseException) -> BaseException:
    seen = set()
    while (err.__cause__ or err.__context__) is not None and id(err) not in seen:
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return err


def _message(response: requests.Response) -> str:
    """An error answer's message in one line: a JSON body's `message` (or `errors`), else its text."""
    text = response.content[:_MAX_ERROR_BODY].decode("utf-8", errors="replace")
    try:
        body = jsonlib.loads(text)
    except ValueError:
        body = text
    if isinstance(body, dict):
        body = body.get("message") or body.get("errors") or body
    text = " ".join(str(body).split())
    return text[:_MAX_MESSAGE] + ("…" if len(text) > _MAX_MESSAGE else "")
