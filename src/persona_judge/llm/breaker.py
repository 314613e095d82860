"""The circuit breaker: stop a run whose endpoint keeps failing, instead of grinding on.

A failed call already costs its retries (up to minutes of backoff). When calls
keep failing, the endpoint is down or misconfigured, and every further call only
adds waiting and junk results. :class:`CircuitBreaker` watches finished calls and
*trips* when either

* ``consecutive`` calls in a row failed for good (after all their retries), or
* at least ``min_calls`` calls have finished and more than ``failure_share`` of
  them failed.

Once tripped it stays open: the client refuses new calls and in-flight retries
stop, with one message naming the endpoint, the model, the last error and what
to check. Single failed attempts (a 429 the client waited out, a 503 that the
next attempt got past) never count; only calls that ran out of retries do.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["BreakerState", "CircuitBreaker"]


@dataclass(frozen=True)
class BreakerState:
    """A snapshot: calls finished, failed, failing in a row, and why it tripped (or "")."""

    finished: int
    failed: int
    consecutive: int
    tripped: str


class CircuitBreaker:
    """Thread-safe failure counter that trips on a streak or a failure share."""

    def __init__(self, consecutive: int = 3, failure_share: float = 0.25,
                 min_calls: int = 12) -> None:
        if consecutive < 1:
            raise ValueError(f"consecutive must be >= 1, got {consecutive}")
        if not 0 < failure_share <= 1:
            raise ValueError(f"failure_share must be in (0, 1], got {failure_share}")
        if min_calls < 1:
            raise ValueError(f"min_calls must be >= 1, got {min_calls}")
        self.consecutive = consecutive
        self.failure_share = failure_share
        self.min_calls = min_calls
        self._lock = threading.Lock()
        self._finished = 0
        self._failed = 0
        self._streak = 0
        self._tripped = ""
        self.last_error = ""

    @property
    def tripped(self) -> bool:
        with self._lock:
            return bool(self._tripped)

    def state(self) -> BreakerState:
        with self._lock:
            return BreakerState(self._finished, self._failed, self._streak, self._tripped)

    def record_success(self) -> None:
        with self._lock:
            self._finished += 1
            self._streak = 0

    def record_failure(self, error: str) -> bool:
        """Count a call that failed for good; True if the breaker is (now) tripped."""
        with self._lock:
            self._finished += 1
            self._failed += 1
            self._streak += 1
            self.last_error = error
            if not self._tripped:
                if self._streak >= self.consecutive:
                    self._tripped = f"{self._streak} calls in a row failed"
                elif (self._finished >= self.min_calls
                      and self._failed / self._finished > self.failure_share):
                    self._tripped = (f"{self._failed} of {self._finished} calls failed "
                                     f"(more than {self.failure_share:.0%})")
            return bool(self._tripped)

    def trip(self, why: str, error: str) -> None:
        """Open the breaker for a reason found elsewhere (e.g. a failed preflight)."""
        with self._lock:
            if not self._tripped:
                self._tripped = why
            self.last_error = error
