"""Starting a process: validate, create the record, register its name, run its task.

A process is started into a *host* (the runtime's root, or a supervisor) and `start_process`
returns once ``init`` has finished (OTP ``start_link``). Its task runs inside its own shielded
cancel scope (`Process.scope`), so that only its host (and, while ``init`` runs, its starter)
can cancel it: outer cancellation (a deadline around the runtime, Ctrl-C) never tears a tree
down out of order.
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
from ._outcome import find_fatal, is_cancellation
from ._process import Host, Process, ProcessRef
from ._refs import GenServerRef, check_timeout
from ._registry import name_entry
from ._results import Started
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
) -> ProcessRef:
    """Validate, create the process record, register its name, and spawn it.

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
    await spawn(host, proc, args, init_timeout)
    return ref


async def spawn(host: Host, proc: Process, args: tuple[Any, ...], init_timeout: float) -> None:
    """Run `proc` as a task of `host`; return once ``init`` finished (raise if it failed).

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


class _Start:
    """The start latch of a process, and what its task reports to itself after ``init``.

    While ``init`` runs, the process is cancelled through this latch when its starter is
    (`abort`), as a task under ``nursery.start`` is; afterwards only its host cancels it. The
    starter stays parked until the process has unwound (``Abort.FAILED``) and then raises what
    ``init`` ended with, or, if that was the cancellation, the starter's own ``Cancelled`` (or
    ``KeyboardInterrupt``) through the stored ``raise_cancel``, as ``nursery.start`` does.
    """

    __slots__ = ("error", "proc", "raise_cancel", "task")

    def __init__(self, task: trio.lowlevel.Task, proc: Process) -> None:
        self.task: trio.lowlevel.Task | None = task  # the parked starter; None once woken
        self.proc = proc
        self.error: BaseException | None = None
        self.raise_cancel: Callable[[], NoReturn] | None = None

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
                fatal = await _run(proc, args, init_timeout, start)
        else:
            fatal = await _run(proc, args, init_timeout, start)
    if fatal is not None:
        proc.kernel.escalate(fatal)


#: The name of a process's task (what `nursery.start` gave it; saves Trio composing it).
_TASK_NAME: Final = f"{_process_main.__module__}.{_process_main.__qualname__}"


async def _run(
    proc: Process, args: tuple[Any, ...], init_timeout: float, start: _Start
) -> BaseException | None:
    """init, then the loop, then the exit sequence; returns a fatal error for the runtime."""
    cb = _actor.Callbacks(proc.behaviour)
    try:
        state = await _actor.init(proc, cb, args, init_timeout)
    except BaseException as exc:
        fatal = find_fatal(exc)
        _actor.abandon(proc, exc if fatal is None else None)
        if fatal is not None:
            start.fail(fatal)
            return fatal
        start.fail(None if is_cancellation(exc) else exc)
        return None
    proc.mark_running()
    start.started()
    if proc.kernel.handlers:  # (no event is built for nobody)
        proc.kernel.emit(Started(proc.ref))
    reason, state, fatal = await _actor.run(proc, cb, state)
    await _actor.finish(proc, cb, reason, state)
    return fatal
