"""The actor loop: how a process runs — ``init``, the message loop, and the exit sequence.

Everything user code can raise is sorted the same way here (`_outcome.py`): a
`KeyboardInterrupt`/`SystemExit` anywhere (also inside exception groups) goes to the runtime,
which shuts the tree down in order and raises it plainly; `trio.Cancelled` alone or in groups
means the process is being stopped; anything else is a crash with that exception as the reason.
Nothing a callback raises leaves the process's task.

How a process ends (`finish`), in this order: ``terminate`` runs (shielded, bounded by the
shutdown budget; overrunning it makes the reason ``"killed"``), the record is released (names,
owned resources, waiting callers: the one being served gets the crash, queued ones get
`ServerNotRunningError`), the crash is logged, lifecycle events go out, and last the host is
told.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable
from inspect import CO_COROUTINE
from types import CoroutineType, FunctionType, MethodType
from typing import Any, Final

import trio

from ._exceptions import InitializationError, ServerNotRunningError
from ._mailbox import Caller, CastItem, Crash, GetState, Handover, Info, StopRequest
from ._outcome import crash_reason, find_fatal, is_cancellation
from ._process import NOT_KILLED, Process
from ._refs import GenServerRef
from ._results import (
    NO_CONTINUE,
    NO_REPLY,
    Continue,
    Crashed,
    ExitReason,
    IdleTimeout,
    NoReply,
    Reply,
    Stop,
    Terminated,
    check_idle_timeout,
    is_crash,
    is_killed,
)
from ._safe_format import safe_repr

logger: Final = logging.getLogger("noex_trio")

#: How often a busy loop yields to the scheduler even when its mailbox is never empty.
_YIELD_EVERY: Final = 64

#: Whether processes started from now on take inline calls (`_inline.py`); tests and
#: ``python -m bench --no-inline`` compare with it off.
INLINE_CALLS = True


class Callbacks:
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
        terminate = getattr(behaviour, "terminate", None)
        # The base class's do-nothing terminate is skipped: no budget scope for nothing.
        if getattr(terminate, "_noex_default", False):
            terminate = None
        self.terminate: Callable[..., Any] | None = terminate
        self.call_async = _is_async(self.handle_call)
        self.cast_async = _is_async(self.handle_cast)
        self.info_async = _is_async(self.handle_info)


def _is_async(callback: object) -> bool:
    """`inspect.iscoroutinefunction`, with a fast path for the usual plain method (the full
    check costs ~3 % of a spawn). A sync wrapper of an async function (an ordinary decorator)
    is not detected here; the loop awaits the coroutine such a wrapper returns."""
    if type(callback) is MethodType:
        func = callback.__func__
        if type(func) is FunctionType and "_is_coroutine_marker" not in func.__dict__:
            return bool(func.__code__.co_flags & CO_COROUTINE)
    return inspect.iscoroutinefunction(callback)


def check_behaviour(behaviour: Any) -> None:
    """Reject objects that cannot be a behaviour before anything starts (a class or an
    instance)."""
    missing = [
        name
        for name in ("init", "handle_call", "handle_cast")
        if not callable(getattr(behaviour, name, None))
    ]
    if missing:
        name = behaviour.__name__ if isinstance(behaviour, type) else type(behaviour).__name__
        raise TypeError(f"behaviour {name} is missing required callbacks: " + ", ".join(missing))


async def _resolve(value: Any) -> Any:
    """Await `value` as long as it is awaitable (a decorated async callback's coroutine)."""
    while inspect.isawaitable(value):
        value = await value
    return value


def _bad_result(cb: Callbacks, handler: str, expected: str, result: object) -> TypeError:
    return TypeError(f"{cb.name}.{handler} must return {expected}, got {safe_repr(result)}")


# --- init ---------------------------------------------------------------------------------------


@trio.lowlevel.disable_ki_protection  # user code runs here, without the library's protection
async def init(proc: Process, cb: Callbacks, args: tuple[Any, ...], init_timeout: float) -> Any:
    """Run ``init`` (bounded by `init_timeout`); return what it returned (the first state, a
    `Continue` or `Ignore`).

    Raises:
        InitializationError: ``init`` raised an error (as ``__cause__``) or timed out.
        BaseException: a cancellation (the start was cancelled, or the process stopped while
            starting) or a fatal `KeyboardInterrupt`/`SystemExit`, as raised.
    """
    init_scope = None
    try:
        state = cb.init(*args)
        if inspect.isawaitable(state):
            # Only an async init can overrun or be cancelled (a sync one never checkpoints),
            # so only it pays for a cancel scope (~10 % of a spawn).
            with trio.move_on_after(init_timeout) as init_scope:
                state = await _resolve(state)
        # If the starter was cancelled (or the host stopped the process) and init finished
        # without a checkpoint seeing it, the start must still fail: raise Cancelled now.
        await trio.lowlevel.checkpoint_if_cancelled()
    except BaseException as exc:
        if find_fatal(exc) is not None or is_cancellation(exc):
            raise
        reason = crash_reason(exc)
        raise InitializationError(proc.ref, f"init raised {safe_repr(reason)}") from reason
    if init_scope is not None and init_scope.cancelled_caught:
        raise InitializationError(proc.ref, f"init timed out after {init_timeout} s")
    return state


# --- the loop -----------------------------------------------------------------------------------


def _take_nowait(recv: trio.MemoryReceiveChannel[Any]) -> Any:
    """The next queued item or None. A function of its own, so that the `WouldBlock` is raised
    and caught outside the loop's frame: an exception passing through the loop would give it a
    frame object (and parking inside the ``except`` would keep the exception and its traceback)
    for as long as the process lives, about 700 bytes per idle process."""
    try:
        return recv.receive_nowait()
    except trio.WouldBlock:
        return None


@trio.lowlevel.disable_ki_protection  # user code runs here, without the library's protection
async def run(proc: Process, cb: Callbacks, state: Any) -> Ended:
    """Handle messages until the process stops; never raises.

    `state` is what ``init`` returned (a state or a `Continue`). Returns (exit reason, final
    state, fatal, last message): `fatal` is a `KeyboardInterrupt`/`SystemExit` that ended the
    loop, for the runtime; the last message (the item being handled) is for the crash report.
    After a crash the state is the one the crashing message found (OTP's ``terminate`` gets
    it).
    """
    item: Any = None
    try:
        recv = proc.recv
        handle_call = cb.handle_call
        handle_cast = cb.handle_cast
        call_async = cb.call_async
        cast_async = cb.cast_async
        budget = _YIELD_EVERY
        # What the last handler asked for: a continuation to run before the next message, or
        # an idle timeout for the next wait (both rare: the usual path only tests them).
        cont: Any = NO_CONTINUE
        idle: float | None = None
        if type(state) is Continue:
            state, cont = state.state, state.arg
        # This task, if the loop takes inline calls while it waits (`_inline.py`).
        loop = trio.lowlevel.current_task() if inline_offered(proc, cb) else None
        if loop is not None:
            proc.inline_call = handle_call
        while True:
            while cont is not NO_CONTINUE:
                item = _Continuation(cont)
                result = await _handle_continue(proc, cb, cont, state)
                if type(result) is Stop:
                    return result.reason, result.state, None, item
                state, cont, idle = _new_state(cb, "handle_continue", result)
            # Take what is queued without a scheduler round trip, but yield regularly.
            item = proc.front  # (see `_inline.hand_over`)
            if item is not None:
                proc.front = None
            elif budget and (item := _take_nowait(recv)) is not None:
                budget -= 1
            elif idle is not None:
                item = await _receive_within(recv, idle)
                budget = _YIELD_EVERY
            elif loop is None:
                item = await recv.receive()
                budget = _YIELD_EVERY
            else:
                # Parked with the state on the record: inline calls may run meanwhile.
                proc.state = state
                proc.parked = loop
                try:
                    item = await recv.receive()
                except BaseException as exc:
                    if proc.front is None:
                        raise
                    item = _Rethrow(exc)  # after the handed-over call, as the loop would
                finally:
                    proc.parked = None
                    state = proc.state
                budget = _YIELD_EVERY
                if proc.front is not None:  # a handed-over call comes first
                    item, proc.front = proc.front, item
            idle = None
            kind = type(item)
            if kind is Caller or kind is Handover:
                # `current`, `deferred`, `stop_reply` and the counts of the record: written by
                # this loop only (and by an inline call while the loop is parked).
                if kind is Caller:
                    proc.current = item
                    proc.calls += 1
                    result = handle_call(item.message, state)
                    if call_async:
                        result = await result
                else:  # an inline call's outcome (`_inline.py`; already counted)
                    result, error, item = item.result, item.error, item.caller
                    proc.current = item
                    if error is not None:
                        raise error
                rtype = type(result)
                if rtype is tuple and len(result) == 2:
                    proc.current = None
                    item.reply(result[0])
                    state = result[1]
                    continue
                if rtype is CoroutineType or (
                    rtype is not Reply
                    and rtype is not NoReply
                    and rtype is not Stop
                    and inspect.isawaitable(result)
                ):  # a decorated async handle_call, or another awaitable
                    result = await _resolve(result)
                    rtype = type(result)
                if rtype is tuple and len(result) == 2:
                    proc.current = None
                    item.reply(result[0])
                    state = result[1]
                elif rtype is Reply:
                    if result.continue_with is not NO_CONTINUE or result.idle_timeout is not None:
                        state, cont, idle = _options(cb, "handle_call", result)
                    else:
                        state = result.state
                    proc.current = None
                    item.reply(result.value)
                elif rtype is NoReply:
                    state, cont, idle = _new_state(cb, "handle_call", result)
                    proc.current = None
                    if proc.deferred is None:
                        proc.deferred = set()
                    item.defer(proc.deferred)
                elif rtype is Stop:
                    proc.current = None
                    if result.reply is not NO_REPLY:
                        proc.stop_reply = (item, result.reply)  # sent after terminate (OTP order)
                    else:
                        proc.current = item  # fails with the exit reason
                    return result.reason, result.state, None, item
                else:
                    raise _bad_call_result(cb, result)
            elif kind is CastItem or kind is Info:
                # handle_cast and handle_info return the same forms: a new state, NoReply, Stop.
                if kind is CastItem:
                    proc.casts += 1
                    result = handle_cast(item.message, state)
                    if cast_async:
                        result = await result
                else:
                    proc.infos += 1
                    result = await _handle_info(proc, cb, item.message, state)
                rtype = type(result)
                if rtype is CoroutineType:  # a decorated async handler
                    result = await _resolve(result)
                    rtype = type(result)
                state = result
                if rtype is NoReply or rtype is Continue or rtype is Reply:
                    state, cont, idle = _new_state(
                        cb, "handle_cast" if kind is CastItem else "handle_info", result
                    )
                elif rtype is Stop:
                    return result.reason, result.state, None, item
            elif kind is StopRequest:
                return item.reason, state, None, item
            elif kind is GetState:
                _answer_get_state(proc, item.caller, state)
            else:
                assert kind is Crash or kind is _Rethrow
                error = item.error
                if kind is _Rethrow:
                    item = None  # (what the loop had in hand when its receive raised)
                raise error
    except BaseException as exc:
        if isinstance(exc, Exception) and not isinstance(exc, ExceptionGroup):
            return exc, state, None, item  # the usual crash
        return _ended_by(proc, exc), state, find_fatal(exc), item


def _answer_get_state(proc: Process, caller: Caller[Any], state: Any) -> None:
    """``GenServer.get_state``: answer with the state, through ``format_status`` if the
    behaviour has one. What ``format_status`` raises goes to the asker, not the process (a
    `KeyboardInterrupt` also to the runtime)."""
    format_status = getattr(proc.behaviour, "format_status", None)
    if format_status is None:
        caller.reply(state)
        return
    ok, shown = _format_status(format_status, state)
    if not ok:
        fatal = find_fatal(shown)
        if fatal is None:
            caller.fail(crash_reason(shown))
        else:
            caller.fail(ServerNotRunningError(proc.ref, "shutdown"))  # (before it is cancelled)
            proc.kernel.escalate(fatal)
    elif inspect.iscoroutine(shown):
        shown.close()
        caller.fail(TypeError(f"{type(proc.behaviour).__name__}.format_status must be a plain def"))
    else:
        caller.reply(shown)


def _format_status(format_status: Callable[[Any], Any], state: Any) -> tuple[bool, Any]:
    """(True, what it returned) or (False, what it raised). A function of its own, so that the
    error's traceback holds this frame, not the caller it goes to (no reference cycle)."""
    try:
        return True, format_status(state)
    except BaseException as exc:
        return False, exc


def _ended_by(proc: Process, exc: BaseException) -> ExitReason:
    """The exit reason for a loop that `exc` (not a plain `Exception`) ended."""
    if find_fatal(exc) is not None:
        return "shutdown"
    if is_cancellation(exc):
        return _killed_reason(proc)
    return crash_reason(exc)


def _killed_reason(proc: Process) -> ExitReason:
    """The exit reason of a loop that was cancelled: the kill's, or ``"shutdown"``."""
    kill = proc.kill_reason
    return "shutdown" if kill is NOT_KILLED else kill


def _bad_call_result(cb: Callbacks, result: object) -> TypeError:
    hint = (
        " (from handle_call, continue with Reply(value, state, continue_with=arg)"
        " or NoReply(state, continue_with=arg))"
        if type(result) is Continue
        else ""
    )
    return _bad_result(cb, "handle_call", "(reply, state), Reply, NoReply or Stop" + hint, result)


#: What `run` returns: (exit reason, final state, fatal error, last message).
Ended = tuple[ExitReason, Any, BaseException | None, Any]


def inline_offered(proc: Process, cb: Callbacks) -> bool:
    """Whether `proc`'s loop lets callers run its ``handle_call`` inline while it waits: a
    GenServer with a plain-``def`` ``handle_call``, an unbounded mailbox and no tasks of its
    own (those run beside the loop; a bounded mailbox counts what it holds)."""
    return (
        INLINE_CALLS
        and not cb.call_async
        and proc.mailbox_size == math.inf
        and type(proc.ref) is GenServerRef
        and proc not in proc.kernel.task_nurseries
    )


class _Rethrow:
    """What the loop's receive raised, kept to raise after a handed-over inline call."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Continuation:
    """The "message" a continuation is, for the crash report."""

    __slots__ = ("arg",)

    def __init__(self, arg: object) -> None:
        self.arg = arg


def _new_state(cb: Callbacks, handler: str, result: Any) -> tuple[Any, Any, float | None]:
    """(state, continuation, idle timeout) from what a handler returned as its new state: a
    plain state, `NoReply` or `Continue` (a `Reply` is an error here; `Stop` is handled by the
    caller)."""
    rtype = type(result)
    if rtype is NoReply:
        if result.continue_with is NO_CONTINUE and result.idle_timeout is None:
            return result.state, NO_CONTINUE, None
        return _options(cb, handler, result)
    if rtype is Continue:
        return result.state, result.arg, None
    if rtype is Reply and handler != "handle_call":
        raise _bad_result(cb, handler, "a new state, NoReply, Continue or Stop", result)
    return result, NO_CONTINUE, None


def _options(
    cb: Callbacks, handler: str, result: Reply[Any, Any] | NoReply[Any]
) -> tuple[Any, Any, float | None]:
    idle = result.idle_timeout
    if idle is not None:
        if result.continue_with is not NO_CONTINUE:
            raise TypeError(
                f"{cb.name}.{handler} returned {safe_repr(result)}: give either continue_with "
                "or idle_timeout (the continuation's result may ask for an idle timeout)"
            )
        idle = check_idle_timeout(idle, f"{cb.name}.{handler}")
        if idle == math.inf:
            idle = None
    return result.state, result.continue_with, idle


async def _receive_within(recv: trio.MemoryReceiveChannel[Any], seconds: float) -> Any:
    """The next message, or an `IdleTimeout` notice if none arrives within `seconds`."""
    with trio.move_on_after(seconds):
        return await recv.receive()
    return Info(IdleTimeout(seconds))


async def _handle_continue(proc: Process, cb: Callbacks, arg: object, state: Any) -> Any:
    handle_continue = getattr(proc.behaviour, "handle_continue", None)
    if handle_continue is None:
        raise TypeError(
            f"{cb.name} asked for a continuation ({safe_repr(arg)}) but defines no handle_continue"
        )
    return await _resolve(handle_continue(arg, state))


async def _handle_info(proc: Process, cb: Callbacks, message: object, state: Any) -> Any:
    # A notice may be withdrawn after it was queued (a `Down` flushed by ``demonitor``).
    drop = getattr(message, "_noex_drop", None)
    if drop is not None and drop():
        return state
    if cb.handle_info is None:
        logger.warning(
            "%s got %s but defines no handle_info; dropped", proc.label, safe_repr(message)
        )
        return state
    result = cb.handle_info(message, state)
    if cb.info_async:
        result = await result
    return result


# --- the end ------------------------------------------------------------------------------------


def abandon(proc: Process, error: BaseException | None, reason: ExitReason = "shutdown") -> None:
    """Release a process whose init failed (or returned `Ignore`): no terminate, no lifecycle
    events."""
    if isinstance(error, Exception):
        reason = error
    proc.kernel.count_dead_letters(proc.release(reason, None))
    proc.forget(notify_host=False)


async def finish(
    proc: Process, cb: Callbacks, ended: Ended, *, forget: bool = True
) -> BaseException | None:
    """Run the exit sequence described in the module docstring; never raises. `ended` is
    what `run` returned; returns its fatal error (for the runtime). Without `forget`, the last
    step (`Process.forget`: the host is told) is left to the caller."""
    reason, state, fatal, last = ended
    proc.refuse_messages()
    proc.state = proc.inline_call = None  # (the record may outlive the process: hold nothing)
    crash_error = reason if isinstance(reason, BaseException) else None
    if is_killed(proc.kill_reason):
        reason = "killed"  # a brutal kill overtakes whatever else was ending the process
    if cb.terminate is not None and not is_killed(reason):
        reason = await _terminate(proc, cb, reason, state)
    kernel = proc.kernel
    kernel.count_dead_letters(proc.release(reason, crash_error))
    if is_crash(reason) and not is_killed(reason):
        kernel.crashes += 1
        crash_report(proc, reason, state, last)
        if kernel.handlers:
            kernel.emit(Crashed(proc.ref, reason))
    if kernel.handlers:  # (no event is built for nobody)
        kernel.emit(Terminated(proc.ref, reason))
    if forget:
        proc.forget()
    return fatal


def crash_report(proc: Process, reason: ExitReason, state: Any, last: Any) -> None:
    """Log an abnormal exit at ERROR on the ``noex_trio`` logger: who (label, supervisors),
    why (the traceback, or the reason), the last message and the state (through the
    behaviour's ``format_status``). The same facts are attributes of the log record
    (``noex_process``, ``noex_supervisors``, ``noex_last_message``, ``noex_state``).
    Nothing is built (``format_status`` not called) when nobody logs errors."""
    if not logger.isEnabledFor(logging.ERROR):
        return
    supervisors = supervisor_path(proc)
    message = describe_message(last)
    shown_state = format_state(proc, state)
    facts = {
        "noex_process": proc.label,
        "noex_supervisors": supervisors,
        "noex_last_message": message,
        "noex_state": shown_state,
    }
    head = "%s crashed" if isinstance(reason, BaseException) else "%s exited with reason %s"
    args: tuple[Any, ...] = (proc.label,)
    if not isinstance(reason, BaseException):
        args += (safe_repr(reason),)
    logger.error(
        head + " (supervisor: %s)\n  last message: %s\n  state: %s",
        *args,
        supervisors,
        message,
        shown_state,
        exc_info=reason if isinstance(reason, BaseException) else None,
        extra=facts,
    )


def supervisor_path(proc: Process) -> str:
    """The supervisors above `proc`, nearest first (``"workers#5 < app#2"``), or ``"none"``."""
    labels = []
    owner = getattr(proc.host, "_proc", None)  # a supervisor's process (the root has none)
    while owner is not None:
        labels.append(owner.label)
        owner = getattr(owner.host, "_proc", None)
    return " < ".join(labels) or "none"


def describe_message(item: object) -> str:
    """How the crash report shows the message being handled."""
    kind = type(item)
    if kind is Caller:
        return f"call {safe_repr(item.message)}"  # type: ignore[attr-defined]
    if kind is CastItem:
        return f"cast {safe_repr(item.message)}"  # type: ignore[attr-defined]
    if kind is Info:
        return f"info {safe_repr(item.message)}"  # type: ignore[attr-defined]
    if kind is _Continuation:
        return f"continue {safe_repr(item.arg)}"  # type: ignore[attr-defined]
    if kind is StopRequest:
        return f"stop {safe_repr(item.reason)}"  # type: ignore[attr-defined]
    if kind is Crash:
        return "testing.crash()"
    return "none"


def format_state(proc: Process, state: Any) -> str:
    """A bounded repr of `state`, through the behaviour's ``format_status(state)`` if it has
    one (to redact secrets or shorten big states, as OTP's ``format_status/1``)."""
    format_status = getattr(proc.behaviour, "format_status", None)
    if format_status is None:
        return safe_repr(state)
    try:
        shown = format_status(state)
    except BaseException as exc:  # user code: nothing it raises breaks the exit
        fatal = find_fatal(exc)
        if fatal is not None:
            proc.kernel.escalate(fatal)
        return f"<format_status raised {type(exc).__name__}>"
    if inspect.iscoroutine(shown):
        shown.close()
        return "<format_status must be a plain def, not async>"
    return safe_repr(shown)


async def _terminate(proc: Process, cb: Callbacks, reason: ExitReason, state: Any) -> ExitReason:
    """Run ``terminate`` within the shutdown budget; return the (possibly new) exit reason.

    Overrunning the budget (or a brutal kill meanwhile) kills it: the reason becomes
    ``"killed"``. An error in ``terminate`` becomes the reason (OTP does the same); a fatal
    `KeyboardInterrupt`/`SystemExit` goes to the runtime and the exit goes on.
    """
    assert cb.terminate is not None
    limit = proc.terminate_limit()
    with trio.CancelScope(shield=True) as scope:
        if limit != math.inf:
            scope.deadline = trio.current_time() + limit
        proc.terminate_scope = scope
        try:
            await _user_terminate(cb.terminate, reason, state)
        except BaseException as exc:
            fatal = find_fatal(exc)
            if fatal is not None:
                proc.kernel.escalate(fatal)
            elif not is_cancellation(exc):
                error = crash_reason(exc)
                logger.error(
                    "%s raised in terminate (exit reason was %s)",
                    proc.label,
                    safe_repr(reason),
                    exc_info=error,
                )
                reason = error
    proc.terminate_scope = None
    if scope.cancel_called:
        if is_killed(proc.kill_reason):
            logger.warning("%s: terminate cut short by a kill", proc.label)
        else:
            logger.warning(
                "%s: terminate exceeded its %s s shutdown budget; killed", proc.label, limit
            )
        return "killed"
    return reason


@trio.lowlevel.disable_ki_protection
async def _user_terminate(terminate: Callable[..., Any], reason: ExitReason, state: Any) -> None:
    # User code runs without the library's Ctrl-C protection (the exit sequence has it).
    await _resolve(terminate(reason, state))
