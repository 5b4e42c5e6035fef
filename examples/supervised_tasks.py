"""Supervised tasks: async functions run as processes (Elixir's ``Task`` and
``Task.Supervisor``).

A one-off ``Task`` fetches pages and hands back their result or their error; a slow one is
given up on and cancelled; a supervisor keeps two function children: a ``permanent`` poller (a
loop that must always run) and a ``transient`` migration, retried until it succeeds; last, a
``TaskSupervisor`` in an application tree runs tasks on demand.

Run it with ``python -m examples.supervised_tasks``; ``tests/test_examples_supervised_tasks.py``
checks every line it prints. ``docs/guides/supervised-tasks.md`` walks through it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from noex_trio import GenServer, ProcessRef, Supervisor, Task, TaskSupervisor, open_runtime

Say = Callable[[str], None]


# --8<-- [start:fetch]
async def fetch(url: str) -> str:
    """Stands in for an HTTP request."""
    await trio.sleep(0.01)
    if url.endswith("/missing"):
        raise LookupError(f"404 for {url}")
    return f"<page {url}>"


async def crawl(site: str) -> int:
    """Stands in for a long job: the number of pages of `site`, in a minute."""
    await trio.sleep(60)
    return 1234


# --8<-- [end:fetch]


# --8<-- [start:children-functions]
async def poll(say: Say, polled: trio.Event) -> None:
    """Polls forever: a permanent child, restarted if it ever returns or fails."""
    say("poller started")
    try:
        while True:
            await trio.sleep(0.01)
            polled.set()
    finally:
        say("poller cancelled")


async def migrate(say: Say, runs: list[ProcessRef], done: trio.Event) -> None:
    """Fails twice, then succeeds: a transient child, retried until it returns."""
    runs.append(GenServer.self())  # the function runs inside its own process
    await trio.sleep(0.01)
    if len(runs) < 3:
        raise ConnectionError(f"attempt {len(runs)}: database not ready")
    say(f"migrated on attempt {len(runs)}")
    done.set()


# --8<-- [end:children-functions]


# --8<-- [start:notify]
async def notify(say: Say, user: str) -> None:
    """Stands in for sending an email."""
    say(f"notified {user}")


# --8<-- [end:notify]


async def main() -> list[str]:
    lines: list[str] = []
    say = lines.append
    async with open_runtime():
        # --8<-- [start:result]
        task = await Task.start(fetch, "https://example.org")
        say(await task.result())  # what fetch returned

        missing = await Task.start(fetch, "https://example.org/missing")
        try:
            await missing.result()
        except LookupError as error:  # what fetch raised, the same object
            say(f"failed: {error}")
        # --8<-- [end:result]

        # --8<-- [start:many]
        tasks = [await Task.start(fetch, f"https://example.org/{n}") for n in range(3)]
        say(", ".join([await task.result() for task in tasks]))
        # --8<-- [end:many]

        # --8<-- [start:timeout]
        slow = await Task.start(crawl, "https://example.org")
        try:
            await slow.result(timeout=0.05)
        except trio.TooSlowError as error:  # a TaskTimeoutError: the task runs on
            say(str(error).replace(str(slow.ref.id), "N"))
        say(f"cancelled: {await slow.cancel()}, exit reason {slow.ref.exit_reason!r}")
        # --8<-- [end:timeout]

        # --8<-- [start:children]
        polled, done = trio.Event(), trio.Event()
        runs: list[ProcessRef] = []
        sup = await Supervisor.start(
            [
                Task.child_spec(poll, say, polled, restart="permanent"),
                Task.child_spec(migrate, say, runs, done, restart="transient"),
            ]
        )
        await polled.wait()
        await done.wait()
        say(f"last run exited: {await GenServer.wait_exit(runs[-1])!r}")
        say(f"children left: {[child.id for child in Supervisor.get_children(sup)]}")
        await Supervisor.stop(sup)  # cancels the poller
        # --8<-- [end:children]

        # --8<-- [start:task-supervisor]
        app = await Supervisor.start([TaskSupervisor.child_spec(name="jobs", max_children=10)])

        sent = await TaskSupervisor.start_child("jobs", notify, say, "alice")  # fire and forget
        await GenServer.wait_exit(sent)

        page = await Task.start(fetch, "https://example.org/about", supervisor="jobs")
        say(f"running under jobs: {len(TaskSupervisor.children('jobs'))}")
        say(await page.result())
        say(f"running under jobs: {len(TaskSupervisor.children('jobs'))}")
        await Supervisor.stop(app)  # would cancel the tasks still running
        # --8<-- [end:task-supervisor]
    say("done")
    return lines


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    for line in trio.run(main):
        print(line)
