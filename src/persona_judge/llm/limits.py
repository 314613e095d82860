"""Client-side request-per-minute and token-per-minute limits.

Providers enforce rate limits per account (Together's tiers are stated in
requests and tokens per minute).  Staying under them avoids a storm of 429s
when many threads start at once.  :class:`SlidingWindowLimiter` admits an
amount (1 request, or N tokens) only while the amounts admitted during the
last ``window`` seconds stay within ``limit``; callers block until there is
room.  A single amount larger than the whole limit is admitted alone once the
window is empty, so an oversized prompt cannot deadlock a run.

The clock and the wait are injectable (``clock``, ``wait``) so tests can drive
the limiter with a fake clock and check exact admission times, and
``history`` (when asked for with ``keep_history=True``) lists every admission
as ``(time, amount)`` on the limiter's own clock: the limiter's promise is about
those times, not about when a request happens to reach a server under load.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["SlidingWindowLimiter"]


class SlidingWindowLimiter:
    """Thread-safe "at most ``limit`` per ``window`` seconds" gate."""

    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[threading.Condition, float], object] | None = None,
        keep_history: bool = False,
    ) -> None:
        if limit < 1:
            raise ValueError(f"a rate limit must be >= 1 per window, got {limit}")
        if window <= 0:
            raise ValueError(f"the rate window must be > 0 seconds, got {window}")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._wait = wait or (lambda cond, seconds: cond.wait(timeout=seconds))
        self._events: deque[tuple[float, int]] = deque()
        self._in_window = 0
        self._cond = threading.Condition()
        self.history: list[tuple[float, int]] | None = [] if keep_history else None

    def _expire(self, now: float) -> None:
        while self._events and self._events[0][0] <= now - self.window:
            _, amount = self._events.popleft()
            self._in_window -= amount

    def acquire(self, amount: int = 1) -> float:
        """Block until ``amount`` fits in the window; return the seconds waited."""
        amount = max(1, int(amount))
        started = self._clock()
        with self._cond:
            while True:
                now = self._clock()
                self._expire(now)
                if self._in_window + amount <= self.limit or not self._events:
                    self._events.append((now, amount))
                    self._in_window += amount
                    if self.history is not None:
                        self.history.append((now, amount))
                    return now - started
                # Sleep until the oldest admission leaves the window.
                self._wait(self._cond, self._events[0][0] + self.window - now)

    @property
    def in_window(self) -> int:
        with self._cond:
            self._expire(self._clock())
            return self._in_window
