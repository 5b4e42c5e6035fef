"""`CircuitBreaker`: stop calling a failing service for a while, then let one trial decide.

It wraps any async callable (typically a `GenServer.call`) and knows nothing about processes.
It replaces the noex guide's "Circuit Breaker Pattern" snippet, which looks right but is not:
once the reset timeout has passed it closes the circuit for *every* concurrent caller and
zeroes the failure count before knowing whether the service recovered (a herd of callers hits
the service that just failed, and the breaker needs `threshold` new failures to open again),
and it counts any error as a failure, so a caller's own bad request can open the circuit.
`CircuitBreaker` admits at most `half_open_max_calls` trial calls, counts only
`failure_types`, and lets one trial result decide: close or open again.

It never treats `trio.Cancelled` (or any other `BaseException` that is not an `Exception`) as
a failure: cancellation always propagates at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, TypeAlias, TypeVar, TypeVarTuple, final

import attrs
import trio

from . import _checks as checks
from ._exceptions import CircuitOpenError

T = TypeVar("T")
PosArgsT = TypeVarTuple("PosArgsT")

CircuitState: TypeAlias = Literal["closed", "open", "half_open"]
"""The state of a `CircuitBreaker`: `"closed"`, `"open"` or `"half_open"`."""

ExceptionTypes: TypeAlias = type[Exception] | tuple[type[Exception], ...]
"""An exception class or a tuple of them, as in an `except` clause."""


# --------------------------------------------------------------------------- circuit breaker


@attrs.frozen
class CircuitBreakerStatistics:
    """A snapshot of a `CircuitBreaker`, from `CircuitBreaker.statistics()`.

    Attributes:
        name: the breaker's name.
        state: `"closed"`, `"open"` or `"half_open"` at the time of the snapshot.
        failures: consecutive counted failures since the last success, reset or close.
        total_failures: every counted failure (an instance of `failure_types`) ever.
        successes: every call that returned normally.
        rejections: calls refused with `CircuitOpenError` without being tried.
        total_calls: every call the breaker decided on, tried or rejected, so the number of
            calls that reached the wrapped function is `total_calls - rejections`.
        opened_count: how many times the breaker opened (from closed or from half-open).
        half_open_calls: trial calls in flight right now.
        last_failure_time: `trio.current_time()` of the last counted failure, or None.
        retry_after: seconds until the breaker admits a trial call; 0.0 unless open.
    """

    name: str
    state: CircuitState
    failures: int
    total_failures: int
    successes: int
    rejections: int
    total_calls: int
    opened_count: int
    half_open_calls: int
    last_failure_time: float | None
    retry_after: float


@final
class CircuitBreaker:
    """Stop calling a service that keeps failing, and probe it carefully before trusting it again.

    The breaker has three states:

    - **closed**: calls go through. Failures that are instances of `failure_types` are counted;
      any success resets the count. At `failure_threshold` consecutive failures it opens.
    - **open**: every call raises `CircuitOpenError` at once, without calling the function,
      until `reset_timeout` seconds have passed since it opened.
    - **half_open**: at most `half_open_max_calls` trial calls run at a time; other callers get
      `CircuitOpenError`. The first trial to succeed or fail decides: a success closes the
      breaker (counts reset), a counted failure opens it again for another `reset_timeout`.

    The half-open state is computed from the clock, so `state` reads `"half_open"` as soon as
    the timeout has passed, before any call is made. Time is `trio.current_time()`, so tests
    can use `autojump_clock`. One breaker may be shared by any number of tasks in one Trio run:
    a call is checked and admitted without a checkpoint in between, so concurrent callers can
    never exceed `half_open_max_calls`. A result that arrives after the breaker changed state
    for another reason (for example a slow call admitted while closed that finishes after the
    breaker opened) is counted in the statistics but does not move the state.

    Exceptions that are not in `failure_types` pass through untouched and count as neither
    failure nor success; so do `trio.Cancelled` and every other `BaseException` that is not an
    `Exception`. Use `failure_types` to tell "the service is unwell" (timeouts, server not
    running) from "my request was wrong" (an error that `handle_call` raised on purpose).

    Example::

        breaker = CircuitBreaker(
            "inventory",
            failure_threshold=5,
            reset_timeout=30.0,
            failure_types=(CallTimeoutError, ServerNotRunningError),
        )

        async def stock(sku: str) -> int:
            return await GenServer.call(inventory, ("stock", sku), timeout=2.0)

        try:
            count = await breaker.call(stock, "sku-42")
        except CircuitOpenError:
            count = cached_stock("sku-42")  # degrade instead of waiting on a dead service

    Args:
        name: names the breaker in `CircuitOpenError` and statistics (a non-empty str).
        failure_threshold: consecutive counted failures that open the closed breaker (>= 1).
        reset_timeout: seconds the breaker stays open before admitting trial calls (> 0;
            `math.inf` keeps it open until `reset()`).
        half_open_max_calls: trial calls allowed at the same time when half-open (>= 1).
        failure_types: the exceptions that count as failures: an `Exception` subclass or a
            tuple of them. Defaults to `Exception`, i.e. every ordinary error.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range, or `failure_types` names a `BaseException`
            that is not an `Exception` (such as `trio.Cancelled`).
    """

    __slots__ = (
        "_failure_threshold",
        "_failure_types",
        "_failures",
        "_generation",
        "_half_open_max_calls",
        "_last_failure_time",
        "_name",
        "_opened_at",
        "_opened_count",
        "_rejections",
        "_reset_timeout",
        "_successes",
        "_total_calls",
        "_total_failures",
        "_trials",
    )

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        failure_types: ExceptionTypes = Exception,
    ) -> None:
        self._name = checks.name(name, "name")
        self._failure_threshold = checks.count(failure_threshold, "failure_threshold", minimum=1)
        self._reset_timeout = checks.seconds(reset_timeout, "reset_timeout")
        self._half_open_max_calls = checks.count(
            half_open_max_calls, "half_open_max_calls", minimum=1
        )
        self._failure_types = checks.exception_types(failure_types, "failure_types")

        # When the breaker last opened; None while closed. Half-open is derived from the clock.
        self._opened_at: float | None = None
        # Bumped on every state change; a result from an older generation does not move it.
        self._generation = 0
        self._trials = 0  # trial calls in flight while half-open
        self._failures = 0  # consecutive counted failures
        self._total_failures = 0
        self._successes = 0
        self._rejections = 0
        self._total_calls = 0
        self._opened_count = 0
        self._last_failure_time: float | None = None

    def __repr__(self) -> str:
        names = [cls.__qualname__ for cls in self._failure_types]
        types = names[0] + "," if len(names) == 1 else ", ".join(names)
        return (
            f"CircuitBreaker({self._name!r}, failure_threshold={self._failure_threshold}, "
            f"reset_timeout={self._reset_timeout}, "
            f"half_open_max_calls={self._half_open_max_calls}, failure_types=({types}))"
        )

    @property
    def name(self) -> str:
        """The breaker's name, as `CircuitOpenError.name` and in statistics."""
        return self._name

    @property
    def failure_threshold(self) -> int:
        """Consecutive counted failures that open the closed breaker."""
        return self._failure_threshold

    @property
    def reset_timeout(self) -> float:
        """Seconds the breaker stays open before admitting trial calls."""
        return self._reset_timeout

    @property
    def half_open_max_calls(self) -> int:
        """Trial calls allowed at the same time while half-open."""
        return self._half_open_max_calls

    @property
    def failure_types(self) -> tuple[type[Exception], ...]:
        """The exceptions that count as failures, as a tuple."""
        return self._failure_types

    def _status(self) -> tuple[CircuitState, float]:
        """Return (state, retry_after) now; the clock is read once, and only if not closed."""
        if self._opened_at is None:
            return "closed", 0.0
        wait = max(0.0, self._opened_at + self._reset_timeout - trio.current_time())
        return ("open" if wait > 0 else "half_open"), wait

    @property
    def state(self) -> CircuitState:
        """`"closed"`, `"open"` or `"half_open"`, computed now.

        Reading the state of a breaker that is not closed needs a running Trio loop.
        """
        return self._status()[0]

    def statistics(self) -> CircuitBreakerStatistics:
        """Return a frozen snapshot of the breaker's state and counters."""
        state, retry_after = self._status()
        return CircuitBreakerStatistics(
            name=self._name,
            state=state,
            failures=self._failures,
            total_failures=self._total_failures,
            successes=self._successes,
            rejections=self._rejections,
            total_calls=self._total_calls,
            opened_count=self._opened_count,
            half_open_calls=self._trials,
            last_failure_time=self._last_failure_time,
            retry_after=retry_after,
        )

    def reset(self) -> None:
        """Close the breaker now and zero the consecutive-failure count.

        Cumulative counters (`successes`, `rejections`, ...) are kept. Calls still in flight
        from before the reset no longer move the state when they finish.
        """
        self._close()

    def _close(self) -> None:
        self._opened_at = None
        self._generation += 1
        self._trials = 0
        self._failures = 0

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._generation += 1
        self._trials = 0
        self._opened_count += 1

    def _admit(self) -> tuple[int, bool]:
        """Admit a call or raise `CircuitOpenError`; return (generation, is_trial).

        Synchronous on purpose: checking the state and taking a trial slot must happen without
        a checkpoint in between, or concurrent callers could all take the last slot.
        """
        self._total_calls += 1
        state, wait = self._status()
        if state == "closed":
            return self._generation, False
        if state == "open" or self._trials >= self._half_open_max_calls:
            # With all trial slots taken, the next trial may come as soon as one finishes.
            self._rejections += 1
            raise CircuitOpenError(self._name, wait)
        self._trials += 1
        return self._generation, True

    def _record_failure(self, generation: int, trial: bool) -> None:
        now = trio.current_time()
        self._total_failures += 1
        self._last_failure_time = now
        if generation != self._generation:
            return
        self._failures += 1
        if trial or self._failures >= self._failure_threshold:
            self._open(now)

    def _record_success(self, generation: int, trial: bool) -> None:
        self._successes += 1
        if generation != self._generation:
            return
        if trial:
            self._close()
        else:
            self._failures = 0

    def _record_abandoned(self, generation: int, trial: bool) -> None:
        # Neither failure nor success (cancelled, or an error outside `failure_types`):
        # give the trial slot back so another caller can probe.
        if trial and generation == self._generation:
            self._trials -= 1

    async def call(self, fn: Callable[[*PosArgsT], Awaitable[T]], *args: *PosArgsT) -> T:
        """Call `await fn(*args)` through the breaker and return its result.

        Use `functools.partial` to pass keyword arguments.

        Args:
            fn: the async function to call.
            *args: positional arguments for `fn`.

        Returns:
            Whatever `fn` returns.

        Raises:
            CircuitOpenError: the breaker is open, or half-open with every trial slot taken;
                `fn` was not called. `.retry_after` says how long until a trial is admitted
                (0.0 when trial calls are running and the next may come at any moment).
            Exception: whatever `fn` raises, unchanged, counted or not.

        This is a checkpoint even when the call is rejected, so a loop that keeps calling an
        open breaker cannot starve other tasks. If the call is cancelled, nothing is counted,
        a trial slot it held is freed, and the breaker stays as it was.
        """
        await trio.lowlevel.checkpoint()
        generation, trial = self._admit()
        try:
            result = await fn(*args)
        except self._failure_types:
            self._record_failure(generation, trial)
            raise
        except BaseException:
            self._record_abandoned(generation, trial)
            raise
        self._record_success(generation, trial)
        return result
