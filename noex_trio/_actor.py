"""The actor loop: how a process runs — ``init``, the message loop, and the exit sequence.

A process is started into a *host* (the runtime's root, or a supervisor) with `spawn`, which
returns once ``init`` has finished (OTP ``start_link``). Its task runs inside its own shielded
`trio.CancelScope`, so that only its host (and, while ``init`` runs, its starter) can cancel it:
outer cancellation (a deadline around the runtime, Ctrl-C) never tears a tree down out of order.

How a process ends (`_finish`), in this order: ``terminate`` runs (bounded by the shutdown
budget, shielded), the process is marked dead, every name and owned resource is released, every
waiting caller is answered (the one being served gets the crash, queued ones get
`ServerNotRunningError`), lifecycle events go out, and last the host is told.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from inspect import CO_COROUTINE
from types import FunctionType, MethodType
from typing import Any, Final, NoReturn

import trio

from ._exceptions import InitializationError, ServerNotRunningError
from ._process import (
    DEAD,
    RUNNING,
    STARTING,
    STOPPING,
    AnyRef,
    Caller,
    CastItem,
    Crash,
    Host,
    Info,
    StopRequest,
    current_process_var,
    host_var,
    logger,
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
    is_crash,
    is_exit_reason,
)

#: How often a busy loop yields to the scheduler even when its mailbox is never empty.
_YIELD_EVERY: Final = 64

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
    """Run `proc` as a task of `host`; return once ``init`` finished (raise if it failed).

    What ``await host.nursery.start(...)`` does, without its temporary nursery, cancel scope
    and task status (which, with the reparenting of the task, cost about 11 µs, a sixth of a
    spawn and stop): the task goes straight into the host's nursery and the starter parks on a
    one-shot latch (`_Start`) until ``init`` is done.
    """
    proc._host = host
    start = _Start(trio.lowlevel.current_task())
    host.nursery.start_soon(_process_main, host, proc, args, init_timeout, start, name=_TASK_NAME)
    await trio.lowlevel.wait_task_rescheduled(start.abort)
    if start.error is not None or start.raise_cancel is not None:  # (once cancelled, no start)
        start.raise_failure()


class _Start:
    """The start latch of a process, and what its task reports to itself after ``init``.

    The process's cancel scope is shielded from the start: while ``init`` runs, the process is
    cancelled through this latch when its starter is (`abort`), as a task under
    ``nursery.start`` is; afterwards only its host cancels it. The starter stays parked until
    the process has unwound (``Abort.FAILED``) and then raises what ``init`` ended with, or, if
    that was the cancellation, the starter's own ``Cancelled`` (or ``KeyboardInterrupt``)
    through the stored ``raise_cancel``, as ``nursery.start`` does.
    """

    __slots__ = ("error", "fatal", "raise_cancel", "scope", "task")

    def __init__(self, task: trio.lowlevel.Task) -> None:
        self.task: trio.lowlevel.Task | None = task  # the parked starter; None once woken
        self.scope = trio.CancelScope(shield=True)  # the process's own scope
        self.error: BaseException | None = None
        self.raise_cancel: Callable[[], NoReturn] | None = None
        self.fatal: BaseException | None = None  # KeyboardInterrupt & co. from the loop

    def abort(self, raise_cancel: Callable[[], NoReturn]) -> trio.lowlevel.Abort:
        # The starter is cancelled while init runs: cancel init, and wait for it to unwind.
        self.raise_cancel = raise_cancel
        self.scope.cancel()
        return trio.lowlevel.Abort.FAILED

    def started(self) -> None:
        task = self.task
        assert task is not None
        self.task = None
        trio.lowlevel.reschedule(task)

    def fail(self, proc: AnyRef, error: BaseException | None) -> None:
        """init did not finish: `error` is what the process task ended with (None if its
        scope absorbed a cancellation)."""
        task = self.task
        assert task is not None
        self.task = None
        if self.raise_cancel is None:
            # Not the starter's cancellation: a failed init, or the host stopped the process.
            if error is None:
                error = InitializationError(proc, "stopped while starting")
            self.error = error
        elif error is not None and not isinstance(error, trio.Cancelled):
            self.error = error  # init ended with its own error: that wins over the cancellation
        trio.lowlevel.reschedule(task)

    def raise_failure(self) -> NoReturn:
        """In the starter: raise what ended init (see the class docstring)."""
        raise_cancel = self.raise_cancel
        error = self.error
        self.raise_cancel = self.error = None  # no cycle error -> traceback -> frame -> self
        try:
            if raise_cancel is not None:
                # The starter's Cancelled gives way to an error init ended with (as with
                # nursery.start); its KeyboardInterrupt never does.
                try:
                    raise_cancel()
                except trio.Cancelled:
                    if error is None:
                        raise
            assert error is not None
            raise error
        finally:
            del error, raise_cancel


async def _process_main(
    host: Host,
    proc: AnyRef,
    args: tuple[Any, ...],
    init_timeout: float,
    start: _Start,
) -> None:
    # Nothing raises into the host's nursery while init runs: every outcome goes to the starter.
    try:
        current_process_var.set(proc)
        if host_var.get() is not None:  # (a set costs ~170 bytes of context per process)
            host_var.set(None)  # processes this one starts are its peers, not its host's children
        host.procs[proc] = None
        proc._runtime._live[proc] = None
        with start.scope as scope:
            proc._scope = scope
            behaviour = proc._behaviour
            if getattr(behaviour, "_noex_wants_nursery", False):
                # A supervisor: its children live in a nursery inside its own task. A started
                # process never raises into its host's nursery, so what leaves this one is the
                # body's own exception (a failed init, a cancelled start): raise it unwrapped,
                # as `start` promises (a strict nursery would wrap it in an ExceptionGroup).
                try:
                    async with trio.open_nursery() as nursery:
                        behaviour._noex_nursery = nursery
                        await _run(proc, args, init_timeout, start)
                except BaseExceptionGroup as group:
                    _raise_single(group)
            else:
                await _run(proc, args, init_timeout, start)
    except BaseException as exc:
        if start.task is None:  # pragma: no cover - a started process does not raise
            raise
        start.fail(proc, exc)
        return
    if start.task is not None:  # init did not finish: its scope absorbed a cancellation
        start.fail(proc, None)
        return
    if start.fatal is not None:
        proc._runtime._escalate(start.fatal)


#: The name of a process's task (what `nursery.start` gave it; saves Trio composing it).
_TASK_NAME: Final = f"{_process_main.__module__}.{_process_main.__qualname__}"


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


async def _run(
    proc: AnyRef,
    args: tuple[Any, ...],
    init_timeout: float,
    start: _Start,
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
        # If the starter was cancelled (or the host stopped the process) and init finished
        # without a checkpoint seeing it, the start must still fail: raise Cancelled now.
        await trio.lowlevel.checkpoint_if_cancelled()
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
    if proc._status == STARTING:
        proc._status = RUNNING
    start.started()
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
        start.fatal = exc
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
        elif kind is CastItem or kind is Info:
            # handle_cast and handle_info return the same forms: a new state, NoReply, Stop.
            if kind is CastItem:
                result = handle_cast(item.message, state)
                if cast_async:
                    result = await result
            else:
                result = await _handle_info(proc, cb, item.message, state)
            state = result
            if type(result) is Stop:
                return _stop_reason(cb, result), result.state
            if type(result) is NoReply:
                state = result.state
            elif type(result) is Reply:
                handler = "handle_cast" if kind is CastItem else "handle_info"
                raise _bad_result(cb, handler, "a new state, NoReply or Stop", result)
        elif kind is StopRequest:
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
    if is_exit_reason(reason):
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
    assert host is not None  # set by `spawn` before the task starts
    proc._runtime._live.pop(proc, None)
    host.procs.pop(proc, None)
    if notify_host:
        reason = proc._reason
        assert reason is not None
        try:
            host.child_exited(proc, reason)
        except Exception:  # pragma: no cover - hosts do not raise
            logger.exception("host of %s failed to handle its exit", proc._label)
    if proc._exited is not None:
        proc._exited.set()
