"""Tests for `noex_trio._circuit_breaker` and `noex_trio._retry`: `CircuitBreaker`, `retry`
and `backoff_delays`."""

from __future__ import annotations

import math
import random
import re
from functools import partial
from itertools import pairwise
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from noex_trio._circuit_breaker import CircuitBreaker, CircuitBreakerStatistics, CircuitState
from noex_trio._exceptions import CallTimeoutError, CircuitOpenError, ServerNotRunningError
from noex_trio._retry import backoff_delays, retry


class Boom(Exception):
    """A failure the tests count (or retry)."""


class Other(Exception):
    """An error the tests leave out of `failure_types` / `retry_on`."""


async def ok(value: int) -> int:
    await trio.lowlevel.checkpoint()
    return value


async def fail(error: Exception) -> int:
    await trio.lowlevel.checkpoint()
    raise error


async def wait_then(event: trio.Event, error: Exception | None = None) -> str:
    """Block until `event` is set, then raise `error` or return "done"."""
    await event.wait()
    if error is not None:
        raise error
    return "done"


def only_exceptions(what: str, class_name: str) -> str:
    """The anchored message for a `BaseException` outside `Exception` in `what`."""
    return (
        rf"^expected {what} to hold only Exception subclasses, got <class {re.escape(class_name)}> "
        r"\(catching it would swallow cancellation or interrupts\)$"
    )


def seconds_above_0(what: str) -> str:
    """The anchored start of the message for a bad number of seconds > 0 in `what`."""
    return rf"expected {what} to be a number of seconds > 0 or math\.inf"


def not_exception_types(what: str, got: str) -> str:
    """The anchored message for something that is not exception classes in `what`."""
    return rf"^expected {what} to be an Exception subclass or a non-empty tuple of them, got {got}$"


def state_of(breaker: CircuitBreaker) -> CircuitState:
    """Read `breaker.state` (a call, so mypy does not keep a narrowed property across awaits)."""
    return breaker.state


async def trip(breaker: CircuitBreaker) -> None:
    """Open a closed `breaker` with `failure_threshold` counted failures."""
    for _ in range(breaker.failure_threshold):
        with pytest.raises(Boom):
            await breaker.call(fail, Boom())
    assert breaker.state == "open"


class Counter:
    """An async callable that counts how often it was called."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        await trio.lowlevel.checkpoint()
        return "called"


# --------------------------------------------------------------------------- CircuitBreaker


async def test_closed_open_half_open_closed_cycle(autojump_clock: trio.testing.MockClock) -> None:
    breaker = CircuitBreaker("inventory", failure_threshold=3, reset_timeout=10.0)
    start = trio.current_time()

    # Two failures, then a success: the consecutive count starts over.
    for _ in range(2):
        with pytest.raises(Boom):
            await breaker.call(fail, Boom())
    assert breaker.statistics().failures == 2
    assert await breaker.call(ok, 7) == 7
    assert breaker.statistics().failures == 0
    assert state_of(breaker) == "closed"

    # Three in a row open it.
    await trio.sleep(1.0)
    await trip(breaker)
    opened_at = trio.current_time()
    assert opened_at == start + 1.0

    # Open: rejected at once, the function is not called.
    counter = Counter()
    with pytest.raises(
        CircuitOpenError, match=r"^circuit 'inventory' is open; next trial in 10 s$"
    ):
        await breaker.call(counter)
    assert counter.calls == 0
    await trio.sleep(4.0)
    with pytest.raises(CircuitOpenError) as info:
        await breaker.call(counter)
    assert info.value.name == "inventory"
    assert info.value.retry_after == 6.0
    assert counter.calls == 0

    # Half-open is computed from the clock, before any call.
    await trio.sleep(5.5)
    assert state_of(breaker) == "open"
    await trio.sleep(0.5)
    assert trio.current_time() == opened_at + 10.0
    assert state_of(breaker) == "half_open"
    assert breaker.statistics().retry_after == 0.0

    # A successful trial closes it.
    assert await breaker.call(counter) == "called"
    assert counter.calls == 1
    assert state_of(breaker) == "closed"
    assert breaker.statistics().failures == 0


async def test_failed_trial_opens_again(autojump_clock: trio.testing.MockClock) -> None:
    breaker = CircuitBreaker("db", failure_threshold=2, reset_timeout=5.0)
    await trip(breaker)
    await trio.sleep(5.0)
    assert state_of(breaker) == "half_open"

    with pytest.raises(Boom):
        await breaker.call(fail, Boom())
    reopened_at = trio.current_time()
    assert state_of(breaker) == "open"
    stats = breaker.statistics()
    assert stats.opened_count == 2
    assert stats.retry_after == 5.0
    assert stats.last_failure_time == reopened_at
    assert stats.failures == 3

    # The new timeout runs from the failed trial, not from the first opening.
    await trio.sleep(4.0)
    assert state_of(breaker) == "open"
    await trio.sleep(1.0)
    assert state_of(breaker) == "half_open"
    assert await breaker.call(ok, 1) == 1
    assert state_of(breaker) == "closed"


async def test_only_failure_types_count() -> None:
    breaker = CircuitBreaker("svc", failure_threshold=2, failure_types=(Boom,))
    for _ in range(5):
        with pytest.raises(Other):
            await breaker.call(fail, Other())
    assert state_of(breaker) == "closed"
    assert breaker.statistics().failures == 0
    assert breaker.statistics().total_failures == 0

    # An uncounted error is not a success either: it does not break a run of failures.
    with pytest.raises(Boom):
        await breaker.call(fail, Boom())
    with pytest.raises(Other):
        await breaker.call(fail, Other())
    with pytest.raises(Boom):
        await breaker.call(fail, Boom())
    assert state_of(breaker) == "open"


async def test_uncounted_error_passes_through_unchanged() -> None:
    breaker = CircuitBreaker("svc", failure_types=CallTimeoutError)
    assert breaker.failure_types == (CallTimeoutError,)
    error = Other("bad request")
    with pytest.raises(Other) as info:
        await breaker.call(fail, error)
    assert info.value is error
    assert info.value.__cause__ is None
    assert not hasattr(info.value, "__notes__")


async def test_uncounted_error_in_trial_frees_the_slot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    breaker = CircuitBreaker("svc", failure_threshold=1, reset_timeout=1.0, failure_types=Boom)
    await trip(breaker)
    await trio.sleep(1.0)
    with pytest.raises(Other):
        await breaker.call(fail, Other())
    assert state_of(breaker) == "half_open"
    assert breaker.statistics().half_open_calls == 0
    assert breaker.statistics().opened_count == 1
    assert await breaker.call(ok, 2) == 2
    assert state_of(breaker) == "closed"


async def test_half_open_admits_only_max_calls(autojump_clock: trio.testing.MockClock) -> None:
    breaker = CircuitBreaker("svc", failure_threshold=1, reset_timeout=3.0, half_open_max_calls=2)
    await trip(breaker)
    await trio.sleep(3.0)

    release = trio.Event()
    results: list[str] = []
    rejected: list[CircuitOpenError] = []

    async def caller() -> None:
        try:
            results.append(await breaker.call(wait_then, release))
        except CircuitOpenError as exc:
            rejected.append(exc)

    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(caller)
            await trio.testing.wait_all_tasks_blocked()
            assert len(rejected) == 3
            assert all(exc.retry_after == 0.0 for exc in rejected)
            stats = breaker.statistics()
            assert stats.state == "half_open"
            assert stats.half_open_calls == 2
            assert stats.rejections == 3
            release.set()

    assert results == ["done", "done"]
    assert state_of(breaker) == "closed"
    stats = breaker.statistics()
    assert stats.successes == 2
    assert stats.half_open_calls == 0
    assert stats.total_calls == 1 + 5


async def test_first_trial_result_decides(autojump_clock: trio.testing.MockClock) -> None:
    breaker = CircuitBreaker("svc", failure_threshold=1, reset_timeout=2.0, half_open_max_calls=2)
    await trip(breaker)
    await trio.sleep(2.0)

    first, second = trio.Event(), trio.Event()
    outcomes: list[str] = []

    async def failing_trial() -> None:
        with pytest.raises(Boom):
            await breaker.call(wait_then, first, Boom())
        outcomes.append(state_of(breaker))

    async def late_trial() -> None:
        outcomes.append(await breaker.call(wait_then, second))

    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(failing_trial)
            nursery.start_soon(late_trial)
            await trio.testing.wait_all_tasks_blocked()
            first.set()
            await trio.testing.wait_all_tasks_blocked()
            second.set()

    # The failed trial reopened the breaker; the late success of the other trial is
    # counted but does not close it.
    assert outcomes == ["open", "done"]
    assert state_of(breaker) == "open"
    assert breaker.statistics().successes == 1
    assert breaker.statistics().opened_count == 2


async def test_cancelled_trial_frees_its_slot(autojump_clock: trio.testing.MockClock) -> None:
    breaker = CircuitBreaker("svc", failure_threshold=1, reset_timeout=1.0)
    await trip(breaker)
    await trio.sleep(1.0)
    before = breaker.statistics()

    with trio.move_on_after(5.0) as scope:
        await breaker.call(trio.sleep_forever)
    assert scope.cancelled_caught
    assert trio.current_time() == 6.0

    after = breaker.statistics()
    assert after.state == "half_open"
    assert after.half_open_calls == 0
    assert after.failures == before.failures
    assert after.total_failures == before.total_failures
    assert after.successes == before.successes
    assert after.opened_count == 1
    assert await breaker.call(ok, 3) == 3
    assert state_of(breaker) == "closed"


async def test_cancellation_is_not_a_failure(autojump_clock: trio.testing.MockClock) -> None:
    breaker = CircuitBreaker("svc", failure_threshold=1, failure_types=(Exception,))
    with trio.move_on_after(2.0):
        await breaker.call(trio.sleep_forever)
    assert trio.current_time() == 2.0
    stats = breaker.statistics()
    assert stats.state == "closed"
    assert stats.failures == 0
    assert stats.total_failures == 0
    assert stats.successes == 0
    assert stats.total_calls == 1


async def test_keyboard_interrupt_is_not_a_failure() -> None:
    breaker = CircuitBreaker("svc", failure_threshold=1)

    async def interrupt() -> None:
        await trio.lowlevel.checkpoint()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await breaker.call(interrupt)
    assert state_of(breaker) == "closed"
    assert breaker.statistics().total_failures == 0


async def test_rejected_call_is_a_checkpoint() -> None:
    breaker = CircuitBreaker("svc", failure_threshold=1, reset_timeout=math.inf)
    await trip(breaker)
    calls = breaker.statistics().total_calls
    with trio.CancelScope() as scope:
        scope.cancel()
        await breaker.call(ok, 1)  # raises Cancelled, not CircuitOpenError
    assert scope.cancelled_caught
    assert breaker.statistics().total_calls == calls


async def test_infinite_reset_timeout_waits_for_reset(
    autojump_clock: trio.testing.MockClock,
) -> None:
    breaker = CircuitBreaker("svc", failure_threshold=1, reset_timeout=math.inf)
    await trip(breaker)
    autojump_clock.jump(1e9)
    with pytest.raises(CircuitOpenError, match=r"^circuit 'svc' is open; next trial in inf s$"):
        await breaker.call(ok, 1)
    assert breaker.statistics().retry_after == math.inf
    breaker.reset()
    assert await breaker.call(ok, 1) == 1


async def slow_success(breaker: CircuitBreaker, done: trio.Event) -> None:
    assert await breaker.call(wait_then, done) == "done"


async def test_late_results_from_an_older_state_do_not_move_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    breaker = CircuitBreaker("svc", failure_threshold=1, reset_timeout=10.0)
    slow_done = trio.Event()
    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            # Admitted while closed, finishes after the breaker opened.
            nursery.start_soon(slow_success, breaker, slow_done)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(Boom):
                await breaker.call(fail, Boom())
            slow_done.set()
    assert state_of(breaker) == "open"
    assert breaker.statistics().successes == 1

    # Admitted while closed, fails after a reset: counted, but not as a consecutive failure.
    breaker.reset()
    slow_failed = trio.Event()

    async def slow_failure() -> None:
        with pytest.raises(Boom):
            await breaker.call(wait_then, slow_failed, Boom())

    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(slow_failure)
            await trio.testing.wait_all_tasks_blocked()
            breaker.reset()
            slow_failed.set()
    stats = breaker.statistics()
    assert stats.state == "closed"
    assert stats.failures == 0
    assert stats.total_failures == 2
    assert stats.last_failure_time == trio.current_time()


async def test_trial_cancelled_after_reset_leaves_counts_alone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    breaker = CircuitBreaker("svc", failure_threshold=1, reset_timeout=1.0)
    await trip(breaker)
    await trio.sleep(1.0)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(breaker.call, trio.sleep_forever))
            await trio.testing.wait_all_tasks_blocked()
            assert breaker.statistics().half_open_calls == 1
            breaker.reset()
            nursery.cancel_scope.cancel()
    assert breaker.statistics().half_open_calls == 0
    assert state_of(breaker) == "closed"


async def test_statistics_snapshot(autojump_clock: trio.testing.MockClock) -> None:
    breaker = CircuitBreaker("stats", failure_threshold=2, reset_timeout=8.0)
    assert breaker.statistics() == CircuitBreakerStatistics(
        name="stats",
        state="closed",
        failures=0,
        total_failures=0,
        successes=0,
        rejections=0,
        total_calls=0,
        opened_count=0,
        half_open_calls=0,
        last_failure_time=None,
        retry_after=0.0,
    )
    await breaker.call(ok, 1)
    await trio.sleep(1.0)
    await trip(breaker)
    await trio.sleep(3.0)
    with pytest.raises(CircuitOpenError):
        await breaker.call(ok, 1)
    stats = breaker.statistics()
    assert stats == CircuitBreakerStatistics(
        name="stats",
        state="open",
        failures=2,
        total_failures=2,
        successes=1,
        rejections=1,
        total_calls=4,
        opened_count=1,
        half_open_calls=0,
        last_failure_time=1.0,
        retry_after=5.0,
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        stats.failures = 0  # type: ignore[misc]


async def test_reset_closes_and_keeps_cumulative_counters(
    autojump_clock: trio.testing.MockClock,
) -> None:
    breaker = CircuitBreaker("svc", failure_threshold=2, reset_timeout=30.0)
    await trip(breaker)
    breaker.reset()
    stats = breaker.statistics()
    assert stats.state == "closed"
    assert stats.failures == 0
    assert stats.retry_after == 0.0
    assert stats.total_failures == 2
    assert stats.opened_count == 1
    # Closed again: it takes a full threshold of new failures to open.
    with pytest.raises(Boom):
        await breaker.call(fail, Boom())
    assert state_of(breaker) == "closed"


def test_state_of_a_closed_breaker_needs_no_trio_run() -> None:
    breaker = CircuitBreaker("svc")
    assert breaker.state == "closed"
    assert breaker.statistics().state == "closed"


def test_defaults_and_repr() -> None:
    breaker = CircuitBreaker("svc", reset_timeout=2)
    assert breaker.name == "svc"
    assert breaker.failure_threshold == 5
    assert breaker.reset_timeout == 2.0
    assert isinstance(breaker.reset_timeout, float)
    assert breaker.half_open_max_calls == 1
    assert breaker.failure_types == (Exception,)
    assert repr(breaker) == (
        "CircuitBreaker('svc', failure_threshold=5, reset_timeout=2.0, "
        "half_open_max_calls=1, failure_types=(Exception,))"
    )
    two = CircuitBreaker("two", failure_types=(CallTimeoutError, ServerNotRunningError))
    assert repr(two).endswith("failure_types=(CallTimeoutError, ServerNotRunningError))")
    assert breaker != CircuitBreaker("svc", reset_timeout=2)  # an identity object
    assert not hasattr(breaker, "__dict__")


def test_configuration_is_read_only() -> None:
    breaker = CircuitBreaker("svc")
    with pytest.raises(AttributeError):
        breaker.failure_threshold = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": 5}, TypeError, r"^expected name to be a non-empty str, got 5$"),
        (
            {"failure_threshold": 0},
            ValueError,
            r"^expected failure_threshold to be an int >= 1, got 0$",
        ),
        (
            {"failure_threshold": 2.0},
            TypeError,
            r"^expected failure_threshold to be an int >= 1, got 2\.0$",
        ),
        (
            {"failure_threshold": True},
            TypeError,
            r"^expected failure_threshold to be an int >= 1, got True$",
        ),
        (
            {"half_open_max_calls": 0},
            ValueError,
            r"^expected half_open_max_calls to be an int >= 1, got 0$",
        ),
        (
            {"half_open_max_calls": "1"},
            TypeError,
            r"^expected half_open_max_calls to be an int >= 1, got '1'$",
        ),
        ({"reset_timeout": 0}, ValueError, rf"^{seconds_above_0('reset_timeout')}, got 0$"),
        ({"reset_timeout": -1.5}, ValueError, rf"^{seconds_above_0('reset_timeout')}, got -1\.5$"),
        (
            {"reset_timeout": math.nan},
            ValueError,
            rf"^{seconds_above_0('reset_timeout')}, got nan$",
        ),
        ({"reset_timeout": "30"}, TypeError, rf"^{seconds_above_0('reset_timeout')}, got '30'$"),
        ({"reset_timeout": None}, TypeError, rf"^{seconds_above_0('reset_timeout')}, got None$"),
        (
            {"failure_types": ()},
            ValueError,
            not_exception_types("failure_types", r"\(\)"),
        ),
        (
            {"failure_types": [Boom]},
            TypeError,
            not_exception_types("failure_types", r"\[<class '.*Boom'>\]"),
        ),
        (
            {"failure_types": (Boom, int)},
            TypeError,
            not_exception_types("failure_types", r"\(<class '.*Boom'>, <class 'int'>\)"),
        ),
        (
            {"failure_types": trio.Cancelled},
            ValueError,
            only_exceptions("failure_types", "'trio.Cancelled'"),
        ),
        (
            {"failure_types": (Boom, BaseException)},
            ValueError,
            only_exceptions("failure_types", "'BaseException'"),
        ),
    ],
)
def test_breaker_argument_validation(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = {"name": "svc", **kwargs}
    with pytest.raises(error, match=message):
        CircuitBreaker(**arguments)


def test_reset_timeout_may_be_infinite() -> None:
    assert CircuitBreaker("svc", reset_timeout=math.inf).reset_timeout == math.inf


# --------------------------------------------------------------------------- backoff_delays


def test_backoff_delays_schedule() -> None:
    assert list(backoff_delays(1)) == []
    assert list(backoff_delays(4)) == [0.1, 0.2, 0.4]
    assert list(backoff_delays(7, base_delay=0.1, factor=2.0, max_delay=1.0)) == [
        0.1,
        0.2,
        0.4,
        0.8,
        1.0,
        1.0,
    ]
    assert list(backoff_delays(4, base_delay=0.5, factor=1, max_delay=10)) == [0.5, 0.5, 0.5]
    assert list(backoff_delays(3, base_delay=5.0, max_delay=1.0)) == [1.0, 1.0]
    assert list(backoff_delays(3, base_delay=0, factor=3.0)) == [0.0, 0.0]


def test_backoff_delays_do_not_overflow() -> None:
    delays = list(backoff_delays(3000, base_delay=1.0, factor=10.0, max_delay=60.0))
    assert len(delays) == 2999
    assert delays[:3] == [1.0, 10.0, 60.0]
    assert delays[-1] == 60.0


@settings(deadline=None)
@given(
    attempts=st.integers(min_value=1, max_value=60),
    base_delay=st.floats(min_value=0, max_value=100),
    factor=st.floats(min_value=1, max_value=10),
    max_delay=st.floats(min_value=0, max_value=1000),
)
def test_backoff_delays_properties(
    attempts: int, base_delay: float, factor: float, max_delay: float
) -> None:
    delays = list(
        backoff_delays(attempts, base_delay=base_delay, factor=factor, max_delay=max_delay)
    )
    assert len(delays) == attempts - 1
    assert all(0 <= delay <= max_delay for delay in delays)
    assert delays == sorted(delays)
    for n, delay in enumerate(delays):
        assert delay == pytest.approx(min(max_delay, base_delay * factor**n), rel=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"attempts": 0}, ValueError, r"^expected attempts to be an int >= 1, got 0$"),
        ({"attempts": 2.0}, TypeError, r"^expected attempts to be an int >= 1, got 2\.0$"),
        ({"attempts": False}, TypeError, r"^expected attempts to be an int >= 1, got False$"),
        (
            {"base_delay": -0.1},
            ValueError,
            r"^expected base_delay to be a finite number of seconds >= 0, got -0\.1$",
        ),
        (
            {"base_delay": math.inf},
            ValueError,
            r"^expected base_delay to be a finite number of seconds >= 0, got inf$",
        ),
        (
            {"base_delay": math.nan},
            ValueError,
            r"^expected base_delay to be a finite number of seconds >= 0, got nan$",
        ),
        (
            {"base_delay": "0.1"},
            TypeError,
            r"^expected base_delay to be a finite number of seconds >= 0, got '0\.1'$",
        ),
        ({"factor": 0.5}, ValueError, r"^expected factor to be a finite number >= 1, got 0\.5$"),
        (
            {"factor": math.inf},
            ValueError,
            r"^expected factor to be a finite number >= 1, got inf$",
        ),
        (
            {"factor": math.nan},
            ValueError,
            r"^expected factor to be a finite number >= 1, got nan$",
        ),
        ({"factor": True}, TypeError, r"^expected factor to be a finite number >= 1, got True$"),
        (
            {"max_delay": -1},
            ValueError,
            r"^expected max_delay to be a finite number of seconds >= 0, got -1$",
        ),
        (
            {"max_delay": math.inf},
            ValueError,
            r"^expected max_delay to be a finite number of seconds >= 0, got inf$",
        ),
        (
            {"max_delay": None},
            TypeError,
            r"^expected max_delay to be a finite number of seconds >= 0, got None$",
        ),
    ],
)
def test_backoff_delays_validation_is_eager(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = {"attempts": 3, **kwargs}
    with pytest.raises(error, match=message):
        backoff_delays(**arguments)  # raises before any iteration


# --------------------------------------------------------------------------- retry


class Flaky:
    """Fails with the given errors, in order, then returns "ok"; records each attempt's time."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.times: list[float] = []

    async def __call__(self) -> str:
        self.times.append(trio.current_time())
        await trio.lowlevel.checkpoint()
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_retry_sleeps_exponential_delays(autojump_clock: trio.testing.MockClock) -> None:
    start = trio.current_time()
    flaky = Flaky(Boom(), Boom(), Boom(), Boom(), Boom())
    delays: list[float] = []
    result = await retry(
        flaky,
        retry_on=Boom,
        attempts=6,
        base_delay=0.5,
        factor=2.0,
        max_delay=3.0,
        jitter=False,
        on_retry=lambda attempt, error, delay: delays.append(delay),
    )
    assert result == "ok"
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert flaky.times == [start + t for t in (0.0, 0.5, 1.5, 3.5, 6.5, 9.5)]


async def test_retry_default_schedule(autojump_clock: trio.testing.MockClock) -> None:
    delays: list[float] = []
    flaky = Flaky(*[Boom() for _ in range(9)])
    with pytest.raises(Boom):
        await retry(
            flaky,
            retry_on=Boom,
            attempts=9,
            jitter=False,
            max_delay=5.0,
            on_retry=lambda attempt, error, delay: delays.append(delay),
        )
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    elapsed = [later - earlier for earlier, later in pairwise(flaky.times)]
    assert elapsed == pytest.approx(delays, rel=1e-12)


async def test_retry_full_jitter_is_reproducible_and_bounded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    delays: list[float] = []
    flaky = Flaky(Boom(), Boom(), Boom(), Boom())
    result = await retry(
        flaky,
        retry_on=Boom,
        attempts=5,
        base_delay=1.0,
        factor=3.0,
        max_delay=5.0,
        rng=random.Random(1234),
        on_retry=lambda attempt, error, delay: delays.append(delay),
    )
    assert result == "ok"
    nominal = [1.0, 3.0, 5.0, 5.0]
    expected_rng = random.Random(1234)
    assert delays == [expected_rng.uniform(0.0, cap) for cap in nominal]
    assert all(0.0 <= delay <= cap for delay, cap in zip(delays, nominal, strict=True))
    assert delays != nominal
    elapsed = [later - earlier for earlier, later in pairwise(flaky.times)]
    assert elapsed == pytest.approx(delays, rel=1e-12)


async def test_retry_jitter_with_default_generator(
    autojump_clock: trio.testing.MockClock,
) -> None:
    delays: list[float] = []
    await retry(
        Flaky(Boom(), Boom()),
        retry_on=(Boom,),
        base_delay=2.0,
        on_retry=lambda attempt, error, delay: delays.append(delay),
    )
    assert len(delays) == 2
    assert 0.0 <= delays[0] <= 2.0
    assert 0.0 <= delays[1] <= 4.0


async def test_retry_success_first_time_does_not_sleep(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hook_calls: list[int] = []
    value: int = await retry(
        ok, 42, retry_on=Boom, on_retry=lambda attempt, error, delay: hook_calls.append(attempt)
    )
    assert value == 42
    assert trio.current_time() == 0.0
    assert hook_calls == []


async def test_retry_reraises_the_last_error_unchanged(
    autojump_clock: trio.testing.MockClock,
) -> None:
    errors = [CallTimeoutError("inventory", 5.0) for _ in range(3)]
    flaky = Flaky(*errors)
    # pytest matches the message and the notes, one per line.
    expected = r"^call to 'inventory' timed out after 5\.0 s\nretry: gave up after 3 attempts$"
    with pytest.raises(CallTimeoutError, match=expected) as info:
        await retry(flaky, retry_on=(CallTimeoutError,), attempts=3, jitter=False)
    assert info.value is errors[2]
    assert info.value.__notes__ == ["retry: gave up after 3 attempts"]
    assert flaky.times == [0.0, 0.1, 0.1 + 0.2]
    # The earlier errors were dropped, not chained.
    assert info.value.__context__ is None


async def test_retry_single_attempt_notes_it() -> None:
    with pytest.raises(Boom) as info:
        await retry(fail, Boom(), retry_on=Boom, attempts=1)
    assert info.value.__notes__ == ["retry: gave up after 1 attempt"]


async def test_retry_does_not_retry_other_errors(autojump_clock: trio.testing.MockClock) -> None:
    flaky = Flaky(ServerNotRunningError("inventory"), Other("bad request"))
    with pytest.raises(Other, match=r"^bad request$") as info:
        await retry(flaky, retry_on=(CallTimeoutError, ServerNotRunningError), jitter=False)
    assert len(flaky.times) == 2
    assert trio.current_time() == 0.1
    assert not hasattr(info.value, "__notes__")


async def test_retry_on_retry_gets_attempt_error_and_delay(
    autojump_clock: trio.testing.MockClock,
) -> None:
    first, second = Boom("first"), Boom("second")
    seen: list[tuple[int, Exception, float]] = []

    def on_retry(attempt: int, error: BaseException, delay: float) -> None:
        assert isinstance(error, Exception)
        seen.append((attempt, error, delay))

    result = await retry(
        Flaky(first, second), retry_on=Boom, base_delay=0.25, jitter=False, on_retry=on_retry
    )
    assert result == "ok"
    assert seen == [(1, first, 0.25), (2, second, 0.5)]


async def test_retry_on_retry_error_propagates() -> None:
    def broken_hook(attempt: int, error: Exception, delay: float) -> None:
        raise RuntimeError("hook failed")

    flaky = Flaky(Boom())
    with pytest.raises(RuntimeError, match=r"^hook failed$"):
        await retry(flaky, retry_on=Boom, on_retry=broken_hook)
    assert len(flaky.times) == 1


async def test_retry_cancelled_during_backoff_sleep(
    autojump_clock: trio.testing.MockClock,
) -> None:
    flaky = Flaky(Boom(), Boom())
    with trio.move_on_after(0.75) as scope:
        await retry(flaky, retry_on=Boom, base_delay=1.0, jitter=False)
    assert scope.cancelled_caught
    assert trio.current_time() == 0.75
    assert flaky.times == [0.0]


async def test_retry_cancelled_during_an_attempt(autojump_clock: trio.testing.MockClock) -> None:
    attempts: list[float] = []

    async def slow_failure() -> None:
        attempts.append(trio.current_time())
        await trio.sleep(1.0)
        raise Boom

    hook_calls: list[int] = []
    with trio.move_on_after(1.5) as scope:
        await retry(
            slow_failure,
            retry_on=Boom,
            base_delay=0.25,
            jitter=False,
            on_retry=lambda attempt, error, delay: hook_calls.append(attempt),
        )
    assert scope.cancelled_caught
    assert trio.current_time() == 1.5
    assert attempts == [0.0, 1.25]
    assert hook_calls == [1]


async def test_retry_through_a_circuit_breaker(autojump_clock: trio.testing.MockClock) -> None:
    breaker = CircuitBreaker("svc", failure_threshold=2, reset_timeout=60.0)
    flaky = Flaky(Boom(), Boom(), Boom())
    # The breaker opens after two failures; CircuitOpenError is not in retry_on.
    with pytest.raises(CircuitOpenError):
        await retry(breaker.call, flaky, retry_on=Boom, attempts=5, jitter=False)
    assert len(flaky.times) == 2
    assert trio.current_time() == 0.1 + 0.2
    # Retrying CircuitOpenError as well waits out the open breaker if the budget allows.
    result: str = await retry(
        breaker.call,
        flaky,
        retry_on=(Boom, CircuitOpenError),
        attempts=5,
        base_delay=30.0,
        max_delay=60.0,
        jitter=False,
    )
    assert result == "ok"
    assert state_of(breaker) == "closed"


async def test_retry_passes_positional_arguments() -> None:
    calls: list[tuple[int, str]] = []

    async def record(number: int, text: str, *, suffix: str) -> str:
        await trio.lowlevel.checkpoint()
        calls.append((number, text))
        return text + suffix

    assert await retry(partial(record, suffix="!"), 1, "hi", retry_on=Boom) == "hi!"
    assert calls == [(1, "hi")]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"retry_on": trio.Cancelled},
            ValueError,
            only_exceptions("retry_on", "'trio.Cancelled'"),
        ),
        (
            {"retry_on": KeyboardInterrupt},
            ValueError,
            only_exceptions("retry_on", "'KeyboardInterrupt'"),
        ),
        (
            {"retry_on": BaseException},
            ValueError,
            only_exceptions("retry_on", "'BaseException'"),
        ),
        (
            {"retry_on": (Boom, BaseExceptionGroup)},
            ValueError,
            only_exceptions("retry_on", "'BaseExceptionGroup'"),
        ),
        (
            {"retry_on": ()},
            ValueError,
            not_exception_types("retry_on", r"\(\)"),
        ),
        (
            {"retry_on": "Boom"},
            TypeError,
            not_exception_types("retry_on", "'Boom'"),
        ),
        (
            {"retry_on": Boom()},
            TypeError,
            not_exception_types("retry_on", r"Boom\(\)"),
        ),
        (
            {"retry_on": (int,)},
            TypeError,
            not_exception_types("retry_on", r"\(<class 'int'>,\)"),
        ),
        ({"attempts": 0}, ValueError, r"^expected attempts to be an int >= 1, got 0$"),
        ({"attempts": "3"}, TypeError, r"^expected attempts to be an int >= 1, got '3'$"),
        (
            {"base_delay": -1},
            ValueError,
            r"^expected base_delay to be a finite number of seconds >= 0, got -1$",
        ),
        ({"factor": 0.9}, ValueError, r"^expected factor to be a finite number >= 1, got 0\.9$"),
        (
            {"max_delay": math.nan},
            ValueError,
            r"^expected max_delay to be a finite number of seconds >= 0, got nan$",
        ),
    ],
)
async def test_retry_argument_validation(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    counter = Counter()
    arguments: dict[str, Any] = {"retry_on": Boom, **kwargs}
    with pytest.raises(error, match=message):
        await retry(counter, **arguments)
    assert counter.calls == 0
