"""``examples/registry.py`` runs and prints what the Registry guide shows."""

from __future__ import annotations

import re
from pathlib import Path

import trio.testing

from examples import registry

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


async def test_the_guide_shows_what_the_example_prints(
    autojump_clock: trio.testing.MockClock,
) -> None:
    outputs = re.findall(r"```text\n(.*?)```", GUIDE, re.DOTALL)[1:]  # [0] is the API summary
    shown = [line for output in outputs for line in output.splitlines()]
    assert shown
    printed = await registry.main()
    assert [line for line in shown if line not in printed] == []
