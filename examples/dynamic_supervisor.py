"""A DynamicSupervisor: one session process per logged-in user, started on demand.

    app                      Supervisor, one_for_one
    └── sessions             DynamicSupervisor, max_children=2
        ├── Session("alice")
        └── Session("bob")

What happens:

- sessions start on demand, each from its own spec; a banned user's session returns `Ignore`
  from init, so nothing starts and nothing is kept;
- a third session is refused (max_children=2);
- a session that crashes is restarted under a new ref (the old ref is stale);
- a logout terminates a session by its ref.

Run it with ``python -m examples.dynamic_supervisor``.
"""

import logging
import math
from collections.abc import Callable

import trio

from noex_trio import (
    ChildNotFoundError,
    DynamicSupervisor,
    GenServer,
    GenServerRef,
    Ignore,
    LifecycleEvent,
    MaxChildrenError,
    Restarted,
    Supervisor,
    open_runtime,
)

Say = Callable[[str], None]
BANNED = {"mallory"}


# --8<-- [start:session]
class Session(GenServer[str, str, None, str]):
    """A user's session: "whoami" answers the user; "crash" loses the connection."""

    def init(self, user: str) -> str | Ignore:
        if user in BANNED:
            return Ignore()  # no session, and no error: start_child returns None
        return user

    def handle_call(self, msg: str, state: str) -> tuple[str, str]:
        if msg == "crash":
            raise ConnectionResetError(f"{state} lost the connection")
        return state, state


# --8<-- [end:session]


async def main() -> list[str]:
    lines: list[str] = []

    def say(line: str) -> None:
        print(line)
        lines.append(line)

    # --8<-- [start:inspect]
    async def sessions() -> str:
        children = DynamicSupervisor.which_children("sessions")  # in start order
        users = [await GenServer.call(child.ref, "whoami") for child in children]
        counts = DynamicSupervisor.count_children("sessions")  # ChildCounts(specs, active, ...)
        return f"sessions: {users}, {counts.active} active, {counts.workers} workers"

    # --8<-- [end:inspect]

    async with open_runtime() as rt:
        send_restart, restarts = trio.open_memory_channel[Restarted](math.inf)

        def on_event(event: LifecycleEvent) -> None:
            if isinstance(event, Restarted):
                send_restart.send_nowait(event)

        rt.on_lifecycle_event(on_event)

        # --8<-- [start:tree]
        await Supervisor.start(
            [DynamicSupervisor.child_spec(name="sessions", max_children=2)], name="app"
        )
        # --8<-- [end:tree]

        # --8<-- [start:start]
        alice = await DynamicSupervisor.start_child("sessions", Session, "alice")
        say(f"mallory: {await DynamicSupervisor.start_child('sessions', Session, 'mallory')}")
        bob = await DynamicSupervisor.start_child("sessions", Session.child_spec("bob"))
        assert alice is not None  # (None if Session.init had returned Ignore)
        assert bob is not None
        say(f"alice: {await alice.call('whoami')}, bob: {await GenServer.call(bob, 'whoami')}")
        try:
            await DynamicSupervisor.start_child("sessions", Session, "carol")
        except MaxChildrenError as error:
            say(f"carol: {error}")
        say(await sessions())
        # --8<-- [end:start]

        # --8<-- [start:restart]
        try:
            await alice.call("crash")
        except ConnectionResetError as error:
            say(f"crashed: {error}")
        restarted = (await restarts.receive()).ref  # a new process, a new ref
        assert isinstance(restarted, GenServerRef)
        say(f"restarted: {await restarted.call('whoami')}, new ref: {restarted is not alice}")
        try:
            await DynamicSupervisor.terminate_child("sessions", alice)
        except ChildNotFoundError as error:
            say(f"the old ref is stale: {type(error).__name__}")
        # --8<-- [end:restart]

        # --8<-- [start:terminate]
        await DynamicSupervisor.terminate_child("sessions", bob)  # bob logs out
        say(await sessions())
        # --8<-- [end:terminate]
    say("done")
    return lines


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)
