"""What an exception escaping user code means for the runtime.

User code (a callback, a task in a nursery inside a handler) can end with anything Python can
raise, and Trio wraps what leaves a nursery in exception groups. The library sorts it into one
of three outcomes, the same way at every callback site:

- **fatal**: a `KeyboardInterrupt` or `SystemExit`, alone or anywhere inside a group. It is
  handed to the runtime, which shuts the tree down in order and raises it *plainly* from
  ``async with open_runtime()`` (and so from ``trio.run``).
- **cancellation**: a `trio.Cancelled`, or a group made only of them at any depth. It means
  that something outside the callback cancelled it (the process is being stopped); it is
  never a crash.
- **crash**: anything else, including other `BaseException` subclasses and groups holding at
  least one real error (their `Cancelled` members removed). The process exits with it as the
  reason, exactly as with an ordinary exception.
"""

from __future__ import annotations

import trio

FATAL_TYPES = (KeyboardInterrupt, SystemExit)


def find_fatal(exc: BaseException) -> BaseException | None:
    """The first `KeyboardInterrupt`/`SystemExit` in `exc` (itself or inside groups), if any."""
    if isinstance(exc, FATAL_TYPES):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = find_fatal(inner)
            if found is not None:
                return found
    return None


def is_cancellation(exc: BaseException) -> bool:
    """True for `trio.Cancelled` and for groups made only of `Cancelled` (at any depth)."""
    if isinstance(exc, trio.Cancelled):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(is_cancellation(inner) for inner in exc.exceptions)
    return False


def crash_reason(exc: BaseException) -> BaseException:
    """The exit reason for a crash: `exc`, or a group without its `Cancelled` members."""
    if isinstance(exc, BaseExceptionGroup):
        _, rest = exc.split(trio.Cancelled)
        if rest is not None:
            return rest
    return exc
