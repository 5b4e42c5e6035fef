"""The runtime: the root nursery every process lives under, and the services scoped to it.

``async with open_runtime() as rt:`` opens a nursery, makes `rt` the *current runtime* for
every task started inside (a `ContextVar`, so two runtimes side by side share nothing), and on
the way out stops every process in reverse start order before the nursery closes. The facades
(`GenServer`, `Registry`, ...) find the runtime through `current_runtime`.

The runtime is also the last line of escalation: a top-level supervisor that gives up, or a
``KeyboardInterrupt`` raised inside a process, cancels the body of the ``async with``; after the
ordered shutdown the error is raised from it as is (never wrapped in an ExceptionGroup).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from ._call_timeouts import Watchdog
from ._exceptions import MaxRestartsExceededError, NoexError, NoRuntimeError
from ._process import AnyRef, shutdown
from ._registry import RegistryInstance
from ._results import ExitReason, LifecycleEvent

if TYPE_CHECKING:
    from ._event_bus import EventBusRef

logger: Final = logging.getLogger("noex_trio")

_current_runtime: ContextVar[Runtime | None] = ContextVar("noex_trio_runtime", default=None)


@attrs.frozen(kw_only=True)
class RuntimeStatistics:
    """A snapshot of a runtime, for observers and leak checks."""

    #: Processes alive (started and not yet exited), services included.
    processes: int
    #: Names in ``rt.registry``.
    registered_names: int
    #: Casts and notices dropped because their target died before handling them.
    dead_letters: int


class _RootHost:
    """The host of processes started outside any supervisor."""

    label = "none"

    def __init__(self, runtime: Runtime, nursery: trio.Nursery) -> None:
        self.runtime = runtime
        self.nursery = nursery
        self.procs: dict[AnyRef, None] = {}

    def child_exited(self, proc: AnyRef, reason: ExitReason) -> None:
        if isinstance(reason, MaxRestartsExceededError) and reason.supervisor is proc:
            # A top-level supervisor gave up: the application cannot go on.
            self.runtime._escalate(reason)


class Runtime:
    """One independent world of processes, names and event buses.

    Created by `open_runtime`; use it as ``async with open_runtime() as rt:``.

    Attributes:
        name: a label for logs.
        registry: the runtime's name registry (what the `Registry` facade uses).
    """

    def __init__(self, name: str | None = None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {name!r}")
        self.name = name or "runtime"
        self.registry: RegistryInstance = RegistryInstance(keys="unique", name="names")
        self._ids = itertools.count(1)
        self._live: dict[AnyRef, None] = {}
        self._handlers: dict[object, Callable[[LifecycleEvent], object]] = {}
        self._dead_letters = 0
        self._fatal: BaseException | None = None
        self._closing = False
        self._entered = False
        self._root: _RootHost | None = None
        self._services: list[AnyRef] = []
        self._event_bus: EventBusRef | None = None
        self._nursery_cm: Any = None
        self._body_scope: trio.CancelScope | None = None
        self._token: Token[Runtime | None] | None = None
        self._watchdog = Watchdog()

    def __repr__(self) -> str:
        return f"<Runtime {self.name!r}>"

    # -- public --

    @property
    def event_bus(self) -> EventBusRef:
        """The default EventBus, started with the runtime and stopped after every process."""
        if self._event_bus is None:
            raise NoexError(f"{self!r} is not running")
        return self._event_bus

    def on_lifecycle_event(self, handler: Callable[[LifecycleEvent], object]) -> Callable[[], None]:
        """Call `handler(event)` for every `Started`/`Crashed`/`Terminated`/`Restarted` event.

        Handlers run synchronously where the event happens; one that raises is logged and the
        others still run. Returns a sync, idempotent ``unsubscribe()``.
        """
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        key = object()
        self._handlers[key] = handler

        def unsubscribe() -> None:
            self._handlers.pop(key, None)

        return unsubscribe

    def processes(self) -> list[AnyRef]:
        """Every live process of this runtime, in start order."""
        return list(self._live)

    def statistics(self) -> RuntimeStatistics:
        """Counts an observer (or a leak check) may want."""
        return RuntimeStatistics(
            processes=len(self._live),
            registered_names=self.registry.count(),
            dead_letters=self._dead_letters,
        )

    # -- internals --

    def _next_id(self) -> int:
        return next(self._ids)

    @property
    def _host(self) -> _RootHost:
        if self._root is None or (self._closing and not self._root.procs):
            raise NoexError(f"{self!r} is not running")
        return self._root

    def _emit(self, event: LifecycleEvent) -> None:
        if not self._handlers:
            return
        for handler in list(self._handlers.values()):
            try:
                handler(event)
            except Exception:
                logger.exception("lifecycle handler %r raised on %r", handler, event)

    def _escalate(self, error: BaseException) -> None:
        """End the runtime: cancel the ``async with`` body; `error` is raised from its exit."""
        self._closing = True  # from now on supervisors restart nothing
        if self._fatal is None:
            self._fatal = error
        assert self._body_scope is not None  # only processes escalate, inside the runtime
        self._body_scope.cancel()

    async def _shutdown(self) -> None:
        """Stop every process in reverse start order, then the services."""
        self._closing = True
        root = self._root
        assert root is not None
        while root.procs:  # a terminate may start a process; stop that one too
            procs = [p for p in root.procs if p not in self._services] or list(root.procs)
            for proc in reversed(procs):
                await shutdown(proc, "shutdown")

    async def __aenter__(self) -> Runtime:
        if self._entered:
            raise NoexError(f"{self!r} was already entered; open a new runtime instead")
        self._entered = True
        self._nursery_cm = trio.open_nursery()
        nursery = await self._nursery_cm.__aenter__()
        self._root = _RootHost(self, nursery)
        await nursery.start(self._watchdog.run)
        self._token = _current_runtime.set(self)
        self._body_scope = trio.CancelScope()
        self._body_scope.__enter__()
        try:
            from ._event_bus import start_default_bus

            self._event_bus = await start_default_bus(self)
        except BaseException as exc:
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._body_scope is not None
        assert self._root is not None
        # The body scope only swallows the cancellation `_escalate` caused, and then a fatal
        # error is recorded and raised below: the runtime never suppresses an exception.
        # If the body also raised something else (say a call failing as the tree goes down),
        # the cancelled scope's __exit__ raises that remainder: keep it for after the
        # shutdown, which must run in every case.
        body_error: BaseException | None = None
        try:
            self._body_scope.__exit__(exc_type, exc, tb)
        except BaseException as error:
            body_error = error
        try:
            with trio.CancelScope(shield=True):
                await self._shutdown()
            self._root.nursery.cancel_scope.cancel()  # timers and helper tasks
            await self._nursery_cm.__aexit__(None, None, None)
        finally:
            assert self._token is not None
            _current_runtime.reset(self._token)
        fatal = self._fatal
        if fatal is not None:
            self._fatal = None
            raise fatal
        if body_error is not None:  # pragma: no cover - only `_escalate` cancels the body
            raise body_error


def open_runtime(name: str | None = None) -> Runtime:
    """Open a runtime: ``async with open_runtime() as rt: ...``.

    Inside the block the facades (`GenServer`, `Supervisor`, `Registry`, `EventBus`) act on
    `rt`. Leaving it stops every process in reverse start order (each runs
    ``terminate("shutdown")`` within its shutdown budget), then the event buses.

    Args:
        name: a label for logs and the runtime's ``repr``.

    Raises (from the ``async with``):
        MaxRestartsExceededError: a top-level supervisor gave up; the tree was shut down first.
        KeyboardInterrupt: Ctrl-C; the tree was shut down in order first.

    If the block is cancelled from outside, the ordered shutdown still runs (shielded, each
    process within its budget) before the cancellation propagates.
    """
    return Runtime(name)


def current_runtime() -> Runtime:
    """The runtime of the calling task.

    Raises:
        NoRuntimeError: outside ``async with open_runtime()``.
    """
    runtime = _current_runtime.get()
    if runtime is None:
        raise NoRuntimeError()
    return runtime
