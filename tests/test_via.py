"""Names in any registry (`Via`) and registries as named, supervised processes: issue 12 §3."""

from __future__ import annotations

import math
import pickle
import re
import weakref
from collections.abc import Callable
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from noex_trio import (
    AlreadyRegisteredError,
    Down,
    Exit,
    GenServer,
    GenServerRef,
    InitializationError,
    InvalidChildSpecError,
    Registry,
    RegistryInstance,
    RegistryRef,
    Runtime,
    ServerNotRunningError,
    Supervisor,
    SupervisorRef,
    Via,
)
from noex_trio.testing import crash, kill, wait_for_restart

from .conftest import Counter, assert_collected, assert_no_cyclic_garbage, gen

Fn = Callable[[], Any]


class Probe(GenServer[None, Fn, Any, Any]):
    """Calls are functions run inside the process; ``handle_info`` messages go to `inbox`."""

    def __init__(self) -> None:
        self.inbox: list[Any] = []

    def init(self) -> None:
        return None

    def handle_call(self, msg: Fn, state: None) -> tuple[Any, None]:
        return msg(), state

    def handle_cast(self, msg: Any, state: None) -> None:
        return None

    def handle_info(self, msg: Any, state: None) -> None:
        self.inbox.append(msg)


class SeesItsName(GenServer[bool, str, Any, bool]):
    """`init` checks that the process is already registered under its `Via` name."""

    def init(self, via: Via) -> bool:
        registry = via.registry
        if isinstance(registry, str):
            registry = Registry.lookup_registry(registry)
        return registry.whereis(via.key) is GenServer.self()

    def handle_call(self, msg: str, state: bool) -> tuple[bool, bool]:
        return state, state

    def handle_cast(self, msg: Any, state: bool) -> bool:
        return state


@attrs.define
class Inits:
    """Counts the `init` calls of `Counted` processes (shared with the test)."""

    count: int = 0


class Counted(GenServer[int, str, Any, int]):
    def init(self, inits: Inits) -> int:
        inits.count += 1
        return inits.count

    def handle_call(self, msg: str, state: int) -> tuple[int, int]:
        return state, state

    def handle_cast(self, msg: Any, state: int) -> int:
        return state


# ---------------------------------------------------------------- the value


async def test_via_is_a_frozen_hashable_value(rt: Runtime) -> None:
    sessions = Registry.create(name="sessions")
    via = Via(sessions, ("user", 42))
    assert via == Via(sessions, ("user", 42))
    assert via != Via(Registry.create(name="sessions"), ("user", 42))  # another registry
    assert hash(via) == hash(Via(sessions, ("user", 42)))
    assert {via: 1}[Via(sessions, ("user", 42))] == 1
    assert repr(via) == "Via(<registry 'sessions'>, ('user', 42))"
    assert repr(Via("sessions", "alice")) == "Via('sessions', 'alice')"
    assert type(via).__module__ == "noex_trio"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        via.key = 1  # type: ignore[misc]
    by_name = Via("sessions", ("user", 42))
    assert pickle.loads(pickle.dumps(by_name)) == by_name
    error = ServerNotRunningError(by_name)
    copy = pickle.loads(pickle.dumps(error))
    assert copy.target == by_name
    assert str(copy) == "Via('sessions', ('user', 42)) is not running"


async def test_via_checks_its_arguments(rt: Runtime) -> None:
    with pytest.raises(
        TypeError,
        match=r"^expected registry to be a RegistryInstance or the name of a registry process, "
        r"got 3$",
    ):
        Via(3, "k")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^expected registry to be a non-empty str, got ''$"):
        Via("", "k")
    with pytest.raises(
        TypeError,
        match=r"^Via needs a registry with unique keys, but registry 'rooms' has duplicate keys",
    ):
        Via(Registry.create(keys="duplicate", name="rooms"), "k")
    with pytest.raises(TypeError, match=r"^expected key to be a hashable value, got \[1\]$"):
        Via(Registry.create(), [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected key to be a hashable value, got \[1\]$"):
        Via("sessions", [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected key to be a non-empty str, got 1$"):
        Via(rt.registry, 1)  # the runtime's registry: names are strings
    assert Via(rt.registry, "svc").key == "svc"


# ---------------------------------------------------------------- at start


async def test_start_registers_before_init_and_releases_at_exit(rt: Runtime) -> None:
    sessions = Registry.create(name="sessions")
    via = Via(sessions, ("user", 42))
    ref = await GenServer.start(SeesItsName, via, name=via)
    assert await ref.call("registered in init?") is True
    assert sessions.lookup(("user", 42)) is ref
    assert sessions.keys_of(ref) == [("user", 42)]
    assert repr(ref) == f"<GenServerRef ('user', 42)#{ref.id}>"  # the key is its label
    assert Registry.names() == []  # nothing in the runtime's registry
    await ref.stop()
    assert sessions.names() == []
    # and after a crash
    ref = await GenServer.start(SeesItsName, via, name=via)
    crash(ref)
    await GenServer.wait_exit(ref)
    assert sessions.whereis(("user", 42)) is None


async def test_a_taken_key_fails_the_start_before_init(rt: Runtime) -> None:
    sessions = Registry.create(name="sessions")
    inits = Inits()
    first = await GenServer.start(Counted, inits, name=Via(sessions, "alice"))
    with pytest.raises(
        AlreadyRegisteredError,
        match=rf"^name 'alice' is already registered in registry 'sessions' by alice#{first.id}$",
    ) as info:
        await GenServer.start(Counted, inits, name=Via(sessions, "alice"))
    assert info.value.holder is first
    assert inits.count == 1  # init never ran
    assert [proc for proc in rt.processes() if proc is not rt.event_bus] == [first]
    assert sessions.lookup_all("alice") == [first]


async def test_a_start_cancelled_during_init_frees_the_key(rt: Runtime) -> None:
    class Slow(GenServer[None, Any, Any, None]):
        async def init(self) -> None:
            await trio.sleep_forever()

    sessions = Registry.create()
    with trio.move_on_after(1):
        await GenServer.start(Slow, name=Via(sessions, "slow"), init_timeout=math.inf)
    assert sessions.names() == []


async def test_a_failed_init_frees_the_key(rt: Runtime) -> None:
    class Failing(GenServer[None, Any, Any, None]):
        def init(self) -> None:
            raise ValueError("no")

    sessions = Registry.create()
    with pytest.raises(InitializationError):
        await GenServer.start(Failing, name=Via(sessions, "k"))
    assert sessions.names() == []


async def test_a_via_to_a_key_of_the_runtime_registry(rt: Runtime) -> None:
    ref = await GenServer.start(Counter, name=Via(rt.registry, "svc"))
    assert Registry.lookup("svc") is ref
    assert await GenServer.call("svc", "get") == 0


# ---------------------------------------------------------------- as a target


async def test_via_as_the_target_of_every_function(rt: Runtime) -> None:
    sessions = Registry.create(name="sessions")
    via = Via(sessions, ("counter", 1))
    ref = await GenServer.start(Counter, 1, name=via)
    assert await GenServer.call(via, "incr") == 2
    GenServer.cast(via, 10)
    assert await GenServer.call(via, "get") == 12
    assert GenServer.is_running(via)
    watcher = await GenServer.start(Probe)
    mref = await watcher.call(lambda: GenServer.monitor(via))
    assert mref.target is ref
    await watcher.call(lambda: GenServer.link(via))
    await watcher.call(lambda: GenServer.unlink(via))
    timer = GenServer.send_after(via, 5, 1.0)
    assert GenServer.cancel_timer(timer)
    async with trio.open_nursery() as nursery:
        reasons: list[Any] = []

        async def wait() -> None:
            reasons.append(await GenServer.wait_exit(via))

        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        await GenServer.stop(via, "shutdown")
    assert reasons == ["shutdown"]
    assert not GenServer.is_running(via)
    assert sessions.names() == []
    await watcher.stop()
    assert watcher_inbox(watcher) == [Down(mref, ref, "shutdown")]


def watcher_inbox(ref: GenServerRef[Any, Any, Any]) -> list[Any]:
    from noex_trio._process import process_of

    behaviour = process_of(ref).behaviour
    assert isinstance(behaviour, Probe)
    return behaviour.inbox


async def test_exit_signal_to_a_via(rt: Runtime) -> None:
    sessions = Registry.create()
    ref = await GenServer.start(Counter, name=Via(sessions, ("user", 1)))
    GenServer.exit(Via(sessions, ("user", 1)), "kill")
    assert await GenServer.wait_exit(ref) == "killed"
    assert sessions.names() == []
    GenServer.exit(Via(sessions, ("user", 1)), "kill")  # nobody holds it: nothing happens


async def test_send_after_to_a_via(rt: Runtime, autojump_clock: trio.testing.MockClock) -> None:
    sessions = Registry.create()
    via = Via(sessions, "c")
    ref = await GenServer.start(Counter, 0, name=via)
    GenServer.send_after(via, 3, 2.0)
    await trio.sleep(1.5)
    assert await ref.call("get") == 0
    await trio.sleep(1.0)
    assert await ref.call("get") == 3
    assert trio.current_time() == 2.5
    await ref.stop()


async def test_a_via_nobody_holds(rt: Runtime) -> None:
    sessions = Registry.create(name="sessions")
    via = Via(sessions, "nobody")
    message = r"^Via\(<registry 'sessions'>, 'nobody'\) is not running$"
    with pytest.raises(ServerNotRunningError, match=message) as info:
        await GenServer.call(via, "get")
    assert info.value.target == via
    with pytest.raises(ServerNotRunningError, match=message):
        GenServer.cast(via, 1)
    with pytest.raises(ServerNotRunningError, match=message):
        GenServer.send_after(via, 1, 1.0)
    await GenServer.stop(via)  # idempotent, like an unknown name
    assert not GenServer.is_running(via)
    assert await GenServer.wait_exit(via) == "noproc"
    watcher = await GenServer.start(Probe)
    mref = await watcher.call(lambda: GenServer.monitor(via))
    assert mref.target == via
    assert not mref.active

    def link() -> Exception | None:
        try:
            GenServer.link(via)
        except ServerNotRunningError as error:  # (a process that does not trap exits)
            return error
        return None

    error = await watcher.call(link)
    assert isinstance(error, ServerNotRunningError)
    assert error.target == via
    await watcher.call(lambda: GenServer.unlink(via))  # nothing to unlink
    trapper = await GenServer.start(Probe, trap_exit=True)
    await trapper.call(lambda: GenServer.link(via))
    await watcher.call(lambda: None)  # (the Down is queued before this reply)
    await trapper.call(lambda: None)
    assert watcher_inbox(watcher) == [Down(mref, via, "noproc")]
    assert watcher_inbox(trapper) == [Exit(via, "noproc")]


async def test_a_via_to_something_else_than_a_gen_server(rt: Runtime) -> None:
    sessions = Registry.create()
    sup = await Supervisor.start(name=Via(sessions, "sup"))
    with pytest.raises(
        TypeError, match=rf"^<SupervisorRef sup#{sup.id}> is not a GenServer; use the functions"
    ):
        await GenServer.call(Via(sessions, "sup"), "x")
    assert GenServer.is_running(Via(sessions, "sup"))
    assert Supervisor.count_children(Via(sessions, "sup")) == 0  # type: ignore[arg-type]
    await sup.stop()
    assert sessions.names() == []


# ---------------------------------------------------------------- supervisors


async def test_a_restarted_child_registers_again(rt: Runtime) -> None:
    sessions = Registry.create(name="sessions")
    sup = await Supervisor.start(
        [Counter.child_spec(7, id="counter", name=Via(sessions, ("svc", "counter")))]
    )
    old = gen(Supervisor.get_child(sup, "counter").ref)
    assert sessions.lookup(("svc", "counter")) is old
    crash(old)
    new = await wait_for_restart(sup, "counter", old)
    assert new is not old
    assert sessions.lookup(("svc", "counter")) is new
    assert await GenServer.call(Via(sessions, ("svc", "counter")), "get") == 7
    await sup.stop()
    assert sessions.names() == []


async def test_supervisors_take_a_via_name(rt: Runtime) -> None:
    sessions = Registry.create(name="sessions")
    sup = await Supervisor.start(
        [Supervisor.child_spec(name=Via(sessions, "inner"))], name=Via(sessions, "outer")
    )
    assert sessions.lookup("outer") is sup
    inner = Supervisor.get_child(sup, "Supervisor").ref  # a Via name gives no default id
    assert isinstance(inner, SupervisorRef)
    assert sessions.lookup("inner") is inner
    await sup.stop()
    assert sessions.names() == []


async def test_a_bad_name_at_start(rt: Runtime) -> None:
    with pytest.raises(TypeError, match=r"^expected name to be a non-empty str or a Via, got 3$"):
        await Supervisor.start(name=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidChildSpecError):
        Supervisor.child_spec(id=3)  # type: ignore[arg-type]


# ---------------------------------------------------------------- registry processes


async def test_a_registry_process(rt: Runtime) -> None:
    ref = await Registry.start(name="sessions")
    assert isinstance(ref, RegistryRef)
    assert repr(ref) == f"<RegistryRef sessions#{ref.id}>"
    registry = Registry.lookup_registry("sessions")
    assert Registry.lookup_registry(ref) is registry
    assert Registry.whereis_registry("sessions") is registry
    assert repr(registry) == "<RegistryInstance 'sessions' keys=unique entries=0>"
    worker = await GenServer.start(Counter, 3, name=Via("sessions", ("user", 42)))
    assert registry.lookup(("user", 42)) is worker
    assert await GenServer.call(Via("sessions", ("user", 42)), "get") == 3
    assert Registry.lookup("sessions") is ref  # the process is named in the runtime's registry
    with pytest.raises(
        TypeError,
        match=r"^<RegistryRef sessions#\d+> is not a GenServer; use the functions of its own "
        r"facade \(Registry\.\*\)$",
    ):
        await GenServer.call(ref, "x")
    held = Via(registry, ("user", 42))  # a Via that holds the registry itself
    await ref.stop()
    assert worker.is_running()  # its entry went with the registry; it runs on
    with pytest.raises(ServerNotRunningError, match=r"^Via\(<registry 'sessions'>, \('user'"):
        await GenServer.call(held, "get")
    with pytest.raises(ServerNotRunningError, match=r"^'sessions' is not running \(exit reason"):
        Via(registry, "new")  # a closed registry makes no new Via
    assert Registry.whereis_registry("sessions") is None
    assert Registry.whereis_registry(ref) is None
    with pytest.raises(ServerNotRunningError, match=r"^'sessions' is not running$"):
        Registry.lookup_registry("sessions")
    with pytest.raises(
        ServerNotRunningError,
        match=rf"^sessions#{ref.id} is not running \(exit reason: 'normal'\)$",
    ):
        Registry.lookup_registry(ref)
    with pytest.raises(ServerNotRunningError, match=r"^'sessions' is not running \(exit reason"):
        registry.lookup(("user", 42))
    # a Via to a registry that is gone: the target is not running; a start fails clearly
    with pytest.raises(ServerNotRunningError, match=r"^Via\('sessions', \('user', 42\)\) is not"):
        await GenServer.call(Via("sessions", ("user", 42)), "get")
    assert not GenServer.is_running(Via("sessions", ("user", 42)))
    with pytest.raises(ServerNotRunningError, match=r"^'sessions' is not running$"):
        await GenServer.start(Counter, name=Via("sessions", "late"))
    await worker.stop()


async def test_a_duplicate_registry_process(rt: Runtime) -> None:
    await Registry.start(name="rooms", keys="duplicate")
    rooms = Registry.lookup_registry("rooms")
    a = await GenServer.start(Counter)
    b = await GenServer.start(Counter)
    rooms.register("lobby", a)
    rooms.register("lobby", b)
    assert rooms.dispatch("lobby", 1) == 2
    message = r"^Via needs a registry with unique keys, but registry 'rooms' has duplicate keys"
    with pytest.raises(TypeError, match=message):
        await GenServer.start(Counter, name=Via("rooms", "lobby"))
    with pytest.raises(TypeError, match=message):
        await GenServer.call(Via("rooms", "lobby"), "get")
    await Registry.stop("rooms")
    assert [await ref.call("get") for ref in (a, b)] == [1, 1]


async def test_registry_functions_check_their_arguments(rt: Runtime) -> None:
    counter = await GenServer.start(Counter, name="counter")
    not_a_registry = (
        r"^expected (registry|the registry of a Via) to be a RegistryRef or the name of a "
        rf"registry process, got 'counter' \(<GenServerRef counter#{counter.id}>\)$"
    )
    with pytest.raises(TypeError, match=not_a_registry):
        Registry.lookup_registry("counter")
    with pytest.raises(TypeError, match=not_a_registry):
        Registry.whereis_registry("counter")
    with pytest.raises(TypeError, match=not_a_registry):
        await Registry.stop("counter")
    with pytest.raises(TypeError, match=not_a_registry):
        await GenServer.start(Counter, name=Via("counter", "k"))
    with pytest.raises(TypeError, match=not_a_registry):
        await GenServer.call(Via("counter", "k"), "get")
    bad = r"^expected registry to be a RegistryRef or the name of a registry process, got 3$"
    with pytest.raises(TypeError, match=bad):
        Registry.lookup_registry(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=bad):
        Registry.whereis_registry(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=bad):
        await Registry.stop(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected registry .*, got <GenServerRef counter#"):
        Registry.lookup_registry(counter)  # type: ignore[arg-type]
    assert Registry.whereis_registry("nobody") is None
    await Registry.stop("nobody")  # an unknown name: nothing to stop
    with pytest.raises(ValueError, match=r"^expected name to be a non-empty str, got ''$"):
        await Registry.start(name="")
    with pytest.raises(TypeError, match=r"^expected name to be a non-empty str, got 3$"):
        await Registry.start(name=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^expected keys to be 'unique' or 'duplicate', got 'x'$"):
        await Registry.start(name="r", keys="x")  # type: ignore[arg-type]
    with pytest.raises(AlreadyRegisteredError, match=r"^name 'counter' is already registered"):
        await Registry.start(name="counter")
    with pytest.raises(ValueError, match=r"^expected keys to be 'unique' or 'duplicate', got 'x'$"):
        Registry.child_spec(name="r", keys="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected name to be a non-empty str, got None$"):
        Registry.child_spec(name=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidChildSpecError):
        Registry.child_spec(name="r", restart="sometimes")  # type: ignore[arg-type]
    assert [proc for proc in rt.processes() if proc is not rt.event_bus] == [counter]


async def test_registry_start_and_stop_are_checkpoints(rt: Runtime) -> None:
    with trio.testing.assert_checkpoints():
        ref = await Registry.start(name="r")
    with trio.testing.assert_checkpoints(), pytest.raises(AlreadyRegisteredError):
        await Registry.start(name="r")
    with trio.testing.assert_checkpoints(), pytest.raises(TypeError):
        await Registry.start(name=3)  # type: ignore[arg-type]
    with trio.testing.assert_checkpoints():
        await Registry.stop("r")
    with trio.testing.assert_checkpoints():
        await Registry.stop("r")  # gone
    with trio.testing.assert_checkpoints():
        await Registry.stop(ref)  # gone
    with trio.testing.assert_checkpoints(), pytest.raises(TypeError):
        await Registry.stop(3)  # type: ignore[arg-type]


async def test_a_registry_under_a_supervisor(rt: Runtime) -> None:
    """The registry first, its users after it, rest_for_one: a registry restart restarts its
    users, which register again in the new (empty) registry."""
    inits = Inits()
    sup = await Supervisor.start(
        [
            Registry.child_spec(name="sessions"),
            Counted.child_spec(inits, id="alice", name=Via("sessions", ("user", "alice"))),
        ],
        strategy="rest_for_one",
    )
    assert [child.id for child in Supervisor.get_children(sup)] == ["sessions", "alice"]
    old_registry = Registry.lookup_registry("sessions")
    old_alice = Supervisor.get_child(sup, "alice").ref
    assert old_registry.lookup(("user", "alice")) is old_alice
    assert await GenServer.call(Via("sessions", ("user", "alice")), "get") == 1
    old_ref = Supervisor.get_child(sup, "sessions").ref
    assert old_ref is not None
    crash(old_ref)
    await wait_for_restart(sup, "alice", old_alice)
    new_registry = Registry.lookup_registry("sessions")
    assert new_registry is not old_registry
    assert repr(old_registry) == "<RegistryInstance 'sessions' keys=unique closed>"
    new_alice = Supervisor.get_child(sup, "alice").ref
    assert new_registry.lookup(("user", "alice")) is new_alice
    assert await GenServer.call(Via("sessions", ("user", "alice")), "get") == 2
    await sup.stop()
    assert Registry.names() == []


async def test_registry_child_spec_options(rt: Runtime) -> None:
    spec = Registry.child_spec(name="r", keys="duplicate", id="reg", restart="transient")
    assert (spec.id, spec.restart, spec.shutdown) == ("reg", "transient", 5.0)
    assert Registry.child_spec(name="r").id == "r"
    sup = await Supervisor.start([spec])
    assert Registry.lookup_registry("r").keys == "duplicate"
    reg = Supervisor.get_child(sup, "reg").ref
    assert reg is not None
    kill(reg)  # a brutal kill closes the registry too
    await wait_for_restart(sup, "reg")
    await sup.stop()


async def test_registry_processes_leave_no_garbage(rt: Runtime) -> None:
    async def round_trip() -> None:
        ref = await Registry.start(name="r")
        worker = await GenServer.start(Counter, name=Via("r", ("k", 1)))
        await GenServer.call(Via("r", ("k", 1)), "get")
        await Registry.stop(ref, RuntimeError("crashed"))
        await worker.stop()

    await assert_no_cyclic_garbage(round_trip)
    ref = await Registry.start(name="r")
    worker = await GenServer.start(Counter, name=Via("r", "k"))
    refs: list[weakref.ref[Any]] = [weakref.ref(ref), weakref.ref(worker)]
    await worker.stop()
    await ref.stop()
    del ref, worker
    assert_collected(refs)


async def test_registry_as_an_exit_reason_keeps_its_reason(rt: Runtime) -> None:
    ref = await Registry.start(name="r")
    registry = Registry.lookup_registry(ref)
    await Registry.stop(ref, ValueError("maintenance"))
    with pytest.raises(
        ServerNotRunningError,
        match=re.escape("'r' is not running (exit reason: ValueError('maintenance'))"),
    ):
        registry.names()


def test_registry_instance_is_exported() -> None:
    assert RegistryInstance.__module__ == "noex_trio"
    assert RegistryRef.__module__ == "noex_trio"


async def test_supervisor_stop_and_is_running_take_a_via(rt: Runtime) -> None:
    registry = Registry.create()
    sup = await Supervisor.start([], name=Via(registry, ("sup", 1)))
    assert Supervisor.is_running(Via(registry, ("sup", 1)))
    await Supervisor.stop(Via(registry, ("sup", 1)))
    assert not sup.is_running()
    assert not Supervisor.is_running(Via(registry, ("sup", 1)))
    await Supervisor.stop(Via(registry, ("sup", 1)))  # gone: returns quietly
