"""The observer's core: statistics, a snapshot of the runtime, a process's state, and a hang
diagnosed with a thread dump.

A small shop runs under one supervisor: ``orders`` places orders and asks ``inventory`` to
reserve the stock. ``inventory`` has a bug on a path rarely taken (the last item of a kind):
it asks ``orders`` a question while ``orders`` is waiting for its own answer. The first order
goes through; the second one hangs until the call timeouts fire. While it hangs,
``rt.dump()`` says who waits on whom since when, and names the deadlock.

Run it with ``python -m examples.observer`` (send it ``SIGUSR1`` while it runs the shop at the
end: ``kill -USR1 <pid>`` prints the dump); ``tests/test_examples_observer.py`` checks what it
prints, ``docs/guides/observer.md`` walks through it.
"""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Callable
from typing import Any

import attrs
import trio

from noex_trio import (
    CallTimeoutError,
    ChildSpec,
    GenServer,
    Registry,
    Supervisor,
    dump_on_signal,
    open_runtime,
)

Say = Callable[[str], None]


# --8<-- [start:services]
@attrs.frozen
class Place:
    item: str


@attrs.frozen
class Reserve:
    item: str


class Orders(GenServer[list[str], Place | str, None, Any]):
    """Calls: ``Place(item)`` (reserves it, then records the order), ``"count"``."""

    def init(self) -> list[str]:
        return []

    async def handle_call(self, msg: Place | str, state: list[str]) -> tuple[Any, list[str]]:
        if msg == "count":
            return len(state), state
        assert isinstance(msg, Place)
        await GenServer.call("inventory", Reserve(msg.item), 2.0)
        return "placed", [*state, msg.item]

    def handle_cast(self, msg: None, state: list[str]) -> list[str]:
        return state


class Inventory(GenServer[dict[str, Any], Reserve, None, int]):
    """Calls: ``Reserve(item)``: one less in stock; the stock left."""

    def init(self) -> dict[str, Any]:
        return {"stock": {"apple": 3, "pear": 1}, "supplier_key": "sk-live-4242"}

    async def handle_call(self, msg: Reserve, state: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        left = state["stock"][msg.item] - 1
        if left == 0:
            # The bug: before the last one goes, ask orders how many are open -- but orders
            # is waiting for this very reply, and handles one message at a time.
            await GenServer.call("orders", "count", 2.0)
        return left, {**state, "stock": {**state["stock"], msg.item: left}}

    def handle_cast(self, msg: None, state: dict[str, Any]) -> dict[str, Any]:
        return state

    def format_status(self, state: dict[str, Any]) -> dict[str, Any]:
        """What crash reports and ``GenServer.get_state`` show: no secret."""
        return {**state, "supplier_key": "<hidden>"}


def shop() -> list[ChildSpec[Any]]:
    return [
        Orders.child_spec(id="orders", name="orders"),
        Inventory.child_spec(id="inventory", name="inventory"),
    ]


# --8<-- [end:services]


async def main() -> list[str]:
    lines: list[str] = []
    say = lines.append
    async with open_runtime("shop") as rt:
        app = await Supervisor.start(shop(), name="app")
        # --8<-- [start:statistics]
        await GenServer.call("orders", Place("apple"))
        orders = Registry.whereis("orders")
        assert orders is not None
        stats = orders.statistics()
        say(f"{stats.label}: {stats.status}, {stats.calls} call(s), mailbox {stats.mailbox_length}")
        sup = app.statistics()  # a SupervisorStatistics
        say(f"{sup.label}: {sup.strategy}, {sup.children_running} children running")
        # --8<-- [end:statistics]

        # --8<-- [start:get-state]
        say(f"inventory state: {await GenServer.get_state('inventory')}")
        # --8<-- [end:get-state]

        # --8<-- [start:snapshot]
        snapshot = rt.snapshot()
        for node in snapshot.nodes():
            s = node.statistics
            say(f"{s.label} ({s.kind}): {s.calls} call(s) handled")
        data = snapshot.to_dict()  # plain data: json.dumps works
        say(f"JSON: {list(data)}, tree of {len(json.dumps(data))} characters")
        # --8<-- [end:snapshot]

        # --8<-- [start:hang]
        async with trio.open_nursery() as nursery:

            async def place_the_last_pear() -> None:
                try:
                    await GenServer.call("orders", Place("pear"), 10.0)
                except CallTimeoutError as error:
                    say(f"t={trio.current_time() - start:.1f} s: {error}")

            start = trio.current_time()
            nursery.start_soon(place_the_last_pear)
            await trio.sleep(0.5)  # it hangs...
            say(rt.dump())  # ...so, what is stuck?
            say(f"cycles: {rt.snapshot().cycles}")
        # --8<-- [end:hang]
        # --8<-- [start:after]
        await trio.sleep(1.0)  # a moment later, the supervisor has restarted both
        totals = rt.statistics()
        say(f"crashes {totals.crashes}, restarts {totals.restarts}")
        say(f"inventory state: {await GenServer.get_state('inventory')}")
        # --8<-- [end:after]
    return lines


# --8<-- [start:signal]
async def run_shop(stop: trio.Event) -> None:
    """Run the shop until `stop` is set; ``kill -USR1 <pid>`` prints the dump to stderr."""
    async with open_runtime("shop"):
        await Supervisor.start(shop(), name="app")
        with dump_on_signal(signal.SIGUSR1):
            await stop.wait()


# --8<-- [end:signal]


async def demo_signal(say: Say) -> None:
    """Run the shop for a few seconds, saying how to get its dump."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_shop, stop)
        say("the shop runs for 5 s; try: kill -USR1 <pid>")
        await trio.sleep(5.0)
        stop.set()


if __name__ == "__main__":
    import os

    logging.basicConfig(level=logging.INFO)  # show the crash reports (logger "noex_trio")
    for line in trio.run(main):
        print(line)
    print(f"pid {os.getpid()}")
    trio.run(demo_signal, print)
