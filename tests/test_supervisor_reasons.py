"""Exit reasons in supervisors (issue 12 §2, OTP's ``do_restart``): any value is a reason;
``"normal"``, ``"shutdown"`` and ``("shutdown", detail)`` are clean, everything else abnormal.
And exit signals (``GenServer.exit``) sent to supervisors: they trap exits, obey their parent,
and leave no child running.

Every test runs on the leak-checked ``rt`` fixture: no process, name or record is left over.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import (
    DynamicSupervisor,
    GenServer,
    MaxRestartsExceededError,
    ProcessRef,
    Registry,
    Restarted,
    Runtime,
    Supervisor,
    SupervisorRef,
)
from noex_trio.testing import EventRecorder, crash, kill

from .conftest import Counter, Echo, gen, user_processes
from .supervisor_helpers import Journal, child_ref, settle, worker

KINDS = ["Supervisor", "DynamicSupervisor"]


async def start_with(kind: str, journal: Journal, **options: Any) -> tuple[SupervisorRef, Any]:
    """A supervisor of `kind` with one worker "x" (`options` for its spec); returns it and a
    function giving the current ref of "x" (or None once it is gone)."""
    spec = worker(journal, "x", **options)
    if kind == "Supervisor":
        sup = await Supervisor.start([spec])

        def current() -> ProcessRef | None:
            children = Supervisor.get_children(sup)
            return children[0].ref if children else None

    else:
        sup = await DynamicSupervisor.start()
        await DynamicSupervisor.start_child(sup, spec)

        def current() -> ProcessRef | None:
            children = DynamicSupervisor.which_children(sup)
            return children[0].ref if children else None

    return sup, current


CLEAN: list[Any] = ["normal", "shutdown", ("shutdown", "done"), ("shutdown", ValueError("x"))]
ABNORMAL: list[Any] = [
    "bye",
    42,
    None,
    ("shutdown",),  # not a pair
    ("shutdown", 1, 2),
    ["shutdown", "done"],  # not a tuple
    ("normal", "x"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("reason", "restarted"),
    [*((reason, False) for reason in CLEAN), *((reason, True) for reason in ABNORMAL)],
    ids=repr,
)
async def test_a_transient_child_is_restarted_only_after_an_abnormal_exit(
    rt: Runtime, kind: str, reason: Any, restarted: bool
) -> None:
    journal = Journal()
    sup, current = await start_with(kind, journal, restart="transient")
    old = gen(current())
    with EventRecorder(rt) as events:
        assert await old.call(("stop", reason)) == "bye"
        await settle()
    assert old.exit_reason == reason
    assert any(isinstance(event, Restarted) for event in events.events) is restarted
    new = current()
    if restarted:
        assert new is not None
        assert new is not old
        assert await gen(new).call("tag") == "x"
    else:
        assert new is None  # removed
    assert Supervisor.is_running(sup)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", ["crash", "killed", "linked crash"])
async def test_crashes_and_kills_are_abnormal(rt: Runtime, kind: str, how: str) -> None:
    journal = Journal()
    _, current = await start_with(kind, journal, restart="transient")
    old = gen(current())
    with EventRecorder(rt) as events:
        if how == "crash":
            crash(old)
        elif how == "killed":
            kill(old)  # "killed"
        else:
            peer = await GenServer.start(Echo)
            await peer.call(lambda state: (GenServer.link(old), state))
            crash(peer)  # old dies with a LinkedExitError
        with trio.fail_after(1):
            await events.wait_for(Restarted)
    assert current() is not old


@pytest.mark.parametrize("kind", KINDS)
async def test_a_permanent_child_is_restarted_after_a_clean_exit_too(
    rt: Runtime, kind: str
) -> None:
    journal = Journal()
    _, current = await start_with(kind, journal)
    old = gen(current())
    with EventRecorder(rt) as events:
        await old.call(("stop", ("shutdown", "done")))
        with trio.fail_after(1):
            await events.wait_for(Restarted)
    assert current() is not old


@pytest.mark.parametrize("kind", KINDS)
async def test_only_restarts_count_toward_the_intensity(rt: Runtime, kind: str) -> None:
    journal = Journal()
    if kind == "Supervisor":
        sup = await Supervisor.start(
            [worker(journal, tag, restart="transient") for tag in "abcd"], max_restarts=0
        )
        refs = [child_ref(sup, tag) for tag in "abcd"]
    else:
        sup = await DynamicSupervisor.start(max_restarts=0)
        refs = [
            gen(await DynamicSupervisor.start_child(sup, worker(journal, tag, restart="transient")))
            for tag in "abcd"
        ]
    for index, ref in enumerate(refs):  # clean exits of transient children: no restart
        await gen(ref).call(("stop", ("shutdown", index)))
    await settle()
    assert Supervisor.is_running(sup)
    assert Supervisor.count_children(sup) == 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "reason", ["normal", ("shutdown", "maintenance"), "bye", 42, None, ValueError("why")], ids=repr
)
async def test_stop_accepts_any_reason(rt: Runtime, kind: str, reason: Any) -> None:
    journal = Journal()
    sup, current = await start_with(kind, journal)
    child = gen(current())
    if kind == "Supervisor":
        await Supervisor.stop(sup, reason)
    else:
        await DynamicSupervisor.stop(sup, reason)
    assert sup.exit_reason is reason
    assert child.exit_reason == "shutdown"  # children always stop with "shutdown"
    assert journal.reasons() == {"x": "shutdown"}


@pytest.mark.parametrize(
    ("reason", "restarted"), [(("shutdown", "done"), False), ("shutdown", False), ("bye", True)]
)
async def test_a_transient_child_supervisor_follows_its_exit_reason(
    rt: Runtime, reason: Any, restarted: bool
) -> None:
    journal = Journal()
    app = await Supervisor.start(
        [
            Supervisor.child_spec([worker(journal, "w")], id="sub", restart="transient"),
            DynamicSupervisor.child_spec(id="dyn", restart="transient"),
        ]
    )
    for child_id in ("sub", "dyn"):
        sub = child_ref(app, child_id)
        assert isinstance(sub, SupervisorRef)
        await sub.stop(reason)
        await settle()
        assert (child_id in [info.id for info in Supervisor.get_children(app)]) is restarted


# --- exit signals -----------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["shutdown", ("shutdown", "x"), "normal", "bye"], ids=repr)
async def test_an_exit_signal_from_its_parent_stops_a_supervisor_in_order(
    rt: Runtime, reason: Any
) -> None:
    # A supervisor started outside any supervisor belongs to the code that opened the
    # runtime: GenServer.exit from plain Trio code is its parent's signal (OTP: a gen_server
    # that traps exits stops with the reason of its parent's exit signal).
    journal = Journal()
    sup = await Supervisor.start([worker(journal, tag, name=tag) for tag in "abc"])
    GenServer.exit(sup, reason)
    assert await GenServer.wait_exit(sup) == reason
    assert journal.stops() == ["c", "b", "a"]
    assert set(journal.reasons().values()) == {"shutdown"}
    assert user_processes(rt) == []
    assert Registry.names() == []


async def test_kill_kills_the_supervisor_and_its_children(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start(
        [
            worker(journal, "a", name="a"),
            Supervisor.child_spec([worker(journal, "b", name="b")], id="sub"),
            DynamicSupervisor.child_spec(name="dyn"),
        ]
    )
    await DynamicSupervisor.start_child("dyn", worker(journal, "c", name="c"))
    children = [child_ref(sup, "a"), child_ref(sup, "sub"), Registry.lookup("dyn")]
    grandchildren = [Registry.lookup("b"), Registry.lookup("c")]
    GenServer.exit(sup, "kill")  # untrappable, no terminate anywhere
    assert await GenServer.wait_exit(sup) == "killed"
    for ref in [*children, *grandchildren]:
        assert await GenServer.wait_exit(ref) == "killed"
    assert journal.stops() == []
    assert user_processes(rt) == []
    assert Registry.names() == []


async def test_an_exit_signal_from_another_process_is_ignored_unless_kill(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start([worker(journal, "a")])
    dyn = await DynamicSupervisor.start()
    stranger = await GenServer.start(Echo)
    for target in (sup, dyn):
        await stranger.call(lambda state, t=target: (GenServer.exit(t, "shutdown"), state))
    await settle()
    assert Supervisor.is_running(sup)
    assert DynamicSupervisor.is_running(dyn)
    await stranger.call(lambda state: (GenServer.exit(sup, "kill"), state))
    assert await GenServer.wait_exit(sup) == "killed"
    await stranger.stop()


async def test_a_child_supervisor_obeys_only_its_parent(rt: Runtime) -> None:
    journal = Journal()
    app = await Supervisor.start([Supervisor.child_spec([worker(journal, "w")], id="sub")])
    sub = child_ref(app, "sub")
    GenServer.exit(sub, "shutdown")  # plain code is not the parent of a child supervisor
    await settle()
    assert sub.is_running()
    assert journal.stops() == []


async def test_a_killed_child_supervisor_is_restarted_with_its_named_children(
    rt: Runtime,
) -> None:
    # Its children are killed with it (no terminate) and their names are free before the
    # parent starts the new subtree.
    app = await Supervisor.start(
        [
            Supervisor.child_spec(
                [
                    Counter.child_spec(id="w", name="w"),
                    Supervisor.child_spec([Counter.child_spec(id="v", name="v")], id="inner"),
                ],
                id="sub",
                name="sub",
            ),
            DynamicSupervisor.child_spec(name="dyn"),
        ],
        max_restarts=100,
    )
    with EventRecorder(rt) as events:
        for count in range(1, 11):
            await DynamicSupervisor.start_child("dyn", Counter.child_spec(name="d"))
            for name in ("sub", "dyn"):
                GenServer.exit(Registry.lookup(name), "kill")
            with trio.fail_after(1):
                await events.wait_for(Restarted, 2 * count)
            await settle()
            assert sorted(Registry.names()) == ["dyn", "sub", "v", "w"]
    assert [info.restart_count for info in Supervisor.get_children(app)] == [10, 10]
    assert await GenServer.call("w", "get") == 0


async def test_a_supervisor_that_gives_up_still_reports_an_abnormal_reason_as_cause(
    rt: Runtime,
) -> None:
    journal = Journal()
    app = await Supervisor.start(
        [
            Supervisor.child_spec(
                [worker(journal, "w")], id="sub", max_restarts=0, restart="temporary"
            )
        ]
    )
    sub = child_ref(app, "sub")
    assert isinstance(sub, SupervisorRef)
    await gen(child_ref(sub, "w")).call(("stop", "bye"))  # abnormal, not an exception
    reason = await GenServer.wait_exit(sub)
    assert isinstance(reason, MaxRestartsExceededError)
    assert reason.__cause__ is None  # only an exception can be chained
