"""Tests for `DynamicSupervisor` (SPEC §10, issue 12 §3): Elixir's supervisor of children
started on demand, on the supervisor server's dynamic mode.

Time is virtual (``autojump_clock``) wherever the intensity window or a budget matters.
"""

from __future__ import annotations

import math
import pickle
import re
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import (
    ChildCounts,
    ChildNotFoundError,
    ChildSpec,
    Crashed,
    DynamicChildInfo,
    DynamicSupervisor,
    GenServer,
    GenServerRef,
    Ignore,
    InitializationError,
    InvalidChildSpecError,
    MaxChildrenError,
    MaxRestartsExceededError,
    ProcessRef,
    Registry,
    Restarted,
    Runtime,
    ServerNotRunningError,
    Started,
    Stop,
    Supervisor,
    SupervisorRef,
    Terminated,
    open_runtime,
)
from noex_trio.testing import EventRecorder, crash, kill

from .conftest import Counter, gen, user_processes
from .supervisor_helpers import Journal, StartFailure, Worker, child_ref, settle, worker


class Stopper(GenServer[str, Any, Any, Any]):
    """``("stop", reason)`` stops with that reason (replying ``"ok"``); ``"tag"`` replies the tag.
    Its terminate writes into the journal."""

    journal: Journal

    def init(self, tag: str, journal: Journal) -> str:
        self.journal = journal
        journal.entries.append(("start", tag))
        return tag

    def handle_call(self, msg: Any, state: str) -> Any:
        if msg == "tag":
            return state, state
        return Stop(msg[1], state, reply="ok")

    def handle_cast(self, msg: Any, state: str) -> str:
        return state

    def terminate(self, reason: Any, state: str) -> None:
        self.journal.entries.append(("stop", state, reason))


class Plain:
    """A behaviour that is not a GenServer subclass (no ``child_spec``)."""

    def init(self, value: int) -> int:
        return value

    def handle_call(self, msg: str, state: int) -> tuple[int, int]:
        return state, state

    def handle_cast(self, msg: object, state: int) -> int:
        return state


class Ignoring(GenServer[None, str, None, str]):
    def init(self) -> Ignore:
        return Ignore()

    def handle_call(self, msg: str, state: None) -> tuple[str, None]:
        return msg, state

    def handle_cast(self, msg: None, state: None) -> None:
        return state


def stopper(journal: Journal, tag: str, **options: Any) -> ChildSpec:
    return Stopper.child_spec(tag, journal, id=tag, **options)


def refs(sup: SupervisorRef | str) -> list[ProcessRef]:
    return [info.ref for info in DynamicSupervisor.which_children(sup)]


# --- starting children ------------------------------------------------------------------------


async def test_start_child_from_a_class_a_child_spec_or_a_spec(rt: Runtime) -> None:
    sup = await DynamicSupervisor.start()
    assert isinstance(sup, SupervisorRef)
    assert re.fullmatch(r"<SupervisorRef DynamicSupervisor#\d+>", repr(sup))
    assert DynamicSupervisor.which_children(sup) == []
    a = await DynamicSupervisor.start_child(sup, Counter, 5)  # Counter.child_spec(5)
    assert a is not None
    assert await a.call("get") == 5  # typed: GenServerRef[str, int, int]
    b = await DynamicSupervisor.start_child(sup, Counter.child_spec(6, restart="transient"))
    c = await DynamicSupervisor.start_child(
        sup, ChildSpec("ignored", lambda: GenServer.start(Counter, 7))
    )
    assert [await gen(ref).call("get") for ref in (b, c)] == [6, 7]
    assert DynamicSupervisor.which_children(sup) == [
        DynamicChildInfo(a, "permanent", "worker", 0),
        DynamicChildInfo(gen(b), "transient", "worker", 0),
        DynamicChildInfo(gen(c), "permanent", "worker", 0),
    ]
    assert DynamicSupervisor.count_children(sup) == ChildCounts(
        specs=3, active=3, supervisors=0, workers=3
    )
    assert Supervisor.count_children(sup) == 3  # the Supervisor function still gives an int
    assert DynamicSupervisor.is_running(sup)


async def test_a_behaviour_class_without_child_spec_is_started_like_genserver_start(
    rt: Runtime,
) -> None:
    sup = await DynamicSupervisor.start()
    ref = await DynamicSupervisor.start_child(sup, Plain, 41)
    assert await gen(ref).call("get") == 41
    crash(gen(ref))
    with trio.fail_after(1), EventRecorder(rt) as events:
        await events.wait_for(Restarted)
    assert await gen(refs(sup)[0]).call("get") == 41  # restarted with the same args


async def test_children_of_any_kind(rt: Runtime) -> None:
    journal = Journal()
    sup = await DynamicSupervisor.start(name="top")
    w = await DynamicSupervisor.start_child("top", worker(journal, "w"))
    sub = await DynamicSupervisor.start_child("top", Supervisor.child_spec([worker(journal, "x")]))
    dyn = await DynamicSupervisor.start_child("top", DynamicSupervisor)  # .child_spec()
    named = await DynamicSupervisor.start_child(
        "top", DynamicSupervisor.child_spec(name="inner", max_children=1)
    )
    assert isinstance(sub, SupervisorRef)
    assert isinstance(dyn, SupervisorRef)
    assert named is Registry.whereis("inner")
    assert [info.kind for info in DynamicSupervisor.which_children(sup)] == [
        "worker",
        "supervisor",
        "supervisor",
        "supervisor",
    ]
    assert DynamicSupervisor.count_children(sup) == ChildCounts(4, 4, 3, 1)
    # A DynamicSupervisor under a DynamicSupervisor takes children of its own.
    leaf = await DynamicSupervisor.start_child("inner", worker(journal, "leaf"))
    assert DynamicSupervisor.which_children("inner")[0].ref is leaf
    with pytest.raises(MaxChildrenError):
        await DynamicSupervisor.start_child("inner", worker(journal, "more"))
    assert journal.starts() == ["w", "x", "leaf"]
    await DynamicSupervisor.stop(sup)
    assert not any(ref.is_running() for ref in (gen(w), sub, dyn, gen_sup(named), gen(leaf)))
    assert set(journal.stops()) == {"w", "x", "leaf"}
    assert user_processes(rt) == []


async def test_the_spec_id_is_not_used(rt: Runtime) -> None:
    sup = await DynamicSupervisor.start()
    first = await DynamicSupervisor.start_child(sup, Counter.child_spec(id="same"))
    second = await DynamicSupervisor.start_child(sup, Counter.child_spec(id="same"))
    assert refs(sup) == [first, second]


async def test_a_child_whose_init_ignores_leaves_no_trace(rt: Runtime) -> None:
    sup = await DynamicSupervisor.start(max_children=1)
    with EventRecorder(rt) as events:
        assert await DynamicSupervisor.start_child(sup, Ignoring) is None
    assert events.events == []  # not even a Started
    assert DynamicSupervisor.which_children(sup) == []
    assert DynamicSupervisor.count_children(sup) == ChildCounts(0, 0, 0, 0)
    assert await DynamicSupervisor.start_child(sup, Counter) is not None  # not counted


async def test_a_child_whose_init_raises_is_not_kept(rt: Runtime) -> None:
    journal = Journal(failing={"a": 1})
    sup = await DynamicSupervisor.start()
    with pytest.raises(InitializationError) as info:
        await DynamicSupervisor.start_child(sup, worker(journal, "a"))
    assert isinstance(info.value.__cause__, StartFailure)
    assert DynamicSupervisor.which_children(sup) == []
    assert user_processes(rt) == [sup]
    assert await DynamicSupervisor.start_child(sup, worker(journal, "a")) is not None


async def test_a_child_whose_init_times_out_is_not_kept(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    class Slow(Counter):
        async def init(self, start: int = 0) -> int:  # type: ignore[override]
            await trio.sleep(10)
            return start

    sup = await DynamicSupervisor.start()
    with pytest.raises(InitializationError, match=r"init timed out after 2\.0 s$"):
        await DynamicSupervisor.start_child(sup, Slow.child_spec(init_timeout=2.0))
    assert trio.current_time() == 2.0
    assert DynamicSupervisor.which_children(sup) == []
    assert user_processes(rt) == [sup]


async def test_cancelling_start_child_while_init_runs_still_keeps_the_child(
    rt: Runtime,
) -> None:
    release = trio.Event()
    entered = trio.Event()

    class Gated(Counter):
        async def init(self, start: int = 0) -> int:  # type: ignore[override]
            entered.set()
            await release.wait()
            return start

    sup = await DynamicSupervisor.start()
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(DynamicSupervisor.start_child, sup, Gated, 3)
            await entered.wait()
            scope.cancel()  # the caller gives up while the child's init runs
    assert scope.cancelled_caught
    # The request was queued: the supervisor goes on with it (OTP: a call the caller
    # abandoned is still handled) and keeps the child.
    release.set()
    await settle()
    (info,) = DynamicSupervisor.which_children(sup)
    assert await gen(info.ref).call("get") == 3


# --- restarts ---------------------------------------------------------------------------------


async def test_a_restarted_child_gets_a_new_ref_and_the_old_one_is_stale(rt: Runtime) -> None:
    journal = Journal()
    sup = await DynamicSupervisor.start()
    first = await DynamicSupervisor.start_child(sup, worker(journal, "a"))
    old = await DynamicSupervisor.start_child(sup, worker(journal, "b"))
    last = await DynamicSupervisor.start_child(sup, worker(journal, "c"))
    with EventRecorder(rt) as events:
        crash(gen(old))
        with trio.fail_after(1):
            (restarted,) = await events.wait_for(Restarted)
    new = restarted.ref
    assert restarted == Restarted(new, 1)
    assert new is not old
    assert not gen(old).is_running()
    assert await gen(new).call("tag") == "b"
    assert [type(event) for event in events.events] == [Crashed, Terminated, Started, Restarted]
    # The restarted child keeps its place, with its restart count.
    assert DynamicSupervisor.which_children(sup) == [
        DynamicChildInfo(gen(first), "permanent", "worker", 0),
        DynamicChildInfo(new, "permanent", "worker", 1),
        DynamicChildInfo(gen(last), "permanent", "worker", 0),
    ]
    with pytest.raises(
        ChildNotFoundError,
        match=r"^DynamicSupervisor#\d+ has no child <GenServerRef Worker#\d+>$",
    ):
        await DynamicSupervisor.terminate_child(sup, gen(old))
    await DynamicSupervisor.terminate_child(sup, new)
    assert refs(sup) == [first, last]


@pytest.mark.parametrize(
    ("restart", "how", "restarted"),
    [
        ("permanent", "normal", True),
        ("permanent", ("shutdown", "done"), True),
        ("permanent", "crash", True),
        ("transient", "normal", False),
        ("transient", "shutdown", False),
        ("transient", ("shutdown", "done"), False),
        ("transient", "bye", True),
        ("transient", "crash", True),
        ("transient", "killed", True),
        ("temporary", "crash", False),
        ("temporary", "normal", False),
    ],
)
async def test_each_child_has_its_own_restart_type(
    rt: Runtime, restart: Any, how: Any, restarted: bool
) -> None:
    journal = Journal()
    sup = await DynamicSupervisor.start()
    other = await DynamicSupervisor.start_child(sup, stopper(journal, "other"))
    ref = gen(await DynamicSupervisor.start_child(sup, stopper(journal, "x", restart=restart)))
    with EventRecorder(rt) as events:
        if how == "crash":
            crash(ref)
        elif how == "killed":
            kill(ref)
        else:
            assert await ref.call(("stop", how)) == "ok"
        await settle()
    assert bool([e for e in events.events if isinstance(e, Restarted)]) is restarted
    children = DynamicSupervisor.which_children(sup)
    if restarted:
        assert children[0].ref is other
        assert children[1].restart_count == 1
        assert await gen(children[1].ref).call("tag") == "x"
    else:
        assert [info.ref for info in children] == [other]


async def test_intensity_counts_the_restarts_of_all_children(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journal = Journal()
    last = ValueError("last straw")
    with pytest.raises(MaxRestartsExceededError) as info:  # noqa: PT012 - the runtime block is under test
        async with open_runtime() as rt:
            sup = await DynamicSupervisor.start(max_restarts=2, max_seconds=5.0, name="pool")
            for tag in ("a", "b", "c"):
                await DynamicSupervisor.start_child(sup, worker(journal, tag))
            with EventRecorder(rt) as events:
                for count, victim in enumerate((0, 2), start=1):  # two children, once each
                    crash(refs(sup)[victim])
                    await events.wait_for(Restarted, count)
            journal.clear()
            crash(refs(sup)[1], last)  # a third restart in 5 s: one too many
            await trio.sleep_forever()
    error = info.value
    assert error.supervisor is sup
    assert (error.max_restarts, error.max_seconds) == (2, 5.0)
    assert error.__cause__ is last
    assert re.fullmatch(r"pool#\d+ gave up: more than 2 restarts in 5\.0 s", str(error))
    assert sorted(journal.stops()) == ["a", "b", "c"]  # the others stopped with "shutdown"
    assert journal.reasons() == {"a": "shutdown", "b": last, "c": "shutdown"}
    assert journal.starts() == []
    assert trio.current_time() == 0


async def test_a_failed_restart_is_tried_again(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    journal = Journal()
    sup = await DynamicSupervisor.start(max_restarts=5)
    ref = await DynamicSupervisor.start_child(sup, worker(journal, "a"))
    journal.failing["a"] = 2
    with EventRecorder(rt) as events:
        crash(gen(ref))
        with trio.fail_after(1):
            (restarted,) = await events.wait_for(Restarted)
    assert journal.start_attempts == 4  # the first start, two failed restarts, one that worked
    assert DynamicSupervisor.which_children(sup) == [
        DynamicChildInfo(restarted.ref, "permanent", "worker", 3)
    ]


async def test_a_child_whose_restart_is_ignored_is_removed(rt: Runtime) -> None:
    plan = ["run", "ignore"]

    class Once(Counter):
        def init(self, start: int = 0) -> Any:
            return start if plan.pop(0) == "run" else Ignore()

    sup = await DynamicSupervisor.start()
    ref = await DynamicSupervisor.start_child(sup, Once)
    with EventRecorder(rt) as events:
        crash(gen(ref))
        await settle()
    assert not any(isinstance(event, Restarted) for event in events.events)
    assert DynamicSupervisor.which_children(sup) == []  # Elixir: an ignored restart is dropped


async def test_a_dynamic_supervisor_nested_under_a_supervisor(
    autojump_clock: trio.testing.MockClock, rt: Runtime
) -> None:
    app = await Supervisor.start(
        [DynamicSupervisor.child_spec(name="pool", max_restarts=0)], name="app"
    )
    assert Supervisor.get_child(app, "pool").ref is Registry.whereis("pool")
    ref = await DynamicSupervisor.start_child("pool", Counter, 1)
    with EventRecorder(rt) as events:
        crash(gen(ref))  # max_restarts=0: the pool gives up, app restarts it
        with trio.fail_after(1):
            (restarted,) = await events.wait_for(Restarted)
    pool = child_ref(app, "pool")
    assert restarted.ref is pool
    assert isinstance(pool, SupervisorRef)
    assert Registry.whereis("pool") is pool
    assert DynamicSupervisor.which_children(pool) == []  # restarted empty
    assert Supervisor.get_child(app, "pool").restart_count == 1
    await Supervisor.stop(app)
    assert user_processes(rt) == []


# --- terminate_child, stop --------------------------------------------------------------------


async def test_terminate_child_stops_it_and_removes_it(rt: Runtime) -> None:
    journal = Journal()
    sup = await DynamicSupervisor.start()
    a = await DynamicSupervisor.start_child(sup, worker(journal, "a"))
    b = await DynamicSupervisor.start_child(sup, worker(journal, "b"))
    await DynamicSupervisor.terminate_child(sup, gen(a))  # permanent, but not restarted
    assert journal.reasons() == {"a": "shutdown"}
    assert gen(a).exit_reason == "shutdown"
    assert refs(sup) == [b]
    with pytest.raises(ChildNotFoundError):
        await DynamicSupervisor.terminate_child(sup, gen(a))  # removed
    outsider = await GenServer.start(Counter)
    with pytest.raises(ChildNotFoundError) as info:
        await DynamicSupervisor.terminate_child(sup, outsider)
    assert info.value.supervisor is sup
    assert outsider.is_running()
    await outsider.stop()


async def test_stop_stops_the_children_concurrently_within_their_budgets(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    journal = Journal(slow={"a": 2, "b": 3, "c": 10})
    sup = await DynamicSupervisor.start(name="pool")
    for tag in "abc":
        await DynamicSupervisor.start_child(sup, worker(journal, tag, shutdown=5.0))
    children = refs(sup)
    await DynamicSupervisor.stop("pool", ("shutdown", "maintenance"))
    assert trio.current_time() == 5.0  # concurrently: the longest budget, not the sum
    assert set(journal.reasons().values()) == {"shutdown"}
    assert journal.finished == {"a": 2.0, "b": 3.0}  # c's terminate was cut short
    assert [ref.exit_reason for ref in children] == ["shutdown", "shutdown", "killed"]
    assert sup.exit_reason == ("shutdown", "maintenance")
    assert not DynamicSupervisor.is_running(sup)
    assert not DynamicSupervisor.is_running("pool")  # a name nobody holds
    await DynamicSupervisor.stop(sup)  # idempotent
    await DynamicSupervisor.stop("pool")  # an unknown name: nothing to stop


@pytest.mark.parametrize("reason", ["kill", "shutdown", "bye"])
async def test_an_exit_signal_leaves_no_child_running(rt: Runtime, reason: str) -> None:
    journal = Journal()
    sup = await DynamicSupervisor.start()
    for tag in "ab":
        await DynamicSupervisor.start_child(sup, worker(journal, tag, name=tag))
    inner = await DynamicSupervisor.start_child(sup, DynamicSupervisor)
    await DynamicSupervisor.start_child(gen_sup(inner), worker(journal, "c", name="c"))
    children = [*refs(sup), *refs(gen_sup(inner))]
    GenServer.exit(sup, reason)
    expected = "killed" if reason == "kill" else reason
    assert await GenServer.wait_exit(sup) == expected
    await settle()
    assert not any(ref.is_running() for ref in children)
    assert user_processes(rt) == []
    assert Registry.names() == []
    if reason == "kill":  # no terminate anywhere
        assert journal.stops() == []
        assert {ref.exit_reason for ref in children} == {"killed"}
    else:
        assert sorted(journal.stops()) == ["a", "b", "c"]
        assert set(journal.reasons().values()) == {"shutdown"}


def gen_sup(ref: ProcessRef | None) -> SupervisorRef:
    assert isinstance(ref, SupervisorRef), ref
    return ref


# --- limits and bad arguments -----------------------------------------------------------------


async def test_max_children(rt: Runtime) -> None:
    sup = await DynamicSupervisor.start(max_children=2)
    first = gen(await DynamicSupervisor.start_child(sup, Counter, 1))
    await DynamicSupervisor.start_child(sup, Counter, 2)
    with pytest.raises(MaxChildrenError) as info:
        await DynamicSupervisor.start_child(sup, Counter, 3)
    assert (info.value.supervisor, info.value.max_children) == (sup, 2)
    assert re.fullmatch(
        r"DynamicSupervisor#\d+ already has 2 children \(max_children=2\); child not started",
        str(info.value),
    )
    assert pickle.loads(pickle.dumps(info.value)).max_children == 2
    assert len(user_processes(rt)) == 3  # nothing was started
    await DynamicSupervisor.terminate_child(sup, first)  # makes room
    await DynamicSupervisor.start_child(sup, Counter, 3)
    assert DynamicSupervisor.count_children(sup).specs == 2
    none = await DynamicSupervisor.start(max_children=0)
    with pytest.raises(MaxChildrenError):
        await DynamicSupervisor.start_child(none, Counter)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_children": -1}, r"expected max_children to be an int >= 0 or math.inf, got -1"),
        ({"max_children": 1.5}, r"expected max_children to be an int >= 0 or math.inf, got 1.5"),
        ({"max_restarts": -1}, r"expected max_restarts to be an int >= 0, got -1"),
        ({"max_seconds": 0}, r"expected max_seconds to be .*, got 0"),
    ],
)
async def test_bad_options_start_nothing(
    rt: Runtime, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidChildSpecError, match=message):
        await DynamicSupervisor.start(**options)
    with pytest.raises(InvalidChildSpecError, match=message):
        DynamicSupervisor.child_spec(**options)
    assert user_processes(rt) == []


async def test_bad_names(rt: Runtime) -> None:
    with pytest.raises(ValueError, match="name"):
        await DynamicSupervisor.start(name="")
    with pytest.raises(TypeError, match="name"):
        await DynamicSupervisor.start(name=42)  # type: ignore[arg-type]
    await DynamicSupervisor.start(name="taken")
    with pytest.raises(Exception, match="already registered"):
        await DynamicSupervisor.start(name="taken")
    assert len(user_processes(rt)) == 1


async def test_bad_children_start_nothing(rt: Runtime) -> None:
    journal = Journal()
    sup = await DynamicSupervisor.start()
    bad: list[tuple[tuple[Any, ...], type[Exception], str]] = [
        (
            (Counter(),),
            InvalidChildSpecError,
            r"^expected spec to be a ChildSpec or a behaviour class \(with its init arguments\), "
            r"got <.*Counter object at .*>$",
        ),
        ((42,), InvalidChildSpecError, r"^expected spec to be a ChildSpec .*, got 42$"),
        (
            (Counter.child_spec(), 1),
            InvalidChildSpecError,
            r"^expected the arguments after a ChildSpec to be none \(init arguments go with a "
            r"behaviour class\), got \(1,\)$",
        ),
        (
            (worker(journal, "s", restart="transient", significant=True),),
            InvalidChildSpecError,
            r"^child 's' is significant, but a DynamicSupervisor has no auto_shutdown$",
        ),
        (
            (int,),
            TypeError,
            r"^behaviour int is missing required callbacks: init, handle_call, handle_cast$",
        ),
        ((GenServer,), InvalidChildSpecError, r"^child_spec must be called on a GenServer"),
    ]
    for args, error, message in bad:
        with pytest.raises(error, match=message):
            await DynamicSupervisor.start_child(sup, *args)
    with pytest.raises(TypeError, match=r"^expected ref to be a child's ProcessRef, got 'x'$"):
        await DynamicSupervisor.terminate_child(sup, "x")  # type: ignore[arg-type]
    assert DynamicSupervisor.which_children(sup) == []
    assert user_processes(rt) == [sup]
    assert journal.start_attempts == 0


async def test_a_child_spec_whose_factory_returns_something_else(rt: Runtime) -> None:
    class Odd(Counter):
        @classmethod
        def child_spec(cls, *args: Any, **options: Any) -> Any:
            return "not a spec"

    sup = await DynamicSupervisor.start()
    with pytest.raises(
        InvalidChildSpecError, match=r"^Odd.child_spec must return a ChildSpec, got 'not a spec'$"
    ):
        await DynamicSupervisor.start_child(sup, Odd)


async def test_each_facade_refuses_the_other_kind_of_supervisor(rt: Runtime) -> None:
    journal = Journal()
    dyn = await DynamicSupervisor.start(name="dyn")
    ref = gen(await DynamicSupervisor.start_child(dyn, worker(journal, "a")))
    static = await Supervisor.start([worker(journal, "b")], name="static")
    wrong_dyn = (
        r"^expected sup to be a Supervisor \(its ref or name\), got .*; manage a "
        r"DynamicSupervisor's children with the DynamicSupervisor functions$"
    )
    for target in (dyn, "dyn"):
        with pytest.raises(TypeError, match=wrong_dyn):
            await Supervisor.start_child(target, worker(journal, "c"))
        with pytest.raises(TypeError, match=wrong_dyn):
            await Supervisor.terminate_child(target, "child_1")
        with pytest.raises(TypeError, match=wrong_dyn):
            await Supervisor.restart_child(target, "child_1")
        with pytest.raises(TypeError, match=wrong_dyn):
            Supervisor.get_children(target)
        with pytest.raises(TypeError, match=wrong_dyn):
            Supervisor.get_child(target, "child_1")
    wrong_static = r"^expected sup to be a DynamicSupervisor \(its ref or name\), got "
    for target in (static, "static"):
        with pytest.raises(TypeError, match=wrong_static):
            await DynamicSupervisor.start_child(target, Counter)
        with pytest.raises(TypeError, match=wrong_static):
            await DynamicSupervisor.terminate_child(target, ref)
        with pytest.raises(TypeError, match=wrong_static):
            DynamicSupervisor.which_children(target)
        with pytest.raises(TypeError, match=wrong_static):
            DynamicSupervisor.count_children(target)
        with pytest.raises(TypeError, match=wrong_static):
            await DynamicSupervisor.stop(target)
        with pytest.raises(TypeError, match=wrong_static):
            DynamicSupervisor.is_running(target)
    with pytest.raises(TypeError, match=r"^expected sup to be a SupervisorRef"):
        DynamicSupervisor.which_children(ref)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected sup to be a SupervisorRef"):
        await DynamicSupervisor.stop(ref)  # type: ignore[arg-type]
    # What both kinds share: stop, is_running and the total count.
    assert Supervisor.is_running(dyn)
    assert Supervisor.count_children("dyn") == 1
    await Supervisor.stop(dyn)
    assert ref.exit_reason == "shutdown"
    assert Supervisor.is_running(static)


async def test_requests_to_a_gone_supervisor_are_checkpoints(rt: Runtime) -> None:
    sup = await DynamicSupervisor.start()
    ref = gen(await DynamicSupervisor.start_child(sup, Counter))
    await DynamicSupervisor.stop(sup)
    with trio.testing.assert_checkpoints(), pytest.raises(ServerNotRunningError):
        await DynamicSupervisor.start_child(sup, Counter)
    with trio.testing.assert_checkpoints(), pytest.raises(ServerNotRunningError):
        await DynamicSupervisor.terminate_child(sup, ref)
    with trio.testing.assert_checkpoints():
        await DynamicSupervisor.stop(sup)
    with pytest.raises(ServerNotRunningError):
        DynamicSupervisor.which_children(sup)
    with pytest.raises(ServerNotRunningError):
        DynamicSupervisor.count_children(sup)


async def test_requests_are_checkpoints(rt: Runtime) -> None:
    with trio.testing.assert_checkpoints():
        sup = await DynamicSupervisor.start()
    with trio.testing.assert_checkpoints():
        ref = await DynamicSupervisor.start_child(sup, Counter)
    with trio.testing.assert_checkpoints():
        assert await DynamicSupervisor.start_child(sup, Ignoring) is None
    with trio.testing.assert_checkpoints():
        await DynamicSupervisor.terminate_child(sup, gen(ref))
    with trio.testing.assert_checkpoints():
        await DynamicSupervisor.stop(sup)


async def test_values_are_frozen_and_pickle(rt: Runtime) -> None:
    counts = ChildCounts(specs=2, active=1, supervisors=1, workers=1)
    assert pickle.loads(pickle.dumps(counts)) == counts
    with pytest.raises(AttributeError):
        counts.active = 2  # type: ignore[misc]
    sup = await DynamicSupervisor.start()
    await DynamicSupervisor.start_child(sup, Counter)
    (info,) = DynamicSupervisor.which_children(sup)
    with pytest.raises(AttributeError):
        info.kind = "supervisor"  # type: ignore[misc]


async def test_a_worker_child_spec_of_math_inf_shutdown(rt: Runtime) -> None:
    spec = DynamicSupervisor.child_spec()
    assert (spec.id, spec.restart, spec.shutdown, spec.significant) == (
        "DynamicSupervisor",
        "permanent",
        math.inf,
        False,
    )
    assert DynamicSupervisor.child_spec(name="pool").id == "pool"
    assert DynamicSupervisor.child_spec(id="x", name="pool").id == "x"


async def test_worker_helper_is_typed(rt: Runtime) -> None:
    sup = await DynamicSupervisor.start()
    ref: GenServerRef[str, int, int] | None = await DynamicSupervisor.start_child(sup, Counter, 1)
    assert ref is not None
    assert await ref.call("incr") == 2
    other: ProcessRef | None = await DynamicSupervisor.start_child(
        sup, Worker.child_spec("t", Journal())
    )
    assert other is not None
