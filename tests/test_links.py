"""Monitors, links and trap_exit (noex inventory §8 rows 19-28, with OTP semantics).

Notices are delivered to the watching process's mailbox (``handle_info``), not to a global
stream as in noex. Every test runs on the `rt` fixture, which checks for leaked processes,
names and uncollectable refs once the runtime is closed.
"""

from __future__ import annotations

import gc
import math
import weakref
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

import noex_trio
from noex_trio import (
    ChildSpec,
    Down,
    Exit,
    GenServer,
    GenServerRef,
    InitializationError,
    LinkedExitError,
    MonitorRef,
    NoexError,
    Runtime,
    ServerNotRunningError,
    Stop,
    Supervisor,
)
from noex_trio._links import linked
from noex_trio._process import process_of
from noex_trio.testing import crash, kill

from .conftest import assert_no_cyclic_garbage, gen
from .supervisor_helpers import child_ref

Fn = Callable[[], Any]
ProbeRef = GenServerRef[Fn, Any, Any]


class Probe(GenServer[None, Fn, Any, Any]):
    """Calls are functions run inside the process (their result is the reply). Every
    ``handle_info`` message goes to `inbox`; every ``terminate`` reason to `terminated`.
    A cast ``"stop"`` stops normally; a cast exception is raised (a crash)."""

    def __init__(self) -> None:
        self._send, self.inbox = trio.open_memory_channel[Any](math.inf)
        self.terminated: list[Any] = []

    def init(self) -> None:
        return None

    def handle_call(self, msg: Fn, state: None) -> tuple[Any, None]:
        return msg(), state

    def handle_cast(self, msg: Any, state: None) -> Any:
        if isinstance(msg, BaseException):
            raise msg
        return Stop(msg, state)

    def handle_info(self, msg: Any, state: None) -> None:
        self._send.send_nowait(msg)

    def terminate(self, reason: Any, state: None) -> None:
        self.terminated.append(reason)

    def queued(self) -> list[Any]:
        """Messages already in `inbox`, without waiting."""
        out = []
        while True:
            try:
                out.append(self.inbox.receive_nowait())
            except trio.WouldBlock:
                return out


class Bare(GenServer[None, Fn, Any, Any]):
    """Like `Probe` without ``handle_info``."""

    def init(self) -> None:
        return None

    def handle_call(self, msg: Fn, state: None) -> tuple[Any, None]:
        return msg(), state

    def handle_cast(self, msg: Any, state: None) -> None:
        raise msg


async def settle() -> None:
    """Let every task run until all are blocked."""
    await trio.testing.wait_all_tasks_blocked()


async def probe(*, trap_exit: bool = False, name: str | None = None) -> tuple[ProbeRef, Probe]:
    behaviour = Probe()
    ref = await GenServer.start(behaviour, trap_exit=trap_exit, name=name)
    return ref, behaviour


async def next_info(p: Probe) -> Any:
    with trio.fail_after(1):
        return await p.inbox.receive()


async def link(a: ProbeRef, b: ProbeRef | str) -> None:
    await a.call(lambda: GenServer.link(b))


async def monitor(watcher: ProbeRef, target: object) -> MonitorRef:
    mref: MonitorRef = await watcher.call(lambda: GenServer.monitor(target))  # type: ignore[arg-type]
    return mref


# ---------------------------------------------------------------- links (rows 19-24)


@pytest.mark.parametrize("how", ["crash", "stop"])
async def test_abnormal_exit_kills_linked_peer(rt: Runtime, how: str) -> None:  # row 19
    (a, _), (b, pb) = await probe(), await probe()
    await link(a, b)
    assert linked(a, b)
    assert linked(b, a)
    error = ValueError("boom")
    if how == "crash":
        crash(a, error)
    else:
        await a.stop(error)
    assert await GenServer.wait_exit(a) is error
    reason = await GenServer.wait_exit(b)
    assert isinstance(reason, LinkedExitError)
    assert reason.process is a
    assert reason.reason is error
    assert reason.__cause__ is error
    assert str(reason) == f"linked process Probe#{a.id} exited with ValueError('boom')"
    assert pb.terminated == [reason]  # terminate runs for a linked exit (see the guide)
    assert not linked(b, a)


async def test_link_is_bidirectional(rt: Runtime) -> None:
    (a, pa), (b, _) = await probe(), await probe()
    await link(a, b)
    crash(b)
    reason = await GenServer.wait_exit(a)
    assert isinstance(reason, LinkedExitError)
    assert reason.process is b
    assert pa.terminated == [reason]


async def test_shutdown_propagates_normal_does_not(rt: Runtime) -> None:  # row 20
    (a, _), (b, pb) = await probe(), await probe()
    (c, _), (d, _) = await probe(), await probe()
    await link(a, b)
    await link(c, d)
    await a.stop("shutdown")
    assert await GenServer.wait_exit(b) == "shutdown"
    assert pb.terminated == ["shutdown"]
    await c.stop("normal")
    await settle()
    assert d.is_running()
    assert not linked(d, c)  # the link went away with c


async def test_exit_cascades_through_a_chain(rt: Runtime) -> None:  # row 21
    (a, _), (b, _), (c, _) = await probe(), await probe(), await probe()
    await link(a, b)
    await link(b, c)
    error = RuntimeError("first")
    crash(a, error)
    reason_c = await GenServer.wait_exit(c)
    reason_b = await GenServer.wait_exit(b)
    assert isinstance(reason_c, LinkedExitError)
    assert reason_c.process is b
    assert reason_c.reason is reason_b
    assert isinstance(reason_b, LinkedExitError)
    assert reason_b.reason is error


async def test_exit_in_a_link_cycle_kills_each_once(rt: Runtime) -> None:
    (a, _), (b, pb), (c, pc) = await probe(), await probe(), await probe()
    await link(a, b)
    await link(b, c)
    await link(c, a)
    crash(a)
    for ref in (b, c):
        assert isinstance(await GenServer.wait_exit(ref), LinkedExitError)
    assert len(pb.terminated) == len(pc.terminated) == 1


@pytest.mark.parametrize("reason", ["normal", "shutdown", ValueError("boom")])
async def test_trap_exit_turns_exit_into_message(rt: Runtime, reason: Any) -> None:  # row 22
    (a, _), (b, pb) = await probe(), await probe(trap_exit=True)
    await link(b, a)
    await a.stop(reason)
    assert await next_info(pb) == Exit(a, reason)  # "normal" too, like OTP
    assert b.is_running()
    assert not linked(b, a)


async def test_trap_exit_receives_killed(rt: Runtime) -> None:
    (a, _), (b, pb) = await probe(), await probe(trap_exit=True)
    await link(a, b)
    kill(a)
    assert await next_info(pb) == Exit(a, "killed")


async def test_trap_exit_without_handle_info_survives(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:  # row 23
    a, _ = await probe()
    b = await GenServer.start(Bare, trap_exit=True)
    await b.call(lambda: GenServer.link(a))
    crash(a)
    await GenServer.wait_exit(a)
    assert await b.call(lambda: "still here") == "still here"
    assert "defines no handle_info; dropped" in caplog.text
    caplog.clear()  # the log record holds the Exit (and so `a`) until the leak check


async def test_unlink_stops_propagation(rt: Runtime) -> None:  # row 24
    (a, _), (b, _) = await probe(), await probe()
    await link(a, b)
    await a.call(lambda: GenServer.unlink(b))
    assert not linked(a, b)
    assert not linked(b, a)
    await a.call(lambda: GenServer.unlink(b))  # idempotent
    crash(a)
    await GenServer.wait_exit(a)
    await settle()
    assert b.is_running()


async def test_unlink_from_the_other_side_and_by_name(rt: Runtime) -> None:
    (a, _), (b, _) = await probe(), await probe(name="b")
    await link(a, b)
    await b.call(lambda: GenServer.unlink(a))
    assert not linked(a, b)
    await link(a, "b")
    assert linked(b, a)
    await a.call(lambda: GenServer.unlink("b"))
    await a.call(lambda: GenServer.unlink("nobody"))  # an unknown name: nothing to do
    assert not linked(b, a)


async def test_link_is_idempotent_and_self_link_is_a_noop(rt: Runtime) -> None:
    (a, pa), (b, _) = await probe(), await probe()
    await link(a, b)
    await link(a, b)
    await link(b, a)
    await link(a, a)
    assert not linked(a, a)
    crash(b)
    assert isinstance(await GenServer.wait_exit(a), LinkedExitError)
    assert len(pa.terminated) == 1


async def test_link_to_dead_or_unknown_raises_when_not_trapping(rt: Runtime) -> None:
    (a, _), (dead, _) = await probe(), await probe()
    await dead.stop()

    def try_link(target: object) -> Any:
        try:
            GenServer.link(target)  # type: ignore[arg-type]
        except ServerNotRunningError as exc:
            return exc
        raise AssertionError("link did not raise")

    error = await a.call(lambda: try_link(dead))
    assert error.reason == "noproc"
    assert error.target is dead
    error = await a.call(lambda: try_link("nobody"))
    assert str(error) == "'nobody' is not running"


async def test_link_to_dead_or_unknown_is_an_exit_when_trapping(rt: Runtime) -> None:
    (a, pa), (dead, _) = await probe(trap_exit=True), await probe()
    await dead.stop()
    await link(a, dead)
    await link(a, "nobody")
    assert await next_info(pa) == Exit(dead, "noproc")
    assert await next_info(pa) == Exit("nobody", "noproc")


async def test_link_from_a_handler_that_then_crashes(rt: Runtime) -> None:
    (a, _), (b, _) = await probe(), await probe()

    def link_and_crash() -> None:
        GenServer.link(b)
        raise KeyError("k")

    with pytest.raises(KeyError):
        await a.call(link_and_crash)
    reason = await GenServer.wait_exit(b)
    assert isinstance(reason, LinkedExitError)
    assert isinstance(reason.reason, KeyError)


async def test_link_from_terminate_still_propagates(rt: Runtime) -> None:
    b, pb = await probe(trap_exit=True)

    class LinksInTerminate(Probe):
        def terminate(self, reason: Any, state: None) -> None:
            GenServer.link(b)

    a = await GenServer.start(LinksInTerminate())
    await a.stop("shutdown")
    assert await next_info(pb) == Exit(a, "shutdown")


async def test_link_and_monitor_from_init(rt: Runtime) -> None:
    a, _ = await probe(name="a")

    class Attached(Probe):
        def init(self) -> None:
            GenServer.link("a")
            self.mref = GenServer.monitor("a")

    pb = Attached()
    b = await GenServer.start(pb)
    assert linked(a, b)
    assert pb.mref.active
    await a.stop("shutdown")
    assert await GenServer.wait_exit(b) == "shutdown"


async def test_link_and_monitor_outside_a_process(rt: Runtime) -> None:
    a, _ = await probe()
    pattern = r"^GenServer\.{}\(\) can only be used inside a process"
    with pytest.raises(NoexError, match=pattern.format("link")):
        GenServer.link(a)
    with pytest.raises(NoexError, match=pattern.format("unlink")):
        GenServer.unlink(a)
    with pytest.raises(NoexError, match=pattern.format("monitor")):
        GenServer.monitor(a)


async def test_linked_exit_overtakes_the_mailbox(rt: Runtime) -> None:
    gate = trio.Event()

    class Sleeper(Probe):
        async def handle_call(self, msg: Any, state: None) -> tuple[Any, None]:  # type: ignore[override]
            await gate.wait()
            return None, state

    (a, _), pb = await probe(), Sleeper()
    b = await GenServer.start(pb)
    await link(a, b)
    async with trio.open_nursery() as nursery:

        async def served_call() -> None:
            with pytest.raises(LinkedExitError):  # the call being served gets the exit reason
                await b.call(lambda: None)

        nursery.start_soon(served_call)
        await settle()
        b.cast(ValueError("never handled"))  # queued behind the call
        crash(a)
        reason = await GenServer.wait_exit(b)
    assert isinstance(reason, LinkedExitError)
    assert pb.terminated == [reason]  # not the queued ValueError
    assert not gate.is_set()


# ---------------------------------------------------------------- start(link=True)


class StartsLinked(Probe):
    """``handle_call(args)`` starts a linked `Probe` child with ``init`` args `args`."""

    async def handle_call(self, msg: Any, state: None) -> tuple[Any, None]:  # type: ignore[override]
        behaviour = msg() if callable(msg) else Probe()
        return await GenServer.start(behaviour, link=True), state


async def test_start_link_child_crash_kills_parent(rt: Runtime) -> None:
    parent = await GenServer.start(StartsLinked())
    child = await parent.call(Probe)
    assert linked(parent, child)
    crash(child)
    reason = await GenServer.wait_exit(parent)
    assert isinstance(reason, LinkedExitError)
    assert reason.process is child


async def test_start_link_parent_crash_kills_child(rt: Runtime) -> None:
    parent = await GenServer.start(StartsLinked())
    child = await parent.call(Probe)
    crash(parent)
    reason = await GenServer.wait_exit(child)
    assert isinstance(reason, LinkedExitError)
    assert reason.process is parent


async def test_start_link_init_failure_does_not_link(rt: Runtime) -> None:
    class BadInit(Probe):
        def init(self) -> None:
            raise ValueError("bad init")

    async def start_bad() -> Exception:
        with pytest.raises(InitializationError) as info:
            await GenServer.start(BadInit(), link=True)
        return info.value

    parent = await GenServer.start(AsyncProbe())
    error = await parent.call(start_bad)
    assert isinstance(error.__cause__, ValueError)
    assert parent.is_running()
    assert not process_of(parent).exit_hooks


async def test_start_link_outside_a_process_starts_nothing(rt: Runtime) -> None:
    before = len(rt.processes())
    with pytest.raises(NoexError, match=r"^GenServer\.start\(link=True\) can only be used"):
        await GenServer.start(Probe(), link=True)
    assert len(rt.processes()) == before


async def test_start_link_cancelled_during_init_leaves_nothing(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    class SlowInit(Probe):
        async def init(self) -> None:  # type: ignore[override]
            await trio.sleep(10)

    pp = StartsLinked()
    parent = await GenServer.start(pp)
    before = rt.processes()
    async with trio.open_nursery() as nursery:

        async def start_slow_child() -> None:
            with pytest.raises(ServerNotRunningError):
                await parent.call(SlowInit)

        nursery.start_soon(start_slow_child)
        await trio.sleep(1)  # the child's init is running
        assert len(rt.processes()) == len(before) + 1
        kill(parent, "shutdown")  # cancels the parent's handler, hence the child's start
    assert await GenServer.wait_exit(parent) == "shutdown"
    assert pp.terminated == ["shutdown"]
    assert trio.current_time() < 10
    assert [p for p in rt.processes() if p not in before] == []


async def test_start_link_of_a_child_that_died_at_once(rt: Runtime) -> None:
    # The child handles a queued crash before the parent resumes: the link still fires.
    class Parent(Probe):
        async def handle_call(self, msg: Any, state: None) -> tuple[Any, None]:  # type: ignore[override]
            class DiesFirst(Probe):
                def init(self) -> None:
                    crash_self = GenServer.self()
                    crash(crash_self, ValueError("early"))

            return await GenServer.start(DiesFirst(), link=True), state

    pp = Parent()
    parent = await GenServer.start(pp, trap_exit=True)
    child = await parent.call(lambda: None)
    reason = await GenServer.wait_exit(child)
    assert isinstance(reason, ValueError)
    assert await next_info(pp) == Exit(child, reason)
    assert parent.is_running()


# ---------------------------------------------------------------- monitors (rows 25-28)


@pytest.mark.parametrize("reason", ["normal", "shutdown", ValueError("boom")])
async def test_monitor_delivers_down_to_the_watcher(rt: Runtime, reason: Any) -> None:  # row 25
    (w, pw), (t, _) = await probe(), await probe()
    mref = await monitor(w, t)
    assert mref.active
    assert mref.target is t
    await t.stop(reason)
    down = await next_info(pw)
    assert down == Down(mref, t, reason)
    assert down.monitor is mref
    assert not mref.active


async def test_monitor_down_on_kill_and_crash(rt: Runtime) -> None:
    (w, pw), (t1, _), (t2, _) = await probe(), await probe(), await probe()
    m1 = await monitor(w, t1)
    m2 = await monitor(w, t2)
    error = RuntimeError("crash")
    crash(t1, error)
    kill(t2)
    got = {(await next_info(pw)).monitor: None for _ in range(2)}
    assert set(got) == {m1, m2}
    assert t1.exit_reason is error
    assert t2.exit_reason == "killed"


async def test_monitor_by_name(rt: Runtime) -> None:
    (w, pw), (t, _) = await probe(), await probe(name="target")
    mref = await monitor(w, "target")
    await t.stop()
    assert await next_info(pw) == Down(mref, t, "normal")


async def test_monitor_dead_or_unknown_is_noproc_at_once(rt: Runtime) -> None:  # row 26
    (w, pw), (t, _) = await probe(), await probe()
    await t.stop("shutdown")
    m1 = await monitor(w, t)
    m2 = await monitor(w, "nobody")
    assert not m1.active
    assert not m2.active
    assert await next_info(pw) == Down(m1, t, "noproc")
    assert await next_info(pw) == Down(m2, "nobody", "noproc")


async def test_monitors_are_independent(rt: Runtime) -> None:
    (w, pw), (t, _) = await probe(), await probe()
    m1 = await monitor(w, t)
    m2 = await monitor(w, t)
    assert m1 != m2
    await w.call(lambda: GenServer.demonitor(m1))
    await t.stop()
    assert await next_info(pw) == Down(m2, t, "normal")
    await settle()
    assert pw.queued() == []


async def test_demonitor_prevents_down_and_is_idempotent(rt: Runtime) -> None:  # row 27
    (w, pw), (t, _) = await probe(), await probe()
    mref = await monitor(w, t)
    await w.call(lambda: GenServer.demonitor(mref))
    assert not mref.active
    await w.call(lambda: GenServer.demonitor(mref))
    GenServer.demonitor(mref, flush=True)  # from anywhere: the MonitorRef is the capability
    await t.stop()
    await settle()
    assert pw.queued() == []
    assert process_of(t).exit_hooks is None
    assert not process_of(w).exit_hooks


async def test_demonitor_after_down_without_flush_keeps_the_queued_down(rt: Runtime) -> None:
    (w, pw), (t, _) = await probe(), await probe()
    mref = await monitor(w, t)
    await t.stop()
    GenServer.demonitor(mref)  # too late: the Down is already queued (OTP)
    assert await next_info(pw) == Down(mref, t, "normal")


class AsyncProbe(Probe):
    """A `Probe` whose calls are async functions, awaited inside the process."""

    @staticmethod
    async def nothing() -> None:
        await trio.lowlevel.checkpoint()

    async def handle_call(self, msg: Any, state: None) -> tuple[Any, None]:  # type: ignore[override]
        return await msg(), state


async def test_demonitor_flush_drops_a_queued_down(rt: Runtime) -> None:
    pw = AsyncProbe()
    w = await GenServer.start(pw)
    t, _ = await probe()

    async def stop_then_flush() -> bool:
        mref = GenServer.monitor(t)
        await t.stop()  # the Down is queued in w's mailbox while w is busy here
        queued = w.statistics().mailbox_length
        GenServer.demonitor(mref, flush=True)
        return bool(queued == 1)

    assert await w.call(stop_then_flush)
    assert await w.call(AsyncProbe.nothing) is None  # the Down was handled before this call
    assert pw.queued() == []


async def test_monitors_owned_by_a_dying_process_are_removed(rt: Runtime) -> None:  # row 28
    (w, _), (t, _) = await probe(), await probe()
    mref = await monitor(w, t)
    assert process_of(t).exit_hooks is not None
    assert mref in (process_of(t).exit_hooks or {})
    await w.stop()
    assert not mref.active
    assert mref not in (process_of(t).exit_hooks or {})
    await t.stop()  # nothing to deliver, nothing fails


async def test_self_monitor(rt: Runtime) -> None:
    w, _ = await probe()
    mref = await monitor(w, w)
    assert mref.active
    await w.stop()
    assert not mref.active


async def test_down_in_a_bounded_full_mailbox_arrives_later(rt: Runtime) -> None:
    gate = trio.Event()

    class Gated(Probe):
        async def handle_cast(self, msg: Any, state: None) -> None:
            await gate.wait()

    pw = Gated()
    w = await GenServer.start(pw, mailbox_size=1)
    t, _ = await probe()
    mref = await monitor(w, t)
    w.cast("block")
    await settle()
    w.cast("fill")  # the mailbox (size 1) is now full
    await t.stop()
    await settle()
    gate.set()
    assert await next_info(pw) == Down(mref, t, "normal")


async def test_a_dying_watcher_drops_its_casts_as_dead_letters_not_its_downs(rt: Runtime) -> None:
    gate = trio.Event()

    class Gated(Probe):
        async def handle_cast(self, msg: Any, state: None) -> None:
            await gate.wait()

    w = await GenServer.start(Gated(), mailbox_size=1)
    t, _ = await probe()
    await monitor(w, t)
    w.cast("block")
    await settle()
    w.cast("fill")
    await t.stop()
    await settle()
    before = rt.statistics().dead_letters
    kill(w)
    await GenServer.wait_exit(w)
    await settle()
    assert rt.statistics().dead_letters == before + 1  # the queued cast (a Down is no letter)


async def test_crash_in_handle_info_on_down(rt: Runtime) -> None:
    class Fragile(Probe):
        def handle_info(self, msg: Any, state: None) -> None:
            raise RuntimeError(f"cannot handle {type(msg).__name__}")

    w = await GenServer.start(Fragile())
    t, _ = await probe()
    await w.call(lambda: GenServer.monitor(t))
    await t.stop()
    reason = await GenServer.wait_exit(w)
    assert isinstance(reason, RuntimeError)
    assert str(reason) == "cannot handle Down"


async def test_demonitor_rejects_other_objects(rt: Runtime) -> None:
    with pytest.raises(TypeError, match=r"^expected mref to be a MonitorRef, got 'x'$"):
        GenServer.demonitor("x")  # type: ignore[arg-type]


async def test_monitor_ref_repr_and_values(rt: Runtime) -> None:
    (w, _), (t, _) = await probe(), await probe()
    mref = await monitor(w, t)
    assert repr(mref) == f"<MonitorRef of Probe#{t.id} by Probe#{w.id} active>"
    m2 = await monitor(w, "ghost")
    assert repr(m2) == f"<MonitorRef of ghost by Probe#{w.id} inactive>"
    assert type(mref).__module__ == "noex_trio"
    match Down(mref, t, "normal"):
        case Down(monitor=m, ref=r, reason="normal"):
            assert (m, r) == (mref, t)
    match Exit(t, "shutdown"):
        case Exit(sender, reason):
            assert (sender, reason) == (t, "shutdown")
    assert {"Down", "Exit", "MonitorRef", "LinkedExitError"} <= set(noex_trio.__all__)


# ---------------------------------------------------------------- wait_exit


async def test_wait_exit_from_plain_trio(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    t, _ = await probe()
    start = trio.current_time()
    GenServer.send_after(t, "normal", 2.5)  # the Probe stops with the cast reason
    assert await GenServer.wait_exit(t) == "normal"
    assert trio.current_time() - start == 2.5
    assert await GenServer.wait_exit(t) == "normal"  # already dead: at once
    assert await GenServer.wait_exit("nobody") == "noproc"
    assert trio.current_time() - start == 2.5


async def test_wait_exit_by_name_and_crash(rt: Runtime) -> None:
    t, _ = await probe(name="t")
    error = ValueError("x")
    async with trio.open_nursery() as nursery:
        got: list[Any] = []

        async def waiter() -> None:
            got.append(await GenServer.wait_exit("t"))

        nursery.start_soon(waiter)
        await settle()
        crash(t, error)
    assert got == [error]


async def test_wait_exit_cancelled_leaves_nothing(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    t, _ = await probe()
    with trio.move_on_after(1) as scope:
        await GenServer.wait_exit(t)
    assert scope.cancelled_caught
    assert t.is_running()
    await t.stop()
    assert await GenServer.wait_exit(t) == "normal"


# ---------------------------------------------------------------- interplay, cleanup


async def test_runtime_shutdown_with_links_and_monitors() -> None:
    async with noex_trio.open_runtime() as rt:
        (a, pa), (b, pb) = await probe(), await probe(trap_exit=True)
        await link(a, b)
        await monitor(a, b)
        await monitor(b, a)
    assert rt.statistics().processes == 0
    assert pa.terminated == ["shutdown"]
    assert pb.terminated == ["shutdown"]


async def test_dead_linked_processes_are_collectable(rt: Runtime) -> None:
    (a, _), (b, _) = await probe(), await probe()
    await link(a, b)
    await monitor(a, b)
    await monitor(b, a)
    await a.stop("shutdown")  # a crash would keep both alive through its logged traceback
    await GenServer.wait_exit(b)
    assert process_of(a).exit_hooks is None
    assert process_of(b).exit_hooks is None
    refs = [weakref.ref(a), weakref.ref(b)]
    del a, b
    gc.collect()
    assert [r() for r in refs] == [None, None]


async def test_link_monitor_round_trip_leaves_no_cyclic_garbage(rt: Runtime) -> None:
    (a, _), (b, _) = await probe(), await probe()

    async def round_trip() -> None:
        await link(a, b)
        mref = await monitor(a, b)
        await a.call(lambda: GenServer.demonitor(mref, flush=True))
        await a.call(lambda: GenServer.unlink(b))

    await assert_no_cyclic_garbage(round_trip)
    assert not process_of(a).exit_hooks
    assert not process_of(b).exit_hooks


async def test_processes_without_links_store_nothing(rt: Runtime) -> None:
    t, _ = await probe()
    assert process_of(t).exit_hooks is None


# ---------------------------------------------------------------- supervision


def named_probe_spec(name: str) -> ChildSpec:
    async def start() -> ProbeRef:
        return await GenServer.start(Probe(), name=name)

    return ChildSpec(name, start)


async def test_linked_crash_in_a_supervised_tree_restarts_both(rt: Runtime) -> None:
    from noex_trio.testing import EventRecorder

    with EventRecorder(rt) as events:
        sup = await Supervisor.start(
            children=[named_probe_spec("a"), named_probe_spec("b")], strategy="one_for_one"
        )
        a = noex_trio.Registry.lookup("a")
        b = gen(noex_trio.Registry.lookup("b"))
        await b.call(lambda: GenServer.link("a"))
        crash(a)  # a crashes; the link kills b; one_for_one restarts each of them
        assert isinstance(await GenServer.wait_exit(b), LinkedExitError)
        with trio.fail_after(1):
            await events.wait_for(noex_trio.Restarted, 2)
    children = {c.id: c for c in Supervisor.get_children(sup)}
    assert children["a"].restart_count == children["b"].restart_count == 1
    new_a, new_b = child_ref(sup, "a"), child_ref(sup, "b")
    assert not linked(new_a, new_b)  # a restart does not restore links
    await Supervisor.stop(sup)


async def test_start_link_in_a_child_start_function_is_a_noop(rt: Runtime) -> None:
    async def start() -> ProbeRef:
        return await GenServer.start(Probe(), link=True)  # the supervisor already "links"

    sup = await Supervisor.start(children=[ChildSpec("w", start)])
    child = child_ref(sup, "w")
    assert not linked(sup, child)
    await Supervisor.stop(sup)


async def test_terminate_child_propagates_shutdown_through_a_link(rt: Runtime) -> None:
    sup = await Supervisor.start(children=[named_probe_spec("a")])
    outsider, po = await probe()
    await link(outsider, "a")
    await Supervisor.terminate_child(sup, "a")
    assert await GenServer.wait_exit(outsider) == "shutdown"
    assert po.terminated == ["shutdown"]
    await Supervisor.stop(sup)
