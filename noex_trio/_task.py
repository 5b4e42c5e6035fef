"""Supervised tasks: any async function as a process (Elixir's ``Task``, triotp's function
children).

A task is a real process whose only work is ``await fn(*args)``: it has a ref, appears in
supervisor trees, can be named, monitored, linked and stopped like any GenServer. Its behaviour
(`_TaskServer`) owns one Trio task (``owns_tasks``) that runs the function beside an idle
message loop, so the loop stays free to take a stop at once:

- the function returns: the process exits with ``"normal"`` (the value is kept for
  `Task.result`);
- it raises: the process crashes with that very exception as the exit reason (not wrapped);
- ``KeyboardInterrupt``/``SystemExit`` go to the runtime, as from any callback;
- the process is stopped from outside (``GenServer.stop``, ``GenServer.exit``, its supervisor):
  the function is cancelled (it sees `trio.Cancelled`, its ``finally`` blocks run) and the
  process exits with that reason.

Guide: ``docs/guides/supervised-tasks.md``.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, Generic, Never, TypeVar, TypeVarTuple, final

import trio

from . import _checks as checks
from ._child_spec import ChildSpec, Restart, Shutdown
from ._context import current_kernel, current_process, process_var
from ._dynamic_supervisor import DynamicSupervisor
from ._exceptions import CallTimeoutError, NotInProcessError, ServerNotRunningError
from ._gen_server import GenServer
from ._handles import NoPublicConstructor
from ._links import link_procs, start_link_owner, unlink
from ._outcome import crash_reason, find_fatal, is_cancellation
from ._process import DEAD, Process, ProcessRef, process_of
from ._refs import GenServerRef, SupervisorRef, cast, check_timeout, shutdown
from ._results import ExitReason, NoReply, Stop
from ._safe_format import describe, safe_repr, safe_str
from ._spawn import start_process

logger: Final = logging.getLogger("noex_trio")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
Ts = TypeVarTuple("Ts")

#: The ref of a task process: it takes no calls and no casts (``Never``), but works with
#: ``GenServer.stop``, ``GenServer.exit``, ``GenServer.monitor``, ``GenServer.link``.
TaskRef = GenServerRef[Never, Never, Never]


class TaskTimeoutError(CallTimeoutError):
    """`Task.result` waited `timeout` seconds and the task had not finished.

    A `CallTimeoutError` (and so a `trio.TooSlowError`): ``except trio.TooSlowError`` catches
    both. The task keeps running; ``result`` may be awaited again.

    Attributes:
        target: the task's ref.
        timeout: the seconds waited.
    """

    def _format(self) -> str:
        return f"task {describe(self.target)} did not finish within {safe_str(self.timeout)} s"


class _Outcome:
    """What the function of one task ended with; written once, by the task's runner."""

    __slots__ = ("error", "returned", "value")

    def __init__(self) -> None:
        self.returned = False
        self.value: Any = None
        self.error: BaseException | None = None


#: The runner's message to its process: the function is over, exit.
_DONE: Final = object()


class _TaskServer(GenServer[None, Never, Never, Never]):
    """The behaviour of a task process: an idle loop beside one task running the function."""

    owns_tasks = True
    #: How statistics show it (`ProcessStatistics.kind` and ``.behaviour``).
    _noex_kind: Final = "task"
    _noex_name: Final = "Task"

    def __init__(self, awaitable: Awaitable[Any], outcome: _Outcome) -> None:
        self._awaitable: Awaitable[Any] | None = awaitable
        self._outcome = outcome

    def init(self) -> None:
        awaitable, self._awaitable = self._awaitable, None
        assert awaitable is not None  # a behaviour object is started once
        GenServer.nursery().start_soon(_run, awaitable, self._outcome, GenServer.self())

    def handle_cast(self, msg: object, state: None) -> Stop[None] | None:
        if msg is _DONE:
            error = self._outcome.error
            return Stop("normal" if error is None else error, None)
        logger.warning(
            "%s got cast %s but is a task (it takes no messages); dropped",
            describe(GenServer.self()),
            safe_repr(msg),
        )
        return None

    def handle_call(self, msg: object, state: None) -> NoReply[None]:
        # A call would wait forever (OTP: it times out); fail it at once, leave the task be.
        GenServer.caller().fail(
            TypeError(
                f"{describe(GenServer.self())} is a task: it takes no calls (got "
                f"{safe_repr(msg)}); await Task.result() or use a GenServer"
            )
        )
        return NoReply(None)


async def _run(awaitable: Awaitable[Any], outcome: _Outcome, ref: TaskRef) -> None:
    """The task beside the loop: await the function, keep its outcome, tell the loop."""
    ok, result = await _settle(awaitable)
    del awaitable
    if ok:
        outcome.value = result
        outcome.returned = True
    else:
        outcome.error = result
    del result, outcome
    with contextlib.suppress(ServerNotRunningError):  # a stop is under way: it exits with
        cast(ref, _DONE)  # that stop's reason


async def _settle(awaitable: Awaitable[Any]) -> tuple[bool, Any]:
    """(True, value) or (False, error); cancellations and fatal errors propagate.

    A function of its own, so the error's traceback holds only this frame (whose locals, once
    it is done, are the awaitable), not the runner's outcome: no reference cycle.
    """
    try:
        return True, await awaitable
    except BaseException as exc:
        if is_cancellation(exc) or find_fatal(exc) is not None:
            raise
        return False, crash_reason(exc)


# --- calling the function ---------------------------------------------------------------------


def _check_fn(fn: object) -> None:
    if inspect.iscoroutine(fn):
        fn.close()  # (it will never run: no "never awaited" warning)
        raise TypeError(
            f"expected fn to be an async function, got the coroutine {safe_repr(fn)}: pass the "
            "function and its arguments, Task.start(fn, *args), not fn(*args)"
        )
    if not callable(fn):
        raise checks.type_error("fn", "an async function", fn)


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> Awaitable[Any]:
    """``fn(*args)``, which must be awaitable (what ``async def`` functions return).

    Raises:
        TypeError: `fn` returned something else: a sync function would block every process of
            the runtime while it runs; run it in a thread (``trio.to_thread.run_sync``) inside
            an async function instead.
        Exception: whatever calling `fn` raised (wrong arguments, ...).
    """
    awaitable = fn(*args)
    if inspect.isawaitable(awaitable):
        return awaitable
    if inspect.isasyncgen(awaitable):  # (never started: dropping it finalizes nothing)
        raise TypeError(
            f"expected fn to be an async function, got async generator function "
            f"{safe_repr(fn)}; iterate it inside an async function"
        )
    raise TypeError(
        f"expected fn to be an async function, got {safe_repr(fn)}, which returned "
        f"{safe_repr(awaitable)}; a sync function would block every process: wrap it in an "
        "async function that calls trio.to_thread.run_sync"
    )


def _close(awaitable: Awaitable[Any]) -> None:
    """A coroutine that will never run: close it (no 'never awaited' warning)."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()


def _child_id(fn: object) -> str:
    """The function's name (the default child id): ``__name__``, through a partial."""
    inner = getattr(fn, "func", fn)  # functools.partial
    name = getattr(inner, "__name__", None)
    if not isinstance(name, str) or not name:
        name = type(fn).__name__
    return name


def _label(fn: object) -> str:
    return f"Task({_child_id(fn)})"


async def _start(
    fn: Callable[..., Any], args: tuple[Any, ...], outcome: _Outcome, name: str | None
) -> TaskRef:
    """Start a task process running ``fn(*args)`` into the current host."""
    awaitable = _call(fn, args)
    try:
        ref = await start_process(
            _TaskServer(awaitable, outcome),
            (),
            name=name,
            init_timeout=5.0,
            mailbox_size=math.inf,
            trap_exit=False,
            label=_label(fn),
        )
    except BaseException:
        _close(awaitable)
        raise
    assert ref is not None  # init never returns Ignore
    return ref  # type: ignore[return-value]


# --- the handle -------------------------------------------------------------------------------


@final
class Task(Generic[T_co], metaclass=NoPublicConstructor):
    """A task: an async function run as a process, whose result can be awaited.

    ``task = await Task.start(fetch, url)`` runs ``await fetch(url)`` in a new process;
    ``await task.result()`` returns what it returned or raises what it raised. ``Task`` also
    builds child specs for supervisors (``Task.child_spec``), Elixir's ``Task``::

        task = await Task.start(fetch, "https://example.org")
        body = await task.result(timeout=10.0)

    Handles are made by `Task.start`, never by hand. ``task.ref`` is the process: monitor it,
    link it, stop it with ``GenServer.stop`` like any process.
    """

    __slots__ = ("_outcome", "_owner", "ref")

    _noex_made_by = "use Task.start(fn, *args)"

    def __init__(self, ref: TaskRef, outcome: _Outcome, owner: Process | None) -> None:
        #: The task's process (a GenServerRef that takes no calls or casts).
        self.ref: TaskRef = ref
        self._outcome = outcome
        self._owner = owner  # the process linked to the task (link=True), for cancel()

    def __repr__(self) -> str:
        return f"<Task {self.ref._label}>"

    @staticmethod
    async def start(
        fn: Callable[[*Ts], Awaitable[T]],
        *args: *Ts,
        supervisor: SupervisorRef | str | None = None,
        link: bool = False,
        name: str | None = None,
    ) -> Task[T]:
        """Run ``await fn(*args)`` in a new process; return its handle at once.

        Elixir's ``Task.async_nolink`` (and, with ``link=True``, ``Task.async``). The task
        starts running right away; `result` waits for it.

        Args:
            fn: an async function (``async def``, or any callable returning an awaitable).
            *args: its arguments (checked by mypy against `fn`'s parameters).
            supervisor: None (the task is a process of the runtime's root, stopped when the
                runtime closes), or a task supervisor (``TaskSupervisor.start``; any
                `DynamicSupervisor`, by ref or name) whose temporary child it becomes (Elixir's
                ``Task.Supervisor.async_nolink``): it is stopped with the supervisor, and its
                ``max_children`` applies.
            link: link the task to the calling process (which must be one): if either exits
                abnormally, the other does too (unless it traps exits). Off by default, unlike
                Elixir's ``Task.async``: the failure reaches the caller through `result`
                instead of killing it. ``cancel`` removes the link before stopping the task.
            name: register the task's process under this name (freed when it exits).

        Returns:
            The handle: ``await task.result()``, ``await task.cancel()``, ``task.ref``.

        Raises:
            TypeError: `fn` is not callable, or not async (it returned something that is not
                awaitable: it already ran, in the caller); or calling it raised TypeError.
            NotInProcessError: ``link=True`` outside a process.
            NoRuntimeError: outside ``async with open_runtime()``.
            AlreadyRegisteredError: `name` is taken (the function never runs).
            MaxChildrenError: the supervisor already has ``max_children`` children.
            ServerNotRunningError: the supervisor is not running.
            Exception: whatever calling `fn` raised before returning its awaitable.

        If ``start`` is cancelled, the task is cancelled too (``fn`` sees `trio.Cancelled` at
        its first checkpoint), except under a `supervisor` that already got the request: there
        the task runs on, as the supervisor's child.
        """
        current_kernel()  # NoRuntimeError before `fn` is called
        _check_fn(fn)
        if link is not False:
            link = checks.boolean(link, "link")
        if supervisor is not None and not isinstance(supervisor, SupervisorRef | str):
            raise checks.type_error(
                "supervisor", "a task supervisor (its SupervisorRef or name) or None", supervisor
            )
        if name is not None:
            checks.name(name, "name")
        owner = None
        if link:
            if current_process() is None:
                raise NotInProcessError(
                    "Task.start(link=True)", hint=" (the task is linked to the calling process)"
                )
            owner = start_link_owner()
        outcome = _Outcome()
        if supervisor is None:
            ref = await _start(fn, args, outcome, name)
        else:

            async def start_task() -> TaskRef:
                return await _start(fn, args, outcome, name)

            spec = ChildSpec(_child_id(fn), start_task, restart="temporary")
            ref = await DynamicSupervisor.start_child(supervisor, spec)
        if owner is not None:
            link_procs(owner, process_of(ref))
        task: Task[T] = Task[T]._create(ref, outcome, owner)
        return task

    def result(self, timeout: float = 5.0) -> Coroutine[Any, Any, T_co]:
        """Wait for the task to finish; return what the function returned, or raise what it
        raised (the same exception object).

        Await it (``await task.result()``). The outcome is kept: awaiting ``result`` again, or
        after the task finished, gives the same outcome.

        Args:
            timeout: seconds to wait (``math.inf``: no limit).

        Raises:
            TaskTimeoutError: the task had not finished within `timeout` (a
                `CallTimeoutError`, a `trio.TooSlowError`); it keeps running.
            ServerNotRunningError: the task was stopped before its function finished
                (``cancel``, ``GenServer.stop``, ``GenServer.exit``, its supervisor, the
                runtime closing); ``.reason`` is its exit reason.
            Exception: what the function raised.

        Cancelling ``result`` leaves the task running.
        """
        # A plain method returning the coroutine: the error's traceback then holds no frame
        # that holds this handle (which holds the error): no reference cycle.
        return _result(process_of(self.ref), self._outcome, timeout)

    async def cancel(self) -> T_co | None:
        """Stop the task (Elixir's ``Task.shutdown``); return its value if it had finished.

        The function is cancelled (it sees `trio.Cancelled`); the process exits with
        ``"shutdown"``. A link made by ``Task.start(link=True)`` is removed first, so the
        caller does not go down with it. Returns what the function returned if it returned
        (also before ``cancel`` was called), else None — use `result` to tell a failure or a
        None result apart. Idempotent.

        If ``cancel`` is cancelled, the task still stops.
        """
        proc = process_of(self.ref)
        if self._owner is not None:
            _unlink(self._owner, self.ref)
        if proc.status != DEAD:
            await shutdown(proc, "shutdown")
        else:
            await trio.lowlevel.checkpoint()
        outcome = self._outcome
        return outcome.value if outcome.returned else None

    @staticmethod
    def child_spec(
        fn: Callable[[*Ts], Awaitable[object]],
        *args: *Ts,
        id: str | None = None,
        restart: Restart = "temporary",
        shutdown: Shutdown = 5.0,
        name: str | None = None,
        significant: bool = False,
    ) -> ChildSpec:
        """A `ChildSpec` whose child is a task running ``await fn(*args)`` (Elixir's
        ``Task.child_spec``); each (re)start calls `fn` again.

        The child exits ``"normal"`` when the function returns and crashes with its exception
        when it raises, so the restart types apply as to any child: ``"temporary"`` (the
        default, as in Elixir: never restarted), ``"transient"`` (restarted only after a
        crash: retried until it succeeds), ``"permanent"`` (always: a loop that must run).
        When the supervisor stops it, the function is cancelled.

        Args:
            fn: an async function. As the ``child_template`` of a ``simple_one_for_one``
                supervisor, the ``start_child`` arguments are appended to `args`.
            *args: its arguments.
            id: the child id; defaults to the function's ``__name__``.
            restart: ``"temporary"``, ``"transient"`` or ``"permanent"``.
            shutdown: the child's shutdown budget (see `ChildSpec`); the function is cancelled
                at once either way (a task has no ``terminate``), ``"brutal_kill"`` makes its
                exit reason ``"killed"``.
            name: register the task's process under this name (it moves with restarts).
            significant: see `ChildSpec`.

        Raises:
            TypeError: `fn` is not callable.
            InvalidChildSpecError: a bad id, restart, shutdown or significant.

        A sync `fn` is found when the child starts (`TypeError` from the supervisor's start).
        """
        _check_fn(fn)
        if name is not None:
            checks.name(name, "name")

        async def start_task(*extra: Any) -> ProcessRef:
            return await _start(fn, (*args, *extra), _Outcome(), name)

        if id is None:
            id = _child_id(fn)
        return ChildSpec(
            id, start_task, restart=restart, shutdown=shutdown, significant=significant
        )


class TaskSupervisor:
    """A supervisor of tasks started on demand (Elixir's ``Task.Supervisor``).

    A task supervisor is a `DynamicSupervisor` (every ``DynamicSupervisor`` function works on
    it); these functions start functions under it::

        sup = await TaskSupervisor.start(name="jobs", max_children=100)
        ref = await TaskSupervisor.start_child(sup, send_email, "alice")   # fire and forget
        task = await Task.start(render, page, supervisor=sup)              # awaited later
        html = await task.result()

    Put it in your supervision tree with ``TaskSupervisor.child_spec(name="jobs")``; stopping
    it cancels every task it runs.
    """

    @staticmethod
    async def start(
        *,
        name: str | None = None,
        max_children: float = math.inf,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
    ) -> SupervisorRef:
        """Start a task supervisor, with no children (``DynamicSupervisor.start``).

        Args:
            name: register it under this name.
            max_children: how many tasks it may run at once (``math.inf``: no limit); one more
                raises `MaxChildrenError`.
            max_restarts: restarts of its (transient or permanent) tasks tolerated within
                `max_seconds`; one more and it gives up (`MaxRestartsExceededError`).
            max_seconds: the length of that window, in seconds.

        Raises:
            InvalidChildSpecError: a bad option (nothing was started).
            AlreadyRegisteredError: `name` is taken.
        """
        return await DynamicSupervisor.start(
            max_children=max_children,
            max_restarts=max_restarts,
            max_seconds=max_seconds,
            name=name,
        )

    @staticmethod
    def child_spec(
        *,
        id: str | None = None,
        name: str | None = None,
        max_children: float = math.inf,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        restart: Restart = "permanent",
        shutdown: Shutdown = math.inf,
    ) -> ChildSpec:
        """A `ChildSpec` that starts a task supervisor under another supervisor.

        `id` defaults to `name`, else ``"TaskSupervisor"``; `shutdown` to ``math.inf`` (a
        supervisor child). A restarted task supervisor starts empty.
        """
        return DynamicSupervisor.child_spec(
            id=id if id is not None else name if name is not None else "TaskSupervisor",
            name=name,
            max_children=max_children,
            max_restarts=max_restarts,
            max_seconds=max_seconds,
            restart=restart,
            shutdown=shutdown,
        )

    @staticmethod
    async def start_child(
        sup: SupervisorRef | str,
        fn: Callable[[*Ts], Awaitable[object]],
        *args: *Ts,
        restart: Restart = "temporary",
        shutdown: Shutdown = 5.0,
        name: str | None = None,
    ) -> TaskRef:
        """Run ``await fn(*args)`` as a child of `sup`; return its ref (fire and forget).

        ``Task.child_spec(fn, *args, restart=..., shutdown=..., name=...)`` started with
        ``DynamicSupervisor.start_child``. Nobody awaits its result: a failure is logged (and
        restarted if `restart` says so). For a result, use ``Task.start(fn, *args,
        supervisor=sup)``.

        Raises:
            TypeError: `fn` is not callable, or not async (from the supervisor, which called
                it), or `sup` is not a task supervisor.
            MaxChildrenError: `sup` already has ``max_children`` children.
            ServerNotRunningError: `sup` is not running.
            InvalidChildSpecError: a bad `restart` or `shutdown`.

        If ``start_child`` is cancelled after the request was queued, the task still starts.
        """
        spec = Task.child_spec(fn, *args, restart=restart, shutdown=shutdown, name=name)
        ref = await DynamicSupervisor.start_child(sup, spec)
        return ref  # type: ignore[return-value]

    @staticmethod
    def children(sup: SupervisorRef | str) -> list[ProcessRef]:
        """The refs of the tasks `sup` runs, in start order (Elixir's
        ``Task.Supervisor.children``).

        Raises:
            TypeError: `sup` is not a task supervisor.
            ServerNotRunningError: `sup` is not running.
        """
        return [child.ref for child in DynamicSupervisor.which_children(sup)]

    @staticmethod
    async def terminate_child(sup: SupervisorRef | str, ref: ProcessRef) -> None:
        """Stop the task `ref` (its function is cancelled) and remove it.

        Raises:
            ChildNotFoundError: `ref` is not (or no longer) a child of `sup`.
            TypeError: `sup` is not a task supervisor.
            ServerNotRunningError: `sup` is not running.
        """
        await DynamicSupervisor.terminate_child(sup, ref)

    @staticmethod
    async def stop(sup: SupervisorRef | str, reason: ExitReason = "normal") -> None:
        """Stop the supervisor: its tasks are cancelled (concurrently), then it exits.

        Idempotent: a dead supervisor or unknown name returns quietly.
        """
        await DynamicSupervisor.stop(sup, reason)


async def _result(proc: Process, outcome: _Outcome, timeout: float) -> Any:  # noqa: ASYNC109
    timeout = check_timeout(timeout)
    if proc.status != DEAD:
        with trio.move_on_after(timeout):
            await proc.wait_exited()
        if proc.status != DEAD:
            raise TaskTimeoutError(proc.ref, timeout)
    else:
        await trio.lowlevel.checkpoint()
    if outcome.returned:
        return outcome.value
    error = outcome.error
    if error is None:
        error = ServerNotRunningError(proc.ref, proc.reason)
    del outcome, proc  # the frame, in the error's traceback, holds nothing that holds it
    try:
        raise error
    finally:
        del error


def _unlink(owner: Process, ref: TaskRef) -> None:
    """Remove the link between `owner` and the task, whatever process calls this."""
    if owner.status == DEAD:
        return
    context = contextvars.copy_context()
    context.run(_unlink_in, owner, ref)


def _unlink_in(owner: Process, ref: TaskRef) -> None:
    process_var.set(owner)  # (in a copied context: the caller's is untouched)
    unlink(ref)


__all__ = ["Task", "TaskRef", "TaskSupervisor", "TaskTimeoutError"]
