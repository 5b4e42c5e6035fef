"""The error tree of noex_trio.

Every error the library raises on purpose derives from `NoexError`::

    NoexError
    ├── NoRuntimeError              a facade was used outside `open_runtime()`
    ├── ServerNotRunningError       the target process is not running (`.reason` = its exit reason)
    ├── CallTimeoutError            `call` got no reply in time (also a `trio.TooSlowError`)
    ├── CallToSelfError             a process called (or stopped) itself: it could only deadlock
    ├── InitializationError         `init` raised or was slower than `init_timeout`
    ├── MailboxFullError            a cast hit a bounded mailbox (or listener buffer) that was full
    ├── AlreadyRegisteredError      a name/key is taken
    ├── NotRegisteredError          `Registry.lookup` of an unknown name
    ├── MaxRestartsExceededError    a supervisor gave up (restart intensity exceeded)
    ├── DuplicateChildError         a supervisor already has a child with that id
    ├── ChildNotFoundError          a supervisor has no child with that id
    ├── MissingChildTemplateError   `simple_one_for_one` without `child_template`
    ├── InvalidChildSpecError       a child spec or supervisor option is malformed
    ├── LinkedExitError             exit reason of a process killed by a linked process's crash
    └── CircuitOpenError            a `CircuitBreaker` refused a call while open

Errors format their own message (lower case, no trailing period) from structured fields, so
`except` clauses can inspect `.process`, `.timeout`, `.name`, … instead of parsing text.
Bad arguments that are not about processes raise plain `TypeError`/`ValueError`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from ._process import ProcessRef
    from ._results import ExitReason


def describe(target: object) -> str:
    """Name a process (or a target given by name) the way messages print it."""
    if isinstance(target, str):
        return repr(target)
    label = getattr(target, "_label", None)
    if label is not None:
        return str(label)
    return repr(target)


def describe_reason(reason: object) -> str:
    """Render an exit reason for a message: `'normal'`, `'shutdown'` or `ValueError('boom')`."""
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}({str(reason)!r})"
    return repr(reason)


class NoexError(Exception):
    """Root of every error noex_trio raises on purpose."""


class NoRuntimeError(NoexError, RuntimeError):
    """A facade (`GenServer`, `Registry`, ...) was used outside an open runtime."""

    def __init__(self) -> None:
        super().__init__(
            "no noex_trio runtime is running here; "
            "wrap your code in `async with noex_trio.open_runtime():`"
        )


class ServerNotRunningError(NoexError):
    """The target process is not running: it never existed, has exited, or is stopping.

    Attributes:
        target: the ref or name that was addressed.
        reason: the exit reason of the process if it had run (`"normal"`, `"shutdown"`,
            `"killed"`, or the exception that crashed it), `"noproc"` when it never existed,
            `"stopping"` when it is still running but a stop is under way (it takes nothing new).
    """

    def __init__(self, target: object, reason: ExitReason | str = "noproc") -> None:
        self.target = target
        self.reason = reason
        if reason == "noproc":
            text = f"{describe(target)} is not running"
        elif reason == "stopping":
            text = f"{describe(target)} is stopping and takes no new messages"
        else:
            text = f"{describe(target)} is not running (exit reason: {describe_reason(reason)})"
        super().__init__(text)


class CallTimeoutError(NoexError, trio.TooSlowError):
    """`call` got no reply within its timeout; the request may still be handled later."""

    def __init__(self, target: object, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        super().__init__(f"call to {describe(target)} timed out after {timeout} s")


class CallToSelfError(NoexError):
    """A process called itself; the call could never be answered."""

    def __init__(self, target: object, operation: str = "call") -> None:
        self.target = target
        self.operation = operation
        if operation == "stop":
            text = (
                f"{describe(target)} tried to stop itself with GenServer.stop, which would wait "
                "for its own exit forever; return Stop(reason, state) from the handler instead"
            )
        else:
            text = (
                f"{describe(target)} called itself; a process cannot call itself "
                "(use cast, or do the work directly)"
            )
        super().__init__(text)


class InitializationError(NoexError):
    """`init` raised (the original error is `__cause__`) or exceeded `init_timeout`."""

    def __init__(self, target: object, detail: str) -> None:
        self.target = target
        self.detail = detail
        super().__init__(f"{describe(target)} failed to start: {detail}")


class MailboxFullError(NoexError):
    """A message could not be queued because a bounded buffer was full."""

    def __init__(self, target: object, size: float) -> None:
        self.target = target
        self.size = size
        super().__init__(f"mailbox of {describe(target)} is full ({size} messages)")


class AlreadyRegisteredError(NoexError):
    """A name (or, in a unique registry, a key) is already taken."""

    def __init__(
        self,
        name: str,
        holder: ProcessRef | None = None,
        registry: str = "",
    ) -> None:
        self.name = name
        self.holder = holder
        where = f" in registry {registry!r}" if registry else ""
        owner = f" by {describe(holder)}" if holder is not None else ""
        super().__init__(f"name {name!r} is already registered{where}{owner}")


class NotRegisteredError(NoexError, LookupError):
    """No process is registered under that name."""

    def __init__(self, name: str, registry: str = "") -> None:
        self.name = name
        where = f" in registry {registry!r}" if registry else ""
        super().__init__(f"no process is registered as {name!r}{where}")


class MaxRestartsExceededError(NoexError):
    """A supervisor saw more than `max_restarts` restarts within `max_seconds` and gave up.

    The last child crash is chained as `__cause__`.
    """

    def __init__(self, supervisor: object, max_restarts: int, max_seconds: float) -> None:
        self.supervisor = supervisor
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        window = "ever" if math.isinf(max_seconds) else f"in {max_seconds} s"
        super().__init__(
            f"{describe(supervisor)} gave up: more than {max_restarts} restarts {window}"
        )


class DuplicateChildError(NoexError):
    """The supervisor already has a child with this id (`supervisor` is None when two of the
    children given to ``Supervisor.start`` share an id)."""

    def __init__(self, supervisor: object, child_id: str) -> None:
        self.supervisor = supervisor
        self.child_id = child_id
        if supervisor is None:
            super().__init__(f"two children have the id {child_id!r}; ids must be unique")
        else:
            super().__init__(f"{describe(supervisor)} already has a child {child_id!r}")


class ChildNotFoundError(NoexError, LookupError):
    """The supervisor has no child with this id."""

    def __init__(self, supervisor: object, child_id: str) -> None:
        self.supervisor = supervisor
        self.child_id = child_id
        super().__init__(f"{describe(supervisor)} has no child {child_id!r}")


class MissingChildTemplateError(NoexError):
    """A `simple_one_for_one` supervisor needs a `child_template`."""

    def __init__(self, supervisor: object = None) -> None:
        self.supervisor = supervisor
        who = describe(supervisor) if supervisor is not None else "supervisor"
        super().__init__(f"{who} uses simple_one_for_one but has no child_template")


class InvalidChildSpecError(NoexError, ValueError):
    """A child spec or supervisor option is malformed; the message says what and why."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class LinkedExitError(NoexError):
    """The exit reason of a process that died because a linked process crashed (or was killed).

    Never raised: it is the reason a linked process exits with (``terminate`` gets it, a
    supervisor counts it as a crash). The linked process's own exception is `__cause__`.

    Attributes:
        process: the linked process that exited first.
        reason: its exit reason (an exception, or ``"killed"``).
    """

    def __init__(self, process: object, reason: ExitReason) -> None:
        self.process = process
        self.reason = reason
        super().__init__(
            f"linked process {describe(process)} exited with {describe_reason(reason)}"
        )
        if isinstance(reason, BaseException):
            self.__cause__ = reason


class CircuitOpenError(NoexError):
    """A `CircuitBreaker` is open and refused the call without trying it.

    Attributes:
        name: the breaker's name.
        retry_after: seconds until the breaker lets a trial call through.
    """

    def __init__(self, name: str, retry_after: float) -> None:
        self.name = name
        self.retry_after = retry_after
        super().__init__(f"circuit {name!r} is open; next trial in {retry_after:.3g} s")
