"""``examples/supervision_tree.py`` runs and does what its docstring and the guide say."""

from __future__ import annotations

import trio
import trio.testing

from examples import supervision_tree


async def test_supervision_tree(autojump_clock: trio.testing.MockClock) -> None:
    lines = await supervision_tree.main()
    assert lines == [
        "app: pipeline (restarts: 0), jobs (restarts: 0)",
        "order book: row 1",
        # rest_for_one: db's crash takes orders down too (in reverse), both start again.
        "db stopped (ConnectionError('database connection lost'))",
        "db crashed: database connection lost",
        "orders stopped ('shutdown')",
        "pipeline: db (restarts: 1), orders (restarts: 0)",
        "order book: row 1",
        # A transient job that finished is removed; ids are never reused.
        "resize done",
        "jobs: child_2 (restarts: 0), child_3 (restarts: 0)",
        # Three restarts in 5 s are tolerated, the fourth crash escalates to app.
        "attempt 1: upload failed",
        "attempt 2: upload failed",
        "attempt 3: upload failed",
        "attempt 4: upload failed",
        "jobs restarted by app: 0 children",
        "app: pipeline (restarts: 0), jobs (restarts: 1)",
        "leaving the runtime",
        "orders stopped ('shutdown')",
        "db stopped ('shutdown')",
        "done",
    ]
    # Crashes are detected and handled at once: no virtual time passed.
    assert trio.current_time() == 0
