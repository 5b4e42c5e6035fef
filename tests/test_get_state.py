"""``GenServer.get_state``: a process's state for debugging (OTP ``:sys.get_state``)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import (
    CallTimeoutError,
    CallToSelfError,
    GenServer,
    NoReply,
    Runtime,
    ServerNotRunningError,
    Supervisor,
    Task,
    Via,
    open_runtime,
)

from .conftest import Counter


class Account(GenServer[dict[str, Any], float, int, str]):
    """State: a balance and a secret. Calls: seconds to sleep (a long call). Casts: deposits."""

    def init(self, balance: int = 0) -> dict[str, Any]:
        return {"balance": balance, "password": "hunter2"}

    async def handle_call(self, msg: float, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        await trio.sleep(msg)
        return "slept", state

    def handle_cast(self, msg: int, state: dict[str, Any]) -> dict[str, Any]:
        return {**state, "balance": state["balance"] + msg}


class Redacted(Account):
    def format_status(self, state: dict[str, Any]) -> dict[str, Any]:
        return {**state, "password": "***"}


async def test_the_state_in_order_with_other_messages(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Account, 0, name="account")
    answers: list[tuple[float, Any]] = []

    async def ask() -> None:
        answers.append((trio.current_time(), await GenServer.get_state("account")))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, 3.0)  # a long call: the state is asked meanwhile
        await trio.testing.wait_all_tasks_blocked()
        ref.cast(1)
        nursery.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked()
        ref.cast(10)
    # answered after the long call and the cast queued before it, not the one after
    assert answers == [(0.0, {"balance": 1, "password": "hunter2"})]
    assert trio.current_time() == 3.0
    assert await GenServer.get_state(ref) == {"balance": 11, "password": "hunter2"}
    stats = ref.statistics()
    assert (stats.calls, stats.casts, stats.infos) == (1, 2, 0)  # get_state is not counted
    await ref.stop()


async def test_through_format_status(rt: Runtime) -> None:
    ref = await GenServer.start(Redacted, 5)
    assert await GenServer.get_state(ref) == {"balance": 5, "password": "***"}
    await ref.stop()


async def test_format_status_errors_go_to_the_asker(rt: Runtime) -> None:
    class Broken(Account):
        def format_status(self, state: dict[str, Any]) -> Any:
            raise ValueError("cannot show")

    class Async(Account):
        async def format_status(self, state: dict[str, Any]) -> Any:  # pragma: no cover
            return state

    broken = await GenServer.start(Broken)
    with pytest.raises(ValueError, match=r"^cannot show$"):
        await GenServer.get_state(broken)
    assert broken.is_running()  # the process is not disturbed
    wrong = await GenServer.start(Async)
    with pytest.raises(TypeError, match=r"^Async\.format_status must be a plain def$"):
        await GenServer.get_state(wrong)
    assert wrong.is_running()
    await broken.stop()
    await wrong.stop()


def test_a_keyboard_interrupt_in_format_status_ends_the_runtime() -> None:
    class Interrupting(Account):
        def format_status(self, state: dict[str, Any]) -> Any:
            raise KeyboardInterrupt

    errors: list[BaseException] = []

    async def main() -> None:
        async with open_runtime():
            ref = await GenServer.start(Interrupting)
            try:
                await GenServer.get_state(ref)
            except ServerNotRunningError as exc:
                errors.append(exc)
            await trio.sleep_forever()

    with pytest.raises(KeyboardInterrupt):
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert [str(error) for error in errors] == [
        "Interrupting#2 is not running (exit reason: 'shutdown')"
    ]


async def test_not_running_and_bad_arguments(rt: Runtime) -> None:
    ref = await GenServer.start(Account)
    await ref.stop()
    with (
        trio.testing.assert_checkpoints(),
        pytest.raises(ServerNotRunningError, match=r"^Account#\d+ is not running"),
    ):
        await GenServer.get_state(ref)
    with pytest.raises(ServerNotRunningError, match=r"^'nobody' is not running"):
        await GenServer.get_state("nobody")
    with pytest.raises(ServerNotRunningError):
        await GenServer.get_state(Via(rt.registry, "nobody"))
    with pytest.raises(TypeError, match=r"^expected target to be"):
        await GenServer.get_state(42)  # type: ignore[arg-type]
    other = await GenServer.start(Account)
    with pytest.raises(ValueError, match=r"^expected timeout to be"):
        await GenServer.get_state(other, -1.0)
    with trio.testing.assert_checkpoints():
        assert (await GenServer.get_state(other, 1.0))["balance"] == 0
    await other.stop()


async def test_an_exit_fails_the_askers_still_queued(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Account)

    async def expect_exit(operation: Any, *args: Any) -> None:
        with pytest.raises(ServerNotRunningError, match=r"exit reason: 'bye'"):
            await operation(*args)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(expect_exit, ref.call, 1.0)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(expect_exit, GenServer.get_state, ref, math.inf)
        await trio.testing.wait_all_tasks_blocked()
        GenServer.exit(ref, "bye")
    assert trio.current_time() == 0.0


async def test_timeout_and_cancellation(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Account)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, 10.0, 20.0)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(CallTimeoutError, match=r"^call to Account#\d+ timed out after 2\.0 s$"):
            await GenServer.get_state(ref, 2.0)
        assert trio.current_time() == 2.0
        with trio.move_on_after(1.0):
            await GenServer.get_state(ref)  # cancelled: its answer is dropped
    assert trio.current_time() == 10.0
    assert (await GenServer.get_state(ref))["balance"] == 0
    await ref.stop()


async def test_through_a_full_mailbox_and_beyond_the_watchdog(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    bounded = await GenServer.start(Account, mailbox_size=1)
    answers: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bounded.call, 1.0, 30.0)
        await trio.testing.wait_all_tasks_blocked()
        bounded.cast(1)  # the mailbox is full: the asker waits for room
        nursery.start_soon(_ask, bounded, 10.0, answers)
    assert answers == [1.0]
    ref = await GenServer.start(Account)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, 1.0, 30.0)
        await trio.testing.wait_all_tasks_blocked()
        for n in range(20):  # more timeout values than the watchdog keeps lists for
            nursery.start_soon(_ask, ref, 40.0 + n, answers)
    assert answers == [1.0] + [2.0] * 20
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, 5.0, 30.0)
        await trio.testing.wait_all_tasks_blocked()
        for n in range(3):  # beyond the watchdog, each times out with a scope of its own
            nursery.start_soon(_expect_timeout, ref, 0.5 + n / 8)
    await bounded.stop()
    await ref.stop()


async def _ask(ref: Any, seconds: float, answers: list[float]) -> None:
    await GenServer.get_state(ref, seconds)
    answers.append(trio.current_time())


async def _expect_timeout(ref: Any, seconds: float) -> None:
    with pytest.raises(CallTimeoutError):
        await GenServer.get_state(ref, seconds)


async def test_a_process_cannot_ask_for_its_own_state(rt: Runtime) -> None:
    class Curious(Account):
        async def handle_call(self, msg: Any, state: dict[str, Any]) -> Any:
            try:
                await GenServer.get_state(GenServer.self())
            except CallToSelfError as exc:
                return str(exc), state
            raise AssertionError("unreachable")  # pragma: no cover

    ref = await GenServer.start(Curious)
    assert await ref.call(0.0) == (
        f"Curious#{ref.id} asked for its own state with GenServer.get_state, which would wait "
        "for itself forever; the handler has the state at hand"
    )
    await ref.stop()


async def test_the_tasks_of_a_process_may_ask_for_its_state(rt: Runtime) -> None:
    class Owner(GenServer[int, str, int, Any]):
        owns_tasks = True

        def init(self) -> int:
            return 7

        def handle_call(self, msg: str, state: int) -> NoReply[int]:
            caller = GenServer.caller()
            me = GenServer.self()

            async def answer() -> None:
                caller.reply(await GenServer.get_state(me))

            GenServer.nursery().start_soon(answer)
            return NoReply(state)

        def handle_cast(self, msg: int, state: int) -> int:
            return state

    ref = await GenServer.start(Owner)
    assert await ref.call("state?") == 7
    await ref.stop()


async def test_library_processes_have_a_state_too(rt: Runtime) -> None:
    sup = await Supervisor.start([Counter.child_spec(0, id="c")])
    assert await GenServer.get_state(sup) is None
    assert await GenServer.get_state(rt.event_bus) is None
    task = await Task.start(trio.sleep_forever)
    assert await GenServer.get_state(task.ref) is None
    await task.cancel()
    await sup.stop()
