"""The process record and how other code talks to a process.

A process is one Trio task running an actor loop (`_actor.py`) over a memory-channel mailbox.
Its record *is* its ref, `GenServerRef`. This module holds the record, the mailbox items, and
the client side:

- ``call``: the caller puts a `Caller` in the mailbox with ``send_nowait`` and parks on it; the
  loop runs ``handle_call`` and wakes the caller with the reply. A caller that gives up simply
  stops listening — the server never notices (OTP 24 aliases). Timeouts come from the
  runtime's watchdog (`_call_timeouts.py`), not from a cancel scope per call.
- ``cast``: a `CastItem` put with ``send_nowait``; nothing comes back.
- ``stop``: a `StopRequest` queued behind earlier messages; ``shutdown`` cancels the process
  from outside (its host does that), overtaking the mailbox.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, Generic, NoReturn, Protocol, TypeVar, cast

import trio

from ._call_timeouts import unlink
from ._exceptions import (
    CallTimeoutError,
    CallToSelfError,
    MailboxFullError,
    NoexError,
    ServerNotRunningError,
)
from ._results import (
    ExitReason,
    check_exit_reason,
)

if TYPE_CHECKING:
    from ._runtime import Runtime

logger: Final = logging.getLogger("noex_trio")

CallT = TypeVar("CallT", contravariant=True)
CastT = TypeVar("CastT", contravariant=True)
ReplyT = TypeVar("ReplyT", covariant=True)
R = TypeVar("R")

# Process status, ordered: anything above RUNNING accepts no new messages.
STARTING: Final = 0
RUNNING: Final = 1
STOPPING: Final = 2
DEAD: Final = 3

#: The process whose task is running (None in plain Trio code).
current_process_var: ContextVar[GenServerRef[Any, Any, Any] | None] = ContextVar(
    "noex_trio_current_process", default=None
)

#: Where `GenServer.start` puts new processes; a supervisor sets it while it runs a child's
#: ``start`` function. None means the runtime's root.
host_var: ContextVar[Host | None] = ContextVar("noex_trio_host", default=None)


class Host(Protocol):
    """Where processes live: owns the nursery their tasks run in and hears of their exits."""

    nursery: trio.Nursery
    procs: dict[GenServerRef[Any, Any, Any], None]

    def child_exited(self, proc: GenServerRef[Any, Any, Any], reason: ExitReason) -> None:
        """Called synchronously as the very last step of a process's exit."""


# --- mailbox items --------------------------------------------------------------------------


class Caller(Generic[R]):
    """The pending reply of one call: the handle behind ``GenServer.caller()``.

    Keep it and return `NoReply` to answer later with `reply`; a second reply is ignored,
    and so is a reply to a caller that timed out or was cancelled.
    """

    __slots__ = (
        "_deadline",
        "_deferred",
        "_done",
        "_error",
        "_list",
        "_next",
        "_prev",
        "_target",
        "_task",
        "_value",
        "message",
    )

    def __init__(self, message: Any, target: object = None) -> None:
        self.message = message
        self._target = target
        self._task: Any = None
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._deferred: set[Caller[Any]] | None = None
        # Links of the call-timeout watchdog's list (see _call_timeouts).
        self._list: Any = None
        self._prev: Caller[Any] | None = None
        self._next: Caller[Any] | None = None
        self._deadline = 0.0

    @property
    def pending(self) -> bool:
        """True while the caller still waits: not answered yet, and it has not given up
        (timed out or been cancelled). A deferred reply to a caller that is no longer pending
        is dropped, so check this before handing it something you cannot afford to lose."""
        return not self._done

    def reply(self, value: R) -> None:
        """Send `value` to the waiting caller (sync; ignored if already answered or abandoned)."""
        if self._done:
            return
        self._done = True
        self._value = value
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if self._done:
            return
        self._done = True
        self._error = error
        self._wake()

    def _wake(self) -> None:
        if self._list is not None:
            unlink(self)
        if self._deferred is not None:
            self._deferred.discard(self)
            self._deferred = None
        task = self._task
        if task is not None:
            self._task = None
            trio.lowlevel.reschedule(task)

    def _abort(self, _raise_cancel: Any) -> trio.lowlevel.Abort:
        # The caller gave up (timeout or cancellation): later replies are dropped, and a
        # deferred caller no longer needs to be remembered by the process.
        self._task = None
        self._done = True
        if self._list is not None:
            unlink(self)
        if self._deferred is not None:
            self._deferred.discard(self)
            self._deferred = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _raise(self) -> NoReturn:
        # Raised from here, not from `call`'s frame: that frame holds the caller, and the
        # caller the error, which would make error -> traceback -> frame -> caller -> error a
        # reference cycle (garbage for the cyclic collector on every failed call).
        error = self._error
        self._error = None
        assert error is not None
        try:
            raise error
        finally:
            del error

    async def _wait(self) -> R:
        if self._done:
            await trio.lowlevel.cancel_shielded_checkpoint()
        else:
            self._task = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self._abort)
        if self._error is not None:
            self._raise()
        return cast(R, self._value)

    def __repr__(self) -> str:
        return f"<Caller of {self.message!r}>"


class CastItem:
    __slots__ = ("message",)

    def __init__(self, message: object) -> None:
        self.message = message


class Info:
    """A message for ``handle_info`` (monitor ``Down``, trapped ``Exit``, supervisor notices)."""

    __slots__ = ("message",)

    def __init__(self, message: object) -> None:
        self.message = message


class Crash:
    """Test helper item: the process raises `error` as if a handler had (``testing.crash``)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class StopRequest:
    __slots__ = ("reason",)

    def __init__(self, reason: ExitReason) -> None:
        self.reason = reason


# --- the process record / ref ---------------------------------------------------------------


class GenServerRef(Generic[CallT, CastT, ReplyT]):
    """A handle to a process: hashable, compared by identity, valid after the process ended.

    Obtained from ``GenServer.start`` or a registry lookup; never built by hand. Once the process
    is gone every operation but `stop` and `is_running` raises `ServerNotRunningError`.
    """

    # One object per process keeps the hot paths short and idle processes small.
    __slots__ = (
        "__weakref__",
        "_behaviour",
        "_budget",
        "_current",
        "_deferred",
        "_exited",
        "_host",
        "_id",
        "_kill_reason",
        "_label",
        "_mailbox_size",
        "_on_exit",
        "_reason",
        "_recv",
        "_registries",
        "_runtime",
        "_scope",
        "_send",
        "_status",
        "_stop_reply",
        "_system",
        "_trap_exit",
    )

    def __init__(
        self,
        runtime: Runtime,
        behaviour: Any,
        *,
        label: str,
        mailbox_size: float,
        budget: float | str,
        trap_exit: bool,
        system: bool,
    ) -> None:
        self._runtime = runtime
        self._id = runtime._next_id()
        self._label = f"{label}#{self._id}"
        self._behaviour = behaviour
        self._send, self._recv = trio.open_memory_channel[Any](mailbox_size)
        self._mailbox_size = mailbox_size
        self._status = STARTING
        self._reason: ExitReason | None = None
        self._scope: trio.CancelScope | None = None
        self._host: Host | None = None
        self._current: Caller[Any] | None = None
        self._deferred: set[Caller[Any]] | None = None
        self._exited: trio.Event | None = None
        self._kill_reason: ExitReason | None = None
        self._stop_reply: tuple[Caller[Any], Any] | None = None
        self._budget = budget
        self._trap_exit = trap_exit
        self._system = system
        self._registries: dict[Any, None] | None = None
        self._on_exit: dict[object, Callable[[ExitReason], object]] | None = None

    # -- public surface --

    @property
    def id(self) -> int:
        """A number unique within the runtime (never reused)."""
        return self._id

    @property
    def exit_reason(self) -> ExitReason | None:
        """Why the process ended, or None while it runs."""
        return self._reason

    def is_running(self) -> bool:
        """True while the process accepts messages (not once a stop was requested)."""
        return self._status <= RUNNING

    def call(self, message: CallT, timeout: float = 5.0) -> Coroutine[Any, Any, ReplyT]:
        """Same as ``await GenServer.call(self, message, timeout)``.

        A plain method returning the coroutine of the module-level ``call`` (await it): that
        saves a coroutine frame on each of the call's two resumptions (~3 % of a round trip).
        """
        return call(self, message, timeout)

    def cast(self, message: CastT) -> None:
        """Same as ``GenServer.cast(self, message)``."""
        cast_message(self, message)

    async def stop(self, reason: ExitReason = "normal") -> None:
        """Same as ``GenServer.stop(self, reason)``."""
        await stop(self, reason)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._label}>"

    # -- internals used by other modules --

    def _add_on_exit(self, key: object, callback: Callable[[ExitReason], object]) -> None:
        if self._on_exit is None:
            self._on_exit = {}
        self._on_exit[key] = callback

    def _remove_on_exit(self, key: object) -> None:
        if self._on_exit is not None:
            self._on_exit.pop(key, None)

    def _deliver_info(self, message: object) -> bool:
        """Queue `message` for ``handle_info``; False if the process is gone or its mailbox full."""
        if self._status >= DEAD:
            return False
        try:
            self._send.send_nowait(Info(message))
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        return True

    async def _wait_exited(self) -> ExitReason:
        if self._status != DEAD:
            if self._exited is None:
                self._exited = trio.Event()
            await self._exited.wait()
        assert self._reason is not None
        return self._reason


AnyRef = GenServerRef[Any, Any, Any]


# --- client side ------------------------------------------------------------------------------


def resolve(target: object, *, allow_system: bool = False) -> AnyRef:
    """Turn a ref or a registered name into a live-or-dead process record."""
    if isinstance(target, GenServerRef):
        proc: AnyRef = target
    elif isinstance(target, str):
        from ._runtime import current_runtime

        if not target:
            raise ValueError("target name must be a non-empty str, got ''")
        found = current_runtime().registry._whereis(target)
        if found is None:
            raise ServerNotRunningError(target)
        proc = found
    else:
        raise TypeError(f"target must be a GenServerRef or a registered name, got {target!r}")
    if proc._system and not allow_system:
        raise TypeError(
            f"{proc!r} is not a GenServer; use the functions of its own facade "
            "(Supervisor.*, EventBus.*)"
        )
    return proc


def not_running(target: object, proc: AnyRef) -> ServerNotRunningError:
    """The error for a message to a process that takes no more: exited, or stopping."""
    if proc._reason is not None:
        return ServerNotRunningError(target, proc._reason)
    return ServerNotRunningError(target, "stopping" if proc._status == STOPPING else "noproc")


def check_timeout(timeout: object, what: str = "timeout") -> float:
    """Accept a positive number of seconds or math.inf."""
    if type(timeout) is not float and type(timeout) is not int:
        raise TypeError(f"{what} must be a number of seconds, got {timeout!r}")
    if not timeout > 0:  # also rejects NaN
        raise ValueError(f"{what} must be > 0 (or math.inf), got {timeout!r}")
    return float(timeout)


async def call(
    target: object,
    message: object,
    timeout: float = 5.0,  # noqa: ASYNC109 - OTP's call timeout, enforced by the watchdog
    *,
    system: bool = False,
) -> Any:
    """Send a call and wait for its reply; see ``GenServer.call`` for the rules."""
    if type(target) is GenServerRef and not target._system:
        proc: AnyRef = target  # the common case, without a call to resolve()
    else:
        proc = resolve(target, allow_system=system)
    if timeout != 5.0:
        check_timeout(timeout)
    if proc._status > RUNNING:
        raise not_running(target, proc)
    if current_process_var.get() is proc:
        raise CallToSelfError(target)
    caller: Caller[Any] = Caller(message, target)
    try:
        proc._send.send_nowait(caller)
    except trio.WouldBlock:
        return await _call_bounded(proc, caller, target, timeout)
    if timeout == math.inf or proc._runtime._watchdog.watch(caller, timeout):
        # Caller._wait inlined: one coroutine frame less to go through at each resumption.
        # (Nothing can have answered yet: the server only runs once this task parks.)
        caller._task = trio.lowlevel.current_task()
        await trio.lowlevel.wait_task_rescheduled(caller._abort)
        if caller._error is not None:
            caller._raise()
        return caller._value
    with trio.CancelScope(deadline=trio.current_time() + timeout) as scope:
        return await caller._wait()
    assert scope.cancelled_caught
    raise CallTimeoutError(target, timeout)


async def _call_bounded(
    proc: AnyRef,
    caller: Caller[Any],
    target: object,
    timeout: float,  # noqa: ASYNC109 - see call()
) -> Any:
    """A call into a full bounded mailbox: wait for room and the reply within one deadline."""
    with trio.CancelScope(deadline=trio.current_time() + timeout) as scope:
        await proc._send.send(caller)
        return await caller._wait()
    assert scope.cancelled_caught
    raise CallTimeoutError(target, timeout)


def cast_message(target: object, message: object, *, system: bool = False) -> None:
    """Queue a cast without blocking; see ``GenServer.cast``."""
    if type(target) is GenServerRef and not target._system:
        proc: AnyRef = target  # the common case, without a call to resolve()
    else:
        proc = resolve(target, allow_system=system)
    if proc._status > RUNNING:
        raise not_running(target, proc)
    try:
        proc._send.send_nowait(CastItem(message))
    except trio.WouldBlock:
        raise MailboxFullError(target, proc._mailbox_size) from None


async def stop(target: object, reason: ExitReason = "normal", *, system: bool = False) -> None:
    """Queue a stop request behind earlier messages and wait until the process is gone."""
    reason = check_exit_reason(reason)
    try:
        proc = resolve(target, allow_system=system)
    except ServerNotRunningError:
        return  # an unknown name: nothing to stop
    if proc._status == DEAD:
        await trio.lowlevel.checkpoint()
        return
    if current_process_var.get() is proc:
        raise CallToSelfError(target, "stop")
    if proc._status <= RUNNING:
        request = StopRequest(reason)
        try:
            proc._send.send_nowait(request)
        except trio.WouldBlock:
            # A full bounded mailbox: wait for room, so the stop still comes after the backlog.
            # Cancelled here, nothing was queued and the process runs on.
            await proc._send.send(request)
        if proc._status <= RUNNING:
            proc._status = STOPPING  # from now on calls and casts are refused
    await proc._wait_exited()


def shutdown_soon(proc: AnyRef, reason: ExitReason, budget: float | str | None = None) -> None:
    """Cancel a process from outside (supervisor shutdown, links); it runs ``terminate``
    within `budget` unless `budget` is ``"brutal_kill"``."""
    if proc._status == DEAD:
        return
    if proc._kill_reason is None:
        proc._kill_reason = "killed" if budget == "brutal_kill" else reason
    if budget is not None:
        proc._budget = budget
    if proc._status < STOPPING:
        proc._status = STOPPING
    assert proc._scope is not None
    proc._scope.cancel()


async def shutdown(
    proc: AnyRef, reason: ExitReason, budget: float | str | None = None
) -> ExitReason:
    """Cancel a process and wait until it is gone; returns its exit reason."""
    shutdown_soon(proc, reason, budget)
    return await proc._wait_exited()


def current_process() -> AnyRef | None:
    """The process whose handler is running in this task, if any."""
    return current_process_var.get()


def current_caller() -> Caller[Any]:
    """The caller of the ``handle_call`` now running (for deferred replies)."""
    proc = current_process_var.get()
    if proc is None or proc._current is None:
        raise NoexError("GenServer.caller() can only be used inside handle_call")
    return proc._current
