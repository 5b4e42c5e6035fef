"""Tests for restarts: strategies, restart types, intensity, escalation, auto_shutdown and
simple_one_for_one (SPEC §3; noex-inventory §8 rows 34-39, 42, 43).

Time is virtual (``autojump_clock``) wherever the intensity window matters, and asserted exactly.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from noex_trio import (
    ChildSpec,
    GenServer,
    InitializationError,
    LinkedExitError,
    MaxRestartsExceededError,
    ProcessRef,
    Registry,
    Restarted,
    Runtime,
    ServerNotRunningError,
    Supervisor,
    SupervisorRef,
    open_runtime,
)
from noex_trio._process import process_of
from noex_trio.testing import crash, kill, wait_for_restart

from .conftest import Counter, gen, user_processes
from .supervisor_helpers import Journal, StartFailure, child_ref, settle, worker


def refs_of(sup: SupervisorRef) -> dict[str, ProcessRef]:
    return {child.id: child_ref(sup, child.id) for child in Supervisor.get_children(sup)}


def child_sup(sup: SupervisorRef, child_id: str) -> SupervisorRef:
    """The child `child_id` of `sup`, which is a supervisor."""
    ref = child_ref(sup, child_id)
    assert isinstance(ref, SupervisorRef)
    return ref


def counts_of(sup: SupervisorRef) -> dict[str, int]:
    return {child.id: child.restart_count for child in Supervisor.get_children(sup)}


def restarted(rt: Runtime) -> list[Restarted]:
    events: list[Restarted] = []
    rt.on_lifecycle_event(lambda event: events.append(event) if type(event) is Restarted else None)
    return events


# --- strategies (rows 34-36) ------------------------------------------------------------------


async def test_one_for_one_restarts_only_the_crashed_child(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    journal = Journal()
    events = restarted(rt)
    sup = await Supervisor.start(
        [worker(journal, "a"), worker(journal, "b", name="bee"), worker(journal, "c")]
    )
    before = refs_of(sup)
    journal.clear()
    crash(before["b"], ValueError("boom"))
    new: ProcessRef = await wait_for_restart(sup, "b")
    # Detected and restarted at once: no polling, no virtual time passed.
    assert trio.current_time() == 0
    assert journal.entries[0][:2] == ("stop", "b")
    assert isinstance(journal.entries[0][2], ValueError)
    assert journal.entries[1:] == [("start", "b")]
    after = refs_of(sup)
    assert after["a"] is before["a"]
    assert after["c"] is before["c"]
    assert after["b"] is new is not before["b"]
    assert Registry.whereis("bee") is new  # the name moved to the new process
    assert await GenServer.call("bee", "tag") == "b"
    assert counts_of(sup) == {"a": 0, "b": 1, "c": 0}
    assert events == [Restarted(new, 1)]
    crash(new)
    newer: ProcessRef = await wait_for_restart(sup, "b")
    assert counts_of(sup) == {"a": 0, "b": 2, "c": 0}
    assert events == [Restarted(new, 1), Restarted(newer, 2)]


async def test_one_for_all_stops_the_others_in_reverse_then_restarts_all_in_order(
    rt: Runtime,
) -> None:
    journal = Journal()
    events = restarted(rt)
    sup = await Supervisor.start(
        [worker(journal, tag) for tag in ("a", "b", "c", "d")], strategy="one_for_all"
    )
    before = refs_of(sup)
    journal.clear()
    crash(before["b"])
    await wait_for_restart(sup, "d")
    assert journal.stops() == ["b", "d", "c", "a"]
    assert {tag: journal.reasons()[tag] for tag in "acd"} == dict.fromkeys("acd", "shutdown")
    assert journal.starts() == ["a", "b", "c", "d"]
    after = refs_of(sup)
    assert all(after[tag] is not before[tag] for tag in "abcd")
    # Only the crashed child's count goes up (noex); every new process gets a Restarted.
    assert counts_of(sup) == {"a": 0, "b": 1, "c": 0, "d": 0}
    assert events == [Restarted(after[tag], 1 if tag == "b" else 0) for tag in "abcd"]


async def test_rest_for_one_restarts_the_crashed_child_and_those_after_it(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start(
        [worker(journal, tag) for tag in ("a", "b", "c", "d")], strategy="rest_for_one"
    )
    before = refs_of(sup)
    journal.clear()
    crash(before["b"])
    await wait_for_restart(sup, "d")
    assert journal.stops() == ["b", "d", "c"]
    assert journal.starts() == ["b", "c", "d"]
    after = refs_of(sup)
    assert after["a"] is before["a"]
    assert all(after[tag] is not before[tag] for tag in "bcd")
    assert counts_of(sup) == {"a": 0, "b": 1, "c": 0, "d": 0}
    # The last child takes nobody with it.
    journal.clear()
    crash(after["d"])
    await wait_for_restart(sup, "d")
    assert journal.stops() == ["d"]
    assert journal.starts() == ["d"]


async def test_temporary_siblings_are_removed_not_restarted(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start(
        [
            worker(journal, "a"),
            worker(journal, "t", restart="temporary"),
            worker(journal, "u", restart="transient"),
        ],
        strategy="one_for_all",
    )
    journal.clear()
    crash(child_ref(sup, "a"))
    await wait_for_restart(sup, "u")
    assert journal.stops() == ["a", "u", "t"]
    assert journal.starts() == ["a", "u"]  # a transient sibling comes back with the others
    assert list(refs_of(sup)) == ["a", "u"]


async def test_an_exit_already_queued_for_a_stopped_sibling_is_ignored(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start(
        [worker(journal, "a"), worker(journal, "b")], strategy="one_for_all"
    )
    before = refs_of(sup)
    # Both crash at once: whichever exit is handled first restarts the group (stopping the
    # other, if still running); the other's exit is then stale. One group restart, not two.
    crash(before["a"])
    crash(before["b"])
    await settle()
    assert sum(counts_of(sup).values()) == 1
    assert journal.starts() == ["a", "b", "a", "b"]


# --- restart types (row 37, OTP's table) ------------------------------------------------------


async def exit_with(ref: ProcessRef, how: str) -> None:
    if how == "crash":
        crash(ref, ValueError("boom"))
    elif how == "killed":
        kill(ref)
    else:
        assert await gen(ref).call(how) == "bye"  # "exit" -> normal, "shutdown" -> shutdown


@pytest.mark.parametrize(
    ("restart", "how", "restarts"),
    [
        ("permanent", "crash", True),
        ("permanent", "killed", True),
        ("permanent", "exit", True),  # OTP: a permanent child is restarted after any exit
        ("permanent", "shutdown", True),
        ("transient", "crash", True),
        ("transient", "killed", True),
        ("transient", "exit", False),
        ("transient", "shutdown", False),
        ("temporary", "crash", False),
        ("temporary", "killed", False),
        ("temporary", "exit", False),
        ("temporary", "shutdown", False),
    ],
)
async def test_restart_types(rt: Runtime, restart: Any, how: str, restarts: bool) -> None:
    journal = Journal()
    sup = await Supervisor.start([worker(journal, "a", restart=restart), worker(journal, "b")])
    old = child_ref(sup, "a")
    await exit_with(old, how)
    await settle()
    if restarts:
        assert child_ref(sup, "a") is not old
        assert Supervisor.get_child(sup, "a").restart_count == 1
    else:
        # Not restarted: removed, like noex and Elixir (OTP keeps a transient spec around).
        assert list(refs_of(sup)) == ["b"]
    assert journal.starts() == (["a", "b", "a"] if restarts else ["a", "b"])
    assert sup.is_running()


async def test_a_linked_crash_counts_as_a_crash(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start([worker(journal, "a", restart="transient")])
    old = child_ref(sup, "a")

    class Linker(GenServer[None, Any, Any, Any]):
        def init(self) -> None:
            GenServer.link(old)

        def handle_call(self, msg: Any, state: None) -> Any:
            raise ValueError("linked crash")

    linker = await GenServer.start(Linker)
    with pytest.raises(ValueError, match=r"^linked crash$"):
        await linker.call("go")
    new = await wait_for_restart(sup, "a", old)
    assert isinstance(old.exit_reason, LinkedExitError)
    assert new.is_running()


# --- intensity (rows 38, 39) ------------------------------------------------------------------


async def test_giving_up_stops_the_children_and_ends_the_runtime(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    last = ValueError("last straw")
    # Raised plain, not in an ExceptionGroup.
    with pytest.raises(MaxRestartsExceededError) as info:  # noqa: PT012 - the runtime block is under test
        async with open_runtime() as rt:
            sup = await Supervisor.start(
                [worker(journal, tag) for tag in ("a", "b", "c")], name="app"
            )
            for _ in range(3):  # Elixir's default: 3 restarts in 5 s are fine
                crash(child_ref(sup, "b"))
                await wait_for_restart(sup, "b")
            journal.clear()
            crash(child_ref(sup, "b"), last)
            await trio.sleep_forever()  # the runtime ends the body
    error = info.value
    assert error.supervisor is sup
    assert (error.max_restarts, error.max_seconds) == (3, 5.0)
    assert error.__cause__ is last
    assert re.fullmatch(r"app#\d+ gave up: more than 3 restarts in 5\.0 s", str(error))
    assert trio.current_time() == 0
    # The remaining children were stopped in reverse order with "shutdown"; nothing restarted.
    assert journal.stops() == ["b", "c", "a"]
    assert journal.reasons() == {"b": last, "c": "shutdown", "a": "shutdown"}
    assert journal.starts() == []
    assert sup.exit_reason is error
    assert not Supervisor.is_running(sup)
    assert rt.statistics().processes == 0
    assert rt.statistics().registered_names == 0


async def test_old_restarts_leave_the_window(autojump_clock: trio.testing.MockClock) -> None:
    journal = Journal()
    times: list[float] = []
    with pytest.raises(MaxRestartsExceededError):  # noqa: PT012 - the runtime block is under test
        async with open_runtime():
            sup = await Supervisor.start([worker(journal, "a")], max_restarts=2, max_seconds=10)
            for at in (0, 4, 14, 15, 24.5, 24.5):
                await trio.sleep_until(at)
                times.append(trio.current_time())
                crash(child_ref(sup, "a"))
                await settle()  # the last give-up cancels this
    # The window at a restart at t is [t - 10, t]; more than 2 restarts in it: give up.
    #   t=0: {0}   t=4: {0, 4}   t=14: {4, 14} (4 >= 14 - 10 still counts)
    #   t=15: {14, 15}   t=24.5: {15, 24.5}   t=24.5 again: {15, 24.5, 24.5} -> give up
    assert times == [0, 4, 14, 15, 24.5, 24.5]
    assert journal.starts() == ["a"] * 6  # the first start and five restarts


async def test_window_bounds_are_inclusive(autojump_clock: trio.testing.MockClock) -> None:
    journal = Journal()
    with pytest.raises(MaxRestartsExceededError):  # noqa: PT012 - the runtime block is under test
        async with open_runtime():
            sup = await Supervisor.start([worker(journal, "a")], max_restarts=1, max_seconds=5)
            crash(child_ref(sup, "a"))
            await settle()
            await trio.sleep(5)  # t = 5: the restart at 0 is still in [0, 5]
            crash(child_ref(sup, "a"))
            await trio.sleep_forever()
    assert trio.current_time() == 5


async def test_just_outside_the_window_is_fine(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    journal = Journal()
    sup = await Supervisor.start([worker(journal, "a")], max_restarts=1, max_seconds=5)
    for _ in range(4):
        crash(child_ref(sup, "a"))
        await settle()
        await trio.sleep(5.001)
    assert Supervisor.get_child(sup, "a").restart_count == 4


async def test_zero_restarts_gives_up_at_the_first_exit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    with pytest.raises(MaxRestartsExceededError, match=r"more than 0 restarts in 5\.0 s$"):  # noqa: PT012 - the runtime block is under test
        async with open_runtime():
            sup = await Supervisor.start([worker(journal, "a")], max_restarts=0)
            await gen(child_ref(sup, "a")).call("exit")  # a normal exit counts too
            await trio.sleep_forever()
    assert journal.starts() == ["a"]


async def test_infinite_window_counts_every_restart(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    with pytest.raises(MaxRestartsExceededError, match=r"more than 2 restarts ever$") as info:  # noqa: PT012 - the runtime block is under test
        async with open_runtime():
            sup = await Supervisor.start(
                [worker(journal, "a")], max_restarts=2, max_seconds=math.inf
            )
            for _ in range(3):
                await trio.sleep(1000)
                crash(child_ref(sup, "a"))
            await trio.sleep_forever()
    assert trio.current_time() == 3000
    assert info.value.max_seconds == math.inf


async def test_failed_restarts_count_and_are_retried_by_message(
    rt: Runtime, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal()
    sup = await Supervisor.start([worker(journal, "a"), worker(journal, "b")])
    journal.failing["a"] = 2
    crash(child_ref(sup, "a"))
    new: ProcessRef = await wait_for_restart(sup, "a")
    # Three restarts in all (two failed, one good): within 3 in 5 s.
    assert Supervisor.get_child(sup, "a").restart_count == 3
    assert new.is_running()
    assert caplog.text.count("failed to restart child 'a'; trying again") == 2
    assert "StartFailure: a" in caplog.text


async def test_a_restart_that_keeps_failing_gives_up_with_the_start_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    with pytest.raises(MaxRestartsExceededError) as info:  # noqa: PT012 - the runtime block is under test
        async with open_runtime():
            sup = await Supervisor.start([worker(journal, "a"), worker(journal, "b")])
            journal.failing["a"] = math.inf
            crash(child_ref(sup, "a"))
            await trio.sleep_forever()
    assert isinstance(info.value.__cause__, InitializationError)
    assert isinstance(info.value.__cause__.__cause__, StartFailure)
    assert journal.start_attempts == 2 + 3  # the first start of each, then three restarts
    assert journal.stops()[-1] == "b"


async def test_requests_get_in_between_retries(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    journal = Journal()
    sup = await Supervisor.start([worker(journal, "a")], max_restarts=1_000_000)
    journal.failing["a"] = math.inf
    crash(child_ref(sup, "a"))
    await trio.lowlevel.checkpoint()
    await Supervisor.stop(sup)  # queued behind a retry, not behind all of them
    assert journal.start_attempts < 100
    attempts = journal.start_attempts
    await settle()
    assert journal.start_attempts == attempts  # no retry after the stop


async def test_group_restart_that_fails_is_retried_for_the_whole_group(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start(
        [worker(journal, tag) for tag in ("a", "b", "c")], strategy="one_for_all"
    )
    journal.failing["b"] = 1
    journal.clear()
    crash(child_ref(sup, "a"))
    await wait_for_restart(sup, "c")
    # a restarted, b failed (c never started); the retry stopped a again and started all.
    assert journal.starts() == ["a", "a", "b", "c"]
    assert journal.stops() == ["a", "c", "b", "a"]
    assert counts_of(sup) == {"a": 1, "b": 1, "c": 0}


# --- nested trees and escalation --------------------------------------------------------------


async def test_a_child_supervisor_that_gives_up_is_restarted_by_its_parent(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    journal = Journal()
    root = await Supervisor.start(
        [
            worker(journal, "a"),
            Supervisor.child_spec([worker(journal, "w")], id="sub", max_restarts=1),
        ]
    )
    sub = child_sup(root, "sub")
    crash(child_ref(sub, "w"))
    await wait_for_restart(sub, "w")
    crash(child_ref(sub, "w"), ValueError("again"))
    new_sub = await wait_for_restart(root, "sub", sub)
    assert isinstance(sub.exit_reason, MaxRestartsExceededError)
    assert isinstance(sub.exit_reason.__cause__, ValueError)
    assert isinstance(new_sub, SupervisorRef)
    assert Supervisor.get_child(new_sub, "w").restart_count == 0  # a fresh subtree
    assert Supervisor.get_child(root, "sub").restart_count == 1
    assert Supervisor.get_child(root, "a").restart_count == 0


@pytest.mark.parametrize(
    ("restart", "restarted_again"), [("transient", True), ("temporary", False)]
)
async def test_give_up_is_a_crash_for_the_parent(
    rt: Runtime, autojump_clock: trio.testing.MockClock, restart: Any, restarted_again: bool
) -> None:
    journal = Journal()
    root = await Supervisor.start(
        [Supervisor.child_spec([worker(journal, "w")], id="sub", max_restarts=0, restart=restart)]
    )
    sub = child_sup(root, "sub")
    crash(child_ref(sub, "w"))
    await settle()
    assert (Supervisor.count_children(root) == 1) is restarted_again
    assert Supervisor.is_running(root)


async def test_three_levels_escalate_to_the_runtime(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """root ⊃ mid ⊃ leaf ⊃ w, each supervisor tolerating 1 restart: w's crashes climb the tree.

    leaf gives up at w's 2nd crash; mid restarts leaf once and gives up at leaf's 2nd give-up
    (w's 4th crash); root restarts mid once and gives up at mid's 2nd give-up (w's 8th crash):
    the total is the product of the intensities (OTP).
    """
    journal = Journal()
    crashes = 0
    with pytest.raises(MaxRestartsExceededError) as info:  # noqa: PT012 - the runtime block is under test
        async with open_runtime():
            root = await Supervisor.start(
                [
                    worker(journal, "r"),
                    Supervisor.child_spec(
                        [
                            worker(journal, "m"),
                            Supervisor.child_spec(
                                [worker(journal, "w")], id="leaf", max_restarts=1
                            ),
                        ],
                        id="mid",
                        max_restarts=1,
                    ),
                ],
                max_restarts=1,
                name="root",
            )
            while True:
                mid = child_sup(root, "mid")
                leaf = child_sup(mid, "leaf")
                crash(child_ref(leaf, "w"), ValueError(f"crash {crashes + 1}"))
                crashes += 1
                await settle()
    error = info.value
    assert crashes == 8
    assert error.supervisor is root
    # The causes chain down the tree: root's give-up <- mid's <- leaf's <- w's crash.
    mid_error = error.__cause__
    assert isinstance(mid_error, MaxRestartsExceededError)
    assert mid_error.supervisor is mid
    leaf_error = mid_error.__cause__
    assert isinstance(leaf_error, MaxRestartsExceededError)
    assert leaf_error.supervisor is leaf
    assert str(leaf_error.__cause__) == "crash 8"
    # Each give-up stopped the remaining children in reverse order.
    assert journal.stops()[-3:] == ["w", "m", "r"]
    assert journal.starts().count("r") == 1
    assert journal.starts().count("m") == 2
    assert journal.starts().count("w") == 8


# --- auto_shutdown and significant children (row 42) ------------------------------------------


async def test_any_significant(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start(
        [
            worker(journal, "a"),
            worker(journal, "s", restart="transient", significant=True),
            worker(journal, "t", restart="temporary", significant=True),
        ],
        auto_shutdown="any_significant",
    )
    crash(child_ref(sup, "s"))  # restarted: a transient crash does not count
    await wait_for_restart(sup, "s")
    journal.clear()
    await gen(child_ref(sup, "s")).call("exit")
    await settle()
    assert sup.exit_reason == "shutdown"
    assert journal.stops() == ["s", "t", "a"]


async def test_all_significant(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start(
        [
            worker(journal, "a"),
            worker(journal, "s", restart="temporary", significant=True),
            worker(journal, "t", restart="temporary", significant=True),
        ],
        auto_shutdown="all_significant",
    )
    crash(child_ref(sup, "s"))  # a temporary one counts on any exit
    await settle()
    assert sup.is_running()
    await gen(child_ref(sup, "t")).call("exit")
    await settle()
    assert sup.exit_reason == "shutdown"
    assert journal.stops()[-1] == "a"


async def test_only_exits_of_their_own_count(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start(
        [
            worker(journal, "s", restart="temporary", significant=True),
            worker(journal, "a"),
        ],
        strategy="one_for_all",
        auto_shutdown="any_significant",
    )
    # Collateral: a's crash stops s (temporary: removed), which does not count.
    crash(child_ref(sup, "a"))
    await settle()
    assert sup.is_running()
    assert list(refs_of(sup)) == ["a"]
    await Supervisor.start_child(sup, worker(journal, "t", restart="transient", significant=True))
    await Supervisor.terminate_child(sup, "t")  # neither does terminate_child
    assert sup.is_running()


async def test_never_keeps_running_without_children(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start([worker(journal, "t", restart="temporary")])
    await gen(child_ref(sup, "t")).call("exit")
    await settle()
    assert sup.is_running()
    assert Supervisor.count_children(sup) == 0


async def test_a_supervisor_that_shuts_itself_down_is_restarted_only_if_permanent(
    rt: Runtime,
) -> None:
    journal = Journal()
    root = await Supervisor.start(
        [
            Supervisor.child_spec(
                [worker(journal, "t", restart="temporary", significant=True)],
                id="job",
                auto_shutdown="any_significant",
                restart="transient",
            )
        ]
    )
    job = child_sup(root, "job")
    await gen(child_ref(job, "t")).call("exit")
    await settle()
    assert job.exit_reason == "shutdown"
    assert Supervisor.count_children(root) == 0


# --- simple_one_for_one (row 43) --------------------------------------------------------------


async def test_simple_one_for_one_with_a_gen_server_template(rt: Runtime) -> None:
    pool = await Supervisor.start(
        strategy="simple_one_for_one",
        child_template=Counter.child_spec(restart="transient", id="unused"),
    )
    assert Supervisor.count_children(pool) == 0
    ref = await Supervisor.start_child(pool, 41)  # Counter.init(41): the args are appended
    assert await GenServer.call(gen(ref), "incr") == 42
    crash(gen(ref))
    assert await GenServer.call(gen(await wait_for_restart(pool, "child_1")), "get") == 41
    assert [child.id for child in Supervisor.get_children(pool)] == ["child_1"]


class Tagged(GenServer[tuple[str, int], str, Any, tuple[str, int]]):
    def init(self, tag: str, n: int) -> tuple[str, int]:
        return tag, n

    def handle_call(self, msg: str, state: tuple[str, int]) -> tuple[tuple[str, int], Any]:
        return state, state


async def test_simple_one_for_one_children_keep_their_args(rt: Runtime) -> None:
    def start_tagged(tag: str, n: int) -> Any:
        return GenServer.start(Tagged, tag, n)

    pool = await Supervisor.start(
        strategy="simple_one_for_one", child_template=ChildSpec("template", start_tagged)
    )
    a = await Supervisor.start_child(pool, "a", 1)
    b = await Supervisor.start_child(pool, "b", 2)
    assert [child.id for child in Supervisor.get_children(pool)] == ["child_1", "child_2"]
    assert await gen(a).call("get") == ("a", 1)
    crash(gen(b))
    new_b: ProcessRef = await wait_for_restart(pool, "child_2")
    assert await gen(new_b).call("get") == ("b", 2)  # the same args on restart
    assert (await Supervisor.restart_child(pool, "child_1")) is not a
    assert await gen(child_ref(pool, "child_1")).call("get") == ("a", 1)
    await Supervisor.terminate_child(pool, "child_1")
    c = await Supervisor.start_child(pool, "c", 3)
    assert [child.id for child in Supervisor.get_children(pool)] == ["child_2", "child_3"]
    assert child_ref(pool, "child_3") is c
    with pytest.raises(TypeError, match=r"start_tagged\(\) takes 2 positional arguments but 3"):
        await Supervisor.start_child(pool, "too", "many", "args")
    assert Supervisor.count_children(pool) == 2
    assert (await Supervisor.start_child(pool, "d", 4)) is child_ref(pool, "child_4")


async def test_simple_one_for_one_refuses_a_spec(rt: Runtime) -> None:
    pool = await Supervisor.start(
        strategy="simple_one_for_one", child_template=Counter.child_spec(), name="pool"
    )
    with pytest.raises(
        Exception, match=r"^pool#\d+ is simple_one_for_one: it starts children from its child"
    ):
        await Supervisor.start_child(pool, Counter.child_spec())


async def test_max_children(rt: Runtime) -> None:
    pool = await Supervisor.start(
        strategy="simple_one_for_one", child_template=Counter.child_spec(), max_children=2
    )
    first = await Supervisor.start_child(pool, 1)
    await Supervisor.start_child(pool, 2)
    with pytest.raises(Exception, match=r"already has 2 children \(max_children=2\); child not"):
        await Supervisor.start_child(pool, 3)
    # A removed child makes room.
    await Supervisor.terminate_child(pool, Supervisor.get_children(pool)[0].id)
    assert not gen(first).is_running()
    await Supervisor.start_child(pool, 3)
    assert Supervisor.count_children(pool) == 2


async def test_many_dynamic_children(rt: Runtime) -> None:
    pool = await Supervisor.start(
        strategy="simple_one_for_one", child_template=Counter.child_spec()
    )
    for n in range(2000):
        await Supervisor.start_child(pool, n)
    assert Supervisor.count_children(pool) == 2000
    last = child_ref(pool, "child_2000")
    assert await GenServer.call(gen(last), "get") == 1999
    await Supervisor.stop(pool)
    assert user_processes(rt) == []


async def test_the_supervisor_of_a_crash_is_named_in_the_log(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    sup = await Supervisor.start([Counter.child_spec(id="a")], name="app")
    child = child_ref(sup, "a")
    crash(child)
    await wait_for_restart(sup, "a", child)
    assert re.search(r"Counter#\d+ crashed \(supervisor: app#\d+\)", caplog.text)


async def test_api_after_give_up(rt: Runtime) -> None:
    root = await Supervisor.start(
        [Supervisor.child_spec([Counter.child_spec(id="a")], id="sub", restart="temporary")]
    )
    sub = child_sup(root, "sub")
    for _ in range(4):
        crash(child_ref(sub, "a"))
        await settle()
    assert not Supervisor.is_running(sub)
    with pytest.raises(
        ServerNotRunningError,
        match=r"^Supervisor#\d+ is not running \(exit reason: MaxRestartsExceededError\('Super",
    ):
        await Supervisor.start_child(sub, Counter.child_spec(id="b"))
    assert Supervisor.count_children(root) == 0


async def test_a_restart_failing_after_a_stop_request_is_not_retried(rt: Runtime) -> None:
    gate = trio.Event()
    attempts: list[int] = []

    class Gated(GenServer[None, Any, Any, Any]):
        async def init(self) -> None:
            attempts.append(len(attempts) + 1)
            if len(attempts) > 1:
                await gate.wait()
                raise StartFailure("gated")

    sup = await Supervisor.start([Gated.child_spec(id="g")])
    crash(child_ref(sup, "g"))
    await settle()  # restarting g: attempt 2 waits at the gate
    dead_letters = rt.statistics().dead_letters
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Supervisor.stop, sup)
        await settle()
        gate.set()
    assert attempts == [1, 2]  # no retry queued once stopping (nor dropped as a dead letter)
    assert rt.statistics().dead_letters == dead_letters


async def test_two_waiters_see_the_same_restart(rt: Runtime) -> None:
    sup = await Supervisor.start([Counter.child_spec(id="a")])
    old = child_ref(sup, "a")
    seen: list[ProcessRef] = []

    async def wait() -> None:
        seen.append(await wait_for_restart(sup, "a", old))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        nursery.start_soon(wait)
        await settle()
        crash(old)
    assert seen == [child_ref(sup, "a")] * 2


async def test_an_unexpected_notice_is_logged_and_dropped(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    sup = await Supervisor.start([Counter.child_spec(id="a")], name="app")
    assert process_of(sup).deliver_info("surprise")  # nothing in the library sends one
    await Supervisor.start_child(sup, Counter.child_spec(id="b"))  # handled after it
    assert re.search(r"app#\d+ got unexpected 'surprise'; dropped", caplog.text)
    assert sup.is_running()
