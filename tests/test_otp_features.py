"""OTP's GenServer features: ``Continue``/``handle_continue``, idle timeouts, exit reasons of
any value, ``GenServer.exit`` (``Process.exit/2``) and ``Ignore`` from ``init``."""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from noex_trio import (
    Continue,
    Crashed,
    Exit,
    GenServer,
    IdleTimeout,
    Ignore,
    LifecycleEvent,
    LinkedExitError,
    NoReply,
    Reply,
    Runtime,
    ServerNotRunningError,
    Started,
    Stop,
    Terminated,
)
from noex_trio.testing import EventRecorder

Clock = trio.testing.MockClock


class Recorder(GenServer[list[Any], Any, Any, Any]):
    """Records every callback; a message that is callable is called with the state and its
    result is the handler's result (so each test says what the handler returns)."""

    def __init__(self, first: Any = None) -> None:
        self.first = first
        self.log: list[Any] = []

    def init(self) -> Any:
        self.log.append("init")
        return self.first if self.first is not None else []

    def handle_call(self, msg: Any, state: Any) -> Any:
        self.log.append(("call", msg if not callable(msg) else "fn"))
        return msg(state) if callable(msg) else (msg, state)

    def handle_cast(self, msg: Any, state: Any) -> Any:
        self.log.append(("cast", msg if not callable(msg) else "fn"))
        return msg(state) if callable(msg) else state

    def handle_info(self, msg: Any, state: Any) -> Any:
        self.log.append(("info", msg))
        return state

    def handle_continue(self, arg: Any, state: Any) -> Any:
        self.log.append(("continue", arg))
        if callable(arg):
            return arg(state)
        return state

    def terminate(self, reason: Any, state: Any) -> None:
        self.log.append(("terminate", reason))


# ---------------------------------------------------------------- Continue


async def test_continue_from_init_runs_before_messages_queued_meanwhile(rt: Runtime) -> None:
    behaviour = Recorder(Continue(["s"], "warm_up"))
    ref = await GenServer.start(behaviour, name="r")
    GenServer.cast("r", "a")  # queued behind the continuation
    assert await ref.call("b") == "b"
    assert behaviour.log == ["init", ("continue", "warm_up"), ("cast", "a"), ("call", "b")]
    await ref.stop()


async def test_continue_from_init_before_messages_sent_during_init(rt: Runtime) -> None:
    class Slow(Recorder):
        async def init(self) -> Any:
            GenServer.cast(GenServer.self(), "during init")
            await trio.lowlevel.checkpoint()
            return Continue([], "c")

    behaviour = Slow()
    ref = await GenServer.start(behaviour)
    await ref.call("sync")
    assert behaviour.log == [("continue", "c"), ("cast", "during init"), ("call", "sync")]
    await ref.stop()


@pytest.mark.parametrize(
    "result",
    [
        lambda s: Continue(s, "next"),
        lambda s: NoReply(s, continue_with="next"),
    ],
)
async def test_continue_from_cast_and_info(rt: Runtime, result: Any) -> None:
    behaviour = Recorder()
    ref = await GenServer.start(behaviour)
    ref.cast(result)
    ref.cast("after")
    await ref.call("sync")
    assert behaviour.log[1:] == [
        ("cast", "fn"),
        ("continue", "next"),
        ("cast", "after"),
        ("call", "sync"),
    ]
    await ref.stop()


async def test_continue_from_call_replies_first(rt: Runtime) -> None:
    behaviour = Recorder()
    ref = await GenServer.start(behaviour)
    assert await ref.call(lambda s: Reply("v", s, continue_with="k")) == "v"
    await ref.call("sync")
    assert behaviour.log[1:] == [("call", "fn"), ("continue", "k"), ("call", "sync")]
    await ref.stop()


async def test_continue_with_a_deferred_reply(rt: Runtime) -> None:
    callers: list[Any] = []

    def defer(s: Any) -> Any:
        callers.append(GenServer.caller())
        return NoReply(s, continue_with=lambda s2: callers[0].reply("late") or s2)

    behaviour = Recorder()
    ref = await GenServer.start(behaviour)
    assert await ref.call(defer) == "late"
    await ref.stop()


async def test_continuations_chain_and_can_stop(rt: Runtime) -> None:
    behaviour = Recorder()
    ref = await GenServer.start(behaviour)
    ref.cast(lambda s: Continue(s, lambda s2: Continue([*s2, 1], lambda s3: Stop("normal", s3))))
    assert await GenServer.wait_exit(ref) == "normal"
    assert behaviour.log[-1] == ("terminate", "normal")


async def test_continue_without_handle_continue_crashes(rt: Runtime) -> None:
    class NoContinue(GenServer[None, Any, Any, Any]):
        def init(self) -> Any:
            return Continue(None, "x")

        def handle_call(self, msg: Any, state: None) -> Any:  # pragma: no cover
            return None, None

    ref = await GenServer.start(NoContinue)
    reason = await GenServer.wait_exit(ref)
    assert isinstance(reason, TypeError)
    assert str(reason) == "NoContinue asked for a continuation ('x') but defines no handle_continue"


async def test_continue_from_handle_call_is_a_bad_result(rt: Runtime) -> None:
    ref = await GenServer.start(Recorder)
    with pytest.raises(TypeError, match=r"continue with Reply\(value, state, continue_with=arg\)"):
        await ref.call(lambda s: Continue(s, "x"))


async def test_an_async_handle_continue_and_a_crash_in_it(rt: Runtime) -> None:
    class Async(Recorder):
        async def handle_continue(self, arg: Any, state: Any) -> Any:
            await trio.lowlevel.checkpoint()
            raise KeyError(arg)

    ref = await GenServer.start(Async(Continue([], "k")))
    reason = await GenServer.wait_exit(ref)
    assert isinstance(reason, KeyError)


# ---------------------------------------------------------------- idle timeouts


async def test_idle_timeout_delivers_idle_timeout_to_handle_info(
    rt: Runtime, autojump_clock: Clock
) -> None:
    behaviour = Recorder()
    ref = await GenServer.start(behaviour)
    start = trio.current_time()
    ref.cast(lambda s: NoReply(s, idle_timeout=5))
    await trio.sleep(4)
    assert behaviour.log[-1] == ("cast", "fn")
    await trio.sleep(2)
    assert behaviour.log[-1] == ("info", IdleTimeout(5.0))
    assert trio.current_time() - start == pytest.approx(6)
    await trio.sleep(100)  # once: the next handler did not ask again
    assert behaviour.log.count(("info", IdleTimeout(5.0))) == 1
    await ref.stop()


async def test_a_message_before_the_timeout_cancels_it(rt: Runtime, autojump_clock: Clock) -> None:
    behaviour = Recorder()
    ref = await GenServer.start(behaviour)
    assert await ref.call(lambda s: Reply("ok", s, idle_timeout=5)) == "ok"
    await trio.sleep(3)
    ref.cast("poke")
    await trio.sleep(100)
    assert not any(entry[0] == "info" for entry in behaviour.log[1:])
    await ref.stop()


async def test_idle_timeout_zero_and_infinite(rt: Runtime, autojump_clock: Clock) -> None:
    behaviour = Recorder()
    ref = await GenServer.start(behaviour)
    ref.cast(lambda s: NoReply(s, idle_timeout=0))
    await ref.call("sync")  # queued already: the timeout does not fire
    ref.cast(lambda s: NoReply(s, idle_timeout=0))
    await trio.testing.wait_all_tasks_blocked()
    assert behaviour.log[-1] == ("info", IdleTimeout(0.0))
    ref.cast(lambda s: NoReply(s, idle_timeout=math.inf))
    await trio.sleep(1000)
    assert behaviour.log[-1] == ("cast", "fn")
    await ref.stop()


async def test_idle_timeout_from_handle_continue(rt: Runtime, autojump_clock: Clock) -> None:
    behaviour = Recorder(Continue([], lambda s: NoReply(s, idle_timeout=1)))
    ref = await GenServer.start(behaviour)
    await trio.sleep(2)
    assert behaviour.log[-1] == ("info", IdleTimeout(1.0))
    await ref.stop()


@pytest.mark.parametrize(
    ("result", "error", "message"),
    [
        (lambda s: NoReply(s, idle_timeout=-1), ValueError, r"^expected idle_timeout of "),
        (
            lambda s: NoReply(s, idle_timeout="1"),  # type: ignore[arg-type]
            ValueError,
            r"^expected idle_timeout of ",
        ),
        (
            lambda s: NoReply(s, continue_with=1, idle_timeout=1),
            TypeError,
            r"give either continue_with or idle_timeout",
        ),
    ],
)
async def test_bad_idle_timeouts_crash(rt: Runtime, result: Any, error: Any, message: str) -> None:
    ref = await GenServer.start(Recorder)
    with pytest.raises(error, match=message):
        await ref.call(result)


# ---------------------------------------------------------------- exit reasons of any value


@pytest.mark.parametrize("reason", ["bye", 42, None, ("shutdown", "detail"), ("error", {"a": 1})])
async def test_stop_takes_any_reason(rt: Runtime, reason: Any) -> None:
    behaviour = Recorder()
    ref = await GenServer.start(behaviour)
    ref.cast(lambda s: Stop(reason, s))
    assert await GenServer.wait_exit(ref) == reason
    assert behaviour.log[-1] == ("terminate", reason)
    with pytest.raises(ServerNotRunningError) as caught:
        ref.cast("x")
    assert caught.value.reason == reason


async def test_abnormal_values_are_reported_as_crashes(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    events = EventRecorder(rt)
    ref = await GenServer.start(Recorder)
    await GenServer.stop(ref, ("bad", 1))
    assert [type(e) for e in events.events if e.ref is ref] == [Started, Crashed, Terminated]
    assert f"Recorder#{ref.id} exited with reason ('bad', 1)" in caplog.text
    clean = await GenServer.start(Recorder)
    await GenServer.stop(clean, ("shutdown", 1))
    assert [type(e) for e in events.events if e.ref is clean] == [Started, Terminated]
    events.close()


class Linker(Recorder):
    async def handle_call(self, msg: Any, state: Any) -> Any:
        if isinstance(msg, tuple) and msg[0] == "link":
            GenServer.link(msg[1])
            return None, state
        return super().handle_call(msg, state)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (("shutdown", "x"), ("shutdown", "x")),
        ("shutdown", "shutdown"),
        ("bye", LinkedExitError),
        ("normal", None),
    ],
)
async def test_links_propagate_by_otp_rules(rt: Runtime, reason: Any, expected: Any) -> None:
    a = await GenServer.start(Linker)
    b = await GenServer.start(Recorder)
    await a.call(("link", b))
    await b.stop(reason)
    if expected is None:
        assert a.is_running()
        await a.stop()
        return
    got = await GenServer.wait_exit(a)
    if expected is LinkedExitError:
        assert isinstance(got, LinkedExitError)
    else:
        assert got == expected


# ---------------------------------------------------------------- GenServer.exit


async def test_exit_kill_cannot_be_trapped(rt: Runtime) -> None:
    behaviour = Recorder()
    ref = await GenServer.start(behaviour, trap_exit=True)
    GenServer.exit(ref, "kill")
    assert await GenServer.wait_exit(ref) == "killed"
    assert not any(entry[0] == "terminate" for entry in behaviour.log if isinstance(entry, tuple))


async def test_exit_to_a_trapping_process_is_a_message(rt: Runtime) -> None:
    behaviour = Recorder()
    ref = await GenServer.start(behaviour, trap_exit=True)
    GenServer.exit(ref, "normal")
    GenServer.exit(ref, "bye")
    sender = await GenServer.start(Linker)
    await sender.call(lambda s: (GenServer.exit(ref, "from a process"), (None, s))[1])
    await ref.call("sync")
    assert behaviour.log[1:4] == [
        ("info", Exit(None, "normal")),
        ("info", Exit(None, "bye")),
        ("info", Exit(sender, "from a process")),
    ]
    await ref.stop()
    await sender.stop()


async def test_exit_normal_is_ignored_unless_sent_to_itself(rt: Runtime) -> None:
    ref = await GenServer.start(Recorder)
    GenServer.exit(ref, "normal")
    assert await ref.call("still here") == "still here"
    ref.cast(lambda s: (GenServer.exit(GenServer.self(), "normal"), s)[1])
    assert await GenServer.wait_exit(ref) == "normal"


@pytest.mark.parametrize("reason", ["shutdown", ("shutdown", 1), "bye", ValueError("v")])
async def test_exit_with_a_reason_stops_the_target(rt: Runtime, reason: Any) -> None:
    behaviour = Recorder()
    ref = await GenServer.start(behaviour, name="target")
    ref.cast(lambda s: s)  # queued: the signal overtakes the mailbox
    GenServer.exit("target", reason)
    assert await GenServer.wait_exit(ref) is reason
    assert behaviour.log[-1] == ("terminate", reason)


async def test_exit_to_dead_or_unknown_targets_does_nothing(rt: Runtime) -> None:
    ref = await GenServer.start(Recorder)
    await ref.stop()
    GenServer.exit(ref, "kill")
    GenServer.exit("nobody", "bye")
    assert ref.exit_reason == "normal"
    with pytest.raises(TypeError, match="expected target to be"):
        GenServer.exit(42, "bye")  # type: ignore[arg-type]


# ---------------------------------------------------------------- Ignore


class Ignoring(GenServer[None, Any, Any, Any]):
    def init(self) -> Ignore:
        return Ignore()

    def handle_call(self, msg: Any, state: None) -> Any:  # pragma: no cover
        return None, None


async def test_ignore_returns_none_and_leaves_no_trace(rt: Runtime) -> None:
    events: list[LifecycleEvent] = []
    rt.on_lifecycle_event(events.append)
    assert await GenServer.start(Ignoring, name="ignored") is None
    assert rt.registry.whereis("ignored") is None
    assert events == []
    assert rt.processes() == [rt.event_bus]
    # The name is free again.
    ref = await GenServer.start(Recorder, name="ignored")
    assert events == [Started(ref)]
    await ref.stop()


async def test_ignore_with_link_from_a_process(rt: Runtime) -> None:
    class Starter(Recorder):
        async def handle_call(self, msg: Any, state: Any) -> Any:
            return await GenServer.start(Ignoring, link=True), state

    ref = await GenServer.start(Starter)
    assert await ref.call("start") is None
    await ref.stop()


async def test_async_init_returning_ignore(rt: Runtime) -> None:
    class AsyncIgnoring(Ignoring):
        async def init(self) -> Ignore:  # type: ignore[override]
            await trio.lowlevel.checkpoint()
            return Ignore()

    assert await GenServer.start(AsyncIgnoring) is None


def test_values_repr_and_equality() -> None:
    assert Continue(1, "a") == Continue(1, "a")
    assert Ignore() == Ignore()
    assert repr(IdleTimeout(1.0)) == "IdleTimeout(seconds=1.0)"
    assert (
        repr(Reply(1, 2)) == "Reply(value=1, state=2, continue_with=NO_CONTINUE, idle_timeout=None)"
    )


@pytest.mark.parametrize("reason", ["kill", "shutdown"])
async def test_a_supervisor_is_gone_only_once_its_children_are(rt: Runtime, reason: str) -> None:
    from noex_trio import Supervisor

    sup = await Supervisor.start([Recorder.child_spec(id="a", name="a")])
    child = Supervisor.get_child(sup, "a").ref
    assert child is not None
    GenServer.exit(sup, reason)  # a signal from plain Trio code: the top supervisor's parent
    await GenServer.wait_exit(sup)
    assert child.exit_reason in ("killed", "shutdown")
    assert rt.registry.whereis("a") is None
    assert rt.processes() == [rt.event_bus]
