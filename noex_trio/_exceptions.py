"""The error tree of noex_trio.

Every error the library raises on purpose derives from `NoexError`::

    NoexError
    ├── NoRuntimeError              a facade was used outside `open_runtime()`
    ├── ServerNotRunningError       the target process is not running (`.reason` = its exit reason)
    ├── CallTimeoutError            `call` got no reply in time (also a `trio.TooSlowError`)
    ├── CallToSelfError             a process called (or stopped) itself: it could only deadlock
    ├── NotInProcessError           `GenServer.self()`, `monitor()`, `link()`... outside a process
    ├── InitializationError         `init` raised or was slower than `init_timeout`
    ├── MailboxFullError            a cast hit a bounded mailbox (or listener buffer) that was full
    ├── AlreadyRegisteredError      a name/key is taken
    ├── NotRegisteredError          `Registry.lookup` of an unknown name
    ├── MaxRestartsExceededError    a supervisor gave up (restart intensity exceeded)
    ├── MaxChildrenError            a supervisor already has `max_children` children
    ├── DuplicateChildError         a supervisor already has a child with that id
    ├── ChildNotFoundError          a supervisor has no child with that id
    ├── MissingChildTemplateError   `simple_one_for_one` without `child_template`
    ├── InvalidChildSpecError       a child spec or supervisor option is malformed
    ├── LinkedExitError             exit reason of a process killed by a linked process's crash
    ├── CircuitOpenError            a `CircuitBreaker` refused a call while open
    └── UnknownBehaviourError       `GenServer.start_on` named a behaviour that node does not offer

Errors format their own message (lower case, no trailing period) from structured fields, so
`except` clauses can inspect `.process`, `.timeout`, `.name`, … instead of parsing text.
Bad arguments that are not about processes raise plain `TypeError`/`ValueError`.

Errors are values: the constructor's arguments are the exception's ``args`` and its
attributes, so every error survives `copy.copy`, `copy.deepcopy` and `pickle` with all its
fields (as with any exception, ``__cause__``, ``__context__`` and the traceback are not
carried). The message is formatted from the fields when asked for, and formatting never raises:
a target, value or exit reason whose ``__repr__`` or ``__str__`` raises is shown as a
placeholder (see `noex_trio._safe_format`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import trio

from ._safe_format import describe as describe
from ._safe_format import describe_reason as describe_reason
from ._safe_format import safe_repr, safe_str

if TYPE_CHECKING:
    from ._process import ProcessRef
    from ._results import ExitReason


def _text(value: object) -> str:
    """A message part the library wrote (a str, shown whole), else `safe_str` of `value`."""
    return str.__str__(value) if isinstance(value, str) else safe_str(value)


def _is(value: object, text: str) -> bool:
    """``value == text`` for a str `value`; False for anything else (whose ``==`` may raise)."""
    return isinstance(value, str) and value == text


class NoexError(Exception):
    """Root of every error noex_trio raises on purpose.

    Subclasses keep their constructor's arguments as ``args`` (so copies and pickles rebuild
    them) and format their message in `_format` from their fields.
    """

    def __str__(self) -> str:
        try:
            return self._format()
        except Exception as exc:  # a field changed into something unexpected
            return f"<{type(self).__name__}: message not formatted, {type(exc).__name__}>"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(safe_repr, self.args))})"

    def _format(self) -> str:
        """The message; the root class shows its arguments as `Exception` does."""
        args = self.args
        if not args:
            return ""
        return _text(args[0]) if len(args) == 1 else safe_str(args)


class NoRuntimeError(NoexError, RuntimeError):
    """A facade (`GenServer`, `Registry`, ...) was used outside an open runtime."""

    def __init__(self) -> None:
        super().__init__()

    def _format(self) -> str:
        return (
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
        super().__init__(target, reason)
        self.target = target
        self.reason = reason

    def _format(self) -> str:
        if _is(self.reason, "noproc"):
            return f"{describe(self.target)} is not running"
        if _is(self.reason, "stopping"):
            return f"{describe(self.target)} is stopping and takes no new messages"
        return (
            f"{describe(self.target)} is not running (exit reason: {describe_reason(self.reason)})"
        )


class CallTimeoutError(NoexError, trio.TooSlowError):
    """`call` got no reply within its timeout; the request may still be handled later."""

    def __init__(self, target: object, timeout: float) -> None:
        super().__init__(target, timeout)
        self.target = target
        self.timeout = timeout

    def _format(self) -> str:
        return f"call to {describe(self.target)} timed out after {safe_str(self.timeout)} s"


class CallToSelfError(NoexError):
    """A process called itself; the call could never be answered."""

    def __init__(self, target: object, operation: str = "call") -> None:
        super().__init__(target, operation)
        self.target = target
        self.operation = operation

    def _format(self) -> str:
        if _is(self.operation, "stop"):
            return (
                f"{describe(self.target)} tried to stop itself with GenServer.stop, which would "
                "wait for its own exit forever; return Stop(reason, state) from the handler instead"
            )
        if _is(self.operation, "get_state"):
            return (
                f"{describe(self.target)} asked for its own state with GenServer.get_state, "
                "which would wait for itself forever; the handler has the state at hand"
            )
        return (
            f"{describe(self.target)} called itself; a process cannot call itself "
            "(use cast, or do the work directly)"
        )


class NotInProcessError(NoexError, RuntimeError):
    """A function that acts for the calling process was called outside one (or, for
    ``GenServer.caller()``, outside ``handle_call``).

    Attributes:
        operation: what was called (``"GenServer.self()"``, ``"GenServer.monitor()"``, ...).
        where: where it can be used (``"a process"``, ``"handle_call"``).
        hint: what to do instead, or ``""``.
    """

    def __init__(self, operation: str, where: str = "a process", hint: str = "") -> None:
        super().__init__(operation, where, hint)
        self.operation = operation
        self.where = where
        self.hint = hint

    def _format(self) -> str:
        hint = "" if _is(self.hint, "") else _text(self.hint)
        return f"{_text(self.operation)} can only be used inside {_text(self.where)}{hint}"


class InitializationError(NoexError):
    """`init` raised (the original error is `__cause__`) or exceeded `init_timeout`."""

    def __init__(self, target: object, detail: str) -> None:
        super().__init__(target, detail)
        self.target = target
        self.detail = detail

    def _format(self) -> str:
        return f"{describe(self.target)} failed to start: {_text(self.detail)}"


class MailboxFullError(NoexError):
    """A message could not be queued because a bounded buffer was full."""

    def __init__(self, target: object, size: float) -> None:
        super().__init__(target, size)
        self.target = target
        self.size = size

    def _format(self) -> str:
        return f"mailbox of {describe(self.target)} is full ({safe_str(self.size)} messages)"


class AlreadyRegisteredError(NoexError):
    """A name (or, in a unique registry, a key) is already taken.

    Attributes:
        name: the name (or key) that was to be registered.
        holder: the process holding it, if known.
        registry: the name of the registry (``""`` for the runtime's own).
    """

    def __init__(
        self,
        name: object,
        holder: ProcessRef | None = None,
        registry: str = "",
    ) -> None:
        super().__init__(name, holder, registry)
        self.name = name
        self.holder = holder
        self.registry = registry

    def _format(self) -> str:
        where = "" if _is(self.registry, "") else f" in registry {safe_repr(self.registry)}"
        owner = f" by {describe(self.holder)}" if self.holder is not None else ""
        return f"name {safe_repr(self.name)} is already registered{where}{owner}"


class NotRegisteredError(NoexError, LookupError):
    """No process is registered under that name (or key).

    Attributes:
        name: the name (or key) looked up.
        registry: the name of the registry (``""`` for the runtime's own).
    """

    def __init__(self, name: object, registry: str = "") -> None:
        super().__init__(name, registry)
        self.name = name
        self.registry = registry

    def _format(self) -> str:
        where = "" if _is(self.registry, "") else f" in registry {safe_repr(self.registry)}"
        return f"no process is registered as {safe_repr(self.name)}{where}"


class MaxRestartsExceededError(NoexError):
    """A supervisor saw more than `max_restarts` restarts within `max_seconds` and gave up.

    The last child crash is chained as `__cause__`.
    """

    def __init__(self, supervisor: object, max_restarts: int, max_seconds: float) -> None:
        super().__init__(supervisor, max_restarts, max_seconds)
        self.supervisor = supervisor
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds

    def _format(self) -> str:
        seconds = self.max_seconds
        if isinstance(seconds, int | float) and math.isinf(seconds):
            window = "ever"
        else:
            window = f"in {safe_str(seconds)} s"
        return (
            f"{describe(self.supervisor)} gave up: "
            f"more than {safe_str(self.max_restarts)} restarts {window}"
        )


class MaxChildrenError(NoexError):
    """A supervisor with ``max_children`` refused to start one more child.

    Attributes:
        supervisor: the supervisor's ref (or name).
        max_children: its limit, which its children already reach.
    """

    def __init__(self, supervisor: object, max_children: int) -> None:
        super().__init__(supervisor, max_children)
        self.supervisor = supervisor
        self.max_children = max_children

    def _format(self) -> str:
        limit = safe_str(self.max_children)
        return (
            f"{describe(self.supervisor)} already has {limit} children "
            f"(max_children={limit}); child not started"
        )


class UnknownBehaviourError(NoexError):
    """`GenServer.start_on` asked a node for a behaviour it does not offer (its
    ``ClusterConfig.behaviours`` has no such name).

    Attributes:
        node: the node's name.
        behaviour: the name asked for.
    """

    def __init__(self, node: str, behaviour: str) -> None:
        super().__init__(node, behaviour)
        self.node = node
        self.behaviour = behaviour

    def _format(self) -> str:
        return (
            f"node {safe_repr(self.node)} offers no behaviour {safe_repr(self.behaviour)} "
            "(see ClusterConfig.behaviours there)"
        )


class DuplicateChildError(NoexError):
    """The supervisor already has a child with this id (`supervisor` is None when two of the
    children given to ``Supervisor.start`` share an id)."""

    def __init__(self, supervisor: object, child_id: str) -> None:
        super().__init__(supervisor, child_id)
        self.supervisor = supervisor
        self.child_id = child_id

    def _format(self) -> str:
        if self.supervisor is None:
            return f"two children have the id {safe_repr(self.child_id)}; ids must be unique"
        return f"{describe(self.supervisor)} already has a child {safe_repr(self.child_id)}"


class ChildNotFoundError(NoexError, LookupError):
    """The supervisor has no child with this id (for a `DynamicSupervisor`: this ref)."""

    def __init__(self, supervisor: object, child_id: object) -> None:
        super().__init__(supervisor, child_id)
        self.supervisor = supervisor
        self.child_id = child_id

    def _format(self) -> str:
        return f"{describe(self.supervisor)} has no child {safe_repr(self.child_id)}"


class MissingChildTemplateError(NoexError):
    """A `simple_one_for_one` supervisor needs a `child_template`."""

    def __init__(self, supervisor: object = None) -> None:
        super().__init__(supervisor)
        self.supervisor = supervisor

    def _format(self) -> str:
        who = describe(self.supervisor) if self.supervisor is not None else "supervisor"
        return f"{who} uses simple_one_for_one but has no child_template"


class InvalidChildSpecError(NoexError, ValueError):
    """A child spec or supervisor option is malformed; the message says what and why."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def _format(self) -> str:
        return _text(self.detail)


class LinkedExitError(NoexError):
    """The exit reason of a process that died because a linked process crashed (or was killed).

    Never raised: it is the reason a linked process exits with (``terminate`` gets it, a
    supervisor counts it as a crash). The linked process's own exception is `__cause__`.

    Attributes:
        process: the linked process that exited first.
        reason: its exit reason (an exception, or ``"killed"``).
    """

    def __init__(self, process: object, reason: ExitReason) -> None:
        super().__init__(process, reason)
        self.process = process
        self.reason = reason
        if isinstance(reason, BaseException):
            self.__cause__ = reason

    def _format(self) -> str:
        return f"linked process {describe(self.process)} exited with {describe_reason(self.reason)}"


class CircuitOpenError(NoexError):
    """A `CircuitBreaker` is open and refused the call without trying it.

    Attributes:
        name: the breaker's name.
        retry_after: seconds until the breaker lets a trial call through.
    """

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(name, retry_after)
        self.name = name
        self.retry_after = retry_after

    def _format(self) -> str:
        retry_after: object = self.retry_after  # any value, once unpickled or reassigned
        if isinstance(retry_after, int | float):
            wait = f"{retry_after:.3g}"
        else:
            wait = safe_str(retry_after)
        return f"circuit {safe_repr(self.name)} is open; next trial in {wait} s"
