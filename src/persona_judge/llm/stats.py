"""Per-run accounting of the LLM client: calls, cache hits, failures, tokens, dollars.

One :class:`RunStats` lives on each client and is updated from many threads;
every update goes through :meth:`RunStats.add` under a lock.  In a dry run the
same counters hold what a real run *would* do, with tokens and dollars
estimated.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["RunStats"]


@dataclass
class RunStats:
    """Counters for one client's run.

    calls:        requests sent to the endpoint (in a dry run: that would be sent);
                  parse resamples are new requests and count here too
    cache_hits:   requests answered from the cache, with no network call
    attempts:     HTTP attempts, including retries
    retries:      attempts that were retries, by cause in ``retries_by_cause``
    failures:     calls that still failed after all retries
    unparseable:  judge answers that could not be parsed
    resamples:    extra samples drawn because an answer was unparseable
    fallbacks:    results handed back in place of a real answer (a ChatResult
                  with ``error``; a Judgment with no choice because its call
                  failed or no answer could be parsed); the batch went on
    preflight_calls: tiny requests that checked the endpoint (and probed its
                  structured-output support) before the first real call; never
                  cached, their tokens and dollars are included below
    preflight_waited: seconds the preflight waited for a rate-limiting server
    slow_answers: answers that took longer than the client's ``timeout`` and were
                  waited for (the request is never sent twice); ``slowest_answer``
                  is the longest answer time in seconds
    prompt_tokens / completion_tokens / dollars: spent by this run's calls
                  (cache hits cost nothing); estimates in a dry run
    """

    model: str = ""
    backend: str = ""
    dry_run: bool = False
    calls: int = 0
    cache_hits: int = 0
    attempts: int = 0
    retries: int = 0
    retries_by_cause: dict[str, int] = field(default_factory=dict)
    failures: int = 0
    unparseable: int = 0
    resamples: int = 0
    fallbacks: int = 0
    usage_missing: int = 0
    preflight_calls: int = 0
    preflight_waited: float = 0.0
    slow_answers: int = 0
    slowest_answer: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dollars: float = 0.0
    price_known: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **increments: float) -> None:
        """Add to counters atomically, e.g. ``stats.add(calls=1, prompt_tokens=812)``."""
        with self._lock:
            for name, amount in increments.items():
                if name.startswith("_") or name not in self.__dataclass_fields__:
                    raise AttributeError(f"RunStats has no counter {name!r}")
                setattr(self, name, getattr(self, name) + amount)

    def note_latency(self, seconds: float, timeout: float) -> None:
        """Record how long one answer took; count it as slow beyond ``timeout``."""
        with self._lock:
            self.slowest_answer = max(self.slowest_answer, seconds)
            self.slow_answers += seconds > timeout

    def add_retry(self, cause: str) -> None:
        with self._lock:
            self.retries += 1
            self.retries_by_cause[cause] = self.retries_by_cause.get(cause, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {}
            for f in fields(self):
                if f.name.startswith("_"):
                    continue
                value = getattr(self, f.name)
                out[f.name] = dict(value) if isinstance(value, dict) else value
            return out

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
