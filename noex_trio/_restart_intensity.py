"""Restart intensity: how many restarts a supervisor tolerates before it gives up.

This is OTP's ``add_restart`` (``supervisor.erl``) on `trio.current_time()` floats: keep the
earlier restarts that happened at or after ``now - max_seconds``, add ``now``, and give up when
more than ``max_restarts`` remain. With Elixir's default (3 in 5 s) a fourth restart within
five seconds is refused; with ``max_restarts=0`` the first one is.

Erlang counts whole seconds, so its window is effectively between ``max_seconds`` and
``max_seconds + 1``; here it is exact.
"""

from __future__ import annotations

import math
from collections import deque

from . import _checks as checks
from ._exceptions import InvalidChildSpecError


def check_intensity(max_restarts: object, max_seconds: object) -> tuple[int, float]:
    """Validate the two intensity options; return them as (int, float).

    Raises:
        InvalidChildSpecError: `max_restarts` is not an int >= 0, or `max_seconds` is not a
            number of seconds > 0 (``math.inf`` allowed).
    """
    return (
        checks.count(max_restarts, "max_restarts", error=InvalidChildSpecError),
        checks.seconds(max_seconds, "max_seconds", error=InvalidChildSpecError),
    )


class RestartIntensity:
    """The sliding window of one supervisor's recent restarts.

    Args:
        max_restarts: restarts tolerated within the window.
        max_seconds: the window's length; ``math.inf`` counts every restart ever made.
    """

    __slots__ = ("_times", "max_restarts", "max_seconds", "total")

    def __init__(self, max_restarts: int, max_seconds: float) -> None:
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        # Never longer than max_restarts + 1: at that length the supervisor gives up.
        self._times: deque[float] = deque()
        #: Restarts allowed so far (`add_restart` returned True).
        self.total = 0

    def add_restart(self, now: float) -> bool:
        """Record a restart at `now` (never earlier than the previous one).

        Returns:
            True if the supervisor may restart, False if it must give up.
        """
        times = self._times
        if self.max_seconds != math.inf:
            oldest = now - self.max_seconds
            while times and times[0] < oldest:
                times.popleft()
        times.append(now)
        if len(times) > self.max_restarts:
            return False
        self.total += 1
        return True

    def recent(self) -> list[float]:
        """The restart times still in the window as of the last `add_restart` (oldest first)."""
        return list(self._times)

    def in_window(self, now: float) -> int:
        """How many restarts are in the window at `now` (not before the last restart)."""
        if self.max_seconds == math.inf:
            return len(self._times)
        oldest = now - self.max_seconds
        return sum(1 for time in self._times if time >= oldest)
