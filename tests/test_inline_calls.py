"""The inline call path (`_inline.py`): a call to an idle process with a plain-``def``
``handle_call`` runs in the caller's task, and nothing a user can see differs from the queued
path — each test runs with inline calls on and off (the ``inline`` fixture) and asserts the
same outcome. ``tests/test_inline_equivalence.py`` compares random programs the same way.
"""

from __future__ import annotations

import contextvars
import gc
import logging
import traceback
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import (
    Continue,
    GenServer,
    Ignore,
    InitializationError,
    NoReply,
    Registry,
    Reply,
    ServerNotRunningError,
    Stop,
    _actor,
    open_runtime,
)

#: A context variable a process sets in ``init`` (its own context) and reads in its handlers.
where: contextvars.ContextVar[str] = contextvars.ContextVar("where", default="unset")


@pytest.fixture(params=[True, False], ids=["inline", "queued"])
def inline(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Run the test with inline calls on, then off (processes read the switch at start)."""
    saved = _actor.INLINE_CALLS
    _actor.INLINE_CALLS = request.param
    try:
        yield request.param
    finally:
        _actor.INLINE_CALLS = saved


class Probe(GenServer[Any, Any, Any, Any]):
    """Records what each handler sees; calls are ``(op, arg)`` pairs (see `handle_call`)."""

    def __init__(self) -> None:
        self.log: list[Any] = []
        self.tasks: list[trio.lowlevel.Task] = []

    def init(self) -> int:
        where.set("process")
        return 0

    def handle_call(self, msg: Any, state: int) -> Any:
        self.tasks.append(trio.lowlevel.current_task())
        op, arg = msg
        self.log.append(("call", op, state, where.get()))
        if op == "add":
            return state + arg, state + arg
        if op == "reply":
            return Reply(state, state + arg)
        if op == "self":
            return GenServer.self(), state
        if op == "set_var":
            where.set(arg)
            return None, state
        if op == "defer":  # answered later, by a cast
            self.pending = GenServer.caller()
            return NoReply(state + 1)
        if op == "pending":  # is the caller still waiting, as its handler sees it?
            self.log.append(("pending", GenServer.caller().pending))
            GenServer.caller().reply("through the handle")
            return None, state
        if op == "answer_then_tuple":  # answers through caller(), then returns a reply too
            GenServer.caller().reply("first")
            return "second", state
        if op == "continue":
            return Reply("ok", state, continue_with=arg)
        if op == "stop":
            return Stop("normal", state, reply="bye")
        if op == "raise":
            raise ValueError(arg)
        if op == "raise_while_handling":
            try:
                raise KeyError("the handler's own")
            except KeyError:
                raise ValueError(arg)  # noqa: B904 - (the chain is what the test looks at)
        if op == "cast_self_then":
            GenServer.cast(GenServer.self(), ("note", arg[0]))
            return arg[1](state)
        if op == "fail_then_noreply":  # answers with an error through the handle
            GenServer.caller().fail(LookupError(arg))
            return NoReply(state)
        if op == "exit_self_then_defer":  # the exit overtakes the deferred reply
            GenServer.exit(GenServer.self(), "exited")
            return NoReply(state)
        if op == "exit_self_then_stop":
            GenServer.exit(GenServer.self(), "exited")
            return Stop("normal", state, reply="stopped")
        if op == "bad":
            return "not a reply"
        if op == "awaitable":

            async def later() -> Any:
                await trio.lowlevel.checkpoint()
                return ("late", state + 1)

            return later()
        raise AssertionError(op)

    def handle_cast(self, msg: Any, state: int) -> Any:
        self.log.append(("cast", msg, state, where.get()))
        if msg == "answer":
            self.pending.reply(("deferred", state))
        return state

    def handle_continue(self, arg: Any, state: int) -> int:
        self.log.append(("continue", arg, state))
        return state + 100

    def terminate(self, reason: Any, state: Any) -> None:
        self.log.append(("terminate", reason, state))


async def start_probe() -> tuple[Any, Probe]:
    probe = Probe()
    ref = await GenServer.start(probe)
    return ref, probe


async def test_a_call_to_an_idle_process_runs_in_the_callers_task(inline: bool) -> None:
    async with open_runtime():
        ref, probe = await start_probe()
        assert await ref.call(("add", 2)) == 2
        assert await ref.call(("reply", 3)) == 2
        assert await GenServer.get_state(ref) == 5
        me = trio.lowlevel.current_task()
        assert (probe.tasks == [me, me]) is inline
        stats = ref.statistics()
        assert (stats.calls, stats.serving) == (2, None)
        await ref.stop()


async def test_the_handler_sees_the_processs_identity_and_context(inline: bool) -> None:
    where.set("caller")
    async with open_runtime():
        ref, probe = await start_probe()
        assert await ref.call(("self", None)) is ref
        await ref.call(("set_var", "set by a call"))
        ref.cast("look")
        await ref.call(("add", 0))
        assert [entry[3] for entry in probe.log] == ["process"] * 2 + ["set by a call"] * 2
        assert where.get() == "caller"  # the caller's own context is untouched
        await ref.stop()


async def test_deferred_replies(inline: bool) -> None:
    async with open_runtime():
        ref, _ = await start_probe()
        async with trio.open_nursery() as nursery:
            answers: list[Any] = []

            async def deferred() -> None:
                answers.append(await ref.call(("defer", None)))

            nursery.start_soon(deferred)
            await trio.testing.wait_all_tasks_blocked()
            ref.cast("answer")
        assert answers == [("deferred", 1)]
        # An answer given through GenServer.caller() wins over the reply returned after it.
        assert await ref.call(("answer_then_tuple", None)) == "first"
        await ref.stop()


async def test_a_continuation_runs_before_the_next_message(inline: bool) -> None:
    async with open_runtime():
        ref, probe = await start_probe()
        assert await ref.call(("continue", "more")) == "ok"
        assert await ref.call(("add", 1)) == 101
        assert probe.log[1] == ("continue", "more", 0)
        await ref.stop()


async def test_stop_with_a_reply_comes_after_terminate(inline: bool) -> None:
    async with open_runtime():
        ref, probe = await start_probe()
        await ref.call(("add", 4))
        assert await ref.call(("stop", None)) == "bye"
        assert probe.log[-1] == ("terminate", "normal", 4)
        assert ref.exit_reason == "normal"


async def test_a_raising_handler_crashes_the_process_as_in_its_own_task(
    inline: bool, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_runtime():
        ref, probe = await start_probe()
        await ref.call(("add", 7))
        try:
            raise KeyError("the caller's own trouble")
        except KeyError:
            # Called from an `except` block: the crash must not chain to the caller's error.
            with pytest.raises(ValueError, match="boom") as info:
                await ref.call(("raise", "boom"))
        error = info.value
        assert type(error.__context__) is KeyError  # (raised again here, in the caller's except)
        assert probe.log[-1] == ("terminate", error, 7)  # the state the call found
        assert ref.exit_reason is error
        with pytest.raises(ServerNotRunningError):
            await ref.call(("add", 1))
        ref, _ = await start_probe()
        try:
            raise KeyError("the caller's own trouble")
        except KeyError:
            with pytest.raises(ValueError, match="nested"):
                await ref.call(("raise_while_handling", "nested"))
    # The crash reports show the errors as the process raised them: with the handler's own
    # context, never the caller's.
    assert "the handler's own" in caplog.text
    assert "the caller's own trouble" not in caplog.text
    report = next(r for r in caplog.records if "crashed" in r.getMessage())
    assert report.exc_info is not None
    frames = [frame.name for frame in traceback.extract_tb(report.exc_info[2])]
    assert frames == ["run", "handle_call"]  # the loop, then the handler: nothing in between


@pytest.mark.parametrize(
    "then", ["tuple", "stop", "raise"], ids=["then-reply", "then-stop", "then-raise"]
)
async def test_a_message_to_itself_comes_after_the_call(inline: bool, then: str) -> None:
    outcomes = {
        "tuple": lambda state: ("done", state + 1),
        "stop": lambda state: Stop("normal", state, reply="stopped"),
        "raise": lambda state: 1 / 0,
    }
    async with open_runtime() as rt:
        ref, probe = await start_probe()
        try:
            answer = await ref.call(("cast_self_then", ("n", outcomes[then])))
        except ZeroDivisionError:
            answer = "raised"
        if then == "tuple":
            # Handled before the call returned, as by the loop right after its answer.
            assert probe.log[-1] == ("cast", ("note", "n"), 1, "process")
            await ref.stop()
        else:
            await GenServer.wait_exit(ref)
            # The cast was still queued when the process ended: a dead letter.
            assert rt.statistics().dead_letters == 1
        assert answer == {"tuple": "done", "stop": "stopped", "raise": "raised"}[then]


async def test_an_exit_signal_to_itself_then_stop(inline: bool) -> None:
    async with open_runtime():
        ref, probe = await start_probe()
        assert await ref.call(("exit_self_then_stop", None)) == "stopped"
        # The kill came first, but the loop handles the call's outcome before it sees the
        # kill (as it would have in its own task): the Stop's reason is the one that counts.
        assert ref.exit_reason == "normal"
        assert probe.log[-1] == ("terminate", "normal", 0)


async def test_bad_and_awaitable_results(inline: bool) -> None:
    async with open_runtime():
        ref, _ = await start_probe()
        assert await ref.call(("awaitable", None)) == "late"
        assert await ref.call(("add", 0)) == 1
        with pytest.raises(TypeError, match="must return"):
            await ref.call(("bad", None))
        assert isinstance(ref.exit_reason, TypeError)


async def test_a_cancelled_caller_still_has_its_call_handled(inline: bool) -> None:
    async with open_runtime():
        ref, probe = await start_probe()
        await trio.testing.wait_all_tasks_blocked()
        with trio.CancelScope() as scope:
            scope.cancel()
            await ref.call(("add", 5))
        assert scope.cancelled_caught
        assert await ref.call(("add", 0)) == 5  # handled, as a queued call would be
        # The handler finds the caller gone (it gave up when it parked): its reply is dropped.
        with trio.CancelScope() as scope:
            scope.cancel()
            await ref.call(("pending", None))
        assert scope.cancelled_caught
        await ref.call(("add", 0))
        assert ("pending", False) in probe.log
        await ref.stop()


async def test_concurrent_callers_each_get_their_own_reply(inline: bool) -> None:
    async with open_runtime():
        ref, _ = await start_probe()
        answers: dict[int, list[int]] = {}

        async def client(n: int) -> None:
            answers[n] = [await ref.call(("add", n)) - 0 for _ in range(3)]

        async with trio.open_nursery() as nursery:
            for n in range(1, 6):
                nursery.start_soon(client, n)
        assert await ref.call(("add", 0)) == 3 * sum(range(1, 6))
        for values in answers.values():
            assert values == sorted(values)  # each caller sees the state grow
        await ref.stop()


class AsyncProbe(GenServer[Any, Any, Any, Any]):
    def init(self) -> None:
        return None

    async def handle_call(self, msg: Any, state: Any) -> Any:
        return trio.lowlevel.current_task(), state

    def handle_cast(self, msg: Any, state: Any) -> Any:
        return state


class SyncProbe(AsyncProbe):
    def handle_call(self, msg: Any, state: Any) -> Any:
        return trio.lowlevel.current_task(), state


class OwningProbe(SyncProbe):
    owns_tasks = True


@pytest.mark.parametrize(
    ("behaviour", "options"),
    [(AsyncProbe, {}), (SyncProbe, {"mailbox_size": 10}), (OwningProbe, {})],
    ids=["async-handle_call", "bounded-mailbox", "owns_tasks"],
)
async def test_processes_that_never_take_inline_calls(behaviour: Any, options: Any) -> None:
    async with open_runtime():
        ref = await GenServer.start(behaviour, **options)
        assert await ref.call("where") is not trio.lowlevel.current_task()
        await ref.stop()


async def test_a_process_with_an_idle_timeout_is_not_idle_for_inline_calls() -> None:
    class Idle(SyncProbe):
        def init(self) -> Any:
            return None

        def handle_call(self, msg: Any, state: Any) -> Any:
            return Reply(trio.lowlevel.current_task(), state, idle_timeout=60)

    async with open_runtime():
        ref = await GenServer.start(Idle)
        first = await ref.call("x")  # (inline: it then waits with an idle timeout)
        assert first is trio.lowlevel.current_task()
        assert await ref.call("x") is not trio.lowlevel.current_task()
        await ref.stop()


async def test_a_stopped_process_holds_no_state() -> None:
    class Big:
        pass

    class Holder(SyncProbe):
        def init(self) -> Any:
            return Big()

        def handle_call(self, msg: Any, state: Any) -> Any:
            return None, state

    async with open_runtime():
        ref = await GenServer.start(Holder)
        await ref.call("x")
        state = weakref.ref(await GenServer.get_state(ref))
        await ref.stop()
        gc.collect()
        assert state() is None  # the ref outlives the process; its state does not


async def test_call_observers_see_inline_calls() -> None:
    seen: list[float] = []
    async with open_runtime() as rt:
        ref = await GenServer.start(SyncProbe)
        rt._kernel.call_observers["test"] = lambda proc, seconds: seen.append(seconds)
        await ref.call("x")
        assert len(seen) == 1
        assert seen[0] >= 0
        await ref.stop()


async def test_a_keyboard_interrupt_in_an_inline_handler_goes_to_the_runtime(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Interrupted(SyncProbe):
        def handle_call(self, msg: Any, state: Any) -> Any:
            raise KeyboardInterrupt

    caplog.set_level(logging.CRITICAL)
    errors: list[BaseException] = []

    async def program() -> None:
        async with open_runtime():
            ref = await GenServer.start(Interrupted)
            try:
                await ref.call("x")
            except ServerNotRunningError as error:
                errors.append(error)
            await trio.sleep_forever()

    with pytest.raises(KeyboardInterrupt):
        await program()
    assert [type(error) for error in errors] == [ServerNotRunningError]


async def test_continue_from_init_then_inline_calls(inline: bool) -> None:
    class Starts(SyncProbe):
        def init(self) -> Any:
            return Continue(0, "go")

        def handle_continue(self, arg: Any, state: Any) -> Any:
            return state + 1

        def handle_call(self, msg: Any, state: Any) -> Any:
            return state, state

    async with open_runtime():
        ref = await GenServer.start(Starts)
        assert await ref.call("x") == 1
        await ref.stop()


# --- starts, with inline calls on and off --------------------------------------------------


class Starting(GenServer[Any, Any, Any, Any]):
    """``init(how)``: how it ends — see the branches."""

    def init(self, how: str) -> Any:
        where.set(f"init {how}")
        if how == "raise":
            raise ValueError("no")
        if how == "ignore":
            return Ignore()
        if how == "interrupt":
            raise KeyboardInterrupt
        if how == "awaitable":  # a sync init handing back a coroutine (a decorated async init)

            async def later() -> Any:
                await trio.lowlevel.checkpoint()
                where.set("after await")
                return GenServer.self()

            return later()
        return GenServer.self()

    def handle_call(self, msg: Any, state: Any) -> Any:
        return (state, where.get()), state

    def handle_cast(self, msg: Any, state: Any) -> Any:
        return state


async def test_starts_end_the_same_way(inline: bool) -> None:
    events: list[str] = []
    async with open_runtime() as rt:
        rt.on_lifecycle_event(lambda event: events.append(type(event).__name__))
        ref = await GenServer.start(Starting, "ok", name="ok")
        assert await ref.call(None) == (ref, "init ok")  # its identity and context in init
        slow = await GenServer.start(Starting, "awaitable")
        assert await slow.call(None) == (slow, "after await")
        with pytest.raises(InitializationError) as info:
            await GenServer.start(Starting, "raise", name="taken-then-freed")
        assert isinstance(info.value.__cause__, ValueError)
        assert Registry.whereis("taken-then-freed") is None
        assert await GenServer.start(Starting, "ignore") is None
        with trio.CancelScope() as scope:
            scope.cancel()
            await GenServer.start(Starting, "ok", name="cancelled")
        assert scope.cancelled_caught
        assert Registry.whereis("cancelled") is None
        with trio.CancelScope() as scope:
            scope.cancel()
            await GenServer.start(Starting, "ignore")
        assert scope.cancelled_caught
        assert len(rt.processes()) == 3  # (the event bus, ok, slow)
        await ref.stop()
        await slow.stop()
        assert events == ["Started", "Started", "Terminated", "Terminated"]


async def test_a_keyboard_interrupt_in_init_ends_the_runtime(inline: bool) -> None:
    async def program() -> None:
        async with open_runtime():
            await GenServer.start(Starting, "interrupt")

    with pytest.raises(KeyboardInterrupt):
        await program()


async def test_an_exit_signal_right_after_the_start(inline: bool) -> None:
    async with open_runtime():
        ref, probe = await start_probe()
        GenServer.exit(ref, "bye")
        assert await GenServer.wait_exit(ref) == "bye"
        assert probe.log == [("terminate", "bye", 0)]


async def test_a_message_to_itself_is_handled_before_the_call_returns(inline: bool) -> None:
    # Trio orders tasks woken together at random: twenty fresh processes, each must agree.
    async with open_runtime():
        for _ in range(20):
            ref, probe = await start_probe()
            await trio.testing.wait_all_tasks_blocked()
            await ref.call(("cast_self_then", ("n", lambda state: ("done", state))))
            assert probe.log[-1] == ("cast", ("note", "n"), 0, "process")
            await ref.stop()


async def test_a_started_process_has_run_up_to_its_first_wait(inline: bool) -> None:
    # Trio orders the starter and the new task at random: twenty starts, each must agree.
    continued: list[int] = []

    class Continues(SyncProbe):
        def init(self) -> Any:
            return Continue(None, "go")

        def handle_continue(self, arg: Any, state: Any) -> Any:
            continued.append(1)
            return state

    async with open_runtime():
        for n in range(1, 21):
            ref = await GenServer.start(Continues, mailbox_size=1)
            assert len(continued) == n  # its continuation ran before start returned
            ref.cast("x")  # (handed to the waiting loop)
            ref.cast("y")  # (fills the one place)
            assert ref.statistics().mailbox_length == 1
            await ref.stop()


async def test_an_exit_signal_to_itself_then_a_deferred_reply(inline: bool) -> None:
    async with open_runtime():
        ref, probe = await start_probe()
        await ref.call(("add", 3))
        with pytest.raises(ServerNotRunningError) as info:
            await ref.call(("exit_self_then_defer", None))
        assert info.value.reason == "exited"  # (the deferred caller learns why)
        assert probe.log[-1] == ("terminate", "exited", 3)


async def test_observed_calls_answered_with_errors(inline: bool) -> None:
    seen: list[float] = []
    async with open_runtime() as rt:
        rt._kernel.call_observers["test"] = lambda proc, seconds: seen.append(seconds)
        ref, _ = await start_probe()
        with pytest.raises(LookupError, match="through the handle"):
            await ref.call(("fail_then_noreply", "through the handle"))
        bounded = await GenServer.start(Probe, mailbox_size=1)
        with pytest.raises(ValueError, match="bounded"):
            await bounded.call(("raise", "bounded"))  # (a bounded mailbox: the queued path)
        bounded = await GenServer.start(Probe, mailbox_size=1)
        with trio.CancelScope() as scope:
            scope.cancel()
            await bounded.call(("add", 1))  # given up: not an answered call
        assert len(seen) == 2
        await ref.stop()
        await bounded.stop()


async def test_observed_calls_through_a_full_mailbox(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # (The queued path's slow lane, which inline calls never take: timed the same way.)
    class Sleepy(AsyncProbe):
        async def handle_call(self, msg: Any, state: Any) -> Any:
            if msg == "raise":
                raise ValueError("full")
            await trio.sleep(1)
            return msg, state

    seen: list[float] = []
    async with open_runtime() as rt:
        rt._kernel.call_observers["test"] = lambda proc, seconds: seen.append(seconds)
        for outcome in ("raise", "give up"):
            ref = await GenServer.start(Sleepy, mailbox_size=1)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ref.call, "sleep")
                await trio.testing.wait_all_tasks_blocked()  # served for 1 s
                ref.cast(None)  # fills the mailbox: the next call waits for room
                if outcome == "raise":
                    with pytest.raises(ValueError, match="full"):
                        await ref.call("raise")  # an error is an answer too
                else:
                    with trio.move_on_after(1.5):  # room at 1 s, its reply not before 2 s
                        await ref.call("sleep")
            if outcome == "raise":
                await GenServer.wait_exit(ref)  # (it crashed)
            else:
                await ref.stop()
        assert len(seen) == 3  # the two served "sleep"s and the error; not the given-up call
