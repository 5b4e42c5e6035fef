"""The observer's tree view and live terminal dashboard, on a small shop that misbehaves.

    python -m examples.observer_terminal [SECONDS]

A supervisor runs three services and a load generator:

- ``consumer`` takes 0.3 s per message while the load generator casts it 10 a second: its
  mailbox grows without bound (a *mailbox* alert);
- ``flaky`` crashes on every tick, every half second, and its supervisor restarts it each
  time (a *restart storm*);
- ``ledger`` answers a ``"report"`` call in 8 s (a *long call*);
- ``reporter`` calls ``ledger`` and waits: the tree shows whom it waits on.

It prints the tree once (`format_tree`), then shows the live dashboard for SECONDS seconds
(10 by default).
"""

from __future__ import annotations

import contextlib
import logging
import sys

import trio
from rich.console import Console

from noex_trio import GenServer, NoexError, Supervisor, SupervisorRef, Task, open_runtime
from noex_trio.observer import (
    AlertRules,
    Dashboard,
    Sampler,
    format_tree,
    terminal_dashboard,
)


class Consumer(GenServer[int, str, str, int]):
    """Handles a cast in 0.3 s: slower than the load generator sends them."""

    def init(self) -> int:
        return 0

    async def handle_cast(self, msg: str, state: int) -> int:
        await trio.sleep(0.3)
        return state + 1

    def handle_call(self, msg: str, state: int) -> tuple[int, int]:
        return state, state


class Flaky(GenServer[None, str, str, None]):
    """Crashes on every cast."""

    def init(self) -> None:
        return None

    def handle_cast(self, msg: str, state: None) -> None:
        raise RuntimeError(f"flaky: cannot handle {msg!r}")

    def handle_call(self, msg: str, state: None) -> tuple[None, None]:
        return None, None


class Ledger(GenServer[None, str, str, str]):
    """Answers ``"report"`` after 8 s of work."""

    def init(self) -> None:
        return None

    async def handle_call(self, msg: str, state: None) -> tuple[str, None]:
        await trio.sleep(8.0)
        return "report ready", None


async def load() -> None:
    """Ten casts a second to the consumer, a tick to flaky every half second."""
    sent = 0
    while True:
        GenServer.cast("consumer", "order")
        sent += 1
        if sent % 5 == 0:
            with contextlib.suppress(NoexError):  # flaky is being restarted: no tick now
                GenServer.cast("flaky", "tick")
        await trio.sleep(0.1)


async def report() -> None:
    """Ask the ledger for a report, again and again."""
    while True:
        await GenServer.call("ledger", "report", timeout=30.0)


async def start_shop() -> SupervisorRef:
    services = Supervisor.child_spec(
        [
            Consumer.child_spec(id="consumer", name="consumer"),
            Flaky.child_spec(id="flaky", name="flaky"),
            Ledger.child_spec(id="ledger", name="ledger"),
        ],
        id="services",
        name="services",
        max_restarts=1000,
        max_seconds=10.0,
    )
    clients = Supervisor.child_spec(
        [
            Task.child_spec(load, id="load", restart="permanent"),
            Task.child_spec(report, id="reporter", name="reporter", restart="permanent"),
        ],
        id="clients",
        name="clients",
    )
    return await Supervisor.start([services, clients], name="shop")


# --8<-- [start:tree]
async def print_tree() -> str:
    """Start the shop, let it run for 3 s, and print its tree."""
    async with open_runtime(name="shop") as rt:
        await start_shop()
        await trio.sleep(3.0)
        tree = format_tree(rt.snapshot().to_dict())
        print(tree)
        return tree


# --8<-- [end:tree]


# --8<-- [start:sampler]
async def log_trees(every: float, times: int) -> list[str]:
    """The tree with message rates and alerts, every `every` seconds: for a log."""
    async with open_runtime(name="shop") as rt:
        await start_shop()
        sampler = Sampler(AlertRules(long_call=5.0))
        trees = []
        for _ in range(times):
            await trio.sleep(every)
            sample = sampler.add(rt.snapshot().to_dict())  # rates need the previous sample
            trees.append(format_tree(sample))
        return trees


# --8<-- [end:sampler]


# --8<-- [start:dashboard]
async def watch(seconds: float, console: Console | None = None) -> Dashboard:
    """Show the live dashboard of the shop for `seconds` seconds."""
    async with open_runtime(name="shop") as rt:
        opened = trio.current_time()
        await start_shop()
        rules = AlertRules(mailbox_length=10, mailbox_samples=3, restarts=5)
        async with terminal_dashboard(
            rt,
            refresh=1.0,
            console=console,
            rules=rules,
            extra=lambda: f"the shop has been open for {trio.current_time() - opened:.0f} s",
        ) as dashboard:
            await trio.sleep(seconds)
            await dashboard.update()  # end on a fresh frame
        return dashboard


# --8<-- [end:dashboard]


async def main(seconds: float = 10.0) -> None:
    await print_tree()
    await watch(seconds)


if __name__ == "__main__":
    # flaky's crash reports (two a second) would only scroll the dashboard away
    logging.getLogger("noex_trio").setLevel(logging.CRITICAL)
    trio.run(main, float(sys.argv[1]) if len(sys.argv) > 1 else 10.0)
