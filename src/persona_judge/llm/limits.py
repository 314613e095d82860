"""Client-side request-per-minute and token-per-minute limits.

Providers enforce rate limits per account (Together's tiers are stated in
requests and tokens per minute).  Staying under them avoids a storm of 429s
when many threads start at once.  :class:`SlidingWindowLimiter` admits an
amount (1 request, or N tokens) only while the amounts admitted during the
last ``window`` seconds stay within ``limit``; callers block until there is
room.  A single amount larger than the whole limit is admitted alone once the
window is empty, so an oversized prompt cannot deadlock a run.
"""

from __future__ import annotations

import threading
import time
from collections import deque

__all__ = ["SlidingWindowLimiter"]


class SlidingWindowLimiter:
    """Thread-safe "at most ``limit`` per ``window`` seconds" gate."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        if limit < 1:
            raise ValueError(f"a rate limit must be >= 1 per window, got {limit}")
        if window <= 0:
            raise ValueError(f"the rate window must be > 0 seconds, got {window}")
        self.limit = limit
        self.window = window
        self._events: deque[tuple[float, int]] = deque()
        self._in_window = 0
        self._cond = threading.Condition()

    def _expire(self, now: float) -> None:
        while self._events and self._events[0][0] <= now - self.window:
            _, amount = self._events.popleft()
            self._in_window -= amount

    def acquire(self, amount: int = 1) -> float:
        """Block until ``amount`` fits in the window; return the seconds waited."""
        amount = max(1, int(amount))
        started = time.monotonic()
        with self._cond:
            while True:
                now = time.monotonic()
                self._expire(now)
                if self._in_window + amount <= self.limit or not self._events:
                    self._events.append((now, amount))
                    self._in_window += amount
                    return now - started
                # Sleep until the oldest admission leaves the window.
                self._cond.wait(timeout=self._events[0][0] + self.window - now)

    @property
    def in_window(self) -> int:
        with self._cond:
            self._expire(time.monotonic())
            return self._in_window
