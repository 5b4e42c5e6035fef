"""The code of docs/guides/testing.md: how users test their own services with noex_trio.testing.

Each region between ``# --8<--`` markers is included in the guide by docs/_include.py.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from noex_trio import (
    CallTimeoutError,
    GenServer,
    GenServerRef,
    Restarted,
    Runtime,
    ServerNotRunningError,
    Supervisor,
)
from noex_trio.testing import EventRecorder, crash, wait_exit, wait_for_restart


# --8<-- [start:behaviour]
class Counter(GenServer[int, str, int, int]):
    def init(self, start: int) -> int:
        return start

    async def handle_call(self, msg: str, state: int) -> tuple[int, int]:
        if msg == "slow":
            await trio.sleep(10)
        return state, state

    def handle_cast(self, msg: int, state: int) -> int:
        return state + msg


# --8<-- [end:behaviour]


# --8<-- [start:fixture]
async def test_counts(runtime: Runtime) -> None:
    # `runtime` (from the noex_trio.testing plugin) is a fresh runtime, closed after the test.
    ref = await GenServer.start(Counter, 1)
    ref.cast(2)
    assert await ref.call("get") == 3  # a call after a cast also waits for the cast (FIFO)


# --8<-- [end:fixture]


# --8<-- [start:time]
async def test_a_slow_call_times_out(
    runtime: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Counter, 0)
    start = trio.current_time()
    with pytest.raises(CallTimeoutError):
        await ref.call("slow", timeout=2.0)
    assert trio.current_time() - start == 2.0  # virtual time: the test takes no real time


# --8<-- [end:time]


# --8<-- [start:restart]
async def test_the_supervisor_restarts_a_crashed_counter(runtime: Runtime) -> None:
    sup = await Supervisor.start(children=[Counter.child_spec(5, id="counter")])
    old = Supervisor.get_child(sup, "counter").ref
    assert isinstance(old, GenServerRef)  # (a child may also be a supervisor: narrow it)
    with EventRecorder(runtime) as events:
        crash(old)  # as if its next handler raised
        new = await wait_for_restart(sup, "counter", old)  # no sleeping, no polling
        [restarted] = await events.wait_for(Restarted)
    assert restarted.ref is new
    assert isinstance(await wait_exit(old), RuntimeError)  # the crash is the exit reason
    assert await new.call("get") == 5  # a fresh state from init
    with pytest.raises(ServerNotRunningError):
        await old.call("get")  # refs stay valid, but the old process is gone


# --8<-- [end:restart]
