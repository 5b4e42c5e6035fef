"""``examples/supervised_tasks.py`` runs and prints what the supervised tasks guide shows."""

from __future__ import annotations

import trio.testing

from examples import supervised_tasks


async def test_supervised_tasks_example(autojump_clock: trio.testing.MockClock) -> None:
    assert await supervised_tasks.main() == [
        # Task.start and result: the value, then the function's own exception
        "<page https://example.org>",
        "failed: 404 for https://example.org/missing",
        # three tasks at once
        "<page https://example.org/0>, <page https://example.org/1>, <page https://example.org/2>",
        # a timeout leaves the task running; cancel stops it
        "task Task(crawl)#N did not finish within 0.05 s",
        "cancelled: None, exit reason 'shutdown'",
        # function children: a permanent poller, a transient migration retried twice
        "poller started",
        "migrated on attempt 3",
        "last run exited: 'normal'",
        "children left: ['poll']",
        "poller cancelled",
        # a task supervisor in a tree: a fire-and-forget task and an awaited one
        "notified alice",
        "running under jobs: 1",
        "<page https://example.org/about>",
        "running under jobs: 0",
        "done",
    ]
