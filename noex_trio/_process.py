"""The process: one Trio task running an actor loop over a memory-channel mailbox.

A process is started into a *host* (the runtime's root, or a supervisor) with `spawn`, which
returns once ``init`` has finished (OTP ``start_link``). Its task runs inside its own
`trio.CancelScope`, shielded once ``init`` is done, so that only its host can cancel it: outer
cancellation (a deadline around the runtime, Ctrl-C) never tears a tree down out of order.

How a message travels:

- ``call``: the caller puts a `Caller` in the mailbox with ``send_nowait`` and parks on it; the
  loop runs ``handle_call`` and wakes the caller with the reply. A caller that gives up simply
  stops listening — the server never notices (OTP 24 aliases).
- ``cast``: a `_Cast` put with ``send_nowait``; nothing comes back.
- ``stop``: a `_StopRequest` queued behind earlier messages.

How a process ends (`_finish`), in this order: ``terminate`` runs (bounded by the shutdown
budget, shielded), the process is marked dead, every name and owned resource is released, every
waiting caller is answered (the one being served gets the crash, queued ones get
`ServerNotRunningError`), lifecycle events go out, and last the host is told.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from inspect import CO_COROUTINE
from types import FunctionType, MethodType
from typing import TYPE_CHECKING, Any, Final, Generic, NoReturn, Protocol, TypeVar, cast

import trio

from ._call_timeouts import unlink
from ._exceptions import (
    CallTimeoutError,
    CallToSelfError,
    InitializationError,
    MailboxFullError,
    NoexError,
    ServerNotRunningError,
)
from ._results import (
    NO_REPLY,
    Crashed,
    ExitReason,
    NoReply,
    Reply,
    Started,
    Stop,
    Terminated,
    check_exit_reason,
    is_crash,
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

#: How often a busy loop yields to the scheduler even when its mailbox is never empty.
_YIELD_EVERY: Final = 64


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
        # The caller gave up (timeout or cancellation): later replies are dropped.
        self._task = None
        self._done = True
        if self._list is not None:
            unlink(self)
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


class _Cast:
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


class _StopRequest:
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
        raise ServerNotRunningError(target, proc._reason or "noproc")
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
        raise ServerNotRunningError(target, proc._reason or "noproc")
    try:
        proc._send.send_nowait(_Cast(message))
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
    if proc._status <= RUNNING:
        proc._status = STOPPING
        try:
            proc._send.send_nowait(_StopRequest(reason))
        except trio.WouldBlock:
            # A full bounded mailbox: the stop cannot queue, so it overtakes the backlog.
            shutdown_soon(proc, reason)
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


# --- server side ------------------------------------------------------------------------------


class _Callbacks:
    """The behaviour's callbacks, looked up once per process, with their sync/async flavour."""

    __slots__ = (
        "call_async",
        "cast_async",
        "handle_call",
        "handle_cast",
        "handle_info",
        "info_async",
        "init",
        "name",
        "terminate",
    )

    def __init__(self, behaviour: Any) -> None:
        self.name = type(behaviour).__name__
        self.init: Callable[..., Any] = behaviour.init
        self.handle_call: Callable[..., Any] = behaviour.handle_call
        self.handle_cast: Callable[..., Any] = behaviour.handle_cast
        self.handle_info: Callable[..., Any] | None = getattr(behaviour, "handle_info", None)
        self.terminate: Callable[..., Any] | None = getattr(behaviour, "terminate", None)
        self.call_async = _is_async(self.handle_call)
        self.cast_async = _is_async(self.handle_cast)
        self.info_async = _is_async(self.handle_info)


def _is_async(callback: object) -> bool:
    """`inspect.iscoroutinefunction`, with a fast path for the usual plain method (the full
    check costs ~3 % of a spawn)."""
    if type(callback) is MethodType:
        func = callback.__func__
        if type(func) is FunctionType and "_is_coroutine_marker" not in func.__dict__:
            return bool(func.__code__.co_flags & CO_COROUTINE)
    return inspect.iscoroutinefunction(callback)


def check_behaviour(behaviour: Any) -> None:
    """Reject objects that cannot be a behaviour before anything starts."""
    missing = [
        name
        for name in ("init", "handle_call", "handle_cast")
        if not callable(getattr(behaviour, name, None))
    ]
    if missing:
        raise TypeError(
            f"behaviour {type(behaviour).__name__} is missing required callbacks: "
            + ", ".join(missing)
        )


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _bad_result(cb: _Callbacks, handler: str, expected: str, result: object) -> TypeError:
    return TypeError(f"{cb.name}.{handler} must return {expected}, got {result!r}")


async def spawn(host: Host, proc: AnyRef, args: tuple[Any, ...], init_timeout: float) -> None:
    """Run `proc` as a task of `host`; return once ``init`` finished (raise if it failed)."""
    proc._host = host
    await host.nursery.start(_process_main, host, proc, args, init_timeout)


async def _process_main(
    host: Host,
    proc: AnyRef,
    args: tuple[Any, ...],
    init_timeout: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    current_process_var.set(proc)
    if host_var.get() is not None:  # (a set costs ~170 bytes of context per process)
        host_var.set(None)  # processes this one starts are its peers, not its host's children
    host.procs[proc] = None
    proc._runtime._live[proc] = None
    # The task status goes into `outcome`, dropped once started: a frame holding it would keep
    # nursery.start's temporary nursery (with its cancel scope, ~10 objects, ~1.3 KB) alive for
    # the whole life of the process.
    outcome = _Outcome(task_status)
    del task_status
    with trio.CancelScope() as scope:
        proc._scope = scope
        behaviour = proc._behaviour
        if getattr(behaviour, "_noex_wants_nursery", False):
            # A supervisor: its children live in a nursery inside its own task. A started
            # process never raises into its host's nursery, so what leaves this one is the
            # body's own exception (a failed init, a cancelled start): raise it unwrapped, as
            # `start` promises (a strict nursery would wrap it in an ExceptionGroup).
            try:
                async with trio.open_nursery() as nursery:
                    behaviour._noex_nursery = nursery
                    await _run(proc, args, init_timeout, outcome)
            except BaseExceptionGroup as group:
                _raise_single(group)
        else:
            await _run(proc, args, init_timeout, outcome)
    if not outcome.started:  # cancelled by its host while in init (runtime closing)
        raise InitializationError(proc, "stopped while starting")
    if outcome.fatal is not None:
        proc._runtime._escalate(outcome.fatal)


def _raise_single(group: BaseExceptionGroup[BaseException]) -> NoReturn:
    """Raise the only exception of `group` as itself, its context and cause kept."""
    if len(group.exceptions) != 1:  # pragma: no cover - see the caller
        raise group
    error = group.exceptions[0]
    context = error.__context__
    try:
        raise error
    finally:
        error.__context__ = context
        del error, context


class _Outcome:
    __slots__ = ("fatal", "started", "task_status")

    def __init__(self, task_status: trio.TaskStatus[None]) -> None:
        self.started = False
        self.fatal: BaseException | None = None
        self.task_status: trio.TaskStatus[None] | None = task_status


async def _run(
    proc: AnyRef,
    args: tuple[Any, ...],
    init_timeout: float,
    outcome: _Outcome,
) -> None:
    """init, then the loop, then the exit sequence (see the module docstring)."""
    cb = _Callbacks(proc._behaviour)
    state: Any = None
    reason: ExitReason = "normal"
    # -- init: cancellable by the starter, bounded by init_timeout --
    init_scope = None
    try:
        state = cb.init(*args)
        if inspect.isawaitable(state):
            # Only an async init can overrun or be cancelled (a sync one never checkpoints),
            # so only it pays for a cancel scope (~10 % of a spawn).
            with trio.move_on_after(init_timeout) as init_scope:
                state = await state
        if trio.current_effective_deadline() == -math.inf:
            # The starter was cancelled and init finished without a checkpoint seeing it.
            # Trio's `started()` would then quietly leave this (soon shielded) task in the
            # starter's cancelled nursery, and `start` would wait for it forever.
            await trio.lowlevel.checkpoint()  # raises Cancelled
    except Exception as exc:
        _abandon(proc, exc)
        raise InitializationError(proc, f"init raised {exc!r}") from exc
    except BaseException as exc:  # Cancelled (start cancelled), KeyboardInterrupt, ...
        _abandon(proc, exc)
        raise
    if init_scope is not None and init_scope.cancelled_caught:
        error = InitializationError(proc, f"init timed out after {init_timeout} s")
        _abandon(proc, error)
        raise error
    assert proc._scope is not None
    proc._scope.shield = True
    if proc._status == STARTING:
        proc._status = RUNNING
    outcome.started = True
    assert outcome.task_status is not None
    outcome.task_status.started()
    outcome.task_status = None
    proc._runtime._emit(Started(proc))
    # -- the loop --
    try:
        reason, state = await _loop(proc, cb, state)
    except trio.Cancelled:
        reason = proc._kill_reason or "shutdown"
        raise
    except Exception as exc:
        reason = exc
    except BaseException as exc:  # KeyboardInterrupt/SystemExit: hand to the runtime
        reason = "shutdown"
        outcome.fatal = exc
    finally:
        await _finish(proc, cb, reason, state)


def _take_nowait(recv: trio.MemoryReceiveChannel[Any]) -> Any:
    """The next queued item or None. A function of its own, so that the `WouldBlock` is raised
    and caught outside the loop's frame: an exception passing through the loop would give it a
    frame object (and parking inside the ``except`` would keep the exception and its traceback)
    for as long as the process lives, about 700 bytes per idle process."""
    try:
        return recv.receive_nowait()
    except trio.WouldBlock:
        return None


async def _loop(proc: AnyRef, cb: _Callbacks, state: Any) -> tuple[ExitReason, Any]:
    """Handle messages until a stop; return (reason, final state). Exceptions are crashes."""
    recv = proc._recv
    handle_call = cb.handle_call
    handle_cast = cb.handle_cast
    call_async = cb.call_async
    cast_async = cb.cast_async
    budget = _YIELD_EVERY
    while True:
        # Take what is queued without a scheduler round trip, but yield regularly.
        item = _take_nowait(recv) if budget else None
        if item is not None:
            budget -= 1
        else:
            item = await recv.receive()
            budget = _YIELD_EVERY
        kind = type(item)
        if kind is Caller:
            proc._current = item
            result = handle_call(item.message, state)
            if call_async:
                result = await result
            proc._current = None
            if type(result) is tuple and len(result) == 2:
                item.reply(result[0])
                state = result[1]
            elif type(result) is Reply:
                item.reply(result.value)
                state = result.state
            elif type(result) is NoReply:
                state = result.state
                if not item._done:
                    if proc._deferred is None:
                        proc._deferred = set()
                    proc._deferred.add(item)
                    item._deferred = proc._deferred
            elif type(result) is Stop:
                if result.reply is not NO_REPLY:
                    proc._stop_reply = (item, result.reply)  # sent after terminate (OTP order)
                else:
                    proc._current = item  # fails with the exit reason
                return _stop_reason(cb, result), result.state
            else:
                proc._current = item
                raise _bad_result(
                    cb, "handle_call", "(reply, state), Reply, NoReply or Stop", result
                )
        elif kind is _Cast:
            result = handle_cast(item.message, state)
            if cast_async:
                result = await result
            state = result
            if type(result) is Stop:
                return _stop_reason(cb, result), result.state
            if type(result) is NoReply:
                state = result.state
            elif type(result) is Reply:
                raise _bad_result(cb, "handle_cast", "a new state, NoReply or Stop", result)
        elif kind is Info:
            result = await _handle_info(proc, cb, item.message, state)
            state = result
            if type(result) is Stop:
                return _stop_reason(cb, result), result.state
            if type(result) is NoReply:
                state = result.state
            elif type(result) is Reply:
                raise _bad_result(cb, "handle_info", "a new state, NoReply or Stop", result)
        elif kind is _StopRequest:
            return item.reason, state
        else:
            assert kind is Crash
            raise item.error


async def _handle_info(proc: AnyRef, cb: _Callbacks, message: object, state: Any) -> Any:
    # A notice may be withdrawn after it was queued (a `Down` flushed by ``demonitor``).
    drop = getattr(message, "_noex_drop", None)
    if drop is not None and drop():
        return state
    if cb.handle_info is None:
        logger.warning("%s got %r but defines no handle_info; dropped", proc._label, message)
        return state
    result = cb.handle_info(message, state)
    if cb.info_async:
        result = await result
    return result


def _stop_reason(cb: _Callbacks, result: Stop[Any]) -> ExitReason:
    reason = result.reason
    if reason in ("normal", "shutdown") or isinstance(reason, BaseException):
        return reason
    raise TypeError(
        f"{cb.name} returned Stop with reason {reason!r}; "
        "expected 'normal', 'shutdown' or an exception instance"
    )


def _abandon(proc: AnyRef, error: BaseException) -> None:
    """Release a process whose init failed: no terminate, no lifecycle events."""
    proc._status = DEAD
    proc._reason = error if isinstance(error, Exception) else "shutdown"
    _release(proc, proc._reason)
    _fail_waiters(proc, proc._reason, crash_error=None)
    _forget(proc, notify_host=False)


async def _finish(proc: AnyRef, cb: _Callbacks, reason: ExitReason, state: Any) -> None:
    """Run the exit sequence described in the module docstring."""
    proc._status = STOPPING
    crash_error = reason if isinstance(reason, BaseException) else None
    if reason != "killed" and cb.terminate is not None:
        budget = proc._budget
        limit = math.inf if isinstance(budget, str) else budget
        with trio.move_on_after(limit, shield=True) as scope:
            try:
                await _maybe_await(cb.terminate(reason, state))
            except Exception as exc:
                logger.error(
                    "%s raised in terminate (exit reason was %r)",
                    proc._label,
                    reason,
                    exc_info=exc,
                )
                reason = exc
        if scope.cancelled_caught:
            logger.warning("%s: terminate exceeded its %s s shutdown budget", proc._label, limit)
    proc._status = DEAD
    proc._reason = reason
    _release(proc, reason)
    _fail_waiters(proc, reason, crash_error=crash_error)
    runtime = proc._runtime
    if is_crash(reason):
        host_label = getattr(proc._host, "label", "runtime")
        if isinstance(reason, BaseException):
            logger.error("%s crashed (supervisor: %s)", proc._label, host_label, exc_info=reason)
            runtime._emit(Crashed(proc, reason))
    runtime._emit(Terminated(proc, reason))
    _forget(proc)


def _release(proc: AnyRef, reason: ExitReason) -> None:
    """Drop names, subscriptions, timers, monitors and links owned by the process."""
    if proc._registries is not None:
        for registry in list(proc._registries):
            registry._forget_process(proc)
        proc._registries = None
    on_exit = proc._on_exit
    if on_exit is not None:
        proc._on_exit = None
        for callback in list(on_exit.values()):
            try:
                callback(reason)
            except Exception:  # pragma: no cover - internal callbacks do not raise
                logger.exception("exit hook of %s failed", proc._label)


def _fail_waiters(proc: AnyRef, reason: ExitReason, crash_error: BaseException | None) -> None:
    """Answer every caller still waiting; drop queued casts (counted as dead letters)."""
    current = proc._current
    proc._current = None
    if current is not None:
        # The call being handled gets the crash itself, so `except ValueError:` works for it.
        current._fail(crash_error or ServerNotRunningError(proc, reason))
    if proc._stop_reply is not None:
        caller, value = proc._stop_reply
        proc._stop_reply = None
        caller.reply(value)
    if proc._deferred:
        for caller in list(proc._deferred):
            caller._fail(ServerNotRunningError(proc, reason))
        proc._deferred = None
    dead_letters = 0
    while True:
        try:
            item = proc._recv.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            break
        if type(item) is Caller:
            item._fail(ServerNotRunningError(proc, reason))
        else:
            dead_letters += 1
    proc._runtime._dead_letters += dead_letters
    proc._send.close()
    proc._recv.close()


def _forget(proc: AnyRef, *, notify_host: bool = True) -> None:
    """Last steps: tell the host, wake everyone waiting for the exit."""
    host = proc._host
    proc._runtime._live.pop(proc, None)
    if host is not None:
        host.procs.pop(proc, None)
    if host is not None and notify_host:
        reason = proc._reason
        assert reason is not None
        try:
            host.child_exited(proc, reason)
        except Exception:  # pragma: no cover - hosts do not raise
            logger.exception("host of %s failed to handle its exit", proc._label)
    if proc._exited is not None:
        proc._exited.set()


def current_process() -> AnyRef | None:
    """The process whose handler is running in this task, if any."""
    return current_process_var.get()


def current_caller() -> Caller[Any]:
    """The caller of the ``handle_call`` now running (for deferred replies)."""
    proc = current_process_var.get()
    if proc is None or proc._current is None:
        raise NoexError("GenServer.caller() can only be used inside handle_call")
    return proc._current
