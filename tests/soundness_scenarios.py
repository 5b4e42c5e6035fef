"""Scenarios that end ``trio.run`` with an exception, run in a fresh interpreter (issue 11).

``python -m tests.soundness_scenarios <name> [arg]`` runs one scenario under
``trio.run(..., clock=MockClock(autojump_threshold=0))`` and prints one JSON line:
``{"raised": ..., "log": [...], "time": ...}`` (see `soundness_support.run_scenario`). A
watchdog thread prints ``"raised": "HANG"`` with the log so far and exits the interpreter if
the scenario has not ended after ``NOEX_SOUNDNESS_HANG_SECONDS`` of wall time.

`arg` names the exception to inject: ``ki`` (KeyboardInterrupt), ``exit`` (SystemExit) or
``base`` (`Fatal`, a BaseException that is neither).
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import trio
import trio.testing

from noex_trio import (
    ChildSpec,
    EventBus,
    GenServer,
    GenServerRef,
    InitializationError,
    LifecycleEvent,
    ProcessRef,
    Registry,
    Started,
    Supervisor,
    Terminated,
    open_runtime,
)
from noex_trio.testing import wait_for_restart
from tests.soundness_support import HANG_SECONDS, Nasty, Probe, describe, sleeping
from tests.supervisor_helpers import child_ref

LOG: list[str] = []
SCENARIOS: dict[str, Callable[[str], Callable[[], Awaitable[None]]]] = {}


class Fatal(BaseException):
    """A BaseException of the user's that is neither KeyboardInterrupt nor SystemExit."""


def error_of(kind: str) -> BaseException:
    return {"ki": KeyboardInterrupt, "exit": SystemExit, "base": Fatal}[kind]()


def raising(kind: str) -> Callable[..., NoReturn]:
    def raise_it(*args: Any) -> NoReturn:
        raise error_of(kind)

    return raise_it


@trio.lowlevel.enable_ki_protection
def sigint_while_protected() -> None:
    """Ctrl-C arriving while library code runs (KI-protected): trio delivers it to the main task
    at its next checkpoint instead of raising it here."""
    signal.raise_signal(signal.SIGINT)


def scenario(
    fn: Callable[[str], Callable[[], Awaitable[None]]],
) -> Callable[[str], Callable[[], Awaitable[None]]]:
    SCENARIOS[fn.__name__] = fn
    return fn


async def probe(
    tag: str, on_terminate: Callable[[], object] | None = None
) -> GenServerRef[Any, Any, Any]:
    return await GenServer.start(Probe(tag, LOG, on_terminate=on_terminate))


def probe_spec(tag: str, on_terminate: Callable[[], object] | None = None, **kw: Any) -> ChildSpec:
    async def start() -> GenServerRef[Any, Any, Any]:
        return await probe(tag, on_terminate)

    return ChildSpec(tag, start, **kw)


# -- 2. KeyboardInterrupt, SystemExit and other BaseExceptions ---------------------------------


@scenario
def in_terminate_unsupervised(kind: str) -> Callable[[], Awaitable[None]]:
    """b's terminate raises while the body stops b; then the ordered shutdown (c, a)."""

    async def main() -> None:
        async with open_runtime():
            await probe("a")
            b = await probe("b", raising(kind))
            await probe("c")
            await GenServer.stop(b)
            await trio.sleep_forever()

    return main


@scenario
def in_terminate_supervised(kind: str) -> Callable[[], Awaitable[None]]:
    """b's terminate raises during ``terminate_child``; then the ordered shutdown (c, a)."""

    async def main() -> None:
        async with open_runtime():
            sup = await Supervisor.start(
                [probe_spec("a"), probe_spec("b", raising(kind)), probe_spec("c")]
            )
            await Supervisor.terminate_child(sup, "b")
            await trio.sleep_forever()

    return main


@scenario
def in_terminate_at_runtime_exit(kind: str) -> Callable[[], Awaitable[None]]:
    """b's terminate raises during the ordered shutdown at the end of the block."""

    async def main() -> None:
        async with open_runtime():
            await probe("a")
            await probe("b", raising(kind))
            await probe("c")

    return main


@scenario
def in_lifecycle_handler_started(kind: str) -> Callable[[], Awaitable[None]]:
    """A lifecycle handler raises on the `Started` of b."""

    async def main() -> None:
        armed = False

        def handler(event: LifecycleEvent) -> None:
            nonlocal armed
            if armed and isinstance(event, Started):
                armed = False
                raise error_of(kind)

        async with open_runtime() as rt:
            rt.on_lifecycle_event(handler)
            await probe("a")
            armed = True
            await probe("b")
            await trio.sleep_forever()

    return main


@scenario
def in_lifecycle_handler_terminated(kind: str) -> Callable[[], Awaitable[None]]:
    """A lifecycle handler raises on the `Terminated` of b (stopped by the body)."""

    async def main() -> None:
        async with open_runtime() as rt:
            await probe("a")
            b = await probe("b")
            await probe("c")

            def handler(event: LifecycleEvent) -> None:
                if isinstance(event, Terminated) and event.ref is b:
                    raise error_of(kind)

            rt.on_lifecycle_event(handler)
            await GenServer.stop(b)
            await trio.sleep_forever()

    return main


@scenario
def in_event_bus_handler(kind: str) -> Callable[[], Awaitable[None]]:
    """A handler of ``rt.event_bus`` raises on an event."""

    async def main() -> None:
        async with open_runtime() as rt:
            await probe("a")
            await probe("b")
            await EventBus.subscribe(rt.event_bus, "boom", raising(kind))
            EventBus.publish(rt.event_bus, "boom", None)
            await trio.sleep_forever()

    return main


@scenario
def in_nursery_task_of_handler(kind: str) -> Callable[[], Awaitable[None]]:
    """A task of a nursery inside b's ``handle_cast`` raises; its sibling sleeps."""

    async def main() -> None:
        async def task() -> None:
            await trio.sleep(1)
            raise error_of(kind)

        async def handler(state: Any) -> Any:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(task)
                nursery.start_soon(trio.sleep_forever)
            return state

        async with open_runtime():
            await probe("a")
            b = await probe("b")
            await probe("c")
            b.cast(handler)
            await trio.sleep_forever()

    return main


@scenario
def in_handler_supervised(kind: str) -> Callable[[], Awaitable[None]]:
    """b, a supervised child, raises in ``handle_cast``."""

    async def main() -> None:
        async with open_runtime():
            sup = await Supervisor.start([probe_spec("a"), probe_spec("b"), probe_spec("c")])
            GenServer.cast(child_ref(sup, "b"), raising(kind))
            await trio.sleep_forever()

    return main


@scenario
def in_init(kind: str) -> Callable[[], Awaitable[None]]:
    """c's ``init`` raises (the starter is the body)."""

    class Failing(Probe):
        def init(self) -> Any:
            super().init()
            raise error_of(kind)

    async def main() -> None:
        async with open_runtime():
            await probe("a")
            await probe("b")
            await GenServer.start(Failing("c", LOG))
            await trio.sleep_forever()

    return main


# -- 1. and 3., where 0.1.0 hangs or spins -----------------------------------------------------


@scenario
def nursery_in_handler_at_exit(kind: str) -> Callable[[], Awaitable[None]]:
    """b's ``handle_cast`` opened a nursery whose two tasks still run when the block ends."""

    async def forever(state: Any) -> Any:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep_forever)
            nursery.start_soon(trio.sleep_forever)

    async def main() -> None:
        async with open_runtime():
            await probe("a")
            b = await probe("b")
            b.cast(forever)
            await trio.testing.wait_all_tasks_blocked()
        LOG.append("after the runtime")

    return main


@scenario
def nasty_in_handle_call(kind: str) -> Callable[[], Awaitable[None]]:
    """handle_call raises an exception whose str/repr raise, with two calls queued behind it."""
    gate = trio.Event()

    async def explode(state: Any) -> Any:
        await gate.wait()
        raise Nasty

    async def call(key: str, ref: ProcessRef, msg: Any) -> None:
        try:
            await GenServer.call(ref, msg)
        except Exception as exc:
            LOG.append(f"{key} {type(exc).__name__}")
        else:
            LOG.append(f"{key} replied")

    async def main() -> None:
        async with open_runtime() as rt:
            ref = await probe("a")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call, "first", ref, explode)
                await trio.testing.wait_all_tasks_blocked()
                nursery.start_soon(call, "queued1", ref, "x")
                nursery.start_soon(call, "queued2", ref, "y")
                await trio.testing.wait_all_tasks_blocked()
                gate.set()
            other = await probe("b")
            await call("other", other, "ok")
        LOG.append(f"after the runtime {rt.statistics().processes}")

    return main


@scenario
def terminate_child_with_nursery(kind: str) -> Callable[[], Awaitable[None]]:
    """``terminate_child`` of a supervised child blocked in a nursery inside ``handle_cast``."""

    async def forever(state: Any) -> Any:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep_forever)
            nursery.start_soon(trio.sleep_forever)

    async def main() -> None:
        async with open_runtime():
            sup = await Supervisor.start([probe_spec("a"), probe_spec("b")])
            b = child_ref(sup, "b")
            GenServer.cast(b, forever)
            await trio.testing.wait_all_tasks_blocked()
            await Supervisor.terminate_child(sup, "b")
            LOG.append(f"b exited {await GenServer.wait_exit(b)}")
            LOG.append(f"children {[c.id for c in Supervisor.get_children(sup)]}")
            a = child_ref(sup, "a")
            LOG.append(f"a replied {await GenServer.call(a, 'x')}")
        LOG.append("after the runtime")

    return main


@scenario
def aggregation_in_flight(kind: str) -> Callable[[], Awaitable[None]]:
    """The IPC guide's gateway (a nursery of three calls in ``handle_call``) is mid-request
    when the block ends."""
    from examples.ipc import request_aggregation as agg

    async def client(gateway: GenServerRef[Any, Any, Any]) -> None:
        try:
            await gateway.call(agg.Get("u1"))
        except Exception as exc:
            LOG.append(f"client {type(exc).__name__}")
        else:
            LOG.append("client replied")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            async with open_runtime():
                await GenServer.start(agg.UserService, name="user-service")
                await GenServer.start(agg.OrderService, name="order-service")
                await GenServer.start(agg.NotificationService, name="notification-service")
                gateway = await GenServer.start(agg.ApiGateway, name="api-gateway")
                nursery.start_soon(client, gateway)
                await trio.sleep(0.15)  # the slow backends are still answering
            LOG.append("after the runtime")

    return main


@scenario
def nasty_in_supervised_handle_call(kind: str) -> Callable[[], Awaitable[None]]:
    """A supervised child's handle_call raises a Nasty with a call queued behind it."""
    gate = trio.Event()

    async def explode(state: Any) -> Any:
        await gate.wait()
        raise Nasty

    async def call(key: str, ref: ProcessRef, msg: Any) -> None:
        try:
            await GenServer.call(ref, msg)
        except Exception as exc:
            LOG.append(f"{key} {type(exc).__name__}")
        else:
            LOG.append(f"{key} replied")

    async def main() -> None:
        async with open_runtime():
            sup = await Supervisor.start([probe_spec("a"), probe_spec("b")])
            old = child_ref(sup, "b")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call, "first", old, explode)
                await trio.testing.wait_all_tasks_blocked()
                nursery.start_soon(call, "queued", old, "x")
                await trio.testing.wait_all_tasks_blocked()
                gate.set()
            await call("later", old, "x")
            with trio.move_on_after(10):
                await wait_for_restart(sup, "b", old)
            await call("restarted", child_ref(sup, "b"), "x")
            LOG.append(f"supervisor running {Supervisor.is_running(sup)}")
        LOG.append("after the runtime")

    return main


@scenario
def link_before_first_run(kind: str) -> Callable[[], Awaitable[None]]:
    """20 rounds: a process links to the name "target" the moment it is registered (before the
    named process's task first ran) and crashes at once."""

    async def link_and_die(state: Any) -> Any:
        while not Registry.is_registered("target"):
            await trio.lowlevel.checkpoint()
        GenServer.link("target")
        raise ValueError("linker crashed")

    async def one_round(i: int) -> None:
        async with open_runtime():
            linker = await probe("linker")
            linker.cast(link_and_die)  # it spins (with checkpoints) until "target" exists
            try:
                ref = await GenServer.start(Probe("t", []), name="target")
            except InitializationError:
                LOG.append(f"round {i} InitializationError")
                return
            reason = await GenServer.wait_exit(ref)
            LOG.append(f"round {i} {type(reason).__name__}")

    async def main() -> None:
        for i in range(20):
            await one_round(i)

    return main


# -- Ctrl-C during the ordered shutdown --------------------------------------------------------


@scenario
def sigint_during_shutdown(kind: str) -> Callable[[], Awaitable[None]]:
    """The block ends normally; Ctrl-C arrives while c's terminate runs (library code is on the
    stack, so trio delivers it to the main task). The shutdown goes on in order."""

    async def on_terminate() -> None:
        sigint_while_protected()
        await trio.sleep(1)

    async def main() -> None:
        async with open_runtime():
            await probe("a")
            await probe("b")
            await probe("c", on_terminate)

    return main


@scenario
def second_interrupt_in_terminate(kind: str) -> Callable[[], Awaitable[None]]:
    """Ctrl-C in the body; during the ordered shutdown c's terminate raises a second
    KeyboardInterrupt: b and a are killed without terminate."""

    async def main() -> None:
        async with open_runtime():
            await probe("a", sleeping(100))
            await probe("b", sleeping(100))
            await probe("c", raising("ki"))
            raise KeyboardInterrupt

    return main


@scenario
def second_sigint_during_shutdown(kind: str) -> Callable[[], Awaitable[None]]:
    """Ctrl-C in the body; a second Ctrl-C arrives while c's (slow) terminate runs: the shutdown
    hurries (c cancelled, b and a killed without terminate)."""

    async def on_terminate() -> None:
        sigint_while_protected()
        await trio.sleep(100)

    async def main() -> None:
        async with open_runtime():
            sup = await Supervisor.start(
                [
                    probe_spec("a", sleeping(100), shutdown=math.inf),
                    probe_spec("b", sleeping(100), shutdown=math.inf),
                    probe_spec("c", on_terminate, shutdown=math.inf),
                ]
            )
            assert Supervisor.count_children(sup) == 3
            raise KeyboardInterrupt

    return main


# -- runner ------------------------------------------------------------------------------------


def report(raised: str | None, clock: trio.testing.MockClock | None) -> None:
    time = clock.current_time() if clock is not None else None
    print(json.dumps({"raised": raised, "log": list(LOG), "time": time}), flush=True)


def main(argv: list[str]) -> None:
    name, *rest = argv
    kind = rest[0] if rest else "ki"
    body = SCENARIOS[name](kind)
    clock = trio.testing.MockClock(autojump_threshold=0)

    def hang() -> None:
        report("HANG", None)
        os._exit(0)

    watchdog = threading.Timer(HANG_SECONDS, hang)
    watchdog.daemon = True
    watchdog.start()
    try:
        trio.run(body, clock=clock)
    except BaseException as exc:
        raised = describe(exc)
    else:
        raised = None
    watchdog.cancel()
    report(raised, clock)


if __name__ == "__main__":
    main(sys.argv[1:])
