"""Tests for how supervisors stop: budgets, no restarts once stopping, concurrent stops, kills,
Ctrl-C (SPEC §3 "Shutdown", §7; noex-inventory §8 rows 40, 41). Time is virtual.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import (
    ChildSpec,
    GenServer,
    GenServerRef,
    ProcessRef,
    Registry,
    Runtime,
    ServerNotRunningError,
    Supervisor,
    SupervisorRef,
    open_runtime,
)
from noex_trio.testing import crash, kill, wait_exit, wait_for_restart

from .conftest import Counter, gen, user_processes
from .supervisor_helpers import Journal, child_ref, settle, worker

Ref = GenServerRef[Any, Any, Any]


def child_sup(sup: SupervisorRef, child_id: str) -> SupervisorRef:
    ref = child_ref(sup, child_id)
    assert isinstance(ref, SupervisorRef)
    return ref


# --- budgets (row 40) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "took", "reason", "terminate_ran"),
    [
        (2.0, 2.0, "killed", True),  # terminate cut short after 2 s: killed (OTP)
        (20.0, 10.0, "shutdown", True),  # terminate finished in time
        (math.inf, 10.0, "shutdown", True),  # as long as it takes
        (0, 0.0, "killed", True),  # started, cut at once
        ("brutal_kill", 0.0, "killed", False),  # cancelled without terminate
    ],
)
async def test_stop_honours_each_childs_budget(
    rt: Runtime,
    autojump_clock: trio.testing.MockClock,
    budget: Any,
    took: float,
    reason: str,
    terminate_ran: bool,
) -> None:
    journal = Journal(slow={"a": 10})
    sup = await Supervisor.start([worker(journal, "a", shutdown=budget)])
    a = child_ref(sup, "a")
    await Supervisor.stop(sup)
    assert trio.current_time() == took
    assert a.exit_reason == reason
    assert journal.stops() == (["a"] if terminate_ran else [])
    assert ("a" in journal.finished) is (took == 10.0)


async def test_terminate_child_honours_the_budget(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    journal = Journal(slow={"a": 10})
    sup = await Supervisor.start([worker(journal, "a", shutdown=3)])
    await Supervisor.terminate_child(sup, "a")
    assert trio.current_time() == 3
    assert "a" not in journal.finished


async def test_children_stop_one_after_the_other_in_reverse(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    journal = Journal(slow={"a": 1, "b": 5, "c": 2})
    sup = await Supervisor.start(
        [worker(journal, "a"), worker(journal, "b", shutdown=3), worker(journal, "c")]
    )
    await Supervisor.stop(sup)
    # c takes 2 s, then b is cut at 3 s, then a takes 1 s.
    assert journal.stops() == ["c", "b", "a"]
    assert journal.finished == {"c": 2, "a": 6}
    assert trio.current_time() == 6


async def test_simple_one_for_one_children_stop_concurrently(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    journal = Journal(slow={"x": 2, "y": 2, "z": 2})

    async def start_worker(tag: str) -> ProcessRef | None:
        spec = worker(journal, tag)
        return await spec.start()

    pool = await Supervisor.start(
        strategy="simple_one_for_one", child_template=ChildSpec("w", start_worker, shutdown=5)
    )
    for tag in "xyz":
        await Supervisor.start_child(pool, tag)
    await Supervisor.stop(pool)
    assert trio.current_time() == 2  # not 6
    assert sorted(journal.stops()) == ["x", "y", "z"]


async def test_a_supervisor_child_waits_for_its_subtree(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    journal = Journal(slow={"w": 4, "v": 3})
    root = await Supervisor.start(
        [
            worker(journal, "r"),
            Supervisor.child_spec([worker(journal, "w"), worker(journal, "v")], id="sub"),
        ]
    )
    await Supervisor.stop(root)
    assert journal.stops() == ["v", "w", "r"]
    assert trio.current_time() == 7  # the subtree's budgets add up (shutdown=math.inf)


async def test_a_supervisor_cut_short_by_its_budget_kills_the_rest(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    """The OTP hazard of a finite budget for a supervisor child, made visible."""
    journal = Journal(slow={"w": 10})
    root = await Supervisor.start(
        [
            Supervisor.child_spec(
                [worker(journal, "u"), worker(journal, "w"), worker(journal, "v")],
                id="sub",
                shutdown=1,
            )
        ]
    )
    sub = child_sup(root, "sub")
    u, w = (child_ref(sub, tag) for tag in "uw")
    await Supervisor.stop(root)
    assert trio.current_time() == 1  # the sub's budget, not its children's
    assert sub.exit_reason == "killed"  # it overran its budget (OTP kills it)
    # v stopped, w was still in its terminate (the sub's kill cuts it short: killed),
    # u never got to terminate: it was killed.
    assert journal.stops() == ["v", "w"]
    assert await wait_exit(u) == "killed"
    assert trio.current_time() == 1
    assert await wait_exit(w) == "killed"  # its terminate is cut short by the kill
    assert trio.current_time() == 1
    assert "w" not in journal.finished


# --- no restarts once stopping (row 41) -------------------------------------------------------


async def test_no_restart_once_a_stop_was_requested(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    journal = Journal(slow={"a": 1})
    sup = await Supervisor.start([worker(journal, "a"), worker(journal, "b")])
    async with trio.open_nursery() as nursery:
        # Keep the supervisor busy for 1 s (a slow terminate_child) ...
        nursery.start_soon(Supervisor.terminate_child, sup, "a")
        await settle()
        # ... while b crashes (its exit waits in the mailbox) and a stop is requested.
        crash(child_ref(sup, "b"))
        await settle()
        nursery.start_soon(Supervisor.stop, sup)
    assert journal.starts() == ["a", "b"]
    assert trio.current_time() == 1


async def test_crashes_during_shutdown_are_ignored(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    journal = Journal(slow={"b": 1})
    sup = await Supervisor.start([worker(journal, tag) for tag in "abc"])
    a = child_ref(sup, "a")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Supervisor.stop, sup)
        await trio.sleep(0.5)  # c is gone, b is in its terminate
        crash(a)
    assert journal.stops() == ["c", "b", "a"]
    assert isinstance(journal.reasons()["a"], RuntimeError)
    assert journal.starts() == ["a", "b", "c"]


async def test_no_restart_while_the_runtime_closes(autojump_clock: trio.testing.MockClock) -> None:
    journal = Journal()

    class Saboteur(GenServer[None, Any, Any, Any]):
        """Stopped first at the runtime's exit; crashes a supervised child on its way out."""

        def init(self) -> None:
            return None

        async def terminate(self, reason: Any, state: None) -> None:
            crash(child_ref("app", "a"))
            await trio.sleep(1)  # the supervisor handles the crash meanwhile

    async with open_runtime():
        await Supervisor.start([worker(journal, "a"), worker(journal, "b")], name="app")
        await GenServer.start(Saboteur)
    assert journal.starts() == ["a", "b"]
    assert journal.stops() == ["a", "b"]


async def test_concurrent_stops_are_safe(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    journal = Journal(slow={"a": 1, "b": 1})
    sup = await Supervisor.start([worker(journal, "a"), worker(journal, "b")], name="app")
    done: list[float] = []

    async def stop(how: Any) -> None:
        await how()
        done.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop, lambda: Supervisor.stop(sup))
        nursery.start_soon(stop, lambda: Supervisor.stop("app", "shutdown"))
        nursery.start_soon(stop, sup.stop)
    assert done == [2, 2, 2]
    assert journal.stops() == ["b", "a"]  # once each
    assert not Supervisor.is_running(sup)


async def test_stop_reason_is_the_supervisors_exit_reason(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start([worker(journal, "a")])
    await Supervisor.stop(sup, "shutdown")
    assert sup.exit_reason == "shutdown"
    assert journal.reasons() == {"a": "shutdown"}


# --- kills and strays -------------------------------------------------------------------------


async def test_a_killed_supervisor_takes_its_children_with_it(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    journal = Journal()
    root = await Supervisor.start(
        [Supervisor.child_spec([worker(journal, "w1"), worker(journal, "w2")], id="sub")]
    )
    sub = child_sup(root, "sub")
    w1 = child_ref(sub, "w1")
    kill(sub)
    new_sub = await wait_for_restart(root, "sub", sub)
    assert await wait_exit(w1) == "killed"
    assert journal.stops() == []  # killed: no terminate
    assert journal.starts() == ["w1", "w2", "w1", "w2"]
    assert isinstance(new_sub, SupervisorRef)
    assert sub.exit_reason == "killed"


async def test_stray_processes_of_a_start_function_are_stopped(rt: Runtime) -> None:
    async def start_with_helper() -> Ref:
        await GenServer.start(Counter, name="helper")  # lands in the supervisor's nursery
        return await GenServer.start(Counter, name="main")

    sup = await Supervisor.start([ChildSpec("main", start_with_helper)])
    assert [child.id for child in Supervisor.get_children(sup)] == ["main"]
    helper = Registry.lookup("helper")
    await Supervisor.stop(sup)
    assert not helper.is_running()
    assert user_processes(rt) == []


# --- Ctrl-C -----------------------------------------------------------------------------------


async def test_keyboard_interrupt_in_a_tree_shuts_it_down_in_order_then_propagates() -> None:
    journal = Journal()
    with pytest.raises(KeyboardInterrupt):  # noqa: PT012 - the runtime block is under test
        async with open_runtime() as rt:
            root = await Supervisor.start(
                [
                    worker(journal, "a"),
                    Supervisor.child_spec([worker(journal, "b"), worker(journal, "c")], id="sub"),
                    worker(journal, "d"),
                ]
            )
            c = Supervisor.get_child(child_sup(root, "sub"), "c").ref
            with contextlib.suppress(ServerNotRunningError):
                await gen(c).call(("interrupt",))
            await trio.sleep_forever()
    # c stopped on the interrupt (nothing restarted it), then the tree in reverse order.
    assert journal.stops() == ["c", "d", "b", "a"]
    assert journal.reasons() == dict.fromkeys("abcd", "shutdown")
    assert journal.starts() == ["a", "b", "c", "d"]
    assert rt.statistics().processes == 0


async def test_keyboard_interrupt_while_the_body_fails_too() -> None:
    """The interrupted call fails in the body while the runtime escalates: the body leaves
    with that error and the escalation's cancellation at once; the ordered shutdown still runs.
    """
    journal = Journal()
    with pytest.raises(KeyboardInterrupt):  # noqa: PT012 - the runtime block is under test
        async with open_runtime() as rt:
            sup = await Supervisor.start([worker(journal, "a"), worker(journal, "b")])
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.sleep_forever)
                await gen(child_ref(sup, "b")).call(("interrupt",))
    assert journal.stops() == ["b", "a"]
    assert rt.statistics().processes == 0


async def test_keyboard_interrupt_in_the_body_shuts_the_tree_down_in_order() -> None:
    journal = Journal()
    with pytest.raises(KeyboardInterrupt):  # noqa: PT012 - the runtime block is under test
        async with open_runtime():
            await Supervisor.start(
                [
                    worker(journal, "a"),
                    Supervisor.child_spec([worker(journal, "b"), worker(journal, "c")], id="sub"),
                ]
            )
            raise KeyboardInterrupt
    assert journal.stops() == ["c", "b", "a"]
