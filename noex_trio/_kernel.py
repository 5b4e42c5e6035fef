"""The runtime's internal state, as the process core sees it.

`Runtime` (``_runtime.py``) is what users hold; behind it, one `Kernel` per runtime counts
process ids, knows the live processes, runs the lifecycle handlers, counts dead letters, times
out calls (its `Watchdog`), and takes the errors that must end the runtime (`escalate`). Process
records point at their kernel; the context variable `runtime_var` holds it.
"""

from __future__ import annotations

import itertools
import logging
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import trio

from ._call_timeouts import Watchdog
from ._exceptions import NoexError
from ._outcome import find_fatal
from ._results import LifecycleEvent
from ._safe_format import safe_repr

if TYPE_CHECKING:
    from ._process import Host, Process
    from ._registry import RegistryInstance
    from ._remote_ref import Distribution
    from ._runtime import Runtime

logger: Final = logging.getLogger("noex_trio")

#: Kernels by uid, so that an unpickled ref finds its process again (same program only).
kernels: weakref.WeakValueDictionary[int, Kernel] = weakref.WeakValueDictionary()
_uids = itertools.count(1)


class Kernel:
    """The state of one runtime that processes and services share (see the module docstring)."""

    def __init__(self, runtime: Runtime, registry: RegistryInstance) -> None:
        self.runtime = runtime
        self.registry = registry
        self.uid = next(_uids)
        kernels[self.uid] = self
        self._ids = itertools.count(1)
        #: Live processes by id, in start order.
        self.live: dict[int, Process] = {}
        self.handlers: dict[object, Callable[[LifecycleEvent], object]] = {}
        #: ``observer(proc, seconds)`` for every answered call, while an observer times calls
        #: (the web endpoint's latency histogram); empty otherwise, and the call path only
        #: tests that.
        self.call_observers: dict[object, Callable[[Process, float], object]] = {}
        #: The nurseries of processes that own tasks (``owns_tasks``), while init and the loop
        #: run: kept here, not in every record, so that other processes pay nothing.
        self.task_nurseries: dict[Process, trio.Nursery] = {}
        self.dead_letters = 0
        #: Abnormal exits (what a `Crashed` event reports) and restarts of children (what a
        #: `Restarted` event reports) since the runtime opened.
        self.crashes = 0
        self.restarts = 0
        #: The error the runtime ends with (a top-level give-up, a Ctrl-C), raised from its exit.
        self.fatal: BaseException | None = None
        #: True once the runtime is ending: supervisors restart nothing any more.
        self.closing = False
        #: True once the ordered shutdown runs (leaving ``async with open_runtime()``).
        self.shutting_down = False
        #: True once a Ctrl-C arrived during the shutdown: the rest is killed, no terminate.
        self.hurried = False
        self.root: Host | None = None
        self.watchdog = Watchdog()
        #: What handles remote targets once the runtime joined a cluster (``_distribution``).
        self.distribution: Distribution | None = None
        #: Cancelled by `escalate`: the body of ``async with open_runtime()``.
        self.body_scope: trio.CancelScope | None = None

    def __repr__(self) -> str:
        return repr(self.runtime)

    def next_id(self) -> int:
        return next(self._ids)

    def host(self) -> Host:
        """Where processes started outside any supervisor live (the runtime's root)."""
        root = self.root
        if root is None or (self.closing and not root.procs):
            raise NoexError(f"{self.runtime!r} is not running")
        return root

    def count_dead_letters(self, count: int) -> None:
        self.dead_letters += count

    @trio.lowlevel.enable_ki_protection
    def emit(self, event: LifecycleEvent) -> None:
        """Run every lifecycle handler; one that raises is logged (a fatal one escalates)."""
        if not self.handlers:
            return
        for handler in list(self.handlers.values()):
            try:
                _call_handler(handler, event)
            except BaseException as exc:
                fatal = find_fatal(exc)
                if fatal is not None:
                    self.escalate(fatal)
                    continue
                logger.error(
                    "lifecycle handler %s raised on %s",
                    safe_repr(handler),
                    safe_repr(event),
                    exc_info=exc,
                )

    @trio.lowlevel.enable_ki_protection
    def escalate(self, error: BaseException) -> None:
        """End the runtime: cancel the ``async with`` body; `error` is raised from its exit
        after the ordered shutdown. The first error wins."""
        self.closing = True  # from now on supervisors restart nothing
        first = self.fatal
        if first is None:
            self.fatal = error
        if self.body_scope is not None:
            self.body_scope.cancel()
        if (
            self.shutting_down
            and isinstance(error, KeyboardInterrupt)
            and isinstance(first, KeyboardInterrupt)
        ):
            self.hurry()  # a second Ctrl-C

    @trio.lowlevel.enable_ki_protection
    def hurry(self) -> None:
        """A second Ctrl-C during the shutdown: kill every process still running, no
        ``terminate`` (and cut short the ones running it)."""
        self.hurried = True
        for proc in list(self.live.values()):
            proc.kill("killed", "brutal_kill")


@trio.lowlevel.disable_ki_protection
def _call_handler(handler: Callable[[Any], object], event: object) -> None:
    """User code runs without the library's Ctrl-C protection."""
    handler(event)
