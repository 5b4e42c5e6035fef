"""``examples/dynamic_supervisor.py`` runs and does what its docstring and the guide say."""

from __future__ import annotations

import trio
import trio.testing

from examples import dynamic_supervisor


async def test_dynamic_supervisor_example(autojump_clock: trio.testing.MockClock) -> None:
    assert await dynamic_supervisor.main() == [
        "mallory: None",  # Session.init returned Ignore: nothing started, nothing kept
        "alice: alice, bob: bob",
        "carol: sessions#3 already has 2 children (max_children=2); child not started",
        "sessions: ['alice', 'bob'], 2 active, 2 workers",
        "crashed: alice lost the connection",
        "restarted: alice, new ref: True",
        "the old ref is stale: ChildNotFoundError",
        "sessions: ['alice'], 1 active, 1 workers",
        "done",
    ]
    assert trio.current_time() == 0
