"""The supervisor process: the behaviour `Supervisor.start` runs, and the host of its children.

A supervisor is an ordinary process whose behaviour asks the runner for a nursery inside its
own task (``_noex_wants_nursery``); the children live there, so a tree of supervisors is a tree
of nested nurseries. The behaviour object is the children's *host*: ``GenServer.start`` and
``Supervisor.start`` called from a child's ``start`` function (while `host_var` points here)
spawn into its nursery, and every child's exit ends with `Supervisor.child_exited`.

One mailbox carries both API requests (`StartChild`, `TerminateChild`, `RestartChild`, as calls)
and child exits (`ChildExit`, as infos), so they are handled one at a time in arrival order,
as in OTP. The children table is a dict in start order keyed by id, plus a dict keyed by the
current ref: an exit notice whose ref is not (or no longer) a child's current ref is stale and
ignored — that is how the exits of children the supervisor stops itself are told apart.

Restarts follow ``supervisor.erl``: every restart, failed ones included, goes through the
intensity window first; a start that fails during a restart is retried by a message to itself
(``try_again_restart``) so that requests queued meanwhile, a stop in particular, get in first.

A child whose ``start`` returned None (its ``init`` returned `Ignore`) is kept as *not running*
(``Child.proc`` None, OTP's ``undefined`` pid), except a temporary one, which is dropped. Such a
child is tried again by ``restart_child`` and by a one_for_all/rest_for_one restart of its
group, as ``supervisor.erl`` does (``start_children`` starts every child of the group).

The same server runs ``simple_one_for_one`` supervisors and DynamicSupervisors: their children
are *anonymous* (ids ``child_1``, ``child_2``, … that the DynamicSupervisor facade never shows),
added by ``start_child`` only, restarted one by one, stopped concurrently, and one whose start
or restart is ignored is not kept (Elixir's ``DynamicSupervisor``).
"""

from __future__ import annotations

import inspect
import logging
import math
from typing import Any, Final, Literal, cast

import attrs
import trio

from . import _checks as checks
from ._child_spec import ChildSpec
from ._context import current_process, host_var
from ._exceptions import (
    ChildNotFoundError,
    DuplicateChildError,
    InvalidChildSpecError,
    MaxChildrenError,
    MaxRestartsExceededError,
    ServerNotRunningError,
)
from ._links import Exit
from ._process import RUNNING, Process, ProcessRef, process_of
from ._refs import SupervisorRef, call, resolve, shutdown
from ._restart_intensity import RestartIntensity
from ._results import ExitReason, Restarted, Stop, is_crash
from ._statistics import SupervisorStatistics

logger: Final = logging.getLogger("noex_trio")

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"]
AutoShutdown = Literal["never", "any_significant", "all_significant"]

STRATEGIES: Final = ("one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one")
AUTO_SHUTDOWNS: Final = ("never", "any_significant", "all_significant")

#: Key of the supervisor's exit hook in its process record.
_EXIT_HOOK: Final = "noex_trio.supervisor"


# --- messages ---------------------------------------------------------------------------------


@attrs.frozen
class StartChild:
    """Call: start a child from `spec`, or (simple_one_for_one) from the template with `args`."""

    spec: ChildSpec | None
    args: tuple[Any, ...] = ()


@attrs.frozen
class TerminateChild:
    """Call: stop a child (reason ``"shutdown"``, its budget) and remove it.

    `child_id` is the id, or for a DynamicSupervisor the child's current `ProcessRef`."""

    child_id: str | ProcessRef


@attrs.frozen
class RestartChild:
    """Call: stop a child if it runs, then start it again."""

    child_id: str


@attrs.frozen
class Failed:
    """Reply to a call whose request failed: the facade raises `error`."""

    error: Exception


class ChildExit:
    """Info: a child to restart has exited."""

    __slots__ = ("proc", "reason")

    def __init__(self, proc: Process, reason: ExitReason) -> None:
        self.proc = proc
        self.reason = reason


class _AutoShutdown:
    """Info: a significant child exited and was not restarted; ``auto_shutdown`` says stop."""

    __slots__ = ()


class _TryAgain:
    """Info: a restart of the child `child_id` failed with `error`; try it again."""

    __slots__ = ("child_id", "error", "starts")

    def __init__(self, child_id: str, starts: int, error: Exception) -> None:
        self.child_id = child_id
        self.starts = starts  # the child's start attempts then: a later attempt cancels this
        self.error = error


# --- the children table -----------------------------------------------------------------------


class Child:
    """One child: its spec, its current process, and how often it was restarted.

    `proc` is the running process, the one that exited while a restart is under way, or None
    when the child is not running (its ``init`` returned `Ignore`).
    """

    __slots__ = ("args", "id", "proc", "restart_count", "spec", "starts")

    def __init__(self, child_id: str, spec: ChildSpec, args: tuple[Any, ...]) -> None:
        self.id = child_id
        self.spec = spec
        self.args = args  # simple_one_for_one: the start_child arguments, reused on restart
        self.proc: Process | None = None
        self.restart_count = 0
        self.starts = 0  # start attempts: tells a stale retry (`_TryAgain`) from a current one


class SupervisorServer:
    """The behaviour of a supervisor process.

    Users never see this class: they hold a `SupervisorRef` and use the ``Supervisor`` (or
    ``DynamicSupervisor``) facade. Its processes are labelled ``Supervisor#N`` (or
    ``DynamicSupervisor#N``).
    """

    _noex_wants_nursery: Final = True
    _noex_nursery: trio.Nursery
    #: How statistics show its processes (`ProcessStatistics.kind`).
    _noex_kind: Final = "supervisor"

    def __init__(
        self,
        *,
        specs: list[ChildSpec],
        strategy: Strategy,
        intensity: RestartIntensity,
        template: ChildSpec | None,
        auto_shutdown: AutoShutdown,
        max_children: float,
        dynamic: bool = False,
    ) -> None:
        self.strategy = strategy
        #: A DynamicSupervisor (its facade refuses other supervisors, and the reverse).
        self.dynamic = dynamic
        #: Children without ids of their own (simple_one_for_one, DynamicSupervisor).
        self.anonymous = dynamic or strategy == "simple_one_for_one"
        self.intensity = intensity
        self.template = template
        self.auto_shutdown = auto_shutdown
        self.max_children = max_children
        #: Children in start order, by id; and by their current ref.
        self.children: dict[str, Child] = {}
        self.by_ref: dict[Process, Child] = {}
        #: Host protocol: every live process of the nursery (children and strays).
        self.procs: dict[Process, None] = {}
        self.nursery: trio.Nursery
        #: The error of the child whose start made ``init`` fail (raised by ``Supervisor.start``).
        self.start_error: Exception | None = None
        #: How crash logs name this supervisor (the host protocol's label).
        self.label = "DynamicSupervisor" if dynamic else "Supervisor"
        #: How statistics name its behaviour (`ProcessStatistics.behaviour`).
        self._noex_name = self.label
        self._specs = specs
        self._proc: Process | None = None
        self._last_id = 0  # anonymous children are child_1, child_2, ...
        self._changed: trio.Event | None = None
        #: The child whose ``start`` runs now (its new process is in no table yet).
        self._starting: Child | None = None

    @property
    def proc(self) -> Process:
        assert self._proc is not None  # set first thing in init, dropped at the exit
        return self._proc

    def changed(self) -> trio.Event:
        """An event set at the next change of the children table (or exit of the supervisor)."""
        if self._changed is None:
            self._changed = trio.Event()
        return self._changed

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    # -- host protocol --

    def child_exited(self, proc: Process, reason: ExitReason) -> None:
        """A process of the nursery exited (called in its exit sequence, synchronously).

        A child that is not restarted leaves the table now, so that whoever saw the exit
        (``await GenServer.stop(child)`` returned) also sees it in ``get_children``; a restart
        is queued behind earlier requests (OTP order). A stopping supervisor ignores exits.
        """
        child = self.by_ref.get(proc)
        if child is None or self._shutting_down():
            return  # a stray, or a child this supervisor stopped itself
        restart = child.spec.restart
        if restart == "permanent" or (restart == "transient" and is_crash(reason)):
            self.proc.deliver_info(ChildExit(proc, reason))
            return
        self._remove(child)  # transient after a clean exit, temporary always
        if child.spec.significant and self._auto_shutdown_due():
            self.proc.deliver_info(_AutoShutdown())

    def restart_count(self, proc: Process) -> int:
        """Host protocol: the restart count of the child `proc` is (or was, while its restart
        is under way); 0 for a process that is not a child."""
        child = self.by_ref.get(proc)
        if child is None:
            child = next((c for c in self.children.values() if c.proc is proc), None)
        if child is None and proc.host is self:
            child = self._starting  # (started by the child's start function, init under way)
        return 0 if child is None else child.restart_count

    # -- statistics --

    def _noex_statistics(self, fields: dict[str, Any], now: float) -> SupervisorStatistics:
        """``sup.statistics()``: the process's `fields` and the supervisor's own figures."""
        running = sum(
            1
            for child in self.children.values()
            if child.proc is not None and child.proc in self.procs
        )
        intensity = self.intensity
        return SupervisorStatistics(
            **fields,
            strategy=self.strategy,
            children_running=running,
            children_not_running=len(self.children) - running,
            restarts_in_window=intensity.in_window(now),
            restarts_total=intensity.total,
            max_restarts=intensity.max_restarts,
            max_seconds=intensity.max_seconds,
        )

    def _on_exit(self, reason: ExitReason) -> None:
        # Runs in every exit path, after terminate. Children are shielded processes: if
        # terminate did not get to all of them (it is skipped on "killed" and bounded by the
        # supervisor's own budget), kill the rest now or the nursery would never close.
        for proc in list(self.procs):
            proc.kill("shutdown", "brutal_kill")
        # A dead SupervisorRef must not keep the old tree alive, and the supervisor must not
        # be cyclic garbage: drop the table, the ref (ref -> behaviour -> ref) and the nursery
        # (behaviour -> nursery -> its task's context -> ref). Nothing spawns here any more.
        self.children.clear()
        self.by_ref.clear()
        self._notify()
        self._proc = None
        del self.nursery, self._noex_nursery

    # -- callbacks --

    async def init(self) -> None:
        """Start the static children in order; on a failure stop them in reverse and raise."""
        ref = current_process()
        assert ref is not None
        self._proc = ref
        self.label = ref.label
        self.nursery = self._noex_nursery
        ref.add_exit_hook(_EXIT_HOOK, self._on_exit)
        specs, self._specs = self._specs, []
        try:
            for spec in specs:
                child = Child(spec.id, spec, ())
                if await self._start(child) is not None or spec.restart != "temporary":
                    self._add(child)  # an ignored child is kept as not running (OTP)
            await trio.lowlevel.checkpoint_if_cancelled()  # a cancelled start stops them all
        except BaseException as exc:
            with trio.CancelScope(shield=True):
                await self._stop_children()
                # A start cancelled after its process began (the child is not in the table
                # yet) leaves a stray; the nursery would never close with it running.
                await self._stop_strays()
            if isinstance(exc, Exception):
                self.start_error = exc
            raise

    async def handle_call(self, msg: object, state: None) -> tuple[object, None]:
        try:
            if type(msg) is StartChild:
                reply: object = await self._start_child(msg)
            elif type(msg) is TerminateChild:
                await self._terminate_child(self._get(msg.child_id))
                reply = None
            else:
                assert type(msg) is RestartChild
                reply = await self._restart_child(self._get(msg.child_id))
        except Exception as exc:  # the request failed, not the supervisor
            # Returned, not stored in a local: the traceback holds this frame.
            return Failed(exc), state
        return reply, state

    def handle_cast(self, msg: object, state: None) -> None:  # pragma: no cover
        raise AssertionError("supervisors take no casts (the facades never send one)")

    async def handle_info(self, msg: object, state: None) -> Stop[None] | None:
        if type(msg) is ChildExit:
            child = self.by_ref.get(msg.proc)
            if child is None or self._shutting_down():
                return state  # stopped by this supervisor meanwhile, or stopping
            return await self._restart(child, msg.reason, state)
        if type(msg) is _AutoShutdown:
            return state if self._shutting_down() else Stop("shutdown", state)
        if type(msg) is Exit:
            if self._from_parent(msg.ref):
                # OTP: a supervisor traps exits, and a gen_server that traps exits stops with
                # the reason of an exit signal from its parent (terminate stops the children).
                return Stop(msg.reason, state)
            # A link to a process that is not a child (children report through the host
            # protocol), or a signal from a stranger, never takes the supervisor down (OTP).
            logger.debug("%s ignores the exit signal of %r", self.label, msg.ref)
            return state
        if type(msg) is _TryAgain:
            child = self.children.get(msg.child_id)
            if child is None or child.starts != msg.starts or self._shutting_down():
                return state  # removed, started again meanwhile, or stopping
            return await self._restart(child, msg.error, state)
        logger.warning("%s got unexpected %r; dropped", self.label, msg)
        return state

    async def terminate(self, reason: ExitReason, state: None) -> None:
        """Stop every child in reverse start order within its budget, then any stray."""
        children = [child for child in self.children.values() if child.proc is not None]
        if self.anonymous:
            # Unordered children stop concurrently (OTP's simple_one_for_one, Elixir's
            # DynamicSupervisor), each within its own budget.
            for child in reversed(children):
                assert child.proc is not None
                child.proc.kill("shutdown", child.spec.shutdown)
            for child in children:
                assert child.proc is not None
                await child.proc.wait_exited()
        else:
            await self._stop_children()
        for proc in reversed(list(self.procs)):
            await shutdown(proc, "shutdown")

    # -- starting --

    async def _start(self, child: Child) -> Process | None:
        """Run the child's ``start`` with this supervisor as host; the new process becomes
        current (None: ``init`` returned `Ignore`, the child is not running)."""
        child.starts += 1
        token = host_var.set(self)
        self._starting = child
        try:
            ref: object = child.spec.start(*child.args)
            if inspect.isawaitable(ref):
                ref = await ref
            if ref is None:
                child.proc = None
                return None
            if not isinstance(ref, ProcessRef):
                raise InvalidChildSpecError(
                    f"start of child {child.id!r} must return a GenServerRef or SupervisorRef "
                    f"(or None for a child whose init returned Ignore), got {ref!r}"
                )
            proc = process_of(ref)
            if proc.host is not self or proc in self.by_ref:
                raise InvalidChildSpecError(
                    f"start of child {child.id!r} returned {ref!r}, which it did not start; "
                    "start the child with GenServer.start or Supervisor.start inside it"
                )
        except Exception:
            await self._stop_strays()
            raise
        finally:
            host_var.reset(token)
            self._starting = None
        child.proc = proc
        return proc

    def _add(self, child: Child) -> None:
        self.children[child.id] = child
        if child.proc is not None:
            self.by_ref[child.proc] = child
        self._notify()

    def _remove(self, child: Child) -> None:
        del self.children[child.id]
        if child.proc is not None:
            self.by_ref.pop(child.proc, None)
        self._notify()

    def _get(self, child_id: str | ProcessRef) -> Child:
        if isinstance(child_id, ProcessRef):  # a DynamicSupervisor's child, by its ref
            proc = process_of(child_id)
            child = self.by_ref.get(proc)
            if child is None:  # exited, and its restart is under way (Elixir finds it too)
                child = next((c for c in self.children.values() if c.proc is proc), None)
        else:
            child = self.children.get(child_id)
        if child is None:
            raise ChildNotFoundError(self.proc.ref, child_id)
        return child

    async def _start_child(self, msg: StartChild) -> ProcessRef | None:
        spec = msg.spec if msg.spec is not None else self.template
        assert spec is not None  # the facade sends a spec unless there is a template
        if self.anonymous:
            if len(self.children) >= self.max_children:
                raise MaxChildrenError(self.proc.ref, int(self.max_children))
            child = Child(f"child_{self._last_id + 1}", spec, msg.args)
        else:
            if spec.id in self.children:
                raise DuplicateChildError(self.proc.ref, spec.id)
            child = Child(spec.id, spec, ())
        proc = await self._start(child)
        if proc is None:
            # Ignored: a static child is kept as not running, unless temporary (OTP); an
            # anonymous one leaves no trace (OTP's simple_one_for_one, DynamicSupervisor).
            if not self.anonymous and spec.restart != "temporary":
                self._add(child)
            return None
        if self.anonymous:
            self._last_id += 1
        self._add(child)
        return proc.ref

    # -- stopping --

    async def _stop(self, child: Child) -> None:
        """Stop a child the supervisor decided to stop: its exit notice becomes stale."""
        proc = child.proc
        if proc is None:
            return  # not running
        self.by_ref.pop(proc, None)
        await shutdown(proc, "shutdown", child.spec.shutdown)

    async def _stop_children(self) -> None:
        for child in reversed(list(self.children.values())):
            await self._stop(child)

    async def _stop_strays(self) -> None:
        """Stop processes a failed ``start`` left in the nursery (not anyone's current ref)."""
        strays = [proc for proc in self.procs if proc not in self.by_ref]
        for proc in reversed(strays):
            await shutdown(proc, "shutdown")

    async def _terminate_child(self, child: Child) -> None:
        self._remove(child)
        await self._stop(child)

    async def _restart_child(self, child: Child) -> ProcessRef | None:
        await self._stop(child)
        child.restart_count += 1
        try:
            proc = await self._start(child)
        except Exception:
            self._remove(child)
            raise
        if proc is None:  # ignored again: kept as not running
            self._notify()
            return None
        self.by_ref[proc] = child
        self._notify()
        kernel = self.proc.kernel
        kernel.restarts += 1
        kernel.emit(Restarted(proc.ref, child.restart_count))
        return proc.ref

    # -- exits and restarts --

    def _shutting_down(self) -> bool:
        """True once a stop was requested or began, or the runtime is ending (it is closing,
        or escalating a give-up or a Ctrl-C): no restarts."""
        proc = self._proc
        return proc is None or proc.status > RUNNING or proc.kernel.closing

    def _from_parent(self, sender: object) -> bool:
        """Is an exit signal from `sender` one from this supervisor's parent?

        The parent of a child supervisor is its own supervisor; a supervisor started outside
        any supervisor belongs to the code that opened the runtime: a signal sent from plain
        Trio code (`sender` None) is its parent's.
        """
        host = self.proc.host
        if isinstance(host, SupervisorServer):
            return host._proc is not None and sender is host._proc.ref
        return sender is None

    def _auto_shutdown_due(self) -> bool:
        if self.auto_shutdown == "any_significant":
            return True
        assert self.auto_shutdown == "all_significant"  # significant is refused with "never"
        return not any(
            child.spec.significant and child.proc is not None for child in self.children.values()
        )

    async def _restart(self, child: Child, cause: object, state: None) -> Stop[None] | None:
        """Restart `child` (and, by strategy, its siblings) after it exited with `cause`."""
        if not self.intensity.add_restart(trio.current_time()):
            error = MaxRestartsExceededError(
                self.proc.ref, self.intensity.max_restarts, self.intensity.max_seconds
            )
            if isinstance(cause, BaseException):
                error.__cause__ = cause
            return Stop(error, state)
        child.restart_count += 1
        if child.proc is not None:
            self.by_ref.pop(child.proc, None)
        group = [child]
        if self.strategy in ("one_for_all", "rest_for_one"):
            group = await self._stop_siblings(child)
        kernel = self.proc.kernel
        for member in group:
            try:
                proc = await self._start(member)
            except Exception as exc:
                logger.error(
                    "%s failed to restart child %r; trying again",
                    self.label,
                    member.id,
                    exc_info=exc,
                )
                if not self._shutting_down():
                    self.proc.deliver_info(_TryAgain(member.id, member.starts, exc))
                return state
            if proc is None:
                # Ignored: not running from now on (OTP); an anonymous child is dropped
                # (Elixir's DynamicSupervisor).
                if self.anonymous:
                    self._remove(member)
                else:
                    self._notify()
                continue
            self.by_ref[proc] = member
            self._notify()
            kernel.restarts += 1
            kernel.emit(Restarted(proc.ref, member.restart_count))
        return state

    async def _stop_siblings(self, child: Child) -> list[Child]:
        """one_for_all / rest_for_one: stop the siblings `child` takes down with it, in reverse
        start order; return the children to start again, in start order (those not running
        are tried again too, as OTP does)."""
        children = list(self.children.values())
        if self.strategy == "rest_for_one":
            children = children[children.index(child) :]
        for sibling in reversed(children):
            if sibling is not child:
                await self._stop(sibling)
                if sibling.spec.restart == "temporary":
                    self._remove(sibling)  # OTP: never restarted, not even with the others
        return [member for member in children if member.id in self.children]


# --- for the facades (Supervisor, DynamicSupervisor) ------------------------------------------


def check_supervisor(target: object, found: object) -> SupervisorRef:
    """`found` (what `target` names) as a `SupervisorRef`, or a `TypeError`."""
    if not isinstance(found, SupervisorRef):
        raise checks.type_error("sup", "a SupervisorRef or a supervisor's name", target)
    return found


def server_of(target: object, dynamic: bool | None) -> tuple[Process, SupervisorServer]:
    """Resolve a running supervisor and its behaviour (the children table).

    `dynamic`: True for the DynamicSupervisor facade, False for the Supervisor one (each
    refuses the other's supervisors), None for functions that take both.

    Raises:
        TypeError: not a supervisor, or not of the kind the facade manages.
        ServerNotRunningError: the supervisor is not running.
    """
    proc = resolve(target, system=True)
    check_supervisor(target, proc.ref)
    if dynamic is not None:
        check_kind(target, proc, dynamic)
    if not proc.ref.is_running():
        raise proc.not_running(target)
    return proc, cast(SupervisorServer, proc.behaviour)


def check_kind(target: object, proc: object, dynamic: bool) -> None:
    """Refuse a DynamicSupervisor to the Supervisor facade's id-based functions, and a
    Supervisor to the DynamicSupervisor facade."""
    server = getattr(proc, "behaviour", None)  # (none for a ref unpickled elsewhere)
    if not isinstance(server, SupervisorServer) or server.dynamic == dynamic:
        return
    if dynamic:
        raise checks.type_error("sup", "a DynamicSupervisor (its ref or name)", target)
    raise TypeError(
        checks.message("sup", "a Supervisor (its ref or name)", target)
        + "; manage a DynamicSupervisor's children with the DynamicSupervisor functions"
    )


async def running_server(target: object, dynamic: bool | None) -> tuple[Process, SupervisorServer]:
    """`server_of` for the async functions: a checkpoint also when the supervisor is gone."""
    try:
        return server_of(target, dynamic)
    except ServerNotRunningError:
        await trio.lowlevel.checkpoint()
        raise


async def request(proc: Process, message: object) -> object:
    """Send a request to the supervisor; raise the error it reports."""
    reply = await call(proc.ref, message, math.inf, system=True)
    if type(reply) is not Failed:
        return reply
    error = reply.error
    del reply
    try:
        raise error
    finally:
        del error  # its traceback holds this frame
