"""Children for the supervisor tests: workers that write their lives into a shared `Journal`."""

from __future__ import annotations

from typing import Any

import attrs
import trio
import trio.testing

from noex_trio import (
    ChildSpec,
    GenServer,
    GenServerRef,
    ProcessRef,
    Stop,
    Supervisor,
    SupervisorRef,
)
from noex_trio._child_spec import Restart, Shutdown

Ref = GenServerRef[Any, Any, Any]


class StartFailure(Exception):
    """Raised by `Worker.init` while the journal says its tag must fail to start."""


@attrs.define
class Journal:
    """What the workers of one test did, in order.

    Entries: ``("start", tag)`` after a successful ``init``, ``("stop", tag, reason)`` when
    ``terminate`` begins. `failing[tag]` is how many more starts of `tag` must fail; `slow[tag]`
    how long its ``terminate`` sleeps; `finished[tag]` when its last ``terminate`` finished (not
    set when the shutdown budget cut it short).
    """

    entries: list[tuple[Any, ...]] = attrs.Factory(list)
    failing: dict[str, float] = attrs.Factory(dict)
    slow: dict[str, float] = attrs.Factory(dict)
    finished: dict[str, float] = attrs.Factory(dict)
    start_attempts: int = 0

    def starts(self) -> list[str]:
        return [entry[1] for entry in self.entries if entry[0] == "start"]

    def stops(self) -> list[str]:
        return [entry[1] for entry in self.entries if entry[0] == "stop"]

    def reasons(self) -> dict[str, Any]:
        """The last stop reason of every tag that stopped."""
        return {entry[1]: entry[2] for entry in self.entries if entry[0] == "stop"}

    def clear(self) -> None:
        self.entries.clear()


class Worker(GenServer[str, Any, Any, Any]):
    """Calls: ``"tag"``, ``"exit"`` (stops normally, replies ``"bye"``), ``"shutdown"`` (stops
    with reason ``"shutdown"``), ``("stop", reason)`` (stops with any reason, replies
    ``"bye"``), ``("raise", exc)``, ``("interrupt",)`` (raises KeyboardInterrupt).
    """

    journal: Journal

    def init(self, tag: str, journal: Journal) -> str:
        self.journal = journal
        journal.start_attempts += 1
        if journal.failing.get(tag, 0) > 0:
            journal.failing[tag] -= 1
            raise StartFailure(tag)
        journal.entries.append(("start", tag))
        return tag

    async def handle_call(self, msg: Any, state: str) -> Any:
        if msg == "tag":
            return state, state
        if msg == "exit":
            return Stop("normal", state, reply="bye")
        if msg == "shutdown":
            return Stop("shutdown", state, reply="bye")
        if msg[0] == "stop":
            return Stop(msg[1], state, reply="bye")
        if msg[0] == "raise":
            raise msg[1]
        if msg[0] == "interrupt":
            raise KeyboardInterrupt
        raise AssertionError(f"unexpected call {msg!r}")

    def handle_cast(self, msg: Any, state: str) -> str:
        return state

    async def terminate(self, reason: Any, state: str) -> None:
        self.journal.entries.append(("stop", state, reason))
        delay = self.journal.slow.get(state, 0.0)
        if delay:
            await trio.sleep(delay)
        self.journal.finished[state] = trio.current_time()


def worker(
    journal: Journal,
    tag: str,
    *,
    restart: Restart = "permanent",
    shutdown: Shutdown = 5.0,
    significant: bool = False,
    name: str | None = None,
) -> ChildSpec:
    """The spec of a `Worker` whose id and tag are `tag`."""
    return Worker.child_spec(
        tag,
        journal,
        id=tag,
        name=name,
        restart=restart,
        shutdown=shutdown,
        significant=significant,
    )


async def settle() -> None:
    """Let every task run until all are blocked (restarts done, exits handled)."""
    await trio.testing.wait_all_tasks_blocked()


def child_ref(sup: SupervisorRef | str, child_id: str) -> ProcessRef:
    """The current ref of the child `child_id`; fails the test if the child is not running
    (its ``init`` returned `Ignore`)."""
    ref = Supervisor.get_child(sup, child_id).ref
    assert ref is not None, f"child {child_id!r} is not running"
    return ref
