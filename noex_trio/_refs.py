"""Refs, and how code talks to a process through them: ``call``, ``cast``, ``stop``.

- ``call``: the caller puts a `Caller` in the mailbox with ``send_nowait`` and parks on it; the
  loop runs ``handle_call`` and wakes the caller with the reply. A caller that gives up simply
  stops listening — the server never notices (OTP 24 aliases). Timeouts come from the
  runtime's watchdog (`_call_timeouts.py`), not from a cancel scope per call.
- ``cast``: a `CastItem` put with ``send_nowait``; nothing comes back.
- ``stop``: a `StopRequest` queued behind earlier messages; `Process.kill` stops a process
  from outside (its host does that), overtaking the mailbox.

`GenServerRef` is the handle of a GenServer and carries these operations; `SupervisorRef`,
`EventBusRef` and `RegistryRef` are handles of library processes, used with their own facades.

A target is a ref, a name in the runtime's registry (the hot path: checked first), or a `Via`
(a key in another registry, resolved when used; `via_registry` finds its registry).
"""

from __future__ import annotations

import math
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar, final

import trio

from . import _checks as checks
from ._context import current_kernel, process_var
from ._exceptions import (
    CallTimeoutError,
    CallToSelfError,
    MailboxFullError,
    NotInProcessError,
    ServerNotRunningError,
)
from ._inline import caller_cancelled, run_inline
from ._mailbox import GET_STATE, Caller, CastItem, GetState, StopRequest, new_caller
from ._process import DEAD, RUNNING, Process, ProcessRef, statistics_of
from ._remote_ref import RemoteRef, call_remote, distribution_for, is_remote, stop_remote
from ._results import ExitReason
from ._safe_format import safe_repr
from ._statistics import EventBusStatistics, SupervisorStatistics
from ._via import Via

if TYPE_CHECKING:
    from ._registry import RegistryInstance

CallT = TypeVar("CallT", contravariant=True)
CastT = TypeVar("CastT", contravariant=True)
ReplyT = TypeVar("ReplyT", covariant=True)
P = ParamSpec("P")
R_co = TypeVar("R_co", covariant=True)


@final
class GenServerRef(ProcessRef, Generic[CallT, CastT, ReplyT]):
    """A handle to a GenServer process: hashable, compared by identity, valid after it ended.

    Obtained from ``GenServer.start`` or a registry lookup; never built by hand. Once the process
    is gone every operation but `stop` and `is_running` raises `ServerNotRunningError`.
    """

    __slots__ = ()

    if TYPE_CHECKING:
        # Typing only (see `CallTarget`): the facade's message takes this ref's types.
        def _noex_call(self, msg: CallT, timeout: float = 5.0) -> Coroutine[Any, Any, ReplyT]: ...
        def _noex_cast(self, msg: CastT) -> None: ...
        def _noex_send_after(self, msg: CastT, delay: float) -> None: ...

    def call(self, message: CallT, timeout: float = 5.0) -> Coroutine[Any, Any, ReplyT]:
        """Same as ``await GenServer.call(self, message, timeout)``.

        A plain method returning the coroutine of the module-level ``call`` (await it): that
        saves a coroutine frame on each of the call's two resumptions (~3 % of a round trip).
        """
        return call(self, message, timeout)

    def cast(self, message: CastT) -> None:
        """Same as ``GenServer.cast(self, message)``."""
        cast(self, message)

    async def stop(self, reason: ExitReason = "normal") -> None:
        """Same as ``GenServer.stop(self, reason)``."""
        await stop(self, reason)


@final
class SupervisorRef(ProcessRef):
    """A handle to a supervisor process, returned by `Supervisor.start`.

    Use it with the ``Supervisor`` functions (it has no ``call``/``cast``). Like every ref it is
    hashable, compared by identity and stays valid after the supervisor ended.
    ``await sup.stop()`` is ``await Supervisor.stop(sup)``.
    """

    __slots__ = ()

    async def stop(self, reason: ExitReason = "normal") -> None:
        """Same as ``Supervisor.stop(self, reason)``."""
        await stop(self, reason, system=True)

    def statistics(self) -> SupervisorStatistics:
        """A snapshot of the supervisor: its process's figures and its own (strategy,
        children, restarts); see `SupervisorStatistics`. Same as
        ``Supervisor.statistics(self)``."""
        stats = statistics_of(self._proc)
        assert isinstance(stats, SupervisorStatistics)
        return stats


@final
class EventBusRef(ProcessRef):
    """A handle to an EventBus process (``rt.event_bus`` or the result of `EventBus.start`).

    Use it with the `EventBus` functions (it has no ``call``/``cast``).
    """

    __slots__ = ()

    def statistics(self) -> EventBusStatistics:
        """A snapshot of the bus: its process's figures and its own (subscriptions, events
        published, delivered, failed); see `EventBusStatistics`. Same as
        ``EventBus.statistics(self)``."""
        stats = statistics_of(self._proc)
        assert isinstance(stats, EventBusStatistics)
        return stats


@final
class RegistryRef(ProcessRef):
    """A handle to a registry process, returned by ``Registry.start``.

    The process owns a `RegistryInstance` (``Registry.lookup_registry(ref)``) for as long as it
    runs; a ``Via(name, key)`` finds it by the process's name. ``await ref.stop()`` stops it
    (its registry is closed: every entry dropped, every later call refused).
    """

    __slots__ = ()

    async def stop(self, reason: ExitReason = "normal") -> None:
        """Same as ``Registry.stop(self, reason)``."""
        await stop(self, reason, system=True)


AnyRef = GenServerRef[Any, Any, Any]


# --- typing the facade ------------------------------------------------------------------------
# ``GenServer.call(target, msg)`` takes its parameters from the target: ``P`` is read from the
# target's ``_noex_call`` (typed by a `GenServerRef`, ``Any`` for a plain `ProcessRef`), never
# inferred from `msg`. So a wrong message is mypy's plain "Argument 2 ... has incompatible type"
# rather than "Cannot infer type argument", and no overload for untyped refs can swallow it.


class CallTarget(Protocol[P, R_co]):
    """A ref that ``GenServer.call`` accepts: ``P`` its call parameters, ``R_co`` its reply."""

    def _noex_call(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R_co]: ...


class CastTarget(Protocol[P]):
    """A ref that ``GenServer.cast`` accepts: ``P`` its cast parameters."""

    def _noex_cast(self, *args: P.args, **kwargs: P.kwargs) -> None: ...


class SendAfterTarget(Protocol[P]):
    """A ref that ``GenServer.send_after`` accepts: ``P`` its parameters (message, delay)."""

    def _noex_send_after(self, *args: P.args, **kwargs: P.kwargs) -> None: ...


# --- client side ------------------------------------------------------------------------------


def resolve(target: object, *, system: bool = False) -> Process:
    """The record of a ref, a registered name or a `Via` (live or dead).

    Raises:
        ServerNotRunningError: an unknown name, or a `Via` whose key (or registry process) is
            not there (reason ``"noproc"``).
        TypeError: not a ref, name or `Via`; or, unless `system`, a ref of a library process.
    """
    if type(target) is str and target:  # the hot path: a name in the runtime's registry
        found = current_kernel().registry._noex_whereis(target)
    elif isinstance(target, ProcessRef) and type(target) is not RemoteRef:
        found = target
    elif isinstance(target, Via):
        found = via_whereis(target)
    elif is_remote(target):
        raise TypeError(
            f"{safe_repr(target)} is on another node: GenServer.call, cast, stop, send_after, "
            "exit, monitor, link and unlink reach it, this function does not"
        )
    elif isinstance(target, str):
        if not target:
            raise checks.value_error("target", "a ref or a non-empty registered name", target)
        found = current_kernel().registry._noex_whereis(str.__str__(target))
    else:
        raise checks.type_error("target", "a GenServerRef or a registered name", target)
    if found is None:
        raise ServerNotRunningError(target)
    if not system and type(found) is not GenServerRef:
        facade = "Registry.*" if type(found) is RegistryRef else "Supervisor.*, EventBus.*"
        raise TypeError(
            f"{safe_repr(found)} is not a GenServer; use the functions of its own facade ({facade})"
        )
    return found._proc


def whereis(target: str | Via) -> ProcessRef | None:
    """The process a name or a `Via` stands for now, or None (``GenServer.is_running``)."""
    if isinstance(target, Via):
        return via_whereis(target)
    return current_kernel().registry.whereis(target)


def via_whereis(via: Via) -> ProcessRef | None:
    """The process under the key of `via`, or None (free key, registry gone or closed)."""
    registry = via_registry(via)
    return None if registry is None else registry._noex_via_whereis(via.key)


def via_registry(via: Via) -> RegistryInstance | None:
    """The registry of `via`: the `RegistryInstance` it holds, or that of the registry process
    it names (None if that name is free or its process has exited).

    Raises:
        TypeError: the name is held by a process that is not a registry process, or by one
            whose registry has duplicate keys.
    """
    registry = via.registry
    if not isinstance(registry, str):
        return registry  # (checked when the Via was made: a RegistryInstance, unique keys)
    found = current_kernel().registry._noex_whereis(registry)
    if found is None:
        return None
    instance = registry_of(found._proc, registry, "the registry of a Via")
    if instance is not None and instance.keys != "unique":
        raise TypeError(
            f"Via needs a registry with unique keys, but registry {registry!r} has duplicate "
            "keys (a key there names no single process)"
        )
    return instance


def registry_of(proc: Process, target: object, what: str) -> RegistryInstance | None:
    """The registry owned by the registry process `proc` (None once it has exited).

    Raises:
        TypeError: `proc` is not a registry process (`target` is how it was named).
    """
    if type(proc.ref) is not RegistryRef:
        raise TypeError(
            f"expected {what} to be a RegistryRef or the name of a registry process, got "
            f"{safe_repr(target)} ({safe_repr(proc.ref)})"
        )
    if proc.status == DEAD:
        return None
    registry: RegistryInstance = proc.behaviour.registry
    return registry


async def call(
    target: object,
    message: object,
    timeout: float = 5.0,  # noqa: ASYNC109 - OTP's call timeout, enforced by the watchdog
    *,
    system: bool = False,
) -> Any:
    """Send a call and wait for its reply; see ``GenServer.call`` for the rules."""
    if type(target) is GenServerRef:
        proc: Process = target._proc  # the common case, without a call to resolve()
    elif is_remote(target):
        return await call_remote(target, message, timeout)  # type: ignore[arg-type]
    else:
        proc = resolve(target, system=system)
    if timeout != 5.0:
        timeout = check_timeout(timeout)
    if proc.status > RUNNING:
        await trio.lowlevel.checkpoint()
        raise proc.not_running(target)
    if process_var.get() is proc and in_own_loop(proc):
        await trio.lowlevel.checkpoint()
        raise CallToSelfError(target)
    caller: Caller[Any] = new_caller(message, target)
    loop = proc.parked
    if loop is not None and loop.custom_sleep_data is proc.recv and not caller_cancelled():
        # The process is idle: run its handle_call here (`_inline.py`).
        if proc.kernel.call_observers:
            caller._since = trio.current_time()
        if run_inline(proc, loop, caller):  # answered
            if loop.custom_sleep_data is not proc.recv and proc.status == RUNNING:
                # The handler sent its own process a message: the loop takes it before this
                # caller resumes, as it would right after answering a queued call.
                await trio.lowlevel.cancel_shielded_checkpoint()
            await trio.lowlevel.checkpoint()
            if proc.kernel.call_observers:
                report_call(proc, caller)
            if caller._error is not None:
                caller.raise_error()
            return caller._value
    else:
        try:
            proc.send.send_nowait(caller)
        except trio.WouldBlock:
            return await _call_bounded(proc, caller, target, timeout)
    if (timeout == math.inf and _note_start(caller)) or proc.kernel.watchdog.watch(caller, timeout):
        # Caller.wait inlined: one coroutine frame less to go through at each resumption.
        # (Nothing can have answered yet: the server only runs once this task parks.)
        caller._task = trio.lowlevel.current_task()
        await trio.lowlevel.wait_task_rescheduled(caller.abort)
        if proc.kernel.call_observers:  # (an empty dict unless an observer times calls)
            report_call(proc, caller)
        if caller._error is not None:
            caller.raise_error()
        return caller._value
    return await _call_with_scope(proc, caller, target, timeout)


async def _wait_observed(proc: Process, caller: Caller[Any]) -> Any:
    """`Caller.wait`, reporting an answered call to the call observers, if any."""
    if not proc.kernel.call_observers:
        return await caller.wait()
    try:
        value = await caller.wait()
    except trio.Cancelled:
        raise  # the caller gave up: not an answered call
    except BaseException:
        report_call(proc, caller)
        raise
    report_call(proc, caller)
    return value


def report_call(proc: Process, caller: Caller[Any]) -> None:
    """Tell the call observers (``Kernel.call_observers``) how long an answered call took,
    from being made to its reply or error."""
    seconds = trio.current_time() - caller._since
    for observer in list(proc.kernel.call_observers.values()):
        observer(proc, seconds)


def _note_start(caller: Caller[Any]) -> bool:
    """A call without a timeout: note when it was made, for observers (the watchdog does it
    for the others). True."""
    caller._since = trio.current_time()
    return True


async def _call_with_scope(
    proc: Process,
    caller: Caller[Any],
    target: object,
    timeout: float,  # noqa: ASYNC109 - see call()
) -> Any:
    """Wait for the reply of a call the watchdog cannot watch (too many timeout values)."""
    caller._since = now = trio.current_time()
    with trio.CancelScope(deadline=now + timeout) as scope:
        return await _wait_observed(proc, caller)
    assert scope.cancelled_caught
    raise CallTimeoutError(target, timeout)


async def _call_bounded(
    proc: Process,
    caller: Caller[Any],
    target: object,
    timeout: float,  # noqa: ASYNC109 - see call()
    item: object = None,
) -> Any:
    """A call into a full bounded mailbox: wait for room and the reply within one deadline.
    `item` is what goes into the mailbox (the caller itself unless given)."""
    caller._since = now = trio.current_time()
    with trio.CancelScope(deadline=now + timeout) as scope:
        await proc.send.send(caller if item is None else item)
        return await _wait_observed(proc, caller)
    assert scope.cancelled_caught
    raise CallTimeoutError(target, timeout)


async def get_state(target: object, timeout: float = 5.0) -> Any:  # noqa: ASYNC109 - see call()
    """The state of a process, as its loop answers a `GetState` in order with its other
    messages; see ``GenServer.get_state``."""
    try:
        proc = resolve(target, system=True)
        if timeout != 5.0:
            timeout = check_timeout(timeout)
        if proc.status > RUNNING:
            raise proc.not_running(target)
        if process_var.get() is proc and in_own_loop(proc):
            raise CallToSelfError(target, "get_state")
    except Exception:
        await trio.lowlevel.checkpoint()
        raise
    caller: Caller[Any] = new_caller(GET_STATE, target)
    request = GetState(caller)
    try:
        proc.send.send_nowait(request)
    except trio.WouldBlock:
        return await _call_bounded(proc, caller, target, timeout, request)
    if (timeout == math.inf and _note_start(caller)) or proc.kernel.watchdog.watch(caller, timeout):
        return await caller.wait()
    return await _call_with_scope(proc, caller, target, timeout)


def cast(target: object, message: object, *, system: bool = False) -> None:
    """Queue a cast without blocking; see ``GenServer.cast``."""
    if type(target) is GenServerRef:
        proc: Process = target._proc  # the common case, without a call to resolve()
    elif is_remote(target):
        distribution_for(target).cast(target, message)  # type: ignore[arg-type]  # (checked)
        return
    else:
        proc = resolve(target, system=system)
    if proc.status > RUNNING:
        raise proc.not_running(target)
    try:
        proc.send.send_nowait(CastItem(message))
    except trio.WouldBlock:
        raise MailboxFullError(target, proc.mailbox_size) from None


async def stop(target: object, reason: ExitReason = "normal", *, system: bool = False) -> None:
    """Queue a stop request behind earlier messages and wait until the process is gone."""
    if is_remote(target):
        await stop_remote(target, reason)  # type: ignore[arg-type]  # (checked)
        return
    try:
        proc = resolve(target, system=system)
    except ServerNotRunningError:
        await trio.lowlevel.checkpoint()
        return  # an unknown name: nothing to stop
    if proc.status == DEAD:
        await trio.lowlevel.checkpoint()
        return
    if process_var.get() is proc and in_own_loop(proc):
        await trio.lowlevel.checkpoint()
        raise CallToSelfError(target, "stop")
    if proc.status <= RUNNING:
        request = StopRequest(reason)
        try:
            proc.send.send_nowait(request)
        except trio.WouldBlock:
            # A full bounded mailbox: wait for room, so the stop still comes after the backlog.
            # Cancelled here, nothing was queued and the process runs on.
            await proc.send.send(request)
        proc.refuse_messages()  # from now on calls and casts are refused
    await proc.wait_exited()


async def shutdown(proc: Process, reason: ExitReason, budget: float | str | None = None) -> object:
    """Stop a process from outside and wait until it is gone; returns its exit reason."""
    proc.kill(reason, budget)
    return await proc.wait_exited()


def in_own_loop(proc: Process, task: trio.lowlevel.Task | None = None) -> bool:
    """True if the calling task (or `task`), which runs in `proc`'s context, is `proc`'s loop,
    or a task that one of its handlers started: a call from there could only deadlock. False
    for the tasks of its own nursery (``owns_tasks``), which run beside the loop, and for tasks
    elsewhere."""
    nursery = proc.kernel.task_nurseries.get(proc)
    if nursery is None:
        return True
    loop_task = nursery.parent_task
    if task is None:
        task = trio.lowlevel.current_task()
    while task is not None and task is not loop_task:
        parent = task.parent_nursery
        if parent is nursery:
            return False
        task = None if parent is None else parent.parent_task
    return task is loop_task


def check_timeout(timeout: object, what: str = "timeout") -> float:
    """Accept a positive number of seconds or math.inf."""
    if type(timeout) is float and timeout > 0:
        return timeout  # the common case
    return checks.seconds(timeout, what)


def current_caller() -> Caller[Any]:
    """The caller of the ``handle_call`` now running (for deferred replies)."""
    proc = process_var.get()
    if proc is None or proc.current is None or not in_own_loop(proc):
        raise NotInProcessError("GenServer.caller()", "handle_call")
    return proc.current
