"""Starting a process: validate, create the record, register its name, run its task.

A process is started into a *host* (the runtime's root, or a supervisor) and `start_process`
returns once ``init`` has finished (OTP ``start_link``). Its task runs inside its own shielded
cancel scope (`Process.scope`), so that only its host (and, while ``init`` runs, its starter)
can cancel it: outer cancellation (a deadline around the runtime, Ctrl-C) never tears a tree
down out of order.

A behaviour with ``owns_tasks = True`` gets a nursery of its own around ``init`` and the loop
(`_run_owning_tasks`): its tasks run beside the loop, one that fails crashes the process with
that error, and all are cancelled and finished before ``terminate`` runs. Other processes open
no nursery and pay nothing for the feature.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final, NoReturn

import trio

from . import _actor
from . import _checks as checks
from ._context import current_kernel, host_var, reset_library_context
from ._exceptions import InitializationError
from ._outcome import crash_reason, find_fatal, is_cancellation
from ._process import DEAD, NOT_KILLED, Host, Process, ProcessRef
from ._refs import GenServerRef, check_timeout
from ._registry import name_entry
from ._results import Ignore, Started
from ._safe_format import safe_repr
from ._via import Via


async def start_process(
    behaviour: object,
    args: tuple[Any, ...],
    *,
    name: str | Via | None,
    init_timeout: float,
    mailbox_size: float,
    trap_exit: bool,
    ref_class: type[ProcessRef] = GenServerRef,
    budget: float | str = 5.0,
    label: str | None = None,
) -> ProcessRef | None:
    """Validate, create the process record, register its name, and spawn it.

    Returns the ref, or None if ``init`` returned `Ignore`.

    Raises:
        InitializationError: ``init`` raised (as ``__cause__``), timed out, or the process was
            stopped while starting.
        AlreadyRegisteredError: `name` is taken (``init`` never ran).
        ServerNotRunningError: `name` is a `Via` to a registry process that is not running.
        TypeError, ValueError: bad arguments (nothing was started).
        KeyboardInterrupt, SystemExit: raised by ``init`` (the runtime ends with it too).
    """
    kernel = current_kernel()
    if isinstance(behaviour, type):
        if not callable(getattr(behaviour, "init", None)):
            _actor.check_behaviour(behaviour)  # raises with the list of missing callbacks
        behaviour = behaviour()
    _actor.check_behaviour(behaviour)
    entry = None if name is None else name_entry(kernel, name)  # where the name goes
    init_timeout = check_timeout(init_timeout, "init_timeout")
    if mailbox_size != math.inf or type(mailbox_size) is not float:  # (the default: no check)
        mailbox_size = checks.count(mailbox_size, "mailbox_size", minimum=1, inf=True)
    if trap_exit is not False:
        trap_exit = checks.boolean(trap_exit, "trap_exit")
    host = host_var.get() or kernel.host()
    if entry is not None:
        label = entry.label
    elif label is None:
        label = type(behaviour).__name__
    proc = Process(
        kernel,
        behaviour,
        label=label,
        mailbox_size=mailbox_size,
        budget=budget,
        trap_exit=trap_exit,
        ref_class=ref_class,
    )
    ref = proc.ref  # held from now on: every event and error of this start shows this object
    if entry is not None:
        entry.registry.register(entry.key, ref)  # before init, atomically (OTP)
    if await spawn(host, proc, args, init_timeout):
        return ref
    return None


async def spawn(host: Host, proc: Process, args: tuple[Any, ...], init_timeout: float) -> bool:
    """Run `proc` as a task of `host`; return once ``init`` finished (raise if it failed).

    Returns False if ``init`` returned `Ignore` (the process is gone, without a trace).

    What ``await host.nursery.start(...)`` does, without its temporary nursery, cancel scope
    and task status (which, with the reparenting of the task, cost about 11 µs, a sixth of a
    spawn and stop): the task goes straight into the host's nursery and the starter parks on a
    one-shot latch (`_Start`) until ``init`` is done.
    """
    proc.host = host
    host.procs[proc] = None
    proc.kernel.live[proc.id] = proc
    start = _Start(trio.lowlevel.current_task(), proc)
    try:
        host.nursery.start_soon(_process_main, proc, args, init_timeout, start, name=_TASK_NAME)
    except BaseException:  # the host's nursery is closed: the task never ran
        _actor.abandon(proc, None)
        raise
    await trio.lowlevel.wait_task_rescheduled(start.abort)
    if start.error is not None or start.raise_cancel is not None:  # (once cancelled, no start)
        start.raise_failure()
    return not start.ignored


class _Start:
    """The start latch of a process, and what its task reports to itself after ``init``.

    While ``init`` runs, the process is cancelled through this latch when its starter is
    (`abort`), as a task under ``nursery.start`` is; afterwards only its host cancels it. The
    starter stays parked until the process has unwound (``Abort.FAILED``) and then raises what
    ``init`` ended with, or, if that was the cancellation, the starter's own ``Cancelled`` (or
    ``KeyboardInterrupt``) through the stored ``raise_cancel``, as ``nursery.start`` does.
    """

    __slots__ = ("error", "ignored", "proc", "raise_cancel", "task")

    def __init__(self, task: trio.lowlevel.Task, proc: Process) -> None:
        self.task: trio.lowlevel.Task | None = task  # the parked starter; None once woken
        self.proc = proc
        self.error: BaseException | None = None
        self.raise_cancel: Callable[[], NoReturn] | None = None
        self.ignored = False

    def abort(self, raise_cancel: Callable[[], NoReturn]) -> trio.lowlevel.Abort:
        # The starter is cancelled while init runs: cancel init, and wait for it to unwind.
        self.raise_cancel = raise_cancel
        self.proc.scope.cancel()
        return trio.lowlevel.Abort.FAILED

    def started(self) -> None:
        task = self.task
        assert task is not None
        self.task = None
        trio.lowlevel.reschedule(task)

    def ignore(self) -> None:
        """init returned `Ignore`: the starter gets None (unless it was cancelled meanwhile)."""
        self.ignored = True
        self.fail(None)
        if self.raise_cancel is None:
            self.error = None

    def fail(self, error: BaseException | None) -> None:
        """init did not finish: `error` is what the starter should raise (None: init was
        cancelled)."""
        task = self.task
        assert task is not None
        self.task = None
        if self.raise_cancel is None:
            # Not the starter's cancellation: a failed init, or the host stopped the process.
            if error is None:
                error = InitializationError(self.proc.ref, "stopped while starting")
            self.error = error
        elif error is not None:
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


@trio.lowlevel.enable_ki_protection
async def _process_main(
    proc: Process, args: tuple[Any, ...], init_timeout: float, start: _Start
) -> None:
    """The task of a process. Nothing raises out of it: every outcome of ``init`` goes to the
    starter, every outcome of the loop to the exit sequence, fatal errors to the runtime."""
    reset_library_context(proc)
    with proc.scope:
        if getattr(proc.behaviour, "_noex_wants_nursery", False):
            # A supervisor or a bus: its children live in a nursery inside its own task.
            # Nothing raises into it (started processes never raise), so it closes quietly.
            async with trio.open_nursery() as nursery:
                proc.behaviour._noex_nursery = nursery
                fatal = await _run(proc, args, init_timeout, start, forget=False)
            # Its host hears of its exit (and may start it again, with the same child names)
            # only once every child of the nursery is gone, even after a brutal kill.
            if proc.status == DEAD and proc.host is not None and proc in proc.host.procs:
                proc.forget()
        else:
            fatal = await _run(proc, args, init_timeout, start)
    if fatal is not None:
        proc.kernel.escalate(fatal)


#: The name of a process's task (what `nursery.start` gave it; saves Trio composing it).
_TASK_NAME: Final = f"{_process_main.__module__}.{_process_main.__qualname__}"


async def _run(
    proc: Process, args: tuple[Any, ...], init_timeout: float, start: _Start, *, forget: bool = True
) -> BaseException | None:
    """init, then the loop, then the exit sequence; returns a fatal error for the runtime.
    Without `forget`, the caller makes the process leave its host (`Process.forget`)."""
    cb = _actor.Callbacks(proc.behaviour)
    if getattr(proc.behaviour, "owns_tasks", False):  # (not kept per process: nothing paid)
        return await _run_owning_tasks(proc, cb, args, init_timeout, start)
    try:
        state = await _actor.init(proc, cb, args, init_timeout)
    except BaseException as exc:
        return _init_failed(proc, start, exc)
    if type(state) is Ignore:
        _ignored(proc, start)
        return None
    _started(proc, start)
    # (Few locals here and in the loop: each is 8 bytes of every idle process.)
    ended = await _actor.run(proc, cb, state)
    return await _actor.finish(proc, cb, ended, forget=forget)


def _init_failed(proc: Process, start: _Start, exc: BaseException) -> BaseException | None:
    fatal = find_fatal(exc)
    _actor.abandon(proc, exc if fatal is None else None)
    if fatal is not None:
        start.fail(fatal)
        return fatal
    start.fail(None if is_cancellation(exc) else exc)
    return None


def _ignored(proc: Process, start: _Start) -> None:
    _actor.abandon(proc, None, "normal")
    start.ignore()


def _started(proc: Process, start: _Start) -> None:
    proc.mark_running()
    start.started()
    if proc.kernel.handlers:  # (no event is built for nobody)
        proc.kernel.emit(Started(proc.ref))


async def _run_owning_tasks(
    proc: Process, cb: _actor.Callbacks, args: tuple[Any, ...], init_timeout: float, start: _Start
) -> BaseException | None:
    """`_run` for a behaviour with ``owns_tasks``: init and the loop inside the process's own
    nursery (``GenServer.nursery()``), the exit sequence after its tasks have finished."""
    first: Any = None
    init_error: BaseException | None = None
    ended: _actor.Ended | None = None
    task_failed = False
    tasks_error: BaseException | None = None
    tables = proc.kernel.task_nurseries
    try:
        async with trio.open_nursery() as nursery:
            tables[proc] = nursery
            try:
                first = await _actor.init(proc, cb, args, init_timeout)
            except BaseException as exc:  # (sorted below, once the tasks are done)
                init_error = exc
            else:
                if type(first) is not Ignore:
                    _started(proc, start)
                    ended = await _actor.run(proc, cb, first)
                    # The nursery cancels itself only when one of its tasks failed.
                    task_failed = nursery.cancel_scope.cancel_called
            nursery.cancel_scope.cancel()  # the tasks end before terminate runs
    except BaseException as exc:  # what the tasks raised (the loop never raises)
        tasks_error = exc
    finally:
        tables.pop(proc, None)
    try:
        return await _after_tasks(proc, cb, start, ended, task_failed, init_error, tasks_error)
    finally:
        # Raised through this frame, they would hold it (and it them) in a reference cycle.
        init_error = tasks_error = None


async def _after_tasks(
    proc: Process,
    cb: _actor.Callbacks,
    start: _Start,
    ended: _actor.Ended | None,
    task_failed: bool,
    init_error: BaseException | None,
    tasks_error: BaseException | None,
) -> BaseException | None:
    """The end of `_run_owning_tasks`, once its nursery is closed: sort what its tasks raised
    (a failed task's error is the exit reason), then fail the start or run the exit sequence."""
    fatal = None if tasks_error is None else find_fatal(tasks_error)
    task_crash = None
    if tasks_error is not None and fatal is None and not is_cancellation(tasks_error):
        task_crash = _single(crash_reason(tasks_error))
    if ended is None:  # init failed, or returned Ignore
        if fatal is not None:
            return _init_failed(proc, start, fatal)
        if task_crash is not None:
            error = InitializationError(
                proc.ref, f"a task of the process failed during init: {safe_repr(task_crash)}"
            )
            error.__cause__ = task_crash
            return _init_failed(proc, start, error)
        if init_error is not None:
            return _init_failed(proc, start, init_error)
        _ignored(proc, start)
        return None
    if task_failed and task_crash is not None and proc.kill_reason is NOT_KILLED:
        # The loop was cancelled because this task failed (not a message's fault).
        ended = (task_crash, ended[1], ended[2], None)
    return await _actor.finish(proc, cb, ended) or fatal


def _single(error: BaseException) -> BaseException:
    """A group of one error (what a nursery raises for one failed task) → that error."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
