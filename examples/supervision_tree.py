"""A supervision tree: an application supervisor over a pipeline and a pool of jobs.

    app                      one_for_one
    ├── pipeline             rest_for_one
    │   ├── db               Database: a "connection" that numbers its queries
    │   └── orders           OrderService: uses the db ref it looked up in init
    └── jobs                 simple_one_for_one, transient Job children
        ├── child_1          Job("resize")
        └── child_2          Job("upload")

What happens:

- db crashes: rest_for_one restarts db *and* orders, which held the old db ref;
- a job finishes: it is transient, so it is removed, not restarted;
- a job keeps crashing: jobs gives up (more than 3 restarts in 5 s) and app restarts it empty;
- leaving the runtime stops everything in reverse start order.

Run it with ``python -m examples.supervision_tree``.
"""

import logging
import math
from collections.abc import Callable

import trio

from noex_trio import (
    GenServer,
    GenServerRef,
    LifecycleEvent,
    Registry,
    Restarted,
    Runtime,
    Stop,
    Supervisor,
    SupervisorRef,
    open_runtime,
)

Say = Callable[[str], None]
DatabaseRef = GenServerRef[str, None, str]


# --8<-- [start:workers]
class Database(GenServer[int, str, None, str]):
    """Answers queries, numbering them; the query "crash" loses the connection."""

    def init(self, say: Say) -> int:
        self.say = say
        return 0

    def handle_call(self, msg: str, state: int) -> tuple[str, int]:
        if msg == "crash":
            raise ConnectionError("database connection lost")
        return f"{msg}: row {state + 1}", state + 1

    def terminate(self, reason: object, state: int) -> None:
        self.say(f"db stopped ({reason!r})")


class OrderService(GenServer[DatabaseRef, str, None, str]):
    """Places orders through the db it found at start: if db restarts, so must it."""

    def init(self, say: Say) -> DatabaseRef:
        self.say = say
        return Registry.lookup("db", Database)

    async def handle_call(self, msg: str, state: DatabaseRef) -> tuple[str, DatabaseRef]:
        return await state.call(f"order {msg}"), state

    def terminate(self, reason: object, state: DatabaseRef) -> None:
        self.say(f"orders stopped ({reason!r})")


class Job(GenServer[str, str, None, str]):
    """One job of the pool: "finish" ends it normally, "fail" crashes it."""

    def init(self, task: str) -> str:
        return task

    def handle_call(self, msg: str, state: str) -> Stop[str]:
        if msg == "finish":
            return Stop("normal", state, reply=f"{state} done")
        raise RuntimeError(f"{state} failed")


# --8<-- [end:workers]


# --8<-- [start:tree]
async def start_tree(say: Say) -> SupervisorRef:
    return await Supervisor.start(
        [
            Supervisor.child_spec(
                [
                    Database.child_spec(say, id="db", name="db"),
                    OrderService.child_spec(say, id="orders", name="orders"),
                ],
                id="pipeline",
                name="pipeline",
                strategy="rest_for_one",
            ),
            Supervisor.child_spec(
                id="jobs",
                name="jobs",
                strategy="simple_one_for_one",
                child_template=Job.child_spec(restart="transient"),
                max_children=100,
            ),
        ],
        name="app",
    )


# --8<-- [end:tree]


def watch_restarts(rt: Runtime) -> trio.MemoryReceiveChannel[Restarted]:
    """Every `Restarted` lifecycle event, as a channel to wait on."""
    send, receive = trio.open_memory_channel[Restarted](math.inf)

    def on_event(event: LifecycleEvent) -> None:
        if isinstance(event, Restarted):
            send.send_nowait(event)

    rt.on_lifecycle_event(on_event)
    return receive


def ids(sup: str) -> str:
    return ", ".join(
        f"{child.id} (restarts: {child.restart_count})" for child in Supervisor.get_children(sup)
    )


async def main() -> list[str]:
    lines: list[str] = []

    def say(line: str) -> None:
        print(line)
        lines.append(line)

    async with open_runtime() as rt:
        restarts = watch_restarts(rt)
        await start_tree(say)
        say(f"app: {ids('app')}")
        say(await GenServer.call("orders", "book"))

        # --8<-- [start:rest_for_one]
        try:
            await GenServer.call("db", "crash")
        except ConnectionError as error:
            say(f"db crashed: {error}")
        for _ in range(2):  # db, then orders: restarted in start order
            await restarts.receive()
        say(f"pipeline: {ids('pipeline')}")
        say(await GenServer.call("orders", "book"))  # a fresh db: row 1 again
        # --8<-- [end:rest_for_one]

        # --8<-- [start:jobs]
        resize = await Supervisor.start_child("jobs", "resize")  # Job.init("resize")
        upload = await Supervisor.start_child("jobs", "upload")
        assert resize is not None  # (None if Job.init had returned Ignore)
        assert upload is not None
        say(await GenServer.call(resize, "finish"))  # a normal exit: transient, so removed
        await Supervisor.start_child("jobs", "thumbnail")  # handled after that exit
        say(f"jobs: {ids('jobs')}")
        # --8<-- [end:jobs]

        # --8<-- [start:give_up]
        for attempt in range(1, 5):
            try:
                await GenServer.call(upload, "fail")
            except RuntimeError as error:
                say(f"attempt {attempt}: {error}")
            restarted = (await restarts.receive()).ref
            if attempt < 4:
                upload = restarted  # the job again, started with the same args
        # The 4th crash within 5 s was one too many: jobs gave up, and app restarted it,
        # empty (its children were dynamic).
        assert isinstance(restarted, SupervisorRef)
        say(f"jobs restarted by app: {Supervisor.count_children(restarted)} children")
        say(f"app: {ids('app')}")
        # --8<-- [end:give_up]
        say("leaving the runtime")
    say("done")
    return lines


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)
