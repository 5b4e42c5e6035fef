"""`Ignore` from a child's ``init`` under a `Supervisor` (issue 12 §2; OTP's ``:ignore``): the
child is kept as *not running* (``ChildInfo.ref`` None), is not a failure, is not restarted;
``restart_child`` and a one_for_all/rest_for_one restart of its group try it again, as
``supervisor.erl``'s ``start_children`` does. Anonymous children (``simple_one_for_one``) leave
no trace, as in a DynamicSupervisor (see ``test_dynamic_supervisor.py``).
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio
import trio.testing

from noex_trio import (
    ChildInfo,
    ChildSpec,
    DuplicateChildError,
    GenServer,
    Ignore,
    MaxRestartsExceededError,
    ProcessRef,
    Restarted,
    Runtime,
    Started,
    Supervisor,
    SupervisorRef,
)
from noex_trio.testing import EventRecorder, crash, wait_for_restart

from .conftest import gen, user_processes
from .supervisor_helpers import child_ref, settle


@attrs.define
class Plan:
    """What the next ``init`` of each tag does: ``"ignore"`` or ``"run"`` (the default once a
    tag's list is empty); `log` records every ``init`` and ``terminate``."""

    outcomes: dict[str, list[str]] = attrs.Factory(dict)
    log: list[tuple[str, str]] = attrs.Factory(list)

    def next(self, tag: str) -> str:
        queue = self.outcomes.get(tag, [])
        return queue.pop(0) if queue else "run"


class Maybe(GenServer[str, str, None, str]):
    plan: Plan

    def init(self, tag: str, plan: Plan) -> Any:
        self.plan = plan
        outcome = plan.next(tag)
        plan.log.append((outcome, tag))
        return Ignore() if outcome == "ignore" else tag

    def handle_call(self, msg: str, state: str) -> tuple[str, str]:
        return state, state

    def handle_cast(self, msg: None, state: str) -> str:
        return state

    def terminate(self, reason: object, state: str) -> None:
        self.plan.log.append(("stop", state))


def maybe(plan: Plan, tag: str, **options: Any) -> ChildSpec:
    return Maybe.child_spec(tag, plan, id=tag, **options)


def running(sup: SupervisorRef) -> dict[str, bool]:
    """Each child's id and whether it runs."""
    return {info.id: info.ref is not None for info in Supervisor.get_children(sup)}


# --- at start, and start_child ----------------------------------------------------------------


async def test_an_ignored_child_is_kept_as_not_running(rt: Runtime) -> None:
    plan = Plan({"b": ["ignore"]})
    with EventRecorder(rt) as events:
        sup = await Supervisor.start([maybe(plan, tag) for tag in "abc"])
    assert plan.log == [("run", "a"), ("ignore", "b"), ("run", "c")]
    assert Supervisor.get_child(sup, "b") == ChildInfo("b", None, 0)
    assert running(sup) == {"a": True, "b": False, "c": True}
    assert Supervisor.count_children(sup) == 3  # a child, even if not running
    started = [event.ref for event in events.events if isinstance(event, Started)]
    assert started == [child_ref(sup, "a"), child_ref(sup, "c"), sup]  # b left no trace
    assert len(user_processes(rt)) == 3
    await Supervisor.stop(sup)
    assert plan.log[3:] == [("stop", "c"), ("stop", "a")]


async def test_an_ignored_temporary_child_is_dropped(rt: Runtime) -> None:
    plan = Plan({"t": ["ignore", "ignore"]})
    sup = await Supervisor.start([maybe(plan, "a"), maybe(plan, "t", restart="temporary")])
    assert running(sup) == {"a": True}
    assert await Supervisor.start_child(sup, maybe(plan, "t", restart="temporary")) is None
    assert running(sup) == {"a": True}


@pytest.mark.parametrize("restart", ["permanent", "transient"])
async def test_start_child_of_an_ignored_child_returns_none_and_keeps_it(
    rt: Runtime, restart: Any
) -> None:
    plan = Plan({"x": ["ignore"]})
    sup = await Supervisor.start()
    assert await Supervisor.start_child(sup, maybe(plan, "x", restart=restart)) is None
    assert Supervisor.get_children(sup) == [ChildInfo("x", None, 0)]
    with pytest.raises(DuplicateChildError):  # its id is taken
        await Supervisor.start_child(sup, maybe(plan, "x"))


async def test_restart_child_tries_an_ignored_child_again(rt: Runtime) -> None:
    plan = Plan({"a": ["ignore", "run", "ignore"]})
    sup = await Supervisor.start([maybe(plan, "a")])
    with EventRecorder(rt) as events:
        ref = await Supervisor.restart_child(sup, "a")
    assert ref is not None
    assert await gen(ref).call("tag") == "a"
    assert Supervisor.get_child(sup, "a") == ChildInfo("a", ref, 1)
    assert [e for e in events.events if isinstance(e, Restarted)] == [Restarted(ref, 1)]
    # Ignored again: stopped first, then kept as not running; no Restarted event.
    with EventRecorder(rt) as events:
        assert await Supervisor.restart_child(sup, "a") is None
    assert not gen(ref).is_running()
    assert Supervisor.get_child(sup, "a") == ChildInfo("a", None, 2)
    assert not any(isinstance(e, Restarted) for e in events.events)


async def test_terminate_child_removes_an_ignored_child(rt: Runtime) -> None:
    plan = Plan({"a": ["ignore"]})
    sup = await Supervisor.start([maybe(plan, "a"), maybe(plan, "b")])
    await Supervisor.terminate_child(sup, "a")
    assert running(sup) == {"b": True}


async def test_wait_for_restart_waits_through_an_ignored_restart(rt: Runtime) -> None:
    plan = Plan({"a": ["run", "ignore"]})
    sup = await Supervisor.start([maybe(plan, "a")])
    old = child_ref(sup, "a")
    crash(old)
    await settle()
    assert Supervisor.get_child(sup, "a") == ChildInfo("a", None, 1)  # ignored on restart
    async with trio.open_nursery() as nursery:

        async def restart_later() -> None:
            await trio.testing.wait_all_tasks_blocked()
            await Supervisor.restart_child(sup, "a")

        nursery.start_soon(restart_later)
        with trio.fail_after(1):
            new = await wait_for_restart(sup, "a", old)
    assert new is child_ref(sup, "a")
    # Called while the child is not running, it waits for the next start too.
    await Supervisor.restart_child(sup, "a")  # runs
    plan.outcomes["a"] = ["ignore"]
    await Supervisor.restart_child(sup, "a")  # ignored
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Supervisor.restart_child, sup, "a")
        with trio.fail_after(1):
            assert await wait_for_restart(sup, "a") is child_ref(sup, "a")


# --- restarts ---------------------------------------------------------------------------------


async def test_a_restart_that_is_ignored_leaves_the_child_not_running(rt: Runtime) -> None:
    plan = Plan({"a": ["run", "ignore"]})
    app = await Supervisor.start(
        [
            Supervisor.child_spec(
                [maybe(plan, "a"), maybe(plan, "b")],
                id="sup",
                max_restarts=1,
                restart="temporary",
            )
        ]
    )
    sup = child_ref(app, "sup")
    assert isinstance(sup, SupervisorRef)
    with EventRecorder(rt) as events:
        crash(child_ref(sup, "a"))
        await settle()
    assert running(sup) == {"a": False, "b": True}
    assert Supervisor.get_child(sup, "a").restart_count == 1
    assert not any(isinstance(e, Restarted) for e in events.events)
    # The restart was made, so it counted: one more is one too many (max_restarts=1).
    crash(child_ref(sup, "b"))
    assert isinstance(await GenServer.wait_exit(sup), MaxRestartsExceededError)


async def test_one_for_all_tries_an_ignored_child_again(rt: Runtime) -> None:
    plan = Plan({"b": ["ignore"], "c": ["ignore", "ignore"]})
    sup = await Supervisor.start([maybe(plan, tag) for tag in "abc"], strategy="one_for_all")
    assert running(sup) == {"a": True, "b": False, "c": False}
    plan.log.clear()
    crash(child_ref(sup, "a"))
    await settle()
    # OTP (supervisor.erl, start_children): the whole group is started again, in order; a
    # child ignored before is tried too, and stays not running if it ignores again.
    assert plan.log == [("stop", "a"), ("run", "a"), ("run", "b"), ("ignore", "c")]
    assert running(sup) == {"a": True, "b": True, "c": False}


async def test_rest_for_one_tries_only_the_ignored_children_after_the_crash(
    rt: Runtime,
) -> None:
    plan = Plan({"a": ["ignore"], "c": ["ignore"]})
    sup = await Supervisor.start([maybe(plan, tag) for tag in "abc"], strategy="rest_for_one")
    plan.log.clear()
    crash(child_ref(sup, "b"))
    await settle()
    assert plan.log == [("stop", "b"), ("run", "b"), ("run", "c")]
    assert running(sup) == {"a": False, "b": True, "c": True}


async def test_a_restart_failing_for_an_ignored_group_member_is_tried_again(
    rt: Runtime,
) -> None:
    failing = {"b": 1}

    class Flaky(Maybe):
        def init(self, tag: str, plan: Plan) -> Any:
            if failing.get(tag):
                failing[tag] -= 1
                raise RuntimeError(f"{tag} cannot start yet")
            return super().init(tag, plan)

    plan = Plan({"b": ["ignore"]})
    specs = [Flaky.child_spec(tag, plan, id=tag) for tag in "ab"]
    failing["b"] = 0
    sup = await Supervisor.start(specs, strategy="one_for_all")
    assert running(sup) == {"a": True, "b": False}
    failing["b"] = 1  # b's next start fails, the retry after it works
    crash(child_ref(sup, "a"))
    await settle()
    assert running(sup) == {"a": True, "b": True}


async def test_all_significant_ignores_significant_children_that_are_not_running(
    rt: Runtime,
) -> None:
    plan = Plan({"s2": ["ignore"]})
    sup = await Supervisor.start(
        [
            maybe(plan, "s1", restart="transient", significant=True),
            maybe(plan, "s2", restart="transient", significant=True),
        ],
        auto_shutdown="all_significant",
    )
    await GenServer.stop(gen(child_ref(sup, "s1")))  # the last significant child that runs
    with trio.fail_after(1):
        assert await GenServer.wait_exit(sup) == "shutdown"


async def test_a_simple_one_for_one_child_that_ignores_leaves_no_trace(rt: Runtime) -> None:
    plan = Plan({"x": ["ignore"], "y": ["run", "ignore"]})
    pool = await Supervisor.start(
        strategy="simple_one_for_one",
        child_template=Maybe.child_spec(restart="permanent"),
        max_children=1,
    )
    assert await Supervisor.start_child(pool, "x", plan) is None
    assert Supervisor.get_children(pool) == []
    y = await Supervisor.start_child(pool, "y", plan)  # max_children: the ignored one is gone
    assert Supervisor.get_children(pool) == [ChildInfo("child_1", y, 0)]
    crash(gen(y))  # restarted, ignored: removed (Elixir's DynamicSupervisor)
    await settle()
    assert Supervisor.get_children(pool) == []


async def test_wait_for_restart_refuses_a_child_that_changed_kind(rt: Runtime) -> None:
    # (wait_for_restart types its result after `old`: a child that comes back as another kind
    # of process is an error, not a silent lie.)
    starts: list[str] = []

    async def start() -> ProcessRef:
        starts.append("x")
        if len(starts) == 1:
            return await GenServer.start(Maybe, "a", Plan())
        return await Supervisor.start()

    sup = await Supervisor.start([ChildSpec("a", start)])
    old = child_ref(sup, "a")
    crash(old)
    with pytest.raises(TypeError, match=r"^child 'a' was <GenServerRef Maybe#\d+> and is now "):
        await wait_for_restart(sup, "a", old)
