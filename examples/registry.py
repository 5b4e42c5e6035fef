"""The Registry from end to end: names, groups with metadata, dispatch, match, cleanup on exit.

A ``Counter`` gets names in the runtime's registry (the ``Registry`` facade); chat ``Member``
processes join rooms in a duplicate-key registry, with a nickname as metadata; a message is
dispatched to a room; ``match`` finds every room; members that leave vanish from every key.

Run it with ``python -m examples.registry``; ``tests/test_examples_registry.py`` checks every
line it prints. ``docs/guides/registry.md`` walks through it.
"""

from __future__ import annotations

import logging
from typing import Literal

import attrs
import trio

from noex_trio import (
    AlreadyRegisteredError,
    GenServer,
    NotRegisteredError,
    Registry,
    Supervisor,
    open_runtime,
)


class Counter(GenServer[int, Literal["get"], int, int]):
    def init(self, start: int) -> int:
        return start

    def handle_call(self, msg: Literal["get"], state: int) -> tuple[int, int]:
        return state, state

    def handle_cast(self, msg: int, state: int) -> int:
        return state + msg


# --8<-- [start:member]
class Member(GenServer[list[str], Literal["inbox"], str, list[str]]):
    """A chat user's process: casts are messages to it, the call "inbox" returns them."""

    def init(self) -> list[str]:
        return []

    def handle_call(self, msg: Literal["inbox"], state: list[str]) -> tuple[list[str], list[str]]:
        return state, state

    def handle_cast(self, msg: str, state: list[str]) -> list[str]:
        return [*state, msg]


@attrs.frozen
class Nick:
    """The metadata of a room membership."""

    name: str
    role: Literal["admin", "user", "moderator"] = "user"


# --8<-- [end:member]


async def main() -> list[str]:
    lines: list[str] = []
    say = lines.append
    async with open_runtime():
        # --8<-- [start:unique]
        # A name given at start is registered before `init` runs; a process may hold more.
        counter = await GenServer.start(Counter, 0, name="counter")
        Registry.register("stats.visits", counter)
        say(f"same process: {Registry.lookup('counter') is Registry.lookup('stats.visits')}")
        other = await GenServer.start(Counter, 100)
        try:
            Registry.register("counter", other)  # a name names one process
        except AlreadyRegisteredError as error:
            say(f"taken: {error}")
        say(f"whereis a free name: {Registry.whereis('nobody')}")
        try:
            Registry.lookup("nobody")
        except NotRegisteredError as error:
            say(f"lookup: {error}")
        # --8<-- [end:unique]
        await other.stop()

        # --8<-- [start:typed]
        # Give the behaviour class: the ref is GenServerRef[Literal["get"], int, int], so mypy
        # checks the call and knows the reply is an int (TypeError if the process runs
        # something else).
        typed = Registry.lookup("counter", Counter)
        typed.cast(5)
        visits: int = await typed.call("get")
        say(f"visits: {visits}")
        # --8<-- [end:typed]

        # --8<-- [start:duplicate]
        # A duplicate-key registry: a key maps to many processes, each entry with metadata.
        rooms = Registry.create(keys="duplicate", name="rooms")
        alice = await GenServer.start(Member)
        bob = await GenServer.start(Member)
        rooms.register("room.lobby", alice, metadata=Nick("alice", "admin"))
        rooms.register("room.lobby", bob, metadata=Nick("bob"))
        rooms.register("room.games", bob, metadata=Nick("bobby"))  # bob, in a second room
        say(f"{rooms!r}")
        # --8<-- [end:duplicate]

        # --8<-- [start:lookup_all]
        # Every process under a key, in registration order; typed like `lookup` when given
        # the behaviour class.
        members = rooms.lookup_all("room.lobby", Member)
        say(f"lobby: {members == [alice, bob]}")
        say(f"nobody in room.empty: {rooms.lookup_all('room.empty')}")
        # --8<-- [end:lookup_all]

        # --8<-- [start:entries]
        # The entries of a key: RegistryEntry(key, ref, metadata), in registration order.
        for entry in rooms.entries("room.lobby"):
            say(f"{entry.key}: {entry.metadata.name} ({entry.metadata.role})")
        # --8<-- [end:entries]

        # --8<-- [start:dispatch]
        # Cast to every GenServer under a key; returns how many got the message.
        delivered = rooms.dispatch("room.lobby", "alice: hello, lobby")
        say(f"delivered to {delivered}")
        say(f"bob's inbox: {await bob.call('inbox')}")
        # --8<-- [end:dispatch]

        # --8<-- [start:update_metadata]
        # Replace the metadata of one entry (the process must be registered under the key).
        rooms.update_metadata("room.lobby", bob, Nick("bob", "moderator"))
        say(f"roles: {[entry.metadata.role for entry in rooms.entries('room.lobby')]}")
        # --8<-- [end:update_metadata]

        # --8<-- [start:match]
        # Select keys with the EventBus pattern grammar: `*` is one segment, `**` any number.
        for entry in rooms.match("room.*"):
            say(f"match room.*: {entry.key} {entry.metadata.name}")
        say(f"match stats.**: {[entry.key for entry in Registry.match('stats.**')]}")
        # --8<-- [end:match]

        # --8<-- [start:errors]
        # A duplicate-key registry has no "the" process for a key: lookup/whereis refuse.
        try:
            rooms.lookup("room.lobby")
        except TypeError as error:
            say(f"lookup: {error}")
        # dispatch skips what is not a GenServer: a cast would reach a supervisor's own loop.
        sup = await Supervisor.start()
        rooms.register("room.lobby", sup)
        say(f"delivered to {rooms.dispatch('room.lobby', 'alice: anyone?')} of 3")
        # --8<-- [end:errors]

        # --8<-- [start:cleanup]
        # A process that exits (stop or crash) leaves every key of every registry first.
        await bob.stop()
        say(f"after bob left: {rooms.names()}, lobby has {len(rooms.lookup_all('room.lobby'))}")
        await counter.stop()
        say(f"names: {Registry.names()}")
        # --8<-- [end:cleanup]
        await sup.stop()
        say(f"alice's inbox: {await alice.call('inbox')}")
    return lines


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    for line in trio.run(main):
        print(line)
