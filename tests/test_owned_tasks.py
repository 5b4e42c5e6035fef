"""Processes that own Trio tasks (``owns_tasks = True``, ``GenServer.nursery()``).

The nursery lives around ``init`` and the loop; a failing task crashes the process with its
error; at the exit the tasks are cancelled and finished before ``terminate`` runs.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import (
    CallToSelfError,
    ChildSpec,
    GenServer,
    Ignore,
    InitializationError,
    NoexError,
    NotInProcessError,
    Runtime,
    ServerNotRunningError,
    Stop,
    Supervisor,
)
from noex_trio.testing import crash, kill, wait_for_restart


class Ticker(GenServer[int, str, str, Any]):
    """Owns a task that casts ``"tick"`` to the process every second; records what happens."""

    owns_tasks = True

    def __init__(self, log: list[str] | None = None) -> None:
        self.log = log if log is not None else []

    async def init(self, fail_after: float = math.inf) -> int:
        GenServer.nursery().start_soon(self._tick, GenServer.self(), fail_after)
        return 0

    async def _tick(self, me: Any, fail_after: float) -> None:
        try:
            with trio.move_on_after(fail_after):
                while True:
                    await trio.sleep(1)
                    me.cast("tick")
            raise ValueError("tick task failed")
        finally:
            self.log.append("task ended")

    def handle_call(self, msg: str, state: int) -> Any:
        if msg == "stop":
            return Stop("normal", state, reply="bye")
        return state, state

    def handle_cast(self, msg: str, state: int) -> int:
        return state + 1

    def terminate(self, reason: object, state: int) -> None:
        self.log.append(f"terminate {type(reason).__name__}")


async def test_tasks_run_beside_the_loop(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Ticker)
    await trio.sleep(3.5)
    assert await ref.call("get") == 3
    await ref.stop()


async def test_a_failing_task_crashes_the_process_with_its_error(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[str] = []
    ref = await GenServer.start(Ticker(log), 2.5)
    reason = await GenServer.wait_exit(ref)
    assert type(reason) is ValueError  # the task's own error, not a group
    assert str(reason) == "tick task failed"
    assert log == ["task ended", "terminate ValueError"]


@pytest.mark.parametrize("how", ["stop", "Stop", "kill", "crash"])
async def test_tasks_end_before_terminate_on_every_exit(
    rt: Runtime, autojump_clock: trio.testing.MockClock, how: str
) -> None:
    log: list[str] = []
    ref = await GenServer.start(Ticker(log))
    await trio.sleep(1.5)
    if how == "stop":
        await ref.stop()
    elif how == "Stop":
        assert await ref.call("stop") == "bye"
    elif how == "kill":
        GenServer.exit(ref, "bye")
    else:
        crash(ref, ValueError("boom"))
    await GenServer.wait_exit(ref)
    assert log[0] == "task ended"
    assert log[1].startswith("terminate")


async def test_a_brutal_kill_cancels_the_tasks_without_terminate(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[str] = []
    ref = await GenServer.start(Ticker(log))
    kill(ref)
    assert await GenServer.wait_exit(ref) == "killed"
    assert log == ["task ended"]


async def test_a_supervisor_restarts_a_process_whose_task_failed(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    sup = await Supervisor.start([Ticker.child_spec(2.5, id="ticker")])
    old = Supervisor.get_child(sup, "ticker").ref
    assert old is not None
    new = await wait_for_restart(sup, "ticker", old)
    assert isinstance(old.exit_reason, ValueError)
    assert new.is_running()
    await sup.stop()


class Server(GenServer[None, str, str, str]):
    """Owns a listener-like task started with ``nursery.start`` (task_status)."""

    owns_tasks = True

    async def init(self, fail: str = "") -> None:
        await GenServer.nursery().start(self._serve, fail)

    async def _serve(self, fail: str, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        if fail == "before started":
            raise OSError("address in use")
        task_status.started()
        if fail == "after started":
            await trio.sleep(1)
            raise OSError("listener died")
        await trio.sleep_forever()

    def handle_call(self, msg: str, state: None) -> tuple[str, None]:
        return msg, state

    def handle_cast(self, msg: str, state: None) -> None:
        return state


async def test_nursery_start_in_init(rt: Runtime, autojump_clock: trio.testing.MockClock) -> None:
    ref = await GenServer.start(Server)
    assert await ref.call("hi") == "hi"
    await ref.stop()


async def test_a_task_that_fails_to_start_fails_init(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    with pytest.raises(InitializationError) as caught:
        await GenServer.start(Server, "before started", name="server")
    assert isinstance(caught.value.__cause__, OSError)
    assert rt.registry.whereis("server") is None


async def test_a_task_that_fails_right_after_init(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Server, "after started")
    reason = await GenServer.wait_exit(ref)
    assert type(reason) is OSError


class FailsDuringInit(GenServer[None, str, str, str]):
    owns_tasks = True

    async def init(self) -> None:
        GenServer.nursery().start_soon(self._fail)
        await trio.sleep(10)  # the task fails first: init is cancelled

    async def _fail(self) -> None:
        await trio.sleep(1)
        raise KeyError("task")


async def test_a_task_failing_while_init_runs_fails_the_start(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    with pytest.raises(InitializationError, match="a task of the process failed during init") as e:
        await GenServer.start(FailsDuringInit)
    assert isinstance(e.value.__cause__, KeyError)


class Ignored(GenServer[None, str, str, str]):
    owns_tasks = True

    def __init__(self) -> None:
        self.ended = False

    async def init(self) -> Ignore:
        GenServer.nursery().start_soon(self._wait)
        return Ignore()

    async def _wait(self) -> None:
        try:
            await trio.sleep_forever()
        finally:
            self.ended = True


async def test_ignore_from_an_owner_cancels_its_tasks(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    behaviour = Ignored()
    assert await GenServer.start(behaviour, name="ignored") is None
    assert behaviour.ended
    assert rt.registry.whereis("ignored") is None


class SelfCaller(GenServer[int, str, str, Any]):
    """Its task calls the process itself; a handler calling itself is still refused."""

    owns_tasks = True

    def init(self) -> int:
        return 0

    def handle_call(self, msg: str, state: int) -> Any:
        return state + 1, state + 1

    async def handle_cast(self, msg: str, state: int) -> int:
        if msg == "spawn":
            GenServer.nursery().start_soon(self._call_me, GenServer.self())
        elif msg == "self-call":
            try:
                await GenServer.call(GenServer.self(), "x")
            except CallToSelfError:
                return -100
        elif msg == "handler-nursery":
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._call_refused, GenServer.self())
        return state

    async def _call_me(self, me: Any) -> None:
        await GenServer.call(me, "x")
        with pytest.raises(NotInProcessError):
            GenServer.caller()

    async def _call_refused(self, me: Any) -> None:
        with pytest.raises(CallToSelfError):
            await GenServer.call(me, "x")


async def test_a_task_may_call_its_own_process(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(SelfCaller)
    ref.cast("spawn")
    await trio.testing.wait_all_tasks_blocked()
    assert await ref.call("get") == 2
    ref.cast("handler-nursery")  # a handler's own nursery: calling itself would deadlock
    ref.cast("self-call")
    assert await ref.call("get") == -99
    await ref.stop()


async def test_nursery_errors(rt: Runtime, autojump_clock: trio.testing.MockClock) -> None:
    with pytest.raises(NotInProcessError, match=r"GenServer\.nursery\(\)"):
        GenServer.nursery()

    class Plain(GenServer[None, str, str, Any]):
        def init(self) -> None:
            GenServer.nursery()

        def handle_call(self, msg: str, state: None) -> Any:  # pragma: no cover
            return None, None

    with pytest.raises(InitializationError) as caught:
        await GenServer.start(Plain)
    cause = caught.value.__cause__
    assert isinstance(cause, NoexError)
    assert "owns no tasks: set `owns_tasks = True` on Plain" in str(cause)

    seen: list[str] = []

    class InTerminate(GenServer[None, str, str, Any]):
        owns_tasks = True

        def init(self) -> None:
            return None

        def handle_call(self, msg: str, state: None) -> Any:  # pragma: no cover
            return None, None

        def terminate(self, reason: object, state: None) -> None:
            try:
                GenServer.nursery()
            except NoexError as error:
                seen.append(str(error))

    ref = await GenServer.start(InTerminate)
    await ref.stop()
    assert len(seen) == 1
    assert "its tasks have ended" in seen[0]


async def test_messages_to_a_process_whose_task_failed(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Ticker, 1.5)
    await GenServer.wait_exit(ref)
    with pytest.raises(ServerNotRunningError) as caught:
        await ref.call("get")
    assert isinstance(caught.value.reason, ValueError)


async def test_owned_tasks_under_a_supervisor_shutdown(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    logs: list[list[str]] = []

    async def start() -> Any:
        log: list[str] = []
        logs.append(log)
        return await GenServer.start(Ticker(log))

    sup = await Supervisor.start([ChildSpec("t", start)])
    await sup.stop()
    assert logs == [["task ended", "terminate str"]]


class Fatal(GenServer[None, str, str, Any]):
    """A task raises KeyboardInterrupt, while init runs or after."""

    owns_tasks = True

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def init(self, during_init: bool) -> None:
        GenServer.nursery().start_soon(self._interrupt)
        if during_init:
            await trio.sleep(10)

    async def _interrupt(self) -> None:
        await trio.sleep(1)
        raise KeyboardInterrupt

    def handle_call(self, msg: str, state: None) -> Any:  # pragma: no cover
        return None, None

    def terminate(self, reason: object, state: None) -> None:
        self.log.append(f"terminate {reason}")


@pytest.mark.parametrize("during_init", [True, False])
def test_keyboard_interrupt_in_a_task_ends_the_runtime_in_order(during_init: bool) -> None:
    from noex_trio import open_runtime

    log: list[str] = []

    async def main() -> None:
        async with open_runtime():
            try:
                await GenServer.start(Fatal(log), during_init)
            except InitializationError:  # pragma: no cover - must not happen
                log.append("init error")
            await trio.sleep_forever()

    with pytest.raises(KeyboardInterrupt):
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert log == ([] if during_init else ["terminate shutdown"])


async def test_cancelling_start_of_an_owner_cancels_init_and_its_tasks(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[str] = []

    class SlowInit(Ticker):
        async def init(self, fail_after: float = math.inf) -> int:
            GenServer.nursery().start_soon(self._tick, GenServer.self(), fail_after)
            await trio.sleep(10)
            return 0  # pragma: no cover - cancelled first

    with trio.move_on_after(1):
        await GenServer.start(SlowInit(log), name="slow")
    assert log == ["task ended"]  # no terminate: init never finished
    assert rt.registry.whereis("slow") is None
    assert rt.processes() == [rt.event_bus]
