"""What an exception escaping user code means for the runtime.

User code (a callback, a task in a nursery inside a handler) can end with anything Python can
raise, and Trio wraps what leaves a nursery in exception groups. The library sorts it into one
of three outcomes, the same way at every callback site:

- **fatal**: a `BaseException` that is neither an `Exception` nor `trio.Cancelled` — a
  `KeyboardInterrupt`, a `SystemExit`, or a user's own ``BaseException`` subclass — alone or
  anywhere inside a group. Python code raises these to get out, not to report an error, so it
  is handed to the runtime, which shuts the tree down in order and raises it *plainly* from
  ``async with open_runtime()`` (and so from ``trio.run``), as a Trio program would.
- **cancellation**: a `trio.Cancelled`, or a group made only of them at any depth. It means
  that something outside the callback cancelled it (the process is being stopped); it is
  never a crash.
- **crash**: any `Exception`, and groups holding at least one (their `Cancelled` members
  removed). The process exits with it as the reason.
"""

from __future__ import annotations

import trio


def find_fatal(exc: BaseException) -> BaseException | None:
    """The first fatal exception in `exc` (itself or inside groups), if any: a
    `KeyboardInterrupt` or `SystemExit` first, else another non-`Exception` (not `Cancelled`)."""
    leaves = list(_leaves(exc))
    for leaf in leaves:
        if isinstance(leaf, KeyboardInterrupt | SystemExit):
            return leaf
    for leaf in leaves:
        if not isinstance(leaf, Exception | trio.Cancelled):
            return leaf
    return None


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


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
