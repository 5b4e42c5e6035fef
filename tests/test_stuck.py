"""What is stuck: ``rt.snapshot().waits`` and ``.cycles`` (issue 13).

Time is virtual (``autojump_clock``): the waits and cycles are seen at exact times, before any
call timeout fires, and seen gone afterwards.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import (
    CallTimeoutError,
    CallWait,
    GenServer,
    NoReply,
    Reply,
    Runtime,
    ServerNotRunningError,
    Stop,
)
from noex_trio._process import process_of
from noex_trio._stuck import Wait, find_cycles, peek_mailbox

Hop = tuple[str | None, float]


class Relay(GenServer[Hop, str, str, str]):
    """``call("ask")``: asks the next process (by name) and answers what it answered (or
    ``"timed out"``); the last one (no next) answers ``"here"`` after holding `hold` seconds.
    A call whose caller gave up meanwhile is dropped (else a deadlock that timed out would
    form again from the calls still queued)."""

    def init(self, following: str | None, hold: float = 0.0) -> Hop:
        return following, hold

    async def handle_call(self, msg: str, state: Hop) -> tuple[str, Hop]:
        following, hold = state
        if not GenServer.caller().pending:
            return "nobody asks any more", state
        if following is None:
            await trio.sleep(hold)
            return "here", state
        try:
            return await GenServer.call(following, msg, 30.0), state
        except CallTimeoutError:
            return "timed out", state

    def handle_cast(self, msg: str, state: Hop) -> Hop:
        return state


def edges(rt: Runtime) -> list[tuple[int, int, str, float, float]]:
    return [
        (wait.caller, wait.target, wait.message, wait.since, wait.waited)
        for wait in rt.snapshot().waits
    ]


async def test_a_cycle_is_found_before_the_timeouts_fire(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    a = await GenServer.start(Relay, "b", name="a")
    b = await GenServer.start(Relay, "a", name="b")
    replies: list[str] = []

    async def ask() -> None:
        replies.append(await a.call("ask", 100.0))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask)  # plain Trio code: it waits, but it is no process
        await trio.sleep(1.0)
        snapshot = rt.snapshot()
        assert snapshot.waits == (
            CallWait(caller=a.id, target=b.id, message="'ask'", since=0.0, waited=1.0),
            CallWait(caller=b.id, target=a.id, message="'ask'", since=0.0, waited=1.0),
        )
        assert snapshot.cycles == ((a.id, b.id),)
        await trio.sleep(28.5)
        assert rt.snapshot().cycles == ((a.id, b.id),)  # still there at t=29.5
    # at t=30 both calls timed out: the deadlock is over, and so are the waits
    assert trio.current_time() == 30.0
    assert replies == ["timed out"]
    assert rt.snapshot().waits == ()
    assert rt.snapshot().cycles == ()
    await a.stop()
    await b.stop()


async def test_a_chain_is_no_cycle_and_its_waits_end_with_the_reply(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    a = await GenServer.start(Relay, "b", name="a")
    b = await GenServer.start(Relay, "c", name="b")
    c = await GenServer.start(Relay, None, 10.0, name="c")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(a.call, "ask", 100.0)
        await trio.sleep(2.0)
        assert edges(rt) == [(a.id, b.id, "'ask'", 0.0, 2.0), (b.id, c.id, "'ask'", 0.0, 2.0)]
        assert rt.snapshot().cycles == ()
        stats = c.statistics()
        assert (stats.serving, stats.serving_since) == ("'ask'", 0.0)
    assert trio.current_time() == 10.0
    assert edges(rt) == []
    for ref in (a, b, c):
        await ref.stop()


async def test_three_processes_in_a_cycle(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    c = await GenServer.start(Relay, "a", name="c")
    b = await GenServer.start(Relay, "c", name="b")
    a = await GenServer.start(Relay, "b", name="a")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(b.call, "ask", 100.0)
        await trio.sleep(1.0)
        # from the smallest id (c), each waiting on the next: c -> a -> b -> c
        assert rt.snapshot().cycles == ((c.id, a.id, b.id),)
        text = rt.dump()
        assert f"cycle 1: c#{c.id} -> a#{a.id} -> b#{b.id} -> c#{c.id}" in text
    for ref in (a, b, c):
        await ref.stop()


async def test_a_wait_ends_when_its_caller_gives_up(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    a = await GenServer.start(Relay, "b", name="a")
    b = await GenServer.start(Relay, None, 10.0, name="b")
    async with trio.open_nursery() as nursery:

        async def ask() -> None:
            with pytest.raises(ServerNotRunningError, match="exit reason: 'killed'"):
                await a.call("ask", 100.0)

        nursery.start_soon(ask)
        await trio.sleep(1.0)
        assert edges(rt) == [(a.id, b.id, "'ask'", 0.0, 1.0)]
        GenServer.exit(a, "kill")  # a's call is cancelled with it
        await trio.testing.wait_all_tasks_blocked()
        assert edges(rt) == []
        assert b.statistics().serving == "'ask'"  # b still serves the abandoned call
    await b.stop()


async def test_waits_on_queued_deferred_and_stopping_processes(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    class Server(GenServer[list[Any], str, str, str]):
        """``"hold"``: busy 5 s; ``"later"``: deferred, answered by ``"answer"``; ``"bye"``:
        stops with a reply, after a terminate of 2 s."""

        def init(self) -> list[Any]:
            return []

        async def handle_call(self, msg: str, state: list[Any]) -> Any:
            if msg == "hold":
                await trio.sleep(5.0)
                return "held", state
            if msg == "later":
                return NoReply([*state, GenServer.caller()])
            if msg == "answer":
                for caller in state:
                    caller.reply("answered")
                return Reply("ok", [])
            return Stop("normal", state, reply="bye")

        def handle_cast(self, msg: str, state: list[Any]) -> list[Any]:
            return state

        async def terminate(self, reason: Any, state: list[Any]) -> None:
            await trio.sleep(2.0)

    class Client(GenServer[None, tuple[str, str, float], str, Any]):
        def init(self) -> None:
            return None

        async def handle_call(self, msg: tuple[str, str, float], state: None) -> Any:
            target, request, timeout = msg
            if request == "state":
                return await GenServer.get_state(target, timeout), state
            return await GenServer.call(target, request, timeout), state

        def handle_cast(self, msg: str, state: None) -> None:
            return state

    server = await GenServer.start(Server, name="server", mailbox_size=2)
    c0, c1, c2, c3, c4 = [await GenServer.start(Client) for _ in range(5)]
    s = server.id
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.call, "hold", 20.0)  # t=0..5: the server is busy
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(c0.call, ("server", "later", math.inf), 100.0)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(c1.call, ("server", "state", 20.0), 100.0)
        await trio.sleep(1.0)
        # the mailbox (2) is full: the next caller waits for room
        nursery.start_soon(c2.call, ("server", "later", 20.0), 100.0)
        await trio.sleep(1.0)
        assert edges(rt) == [
            (c0.id, s, "'later'", 0.0, 2.0),  # queued
            (c1.id, s, "get_state()", 0.0, 2.0),  # queued
            (c2.id, s, "'later'", 1.0, 1.0),  # waiting for room in the mailbox
        ]
        await trio.sleep(3.5)  # t=5.5: both "later" calls are deferred, get_state answered
        assert edges(rt) == [(c0.id, s, "'later'", 0.0, 5.5), (c2.id, s, "'later'", 1.0, 4.5)]
        assert server.statistics().serving is None
        assert await c3.call(("server", "answer", 20.0)) == "ok"
        assert edges(rt) == []
        nursery.start_soon(c4.call, ("server", "bye", 20.0), 100.0)
        await trio.sleep(1.0)  # t=6.5: the server runs terminate; the stop's reply waits
        assert edges(rt) == [(c4.id, s, "'bye'", 5.5, 1.0)]
    assert trio.current_time() == 7.5
    assert edges(rt) == []
    for client in (c0, c1, c2, c3, c4):
        await client.stop()


async def test_other_messages_in_the_mailbox_are_no_waits(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    busy = await GenServer.start(Relay, None, 5.0, name="busy", mailbox_size=1)
    asker = await GenServer.start(Relay, "busy", name="asker")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(busy.call, "ask", 20.0)  # t=0..5
        await trio.testing.wait_all_tasks_blocked()
        busy.cast("queued")  # the mailbox is full
        nursery.start_soon(GenServer.stop, busy)  # waits for room (plain Trio code)
        await trio.testing.wait_all_tasks_blocked()

        async def ask() -> None:
            with pytest.raises(ServerNotRunningError):  # the stop comes first: the asker crashes
                await asker.call("ask", 20.0)

        nursery.start_soon(ask)  # the asker waits for room too
        await trio.sleep(1.0)
        assert edges(rt) == [(asker.id, busy.id, "'ask'", 0.0, 1.0)]
        assert len(peek_mailbox(process_of(busy))[1]) == 2  # the stop and the asker's call


async def test_a_task_of_a_process_waiting_is_no_deadlock(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    class Owner(GenServer[None, str, str, str]):
        """Its task calls b; b calls it back while it is still waiting: no deadlock, since
        its loop is free."""

        owns_tasks = True

        def init(self) -> None:
            GenServer.nursery().start_soon(GenServer.call, "b", "ask", 30.0)

        async def handle_call(self, msg: str, state: None) -> tuple[str, None]:
            await trio.sleep(3.0)
            return "owner here", state

        def handle_cast(self, msg: str, state: None) -> None:
            return state

    b = await GenServer.start(Relay, "owner", name="b")
    owner = await GenServer.start(Owner, name="owner")
    await trio.sleep(1.0)
    snapshot = rt.snapshot()
    assert [(w.caller, w.target) for w in snapshot.waits] == [(b.id, owner.id), (owner.id, b.id)]
    assert snapshot.cycles == ()
    await trio.sleep(2.5)
    assert rt.snapshot().waits == ()
    await owner.stop()
    await b.stop()


def _wait(caller: int, target: int, *, blocking: bool = True) -> Wait:
    return Wait(SimpleNamespace(id=caller), SimpleNamespace(id=target), "m", 0.0, blocking)  # type: ignore[arg-type]


def test_find_cycles() -> None:
    waits = [
        _wait(5, 6),
        _wait(6, 5),
        _wait(1, 2),
        _wait(2, 3),  # 1 -> 2 -> 3 -> 1, and 2 -> 1: one group
        _wait(2, 1),
        _wait(3, 1),
        _wait(7, 8),  # a chain
        _wait(8, 9),
        _wait(9, 7, blocking=False),  # not a cycle: 9's loop is free
    ]
    assert find_cycles(waits) == [(1, 2, 3), (5, 6)]
    assert find_cycles([]) == []


def test_peeking_a_mailbox_that_trio_changed_sees_nothing() -> None:
    record = SimpleNamespace(send=object())
    assert peek_mailbox(record) == ((), ())  # type: ignore[arg-type]
