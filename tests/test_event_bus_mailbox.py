"""Events into the mailbox: ``EventBus.subscribe_self`` and `BusEvent` in ``handle_info``."""

from __future__ import annotations

import inspect
import logging
import math
import pickle
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import noex_trio
from examples import event_mailbox
from noex_trio import (
    BusEvent,
    ChildSpec,
    Down,
    EventBus,
    EventBusRef,
    GenServer,
    GenServerRef,
    NotInProcessError,
    Runtime,
    ServerNotRunningError,
    Supervisor,
    open_runtime,
)
from noex_trio.testing import crash, kill, wait_for_restart

from .conftest import assert_no_cyclic_garbage
from .supervisor_helpers import child_ref
from .test_event_bus import patterns, reference_match, topics

Log = list[tuple[str, Any]]


class Inbox(GenServer[None, Any, Any, Any]):
    """Subscribes itself in ``init`` to `patterns`; records every message it handles in `log`.

    A callable call or cast is run inside the process (its result is the reply), so a test can
    act from inside it; a cast ``("gate", event)`` blocks the process until `event` is set.
    """

    def __init__(self, log: Log | None = None) -> None:
        self.log: Log = [] if log is None else log
        self.unsubscribes: list[Callable[[], None]] = []

    async def init(self, bus: EventBusRef | None = None, patterns: tuple[str, ...] = ()) -> None:
        for pattern in patterns:
            assert bus is not None
            self.unsubscribes.append(await EventBus.subscribe_self(bus, pattern))

    async def handle_call(self, msg: Any, state: None) -> tuple[Any, None]:
        if msg == "log":
            return list(self.log), None
        self.log.append(("call", msg))
        return await _run(msg), None

    async def handle_cast(self, msg: Any, state: None) -> None:
        if isinstance(msg, tuple) and msg[0] == "gate":
            await msg[1].wait()
            return
        self.log.append(("cast", msg))
        await _run(msg)

    def handle_info(self, msg: Any, state: None) -> None:
        self.log.append(("info", msg))


async def _run(msg: Any) -> Any:
    if not callable(msg):
        return msg
    result = msg()
    if inspect.isawaitable(result):
        result = await result
    return result


async def caught(operation: Callable[[], Awaitable[object]]) -> BaseException | None:
    """Run `operation` inside a process and return what it raised (a handler that raises
    would crash the process)."""
    try:
        await operation()
    except Exception as exc:
        return exc
    return None


async def start_inbox(
    bus: EventBusRef, *patterns: str, mailbox_size: float = math.inf
) -> tuple[GenServerRef[Any, Any, Any], Inbox]:
    inbox = Inbox()
    ref: GenServerRef[Any, Any, Any] = await GenServer.start(
        inbox, bus, patterns, mailbox_size=mailbox_size
    )
    return ref, inbox


def events(log: Log) -> list[tuple[str, Any, str]]:
    """The events of a log as ``(topic, data, pattern)``."""
    return [(m.topic, m.data, m.pattern) for kind, m in log if isinstance(m, BusEvent)]


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


def all_tasks() -> int:
    """How many tasks the run has (to show that publishing starts none)."""
    count = 0
    root = trio.lowlevel.current_root_task()
    assert root is not None
    pending = [root]
    while pending:
        task = pending.pop()
        count += 1
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return count


# ---------------------------------------------------------------- delivery and order


async def test_events_arrive_in_handle_info_as_bus_events(rt: Runtime) -> None:
    bus = rt.event_bus
    ref, _ = await start_inbox(bus, "user.*")
    data = {"id": 1}
    EventBus.publish(bus, "user.created", data)
    EventBus.publish(bus, "order.placed", 2)  # not matched
    log = await ref.call("log")
    assert log == [("info", BusEvent("user.created", data, "user.*", bus))]
    event = log[0][1]
    assert event.data is data  # not copied
    assert repr(event) == (
        f"BusEvent(topic='user.created', data={{'id': 1}}, pattern='user.*', bus={bus!r})"
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.topic = "x"
    assert pickle.loads(pickle.dumps(event)) == event
    assert noex_trio.BusEvent is BusEvent
    assert BusEvent.__module__ == "noex_trio"
    await ref.stop()


async def test_two_subscriptions_and_casts_keep_publish_order(rt: Runtime) -> None:
    bus = rt.event_bus
    ref, _ = await start_inbox(bus, "a.*", "b")
    EventBus.publish(bus, "a.x", 1)
    ref.cast("c1")
    EventBus.publish(bus, "b", 2)
    EventBus.publish(bus, "a.y", 3)
    ref.cast("c2")
    EventBus.publish(bus, "b", 4)
    EventBus.publish(bus, "a.z", 5)
    ref.cast("c3")
    assert await ref.call("log") == [
        ("info", BusEvent("a.x", 1, "a.*", bus)),
        ("cast", "c1"),
        ("info", BusEvent("b", 2, "b", bus)),
        ("info", BusEvent("a.y", 3, "a.*", bus)),
        ("cast", "c2"),
        ("info", BusEvent("b", 4, "b", bus)),
        ("info", BusEvent("a.z", 5, "a.*", bus)),
        ("cast", "c3"),
    ]
    await ref.stop()


async def test_a_message_sent_after_a_publish_comes_after_the_event(rt: Runtime) -> None:
    # Publisher and receiver are processes; the publisher casts right after each publish.
    bus = rt.event_bus
    receiver, _ = await start_inbox(bus, "news")
    publisher, _ = await start_inbox(bus)

    def announce(n: int) -> None:
        EventBus.publish(bus, "news", n)
        receiver.cast(f"after {n}")

    for n in range(3):
        publisher.cast(lambda n=n: announce(n))
    await publisher.call("log")
    assert await receiver.call("log") == [
        item
        for n in range(3)
        for item in [("info", BusEvent("news", n, "news", bus)), ("cast", f"after {n}")]
    ]
    await publisher.stop()
    await receiver.stop()


async def test_a_process_publishing_to_itself_gets_the_event_after_the_handler(
    rt: Runtime,
) -> None:
    bus = rt.event_bus
    ref, _ = await start_inbox(bus, "self")

    async def publish_then_cast() -> str:
        EventBus.publish(bus, "self", 1)
        await EventBus.publish_sync(bus, "self", 2)  # "queued": does not wait for itself
        GenServer.cast(GenServer.self(), "after")
        return "done"

    assert await ref.call(publish_then_cast) == "done"
    assert (await ref.call("log"))[1:] == [
        ("info", BusEvent("self", 1, "self", bus)),
        ("info", BusEvent("self", 2, "self", bus)),
        ("cast", "after"),
    ]
    await ref.stop()


async def test_events_published_during_init_wait_for_it(rt: Runtime) -> None:
    bus = rt.event_bus

    class Early(Inbox):
        async def init(
            self, bus: EventBusRef | None = None, patterns: tuple[str, ...] = ()
        ) -> None:
            assert bus is not None
            await EventBus.subscribe_self(bus, "boot")
            EventBus.publish(bus, "boot", "from init")
            self.log.append(("init", None))

    ref: GenServerRef[Any, Any, Any] = await GenServer.start(Early(), bus)
    assert await ref.call("log") == [
        ("init", None),
        ("info", BusEvent("boot", "from init", "boot", bus)),
    ]
    await ref.stop()


async def test_wildcards(rt: Runtime) -> None:
    bus = rt.event_bus
    ref, inbox = await start_inbox(bus, "user.*", "*.created", "order.**", "*")
    for topic in ["user.created", "user.a.b", "order", "order.x.y", "thing.created"]:
        EventBus.publish(bus, topic, None)
    await ref.call("log")
    assert [(topic, pattern) for topic, _, pattern in events(inbox.log)] == [
        ("user.created", "user.*"),
        ("user.created", "*.created"),
        ("user.created", "*"),
        ("user.a.b", "*"),
        ("order", "order.**"),
        ("order", "*"),
        ("order.x.y", "order.**"),
        ("order.x.y", "*"),
        ("thing.created", "*.created"),
        ("thing.created", "*"),
    ]
    await ref.stop()


async def test_overlapping_subscriptions_each_deliver_in_subscription_order(
    rt: Runtime,
) -> None:
    bus = rt.event_bus
    ref, inbox = await start_inbox(bus, "user.**", "user.*", "user.**")
    assert await EventBus.subscription_count(bus) == 3
    assert await EventBus.topics(bus) == ["user.**", "user.*"]
    EventBus.publish(bus, "user.a", 1)
    EventBus.publish(bus, "user", 2)
    await ref.call("log")
    assert events(inbox.log) == [
        ("user.a", 1, "user.**"),
        ("user.a", 1, "user.*"),
        ("user.a", 1, "user.**"),
        ("user", 2, "user.**"),
        ("user", 2, "user.**"),
    ]
    inbox.unsubscribes[0]()  # the oldest "user.**" entry: one "user.**" subscription remains
    assert await EventBus.topics(bus) == ["user.**", "user.*"]
    EventBus.publish(bus, "user", 3)
    await ref.call("log")
    assert events(inbox.log)[-1:] == [("user", 3, "user.**")]
    await ref.stop()


async def test_each_bus_delivers_its_own_events(rt: Runtime) -> None:
    other = await EventBus.start(name="other")
    default = rt.event_bus
    inbox = Inbox()
    ref: GenServerRef[Any, Any, Any] = await GenServer.start(inbox, default, ("a",))
    await ref.call(lambda: EventBus.subscribe_self("other", "a"))
    EventBus.publish(other, "a", 1)
    EventBus.publish(default, "a", 2)
    await ref.call("log")
    assert [m for kind, m in inbox.log if kind == "info"] == [
        BusEvent("a", 1, "a", other),
        BusEvent("a", 2, "a", default),
    ]
    await ref.stop()
    await EventBus.stop(other)


async def test_publishing_to_many_processes_starts_no_task(rt: Runtime) -> None:
    bus = rt.event_bus
    refs = [(await start_inbox(bus, "tick"))[0] for _ in range(20)]
    await settle()
    tasks = all_tasks()
    for n in range(5):
        EventBus.publish(bus, "tick", n)
    assert all_tasks() == tasks
    for ref in refs:
        log = await ref.call("log")
        assert [m.data for _, m in log] == [0, 1, 2, 3, 4]
        await ref.stop()


ops = st.lists(
    st.one_of(
        st.tuples(st.just("publish"), topics),
        st.tuples(st.just("cast"), st.integers(0, 9)),
        st.tuples(st.just("unsubscribe"), st.integers(0, 5)),
    ),
    max_size=12,
)


@settings(deadline=None, max_examples=60)
@given(subscribed=st.lists(patterns, min_size=1, max_size=5), operations=ops)
async def test_the_mailbox_order_is_the_order_of_the_operations(
    subscribed: list[str], operations: list[tuple[str, Any]]
) -> None:
    """Whatever the patterns (overlapping or not) and the interleaving of publishes, casts and
    unsubscribes, the process handles exactly what a sequential model predicts, in order."""
    async with open_runtime() as rt:
        bus = rt.event_bus
        ref, inbox = await start_inbox(bus, *subscribed)
        active = [True] * len(subscribed)
        expected: Log = []
        for n, (op, arg) in enumerate(operations):
            if op == "publish":
                EventBus.publish(bus, arg, n)
                expected += [
                    ("info", BusEvent(arg, n, pattern, bus))
                    for pattern, on in zip(subscribed, active, strict=True)
                    if on and reference_match(pattern, arg)
                ]
            elif op == "cast":
                ref.cast(arg)
                expected.append(("cast", arg))
            elif arg < len(subscribed):
                inbox.unsubscribes[arg]()
                active[arg] = False
        assert await ref.call("log") == expected
        assert await EventBus.subscription_count(bus) == sum(active)


# ---------------------------------------------------------------- publish_sync


async def test_publish_sync_returns_once_the_event_is_queued(rt: Runtime) -> None:
    bus = rt.event_bus
    ref, inbox = await start_inbox(bus, "a")
    gate = trio.Event()
    ref.cast(("gate", gate))
    with trio.fail_after(1):
        await EventBus.publish_sync(bus, "a", 1)  # the process is busy: queued is enough
    assert inbox.log == []
    gate.set()
    assert await ref.call("log") == [("info", BusEvent("a", 1, "a", bus))]
    await ref.stop()


# ---------------------------------------------------------------- unsubscribe


async def test_unsubscribe_is_sync_idempotent_and_keeps_queued_events(rt: Runtime) -> None:
    bus = rt.event_bus
    ref, inbox = await start_inbox(bus, "a")
    (unsubscribe,) = inbox.unsubscribes

    def publish_around_unsubscribe() -> None:
        EventBus.publish(bus, "a", 1)  # queued behind this call
        assert unsubscribe() is None
        unsubscribe()
        EventBus.publish(bus, "a", 2)  # not delivered any more

    await ref.call(publish_around_unsubscribe)
    assert await EventBus.subscription_count(bus) == 0
    assert await EventBus.topics(bus) == []
    assert (await ref.call("log"))[1:] == [("info", BusEvent("a", 1, "a", bus))]
    await ref.stop()
    unsubscribe()  # after the owner's exit: still a no-op


async def test_unsubscribe_from_outside_the_process(rt: Runtime) -> None:
    bus = rt.event_bus
    ref, inbox = await start_inbox(bus, "a", "b")
    inbox.unsubscribes[1]()
    assert await EventBus.topics(bus) == ["a"]
    EventBus.publish(bus, "b", 1)
    EventBus.publish(bus, "a", 2)
    await ref.call("log")
    assert events(inbox.log) == [("a", 2, "a")]
    await ref.stop()
    assert await EventBus.subscription_count(bus) == 0


async def test_subscribing_again_after_unsubscribe(rt: Runtime) -> None:
    bus = rt.event_bus
    ref, inbox = await start_inbox(bus, "a")
    inbox.unsubscribes.pop()()
    unsubscribe = await ref.call(lambda: EventBus.subscribe_self(bus, "a"))
    EventBus.publish(bus, "a", 1)
    await ref.call("log")
    assert events(inbox.log) == [("a", 1, "a")]
    unsubscribe()
    await ref.stop()


# ---------------------------------------------------------------- exit cleanup


@pytest.mark.parametrize("how", ["stop", "crash", "kill"])
async def test_the_subscriptions_end_with_the_process(rt: Runtime, how: str) -> None:
    bus = rt.event_bus
    ref, inbox = await start_inbox(bus, "a", "b.*")
    assert await EventBus.subscription_count(bus) == 2
    if how == "stop":
        await ref.stop()
    elif how == "crash":
        crash(ref, ValueError("boom"))
        await GenServer.wait_exit(ref)
    else:
        kill(ref)
        await GenServer.wait_exit(ref)
    assert await EventBus.subscription_count(bus) == 0
    assert await EventBus.topics(bus) == []
    EventBus.publish(bus, "a", 1)  # nobody to deliver to: fine
    for unsubscribe in inbox.unsubscribes:
        unsubscribe()  # no-op


async def test_a_stopping_process_gets_no_new_events(rt: Runtime) -> None:
    bus = rt.event_bus
    ref, inbox = await start_inbox(bus, "a")
    gate = trio.Event()
    ref.cast(("gate", gate))
    EventBus.publish(bus, "a", 1)  # queued before the stop: handled
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.stop)
        await settle()
        assert not ref.is_running()
        EventBus.publish(bus, "a", 2)  # the process is stopping
        gate.set()
    assert events(inbox.log) == [("a", 1, "a")]
    assert rt.statistics().dead_letters == 0


async def test_a_restarted_child_subscribes_again_in_init(rt: Runtime) -> None:
    bus = rt.event_bus
    logs: list[Log] = []

    async def start() -> GenServerRef[Any, Any, Any]:
        logs.append([])
        ref: GenServerRef[Any, Any, Any] = await GenServer.start(Inbox(logs[-1]), bus, ("a",))
        return ref

    sup = await Supervisor.start([ChildSpec("inbox", start)])
    first = child_ref(sup, "inbox")
    EventBus.publish(bus, "a", 1)
    crash(first, ValueError("boom"))  # queued behind event 1
    EventBus.publish(bus, "a", 2)  # queued behind the crash: lost with the process
    second = await wait_for_restart(sup, "inbox", first)
    assert await EventBus.subscription_count(bus) == 1  # the old one is gone, the new one made
    EventBus.publish(bus, "a", 3)
    assert isinstance(second, GenServerRef)
    await second.call("log")
    assert [events(log) for log in logs] == [[("a", 1, "a")], [("a", 3, "a")]]
    await Supervisor.stop(sup)
    assert await EventBus.subscription_count(bus) == 0


# ---------------------------------------------------------------- bounded mailboxes


async def test_a_full_mailbox_drops_events_counts_and_logs_them(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    bus = rt.event_bus
    ref, inbox = await start_inbox(bus, "tick", mailbox_size=2)
    gate = trio.Event()
    ref.cast(("gate", gate))  # taken out of the mailbox: it does not count
    await settle()
    with caplog.at_level(logging.WARNING, logger="noex_trio"):
        EventBus.publish(bus, "tick", 1)
        EventBus.publish(bus, "tick", 2)  # the mailbox is full now
        EventBus.publish(bus, "tick", 3)  # dropped: the publisher is neither blocked nor failed
        with trio.testing.assert_checkpoints(), trio.fail_after(1):
            await EventBus.publish_sync(bus, "tick", 4)  # dropped too, and returns
        assert rt.statistics().dead_letters == 2
        gate.set()
        assert await ref.call("log") == [
            ("info", BusEvent("tick", 1, "tick", bus)),
            ("info", BusEvent("tick", 2, "tick", bus)),
        ]
        gate = trio.Event()
        ref.cast(("gate", gate))
        await settle()
        EventBus.publish(bus, "tick", 5)  # room again
        EventBus.publish(bus, "tick", 6)
        EventBus.publish(bus, "tick", 7)  # a new run of drops
        gate.set()
    await ref.call("log")
    assert events(inbox.log) == [("tick", n, "tick") for n in (1, 2, 5, 6)]
    assert rt.statistics().dead_letters == 3
    label = f"Inbox#{ref.id}"
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            f"EventBus#{bus.id}: mailbox of {label} is full (2 messages): events of 'tick' "
            "are dropped, counted as dead letters, until there is room (first dropped: 'tick')",
        ),
        (
            "WARNING",
            f"EventBus#{bus.id}: events of 'tick' reach {label} again, after 2 dropped "
            "(its mailbox was full)",
        ),
        (
            "WARNING",
            f"EventBus#{bus.id}: mailbox of {label} is full (2 messages): events of 'tick' "
            "are dropped, counted as dead letters, until there is room (first dropped: 'tick')",
        ),
    ]
    await ref.stop()


async def test_a_full_mailbox_drops_only_for_that_process(rt: Runtime) -> None:
    bus = rt.event_bus
    small, small_inbox = await start_inbox(bus, "a", mailbox_size=1)
    big, big_inbox = await start_inbox(bus, "a")
    gate = trio.Event()
    small.cast(("gate", gate))
    await settle()
    for n in range(3):
        EventBus.publish(bus, "a", n)
    gate.set()
    await small.call("log")
    await big.call("log")
    assert [data for _, data, _ in events(small_inbox.log)] == [0]
    assert [data for _, data, _ in events(big_inbox.log)] == [0, 1, 2]
    await small.stop()
    await big.stop()


# ---------------------------------------------------------------- the bus stops


async def test_stopping_the_bus_ends_the_subscriptions(rt: Runtime) -> None:
    bus = await EventBus.start()
    ref, inbox = await start_inbox(bus, "a")
    monitor = await ref.call(lambda: GenServer.monitor(bus))  # to learn that the bus stopped
    gate = trio.Event()
    ref.cast(("gate", gate))
    EventBus.publish(bus, "a", 1)  # in the mailbox before the bus stops: still handled
    await EventBus.stop(bus)
    with pytest.raises(ServerNotRunningError):
        EventBus.publish(bus, "a", 2)
    inbox.unsubscribes[0]()  # a no-op once the bus is gone
    gate.set()
    assert (await ref.call("log"))[1:] == [
        ("info", BusEvent("a", 1, "a", bus)),
        ("info", Down(monitor, bus, "normal")),  # after the last event of the bus
    ]
    error = await ref.call(lambda: caught(lambda: EventBus.subscribe_self(bus, "a")))
    assert isinstance(error, ServerNotRunningError)
    # The process outlives its bus and stops normally (its exit does not touch the bus).
    await ref.stop()
    assert ref.exit_reason == "normal"


async def test_the_default_bus_stops_after_its_subscribers(rt: Runtime) -> None:
    # Left running: the runtime stops the process first, then the default bus.
    ref, _ = await start_inbox(rt.event_bus, "a")
    EventBus.publish(rt.event_bus, "a", 1)
    assert ref.is_running()


# ---------------------------------------------------------------- bad arguments and misuse


async def test_bad_arguments(rt: Runtime) -> None:
    bus = rt.event_bus
    gone = await EventBus.start()
    await EventBus.stop(gone)
    ref, _ = await start_inbox(bus)

    async def attempt(target: Any, pattern: Any) -> BaseException | None:
        with trio.testing.assert_checkpoints():
            return await caught(lambda: EventBus.subscribe_self(target, pattern))

    cases: list[tuple[Any, Any, type[BaseException], str]] = [
        (bus, 42, TypeError, r"^expected pattern to be a str, got 42$"),
        (bus, "a..b", ValueError, r"^invalid pattern 'a\.\.b': empty segment at position 2$"),
        (bus, "", ValueError, r"^invalid pattern '': "),
        (42, "a", TypeError, r"^expected target to be a GenServerRef or a registered name, got"),
        (ref, "a", TypeError, r"^expected bus to be an EventBusRef or the name of one, got <"),
        ("nobody", "a", ServerNotRunningError, r"'nobody'"),
        (gone, "a", ServerNotRunningError, r"EventBus#\d+"),
    ]
    for target, pattern, error, message in cases:

        async def check(target: Any = target, pattern: Any = pattern) -> BaseException | None:
            return await attempt(target, pattern)

        with pytest.raises(error, match=message):
            raise await ref.call(check)
        assert await EventBus.subscription_count(bus) == 0
    await ref.stop()


async def test_outside_a_process_it_raises_not_in_process_error(rt: Runtime) -> None:
    message = (
        r"^EventBus\.subscribe_self\(\) can only be used inside a GenServer process; "
        r"from plain Trio code use `async with EventBus\.listen\(bus, pattern\)`$"
    )
    with trio.testing.assert_checkpoints(), pytest.raises(NotInProcessError, match=message) as info:
        await EventBus.subscribe_self(rt.event_bus, "a")
    assert info.value.operation == "EventBus.subscribe_self()"
    assert info.value.where == "a GenServer process"

    # A handler runs in a task of the bus, in no process.
    errors: list[BaseException] = []

    async def handler(data: object, topic: str) -> None:
        try:
            await EventBus.subscribe_self(rt.event_bus, "b")
        except NotInProcessError as exc:
            errors.append(exc)

    unsubscribe = await EventBus.subscribe(rt.event_bus, "a", handler)
    await EventBus.publish_sync(rt.event_bus, "a", None)
    assert len(errors) == 1
    unsubscribe()

    # A supervisor's child start function runs in the supervisor: not a GenServer.
    async def start() -> GenServerRef[Any, Any, Any]:
        await EventBus.subscribe_self(rt.event_bus, "c")
        raise AssertionError("unreachable")  # pragma: no cover

    with pytest.raises(NotInProcessError, match=message):
        await Supervisor.start([ChildSpec("x", start)])
    assert await EventBus.subscription_count(rt.event_bus) == 0


async def test_a_cancelled_subscribe_self_makes_no_subscription(rt: Runtime) -> None:
    bus = rt.event_bus
    ref, _ = await start_inbox(bus)

    async def cancelled() -> None:
        with trio.CancelScope() as scope:
            scope.cancel()
            await EventBus.subscribe_self(bus, "a")
        assert scope.cancelled_caught

    await ref.call(cancelled)
    assert await EventBus.subscription_count(bus) == 0
    await ref.stop()


# ---------------------------------------------------------------- garbage


async def test_subscribe_publish_and_exit_leave_no_cyclic_garbage(rt: Runtime) -> None:
    bus = await EventBus.start()

    async def lifecycle() -> None:
        ref, inbox = await start_inbox(bus, "a", "a.**")
        EventBus.publish(bus, "a", 1)
        await ref.call("log")
        inbox.unsubscribes[0]()
        await ref.stop()

    await assert_no_cyclic_garbage(lifecycle)

    async def bus_lifecycle() -> None:
        other = await EventBus.start()
        ref, _ = await start_inbox(other, "a")
        EventBus.publish(other, "a", 1)
        await EventBus.stop(other)
        await ref.stop()

    await assert_no_cyclic_garbage(bus_lifecycle)
    await EventBus.stop(bus)


async def test_a_process_keeping_its_unsubscribe_is_no_cycle(rt: Runtime) -> None:
    # The usual pattern: the process keeps its ``unsubscribe`` (here in its behaviour); its
    # exit must not leave the record in a reference cycle, for either kind of subscription.
    class Keeper(GenServer[None, Any, Any, Any]):
        async def init(self, bus: EventBusRef) -> None:
            self.unsubscribes = [
                await EventBus.subscribe_self(bus, "a"),
                await EventBus.subscribe(bus, "a", print),
            ]

    async def lifecycle() -> None:
        ref = await GenServer.start(Keeper, rt.event_bus)
        await ref.stop()

    await assert_no_cyclic_garbage(lifecycle)


# ---------------------------------------------------------------- the guide's example


async def test_the_guide_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert await event_mailbox.main() == ["Placed", "Paid", "Shipped"]
    assert capsys.readouterr().out == "order 1: Placed -> Paid -> Shipped\n"


async def test_events_left_in_the_mailbox_of_a_dying_process_are_dead_letters(rt: Runtime) -> None:
    bus = rt.event_bus
    ref, inbox = await start_inbox(bus, "a")
    gate = trio.Event()
    ref.cast(("gate", gate))
    EventBus.publish(bus, "a", 1)
    EventBus.publish(bus, "a", 2)
    GenServer.exit(ref, "bye")  # overtakes the mailbox: both events are left behind
    gate.set()
    assert await GenServer.wait_exit(ref) == "bye"
    assert events(inbox.log) == []
    assert rt.statistics().dead_letters == 2
