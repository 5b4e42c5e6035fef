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
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Final, Literal

import attrs
import trio

from ._child_spec import ChildSpec
from ._context import current_process, host_var
from ._exceptions import (
    ChildNotFoundError,
    DuplicateChildError,
    InvalidChildSpecError,
    MaxChildrenError,
    MaxRestartsExceededError,
)
from ._links import Exit
from ._process import RUNNING, Process, ProcessRef, process_of
from ._refs import shutdown
from ._restart_intensity import RestartIntensity
from ._results import ExitReason, Restarted, Stop, is_crash

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
    """Call: stop a child (reason ``"shutdown"``, its budget) and remove it."""

    child_id: str


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

    __slots__ = ("child_id", "error", "proc")

    def __init__(self, child_id: str, proc: Process, error: Exception) -> None:
        self.child_id = child_id
        self.proc = proc  # the child's process when the restart failed; a newer one cancels it
        self.error = error


# --- the children table -----------------------------------------------------------------------


class Child:
    """One child: its spec, its current process, and how often it was restarted."""

    __slots__ = ("args", "id", "proc", "restart_count", "spec")

    def __init__(self, child_id: str, spec: ChildSpec, args: tuple[Any, ...]) -> None:
        self.id = child_id
        self.spec = spec
        self.args = args  # simple_one_for_one: the start_child arguments, reused on restart
        self.proc: Process | None = None
        self.restart_count = 0

    def current(self) -> Process:
        assert self.proc is not None  # set by the first start, before the child is added
        return self.proc


class SupervisorServer:
    """The behaviour of a supervisor process.

    Users never see this class: they hold a `SupervisorRef` and use the ``Supervisor`` facade.
    Its processes are labelled ``Supervisor#N``.
    """

    _noex_wants_nursery: Final = True
    _noex_nursery: trio.Nursery

    def __init__(
        self,
        *,
        specs: list[ChildSpec],
        strategy: Strategy,
        intensity: RestartIntensity,
        template: ChildSpec | None,
        auto_shutdown: AutoShutdown,
        max_children: float,
    ) -> None:
        self.strategy = strategy
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
        self.label = "Supervisor"
        self._specs = specs
        self._proc: Process | None = None
        self._last_id = 0  # simple_one_for_one: children are child_1, child_2, ...
        self._changed: trio.Event | None = None

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
                await self._start(child)
                self._add(child)
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
            # Supervisors trap exits (OTP): a link to a process that is not a child (children
            # report through the host protocol) never takes the supervisor down.
            logger.debug("%s ignores the exit of linked %r", self.label, msg.ref)
            return state
        if type(msg) is _TryAgain:
            child = self.children.get(msg.child_id)
            if child is None or child.proc is not msg.proc or self._shutting_down():
                return state  # removed, restarted by restart_child, or stopping meanwhile
            return await self._restart(child, msg.error, state)
        logger.warning("%s got unexpected %r; dropped", self.label, msg)
        return state

    async def terminate(self, reason: ExitReason, state: None) -> None:
        """Stop every child in reverse start order within its budget, then any stray."""
        children = list(self.children.values())
        if self.strategy == "simple_one_for_one":
            # Homogeneous, unordered children stop concurrently (OTP, DynamicSupervisor).
            for child in reversed(children):
                child.current().kill("shutdown", child.spec.shutdown)
            for child in children:
                await child.current().wait_exited()
        else:
            await self._stop_children()
        for proc in reversed(list(self.procs)):
            await shutdown(proc, "shutdown")

    # -- starting --

    async def _start(self, child: Child) -> Process:
        """Run the child's ``start`` with this supervisor as host; the new ref becomes current."""
        token = host_var.set(self)
        try:
            ref: object = child.spec.start(*child.args)
            if inspect.isawaitable(ref):
                ref = await ref
            if not isinstance(ref, ProcessRef):
                raise InvalidChildSpecError(
                    f"start of child {child.id!r} must return a GenServerRef or SupervisorRef, "
                    f"got {ref!r}"
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
        child.proc = proc
        return proc

    def _add(self, child: Child) -> None:
        self.children[child.id] = child
        self.by_ref[child.current()] = child
        self._notify()

    def _remove(self, child: Child) -> None:
        del self.children[child.id]
        self.by_ref.pop(child.current(), None)
        self._notify()

    def _get(self, child_id: str) -> Child:
        child = self.children.get(child_id)
        if child is None:
            raise ChildNotFoundError(self.proc.ref, child_id)
        return child

    async def _start_child(self, msg: StartChild) -> ProcessRef:
        if msg.spec is None:
            assert self.template is not None
            if len(self.children) >= self.max_children:
                raise MaxChildrenError(self.proc.ref, int(self.max_children))
            child = Child(f"child_{self._last_id + 1}", self.template, msg.args)
        else:
            if msg.spec.id in self.children:
                raise DuplicateChildError(self.proc.ref, msg.spec.id)
            child = Child(msg.spec.id, msg.spec, ())
        proc = await self._start(child)
        if msg.spec is None:
            self._last_id += 1
        self._add(child)
        return proc.ref

    # -- stopping --

    async def _stop(self, child: Child) -> None:
        """Stop a child the supervisor decided to stop: its exit notice becomes stale."""
        ref = child.current()
        self.by_ref.pop(ref, None)
        await shutdown(ref, "shutdown", child.spec.shutdown)

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

    async def _restart_child(self, child: Child) -> ProcessRef:
        await self._stop(child)
        child.restart_count += 1
        try:
            ref = await self._start(child)
        except Exception:
            self._remove(child)
            raise
        self.by_ref[ref] = child
        self._notify()
        self.proc.kernel.emit(Restarted(ref.ref, child.restart_count))
        return ref.ref

    # -- exits and restarts --

    def _shutting_down(self) -> bool:
        """True once a stop was requested or began, or the runtime is ending (it is closing,
        or escalating a give-up or a Ctrl-C): no restarts."""
        proc = self._proc
        return proc is None or proc.status > RUNNING or proc.kernel.closing

    def _auto_shutdown_due(self) -> bool:
        if self.auto_shutdown == "any_significant":
            return True
        assert self.auto_shutdown == "all_significant"  # significant is refused with "never"
        return not any(child.spec.significant for child in self.children.values())

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
        self.by_ref.pop(child.current(), None)
        group = [child]
        if self.strategy in ("one_for_all", "rest_for_one"):
            group = await self._stop_siblings(child)
        kernel = self.proc.kernel
        for member in group:
            try:
                ref = await self._start(member)
            except Exception as exc:
                logger.error(
                    "%s failed to restart child %r; trying again",
                    self.label,
                    member.id,
                    exc_info=exc,
                )
                if not self._shutting_down():
                    self.proc.deliver_info(_TryAgain(member.id, member.current(), exc))
                return state
            self.by_ref[ref] = member
            self._notify()
            kernel.emit(Restarted(ref.ref, member.restart_count))
        return state

    async def _stop_siblings(self, child: Child) -> list[Child]:
        """one_for_all / rest_for_one: stop the siblings `child` takes down with it, in reverse
        start order; return the children to start again, in start order."""
        children = list(self.children.values())
        if self.strategy == "rest_for_one":
            children = children[children.index(child) :]
        for sibling in reversed(children):
            if sibling is not child:
                await self._stop(sibling)
                if sibling.spec.restart == "temporary":
                    self._remove(sibling)  # OTP: never restarted, not even with the others
        return [member for member in children if member.id in self.children]
