"""Monitors and links: a manager starts linked workers, traps their exits and watches them.

- ``GenServer.start(Worker, link=True)`` inside the manager links each worker to it;
- the manager runs with ``trap_exit=True``, so a worker's exit arrives as an `Exit` message
  in ``handle_info`` instead of killing it;
- ``GenServer.monitor(ref)`` adds a one-way watch: a `Down` message when the worker exits;
- when the manager itself crashes, its links take the remaining workers down with it, and
  plain Trio code waits for that with ``GenServer.wait_exit``.
"""

import logging
import math

import trio

from noex_trio import Down, Exit, GenServer, GenServerRef, open_runtime

WorkerRef = GenServerRef[str, str, str]


class Worker(GenServer[None, str, str, str]):
    """Does jobs (calls); the job ``"bad"`` crashes it."""

    def init(self) -> None:
        return None

    def handle_call(self, msg: str, state: None) -> tuple[str, None]:
        if msg == "bad":
            raise ValueError(f"cannot do {msg!r}")
        return f"done {msg}", state

    def handle_cast(self, msg: str, state: None) -> None:
        return state


# --8<-- [start:manager]
class Manager(GenServer[dict[WorkerRef, str], str | WorkerRef, None, WorkerRef]):
    """Call a name: start a worker linked to the manager. Call a worker: monitor it.

    State: the name of every worker it started. Notices go to a Trio channel, as text.
    """

    def init(self, notices: trio.MemorySendChannel[str]) -> dict[WorkerRef, str]:
        self.notices = notices
        return {}

    async def handle_call(
        self, msg: str | WorkerRef, state: dict[WorkerRef, str]
    ) -> tuple[WorkerRef, dict[WorkerRef, str]]:
        if isinstance(msg, GenServerRef):
            GenServer.monitor(msg)
            return msg, state
        worker = await GenServer.start(Worker, link=True)  # OTP start_link
        return worker, {**state, worker: msg}

    def handle_cast(self, msg: None, state: dict[WorkerRef, str]) -> dict[WorkerRef, str]:
        return state

    def handle_info(self, msg: object, state: dict[WorkerRef, str]) -> dict[WorkerRef, str]:
        match msg:
            case Exit(GenServerRef() as ref, reason):  # a linked worker exited (we trap exits)
                self.notices.send_nowait(f"Exit from {state[ref]}: {reason!r}")
            case Down(_, GenServerRef() as ref, reason):  # a monitored worker exited
                self.notices.send_nowait(f"Down from {state[ref]}: {reason!r}")
        return state


# --8<-- [end:manager]


async def main() -> list[str]:
    lines: list[str] = []

    def say(line: str) -> None:
        print(line)
        lines.append(line)

    # --8<-- [start:main]
    async with open_runtime():
        send, notices = trio.open_memory_channel[str](math.inf)
        manager = await GenServer.start(Manager, send, trap_exit=True)
        a = await manager.call("a")
        b = await manager.call("b")
        c = await manager.call("c")

        say(await a.call("job-1"))  # done job-1
        try:
            await a.call("bad")
        except ValueError as exc:
            say(f"a crashed: {exc}")
        say(await notices.receive())  # the manager survived: it traps exits

        await manager.call(b)  # the manager monitors b as well
        await b.stop()  # a normal exit: a trapping process still hears of it (OTP)
        say(await notices.receive())  # Exit first: the link was made first
        say(await notices.receive())

        # A crash of the manager kills the workers still linked to it (c).
        await manager.stop(RuntimeError("manager gave up"))
        reason = await GenServer.wait_exit(c)
        say(f"c exited: {reason}")
    # --8<-- [end:main]
    return lines


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)
