"""Call latency, measured by the runtime when (and only when) an observer asks for it.

The hook this expects of the core: ``Kernel.call_observers``, a dict (empty unless an
observer registered) of ``observer(proc, seconds)`` callables. The call path only tests
whether the dict is empty — nothing else is paid while nobody observes — and otherwise, once a
call that was queued returns or raises, reports from the caller's task the seconds from the
call being made (``Caller._since``) to its end.

`attach` registers with it (and returns True: the hook is always there).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .._process import Process
    from .._runtime import Runtime

#: Upper bounds of the latency histogram's buckets, in seconds (``+Inf`` is implied): from
#: 50 µs (an in-process round trip takes about 10 µs) to 10 s (beyond the default timeout).
BUCKETS: Final = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

CallObserver = Callable[["Process", float], object]


class Histogram:
    """Counts of observations by bucket (cumulative on read, as Prometheus wants them)."""

    __slots__ = ("_counts", "count", "sum")

    def __init__(self) -> None:
        self._counts = [0] * (len(BUCKETS) + 1)  # the last one is +Inf
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self._counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.count += 1
        self.sum += seconds

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, observations <= bound)`` for every bucket, ``+Inf`` last."""
        total = 0
        result = []
        for bound, count in zip((*BUCKETS, float("inf")), self._counts, strict=True):
            total += count
            result.append((bound, total))
        return result


#: A histogram's figures, copied: ``(cumulative buckets, sum, count)``.
Figures = tuple[list[tuple[float, int]], float, int]


class CallTimings:
    """Call latencies of one runtime, by the behaviour (class name) of the called process."""

    def __init__(self) -> None:
        self.by_behaviour: dict[str, Histogram] = {}
        self._kernel: Any = None
        self._on_call: Callable[[str, float], object] | None = None

    def attach(
        self, runtime: Runtime, on_call: Callable[[str, float], object] | None = None
    ) -> bool:
        """Register with `runtime`'s call hook (True).

        `on_call(behaviour, seconds)`, if given, also runs on every timed call (the
        OpenTelemetry histogram records there).
        """
        kernel = runtime._kernel
        self._kernel = kernel
        self._on_call = on_call
        kernel.call_observers[self] = self._observe
        return True

    def detach(self) -> None:
        """Stop observing (idempotent)."""
        kernel, self._kernel = self._kernel, None
        if kernel is not None:
            kernel.call_observers.pop(self, None)

    def figures(self) -> dict[str, Figures]:
        """A copy of every histogram, by behaviour (safe to read from another thread)."""
        return {
            behaviour: (histogram.cumulative(), histogram.sum, histogram.count)
            for behaviour, histogram in self.by_behaviour.items()
        }

    def _observe(self, proc: Process, seconds: float) -> None:
        behaviour = type(proc.behaviour).__name__
        histogram = self.by_behaviour.get(behaviour)
        if histogram is None:
            histogram = self.by_behaviour[behaviour] = Histogram()
        histogram.observe(seconds)
        if self._on_call is not None:
            self._on_call(behaviour, seconds)
