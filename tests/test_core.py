"""The process core (issue 11): refs as handles, how user errors are sorted, the exit sequence.

Scenario tests of the same guarantees, through the public API only, are in
`tests/test_soundness.py` and `tests/test_fault_injection.py`.
"""

from __future__ import annotations

import copy
import functools
import logging
import pickle
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import (
    EventBusRef,
    GenServer,
    GenServerRef,
    InitializationError,
    ProcessRef,
    Runtime,
    ServerNotRunningError,
    Started,
    Supervisor,
    SupervisorRef,
    open_runtime,
)
from noex_trio._outcome import crash_reason, find_fatal, is_cancellation
from noex_trio.testing import kill

from .conftest import Counter


class UserExit(BaseException):
    """A user's own BaseException subclass: raised to get out."""


# ---------------------------------------------------------------- sorting what user code raises


def cancelled() -> trio.Cancelled:
    # Trio builds Cancelled only itself: catch a real one.
    async def grab() -> trio.Cancelled:
        with trio.CancelScope() as scope:
            scope.cancel()
            try:
                await trio.lowlevel.checkpoint()
            except trio.Cancelled as exc:
                return exc
        raise AssertionError("not cancelled")

    return trio.run(grab)


def test_fatal_errors_are_found_anywhere_and_interrupts_come_first() -> None:
    ki, user, error = KeyboardInterrupt(), UserExit(), ValueError()
    assert find_fatal(ki) is ki
    assert find_fatal(user) is user
    assert find_fatal(error) is None
    assert find_fatal(cancelled()) is None
    nested = BaseExceptionGroup("outer", [error, BaseExceptionGroup("inner", [user, ki])])
    assert find_fatal(nested) is ki  # a Ctrl-C wins over a user's exit
    assert find_fatal(BaseExceptionGroup("g", [error, user])) is user
    assert find_fatal(ExceptionGroup("g", [error])) is None


def test_only_groups_of_cancellations_are_cancellation() -> None:
    c = cancelled()
    assert is_cancellation(c)
    assert is_cancellation(BaseExceptionGroup("g", [c, BaseExceptionGroup("h", [c])]))
    assert not is_cancellation(BaseExceptionGroup("g", [c, ValueError()]))
    assert not is_cancellation(ValueError())


def test_a_crash_reason_loses_the_cancellations_of_its_group() -> None:
    c, error = cancelled(), ValueError("real")
    reason = crash_reason(BaseExceptionGroup("g", [c, error]))
    assert isinstance(reason, ExceptionGroup)
    assert reason.exceptions == (error,)
    assert crash_reason(error) is error


# ---------------------------------------------------------------- refs are handles


async def test_refs_copy_as_themselves_and_pickle_back_to_the_same_ref(rt: Runtime) -> None:
    ref = await GenServer.start(Counter, 1, name="counter")
    assert copy.copy(ref) is ref
    assert copy.deepcopy(ref) is ref
    assert copy.deepcopy({"ref": ref})["ref"] is ref
    assert pickle.loads(pickle.dumps(ref)) is ref
    assert pickle.loads(pickle.dumps(rt.event_bus)) is rt.event_bus
    await ref.stop()


async def test_an_unpickled_ref_of_a_gone_process_is_not_running(rt: Runtime) -> None:
    ref = await GenServer.start(Counter, 1)
    data = pickle.dumps(ref)
    await ref.stop()
    ghost = pickle.loads(data)
    assert ghost is not ref
    assert type(ghost) is GenServerRef
    assert repr(ghost) == repr(ref)
    assert ghost.id == ref.id
    assert not ghost.is_running()
    assert ghost.exit_reason == "noproc"
    with pytest.raises(ServerNotRunningError, match=r"^Counter#\d+ is not running"):
        await ghost.call("get")
    with pytest.raises(ServerNotRunningError):
        ghost.cast(1)
    await ghost.stop()  # idempotent: nothing to stop
    assert await GenServer.wait_exit(ghost) == "noproc"


def test_handles_cannot_be_built_and_are_final() -> None:
    for cls in (ProcessRef, GenServerRef, SupervisorRef, EventBusRef, Runtime):
        with pytest.raises(TypeError, match=r"has no public constructor"):
            cls()  # type: ignore[call-arg]
    assert not hasattr(SupervisorRef, "call")
    assert not hasattr(EventBusRef, "cast")


# ---------------------------------------------------------------- the exit sequence


async def test_terminate_after_a_crash_gets_the_state_the_crashing_message_found(
    rt: Runtime,
) -> None:
    seen: list[int] = []

    class Adder(Counter):
        def terminate(self, reason: Any, state: int) -> None:
            seen.append(state)

    ref = await GenServer.start(Adder, 0)
    ref.cast(2)
    ref.cast(3)
    with pytest.raises(ValueError, match=r"^bad call 'boom'$"):
        await ref.call("boom")
    assert seen == [5]  # not the state init returned


async def test_a_brutal_kill_cuts_a_running_terminate_short(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    started = trio.Event()

    class Slow(Counter):
        async def terminate(self, reason: Any, state: int) -> None:
            started.set()
            await trio.sleep(100)

    ref = await GenServer.start(Slow)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.stop)
        await started.wait()
        kill(ref)  # brutal: "killed", whatever came before
    assert trio.current_time() == 0
    assert ref.exit_reason == "killed"


# ---------------------------------------------------------------- callbacks that misbehave


def decorated(callback: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """An ordinary decorator: a sync wrapper that returns the callback's coroutine."""

    @functools.wraps(callback)
    def wrapper(*args: Any) -> Any:
        return callback(*args)

    return wrapper


async def test_async_callbacks_behind_sync_decorators_are_awaited(rt: Runtime) -> None:
    seen: list[Any] = []

    class Wrapped:
        @decorated
        async def init(self, start: int) -> int:
            await trio.lowlevel.checkpoint()
            return start

        @decorated
        async def handle_call(self, msg: Any, state: int) -> tuple[int, int]:
            await trio.lowlevel.checkpoint()
            if isinstance(msg, ProcessRef):
                GenServer.monitor(msg)
            return state, state

        @decorated
        async def handle_cast(self, msg: int, state: int) -> int:
            await trio.lowlevel.checkpoint()
            return state + msg

        @decorated
        async def handle_info(self, msg: Any, state: int) -> int:
            await trio.lowlevel.checkpoint()
            seen.append(type(msg).__name__)
            return state + 100

        @decorated
        async def terminate(self, reason: Any, state: int) -> None:
            await trio.lowlevel.checkpoint()
            seen.append(("terminate", reason, state))

    ref = await GenServer.start(Wrapped(), 1)
    assert await GenServer.call(ref, "get") == 1
    GenServer.cast(ref, 2)
    assert await GenServer.call(ref, "get") == 3
    other = await GenServer.start(Counter)
    await GenServer.call(ref, other)  # monitor it
    await other.stop()
    assert await GenServer.call(ref, "get") == 103
    await GenServer.stop(ref)
    assert seen == ["Down", ("terminate", "normal", 103)]


async def test_a_behaviour_object_without_handle_info_logs_and_drops(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    class Bare:
        def init(self) -> None:
            return None

        def handle_call(self, msg: Any, state: None) -> tuple[None, None]:
            if isinstance(msg, ProcessRef):
                GenServer.monitor(msg)
            return None, None

        def handle_cast(self, msg: Any, state: None) -> None:
            return None

    ref = await GenServer.start(Bare())
    target = await GenServer.start(Counter)
    await GenServer.call(ref, target)  # monitor it
    with caplog.at_level(logging.WARNING, logger="noex_trio"):
        await target.stop()
        await GenServer.call(ref, "sync")
    assert re.search(r"Bare#\d+ got Down\(.*\) but defines no handle_info; dropped", caplog.text)
    await GenServer.stop(ref)


async def test_an_init_error_with_a_broken_repr_is_an_initialization_error(rt: Runtime) -> None:
    class Broken(Exception):
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

        def __str__(self) -> str:
            raise RuntimeError("no str")

    class Failing(Counter):
        def init(self, start: int = 0) -> int:
            raise Broken

    with pytest.raises(InitializationError, match=r"init raised <.*Broken object at 0x") as info:
        await GenServer.start(Failing)
    assert type(info.value.__cause__) is Broken


# ---------------------------------------------------------------- the end of the runtime


class Journal(GenServer[None, Any, Any, Any]):
    def __init__(self, tag: str, log: list[str], raises: BaseException | None = None) -> None:
        self.tag, self.log, self.raises = tag, log, raises

    def init(self) -> None:
        return None

    def handle_call(self, msg: Any, state: None) -> tuple[None, None]:
        return None, None

    def handle_cast(self, msg: Any, state: None) -> None:
        return None

    def terminate(self, reason: Any, state: None) -> None:
        self.log.append(self.tag)
        if self.raises is not None:
            raise self.raises


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(3), UserExit()])
def test_a_fatal_error_in_a_lifecycle_handler_ends_the_runtime_in_order(
    error: BaseException,
) -> None:
    log: list[str] = []
    raised: list[Any] = []

    async def main() -> None:
        async with open_runtime() as rt:
            await GenServer.start(Journal("a", log))
            await GenServer.start(Journal("b", log))

            def handler(event: Any) -> None:
                if isinstance(event, Started) and not raised:
                    raised.append(event)
                    raise error

            rt.on_lifecycle_event(handler)
            await GenServer.start(Journal("c", log))  # its Started raises
            await trio.sleep_forever()

    with pytest.raises(type(error)):
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert log == ["c", "b", "a"]


def test_a_second_interrupt_during_the_shutdown_kills_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[str] = []

    class Slow(Journal):
        async def terminate(self, reason: Any, state: None) -> None:  # type: ignore[override]
            self.log.append(self.tag)
            if self.tag == "c":
                raise KeyboardInterrupt  # the second Ctrl-C, while shutting down
            await trio.sleep(100)

    async def main() -> None:
        async with open_runtime():
            for tag in "abc":
                await GenServer.start(Slow(tag, log))
            raise KeyboardInterrupt  # the first one, in the body

    with pytest.raises(KeyboardInterrupt):
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert log == ["c"]  # b and a were killed without terminate


async def test_a_supervisor_survives_a_linked_outsider(rt: Runtime) -> None:
    sup = await Supervisor.start([Counter.child_spec(id="c")])

    class Linker(Counter):
        def handle_cast(self, msg: Any, state: int) -> int:
            GenServer.link(sup)
            raise RuntimeError("outsider crashed")

    outsider = await GenServer.start(Linker)
    outsider.cast(1)
    assert isinstance(await GenServer.wait_exit(outsider), RuntimeError)
    await trio.testing.wait_all_tasks_blocked()
    assert Supervisor.is_running(sup)
    assert Supervisor.count_children(sup) == 1
    await Supervisor.stop(sup)


async def test_a_temporary_child_stopped_is_gone_from_the_table_at_once(rt: Runtime) -> None:
    sup = await Supervisor.start([Counter.child_spec(id="t", restart="temporary")])
    child = Supervisor.get_child(sup, "t").ref
    assert isinstance(child, GenServerRef)
    await GenServer.stop(child)
    assert Supervisor.count_children(sup) == 0  # no scheduling point needed
    assert Supervisor.get_children(sup) == []
    await Supervisor.stop(sup)


async def test_a_failed_supervisor_start_leaves_no_dead_letters(rt: Runtime) -> None:
    class Failing(Counter):
        def init(self, start: int = 0) -> int:
            raise ValueError("no")

    with pytest.raises(InitializationError):
        await Supervisor.start(
            [Counter.child_spec(id="a"), Counter.child_spec(id="b"), Failing.child_spec(id="c")]
        )
    # Dead letters are dropped casts and timer messages, not the library's own notices.
    assert rt.statistics().dead_letters == 0


async def test_dead_letters_count_the_casts_a_dying_process_drops(rt: Runtime) -> None:
    gate = trio.Event()

    class Gated(GenServer[int, str, int, int]):
        def init(self) -> int:
            return 0

        async def handle_cast(self, msg: int, state: int) -> int:
            await gate.wait()
            return state

    ref = await GenServer.start(Gated)
    for i in range(3):
        ref.cast(i)
    await trio.testing.wait_all_tasks_blocked()  # the first cast is being handled
    kill(ref)
    await GenServer.wait_exit(ref)
    assert rt.statistics().dead_letters == 2


async def test_supervisor_requests_to_a_gone_supervisor_are_checkpoints(rt: Runtime) -> None:
    sup = await Supervisor.start([Counter.child_spec(id="a")])
    await Supervisor.stop(sup)
    requests: list[Callable[[], Awaitable[object]]] = [
        lambda: Supervisor.start_child(sup, Counter.child_spec(id="b")),
        lambda: Supervisor.terminate_child(sup, "a"),
        lambda: Supervisor.restart_child(sup, "a"),
    ]
    for request in requests:
        with trio.testing.assert_checkpoints(), pytest.raises(ServerNotRunningError):
            await request()
