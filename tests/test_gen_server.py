"""Tests for `noex_trio._gen_server` and `noex_trio._process`: SPEC §2 (monitors/links aside)."""

from __future__ import annotations

import logging
import math
import re
import weakref
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from noex_trio import (
    AlreadyRegisteredError,
    Caller,
    CallTimeoutError,
    CallToSelfError,
    Crashed,
    ExitReason,
    GenServer,
    GenServerRef,
    InitializationError,
    InvalidChildSpecError,
    LifecycleEvent,
    MailboxFullError,
    NoexError,
    NoReply,
    Registry,
    Reply,
    Runtime,
    ServerNotRunningError,
    Started,
    Stop,
    Supervisor,
    Terminated,
    open_runtime,
)
from noex_trio._process import Process, process_of

from .conftest import (
    Counter,
    Echo,
    assert_collected,
    assert_no_cyclic_garbage,
    raiser,
    returning,
    user_processes,
)

Ref = GenServerRef[Any, Any, Any]


def record_events(rt: Runtime) -> list[LifecycleEvent]:
    events: list[LifecycleEvent] = []
    rt.on_lifecycle_event(events.append)
    return events


class Sleeper(GenServer[list[Any], float, Any, float]):
    """``call(d)`` sleeps `d` seconds then replies `d`; records what it handled."""

    def __init__(self) -> None:
        self.handled: list[float] = []

    def init(self) -> list[Any]:
        return []

    async def handle_call(self, msg: float, state: list[Any]) -> tuple[float, list[Any]]:
        await trio.sleep(msg)
        self.handled.append(msg)
        return msg, state

    def handle_cast(self, msg: Any, state: list[Any]) -> list[Any]:
        return [*state, msg]


class PlainCounter:
    """A behaviour object that does not subclass GenServer."""

    def init(self, start: int) -> int:
        return start

    def handle_call(self, msg: str, state: int) -> tuple[int, int]:
        return state, state

    def handle_cast(self, msg: int, state: int) -> int:
        return state + msg


class AsyncCounter(GenServer[int, str, int, int]):
    def __init__(self) -> None:
        self.terminated: list[Any] = []

    async def init(self, start: int) -> int:
        await trio.lowlevel.checkpoint()
        return start

    async def handle_call(self, msg: str, state: int) -> tuple[int, int]:
        await trio.lowlevel.checkpoint()
        return state, state

    async def handle_cast(self, msg: int, state: int) -> int:
        await trio.lowlevel.checkpoint()
        return state + msg

    async def terminate(self, reason: Any, state: int) -> None:
        await trio.lowlevel.checkpoint()
        self.terminated.append((reason, state))


class SlowInit(Echo):
    async def init(self, *args: Any) -> list[Any]:
        self.seen.append(("init-start", args))
        await trio.sleep(10)
        self.seen.append(("init", args))
        return []


# ---------------------------------------------------------------- start


async def test_class_and_object_behaviours_sync_and_async(rt: Runtime) -> None:
    counter = await GenServer.start(Counter, 5)
    counter.cast(2)
    assert await counter.call("get") == 7

    plain = await GenServer.start(PlainCounter(), 1)
    GenServer.cast(plain, 2)
    assert await GenServer.call(plain, "get") == 3

    behaviour = AsyncCounter()
    ref = await GenServer.start(behaviour, 10)
    ref.cast(1)
    assert await ref.call("get") == 11
    await ref.stop()
    assert behaviour.terminated == [("normal", 11)]


async def test_a_class_is_instantiated_per_start(rt: Runtime) -> None:
    a = await GenServer.start(Counter, 1)
    b = await GenServer.start(Counter, 2)
    assert process_of(a).behaviour is not process_of(b).behaviour
    assert (await a.call("get"), await b.call("get")) == (1, 2)


async def test_start_emits_started_and_returns_after_init(rt: Runtime) -> None:
    events = record_events(rt)
    behaviour = Echo()
    ref = await GenServer.start(behaviour, 1, 2)
    assert behaviour.seen == [("init", (1, 2))]
    assert events == [Started(ref)]
    assert ref.is_running()
    assert ref.exit_reason is None


async def test_ref_identity_hash_and_repr(rt: Runtime) -> None:
    a = await GenServer.start(Counter)
    b = await GenServer.start(Counter, name="counter")
    assert a != b
    assert a == a
    assert len({a, b, a}) == 2
    assert re.fullmatch(r"<GenServerRef Counter#\d+>", repr(a))
    assert re.fullmatch(r"<GenServerRef counter#\d+>", repr(b))
    assert a.id != b.id
    assert Registry.lookup("counter") is b
    await a.stop()
    assert not a.is_running()
    assert a.exit_reason == "normal"
    assert {a: 1}[a] == 1


async def test_init_timeout(rt: Runtime, autojump_clock: trio.testing.MockClock) -> None:
    events = record_events(rt)
    behaviour = SlowInit()
    t0 = trio.current_time()
    with pytest.raises(InitializationError, match=r"^slow#\d+ failed to start: init timed out"):
        await GenServer.start(behaviour, name="slow", init_timeout=2.5)
    assert trio.current_time() == t0 + 2.5
    assert behaviour.seen == [("init-start", ())]  # init was cancelled
    assert Registry.whereis("slow") is None
    assert events == []
    assert user_processes(rt) == []


async def test_init_exception_is_chained(rt: Runtime) -> None:
    class Bad(Counter):
        def init(self, start: int = 0) -> int:
            raise KeyError("nope")

    events = record_events(rt)
    with pytest.raises(InitializationError, match=r"^bad#\d+ failed to start: init raised") as info:
        await GenServer.start(Bad, name="bad")
    assert isinstance(info.value.__cause__, KeyError)
    assert Registry.whereis("bad") is None
    assert events == []
    assert user_processes(rt) == []
    # the name can be used again at once
    ref = await GenServer.start(Counter, name="bad")
    assert Registry.lookup("bad") is ref


async def test_failed_init_process_is_collectable(rt: Runtime) -> None:
    class Bad(Counter):
        def init(self, start: int = 0) -> int:
            raise KeyError("nope")

    seen: list[weakref.ref[Any]] = []

    def track(event: LifecycleEvent) -> None:  # pragma: no cover - a failed init emits nothing
        seen.append(weakref.ref(event.ref))

    rt.on_lifecycle_event(track)
    with pytest.raises(InitializationError) as info:
        await GenServer.start(Bad)
    target = info.value.target
    assert isinstance(target, GenServerRef)
    ref = weakref.ref(target)
    del info, target
    assert_collected([ref])


async def test_cancelled_start_leaves_nothing(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    behaviour = SlowInit()
    with trio.move_on_after(1) as scope:
        await GenServer.start(behaviour, name="slow")
    assert scope.cancelled_caught
    assert behaviour.seen == [("init-start", ())]
    assert Registry.whereis("slow") is None
    assert user_processes(rt) == []
    assert rt.statistics().registered_names == 0


async def test_messages_sent_during_init_are_handled_after_it(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    behaviour = SlowInit()
    replies: list[Any] = []

    async def caller() -> None:
        replies.append(await GenServer.call("slow", "q", timeout=math.inf))

    async with trio.open_nursery() as nursery:

        async def start() -> None:
            await GenServer.start(behaviour, name="slow", init_timeout=20.0)

        nursery.start_soon(start)
        await trio.testing.wait_all_tasks_blocked()
        assert GenServer.is_running("slow")
        GenServer.cast("slow", "c1")
        nursery.start_soon(caller)
        await trio.testing.wait_all_tasks_blocked()
        GenServer.cast("slow", "c2")
    assert behaviour.seen == [
        ("init-start", ()),
        ("init", ()),
        ("cast", "c1"),
        ("call", "q"),
        ("cast", "c2"),
    ]
    assert replies == ["q"]


async def test_start_with_a_taken_name_does_not_run_init(rt: Runtime) -> None:
    first = await GenServer.start(Counter, name="taken")
    behaviour = Echo()
    with pytest.raises(AlreadyRegisteredError, match=r"^name 'taken' is already registered"):
        await GenServer.start(behaviour, name="taken")
    assert behaviour.seen == []
    assert Registry.lookup("taken") is first
    assert user_processes(rt) == [first]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"mailbox_size": 0},
            ValueError,
            r"^expected mailbox_size to be an int >= 1 or math.inf, got 0$",
        ),
        ({"mailbox_size": -3}, ValueError, r"^expected mailbox_size to be .*got -3$"),
        ({"mailbox_size": 1.5}, TypeError, r"^expected mailbox_size to be .*got 1.5$"),
        ({"mailbox_size": True}, TypeError, r"^expected mailbox_size to be .*got True$"),
        ({"mailbox_size": "3"}, TypeError, r"^expected mailbox_size to be .*got '3'$"),
        (
            {"init_timeout": 0},
            ValueError,
            r"^expected init_timeout to be a number of seconds > 0 or math.inf, got 0$",
        ),
        (
            {"init_timeout": -1.0},
            ValueError,
            r"^expected init_timeout to be a number of seconds > 0",
        ),
        (
            {"init_timeout": math.nan},
            ValueError,
            r"^expected init_timeout to be a number of seconds > 0",
        ),
        (
            {"init_timeout": "5"},
            TypeError,
            r"^expected init_timeout to be a number of seconds > 0 or math.inf, got '5'$",
        ),
        ({"init_timeout": None}, TypeError, r"^expected init_timeout to be a number"),
        ({"name": ""}, ValueError, r"^expected name to be a non-empty str, got ''$"),
        ({"name": 42}, TypeError, r"^expected name to be a non-empty str or a Via, got 42$"),
        ({"trap_exit": 1}, TypeError, r"^expected trap_exit to be a bool, got 1$"),
    ],
)
async def test_start_rejects_bad_arguments(
    rt: Runtime, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    behaviour = Echo()
    with pytest.raises(error, match=message):
        await GenServer.start(behaviour, **kwargs)
    assert behaviour.seen == []
    assert user_processes(rt) == []
    assert Registry.count() == 0


async def test_start_rejects_incomplete_behaviours(rt: Runtime) -> None:
    class OnlyInit:
        def init(self) -> None:
            return None

    class NoInit:
        def handle_call(self, msg: Any, state: Any) -> Any:  # pragma: no cover - never started
            return msg, state

    with pytest.raises(
        TypeError,
        match=r"^behaviour OnlyInit is missing required callbacks: handle_call, handle_cast$",
    ):
        await GenServer.start(OnlyInit)
    with pytest.raises(TypeError, match=r"^behaviour OnlyInit is missing .*handle_cast$"):
        await GenServer.start(OnlyInit())
    with pytest.raises(TypeError, match=r"^behaviour NoInit is missing required callbacks: init, "):
        await GenServer.start(NoInit)  # type: ignore[call-arg, arg-type]  # (no init)
    with pytest.raises(TypeError, match=r"^behaviour int is missing required callbacks: init"):
        await GenServer.start(5)  # type: ignore[call-overload]
    assert user_processes(rt) == []


async def test_gen_server_defaults_crash_on_unhandled_messages(rt: Runtime) -> None:
    class InitOnly(GenServer[int, str, str, int]):
        def init(self) -> int:
            return 0

    ref = await GenServer.start(InitOnly)
    with pytest.raises(
        NotImplementedError, match=r"^InitOnly got call 'x' but has no handle_call$"
    ):
        await ref.call("x")
    ref = await GenServer.start(InitOnly)
    ref.cast("y")
    reason = await GenServer.wait_exit(ref)
    assert isinstance(reason, NotImplementedError)
    assert str(reason) == "InitOnly got cast 'y' but has no handle_cast"


# ---------------------------------------------------------------- call


async def test_call_by_ref_and_name(rt: Runtime) -> None:
    ref = await GenServer.start(Counter, 1, name="c")
    assert await GenServer.call("c", "incr") == 2
    assert await GenServer.call(ref, "incr") == 3
    assert await ref.call("get") == 3


async def test_call_timeout_is_exact_and_harmless(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    behaviour = Sleeper()
    ref = await GenServer.start(behaviour, name="sleepy")
    t0 = trio.current_time()
    with pytest.raises(CallTimeoutError, match=r"^call to 'sleepy' timed out after 2.0 s$") as info:
        await GenServer.call("sleepy", 10.0, timeout=2.0)
    assert trio.current_time() == t0 + 2.0
    assert isinstance(info.value, trio.TooSlowError)
    assert isinstance(info.value, NoexError)
    assert info.value.timeout == 2.0
    # the late reply is dropped, the server keeps serving in order
    assert await ref.call(1.0, timeout=math.inf) == 1.0
    assert trio.current_time() == t0 + 11.0
    assert behaviour.handled == [10.0, 1.0]
    assert ref.is_running()


async def test_default_call_timeout_is_five_seconds(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Sleeper)
    t0 = trio.current_time()
    with pytest.raises(CallTimeoutError, match=r"^call to Sleeper#\d+ timed out after 5.0 s$"):
        await ref.call(100.0)
    assert trio.current_time() == t0 + 5.0


async def test_many_distinct_timeouts_each_exact(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    """More distinct timeout values than the watchdog keeps lists for: each is still exact."""
    ref = await GenServer.start(Sleeper)
    t0 = trio.current_time()
    timeouts = [1.0 + i / 4 for i in range(20)]
    done: dict[float, float] = {}

    async def one(limit: float) -> None:
        with pytest.raises(CallTimeoutError):
            await ref.call(1000.0, timeout=limit)
        done[limit] = trio.current_time() - t0

    async with trio.open_nursery() as nursery:
        for timeout in timeouts:
            nursery.start_soon(one, timeout)
    assert done == {timeout: timeout for timeout in timeouts}
    # a call that is answered in time under a fallback (scope) timeout
    ref2 = await GenServer.start(Counter)
    assert await ref2.call("get", timeout=123.25) == 0


async def test_call_with_infinite_timeout(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Sleeper)
    t0 = trio.current_time()
    assert await ref.call(1000.0, timeout=math.inf) == 1000.0
    assert trio.current_time() == t0 + 1000.0


@pytest.mark.parametrize(
    ("bad_timeout", "error", "message"),
    [
        (0, ValueError, r"^expected timeout to be a number of seconds > 0 or math.inf, got 0$"),
        (-1, ValueError, r"^expected timeout to be a number of seconds > 0 or math.inf, got -1$"),
        (
            math.nan,
            ValueError,
            r"^expected timeout to be a number of seconds > 0 or math.inf, got nan$",
        ),
        ("5", TypeError, r"^expected timeout to be a number of seconds > 0 or math.inf, got '5'$"),
        (
            None,
            TypeError,
            r"^expected timeout to be a number of seconds > 0 or math.inf, got None$",
        ),
        (
            True,
            TypeError,
            r"^expected timeout to be a number of seconds > 0 or math.inf, got True$",
        ),
    ],
)
async def test_call_rejects_bad_timeouts(
    rt: Runtime, bad_timeout: Any, error: type[Exception], message: str
) -> None:
    behaviour = Echo()
    ref = await GenServer.start(behaviour)
    with pytest.raises(error, match=message):
        await ref.call("x", timeout=bad_timeout)
    assert behaviour.seen == [("init", ())]  # nothing was queued


async def test_call_unknown_name_and_dead_ref(rt: Runtime) -> None:
    with pytest.raises(ServerNotRunningError, match=r"^'ghost' is not running$") as info:
        await GenServer.call("ghost", "x")
    assert info.value.reason == "noproc"
    ref = await GenServer.start(Counter)
    await ref.stop("shutdown")
    with pytest.raises(
        ServerNotRunningError, match=r"^Counter#\d+ is not running \(exit reason: 'shutdown'\)$"
    ) as info:
        await ref.call("get")
    assert info.value.reason == "shutdown"
    assert info.value.target is ref


async def test_call_rejects_bad_targets(rt: Runtime) -> None:
    with pytest.raises(
        TypeError, match=r"^expected target to be a GenServerRef or a registered name, got 42$"
    ):
        await GenServer.call(42, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected target to be a GenServerRef"):
        GenServer.cast(None, "x")  # type: ignore[arg-type]


async def test_call_to_self_fails_at_once(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    class Selfish(GenServer[None, str, str, str]):
        def init(self) -> None:
            return None

        async def handle_call(self, msg: str, state: None) -> tuple[str, None]:
            target: Any = GenServer.self() if msg == "ref" else "me"
            t0 = trio.current_time()
            try:
                await GenServer.call(target, "again")
            except CallToSelfError as exc:
                assert trio.current_time() == t0
                return str(exc), state
            raise AssertionError("unreachable")

        def handle_cast(self, msg: str, state: None) -> None:  # pragma: no cover
            return state

    ref = await GenServer.start(Selfish, name="me")
    assert re.fullmatch(r"me#\d+ called itself; .*", await ref.call("ref"))
    assert re.fullmatch(r"'me' called itself; .*", await ref.call("name"))
    assert ref.is_running()


async def test_cancelled_caller_leaves_server_unharmed(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    behaviour = Sleeper()
    ref = await GenServer.start(behaviour)
    with trio.move_on_after(1) as scope:
        await ref.call(5.0, timeout=math.inf)
    assert scope.cancelled_caught
    with trio.move_on_after(1):
        await ref.call(5.0)  # watched by the watchdog, then cancelled
    ref.cast("state")
    assert await ref.call(0.5, timeout=math.inf) == 0.5
    assert behaviour.handled == [5.0, 5.0, 0.5]
    assert ref.is_running()


async def test_concurrent_calls_are_fifo_with_state_threaded(rt: Runtime) -> None:
    class Acc(GenServer[int, int, int, int]):
        def init(self) -> int:
            return 0

        async def handle_call(self, msg: int, state: int) -> tuple[int, int]:
            await trio.lowlevel.checkpoint()
            return state + msg, state + msg

        def handle_cast(self, msg: int, state: int) -> int:  # pragma: no cover
            return state

    ref = await GenServer.start(Acc)
    results: dict[int, int] = {}

    async def one(n: int) -> None:
        results[n] = await ref.call(n)

    async with trio.open_nursery() as nursery:
        for n in (1, 2, 3):
            nursery.start_soon(one, n)
            await trio.testing.wait_all_tasks_blocked()
    assert [results[n] for n in (1, 2, 3)] == [1, 3, 6]


async def test_calls_casts_and_stop_share_one_fifo(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    async def slow(state: list[Any]) -> Any:
        await trio.sleep(1)
        return Reply("slow", state)

    behaviour = Echo()
    ref = await GenServer.start(behaviour)
    results: list[Any] = []

    async def call(msg: Any) -> None:
        try:
            results.append(await ref.call(msg))
        except ServerNotRunningError as exc:
            results.append(("not running", msg, exc.reason, trio.current_time()))

    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(call, slow)
        await trio.testing.wait_all_tasks_blocked()
        ref.cast("a")
        nursery.start_soon(call, "b")
        await trio.testing.wait_all_tasks_blocked()
        ref.cast("c")
        nursery.start_soon(ref.stop)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(call, "d")  # queued behind the stop: is not even accepted
    assert [m for kind, m in behaviour.seen[2:]] == ["a", "b", "c"]
    assert results[0] == ("not running", "d", "stopping", t0)
    assert sorted(results[1:]) == ["b", "slow"]
    assert behaviour.terminated == [("normal", ["a", "b", "c"])]


# ---------------------------------------------------------------- crashes


async def test_crash_in_handle_call(
    rt: Runtime, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    events = record_events(rt)
    error = ValueError("boom")
    names_at_terminated: list[Any] = []

    def on_event(event: LifecycleEvent) -> None:
        if isinstance(event, Terminated):
            names_at_terminated.append((Registry.whereis("one"), Registry.whereis("two")))

    rt.on_lifecycle_event(on_event)

    async def crash_later(state: list[Any]) -> Any:
        await trio.sleep(1)
        raise error

    behaviour = Echo()
    ref = await GenServer.start(behaviour, name="one")
    Registry.register("two", ref)
    outcome: list[Any] = []

    async def queued(msg: str) -> None:
        try:
            await ref.call(msg)
        except ServerNotRunningError as exc:
            outcome.append((msg, exc.reason, trio.current_time()))

    crashes: list[BaseException] = []

    async def crashing_call() -> None:
        with pytest.raises(ValueError, match=r"^boom$") as info:
            await ref.call(crash_later)
        crashes.append(info.value)

    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(crashing_call)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(queued, "q1")
        nursery.start_soon(queued, "q2")
    assert crashes == [error]
    assert trio.current_time() == t0 + 1
    assert sorted(outcome) == [("q1", error, t0 + 1), ("q2", error, t0 + 1)]
    assert behaviour.terminated == [(error, [])]
    assert ref.exit_reason is error
    assert not ref.is_running()
    assert Registry.names() == []
    assert names_at_terminated == [(None, None)]
    assert events[1:] == [Crashed(ref, error), Terminated(ref, error)]
    crash_logs = [r for r in caplog.records if r.name == "noex_trio" and "crashed" in r.message]
    assert len(crash_logs) == 1
    record = crash_logs[0]
    assert record.levelno == logging.ERROR
    assert re.fullmatch(
        r"one#\d+ crashed \(supervisor: none\)\n  last message: call .*\n  state: \[\]",
        record.getMessage(),
    )
    assert record.noex_process == f"one#{ref.id}"  # type: ignore[attr-defined]
    assert record.noex_supervisors == "none"  # type: ignore[attr-defined]
    assert record.exc_info is not None
    assert record.exc_info[1] is error
    assert "Traceback" in caplog.text


@pytest.mark.parametrize("via", ["cast", "info"])
async def test_crash_in_handle_cast_and_info(
    rt: Runtime, caplog: pytest.LogCaptureFixture, via: str
) -> None:
    events = record_events(rt)
    error = KeyError("k")
    behaviour = Echo()
    ref = await GenServer.start(behaviour, name="x")
    if via == "cast":
        ref.cast(raiser(error))
    else:
        assert process_of(ref).deliver_info(raiser(error))
    assert await GenServer.wait_exit(ref) is error
    assert behaviour.terminated == [(error, [])]
    assert events[1:] == [Crashed(ref, error), Terminated(ref, error)]
    assert Registry.names() == []
    with pytest.raises(ServerNotRunningError) as info:
        ref.cast("late")
    assert info.value.reason is error
    assert "crashed" in caplog.text


@pytest.mark.parametrize(
    ("handler", "result", "message"),
    [
        (
            "call",
            5,
            r"^Echo.handle_call must return \(reply, state\), Reply, NoReply or Stop, got 5$",
        ),
        ("call", (1, 2, 3), r"^Echo.handle_call must return .*got \(1, 2, 3\)$"),
        ("call", [1, 2], r"^Echo.handle_call must return .*got \[1, 2\]$"),
        (
            "cast",
            Reply(1, []),
            r"^Echo.handle_cast must return a new state, NoReply, Continue or Stop, got ",
        ),
        (
            "info",
            Reply(1, []),
            r"^Echo.handle_info must return a new state, NoReply, Continue or Stop, got ",
        ),
    ],
)
async def test_malformed_results_crash_with_type_error(
    rt: Runtime, caplog: pytest.LogCaptureFixture, handler: str, result: Any, message: str
) -> None:
    ref = await GenServer.start(Echo)
    if handler == "call":
        with pytest.raises(TypeError, match=message):
            await ref.call(returning(result))
    elif handler == "cast":
        ref.cast(returning(result))
    else:
        process_of(ref).deliver_info(returning(result))
    reason = await GenServer.wait_exit(ref)
    assert isinstance(reason, TypeError)
    assert re.match(message, str(reason))


async def test_handle_info_missing_logs_and_drops(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    ref = await GenServer.start(Counter)
    assert process_of(ref).deliver_info("hello")
    assert await ref.call("get") == 0
    assert re.search(r"Counter#\d+ got 'hello' but defines no handle_info; dropped", caplog.text)
    await ref.stop()
    assert not process_of(ref).deliver_info("late")


async def test_sync_handle_info(rt: Runtime) -> None:
    class Info(Counter):
        def handle_info(self, msg: int, state: int) -> int:
            return state + msg

    ref = await GenServer.start(Info)
    process_of(ref).deliver_info(4)
    assert await ref.call("get") == 4


# ---------------------------------------------------------------- result objects


async def test_reply_and_noreply_from_casts(rt: Runtime) -> None:
    behaviour = Echo()
    ref = await GenServer.start(behaviour)
    assert await ref.call(returning(Reply("r", ["s"]))) == "r"
    ref.cast(returning(NoReply(["n"])))
    process_of(ref).deliver_info(returning(NoReply(["i"])))
    assert await ref.call(lambda state: (state, state)) == ["i"]


async def test_stop_with_reply_from_call(rt: Runtime) -> None:
    events = record_events(rt)
    behaviour = Echo()
    ref = await GenServer.start(behaviour, name="s")
    seen_terminate: list[Any] = []

    reply = await ref.call(returning(Stop("normal", ["final"], reply="bye")))
    seen_terminate.extend(behaviour.terminated)  # terminate ran before the reply arrived
    assert reply == "bye"
    assert seen_terminate == [("normal", ["final"])]
    assert ref.exit_reason == "normal"
    assert Registry.whereis("s") is None
    assert events[1:] == [Terminated(ref, "normal")]


async def test_stop_without_reply_fails_the_caller(rt: Runtime) -> None:
    behaviour = Echo()
    ref = await GenServer.start(behaviour)
    with pytest.raises(ServerNotRunningError, match=r"exit reason: 'shutdown'") as info:
        await ref.call(returning(Stop("shutdown", ["x"])))
    assert info.value.reason == "shutdown"
    assert behaviour.terminated == [("shutdown", ["x"])]


async def test_stop_with_an_exception_reason_is_a_crash(rt: Runtime) -> None:
    events = record_events(rt)
    error = RuntimeError("planned")
    ref = await GenServer.start(Echo)
    ref.cast(returning(Stop(error, [])))
    assert await GenServer.wait_exit(ref) is error
    assert events[1:] == [Crashed(ref, error), Terminated(ref, error)]


@pytest.mark.parametrize("via", ["cast", "info"])
async def test_stop_from_cast_and_info(rt: Runtime, via: str) -> None:
    behaviour = Echo()
    ref = await GenServer.start(behaviour)
    message = returning(Stop("normal", ["done"]))
    if via == "cast":
        ref.cast(message)
    else:
        process_of(ref).deliver_info(message)
    assert await GenServer.wait_exit(ref) == "normal"
    assert behaviour.terminated == [("normal", ["done"])]


# ---------------------------------------------------------------- deferred replies


class Deferred(GenServer[list[Caller[Any]], str, str, str]):
    """``call("wait")`` is answered later by ``cast("release")`` (twice: the second is ignored)."""

    def init(self) -> list[Caller[Any]]:
        return []

    def handle_call(self, msg: str, state: list[Caller[Any]]) -> Any:
        if msg == "wait":
            return NoReply([*state, GenServer.caller()])
        if msg == "early":
            caller = GenServer.caller()
            caller.reply("early")  # answered inside the handler, then NoReply
            return NoReply(state)
        if msg == "stop":
            return Stop("normal", state)
        return "now", state

    def handle_cast(self, msg: str, state: list[Caller[Any]]) -> list[Caller[Any]]:
        if msg == "release":
            for caller in state:
                caller.reply("released")
                caller.reply("ignored")
            return []
        return state


async def test_deferred_reply(rt: Runtime, autojump_clock: trio.testing.MockClock) -> None:
    ref = await GenServer.start(Deferred)
    replies: list[tuple[str, float]] = []

    async def wait() -> None:
        replies.append((await ref.call("wait"), trio.current_time()))

    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        assert await ref.call("other") == "now"  # the server keeps serving meanwhile
        await trio.sleep(1)
        ref.cast("release")
    assert replies == [("released", t0 + 1), ("released", t0 + 1)]
    assert await ref.call("early") == "early"


async def test_deferred_callers_fail_when_the_process_exits(rt: Runtime) -> None:
    ref = await GenServer.start(Deferred)
    failures: list[Any] = []

    async def wait() -> None:
        with pytest.raises(ServerNotRunningError) as info:
            await ref.call("wait")
        failures.append(info.value.reason)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        await ref.stop("shutdown")
    assert failures == ["shutdown"]


async def test_deferred_caller_that_timed_out_ignores_reply(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Deferred)
    with pytest.raises(CallTimeoutError):
        await ref.call("wait", timeout=1.0)
    ref.cast("release")  # replying to a caller that gave up is harmless
    assert await ref.call("other") == "now"


async def test_caller_outside_handle_call(rt: Runtime) -> None:
    with pytest.raises(
        NoexError, match=r"^GenServer.caller\(\) can only be used inside handle_call$"
    ):
        GenServer.caller()

    class CastCaller(Counter):
        def handle_cast(self, msg: int, state: int) -> int:
            GenServer.caller()
            return state  # pragma: no cover

    ref = await GenServer.start(CastCaller)
    ref.cast(1)
    reason = await GenServer.wait_exit(ref)
    assert isinstance(reason, NoexError)


# ---------------------------------------------------------------- cast


async def test_cast_to_dead_or_unknown(rt: Runtime) -> None:
    with pytest.raises(ServerNotRunningError, match=r"^'nobody' is not running$"):
        GenServer.cast("nobody", 1)
    ref = await GenServer.start(Counter)
    await ref.stop()
    with pytest.raises(ServerNotRunningError, match=r"exit reason: 'normal'"):
        ref.cast(1)


async def test_casts_left_in_a_dying_mailbox_are_dead_letters(rt: Runtime) -> None:
    ref = await GenServer.start(Echo)
    before = rt.statistics().dead_letters
    ref.cast(raiser(ValueError("x")))
    ref.cast("lost-1")
    ref.cast("lost-2")
    await GenServer.wait_exit(ref)
    assert rt.statistics().dead_letters == before + 2


# ---------------------------------------------------------------- bounded mailbox


async def test_bounded_mailbox(rt: Runtime, autojump_clock: trio.testing.MockClock) -> None:
    behaviour = Sleeper()
    ref = await GenServer.start(behaviour, name="small", mailbox_size=2)
    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, 3.0)  # being handled: does not count
        await trio.testing.wait_all_tasks_blocked()
        ref.cast("a")
        ref.cast("b")
        with pytest.raises(MailboxFullError, match=r"^mailbox of 'small' is full \(2 messages\)$"):
            GenServer.cast("small", "c")
        # a call waits for room (and then for its reply) within its timeout
        assert await ref.call(1.0, timeout=10.0) == 1.0
        assert trio.current_time() == t0 + 4.0
    assert behaviour.handled == [3.0, 1.0]


async def test_call_into_full_mailbox_times_out(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    behaviour = Sleeper()
    ref = await GenServer.start(behaviour, mailbox_size=1)
    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, 100.0, math.inf)
        await trio.testing.wait_all_tasks_blocked()
        ref.cast("fill")
        with pytest.raises(CallTimeoutError, match=r"timed out after 2.0 s$"):
            await ref.call(1.0, timeout=2.0)
        assert trio.current_time() == t0 + 2.0
    assert behaviour.handled == [100.0]


async def test_stop_waits_for_room_in_a_full_mailbox(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    behaviour = Sleeper()
    ref = await GenServer.start(behaviour, mailbox_size=1)
    replies: list[float] = []

    async def in_flight() -> None:
        replies.append(await ref.call(100.0, timeout=math.inf))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(in_flight)
        await trio.testing.wait_all_tasks_blocked()
        ref.cast("fill")
        t0 = trio.current_time()
        await ref.stop()
    # The stop queued behind the backlog: the call was answered, the cast handled, nothing lost.
    assert trio.current_time() == t0 + 100.0
    assert replies == [100.0]
    assert ref.exit_reason == "normal"
    assert rt.statistics().dead_letters == 0


async def test_stop_cancelled_while_waiting_for_room_leaves_the_process_running(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Sleeper(), mailbox_size=1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, 100.0)
        await trio.testing.wait_all_tasks_blocked()
        ref.cast("fill")
        with trio.move_on_after(1.0):
            await ref.stop()
        assert ref.is_running()
        nursery.cancel_scope.cancel()
    # The process still serves (after the 100 s call, which its cancelled caller abandoned).
    assert await ref.call(0.0, timeout=math.inf) == 0.0


async def test_a_process_cannot_stop_itself_with_stop(rt: Runtime) -> None:
    class SelfStopper(GenServer[None, str, Any, None]):
        def init(self) -> None:
            return None

        async def handle_call(self, msg: str, state: None) -> tuple[None, None]:
            await GenServer.stop(GenServer.self())
            return None, state

    ref = await GenServer.start(SelfStopper)
    with pytest.raises(CallToSelfError, match=r"^SelfStopper#\d+ tried to stop itself"):
        await ref.call("stop")
    assert isinstance(ref.exit_reason, CallToSelfError)  # the handler raised it: a crash


async def test_is_running_by_name_and_by_ref_agree_while_stopping(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Sleeper(), name="sleepy")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, 1.0)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(ref.stop)
        await trio.testing.wait_all_tasks_blocked()
        assert GenServer.is_running(ref) is False
        assert GenServer.is_running("sleepy") is False
    assert GenServer.is_running("sleepy") is False


# ---------------------------------------------------------------- stop


async def test_stop_waits_for_earlier_messages(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    behaviour = Sleeper()
    ref = await GenServer.start(behaviour, name="s")
    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, 2.0)
        await trio.testing.wait_all_tasks_blocked()
        ref.cast("x")
        await GenServer.stop("s")
    assert trio.current_time() == t0 + 2.0
    assert behaviour.handled == [2.0]
    assert not GenServer.is_running(ref)
    assert not GenServer.is_running("s")
    # idempotent: dead ref, unknown name
    await GenServer.stop(ref)
    await GenServer.stop("s")
    await ref.stop("shutdown")
    assert ref.exit_reason == "normal"


async def test_call_queued_behind_stop_fails_at_once(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Sleeper)
    outcome: list[Any] = []

    async def late_call() -> None:
        t0 = trio.current_time()
        with pytest.raises(ServerNotRunningError) as info:
            await ref.call(1.0)
        assert re.fullmatch(r"Sleeper#\d+ is stopping and takes no new messages", str(info.value))
        outcome.append((info.value.reason, trio.current_time() - t0))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, 3.0)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(ref.stop)
        await trio.testing.wait_all_tasks_blocked()
        assert not ref.is_running()  # stopping: accepts nothing new
        nursery.start_soon(late_call)
    assert outcome == [("stopping", 0)]


async def test_concurrent_stops(rt: Runtime, autojump_clock: trio.testing.MockClock) -> None:
    behaviour = Echo()
    ref = await GenServer.start(behaviour)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.stop)
        await trio.testing.wait_all_tasks_blocked()
        for _ in range(3):
            nursery.start_soon(ref.stop)
        nursery.start_soon(GenServer.stop, ref, "shutdown")
    assert len(behaviour.terminated) == 1
    assert ref.exit_reason == "normal"


@pytest.mark.parametrize("reason", ["bye", None, 3, ValueError, ("shutdown", "x")])
async def test_stop_accepts_any_reason(rt: Runtime, reason: Any) -> None:
    ref = await GenServer.start(Counter)
    await GenServer.stop(ref, reason)
    assert ref.exit_reason is reason


async def test_stop_with_an_exception_reason(rt: Runtime) -> None:
    events = record_events(rt)
    error = RuntimeError("x")
    behaviour = Echo()
    ref = await GenServer.start(behaviour)
    await ref.stop(error)
    assert behaviour.terminated == [(error, [])]
    assert events[-2:] == [Crashed(ref, error), Terminated(ref, error)]


async def test_terminate_raising_is_logged_and_process_is_gone(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    class BadTerminate(Counter):
        def terminate(self, reason: Any, state: int) -> None:
            raise OSError("disk full")

    ref = await GenServer.start(BadTerminate, name="bt")
    await ref.stop()
    assert not ref.is_running()
    assert isinstance(ref.exit_reason, OSError)
    assert Registry.whereis("bt") is None
    assert re.search(r"bt#\d+ raised in terminate \(exit reason was 'normal'\)", caplog.text)
    assert "OSError: disk full" in caplog.text


async def test_slow_terminate_is_bounded_by_the_shutdown_budget(
    rt: Runtime, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    class SlowTerminate(Counter):
        async def terminate(self, reason: Any, state: int) -> None:
            await trio.sleep(100)

    ref = await GenServer.start(SlowTerminate)
    t0 = trio.current_time()
    await ref.stop()
    assert trio.current_time() == t0 + 5.0
    assert re.search(
        r"SlowTerminate#\d+: terminate exceeded its 5.0 s shutdown budget; killed", caplog.text
    )
    assert ref.exit_reason == "killed"  # OTP: a process that overruns its budget is killed


async def test_is_running(rt: Runtime) -> None:
    ref = await GenServer.start(Counter, name="r")
    assert GenServer.is_running(ref)
    assert GenServer.is_running("r")
    assert not GenServer.is_running("nope")
    with pytest.raises(
        TypeError, match=r"^expected target to be a GenServerRef or a registered name"
    ):
        GenServer.is_running(3)
    await ref.stop()
    assert not GenServer.is_running(ref)


# ---------------------------------------------------------------- self, lifecycle, system


async def test_self(rt: Runtime) -> None:
    class Me(Counter):
        def handle_call(self, msg: str, state: int) -> tuple[Any, int]:
            return GenServer.self(), state

    ref: Ref = await GenServer.start(Me)
    assert await ref.call("x") is ref
    with pytest.raises(NoexError, match=r"^GenServer.self\(\) can only be used inside a process$"):
        GenServer.self()


async def test_self_typed_by_the_behaviour_class(rt: Runtime) -> None:
    class Me(Counter):
        def handle_call(self, msg: str, state: int) -> tuple[Any, int]:
            if msg == "own class":
                return GenServer.self(Me), state
            if msg == "base class":
                return GenServer.self(Counter), state
            return GenServer.self(Echo), state  # not what this process runs

    ref: Ref = await GenServer.start(Me)
    assert await ref.call("own class") is ref
    assert await ref.call("base class") is ref
    with pytest.raises(
        TypeError, match=r"^the calling process <GenServerRef Me#\d+> runs Me, expected Echo$"
    ):
        await ref.call("other class")
    with pytest.raises(TypeError, match=r"^expected expected to be a behaviour class, got 'Me'$"):
        GenServer.self("Me")  # type: ignore[call-overload]
    with pytest.raises(NoexError, match=r"^GenServer.self\(\) can only be used inside a process$"):
        GenServer.self(Counter)


async def test_lifecycle_handlers(rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    first: list[LifecycleEvent] = []
    last: list[LifecycleEvent] = []

    def bad(event: LifecycleEvent) -> None:
        raise RuntimeError("handler bug")

    rt.on_lifecycle_event(first.append)
    unsubscribe_bad = GenServer.on_lifecycle_event(bad)
    unsubscribe = GenServer.on_lifecycle_event(last.append)
    ref = await GenServer.start(Counter)
    assert first == last == [Started(ref)]
    assert "lifecycle handler" in caplog.text
    assert "handler bug" in caplog.text
    unsubscribe()
    unsubscribe()  # idempotent
    unsubscribe_bad()
    await ref.stop()
    assert first == [Started(ref), Terminated(ref, "normal")]
    assert last == [Started(ref)]
    with pytest.raises(TypeError, match=r"^expected handler to be callable, got 3$"):
        rt.on_lifecycle_event(3)  # type: ignore[arg-type]


async def test_system_processes_are_refused_by_the_gen_server_facade(rt: Runtime) -> None:
    sup = await Supervisor.start([], name="sup")
    for target in (sup, "sup"):
        message = (
            r"^<SupervisorRef sup#\d+> is not a GenServer; use the functions of its own facade"
        )
        with pytest.raises(TypeError, match=message):
            await GenServer.call(target, "get")
        with pytest.raises(TypeError, match=message):
            GenServer.cast(target, 1)
        with pytest.raises(TypeError, match=message):
            GenServer.send_after(target, 1, 1.0)
        with pytest.raises(TypeError, match=message):
            await GenServer.stop(target)
    with pytest.raises(TypeError, match=r"^<EventBusRef EventBus#\d+> is not a GenServer"):
        GenServer.cast(rt.event_bus, 1)
    await Supervisor.stop(sup)


async def test_child_spec(rt: Runtime) -> None:
    spec = Counter.child_spec(3, id="c", name="counter")
    assert spec.id == "c"
    ref = await spec.start()
    assert Registry.lookup("counter") is ref
    assert await GenServer.call(ref, "get") == 3
    assert Counter.child_spec().id == "Counter"
    with pytest.raises(InvalidChildSpecError, match=r"^child_spec must be called on a GenServer"):
        GenServer.child_spec()


# ---------------------------------------------------------------- garbage


async def test_stopped_and_crashed_processes_are_collectable(rt: Runtime) -> None:
    ref = await GenServer.start(Counter, name="a")
    await ref.call("incr")
    await ref.stop()
    crashed = await GenServer.start(Counter)
    with pytest.raises(ValueError, match="bad call"):
        await crashed.call("boom")
    refs = [weakref.ref(ref), weakref.ref(crashed)]
    del ref, crashed
    assert_collected(refs)


async def test_stop_timeout_and_cancel_paths_leave_no_cyclic_garbage(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    async def stop_path() -> None:
        ref = await GenServer.start(Counter, 0, name="x")
        await ref.call("incr")
        ref.cast(1)
        GenServer.send_after(ref, 1, 10.0)
        await ref.stop()

    async def timeout_path() -> None:
        ref = await GenServer.start(Sleeper)
        with pytest.raises(CallTimeoutError):
            await ref.call(10.0, timeout=1.0)
        await ref.stop()

    async def cancel_path() -> None:
        ref = await GenServer.start(Sleeper)
        with trio.move_on_after(1):
            await ref.call(10.0)
        await ref.stop()

    async def not_running_path() -> None:
        ref = await GenServer.start(Counter)
        await ref.stop()
        with pytest.raises(ServerNotRunningError):
            await ref.call("get")

    for operation in (stop_path, timeout_path, cancel_path, not_running_path):
        await assert_no_cyclic_garbage(operation)


# ---------------------------------------------------------------- mailbox order (property)


class Logger(GenServer[None, tuple[int, float], tuple[int, float], int]):
    """Records the message ids it handles; each message carries a handling delay."""

    def __init__(self, log: list[int]) -> None:
        self.log = log

    def init(self) -> None:
        return None

    async def handle_call(self, msg: tuple[int, float], state: None) -> tuple[int, None]:
        await trio.sleep(msg[1])
        self.log.append(msg[0])
        return msg[0], state

    async def handle_cast(self, msg: tuple[int, float], state: None) -> None:
        await trio.sleep(msg[1])
        self.log.append(msg[0])
        return state


operations = st.lists(
    st.tuples(st.sampled_from(["cast", "call", "call_soon"]), st.sampled_from([0.0, 0.5, 2.0])),
    max_size=25,
)


@settings(deadline=None, max_examples=50)
@given(ops=operations, mailbox_size=st.sampled_from([math.inf, 30]))
def test_one_sender_is_handled_in_send_order(
    ops: list[tuple[str, float]], mailbox_size: float
) -> None:
    """Calls (awaited or left running) and casts from one sender arrive in send order."""
    log: list[int] = []
    replies: dict[int, int] = {}

    async def main() -> None:
        async with open_runtime():
            ref = await GenServer.start(Logger(log), mailbox_size=mailbox_size)

            async def call(n: int, delay: float) -> None:
                replies[n] = await ref.call((n, delay), timeout=math.inf)

            async with trio.open_nursery() as nursery:
                for n, (kind, delay) in enumerate(ops):
                    if kind == "cast":
                        ref.cast((n, delay))
                    elif kind == "call":
                        await call(n, delay)
                    else:
                        nursery.start_soon(call, n, delay)
                        await trio.testing.wait_all_tasks_blocked()  # it is queued now
            await ref.stop()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert log == list(range(len(ops)))
    assert replies == {n: n for n, (kind, _) in enumerate(ops) if kind != "cast"}


# ---------------------------------------------------------------- edges


def test_stop_without_reply_repr() -> None:
    assert repr(Stop("normal", 1)) == "Stop(reason='normal', state=1, reply=NO_REPLY)"


async def test_deliver_info_to_a_full_mailbox(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Sleeper, mailbox_size=1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, 1.0)
        await trio.testing.wait_all_tasks_blocked()
        ref.cast("fill")
        assert not process_of(ref).deliver_info("no room")


async def test_start_into_a_closed_host_frees_the_name(rt: Runtime) -> None:
    from noex_trio._context import host_var

    async with trio.open_nursery() as closed:
        pass

    class ClosedHost:
        label = "closed"
        nursery = closed
        procs: dict[Process, None] = {}  # noqa: RUF012

        def child_exited(self, proc: Process, reason: ExitReason) -> None:  # pragma: no cover
            raise AssertionError("never started")

    token = host_var.set(ClosedHost())
    try:
        with pytest.raises(RuntimeError, match=r"Nursery is closed to new arrivals"):
            await GenServer.start(Counter, name="orphan")
    finally:
        host_var.reset(token)
    assert Registry.whereis("orphan") is None


async def test_call_answered_before_it_parks_and_failures_through_a_full_mailbox(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    async def slow(state: list[Any]) -> Any:
        await trio.sleep(1)
        return Reply("slow", state)

    ref = await GenServer.start(Echo, mailbox_size=1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, slow)
        await trio.testing.wait_all_tasks_blocked()
        ref.cast("fill")
        # waits for room; the server then answers before this task even resumes
        assert await ref.call("fast", timeout=10.0) == "fast"
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, slow)
        await trio.testing.wait_all_tasks_blocked()
        ref.cast("fill")
        with pytest.raises(KeyError):
            await ref.call(raiser(KeyError("via a full mailbox")), timeout=10.0)


async def test_caller_repr(rt: Runtime) -> None:
    class ShowCaller(Counter):
        def handle_call(self, msg: str, state: int) -> tuple[Any, int]:
            return repr(GenServer.caller()), state

    ref: Ref = await GenServer.start(ShowCaller)
    assert await ref.call("hi") == "<Caller of 'hi'>"


async def test_stop_while_already_stopping(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    behaviour = Sleeper()
    ref = await GenServer.start(behaviour)
    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, 2.0)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(ref.stop, "shutdown")
        await trio.testing.wait_all_tasks_blocked()
        await ref.stop()  # joins the pending stop
    assert trio.current_time() == t0 + 2.0
    assert ref.exit_reason == "shutdown"


async def test_stop_requested_during_init(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    behaviour = SlowInit()
    refs: list[Ref] = []

    async def start() -> None:
        refs.append(await GenServer.start(behaviour, name="s", init_timeout=20.0))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(start)
        await trio.testing.wait_all_tasks_blocked()
        GenServer.cast("s", "before the stop")
        await GenServer.stop("s")
    assert behaviour.seen == [("init-start", ()), ("init", ()), ("cast", "before the stop")]
    assert behaviour.terminated == [("normal", ["before the stop"])]
    assert refs[0].exit_reason == "normal"


async def test_a_start_cut_short_by_the_runtime_closing() -> None:
    outcome: list[BaseException] = []

    class Starter(Echo):
        async def handle_cast(self, msg: Any, state: list[Any]) -> Any:
            try:
                await GenServer.start(SlowInit, init_timeout=math.inf)
            except InitializationError as exc:
                outcome.append(exc)
            return state

    async with open_runtime():
        ref = await GenServer.start(Starter)
        ref.cast("go")
        await trio.testing.wait_all_tasks_blocked()
    assert len(outcome) == 1
    assert re.fullmatch(r"SlowInit#\d+ failed to start: stopped while starting", str(outcome[0]))


async def test_a_cancelled_deferred_caller_is_not_pending_and_not_kept(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    class Park(GenServer[list[Caller[Any]], str, str, None]):
        def init(self) -> list[Caller[Any]]:
            return []

        def handle_call(self, msg: str, state: list[Caller[Any]]) -> NoReply[list[Caller[Any]]]:
            state.append(GenServer.caller())
            return NoReply(state)

        def handle_cast(self, msg: str, state: list[Caller[Any]]) -> list[Caller[Any]]:
            self.pending = [caller.pending for caller in state]
            for caller in state:
                caller.reply(None)  # dropped: they all gave up
            return []

    behaviour = Park()
    ref = await GenServer.start(behaviour)
    for _ in range(3):
        with trio.move_on_after(0.1):  # cancelled, not timed out
            await ref.call("x")
    ref.cast("flush")
    await trio.testing.wait_all_tasks_blocked()
    assert behaviour.pending == [False, False, False]
    assert not process_of(ref).deferred  # the process forgot them (no leak)
    assert ref.is_running()
