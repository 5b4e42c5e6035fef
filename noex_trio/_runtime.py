"""The runtime: the root nursery every process lives under, and the services scoped to it.

``async with open_runtime() as rt:`` opens a nursery, makes `rt` the *current runtime* for
every task started inside (a `ContextVar`, so two runtimes side by side share nothing), and on
the way out stops every process in reverse start order before the nursery closes. The facades
(`GenServer`, `Registry`, ...) find the runtime through `current_runtime`.

The runtime is also the last line of escalation: a top-level supervisor that gives up, or a
``KeyboardInterrupt``/``SystemExit`` raised anywhere in user code run by the library, cancels
the body of the ``async with``; after the ordered shutdown the error is raised from it as is
(never wrapped in an ExceptionGroup). A second Ctrl-C during the shutdown hurries it: the
processes still running are killed without ``terminate``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from contextvars import Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, final

import attrs
import trio

from . import _checks as checks
from ._context import current_runtime, reset_library_context, runtime_var
from ._exceptions import MaxRestartsExceededError, NoexError
from ._handles import NoPublicConstructor
from ._kernel import Kernel
from ._outcome import find_fatal
from ._process import Process, ProcessRef
from ._registry import RegistryInstance
from ._results import ExitReason, LifecycleEvent

if TYPE_CHECKING:
    from ._refs import EventBusRef
    from ._snapshot import RuntimeSnapshot
    from .cluster import Node


@attrs.frozen(kw_only=True)
class RuntimeStatistics:
    """A snapshot of a runtime, for observers and leak checks."""

    #: Processes alive (started and not yet exited), services included.
    processes: int
    #: Names in ``rt.registry``.
    registered_names: int
    #: Casts (timer messages included) dropped because their target died before handling them.
    #: The library's own notices (a `Down`, a child's exit to a dying supervisor) are not
    #: counted.
    dead_letters: int
    #: Abnormal exits since the runtime opened (each one sent a `Crashed` event).
    crashes: int = 0
    #: Children restarted by their supervisors since the runtime opened (each one sent a
    #: `Restarted` event; a one_for_all restart of three children counts three).
    restarts: int = 0


class _RootHost:
    """The host of processes started outside any supervisor."""

    label = "none"

    def __init__(self, kernel: Kernel, nursery: trio.Nursery) -> None:
        self.kernel = kernel
        self.nursery = nursery
        self.procs: dict[Process, None] = {}

    def child_exited(self, proc: Process, reason: ExitReason) -> None:
        if isinstance(reason, MaxRestartsExceededError) and reason.supervisor is proc.ref:
            # A top-level supervisor gave up: the application cannot go on.
            self.kernel.escalate(reason)


#: Starts the default EventBus of a runtime (the services layer knows how; see `open_runtime`).
BusStarter = Callable[[], Awaitable["EventBusRef"]]
#: Takes a snapshot of a runtime (the layer above the services knows how; see `open_runtime`).
Observer = Callable[[Kernel], "RuntimeSnapshot"]
#: Joins the runtime of a kernel to its cluster (``_distribution.open_distribution``).
NodeOpener = Callable[[Kernel], AbstractAsyncContextManager[Any]]


@final
class Runtime(metaclass=NoPublicConstructor):
    """One independent world of processes, names and event buses.

    Made by `open_runtime`; use it as ``async with open_runtime() as rt:``.

    Attributes:
        name: a label for logs.
        registry: the runtime's name registry (what the `Registry` facade uses).
    """

    def __init__(
        self,
        name: str | None,
        start_default_bus: BusStarter,
        observe: Observer,
        open_node: NodeOpener | None = None,
    ) -> None:
        if name is not None:
            name = checks.instance(name, "name", str, expected="a str or None")
        self.name = name or "runtime"
        self._start_default_bus = start_default_bus
        self._observe = observe
        self.registry: RegistryInstance = RegistryInstance(keys="unique", name="names")
        self._kernel = Kernel(self, self.registry)
        self._entered = False
        self._event_bus: EventBusRef | None = None
        self._nursery_cm: Any = None
        self._open_node = open_node
        self._node_cm: AbstractAsyncContextManager[Any] | None = None
        self._node: Any = None
        self._token: Token[Kernel | None] | None = None
        self._watchdog_scope = trio.CancelScope(shield=True)

    def __repr__(self) -> str:
        return f"<Runtime {self.name!r}>"

    # -- public --

    @property
    def event_bus(self) -> EventBusRef:
        """The default EventBus, started with the runtime and stopped after every process."""
        if self._event_bus is None:
            raise NoexError(f"{self!r} is not running")
        return self._event_bus

    @property
    def node(self) -> Node | None:
        """This runtime's node of a cluster (``open_runtime(cluster=...)``), or None."""
        node: Node | None = self._node
        return node

    def on_lifecycle_event(self, handler: Callable[[LifecycleEvent], object]) -> Callable[[], None]:
        """Call `handler(event)` for every `Started`/`Crashed`/`Terminated`/`Restarted` event.

        Handlers run synchronously where the event happens; one that raises is logged and the
        others still run (a `KeyboardInterrupt`/`SystemExit` ends the runtime, in order).
        Returns a sync, idempotent ``unsubscribe()``.
        """
        checks.callable_(handler, "handler")
        key = object()
        handlers = self._kernel.handlers
        handlers[key] = handler

        def unsubscribe() -> None:
            handlers.pop(key, None)

        return unsubscribe

    def processes(self) -> list[ProcessRef]:
        """Every live process of this runtime, in start order."""
        return [proc.ref for proc in self._kernel.live.values()]

    def statistics(self) -> RuntimeStatistics:
        """Counts an observer (or a leak check) may want."""
        kernel = self._kernel
        return RuntimeStatistics(
            processes=len(kernel.live),
            registered_names=self.registry.count(),
            dead_letters=kernel.dead_letters,
            crashes=kernel.crashes,
            restarts=kernel.restarts,
        )

    def snapshot(self) -> RuntimeSnapshot:
        """The whole runtime now, as plain data: the process tree (supervisors with their
        children, every process with its `ProcessStatistics`), the calls processes are waiting
        in, and the wait-for cycles among them (deadlocks). ``snapshot.to_dict()`` is the same
        as JSON-ready dicts and lists. See `RuntimeSnapshot`.

        Sync and read-only; it can be taken from any task of the runtime, at any time.
        """
        return self._observe(self._kernel)

    def dump(self) -> str:
        """The snapshot as readable text, like a JVM thread dump: every process with its
        status, mailbox and the call it serves, the calls each one waits in (whom, since when),
        and the wait-for cycles (deadlocks). To print it on demand from a running program, see
        `dump_on_signal`."""
        return self.snapshot().to_text()

    # -- entering and leaving --

    async def __aenter__(self) -> Runtime:
        if self._entered:
            raise NoexError(f"{self!r} was already entered; open a new runtime instead")
        self._entered = True
        kernel = self._kernel
        self._nursery_cm = trio.open_nursery()
        nursery = await self._nursery_cm.__aenter__()
        kernel.root = _RootHost(kernel, nursery)
        self._token = runtime_var.set(kernel)
        # The watchdog is shielded like processes: it must outlive a cancellation of the body,
        # so that calls made during the ordered shutdown still time out.
        await nursery.start(self._run_watchdog)
        if self._open_node is not None:
            try:
                self._node_cm = self._open_node(kernel)
                self._node = await self._node_cm.__aenter__()
            except BaseException:
                self._node_cm = None
                self._watchdog_scope.cancel()
                nursery.cancel_scope.cancel()
                await self._nursery_cm.__aexit__(None, None, None)
                runtime_var.reset(self._token)
                raise
        kernel.body_scope = trio.CancelScope()
        kernel.body_scope.__enter__()
        try:
            self._event_bus = await self._start_default_bus()
        except BaseException as exc:
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def _run_watchdog(self, *, task_status: trio.TaskStatus[None]) -> None:
        reset_library_context()
        with self._watchdog_scope:
            await self._kernel.watchdog.run(task_status=task_status)

    @trio.lowlevel.enable_ki_protection
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        kernel = self._kernel
        assert kernel.body_scope is not None
        # The body scope only swallows the cancellation `escalate` caused, and then a fatal
        # error is recorded and raised below: the runtime never suppresses an exception.
        # If the body also raised something else (say a call failing as the tree goes down),
        # the cancelled scope's __exit__ raises that remainder: keep it for after the
        # shutdown, which must run in every case.
        # A fatal error in the body itself (a Ctrl-C there) is recorded first, so that a second
        # one during the shutdown hurries it. What the scope's __exit__ re-raises is part of
        # `exc`: its fatal error, if any, is the one recorded here.
        fatal = find_fatal(exc) if exc is not None else None
        if fatal is not None:
            kernel.escalate(fatal)
        body_error: BaseException | None = None
        try:
            kernel.body_scope.__exit__(exc_type, exc, tb)
        except BaseException as error:
            body_error = error
        try:
            with trio.CancelScope(shield=True):
                await self._shutdown()
            if self._node_cm is not None:  # (after the processes: their exits go out)
                # Not inside the shield above: the node's nursery was opened outside it.
                # Leaving shields what must finish (the goodbye) by itself.
                await self._leave_cluster(self._node_cm)
            self._watchdog_scope.cancel()
            kernel.root.nursery.cancel_scope.cancel()  # type: ignore[union-attr]
            await self._nursery_cm.__aexit__(None, None, None)
        finally:
            assert self._token is not None
            runtime_var.reset(self._token)
            kernel.handlers.clear()  # nothing more to report; they may hold refs
        fatal = kernel.fatal
        if fatal is not None:
            kernel.fatal = None
            try:
                raise fatal
            finally:
                del fatal
        if body_error is not None:
            raise body_error

    async def _leave_cluster(self, node_cm: AbstractAsyncContextManager[Any]) -> None:
        try:
            await node_cm.__aexit__(None, None, None)
        except BaseException as error:  # (closing the NATS connection failed: keep it)
            self._kernel.escalate(error)

    async def _shutdown(self) -> None:
        """Stop every process in reverse start order, then the services (the default bus,
        started first, is stopped last). A second Ctrl-C meanwhile hurries it (`Kernel.hurry`):
        the processes still running are killed without ``terminate``."""
        kernel = self._kernel
        kernel.closing = kernel.shutting_down = True
        root = kernel.root
        assert root is not None
        while root.procs:  # a terminate may start a process; stop that one too
            procs = list(root.procs)
            services = [p for p in procs if p.ref is self._event_bus]
            procs = [p for p in procs if p.ref is not self._event_bus] or services
            for proc in reversed(procs):
                if kernel.hurried:
                    proc.kill("killed", "brutal_kill")
                else:
                    proc.kill("shutdown")
                while proc in root.procs:  # (a supervisor: until its children are gone too)
                    try:
                        await proc.wait_exited()
                    except KeyboardInterrupt as interrupt:
                        # Ctrl-C while waiting (the main task gets it); a second one hurries.
                        kernel.escalate(interrupt)


__all__ = ["Runtime", "RuntimeStatistics", "current_runtime"]
