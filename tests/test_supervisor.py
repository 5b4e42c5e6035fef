"""Tests for `noex_trio._supervisor`: starting, the child API, errors (SPEC §3).

Restarts are in ``test_supervisor_restarts.py``, shutdown in ``test_supervisor_shutdown.py``.
Rows of noex-inventory §8 are named where a test covers one.
"""

from __future__ import annotations

import math
import re
import weakref
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import (
    AlreadyRegisteredError,
    ChildInfo,
    ChildNotFoundError,
    ChildSpec,
    DuplicateChildError,
    GenServer,
    GenServerRef,
    InitializationError,
    InvalidChildSpecError,
    MissingChildTemplateError,
    NoexError,
    ProcessRef,
    Registry,
    Restarted,
    Runtime,
    ServerNotRunningError,
    Supervisor,
    SupervisorRef,
    open_runtime,
)
from noex_trio.testing import crash, wait_for_restart

from .conftest import (
    Counter,
    Echo,
    assert_collected,
    assert_no_cyclic_garbage,
    gen,
    user_processes,
)
from .supervisor_helpers import Journal, StartFailure, child_ref, settle, worker

Ref = GenServerRef[Any, Any, Any]


# --- start and stop order (rows 31, 32) -------------------------------------------------------


async def test_children_start_in_order_and_stop_in_reverse(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start([worker(journal, tag) for tag in ("a", "b", "c")])
    # start returns once every child has started (OTP start_link).
    assert journal.starts() == ["a", "b", "c"]
    children = Supervisor.get_children(sup)
    assert [child.id for child in children] == ["a", "b", "c"]
    refs = [child_ref(sup, child.id) for child in children]
    assert all(ref.is_running() for ref in refs)
    assert all(child.restart_count == 0 for child in children)
    await Supervisor.stop(sup)
    assert journal.stops() == ["c", "b", "a"]
    assert set(journal.reasons().values()) == {"shutdown"}
    assert not Supervisor.is_running(sup)
    assert sup.exit_reason == "normal"
    assert all(not ref.is_running() for ref in refs)


async def test_runtime_exit_stops_the_tree_in_reverse() -> None:
    journal = Journal()
    async with open_runtime():
        await Supervisor.start(
            [
                worker(journal, "a"),
                Supervisor.child_spec([worker(journal, "b1"), worker(journal, "b2")], id="b"),
                worker(journal, "c"),
            ]
        )
        assert journal.starts() == ["a", "b1", "b2", "c"]
    assert journal.stops() == ["c", "b2", "b1", "a"]


async def test_start_failure_stops_started_children_in_reverse_and_raises_the_childs_error(
    rt: Runtime,
) -> None:
    journal = Journal(failing={"c": 1})
    with pytest.raises(InitializationError, match=r"^Worker#\d+ failed to start") as info:
        await Supervisor.start(
            [
                worker(journal, "a"),
                worker(journal, "b"),
                worker(journal, "c"),
                worker(journal, "d"),
            ],
            name="app",
        )
    # The child's own InitializationError, unchanged (its cause is what init raised).
    assert isinstance(info.value.__cause__, StartFailure)
    assert journal.starts() == ["a", "b"]
    assert journal.stops() == ["b", "a"]
    assert user_processes(rt) == []
    assert not Registry.is_registered("app")


async def test_start_failure_deep_in_a_tree_is_raised_unchanged(rt: Runtime) -> None:
    journal = Journal(failing={"leaf": 1})
    with pytest.raises(InitializationError) as info:
        await Supervisor.start(
            [
                worker(journal, "a"),
                Supervisor.child_spec(
                    [worker(journal, "b"), Supervisor.child_spec([worker(journal, "leaf")])],
                    id="mid",
                ),
            ]
        )
    assert isinstance(info.value.__cause__, StartFailure)
    assert journal.stops() == ["b", "a"]
    assert user_processes(rt) == []


async def test_start_failure_other_than_init_is_raised_as_is(rt: Runtime) -> None:
    async def broken() -> Ref:
        raise LookupError("no database")

    with pytest.raises(LookupError, match=r"^no database$"):
        await Supervisor.start([Counter.child_spec(id="a"), ChildSpec("b", broken)])
    assert user_processes(rt) == []


async def test_cancelled_start_stops_the_children_started_so_far(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    journal = Journal()

    class SlowInit(GenServer[None, Any, Any, Any]):
        async def init(self) -> None:
            await trio.sleep(10)

    with trio.move_on_after(1):
        await Supervisor.start([worker(journal, "a"), SlowInit.child_spec(id="slow")])
    assert trio.current_time() == 1
    assert journal.stops() == ["a"]
    assert user_processes(rt) == []


# --- bad specs and options (rows 33, 43) ------------------------------------------------------


async def test_duplicate_ids(rt: Runtime) -> None:
    journal = Journal()
    with pytest.raises(DuplicateChildError, match=r"^two children have the id 'a'; ids must be"):
        await Supervisor.start([worker(journal, "a"), worker(journal, "a")])
    assert journal.start_attempts == 0
    sup = await Supervisor.start([worker(journal, "a")], name="app")
    with pytest.raises(DuplicateChildError, match=r"^app#\d+ already has a child 'a'$") as info:
        await Supervisor.start_child(sup, worker(journal, "a"))
    assert info.value.supervisor is sup
    assert info.value.child_id == "a"
    assert journal.start_attempts == 1


async def test_unknown_child_ids(rt: Runtime) -> None:
    sup = await Supervisor.start([Counter.child_spec(id="a")])
    message = r"^Supervisor#\d+ has no child 'nope'$"
    with pytest.raises(ChildNotFoundError, match=message):
        await Supervisor.terminate_child(sup, "nope")
    with pytest.raises(ChildNotFoundError, match=message):
        await Supervisor.restart_child(sup, "nope")
    with pytest.raises(ChildNotFoundError, match=message) as info:
        Supervisor.get_child(sup, "nope")
    assert info.value.supervisor is sup
    with pytest.raises(TypeError, match=r"^expected child_id to be a str, got 1$"):
        Supervisor.get_child(sup, 1)  # type: ignore[arg-type]
    assert Supervisor.count_children(sup) == 1


def spec_of(child_id: str = "a", **options: Any) -> ChildSpec:
    return Counter.child_spec(id=child_id, **options)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"strategy": "one_for_some"}, InvalidChildSpecError, r"^expected strategy to be 'one_"),
        (
            {"max_restarts": -1},
            InvalidChildSpecError,
            r"^expected max_restarts to be an int >= 0, got -1$",
        ),
        (
            {"max_restarts": 1.5},
            InvalidChildSpecError,
            r"^expected max_restarts to be an int >= 0, got 1\.5$",
        ),
        (
            {"max_restarts": True},
            InvalidChildSpecError,
            r"^expected max_restarts to be an int >= 0",
        ),
        (
            {"max_seconds": 0},
            InvalidChildSpecError,
            r"^expected max_seconds to be a number of seconds > 0 or math\.inf, got 0$",
        ),
        ({"max_seconds": math.nan}, InvalidChildSpecError, r"^expected max_seconds to be a number"),
        ({"max_seconds": "5"}, InvalidChildSpecError, r"^expected max_seconds to be a number"),
        (
            {"auto_shutdown": "sometimes"},
            InvalidChildSpecError,
            r"^expected auto_shutdown to be 'never', ",
        ),
        ({"children": spec_of()}, InvalidChildSpecError, r"^expected children to be a list of"),
        ({"children": "ab"}, InvalidChildSpecError, r"^expected children to be a list of"),
        (
            {"children": [Counter]},
            InvalidChildSpecError,
            r"^expected children to be ChildSpec objects",
        ),
        (
            {"child_template": spec_of()},
            InvalidChildSpecError,
            r"^child_template is only used by simple_one_for_one, got strategy 'one_for_one'$",
        ),
        (
            {"max_children": 3},
            InvalidChildSpecError,
            r"^max_children is only used by simple_one_for_one",
        ),
        (
            {"strategy": "simple_one_for_one"},
            MissingChildTemplateError,
            r"^supervisor uses simple_one_for_one but has no child_template$",
        ),
        (
            {"strategy": "simple_one_for_one", "name": "pool"},
            MissingChildTemplateError,
            r"^'pool' uses simple_one_for_one but has no child_template$",
        ),
        (
            {"strategy": "simple_one_for_one", "child_template": Counter},
            InvalidChildSpecError,
            r"^expected child_template to be a ChildSpec, got <class",
        ),
        (
            {
                "strategy": "simple_one_for_one",
                "child_template": spec_of(),
                "children": [spec_of("x")],
            },
            InvalidChildSpecError,
            r"^a simple_one_for_one supervisor takes no static children; .*got \['x'\]$",
        ),
        (
            {"strategy": "simple_one_for_one", "child_template": spec_of(), "max_children": -1},
            InvalidChildSpecError,
            r"^expected max_children to be an int >= 0 or math\.inf, got -1$",
        ),
        (
            {"children": [spec_of(restart="temporary", significant=True)]},
            InvalidChildSpecError,
            r"^child 'a' is significant, which needs auto_shutdown='any_significant' or",
        ),
        (
            {"children": [spec_of(significant=True)], "auto_shutdown": "any_significant"},
            InvalidChildSpecError,
            r"^child 'a' is significant and permanent; a significant child must be transient",
        ),
        ({"name": ""}, ValueError, r"^expected name to be a non-empty str, got ''$"),
    ],
)
async def test_bad_options_start_nothing(
    rt: Runtime, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await Supervisor.start(**options)
    if options.get("name") != "":  # names are checked when the supervisor starts
        with pytest.raises(error, match=message):
            Supervisor.child_spec(**options)
    assert user_processes(rt) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"id": ""}, r"^expected child id to be a non-empty str, got ''$"),
        ({"start": 3}, r"^expected child start to be an async callable, got 3$"),
        ({"restart": "always"}, r"^expected restart to be 'permanent', 'transient' or 'temporary'"),
        (
            {"shutdown": -1},
            r"^expected shutdown to be a number of seconds >= 0, math\.inf or 'brutal_kill', "
            r"got -1$",
        ),
        ({"shutdown": "later"}, r"^expected shutdown to be a number of seconds >= 0"),
        ({"significant": 1}, r"^expected significant to be a bool, got 1$"),
    ],
)
def test_bad_child_specs(fields: dict[str, Any], message: str) -> None:
    async def start() -> Ref:
        raise AssertionError

    arguments: dict[str, Any] = {"id": "a", "start": start, **fields}
    with pytest.raises(InvalidChildSpecError, match=message):
        ChildSpec(**arguments)


async def test_a_start_must_return_its_own_new_process(rt: Runtime) -> None:
    outsider = await GenServer.start(Counter)

    async def not_a_ref() -> Any:
        await GenServer.start(Counter, name="helper")  # a stray: stopped when start fails
        return "ok"

    async def foreign() -> Ref:
        return outsider

    def sync_start() -> Ref:
        return outsider

    sup = await Supervisor.start([Counter.child_spec(id="a")])
    sibling = child_ref(sup, "a")

    async def sibling_again() -> ProcessRef:
        return sibling

    with pytest.raises(
        InvalidChildSpecError,
        match=r"^start of child 'x' must return a GenServerRef or SupervisorRef \(or None for "
        r"a child whose init returned Ignore\), got 'ok'$",
    ):
        await Supervisor.start_child(sup, ChildSpec("x", not_a_ref))
    assert not Registry.is_registered("helper")
    for start in (foreign, sibling_again, sync_start):
        with pytest.raises(
            InvalidChildSpecError,
            match=r"^start of child 'x' returned <GenServerRef Counter#\d+>, which it did not "
            r"start; start the child with GenServer.start or Supervisor.start inside it$",
        ):
            await Supervisor.start_child(sup, ChildSpec("x", start))  # type: ignore[arg-type]
    assert outsider.is_running()
    assert sibling.is_running()
    assert [child.id for child in Supervisor.get_children(sup)] == ["a"]
    assert len(user_processes(rt)) == 3  # outsider, sup, a


# --- the child API ----------------------------------------------------------------------------


async def test_start_child_adds_after_the_others(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start([worker(journal, "a")])
    ref = await Supervisor.start_child(sup, worker(journal, "b"))
    assert await gen(ref).call("tag") == "b"
    assert Supervisor.get_children(sup) == [
        ChildInfo("a", child_ref(sup, "a"), 0),
        ChildInfo("b", ref, 0),
    ]
    assert Supervisor.count_children(sup) == 2
    await Supervisor.stop(sup)
    assert journal.stops() == ["b", "a"]


async def test_start_child_failure_adds_nothing(rt: Runtime) -> None:
    journal = Journal(failing={"b": 1})
    sup = await Supervisor.start([worker(journal, "a")])
    with pytest.raises(InitializationError) as info:
        await Supervisor.start_child(sup, worker(journal, "b"))
    assert isinstance(info.value.__cause__, StartFailure)
    assert Supervisor.count_children(sup) == 1
    # The id is free again.
    await Supervisor.start_child(sup, worker(journal, "b"))
    assert [child.id for child in Supervisor.get_children(sup)] == ["a", "b"]


async def test_start_child_needs_one_spec(rt: Runtime) -> None:
    sup = await Supervisor.start()
    with pytest.raises(
        InvalidChildSpecError, match=r"^expected the arguments to be one ChildSpec, got \('a',\)$"
    ):
        await Supervisor.start_child(sup, "a")
    with pytest.raises(
        InvalidChildSpecError, match=r"^expected the arguments to be one ChildSpec, got \(\)$"
    ):
        await Supervisor.start_child(sup)
    with pytest.raises(InvalidChildSpecError, match=r"^child 'a' is significant, which needs"):
        await Supervisor.start_child(sup, spec_of(restart="transient", significant=True))


async def test_terminate_child_stops_it_with_shutdown_and_removes_it(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start([worker(journal, "a"), worker(journal, "b")])
    a = child_ref(sup, "a")
    await Supervisor.terminate_child(sup, "a")
    await settle()
    assert journal.reasons() == {"a": "shutdown"}
    assert not a.is_running()
    assert [child.id for child in Supervisor.get_children(sup)] == ["b"]  # permanent, yet gone
    # The id can be used again.
    await Supervisor.start_child(sup, worker(journal, "a"))
    assert [child.id for child in Supervisor.get_children(sup)] == ["b", "a"]


async def test_restart_child_gives_a_new_ref_and_counts(rt: Runtime) -> None:
    journal = Journal()
    events: list[Any] = []
    rt.on_lifecycle_event(events.append)
    sup = await Supervisor.start([worker(journal, "a", name="alpha"), worker(journal, "b")])
    old = child_ref(sup, "a")
    new = await Supervisor.restart_child(sup, "a")
    assert new is not None
    assert new is not old
    assert not old.is_running()
    assert Registry.whereis("alpha") is new
    assert Supervisor.get_child(sup, "a") == ChildInfo("a", new, 1)
    assert [event for event in events if isinstance(event, Restarted)] == [Restarted(new, 1)]
    assert journal.entries[-2:] == [("stop", "a", "shutdown"), ("start", "a")]
    assert [child.id for child in Supervisor.get_children(sup)] == ["a", "b"]  # order kept
    await settle()
    assert child_ref(sup, "a") is new  # the old exit did not count


async def test_restart_child_typed_by_the_behaviour_class(rt: Runtime) -> None:
    sup = await Supervisor.start([Counter.child_spec(5, id="c"), Supervisor.child_spec(id="s")])
    old = Supervisor.get_child(sup, "c").ref
    new = await Supervisor.restart_child(sup, "c", Counter)
    assert new is not old
    assert await new.call("get") == 5  # typed: GenServerRef[str, int, int]
    assert Supervisor.get_child(sup, "c") == ChildInfo("c", new, 1)
    with pytest.raises(TypeError, match=r"^expected expected to be a behaviour class, got 3$"):
        await Supervisor.restart_child(sup, "c", 3)  # type: ignore[call-overload]
    with pytest.raises(ChildNotFoundError):
        await Supervisor.restart_child(sup, "nope", Counter)
    # A child that does not run the class is not restarted (and the call is a checkpoint).
    subtree = Supervisor.get_child(sup, "s").ref
    with (
        trio.testing.assert_checkpoints(),
        pytest.raises(
            TypeError,
            match=r"^child 's' is <SupervisorRef Supervisor#\d+> running SupervisorServer, "
            r"expected Counter$",
        ),
    ):
        await Supervisor.restart_child(sup, "s", Counter)
    assert Supervisor.get_child(sup, "s") == ChildInfo("s", subtree, 0)


async def test_restart_child_checks_the_new_process_too(rt: Runtime) -> None:
    starts: list[type[GenServer[Any, Any, Any, Any]]] = [Counter, Echo]

    async def start() -> Ref:
        ref: Ref = await GenServer.start(starts.pop(0))
        return ref

    sup = await Supervisor.start([ChildSpec("c", start)])
    with pytest.raises(TypeError, match=r"^child 'c' is <GenServerRef Echo#\d+> running Echo, "):
        await Supervisor.restart_child(sup, "c", Counter)
    assert Supervisor.get_child(sup, "c").restart_count == 1  # restarted all the same


async def test_restart_child_that_fails_to_start_is_removed(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start([worker(journal, "a"), worker(journal, "b")])
    journal.failing["a"] = 1
    with pytest.raises(InitializationError):
        await Supervisor.restart_child(sup, "a")
    assert [child.id for child in Supervisor.get_children(sup)] == ["b"]


async def test_restart_child_overtakes_a_queued_retry(rt: Runtime) -> None:
    gate = trio.Event()
    attempts: list[int] = []

    class Gated(GenServer[None, Any, Any, Any]):
        async def init(self) -> None:
            attempts.append(len(attempts) + 1)
            if len(attempts) == 2:  # the first restart fails, once the gate opens
                await gate.wait()
                raise StartFailure("gated")

    sup = await Supervisor.start([Gated.child_spec(id="g")])
    crash(child_ref(sup, "g"))
    await settle()  # the supervisor is restarting g: attempt 2 waits at the gate
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Supervisor.restart_child, sup, "g")
        await settle()  # the manual restart is queued
        gate.set()
    # Attempt 2 failed and queued a retry behind the manual restart, which started attempt 3;
    # the retry then found the child already running again and did nothing.
    await settle()
    assert attempts == [1, 2, 3]
    info = Supervisor.get_child(sup, "g")
    assert info.ref is not None
    assert info.ref.is_running()
    assert info.restart_count == 2


# --- names, refs, facade misuse ---------------------------------------------------------------


async def test_supervisor_name_is_registered_and_usable(rt: Runtime) -> None:
    sup = await Supervisor.start([Counter.child_spec(id="a")], name="app")
    assert Registry.whereis("app") is sup
    assert repr(sup) == f"<SupervisorRef app#{sup.id}>"
    assert Supervisor.is_running("app")
    assert [child.id for child in Supervisor.get_children("app")] == ["a"]
    assert Supervisor.count_children("app") == 1
    await Supervisor.start_child("app", Counter.child_spec(id="b"))
    await Supervisor.terminate_child("app", "b")
    with pytest.raises(AlreadyRegisteredError, match=r"^name 'app' is already registered"):
        await Supervisor.start(name="app")
    await Supervisor.stop("app")
    assert not Registry.is_registered("app")
    assert not Supervisor.is_running("app")
    await Supervisor.stop("app")  # an unknown name: nothing to do
    with pytest.raises(ServerNotRunningError, match=r"^'app' is not running$"):
        Supervisor.get_children("app")


async def test_unnamed_supervisors_print_as_supervisor(rt: Runtime) -> None:
    sup = await Supervisor.start()
    assert isinstance(sup, SupervisorRef)
    assert repr(sup) == f"<SupervisorRef Supervisor#{sup.id}>"


async def test_supervisor_refs_are_not_gen_servers_and_vice_versa(rt: Runtime) -> None:
    sup = await Supervisor.start([Counter.child_spec(id="a")], name="app")
    child = child_ref(sup, "a")
    not_gen_server = r"^<SupervisorRef app#\d+> is not a GenServer; use the functions of its own"
    with pytest.raises(TypeError, match=not_gen_server):
        await GenServer.call(sup, "get")
    with pytest.raises(TypeError, match=not_gen_server):
        GenServer.cast("app", 1)
    assert not hasattr(sup, "call")  # a SupervisorRef has no call/cast at all
    assert not hasattr(sup, "cast")
    not_supervisor = (
        r"^expected sup to be a SupervisorRef or a supervisor's name, got <GenServerRef Count"
    )
    with pytest.raises(TypeError, match=not_supervisor):
        Supervisor.get_children(child)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=not_supervisor):
        await Supervisor.stop(child)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=not_supervisor):
        Supervisor.is_running(child)  # type: ignore[arg-type]
    Registry.register("counter", child)
    with pytest.raises(
        TypeError, match=r"^expected sup to be a SupervisorRef or a supervisor's name, got 'co"
    ):
        Supervisor.is_running("counter")
    with pytest.raises(
        TypeError, match=r"^expected sup to be a SupervisorRef or a supervisor's name, got 'co"
    ):
        await Supervisor.stop("counter")
    with pytest.raises(
        TypeError, match=r"^expected target to be a GenServerRef or a registered name"
    ):
        Supervisor.count_children(42)  # type: ignore[arg-type]
    with pytest.raises(ServerNotRunningError, match=r"^'nobody' is not running$"):
        await Supervisor.start_child("nobody", Counter.child_spec())
    assert sup.is_running()


async def test_every_call_on_a_stopped_supervisor_fails_clearly(rt: Runtime) -> None:
    sup = await Supervisor.start([Counter.child_spec(id="a")])
    await sup.stop()
    await sup.stop()  # idempotent
    await Supervisor.stop(sup)
    assert not Supervisor.is_running(sup)
    message = r"^Supervisor#\d+ is not running \(exit reason: 'normal'\)$"
    with pytest.raises(ServerNotRunningError, match=message):
        await Supervisor.start_child(sup, Counter.child_spec(id="b"))
    with pytest.raises(ServerNotRunningError, match=message):
        await Supervisor.terminate_child(sup, "a")
    with pytest.raises(ServerNotRunningError, match=message):
        await Supervisor.restart_child(sup, "a")
    with pytest.raises(ServerNotRunningError, match=message):
        Supervisor.get_children(sup)
    with pytest.raises(ServerNotRunningError, match=message):
        Supervisor.get_child(sup, "a")
    with pytest.raises(ServerNotRunningError, match=message) as info:
        Supervisor.count_children(sup)
    assert info.value.reason == "normal"


# --- child_spec helpers -----------------------------------------------------------------------


async def test_gen_server_child_spec(rt: Runtime) -> None:
    spec = Counter.child_spec(7, name="counter", restart="transient", shutdown=1.0)
    assert (spec.id, spec.restart, spec.shutdown, spec.significant) == (
        "Counter",
        "transient",
        1.0,
        False,
    )
    sup = await Supervisor.start([spec])
    assert await GenServer.call("counter", "get") == 7
    assert child_ref(sup, "Counter") is Registry.whereis("counter")
    with pytest.raises(InvalidChildSpecError, match=r"^child_spec must be called on a GenServer"):
        GenServer.child_spec()


async def test_supervisor_child_spec_defaults(rt: Runtime) -> None:
    spec = Supervisor.child_spec([Counter.child_spec(id="a")])
    assert (spec.id, spec.restart, spec.shutdown) == ("Supervisor", "permanent", math.inf)
    assert Supervisor.child_spec(name="sub").id == "sub"
    assert Supervisor.child_spec(name="sub", id="x").id == "x"
    sup = await Supervisor.start([spec, Supervisor.child_spec(name="sub")])
    sub = child_ref(sup, "Supervisor")
    assert isinstance(sub, SupervisorRef)
    assert [child.id for child in Supervisor.get_children(sub)] == ["a"]
    assert Registry.whereis("sub") is child_ref(sup, "sub")


async def test_children_can_be_any_iterable(rt: Runtime) -> None:
    sup = await Supervisor.start(Counter.child_spec(id=tag) for tag in "abc")
    assert [child.id for child in Supervisor.get_children(sup)] == ["a", "b", "c"]


# --- leaks ------------------------------------------------------------------------------------


async def test_a_stopped_tree_can_be_garbage_collected(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start(
        [worker(journal, "a"), Supervisor.child_spec([worker(journal, "b")], id="sub")]
    )
    crash(child_ref(sup, "a"))
    await wait_for_restart(sup, "a")
    refs = [weakref.ref(sup)] + [weakref.ref(child.ref) for child in Supervisor.get_children(sup)]
    await Supervisor.stop(sup)
    await settle()  # stop returns at the exit; the task then closes its nursery and ends
    del sup
    journal.clear()  # its stop reasons hold the crash, whose traceback holds the process
    assert_collected(refs)


async def test_supervisor_paths_leave_no_cyclic_garbage(rt: Runtime) -> None:
    journal = Journal()

    async def restarts() -> None:
        sup = await Supervisor.start([worker(journal, "a")], name="app")
        old = child_ref(sup, "a")
        assert await gen(old).call("exit") == "bye"  # permanent: restarted after a normal exit
        await wait_for_restart(sup, "a", old)
        await Supervisor.restart_child(sup, "a")
        await Supervisor.start_child(sup, worker(journal, "b"))
        await Supervisor.terminate_child(sup, "b")
        await Supervisor.stop(sup)

    async def failures() -> None:
        sup = await Supervisor.start([worker(journal, "a")])
        with pytest.raises(ChildNotFoundError):
            await Supervisor.terminate_child(sup, "b")
        with pytest.raises(DuplicateChildError):
            await Supervisor.start_child(sup, worker(journal, "a"))
        await Supervisor.stop(sup)

    for operation in (restarts, failures):
        await assert_no_cyclic_garbage(operation)


async def test_wait_for_restart_reports_removals_and_exits(rt: Runtime) -> None:
    journal = Journal()
    sup = await Supervisor.start([worker(journal, "a", restart="temporary"), worker(journal, "b")])
    crash(child_ref(sup, "a"))
    with pytest.raises(ChildNotFoundError):
        await wait_for_restart(sup, "a")
    old = child_ref(sup, "b")
    crash(old)
    await settle()
    # Already restarted: name the old ref to be replaced.
    assert await wait_for_restart(sup, "b", old) is child_ref(sup, "b")
    async with trio.open_nursery() as nursery:

        async def stop_soon() -> None:
            await trio.testing.wait_all_tasks_blocked()
            await Supervisor.stop(sup)

        nursery.start_soon(stop_soon)
        with pytest.raises(ServerNotRunningError):
            await wait_for_restart(sup, "b")


async def test_max_children_error_is_a_noex_error(rt: Runtime) -> None:
    sup = await Supervisor.start(
        strategy="simple_one_for_one", child_template=Counter.child_spec(), max_children=0
    )
    with pytest.raises(
        NoexError,
        match=re.escape("already has 0 children (max_children=0); child not started"),
    ):
        await Supervisor.start_child(sup)
