"""``examples/registry.py`` runs and prints what the Registry guide shows."""

from __future__ import annotations

import re
from pathlib import Path

import trio.testing

from examples import registry, registry_services

GUIDE = (Path(__file__).resolve().parent.parent / "docs/guides/registry.md").read_text("utf-8")


async def test_registry_example(autojump_clock: trio.testing.MockClock) -> None:
    assert await registry.main() == [
        # unique names: two names, one process; taken and free names
        "same process: True",
        "taken: name 'counter' is already registered in registry 'names' by counter#2",
        "whereis a free name: None",
        "lookup: no process is registered as 'nobody' in registry 'names'",
        # typed lookup
        "visits: 5",
        # duplicate keys, with metadata
        "<RegistryInstance 'rooms' keys=duplicate entries=3>",
        "lobby: True",
        "nobody in room.empty: []",
        "room.lobby: alice (admin)",
        "room.lobby: bob (user)",
        # dispatch
        "delivered to 2",
        "bob's inbox: ['alice: hello, lobby']",
        # update_metadata
        "roles: ['admin', 'moderator']",
        # match: by key in first-registration order, then by registration order
        "match room.*: room.lobby alice",
        "match room.*: room.lobby bob",
        "match room.*: room.games bobby",
        "match stats.**: ['stats.visits']",
        # errors that name the registry and the key; dispatch skips the supervisor
        "lookup: lookup('room.lobby') needs a unique registry, but registry 'rooms' has "
        "duplicate keys; use lookup_all('room.lobby')",
        "delivered to 2 of 3",
        # cleanup on exit: bob left both rooms, the counter both names
        "after bob left: ['room.lobby'], lobby has 2",
        "names: []",
        "alice's inbox: ['alice: hello, lobby', 'alice: anyone?']",
    ]
    assert trio.current_time() == 0


async def test_registry_services_example(autojump_clock: trio.testing.MockClock) -> None:
    assert await registry_services.main() == [
        # keys of any hashable type; the runtime's names stay strings
        "user 42: True, names [('user', 42)]",
        "list key: expected key to be a hashable value, got ['user', 43]",
        "runtime registry: expected name to be a non-empty str, got ('user', 42)",
        # queries on metadata
        "admins: [('alice', ('room', 'lobby')), ('bob', ('room', 'games'))]",
        "entries in rooms: 4",
        "lobby staff: ['admin', 'moderator']",
        "lobby users: 1",
        "bob is in: [('room', 'lobby'), ('room', 'games')]",
        "bob in the lobby: ['user']",
        "alice in games: []",
        "removed 1 + 0; lobby: 2",
        # Via names
        "dave's inbox: ['hi dave']",
        "taken: name ('user', 7) is already registered in registry 'sessions' by ('user', 7)#5",
        "after dave left: [], running: False",
        # a registry as a supervised service
        "erin's inbox: ['welcome, erin']",
        "<RegistryInstance 'live' keys=unique entries=1>: [('user', 5)]",
        "<RegistryInstance 'live' keys=unique closed>",
        "after the service stopped: 'live' is not running (exit reason: 'shutdown')",
    ]
    assert trio.current_time() == 0


async def test_the_guide_shows_what_the_examples_print(
    autojump_clock: trio.testing.MockClock,
) -> None:
    outputs = re.findall(r"```text\n(.*?)```", GUIDE, re.DOTALL)[1:]  # [0] is the API summary
    shown = [line for output in outputs for line in output.splitlines()]
    assert shown
    printed = await registry.main() + await registry_services.main()
    assert [line for line in shown if line not in printed] == []
