"""The process record: one object per process, and the one owner of its state.

A process is one Trio task running the actor loop (`_actor.py`) over a memory-channel mailbox.
Its `Process` record holds what the runtime knows of it; users hold a `ProcessRef` (a handle
that points at the record and stays valid after the process ended). Every module reads the
record's public fields, but its status, exit reason and mailbox change only through the methods
below, which state and check the invariants:

- ``status`` only moves forward: STARTING → RUNNING → STOPPING → DEAD (STARTING may go
  straight to STOPPING, when the process is stopped while ``init`` runs, or to DEAD, when
  ``init`` fails). From STOPPING on, the process takes no new messages.
- ``reason`` is None until DEAD, and never changes afterwards.
- ``kill_reason`` is what a stop from outside (`kill`) asked for; the first one wins, except that
  a brutal kill always wins (``"killed"``).
- The mailbox is closed exactly when the status becomes DEAD, after every waiting caller has
  been answered (`release`).
- ``scope`` exists from the start, so a kill that arrives before the task first ran is not
  lost: a cancelled scope cancels on entry.
- ``calls``, ``casts`` and ``infos`` count the messages the loop took, by kind; the loop
  alone writes them, and an inline call in its place (one increment per message: all the hot
  path pays for ``statistics()``).
- ``state`` and ``parked`` are set only while the loop waits on an empty mailbox and takes
  inline calls (`_inline.py`); an inline call is the only other writer of ``state``.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

import trio

from ._context import wire_var
from ._exceptions import ServerNotRunningError
from ._handles import NoPublicConstructor
from ._kernel import Kernel, kernels, logger
from ._mailbox import Caller, CastItem, GetState, Info
from ._safe_format import safe_repr
from ._statistics import ProcessStatistics

if TYPE_CHECKING:
    from ._results import ExitReason

#: `Process.kill_reason` before any kill (None is a valid exit reason).
NOT_KILLED: Final = type("NotKilled", (), {"__repr__": lambda self: "NOT_KILLED"})()

# Process status, ordered: anything above RUNNING accepts no new messages.
STARTING: Final = 0
RUNNING: Final = 1
STOPPING: Final = 2
DEAD: Final = 3

#: How `ProcessStatistics.status` names them.
_STATUS_NAMES: Final = ("starting", "running", "stopping", "dead")

#: The longest repr of a message that statistics and snapshots show.
MESSAGE_LIMIT: Final = 120


class Host(Protocol):
    """Where processes live: owns the nursery their tasks run in and hears of their exits."""

    nursery: trio.Nursery
    procs: dict[Process, None]
    label: str

    def child_exited(self, proc: Process, reason: ExitReason) -> None:
        """Called synchronously as the very last step of a process's exit."""

    # Optional: ``restart_count(proc) -> int``, how often the host restarted the child `proc`
    # is (a supervisor); statistics show 0 for hosts without it.


class NameTable(Protocol):
    """A registry, as the record sees it: it drops every entry of an exiting process."""

    def _noex_release(self, ref: ProcessRef) -> None: ...


def _no_ref() -> None:
    return None


class Process:
    """The record of one process (internal; users hold its `ref`).

    Read any field; change the status, reason and mailbox only through the methods (see the
    module docstring for the invariants).
    """

    # One object per process keeps the hot paths short and idle processes small.
    __slots__ = (
        "__weakref__",
        "_exited",
        "_held",
        "_ref",
        "_ref_class",
        "behaviour",
        "budget",
        "calls",
        "casts",
        "current",
        "deferred",
        "exit_hooks",
        "front",
        "host",
        "id",
        "infos",
        "inline_call",
        "kernel",
        "kill_reason",
        "label",
        "mailbox_size",
        "parked",
        "reason",
        "recv",
        "registries",
        "scope",
        "send",
        "started_at",
        "state",
        "status",
        "stop_reply",
        "terminate_scope",
        "trap_exit",
    )

    def __init__(
        self,
        kernel: Kernel,
        behaviour: Any,
        *,
        label: str,
        mailbox_size: float,
        budget: float | str,
        trap_exit: bool,
        ref_class: type[ProcessRef],
    ) -> None:
        self.kernel = kernel
        self.id: int = kernel.next_id()
        self.label = f"{label}#{self.id}"
        self.behaviour = behaviour
        self.send, self.recv = trio.open_memory_channel[Any](mailbox_size)
        self.mailbox_size = mailbox_size
        self.status = STARTING
        self.reason: ExitReason | None = None
        #: The process's own cancel scope; shielded, so only its host (or its starter while
        #: ``init`` runs) cancels it.
        self.scope = trio.CancelScope(shield=True)
        self.terminate_scope: trio.CancelScope | None = None
        self.host: Host | None = None
        #: The caller whose ``handle_call`` is running (for deferred replies and crashes).
        self.current: Caller[Any] | None = None
        self.deferred: set[Caller[Any]] | None = None
        self.kill_reason: ExitReason = NOT_KILLED
        self.stop_reply: tuple[Caller[Any], Any] | None = None
        self.budget = budget
        self.trap_exit = trap_exit
        self.registries: dict[NameTable, None] | None = None
        self.exit_hooks: dict[object, Callable[[ExitReason], object]] | None = None
        self._exited: trio.Event | None = None
        self._ref_class = ref_class
        self._ref: Callable[[], ProcessRef | None] = _no_ref
        self._held: ProcessRef | None = None
        #: Messages taken by the loop, by kind (for ``statistics()``; see the module docstring).
        self.calls = self.casts = self.infos = 0
        # The inline call path (`_inline.py`). `parked` is the loop's task while it waits on an
        # empty mailbox, `state` its state then, `inline_call` its sync ``handle_call`` (None:
        # the process takes no inline calls); `front` a message the loop takes before its
        # mailbox (an inline call's outcome, or a message it moved back behind one: see
        # `_inline.hand_over`), released with the mailbox.
        self.parked: trio.lowlevel.Task | None = None
        self.state: Any = None
        self.inline_call: Callable[[Any, Any], Any] | None = None
        self.front: Any = None
        self.started_at = kernel.watchdog.now()

    @property
    def ref(self) -> ProcessRef:
        """The handle of this process: always the same object while anyone holds it.

        The record holds it while the process lives, and only weakly once it is gone (the
        handle holds the record: no reference cycle outlives the process)."""
        ref = self._held
        if ref is not None:
            return ref
        ref = self._ref()
        if ref is None:
            ref = type.__call__(self._ref_class, self)  # (what `_create` does, minus a call)
            self._ref = weakref.ref(ref)
        if self.status != DEAD:
            self._held = ref
        return ref

    def __repr__(self) -> str:
        return f"<process {self.label}>"

    # -- status transitions --

    def mark_running(self) -> None:
        """``init`` finished: the process takes messages (unless a stop already began)."""
        if self.status == STARTING:
            self.status = RUNNING

    def refuse_messages(self) -> None:
        """A stop was queued or began: from now on calls and casts are refused."""
        if self.status < STOPPING:
            self.status = STOPPING

    @trio.lowlevel.enable_ki_protection
    def kill(self, reason: ExitReason, budget: float | str | None = None) -> None:
        """Stop the process from outside, overtaking its mailbox (its host, a link, a kill).

        The process's scope is cancelled; the loop then runs the exit sequence with
        `reason` (the first kill's reason wins), ``terminate`` bounded by `budget`. A budget of
        ``"brutal_kill"`` means no ``terminate`` and the reason ``"killed"``, even after an
        earlier kill, and cuts short a ``terminate`` already running.
        """
        if self.status == DEAD:
            return
        if budget == "brutal_kill":
            self.kill_reason = "killed"
            if self.terminate_scope is not None:
                self.terminate_scope.cancel()
        elif self.kill_reason is NOT_KILLED:
            self.kill_reason = reason
        if budget is not None:
            self.budget = budget
        self.refuse_messages()
        self.scope.cancel()

    def terminate_limit(self) -> float:
        """Seconds ``terminate`` may take (its shutdown budget)."""
        budget = self.budget
        return math.inf if isinstance(budget, str) else budget

    # -- resources the process owns --

    def add_exit_hook(self, key: object, callback: Callable[[ExitReason], object]) -> None:
        """Run ``callback(reason)`` during the exit sequence (after the names are released,
        before anyone is told of the exit). Keys are unique; adding a key again replaces it."""
        if self.exit_hooks is None:
            self.exit_hooks = {}
        self.exit_hooks[key] = callback

    def remove_exit_hook(self, key: object) -> None:
        if self.exit_hooks is not None:
            self.exit_hooks.pop(key, None)

    def has_exit_hook(self, key: object) -> bool:
        return self.exit_hooks is not None and key in self.exit_hooks

    def add_registry(self, registry: NameTable) -> None:
        """`registry` holds a name of this process: it releases them all at the exit."""
        if self.registries is None:
            self.registries = {}
        self.registries[registry] = None

    def discard_registry(self, registry: NameTable) -> None:
        if self.registries is not None:
            self.registries.pop(registry, None)

    # -- messages from the library --

    def deliver_info(self, message: object) -> bool:
        """Queue `message` for ``handle_info``; False if the process is gone or its mailbox full."""
        if self.status >= DEAD:
            return False
        try:
            self.send.send_nowait(Info(message))
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        return True

    def not_running(self, target: object) -> ServerNotRunningError:
        """The error for a message to this process when it takes no more."""
        if self.status == DEAD:
            return ServerNotRunningError(target, self.reason)
        return ServerNotRunningError(target, "stopping" if self.status == STOPPING else "noproc")

    async def wait_exited(self) -> ExitReason:
        """Wait until the process is gone (a checkpoint even if it already is); its reason.

        Gone means out of its host (`forget`): for a supervisor, after its children too."""
        if self.kernel.live.get(self.id) is self:
            if self._exited is None:
                self._exited = trio.Event()
            await self._exited.wait()
        else:
            await trio.lowlevel.checkpoint()
        return self.reason

    # -- the end (called by the exit sequence, in this order) --

    @trio.lowlevel.enable_ki_protection
    def release(self, reason: ExitReason, crash_error: BaseException | None) -> int:
        """Mark the process dead, drop what it owns, answer every waiting caller.

        Names go first (a lookup never finds a dead process), then the exit hooks (timers,
        subscriptions, monitors, links); then the caller being served gets `crash_error` (or
        `ServerNotRunningError`), deferred and queued callers get `ServerNotRunningError`, a
        `Stop` reply is sent. Returns how many queued casts (timer messages and EventBus
        events included) were dropped: the dead letters.
        """
        assert self.status != DEAD, "a process is released once"
        self.status = DEAD
        self.reason = reason
        self.terminate_scope = None
        registries, self.registries = self.registries, None
        if registries is not None:
            for registry in registries:
                registry._noex_release(self.ref)
        hooks, self.exit_hooks = self.exit_hooks, None
        if hooks is not None:
            for callback in list(hooks.values()):
                try:
                    callback(reason)
                except Exception:  # pragma: no cover - the library's hooks do not raise
                    logger.exception("exit hook of %s failed", self.label)
        current, self.current = self.current, None
        if current is not None:
            # The call being handled gets the crash itself, so `except ValueError:` works.
            current.fail(crash_error or ServerNotRunningError(self.ref, reason))
        if self.stop_reply is not None:
            caller, value = self.stop_reply
            self.stop_reply = None
            caller.reply(value)
        if self.deferred:
            for caller in list(self.deferred):
                caller.fail(ServerNotRunningError(self.ref, reason))
        self.deferred = None
        dropped = 0
        item, self.front = self.front, None
        while True:
            if item is None:
                try:
                    item = self.recv.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                    break
            if type(item) is Caller:
                item.fail(ServerNotRunningError(self.ref, reason))
            elif type(item) is GetState:
                item.caller.fail(ServerNotRunningError(self.ref, reason))
            elif type(item) is CastItem or (
                type(item) is Info and getattr(type(item.message), "_noex_dead_letter", False)
            ):
                dropped += 1  # casts, timer messages, bus events; not the library's notices
            item = None
        self.send.close()
        self.recv.close()
        return dropped

    @trio.lowlevel.enable_ki_protection
    def forget(self, *, notify_host: bool = True) -> None:
        """Last step: leave the runtime and the host, tell the host, wake exit waiters."""
        host = self.host
        assert host is not None  # set by `spawn` before the task starts
        self._held = None
        self.kernel.live.pop(self.id, None)
        host.procs.pop(self, None)
        if notify_host:
            host.child_exited(self, self.reason)
        if self._exited is not None:
            self._exited.set()


# --- the handle users hold --------------------------------------------------------------------


class ProcessRef(metaclass=NoPublicConstructor):
    """A handle to a process: hashable, compared by identity, valid after the process ended.

    The base of `GenServerRef`, `SupervisorRef` and `EventBusRef`; obtained from the library
    (``GenServer.start``, ``Supervisor.start``, a registry lookup), never built by hand. A ref
    pickles: in the same program it unpickles to the same ref; elsewhere to a ref of a process
    that is not running (reason ``"noproc"``).
    """

    __slots__ = ("__weakref__", "_proc")

    def __init__(self, proc: Process) -> None:
        self._proc = proc

    if TYPE_CHECKING:
        # Typing only: the shapes of ``GenServer.call``/``cast``/``send_after`` for a ref whose
        # messages are not known (any message goes; checked when sent). `GenServerRef` narrows
        # them to its own types; see `_refs.CallTarget`.
        def _noex_call(self, msg: Any, timeout: float = 5.0) -> Coroutine[Any, Any, Any]: ...
        def _noex_cast(self, msg: Any) -> None: ...
        def _noex_send_after(self, msg: Any, delay: float) -> None: ...

    @property
    def id(self) -> int:
        """A number unique within the runtime (never reused)."""
        return self._proc.id

    @property
    def exit_reason(self) -> ExitReason | Literal["noproc"] | None:
        """Why the process ended, or None while it runs (``"noproc"`` for a ref unpickled
        where its process does not exist)."""
        return self._proc.reason

    def is_running(self) -> bool:
        """True while the process accepts messages (not once a stop was requested)."""
        return self._proc.status <= RUNNING

    def statistics(self) -> ProcessStatistics:
        """A snapshot of the process: status, mailbox, messages handled, the call being
        served, restarts... (see `ProcessStatistics`). Also after the process ended.

        A supervisor's ref gives a `SupervisorStatistics`, an EventBus's an
        `EventBusStatistics` (both are `ProcessStatistics` with more fields).

        Raises:
            ServerNotRunningError: the ref was unpickled in a program where its process does
                not exist (reason ``"noproc"``).
        """
        return statistics_of(self._proc)

    @property
    def _label(self) -> str:
        # How messages name the process (`describe` in _exceptions reads it).
        return self._proc.label

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._proc.label}>"

    def __copy__(self) -> ProcessRef:
        return self

    def __deepcopy__(self, memo: object) -> ProcessRef:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        wire = wire_var.get()
        if wire is not None:  # pickled for another node (PickleCodec)
            reduced: tuple[Any, ...] = wire.reduce_ref(self)
            return reduced
        proc = self._proc
        return (_restore_ref, (type(self), proc.kernel.uid, proc.id, proc.label))


def process_of(ref: ProcessRef) -> Process:
    """The record behind a ref."""
    return ref._proc


def _restart_count(host: Host | None, proc: Process) -> int:
    restart_count = getattr(host, "restart_count", None)
    return 0 if restart_count is None else int(restart_count(proc))


def statistics_of(proc: Process, now: float | None = None) -> ProcessStatistics:
    """What ``ref.statistics()`` returns (`now`: the time to compute uptimes at, if given):
    read from the record, its host (restarts) and its kernel (owned tasks, names). A behaviour
    of the library adds its own figures through a ``_noex_statistics(fields, now)`` method
    (supervisors, buses), and names its kind and itself with ``_noex_kind`` and
    ``_noex_name``."""
    if type(proc) is not Process:  # a ref unpickled where its process does not exist
        raise ServerNotRunningError(proc.ref, "noproc")
    kernel = proc.kernel
    behaviour = proc.behaviour
    if now is None:
        now = kernel.watchdog.now()
    current = proc.current
    host = proc.host
    nursery = kernel.task_nurseries.get(proc)
    names: tuple[str, ...] = ()
    if proc.registries is not None and kernel.registry in proc.registries:
        names = tuple(kernel.registry.keys_of(proc.ref))
    fields: dict[str, Any] = {
        "id": proc.id,
        "label": proc.label,
        "kind": getattr(behaviour, "_noex_kind", "worker"),
        "behaviour": getattr(behaviour, "_noex_name", None) or type(behaviour).__name__,
        "status": _STATUS_NAMES[proc.status],
        "mailbox_length": proc.send.statistics().current_buffer_used,
        "mailbox_capacity": float(proc.mailbox_size),
        "calls": proc.calls,
        "casts": proc.casts,
        "infos": proc.infos,
        "started_at": proc.started_at,
        "uptime": 0.0 if proc.status == DEAD else now - proc.started_at,
        "restarts": _restart_count(host, proc),
        "serving": None if current is None else safe_repr(current.message, limit=MESSAGE_LIMIT),
        "serving_since": None if current is None else current._since,
        "tasks": 0 if nursery is None else len(nursery.child_tasks),
        "names": names,
    }
    extend = getattr(behaviour, "_noex_statistics", None)
    if extend is not None:
        stats: ProcessStatistics = extend(fields, now)
        return stats
    return ProcessStatistics(**fields)


def _restore_ref(cls: type[ProcessRef], kernel_uid: int, pid: int, label: str) -> ProcessRef:
    kernel = kernels.get(kernel_uid)
    if kernel is not None:
        proc = kernel.live.get(pid)
        if proc is not None and type(proc.ref) is cls:
            return proc.ref
    return _detached(cls, pid, label)


class _Detached:
    """The record of a ref unpickled where its process does not exist: never running.

    It answers what the client side asks of a record (status, reason, the error for a
    message, an exit to wait for) as a process that is gone.
    """

    __slots__ = ("_ref", "id", "label", "reason", "status")

    def __init__(self, pid: int, label: str) -> None:
        self.id = pid
        self.label = label
        self.status = DEAD
        self.reason = "noproc"
        self._ref: Callable[[], ProcessRef | None] = _no_ref

    @property
    def ref(self) -> ProcessRef:
        ref = self._ref()
        assert ref is not None  # only reached through its ref
        return ref

    def not_running(self, target: object) -> ServerNotRunningError:
        return ServerNotRunningError(target, "noproc")

    def kill(self, reason: object, budget: object = None) -> None:
        return None

    def has_exit_hook(self, key: object) -> bool:
        return False

    def remove_exit_hook(self, key: object) -> None:
        return None

    async def wait_exited(self) -> str:
        await trio.lowlevel.checkpoint()
        return self.reason


def _detached(cls: type[ProcessRef], pid: int, label: str) -> ProcessRef:
    record = _Detached(pid, label)
    ref: ProcessRef = cls._create(record)
    record._ref = weakref.ref(ref)
    return ref
