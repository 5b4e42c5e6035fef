"""Property test: a `Supervisor` against a simple model of OTP's rules.

Hypothesis draws a strategy, an intensity and a list of operations (start, terminate and
restart children; crash them; stop them normally; let virtual time pass). Each example runs in
its own ``trio.run`` on a `MockClock`; after every operation the real supervisor must agree with
the model: which children exist and in which order, which of them got a new process, their
restart counts, and whether the supervisor gave up (`MaxRestartsExceededError`).
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from noex_trio import (
    ChildNotFoundError,
    ChildSpec,
    DuplicateChildError,
    GenServer,
    MaxRestartsExceededError,
    ProcessRef,
    Supervisor,
    SupervisorRef,
    open_runtime,
)
from noex_trio._child_spec import Restart
from noex_trio.testing import crash

from .supervisor_helpers import child_ref

IDS = ["a", "b", "c", "d", "e"]


class Child(GenServer[str, str, Any, str]):
    def init(self, child_id: str) -> str:
        return child_id

    def handle_call(self, msg: str, state: str) -> tuple[str, str]:
        return state, state

    def handle_cast(self, msg: Any, state: str) -> str:  # pragma: no cover - never cast to
        return state


def spec(child_id: str, restart: Restart) -> ChildSpec:
    return ChildSpec(child_id, lambda: GenServer.start(Child, child_id), restart=restart)


@attrs.define
class ModelChild:
    restart: Restart
    restart_count: int = 0


@attrs.define
class Model:
    """What OTP says the supervisor's children table is."""

    strategy: str
    max_restarts: int
    max_seconds: float
    children: dict[str, ModelChild] = attrs.Factory(dict)
    restarts: list[float] = attrs.Factory(list)
    gave_up: bool = False

    def add_restart(self, now: float) -> bool:
        self.restarts = [t for t in self.restarts if t >= now - self.max_seconds] + [now]
        return len(self.restarts) <= self.max_restarts

    def exited(self, child_id: str, crashed: bool, now: float) -> set[str]:
        """A child exited on its own; return the ids that get a new process."""
        child = self.children[child_id]
        if not (child.restart == "permanent" or (child.restart == "transient" and crashed)):
            del self.children[child_id]
            return set()
        if not self.add_restart(now):
            self.gave_up = True
            return set()
        child.restart_count += 1
        ids = list(self.children)
        if self.strategy == "one_for_one":
            group = [child_id]
        elif self.strategy == "one_for_all":
            group = ids
        else:
            group = ids[ids.index(child_id) :]
        for other in group:  # siblings that are temporary are not restarted (OTP)
            if other != child_id and self.children[other].restart == "temporary":
                del self.children[other]
        return {other for other in group if other in self.children}


operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("start_child"),
            st.sampled_from(IDS),
            st.sampled_from(["permanent", "transient", "temporary"]),
        ),
        st.tuples(st.sampled_from(["terminate_child", "restart_child"]), st.sampled_from(IDS)),
        st.tuples(st.sampled_from(["crash", "stop"]), st.sampled_from(IDS)),
        st.tuples(st.just("advance"), st.sampled_from([0.5, 1.0, 3.0])),
    ),
    max_size=25,
)


async def check(
    sup: SupervisorRef, model: Model, before: dict[str, ProcessRef], changed: set[str]
) -> None:
    await trio.testing.wait_all_tasks_blocked()
    if model.gave_up:
        reason = await GenServer.wait_exit(sup)
        assert isinstance(reason, MaxRestartsExceededError)
        assert reason.max_restarts == model.max_restarts
        for ref in before.values():
            assert ref.exit_reason is not None  # every child was stopped with it
        return
    assert sup.is_running()
    infos = Supervisor.get_children(sup)
    assert [info.id for info in infos] == list(model.children)
    assert Supervisor.count_children(sup) == len(model.children)
    for info in infos:
        assert info.ref is not None, info
        assert info.ref.is_running(), info
        assert info.restart_count == model.children[info.id].restart_count, info
        if info.id in before:
            assert (info.ref is not before[info.id]) == (info.id in changed), info.id
    for child_id, ref in before.items():  # every process that left the table is gone
        if child_id not in model.children or child_id in changed:
            assert ref.exit_reason is not None


async def run_example(
    strategy: str, max_restarts: int, max_seconds: float, ops: list[tuple[Any, ...]]
) -> None:
    model = Model(strategy, max_restarts, max_seconds)
    async with open_runtime():
        # A temporary child of a parent: when it gives up, the runtime goes on.
        parent = await Supervisor.start(
            [
                Supervisor.child_spec(
                    id="sut",
                    strategy=strategy,  # type: ignore[arg-type]
                    max_restarts=max_restarts,
                    max_seconds=max_seconds,
                    restart="temporary",
                )
            ]
        )
        sup = child_ref(parent, "sut")
        assert isinstance(sup, SupervisorRef)
        for op in ops:
            before = {info.id: child_ref(sup, info.id) for info in Supervisor.get_children(sup)}
            changed: set[str] = set()
            kind, arg = op[0], op[1]
            now = trio.current_time()
            if kind == "advance":
                await trio.sleep(arg)
            elif kind == "start_child":
                if arg in model.children:
                    with pytest.raises(DuplicateChildError):
                        await Supervisor.start_child(sup, spec(arg, op[2]))
                else:
                    ref = await Supervisor.start_child(sup, spec(arg, op[2]))
                    assert ref is not None
                    assert ref.is_running()
                    model.children[arg] = ModelChild(op[2])
            elif arg not in model.children:
                if kind in ("terminate_child", "restart_child"):
                    with pytest.raises(ChildNotFoundError):
                        await getattr(Supervisor, kind)(sup, arg)
            elif kind == "terminate_child":
                await Supervisor.terminate_child(sup, arg)
                del model.children[arg]
            elif kind == "restart_child":
                ref = await Supervisor.restart_child(sup, arg)
                assert ref is not before[arg]
                model.children[arg].restart_count += 1
                changed = {arg}
            else:
                target = before[arg]
                if kind == "crash":
                    crash(target)
                else:
                    await GenServer.stop(target)
                changed = model.exited(arg, crashed=kind == "crash", now=now)
            await check(sup, model, before, changed)
            if model.gave_up:
                break


@settings(max_examples=200, deadline=None)
@given(
    strategy=st.sampled_from(["one_for_one", "one_for_all", "rest_for_one"]),
    max_restarts=st.integers(0, 4),
    max_seconds=st.sampled_from([1.0, 5.0, math.inf]),
    ops=operations,
)
def test_supervisor_agrees_with_the_model(
    strategy: str, max_restarts: int, max_seconds: float, ops: list[tuple[Any, ...]]
) -> None:
    trio.run(
        run_example,
        strategy,
        max_restarts,
        max_seconds,
        ops,
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
