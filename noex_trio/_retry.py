"""`retry` and `backoff_delays`: try an async call again, with capped exponential backoff.

`retry` wraps any async callable (typically a `GenServer.call`) and knows nothing about
processes. It replaces the noex guide's "Handle Timeouts Gracefully" snippet, which looks right
but is not:

- The guide's "exponential backoff" waits `1000 * (i + 1)` ms: linear, with no cap and no
  jitter, so every client that failed together retries together. `retry` waits
  `min(max_delay, base_delay * factor**n)`, with "full jitter" by default.
- Its retry loop retries *every* error, including the bug in `handle_call` that will fail the
  same way each time. `retry` requires `retry_on=` and retries nothing else.

It never treats `trio.Cancelled` (or any other `BaseException` that is not an `Exception`) as
a failure: cancellation always propagates at once.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar, TypeVarTuple

import trio

from . import _checks as checks
from ._circuit_breaker import ExceptionTypes

T = TypeVar("T")
PosArgsT = TypeVarTuple("PosArgsT")

# Shared generator for jitter when the caller brings none (seeded from the OS once).
_jitter_random = random.Random()


# --------------------------------------------------------------------------- retry


def backoff_delays(
    attempts: int, *, base_delay: float = 0.1, factor: float = 2.0, max_delay: float = 10.0
) -> Iterator[float]:
    """Return the un-jittered delays `retry` sleeps between `attempts` tries.

    Delay `n` (counting from 0) is `min(max_delay, base_delay * factor**n)`, and there are
    `attempts - 1` of them: no delay comes before the first try or after the last.

    Example::

        >>> list(backoff_delays(6, base_delay=0.1, factor=2.0, max_delay=1.0))
        [0.1, 0.2, 0.4, 0.8, 1.0]

    Args:
        attempts: the total number of tries (>= 1).
        base_delay: the first delay in seconds (finite, >= 0).
        factor: the growth factor between delays (finite, >= 1).
        max_delay: the cap on any delay in seconds (finite, >= 0).

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range or NaN. Checked at once, not on iteration.
    """
    tries = checks.count(attempts, "attempts", minimum=1)
    base = checks.seconds(base_delay, "base_delay", inf=False, zero=True)
    growth = checks.number(factor, "factor", minimum=1)
    cap = checks.seconds(max_delay, "max_delay", inf=False, zero=True)
    return _delays(tries - 1, base, growth, cap)


def _delays(count: int, base: float, factor: float, cap: float) -> Iterator[float]:
    delay = base
    for _ in range(count):
        yield min(cap, delay)
        # Multiply step by step rather than `factor**n`: a float power overflows with an
        # OverflowError, a product just becomes inf, which the cap absorbs.
        delay *= factor


async def retry(
    fn: Callable[[*PosArgsT], Awaitable[T]],
    *args: *PosArgsT,
    retry_on: ExceptionTypes,
    attempts: int = 3,
    base_delay: float = 0.1,
    factor: float = 2.0,
    max_delay: float = 10.0,
    jitter: bool = True,
    rng: random.Random | None = None,
    on_retry: Callable[[int, Exception, float], object] | None = None,
) -> T:
    """Call `await fn(*args)`, retrying with exponential backoff while it raises `retry_on`.

    Before retry `n` (counting from 0) it sleeps `min(max_delay, base_delay * factor**n)`
    (see `backoff_delays`), or with `jitter` a uniform random time between 0 and that ("full
    jitter"), so clients that failed together do not retry in lockstep.

    `retry_on` is required: retrying is only safe for errors you know to be transient (and
    for requests that are safe to repeat). A timed-out `GenServer.call` may still have been
    handled, so retry only idempotent requests. Errors not in `retry_on` propagate at once.

    Example::

        reply = await retry(
            GenServer.call, inventory, ("stock", "sku-42"),
            retry_on=(CallTimeoutError, ServerNotRunningError),
            attempts=5, base_delay=0.1, max_delay=2.0,
        )

    Args:
        fn: the async function to call.
        *args: positional arguments for `fn` (use `functools.partial` for keywords).
        retry_on: the exceptions worth retrying: an `Exception` subclass or a tuple of them.
        attempts: total tries, the first included (>= 1).
        base_delay: the first delay in seconds (finite, >= 0).
        factor: the growth factor between delays (finite, >= 1).
        max_delay: the cap on any delay in seconds (finite, >= 0).
        jitter: sleep a uniform random fraction of each delay (default True).
        rng: the `random.Random` to draw jitter from, for reproducible runs; by default a
            module-wide generator.
        on_retry: called as `on_retry(attempt, error, delay)` before each backoff sleep, with
            the 1-based number of the attempt that failed, its error and the (jittered) delay
            about to be slept. For logging and metrics; if it raises, `retry` raises that.

    Returns:
        What `fn` returned on the first attempt that did not raise.

    Raises:
        Exception: the error of the last attempt when all `attempts` failed, unchanged (so
            `except CallTimeoutError` still matches), with a note saying how many attempts
            were made; or at once, any error not in `retry_on`.
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range, or `retry_on` names a `BaseException` that
            is not an `Exception` (retrying `trio.Cancelled` would defeat cancellation).

    Cancellation, during an attempt or a backoff sleep, propagates at once: no further
    attempts are made and nothing is left running.
    """
    retry_types = checks.exception_types(retry_on, "retry_on")
    delays = backoff_delays(attempts, base_delay=base_delay, factor=factor, max_delay=max_delay)
    if rng is None:
        rng = _jitter_random
    attempt = 0
    while True:
        attempt += 1
        try:
            return await fn(*args)
        except retry_types as exc:
            delay = next(delays, None)
            if delay is None:
                plural = "" if attempt == 1 else "s"
                exc.add_note(f"retry: gave up after {attempt} attempt{plural}")
                raise
            if jitter:
                delay = rng.uniform(0.0, delay)
            if on_retry is not None:
                on_retry(attempt, exc, delay)
        # Sleep outside the `except` block, so an error raised while sleeping (such as
        # `Cancelled`) does not carry the attempt's error as its `__context__`.
        await trio.sleep(delay)
