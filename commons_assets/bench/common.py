"""Constants and the error of the benchmark, shared by its modules."""

from __future__ import annotations

from commons_assets.errors import CommonsError

DEFAULT_USERS = 1_000_000
DEFAULT_EVENTS = 10_000_000
SEED = 42
SAMPLE_EVERY_S = 0.2
MB = 1024 * 1024

class BenchError(CommonsError, RuntimeError):
    """The benchmark cannot run as asked; the message says why."""
