"""``statistics()``: processes, supervisors, buses, registries and the runtime (issue 13).

Time is virtual (``autojump_clock``) wherever a figure is a time, and asserted exactly.
"""

from __future__ import annotations

import math
import pickle
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from noex_trio import (
    DynamicSupervisor,
    EventBus,
    EventBusStatistics,
    GenServer,
    GenServerRef,
    Ignore,
    NoReply,
    ProcessStatistics,
    Registry,
    RegistryStatistics,
    Runtime,
    RuntimeStatistics,
    ServerNotRunningError,
    Stop,
    Supervisor,
    SupervisorStatistics,
    Task,
    Via,
)
from noex_trio.testing import crash, wait_for_restart

from .conftest import Counter, Echo, gen


class Slow(GenServer[None, float, str, str]):
    """Calls: a number of seconds to sleep before answering ``"done"``."""

    def init(self) -> None:
        return None

    async def handle_call(self, msg: float, state: None) -> tuple[str, None]:
        await trio.sleep(msg)
        return "done", state

    def handle_cast(self, msg: str, state: None) -> None:
        return state


class Ignored(GenServer[None, Any, Any, Any]):
    def init(self) -> Ignore:
        return Ignore()


class Owner(GenServer[None, Any, Any, Any]):
    owns_tasks = True

    def init(self, tasks: int) -> None:
        for _ in range(tasks):
            GenServer.nursery().start_soon(trio.sleep_forever)

    def handle_call(self, msg: Any, state: None) -> tuple[Any, None]:
        return msg, state

    def handle_cast(self, msg: Any, state: None) -> None:
        return state


async def test_a_worker_s_statistics(rt: Runtime, autojump_clock: trio.testing.MockClock) -> None:
    await trio.sleep(1.5)
    ref = await GenServer.start(Counter, 0, name="counter")
    assert await ref.call("incr") == 1
    ref.cast(2)
    GenServer.send_after(ref, 3, 1.0)
    await trio.sleep(2.0)
    assert await ref.call("get") == 6
    stats = ref.statistics()
    assert stats == ProcessStatistics(
        id=ref.id,
        label=f"counter#{ref.id}",
        kind="worker",
        behaviour="Counter",
        status="running",
        mailbox_length=0,
        mailbox_capacity=math.inf,
        calls=2,
        casts=2,  # a send_after timer message is a cast
        infos=0,
        started_at=1.5,
        uptime=2.0,
        restarts=0,
        serving=None,
        serving_since=None,
        tasks=0,
        names=("counter",),
    )
    assert stats.process is stats
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        stats.calls = 3  # type: ignore[misc]
    Registry.register("also", ref)
    assert ref.statistics().names == ("counter", "also")
    await ref.stop()
    dead = ref.statistics()
    assert (dead.status, dead.uptime, dead.names, dead.calls) == ("dead", 0.0, (), 2)


async def test_infos_count_notices(rt: Runtime) -> None:
    echo = Echo()
    watcher = await GenServer.start(echo)
    other = await GenServer.start(Counter)
    await watcher.call(lambda state: (GenServer.monitor(other), state))
    await other.stop()
    await watcher.call("sync")  # the Down came before this call
    assert [kind for kind, _ in echo.seen].count("info") == 1
    stats = watcher.statistics()
    assert (stats.calls, stats.casts, stats.infos) == (2, 0, 1)
    await watcher.stop()


async def test_mailbox_length_and_capacity(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Slow, mailbox_size=10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, 1.0)
        await trio.testing.wait_all_tasks_blocked()
        ref.cast("a")
        ref.cast("b")
        stats = ref.statistics()
        assert (stats.mailbox_length, stats.mailbox_capacity) == (2, 10.0)
        assert stats.serving == "1.0"
        nursery.cancel_scope.cancel()
    await ref.stop()


async def test_serving_since_is_when_the_call_was_made(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Slow)
    seen: list[ProcessStatistics] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, 10.0, 20.0)  # served from t=0 to t=10
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(ref.call, 1.0, math.inf)  # made at t=0, waits in the mailbox
        await trio.sleep(4.0)
        seen.append(ref.statistics())
        await trio.sleep(6.5)
        seen.append(ref.statistics())
    assert [(s.serving, s.serving_since, s.mailbox_length) for s in seen] == [
        ("10.0", 0.0, 1),
        ("1.0", 0.0, 0),  # a call without a timeout also says when it was made
    ]
    assert trio.current_time() == 11.0
    await ref.stop()


async def test_serving_since_of_calls_in_a_full_mailbox_and_beyond_the_watchdog(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Slow, mailbox_size=1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, 5.0, 10.0)
        await trio.testing.wait_all_tasks_blocked()
        ref.cast("fill")
        await trio.sleep(1.0)
        nursery.start_soon(ref.call, 1.0, 10.0)  # made at t=1, waits for room until t=5
        await trio.sleep(4.5)
        stats = ref.statistics()
        assert (stats.serving, stats.serving_since) == ("1.0", 1.0)
    # More distinct timeouts than the watchdog keeps lists for: calls get a scope of their own.
    async with trio.open_nursery() as nursery:
        for n in range(20):
            nursery.start_soon(ref.call, 0.5, 100.0 + n)
        await trio.sleep(0.25)
        stats = ref.statistics()
        assert (stats.serving, stats.serving_since) == ("0.5", 6.0)
    await ref.stop()


async def test_status_while_starting_and_stopping(rt: Runtime) -> None:
    seen: list[str] = []

    class Reporter(GenServer[None, Any, Any, Any]):
        def init(self) -> None:
            seen.append(GenServer.self().statistics().status)

        def handle_call(self, msg: Any, state: None) -> tuple[Any, None]:
            return msg, state

        def handle_cast(self, msg: Any, state: None) -> None:
            return state

        def terminate(self, reason: Any, state: None) -> None:
            seen.append(GenServer.self().statistics().status)

    ref = await GenServer.start(Reporter)
    seen.append(ref.statistics().status)
    await ref.stop()
    seen.append(ref.statistics().status)
    assert seen == ["starting", "running", "stopping", "dead"]


async def test_restarts_tasks_and_kinds(rt: Runtime) -> None:
    sup = await Supervisor.start([Counter.child_spec(0, id="c")])
    first = gen(Supervisor.get_child(sup, "c").ref)
    assert first.statistics().restarts == 0
    crash(first)
    await wait_for_restart(sup, "c", first)
    second = gen(Supervisor.get_child(sup, "c").ref)
    assert second.statistics().restarts == 1
    assert first.statistics().restarts == 0  # no longer the child's process

    owner = await GenServer.start(Owner, 2)
    assert (owner.statistics().kind, owner.statistics().tasks) == ("worker", 2)
    task = await Task.start(trio.sleep_forever)
    stats = task.ref.statistics()
    assert (stats.kind, stats.behaviour, stats.tasks) == ("task", "Task", 1)
    registry = await Registry.start(name="reg")
    stats = registry.statistics()
    assert (stats.kind, stats.behaviour, stats.names) == ("registry", "Registry", ("reg",))
    bus = rt.event_bus.statistics()
    assert (bus.kind, bus.behaviour) == ("bus", "EventBus")
    await task.cancel()
    for ref in (owner, registry, sup):
        await ref.stop()


async def test_supervisor_statistics(rt: Runtime, autojump_clock: trio.testing.MockClock) -> None:
    specs = [
        Counter.child_spec(0, id="a"),
        Ignored.child_spec(id="ignored"),
        Counter.child_spec(0, id="b"),
    ]
    sup = await Supervisor.start(
        specs, strategy="one_for_all", max_restarts=3, max_seconds=5.0, name="top"
    )
    stats = sup.statistics()
    assert isinstance(stats, SupervisorStatistics)
    assert (stats.kind, stats.behaviour, stats.names) == ("supervisor", "Supervisor", ("top",))
    assert attrs.asdict(stats, filter=lambda a, _: a.name in _SUPERVISOR_FIELDS) == {
        "strategy": "one_for_all",
        "children_running": 2,
        "children_not_running": 1,
        "restarts_in_window": 0,
        "restarts_total": 0,
        "max_restarts": 3,
        "max_seconds": 5.0,
    }
    await trio.sleep(1.0)
    a = gen(Supervisor.get_child(sup, "a").ref)
    crash(a)
    await wait_for_restart(sup, "a", a)
    await trio.sleep(1.0)
    a = gen(Supervisor.get_child(sup, "a").ref)
    crash(a)
    await wait_for_restart(sup, "a", a)
    await trio.testing.wait_all_tasks_blocked()  # the group's restart is done
    stats = Supervisor.statistics("top")
    assert (stats.restarts_in_window, stats.restarts_total, stats.infos) == (2, 2, 2)
    assert (stats.children_running, stats.children_not_running) == (2, 1)
    await trio.sleep(4.5)  # the first restart (t=1) left the window at t=6
    stats = Supervisor.statistics(Via(rt.registry, "top"))
    assert (stats.restarts_in_window, stats.restarts_total) == (1, 2)
    # the process's own figures, also as a plain ProcessStatistics
    process = stats.process
    assert type(process) is ProcessStatistics
    assert attrs.asdict(process) == {
        field.name: getattr(stats, field.name) for field in attrs.fields(ProcessStatistics)
    }
    # one_for_all restarted the group twice: two Restarted events each time (the ignored
    # child was tried again, and ignored again: no event)
    assert rt.statistics().restarts == 4
    assert rt.statistics().crashes == 2
    with pytest.raises(TypeError, match=r"^expected sup to be a SupervisorRef"):
        Supervisor.statistics(a)  # type: ignore[arg-type]
    with pytest.raises(ServerNotRunningError):
        Supervisor.statistics("nobody")
    await sup.stop()
    dead = Supervisor.statistics(sup)
    assert (dead.status, dead.children_running, dead.restarts_total) == ("dead", 0, 2)


_SUPERVISOR_FIELDS = {field.name for field in attrs.fields(SupervisorStatistics)} - {
    field.name for field in attrs.fields(ProcessStatistics)
}


async def test_dynamic_supervisor_statistics(rt: Runtime) -> None:
    sup = await DynamicSupervisor.start(max_restarts=5, max_seconds=math.inf)
    await DynamicSupervisor.start_child(sup, Counter.child_spec(0))
    stats = sup.statistics()
    assert (stats.behaviour, stats.strategy, stats.children_running) == (
        "DynamicSupervisor",
        "one_for_one",
        1,
    )
    assert (stats.max_restarts, stats.max_seconds, stats.calls) == (5, math.inf, 1)
    await sup.stop()


async def test_event_bus_statistics(rt: Runtime, autojump_clock: trio.testing.MockClock) -> None:
    bus = await EventBus.start(name="events")
    handled: list[str] = []

    def handler(data: str, topic: str) -> None:
        if data == "bad":
            raise ValueError(data)
        handled.append(data)

    class Subscriber(Echo):
        async def init(self, *args: Any) -> Any:
            await EventBus.subscribe_self("events", "a.*")
            return []

    subscriber = await GenServer.start(Subscriber())
    await EventBus.subscribe(bus, "a.*", handler)
    async with EventBus.listen(bus, "a.b", buffer=1) as events:
        EventBus.publish(bus, "a.b", "one")  # handler, process, listener
        await EventBus.publish_sync(bus, "a.c", "bad")  # handler (raises), process
        EventBus.publish(bus, "x.y", "nobody")
        await EventBus.publish_sync(bus, "x.y", "nobody")
        EventBus.publish(bus, "a.b", "two")  # the listener overflows: dropped for it
        await EventBus.publish_sync(bus, "a.z", "three")
        assert await events.__anext__() == ("a.b", "one")
    await subscriber.call("sync")
    stats = EventBus.statistics("events")
    assert isinstance(stats, EventBusStatistics)
    assert (stats.subscriptions, stats.published, stats.delivered, stats.failed) == (2, 6, 9, 1)
    assert handled == ["one", "two", "three"]
    assert stats.infos == 0  # events go around the bus's mailbox
    assert subscriber.statistics().infos == 4
    assert bus.statistics() == stats
    with pytest.raises(TypeError, match=r"^expected bus to be an EventBusRef"):
        EventBus.statistics(subscriber)  # type: ignore[arg-type]
    Registry.register("subscriber", subscriber)
    with pytest.raises(TypeError, match=r"^expected bus to be an EventBusRef"):
        EventBus.statistics("subscriber")
    with pytest.raises(ServerNotRunningError):
        EventBus.statistics("nobody")
    await subscriber.stop()
    await EventBus.stop(bus)
    assert bus.statistics().status == "dead"


async def test_registry_statistics(rt: Runtime) -> None:
    groups = Registry.create(keys="duplicate")
    a = await GenServer.start(Counter)
    b = await GenServer.start(Counter)
    groups.register("room", a)
    groups.register("room", b)
    groups.register("other", a)
    assert groups.statistics() == RegistryStatistics(entries=3, keys=2)
    assert rt.registry.statistics() == RegistryStatistics(entries=0, keys=0)
    Registry.register("a", a)
    assert Registry.statistics() == RegistryStatistics(entries=1, keys=1)
    await a.stop()
    assert groups.statistics() == RegistryStatistics(entries=1, keys=1)
    registry_process = await Registry.start(name="sessions")
    instance = Registry.lookup_registry("sessions")
    instance.register("k", b)
    assert instance.statistics() == RegistryStatistics(entries=1, keys=1)
    await registry_process.stop()
    assert instance.statistics() == RegistryStatistics(entries=0, keys=0)  # closed: empty
    await b.stop()


async def test_runtime_statistics_count_crashes_and_restarts(rt: Runtime) -> None:
    base = rt.statistics()
    assert (base.crashes, base.restarts) == (0, 0)
    ref = await GenServer.start(Counter)
    with pytest.raises(ValueError, match="bad call"):
        await ref.call("boom")
    await GenServer.wait_exit(ref)
    stopped = await GenServer.start(Counter)
    await stopped.stop("shutdown")  # a clean exit is no crash
    sup = await Supervisor.start([Counter.child_spec(0, id="c")])
    child = gen(Supervisor.get_child(sup, "c").ref)
    crash(child)
    await wait_for_restart(sup, "c", child)
    await Supervisor.restart_child(sup, "c")  # an explicit restart is a restart too
    stats = rt.statistics()
    assert stats == RuntimeStatistics(
        processes=base.processes + 2,
        registered_names=0,
        dead_letters=0,
        crashes=2,
        restarts=2,
    )
    await sup.stop()


async def test_a_ref_unpickled_where_its_process_does_not_exist(rt: Runtime) -> None:
    ref = await GenServer.start(Counter)
    data = pickle.dumps(ref)
    await ref.stop()
    ghost: GenServerRef[Any, Any, Any] = pickle.loads(data)
    with pytest.raises(ServerNotRunningError, match=r"^Counter#\d+ is not running$"):
        ghost.statistics()


async def test_a_deferred_call_is_not_being_served(rt: Runtime) -> None:
    class Deferring(Echo):
        def handle_call(self, msg: Any, state: Any) -> Any:
            if msg == "stop":
                return Stop("normal", state, reply="bye")
            self.kept = GenServer.caller()
            return NoReply(state)

    server = Deferring()
    ref = await GenServer.start(server)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.call, "later")
        await trio.testing.wait_all_tasks_blocked()
        assert ref.statistics().serving is None
        server.kept.reply("now")
    assert await ref.call("stop") == "bye"


async def test_a_restarting_child_shows_its_restart_count_while_its_init_runs(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    from noex_trio import GenServer, Supervisor
    from noex_trio.testing import crash

    class SlowStart(GenServer[None, str, None, None]):
        async def init(self) -> None:
            await trio.sleep(1)

        def handle_call(self, msg: str, state: None) -> tuple[None, None]:
            return None, state  # pragma: no cover - never called

    sup = await Supervisor.start([SlowStart.child_spec(id="slow")])
    old = Supervisor.get_child(sup, "slow").ref
    assert old is not None
    crash(old)
    await trio.sleep(0.5)  # the new process's init runs
    (new,) = [
        ref
        for ref in rt.processes()
        if ref.statistics().behaviour == "SlowStart" and ref is not old
    ]
    assert new.statistics().status == "starting"
    assert new.statistics().restarts == 1
    assert rt.snapshot().to_dict()["tree"][-1]["children"][0]["restarts"] == 1
    await sup.stop()
