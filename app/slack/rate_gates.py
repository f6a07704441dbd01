"""Holding back calls Slack has rate limited, before they earn another 429.

Slack's limits are per method (Tier 2 is about 20 calls a minute) or, for chat.postMessage, per
channel. After a 429 with Retry-After, every queued call under the same limit waits it out (the
gate). For a method's tier, calls are then spaced by that interval for a minute, widened while
Slack still refuses (the pace): a backlog of 500 channels then goes out at Slack's rate instead
of earning one 429 per channel. A channel's message limit (about one a second) needs no pacing:
its Retry-After is exact, and widening it would only hold back pages to that person.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

PACE_FOR = timedelta(seconds=60)  # how long a learned interval keeps spacing calls after the last 429
PACE_STEP = timedelta(seconds=1)


class RateGates:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed_until: dict[str, datetime] = {}  # limit key -> when the next call may go
        self._pace: dict[str, tuple[timedelta, datetime]] = {}  # limit key -> (interval, until when it applies)

    def closed_until(self, key: str, now: datetime) -> datetime | None:
        """When a call under `key` may go, or None if it may go now."""
        with self._lock:
            until = self._closed_until.get(key)
            if until is None or until <= now:
                self._closed_until.pop(key, None)
                return None
            return until

    def rate_limited(self, key: str, answered: datetime, retry_after: float, pace: bool = True) -> datetime:
        """Slack answered 429: close the gate for Retry-After and (if `pace`) space later calls. Returns when it opens."""
        with self._lock:
            opens = answered + timedelta(seconds=retry_after)
            self._closed_until[key] = max(opens, self._closed_until.get(key, opens))
            if not pace:
                return opens
            # Retry-After only says when the next single call may go. A 429 while already pacing means the
            # interval is too short for a backlog: widen it a second at a time until Slack stops refusing.
            previous = self._pace.get(key)
            interval = timedelta(seconds=retry_after)
            if previous is not None and answered < previous[1]:
                interval = max(interval, previous[0] + PACE_STEP)
            self._pace[key] = (interval, answered + PACE_FOR)
        return opens

    def sent(self, key: str, now: datetime) -> None:
        """A call under `key` went through: while the limit is fresh, the next one waits its interval."""
        with self._lock:
            pace = self._pace.get(key)
            if pace is None:
                return
            interval, until = pace
            if now >= until:
                del self._pace[key]
                return
            opens = now + interval
            self._closed_until[key] = max(opens, self._closed_until.get(key, opens))
