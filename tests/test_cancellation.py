"""Cancelling a caller at every await point of every blocking operation leaves the runtime
consistent; KeyboardInterrupt in a busy tree shuts it down in order.

For each operation the test cancels it after 0, 1, 2, … scheduler checkpoints until it
completes uncancelled; after each attempt every name points to a live process, every
supervisor child runs, nothing was started twice, and the operation can be done again.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import (
    ChildSpec,
    EventBus,
    GenServer,
    InitializationError,
    Runtime,
    Supervisor,
    SupervisorRef,
    open_runtime,
)
from noex_trio.testing import kill

from .supervisor_helpers import Journal, settle, worker

Ref = Any


class Slow(GenServer[int, str, Any, int]):
    """Checkpoints in init, handle_call and terminate: many places to be cancelled at."""

    async def init(self) -> int:
        for _ in range(3):
            await trio.lowlevel.checkpoint()
        return 0

    async def handle_call(self, msg: str, state: int) -> tuple[int, int]:
        for _ in range(3):
            await trio.lowlevel.checkpoint()
        return state + 1, state + 1

    def handle_cast(self, msg: Any, state: int) -> int:  # pragma: no cover - never cast to
        return state

    async def terminate(self, reason: Any, state: int) -> None:
        for _ in range(3):
            await trio.lowlevel.checkpoint()


def slow_spec(child_id: str) -> ChildSpec:
    return ChildSpec(child_id, lambda: GenServer.start(Slow, name=child_id))


def assert_consistent(rt: Runtime, sup: SupervisorRef) -> None:
    live = set(rt.processes())
    for name in rt.registry.names():
        assert rt.registry.whereis(name) in live, name
    assert sup.is_running()
    for info in Supervisor.get_children(sup):
        assert info.ref is not None, info
        assert info.ref.is_running(), info
        assert info.ref in live


Operation = Callable[[Runtime, SupervisorRef, int], Awaitable[object]]


async def op_call(rt: Runtime, sup: SupervisorRef, k: int) -> object:
    return await GenServer.call("a", "incr")


async def op_start(rt: Runtime, sup: SupervisorRef, k: int) -> object:
    return await GenServer.start(Slow, name=f"started{k}")


async def op_stop(rt: Runtime, sup: SupervisorRef, k: int) -> object:
    ref = await GenServer.start(Slow)
    await GenServer.stop(ref)
    return None


async def op_publish_sync(rt: Runtime, sup: SupervisorRef, k: int) -> object:
    await EventBus.publish_sync(rt.event_bus, "t.x", k)
    return None


async def op_supervisor_start(rt: Runtime, sup: SupervisorRef, k: int) -> object:
    return await Supervisor.start([slow_spec(f"s{k}a"), slow_spec(f"s{k}b")])


async def op_start_child(rt: Runtime, sup: SupervisorRef, k: int) -> object:
    return await Supervisor.start_child(sup, slow_spec(f"extra{k}"))


async def op_terminate_child(rt: Runtime, sup: SupervisorRef, k: int) -> object:
    await Supervisor.start_child(sup, slow_spec(f"doomed{k}"))
    await Supervisor.terminate_child(sup, f"doomed{k}")
    return None


async def op_restart_child(rt: Runtime, sup: SupervisorRef, k: int) -> object:
    return await Supervisor.restart_child(sup, "b")


async def op_supervisor_stop(rt: Runtime, sup: SupervisorRef, k: int) -> object:
    other = await Supervisor.start([slow_spec(f"t{k}")])
    await Supervisor.stop(other)
    return None


OPERATIONS: list[Operation] = [
    op_call,
    op_start,
    op_stop,
    op_publish_sync,
    op_supervisor_start,
    op_start_child,
    op_terminate_child,
    op_restart_child,
    op_supervisor_stop,
]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.__name__ for op in OPERATIONS])
async def test_cancel_at_every_await_point(
    rt: Runtime, autojump_clock: trio.testing.MockClock, operation: Operation
) -> None:
    sup = await Supervisor.start([slow_spec("a"), slow_spec("b")])
    seen: list[int] = []

    async def handler(data: int, topic: str) -> None:
        await trio.lowlevel.checkpoint()
        seen.append(data)

    await EventBus.subscribe(rt.event_bus, "t.*", handler)
    completed = False
    k = 0
    while not completed:
        k += 1
        assert k < 200, "the operation never completed"
        with trio.CancelScope() as scope:

            async def cancel_after(n: int, scope: trio.CancelScope = scope) -> None:
                for _ in range(n):
                    await trio.lowlevel.checkpoint()
                scope.cancel()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(cancel_after, k)
                await operation(rt, sup, k)
                completed = True
                nursery.cancel_scope.cancel()
        with trio.fail_after(10):
            await settle()
        assert_consistent(rt, sup)
    # and the runtime still works
    assert await GenServer.call("a", "incr") >= 1
    await EventBus.publish_sync(rt.event_bus, "t.done", -1)
    assert seen[-1] == -1
    del sup


def test_keyboard_interrupt_in_a_busy_tree_shuts_it_down_in_order() -> None:
    journal = Journal()

    async def main() -> None:
        async with open_runtime():
            await Supervisor.start(
                [
                    worker(journal, "w1"),
                    Supervisor.child_spec(
                        [worker(journal, "w2", name="w2"), worker(journal, "w3")], id="sub"
                    ),
                    worker(journal, "w4", name="w4"),
                ]
            )

            async def load() -> None:
                while True:
                    await GenServer.call("w4", "tag")
                    await trio.sleep(0.001)

            async with trio.open_nursery() as nursery:
                for _ in range(4):
                    nursery.start_soon(load)
                await trio.sleep(0.1)
                await GenServer.call("w2", ("interrupt",))

    # (a plain trio.run: the interrupt must leave the runtime and the run, as Ctrl-C would)
    with pytest.raises(KeyboardInterrupt):
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    # The interrupted process cannot go on, so it stops first (and is not restarted); then the
    # rest of the tree stops in reverse start order, depth first, each with "shutdown".
    assert journal.stops() == ["w2", "w4", "w3", "w1"]
    assert set(journal.reasons().values()) == {"shutdown"}


# --- a start cancelled while init runs ---------------------------------------------------------


class BlockingInit(GenServer[Any, Any, Any, int]):
    """init waits forever; with ``"convert"`` it answers its cancellation with its own error."""

    async def init(self, mode: str = "plain") -> int:
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            if mode == "convert":
                raise ValueError("init gave up") from None
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def handle_call(self, msg: Any, state: int) -> tuple[Any, int]:  # pragma: no cover
        return msg, state

    def handle_cast(self, msg: Any, state: int) -> int:  # pragma: no cover
        return state


async def test_cancelled_start_whose_init_raises_its_own_error(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    """As with ``nursery.start``: the error init ended with wins over the starter's cancel."""
    with trio.move_on_after(1) as scope, pytest.raises(InitializationError) as info:
        await GenServer.start(BlockingInit, "convert", name="b")
    assert not scope.cancelled_caught
    assert type(info.value.__cause__) is ValueError
    assert rt.registry.whereis("b") is None


async def test_start_cancelled_and_stopped_by_its_host_in_one_pass(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    """The starter's cancellation wins over "stopped while starting"."""
    with trio.CancelScope() as scope:

        async def both() -> None:
            await trio.sleep(1)
            kill("b")
            scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(both)
            await GenServer.start(BlockingInit, name="b")
    assert scope.cancelled_caught
    assert rt.registry.whereis("b") is None


async def test_start_of_an_already_cancelled_starter_runs_a_sync_init_then_fails(
    rt: Runtime,
) -> None:
    ran: list[str] = []

    class SyncInit(GenServer[Any, Any, Any, int]):
        def init(self) -> int:
            ran.append("init")
            return 0

        def handle_call(self, msg: Any, state: int) -> tuple[Any, int]:  # pragma: no cover
            return msg, state

        def handle_cast(self, msg: Any, state: int) -> int:  # pragma: no cover
            return state

    with trio.CancelScope() as scope:
        scope.cancel()
        await GenServer.start(SyncInit, name="s")
    assert scope.cancelled_caught
    assert ran == ["init"]
    assert rt.registry.whereis("s") is None


@pytest.mark.parametrize("mode", ["plain", "convert"])
def test_keyboard_interrupt_while_a_start_waits_for_init(mode: str) -> None:
    """Ctrl-C reaching the main task while it waits in ``start``: init is cancelled, and the
    interrupt is raised from ``start`` even if init ended with an error of its own."""
    seen: list[BaseException] = []

    async def main() -> None:
        async with open_runtime() as rt:
            # Sent from a thread, so that it arrives while the run sleeps (not inside a task)
            # and Trio delivers it to the main task, parked in `start`.
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
            with trio.fail_after(5):
                try:
                    await GenServer.start(BlockingInit, mode, name="b")
                except BaseException as exc:
                    seen.append(exc)
                    raise
                finally:
                    assert rt.registry.whereis("b") is None

    with pytest.raises(KeyboardInterrupt):
        trio.run(main)
    assert [type(exc) for exc in seen] == [KeyboardInterrupt]
