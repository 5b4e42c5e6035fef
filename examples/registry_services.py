"""Registries beyond names: keys of any type, queries on metadata, `Via` names, and a registry
run as a named, supervised service.

Chat ``Session`` processes are registered by ``("user", id)`` tuples; rooms are a duplicate-key
registry queried by the members' roles; sessions are named with ``Via`` in a registry of their
own, which finally runs as a supervised service that the sessions find by its name.

Run it with ``python -m examples.registry_services``; ``tests/test_examples_registry.py``
checks every line it prints. ``docs/guides/registry.md`` walks through it.
"""

from __future__ import annotations

import logging
from typing import Literal

import trio

from noex_trio import (
    AlreadyRegisteredError,
    GenServer,
    ProcessRef,
    Registry,
    ServerNotRunningError,
    Supervisor,
    Via,
    open_runtime,
)


class Session(GenServer[list[str], Literal["inbox"], str, list[str]]):
    """A user's session: casts are messages to the user, the call "inbox" returns them."""

    def init(self, nick: str) -> list[str]:
        return []

    def handle_call(self, msg: Literal["inbox"], state: list[str]) -> tuple[list[str], list[str]]:
        return state, state

    def handle_cast(self, msg: str, state: list[str]) -> list[str]:
        return [*state, msg]


async def main() -> list[str]:
    lines: list[str] = []
    say = lines.append
    async with open_runtime():
        # --8<-- [start:any_keys]
        # Keys of a registry made by Registry.create are any hashable value.
        users = Registry.create(name="users")
        alice = await GenServer.start(Session, "alice")
        users.register(("user", 42), alice, metadata="alice")
        say(f"user 42: {users.lookup(('user', 42)) is alice}, names {users.names()}")
        try:
            users.register(["user", 43], alice)  # type: ignore[arg-type]  # a list: unhashable
        except TypeError as error:
            say(f"list key: {error}")
        try:
            Registry.register(("user", 42), alice)  # type: ignore[arg-type]
        except TypeError as error:
            say(f"runtime registry: {error}")  # its names stay strings
        # --8<-- [end:any_keys]

        bob = await GenServer.start(Session, "bob")
        carol = await GenServer.start(Session, "carol")
        nick: dict[ProcessRef, str] = {alice: "alice", bob: "bob", carol: "carol"}
        # --8<-- [start:rooms]
        rooms = Registry.create(keys="duplicate", name="rooms")
        rooms.register(("room", "lobby"), alice, metadata="admin")
        rooms.register(("room", "lobby"), bob, metadata="user")
        rooms.register(("room", "lobby"), carol, metadata="moderator")
        rooms.register(("room", "games"), bob, metadata="admin")
        # --8<-- [end:rooms]

        # --8<-- [start:select]
        # select: every entry (key, ref, metadata) the predicate accepts, in registration order.
        admins = rooms.select(lambda entry: entry.metadata == "admin")
        say(f"admins: {[(nick[entry.ref], entry.key) for entry in admins]}")
        say(f"entries in rooms: {rooms.count_select(lambda entry: entry.key[0] == 'room')}")
        # --8<-- [end:select]

        # --8<-- [start:match_metadata]
        # match_metadata: the entries of one key whose metadata the predicate accepts.
        staff = rooms.match_metadata(("room", "lobby"), lambda role: role != "user")
        say(f"lobby staff: {[entry.metadata for entry in staff]}")
        say(f"lobby users: {rooms.count_match(('room', 'lobby'), lambda role: role == 'user')}")
        # --8<-- [end:match_metadata]

        # --8<-- [start:keys_values]
        # keys_of: the keys of one process; values: its metadata under one key.
        say(f"bob is in: {rooms.keys_of(bob)}")
        say(f"bob in the lobby: {rooms.values(('room', 'lobby'), bob)}")
        say(f"alice in games: {rooms.values(('room', 'games'), alice)}")
        # --8<-- [end:keys_values]

        # --8<-- [start:unregister_match]
        # unregister_match: one process's entry, if its metadata matches (inside a process,
        # the calling process's; outside one, say whose with ref=).
        left = rooms.unregister_match(("room", "lobby"), lambda role: role == "user", ref=bob)
        kept = rooms.unregister_match(("room", "lobby"), lambda role: role == "user", ref=carol)
        say(f"removed {left} + {kept}; lobby: {len(rooms.lookup_all(('room', 'lobby')))}")
        # --8<-- [end:unregister_match]

        # --8<-- [start:via]
        # Via(registry, key): a name in any unique-key registry, at start and as a target.
        sessions = Registry.create(name="sessions")
        dave = Via(sessions, ("user", 7))
        await GenServer.start(Session, "dave", name=dave)  # registered before init runs
        GenServer.cast(dave, "hi dave")
        say(f"dave's inbox: {await GenServer.call(dave, 'inbox')}")
        try:
            await GenServer.start(Session, "impostor", name=dave)
        except AlreadyRegisteredError as error:
            say(f"taken: {error}")
        await GenServer.stop(dave)
        say(f"after dave left: {sessions.names()}, running: {GenServer.is_running(dave)}")
        # --8<-- [end:via]

        # --8<-- [start:supervised]
        # A registry as a supervised service: found by its name, here by Via("live", key).
        sup = await Supervisor.start(
            [
                Registry.child_spec(name="live"),  # first: the sessions register in it
                Session.child_spec("erin", id="erin", name=Via("live", ("user", 5))),
            ],
            strategy="rest_for_one",  # a restarted registry is empty: restart its users too
        )
        GenServer.cast(Via("live", ("user", 5)), "welcome, erin")
        say(f"erin's inbox: {await GenServer.call(Via('live', ('user', 5)), 'inbox')}")
        live = Registry.lookup_registry("live")
        say(f"{live!r}: {live.names()}")
        await sup.stop()
        say(f"{live!r}")
        try:
            live.names()
        except ServerNotRunningError as error:
            say(f"after the service stopped: {error}")
        # --8<-- [end:supervised]
        for ref in (alice, bob, carol):
            await ref.stop()
    return lines


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    for line in trio.run(main):
        print(line)
