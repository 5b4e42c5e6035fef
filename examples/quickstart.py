"""A counter GenServer under a Supervisor: crash it, and the supervisor brings it back.

    python -m examples.quickstart    # from a checkout, in the project's environment

prints ``count: 5``, then the crash report on stderr, then ``after the restart: 0``. The library
only logs (logger ``noex_trio``); this script configures `logging` so the report is shown.
"""

import logging

import trio

from noex_trio import GenServer, ServerNotRunningError, Supervisor, open_runtime, retry


class Counter(GenServer[int, str, int, int]):
    def init(self, start: int) -> int:
        return start

    def handle_call(self, msg: str, state: int) -> tuple[int, int]:
        return state, state  # (reply, new state)

    def handle_cast(self, msg: int, state: int) -> int:
        return state + msg  # a str here raises: the process crashes, its supervisor restarts it


async def main() -> int:
    async with open_runtime():
        await Supervisor.start(children=[Counter.child_spec(0, id="counter", name="counter")])
        GenServer.cast("counter", 5)
        print("count:", await GenServer.call("counter", "get"))  # count: 5
        GenServer.cast("counter", "oops")  # let it crash: a crash report is logged
        return await retry(GenServer.call, "counter", "get", retry_on=ServerNotRunningError)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (ERROR on logger "noex_trio")
    print("after the restart:", trio.run(main))  # after the restart: 0
