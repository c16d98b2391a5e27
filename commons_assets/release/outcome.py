"""What a run did, told as it happened: the CLI's verdict and each run's own log.

The verdict is read from what the run left, not from which step failed: a release is « published » when the
ledger holds rows of that week written by this run (and then the files are in the target, since the ledger is
written after they are moved); otherwise nothing was published, and the exit code says why: a check blocked it
(2), a setting, an input or a refusal (1), anything else is a bug (3).

The log of a run (`<COMMONS_HOME>/logs/<release|validate>-<week>-<run id>.log`, never overwritten) holds dbt's
output and then every event of the run: each step, each check with its findings (names and counts, never a
value), each failure with its message, without colour codes.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, field

from commons_assets.errors import CommonsError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BLOCKED = 2
EXIT_BUG = 3
DBT_FAILURE = "DagsterDbtCliRuntimeError"

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# Lines of a dbt failure that name what failed (a test, a model) and never carry a value: dbt's "Database
# Error" lines can quote the offending value, so they stay in the run's log and are not printed.
_DBT_FAILURE_LINE = re.compile(r"^(\d+ of \d+ (ERROR|FAIL)\b.*|Failure in (test|unit_test|model) \S+.*)$")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


class PlainWriter(io.TextIOBase):
    """A text stream that writes into `target` without terminal colour codes (dbt colours its output)."""

    def __init__(self, target):
        self._target = target

    def write(self, text: str) -> int:
        self._target.write(strip_ansi(text))
        return len(text)

    def flush(self) -> None:
        self._target.flush()


def _subclass_names(cls: type) -> set[str]:
    names = {cls.__name__}
    for sub in cls.__subclasses__():
        names |= _subclass_names(sub)
    return names


def user_error_names() -> set[str]:
    """Class names of the errors a person can fix: ours, and dagster's Failure, which our steps raise with a
    message saying what to fix (a refused publication, an unreachable portal)."""
    return _subclass_names(CommonsError) | {"Failure"}


@dataclass(frozen=True)
class StepFailure:
    step: str
    cls_name: str  # the innermost error's class
    message: str  # one line a person can act on, plus the names of failed dbt tests or models


@dataclass
class RunFacts:
    """What happened, independent of the order steps ran in."""

    published_targets: list[str] = field(default_factory=list)  # ledger rows of the week written by this run
    failed_checks: list[tuple[str, str]] = field(default_factory=list)  # (check, description)
    # checks the service declared warnings (a dbt test with severity warn, the CNIL exemption when its project
    # says so): reported after the summary, they never stop the release
    warned_checks: list = field(default_factory=list)  # AssetCheckEvaluation
    failures: list[StepFailure] = field(default_factory=list)
    success: bool = True


def verdict(facts: RunFacts) -> int:
    """The exit code of a run, from what it did."""
    if facts.published_targets:
        # something went out: a failure after that is not « nothing was published », it is a bug to report
        return EXIT_OK if facts.success and not facts.failures else EXIT_BUG
    # dbt's build is where the data's own tests and contracts run: a failed build stops the release as a check does
    if facts.failed_checks or any(f.cls_name == DBT_FAILURE for f in facts.failures):
        return EXIT_BLOCKED
    if not facts.failures and facts.success:
        return EXIT_OK
    names = user_error_names()
    if facts.failures and all(f.cls_name in names for f in facts.failures):
        return EXIT_ERROR
    return EXIT_BUG


def _innermost(error):
    while error is not None and error.cause is not None:
        error = error.cause
    return error


def failure_of(step: str, data) -> StepFailure:
    """A StepFailure from a dagster failure's data (a step's, or a resource's set-up)."""
    user = getattr(data, "user_failure_data", None)
    error = _innermost(getattr(data, "error", None))
    if user is not None and user.description and (error is None or error.cls_name != DBT_FAILURE):
        # a dg.Failure, or one of its subclasses (dagster-dbt's DagsterDbtCliRuntimeError is one): keep the real
        # class; a failed dbt build goes below instead, where only the lines naming a test or model are kept
        # (dbt's « Database Error » lines can quote a value)
        return StepFailure(step, error.cls_name if error is not None else "Failure", user.description)
    if error is None:
        return StepFailure(step, "", "unknown error")
    lines = [line.strip() for line in strip_ansi(error.message).strip().splitlines() if line.strip()]
    head = lines[0] if lines else ""
    # « commons_assets.errors.ReleaseRefused: text » → « text » for our own errors: the message is the point
    if error.cls_name in _subclass_names(CommonsError):
        head = re.sub(rf"^[\w.]*{re.escape(error.cls_name)}:\s*", "", head)
        named: list[str] = []
    else:
        head = f"{error.cls_name}: {head}"
        named = []
        for line in lines[1:]:
            if _DBT_FAILURE_LINE.match(line) and line not in named:
                named.append(line)
    return StepFailure(step, error.cls_name, "\n      ".join([head, *named[:20]]))


def facts_of(result, published_targets: list[str]) -> RunFacts:
    """The facts of an ExecuteInProcessResult, with the ledger's answer about what it published."""
    import dagster as dg

    facts = RunFacts(published_targets=published_targets, success=result.success)
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN:
            facts.warned_checks.append(evaluation)
        elif not evaluation.passed:
            key = evaluation.asset_check_key
            facts.failed_checks.append((f"{key.asset_key.to_user_string()}:{key.name}", evaluation.description or ""))
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            failure = failure_of(event.step_key, event.step_failure_data)
            # a step stopped by a blocking check is reported with the check
            if not failure.cls_name.startswith("DagsterAssetCheckFailedError"):
                facts.failures.append(failure)
        elif event.event_type == dg.DagsterEventType.RESOURCE_INIT_FAILURE:
            facts.failures.append(failure_of("set-up", event.event_specific_data))
    return facts


def _traceback(error) -> str:
    """A bug's traceback for the run's log, which the CLI asks to report: each exception of the chain with the
    first line of its message (as the summary shows it) and its frames (file, line, code), never the rest of a
    message, which a database error can fill with a row's values."""
    lines = []
    while error is not None:
        head = (strip_ansi(error.message or "").strip().splitlines() or [""])[0]
        head = re.sub(rf"^[\w.]*{re.escape(error.cls_name)}:\s*", "", head)
        lines.append(f"    Traceback of {error.cls_name}: {head}")
        lines += [f"    {line}" for frame in error.stack for line in strip_ansi(frame).rstrip().splitlines()]
        error = error.cause
    return "\n".join(lines)


def render_event_log(entries) -> str:
    """The run's events (EventLogEntry), one line each, for the run's log: time, step, what happened."""
    lines = []
    for entry in entries:
        when = dt.datetime.fromtimestamp(entry.timestamp, dt.UTC).strftime("%H:%M:%S")
        event = entry.dagster_event
        step = entry.step_key or "run"
        if event is None:
            lines.append(f"{when} {step}: {strip_ansi(entry.user_message or '')}")
            continue
        kind = event.event_type_value
        text = entry.user_message or event.message or ""
        data = event.event_specific_data
        evaluation = getattr(data, "asset_check_key", None) and data
        if evaluation is not None and hasattr(evaluation, "passed"):
            key = evaluation.asset_check_key
            outcome = "passed" if evaluation.passed else "FAILED"
            text = f"check {key.asset_key.to_user_string()}:{key.name} {outcome}: {evaluation.description or ''}"
        error = getattr(data, "error", None)
        trace = ""
        if error is not None:
            inner = _innermost(error)
            text += f" [{inner.cls_name}: {strip_ansi(inner.message).strip().splitlines()[0] if inner.message else ''}]"
            # a refusal, a failed dbt build or a step stopped by a blocking check is no bug: no traceback
            expected = inner.cls_name in user_error_names() or inner.cls_name == DBT_FAILURE
            if not expected and not inner.cls_name.startswith("DagsterAssetCheckFailedError"):
                trace = "\n" + _traceback(error)
        lines.append(f"{when} {step} {kind}: {strip_ansi(text)}{trace.rstrip()}")
    return "\n".join(lines) + "\n"
