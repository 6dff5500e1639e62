"""Time as an injectable dependency, so TTLs and recency are tested without sleeping."""

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]
"""Returns the current time as Unix seconds."""


def system_clock() -> float:
    return time.time()


class ManualClock:
    """A clock that only moves when told to: for tests and simulations."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, *, days: float = 0, hours: float = 0, seconds: float = 0) -> None:
        self.now += days * 86_400 + hours * 3_600 + seconds


def to_datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def iso(timestamp: float) -> str:
    """Second-precision ISO 8601 in UTC, the form every answer uses."""
    return to_datetime(timestamp).strftime("%Y-%m-%dT%H:%M:%SZ")
