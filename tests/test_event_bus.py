"""Tests for the EventBus: matching, delivery, isolation, ownership, bad input.

Listeners (`EventBus.listen`) and stopping a bus are in ``test_event_bus_lifecycle.py``.

noex-inventory §8 checklist:

- row 50 (`*` matches everything, `a.*` one segment, middle wildcards, exact and wildcard both
  delivered): `test_noex_row_50_wildcards`, and the property `test_matching_agrees_with_reference`.
- row 51 (noex: trailing `*` also matches deeper topics) — decided *against*, following noex's
  docs: `test_noex_row_51_trailing_star_is_one_segment`.
- row 52 (a throwing handler does not stop others; `publish_sync` waits for delivery;
  unsubscribe is idempotent; a pattern is dropped with its last subscriber):
  `test_noex_row_52_*`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from noex_trio import (
    EventBus,
    EventBusRef,
    GenServer,
    GenServerRef,
    NoexError,
    Runtime,
    ServerNotRunningError,
    open_runtime,
)
from noex_trio._bus_server import BusServer
from noex_trio._context import current_process
from noex_trio._process import process_of
from noex_trio.testing import crash


class Counter(GenServer[int, str, int, int]):
    """Replies to any call with its state."""

    def init(self, start: int = 0) -> int:
        return start

    def handle_call(self, msg: str, state: int) -> tuple[int, int]:
        return state, state


async def settle() -> None:
    """Let every task run until all are blocked."""
    await trio.testing.wait_all_tasks_blocked()


class Recorder:
    """A handler that records ``(topic, data)`` pairs, sync or async."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def __call__(self, data: Any, topic: str) -> None:
        self.seen.append((topic, data))

    @property
    def topics(self) -> list[str]:
        return [topic for topic, _ in self.seen]


def server(bus: EventBusRef) -> BusServer:
    behaviour: BusServer = process_of(bus).behaviour
    return behaviour


# ---------------------------------------------------------------- matching


def reference_match(pattern: str, topic: str) -> bool:
    """The grammar of SPEC §5, written as plainly as possible (backtracking)."""
    if pattern == "*":
        return True
    p = pattern.split(".")
    t = topic.split(".")

    def match(i: int, j: int) -> bool:
        if i == len(p):
            return j == len(t)
        if p[i] == "**":
            return any(match(i + 1, k) for k in range(j, len(t) + 1))
        return j < len(t) and p[i] in ("*", t[j]) and match(i + 1, j + 1)

    return match(0, 0)


segments = st.sampled_from(["a", "b", "c"])
topics = st.lists(segments, min_size=1, max_size=4).map(".".join)
patterns = st.lists(st.sampled_from(["a", "b", "c", "*", "**"]), min_size=1, max_size=4).map(
    ".".join
)


@settings(deadline=None, max_examples=60)
@given(patterns=st.lists(patterns, min_size=1, max_size=6), published=st.lists(topics, max_size=8))
async def test_matching_agrees_with_reference(patterns: list[str], published: list[str]) -> None:
    """Every subscription gets exactly the topics the reference matcher selects, in order."""
    async with open_runtime() as rt:
        recorders = []
        for pattern in patterns:
            recorder = Recorder()
            await EventBus.subscribe(rt.event_bus, pattern, recorder)
            recorders.append(recorder)
        for n, topic in enumerate(published):
            EventBus.publish(rt.event_bus, topic, n)
        await settle()
        for pattern, recorder in zip(patterns, recorders, strict=True):
            expected = [(t, n) for n, t in enumerate(published) if reference_match(pattern, t)]
            assert recorder.seen == expected, pattern


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("user.created", ["user.created"], ["user", "user.created.x"]),
        ("user.*", ["user.created", "user.deleted"], ["user", "user.a.b"]),
        ("*.created", ["order.created"], ["created", "a.b.created"]),
        ("user.*.email", ["user.42.email"], ["user.email", "user.a.b.email"]),
        ("*", ["a", "a.b", "a.b.c"], []),
        ("user.**", ["user", "user.a", "user.a.b"], ["users", "admin.user"]),
        ("**.done", ["done", "a.done", "a.b.done"], ["done.a", "undone"]),
        ("a.**.z", ["a.z", "a.b.z", "a.b.c.z"], ["a", "z", "a.z.b"]),
        ("**", ["a", "a.b.c"], []),
    ],
)
async def test_grammar_table(
    rt: Runtime, pattern: str, matching: list[str], not_matching: list[str]
) -> None:
    """The table of the guide (and of `_topics`), end to end through a bus."""
    recorder = Recorder()
    await EventBus.subscribe(rt.event_bus, pattern, recorder)
    for topic in [*matching, *not_matching]:
        await EventBus.publish_sync(rt.event_bus, topic, None)
    assert recorder.topics == matching


async def test_noex_row_50_wildcards(rt: Runtime) -> None:
    everything, one_segment, middle, exact = Recorder(), Recorder(), Recorder(), Recorder()
    await EventBus.subscribe(rt.event_bus, "*", everything)
    await EventBus.subscribe(rt.event_bus, "user.*", one_segment)
    await EventBus.subscribe(rt.event_bus, "user.*.email", middle)
    await EventBus.subscribe(rt.event_bus, "user.created", exact)
    for topic in ["user.created", "user.42.email", "order.placed", "user"]:
        await EventBus.publish_sync(rt.event_bus, topic, topic)
    assert everything.topics == ["user.created", "user.42.email", "order.placed", "user"]
    assert one_segment.topics == ["user.created"]
    assert middle.topics == ["user.42.email"]
    assert exact.topics == ["user.created"]  # exact and wildcard subscribers both receive it


async def test_noex_row_51_trailing_star_is_one_segment(rt: Runtime) -> None:
    """noex's code lets `user.*` match `user.profile.updated`; its docs (and we) say no."""
    recorder = Recorder()
    await EventBus.subscribe(rt.event_bus, "user.*", recorder)
    await EventBus.publish_sync(rt.event_bus, "user.profile.updated", 1)
    await EventBus.publish_sync(rt.event_bus, "user.profile", 2)
    assert recorder.seen == [("user.profile", 2)]


async def test_index_skips_unrelated_subscriptions(rt: Runtime) -> None:
    """10 000 unrelated subscriptions are never looked at when publishing (the trie)."""
    bus = rt.event_bus
    for n in range(10_000):
        await EventBus.subscribe(bus, f"other{n}.*", lambda data, topic: None)
    recorder = Recorder()
    await EventBus.subscribe(bus, "user.created", recorder)
    await EventBus.publish_sync(bus, "user.created", 1)
    assert recorder.seen == [("user.created", 1)]
    assert server(bus).index._visited <= 3  # root, `user`, `user.created`


# ---------------------------------------------------------------- delivery


async def test_handler_receives_data_then_topic_sync_and_async(rt: Runtime) -> None:
    seen: list[tuple[str, Any, str]] = []

    def sync_handler(data: Any, topic: str) -> None:
        seen.append(("sync", data, topic))

    async def async_handler(data: Any, topic: str) -> None:
        await trio.lowlevel.checkpoint()
        seen.append(("async", data, topic))

    await EventBus.subscribe(rt.event_bus, "user.created", sync_handler)
    await EventBus.subscribe(rt.event_bus, "user.created", async_handler)
    await EventBus.publish_sync(rt.event_bus, "user.created", {"id": 1})
    assert sorted(seen) == [
        ("async", {"id": 1}, "user.created"),
        ("sync", {"id": 1}, "user.created"),
    ]


async def test_publish_is_sync_and_delivers_later(rt: Runtime) -> None:
    recorder = Recorder()
    await EventBus.subscribe(rt.event_bus, "a", recorder)
    EventBus.publish(rt.event_bus, "a", 1)
    assert recorder.seen == []  # handlers run in the bus's tasks, not in the publisher
    await settle()
    assert recorder.seen == [("a", 1)]


async def test_subscribing_twice_makes_two_subscriptions(rt: Runtime) -> None:
    recorder = Recorder()
    unsubscribe_first = await EventBus.subscribe(rt.event_bus, "a", recorder)
    await EventBus.subscribe(rt.event_bus, "a", recorder)
    assert await EventBus.subscription_count(rt.event_bus) == 2
    await EventBus.publish_sync(rt.event_bus, "a", 1)
    assert recorder.seen == [("a", 1), ("a", 1)]
    unsubscribe_first()
    await EventBus.publish_sync(rt.event_bus, "a", 2)
    assert recorder.seen == [("a", 1), ("a", 1), ("a", 2)]


async def test_each_subscriber_sees_publish_order(rt: Runtime, autojump_clock: Any) -> None:
    """Async handlers taking different times still see their events in publish order."""
    orders: dict[int, list[int]] = {0: [], 1: [], 2: []}

    def make(index: int) -> Callable[[int, str], Any]:
        async def handler(data: int, topic: str) -> None:
            await trio.sleep((data * (index + 3)) % 5 / 10)
            orders[index].append(data)

        return handler

    for index in orders:
        await EventBus.subscribe(rt.event_bus, "tick", make(index))
    for n in range(50):
        EventBus.publish(rt.event_bus, "tick", n)
    await EventBus.publish_sync(rt.event_bus, "tick", 50)
    for seen in orders.values():
        assert seen == list(range(51))


async def test_long_backlog_is_delivered_in_order(rt: Runtime) -> None:
    """A sync handler with a long queue yields now and then but keeps the order."""
    recorder = Recorder()
    await EventBus.subscribe(rt.event_bus, "a", recorder)
    for n in range(500):
        EventBus.publish(rt.event_bus, "a", n)
    await EventBus.publish_sync(rt.event_bus, "a", 500)
    assert [data for _, data in recorder.seen] == list(range(501))


async def test_slow_handler_delays_only_itself(rt: Runtime) -> None:
    release = trio.Event()
    slow_seen: list[int] = []
    fast = Recorder()

    async def slow(data: int, topic: str) -> None:
        await release.wait()
        slow_seen.append(data)

    await EventBus.subscribe(rt.event_bus, "job", slow)
    await EventBus.subscribe(rt.event_bus, "job", fast)
    for n in range(3):
        EventBus.publish(rt.event_bus, "job", n)  # never blocks on the slow handler
    await settle()
    assert fast.seen == [("job", 0), ("job", 1), ("job", 2)]
    assert slow_seen == []
    release.set()
    await settle()
    assert slow_seen == [0, 1, 2]


async def test_noex_row_52_throwing_handler_is_logged_and_stays(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def bad(data: int, topic: str) -> None:
        calls.append(data)
        raise ValueError(f"bad {data}")

    async def bad_async(data: int, topic: str) -> None:
        await trio.lowlevel.checkpoint()
        raise KeyError(data)

    good = Recorder()
    await EventBus.subscribe(rt.event_bus, "order.*", bad)
    await EventBus.subscribe(rt.event_bus, "order.*", bad_async)
    await EventBus.subscribe(rt.event_bus, "order.*", good)
    with caplog.at_level(logging.ERROR, logger="noex_trio"):
        await EventBus.publish_sync(rt.event_bus, "order.placed", 1)  # does not raise
        await EventBus.publish_sync(rt.event_bus, "order.shipped", 2)
    assert calls == [1, 2]  # still subscribed after raising
    assert good.seen == [("order.placed", 1), ("order.shipped", 2)]
    assert await EventBus.subscription_count(rt.event_bus) == 3
    # The two failing subscriptions run concurrently: their records may interleave.
    records = sorted(caplog.records, key=lambda r: r.getMessage())
    assert len(records) == 4
    expected = [
        (r"bad", "placed", ValueError),
        (r"bad", "shipped", ValueError),
        (r"bad_async", "placed", KeyError),
        (r"bad_async", "shipped", KeyError),
    ]
    for record, (name, topic, error) in zip(records, expected, strict=True):
        assert re.fullmatch(
            rf"EventBus#\d+: handler <function .*\.{name} at .*> of 'order\.\*' raised on "
            rf"topic 'order\.{topic}'; it stays subscribed",
            record.getMessage(),
        )
        assert record.exc_info is not None
        assert type(record.exc_info[1]) is error


async def test_noex_row_52_publish_sync_waits_for_handlers(
    rt: Runtime, autojump_clock: Any
) -> None:
    done: list[str] = []

    async def slow(data: str, topic: str) -> None:
        await trio.sleep(2.0)
        done.append(data)

    await EventBus.subscribe(rt.event_bus, "job", slow)
    EventBus.publish(rt.event_bus, "job", "first")
    start = trio.current_time()
    await EventBus.publish_sync(rt.event_bus, "job", "second")
    assert done == ["first", "second"]  # the earlier publish was handled first (order)
    assert trio.current_time() - start == 4.0


async def test_publish_sync_without_subscribers_returns(rt: Runtime) -> None:
    with trio.fail_after(1):
        await EventBus.publish_sync(rt.event_bus, "nobody.listens", 1)


async def test_publish_sync_from_own_handler_is_refused(rt: Runtime) -> None:
    errors: list[BaseException] = []

    async def handler(data: int, topic: str) -> None:
        if data == 0:
            try:
                await EventBus.publish_sync(rt.event_bus, "loop", 1)
            except NoexError as exc:
                errors.append(exc)
            await EventBus.publish_sync(rt.event_bus, "elsewhere", 1)  # fine: no self-wait

    await EventBus.subscribe(rt.event_bus, "loop", handler)
    await EventBus.publish_sync(rt.event_bus, "loop", 0)
    assert len(errors) == 1
    assert re.fullmatch(
        r"publish_sync of 'loop' from a handler of 'loop', which matches it, "
        r"would wait for itself; use publish",
        str(errors[0]),
    )


async def test_noex_row_52_unsubscribe_is_idempotent_and_drops_pattern(rt: Runtime) -> None:
    bus = rt.event_bus
    recorder = Recorder()
    first = await EventBus.subscribe(bus, "user.*", recorder)
    second = await EventBus.subscribe(bus, "user.*", recorder)
    await EventBus.subscribe(bus, "order.placed", recorder)
    assert await EventBus.topics(bus) == ["user.*", "order.placed"]
    first()
    first()
    assert await EventBus.topics(bus) == ["user.*", "order.placed"]
    assert await EventBus.subscription_count(bus) == 2
    second()
    assert await EventBus.topics(bus) == ["order.placed"]
    assert await EventBus.subscription_count(bus) == 1
    await EventBus.publish_sync(bus, "user.created", 1)
    assert recorder.seen == []


async def test_unsubscribe_drops_queued_events(rt: Runtime) -> None:
    release = trio.Event()
    seen: list[int] = []

    async def handler(data: int, topic: str) -> None:
        await release.wait()
        seen.append(data)

    unsubscribe = await EventBus.subscribe(rt.event_bus, "a", handler)
    for n in range(3):
        EventBus.publish(rt.event_bus, "a", n)
    await settle()  # the handler is running on event 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(EventBus.publish_sync, rt.event_bus, "a", 3)
        await settle()
        unsubscribe()  # events 1, 2, 3 are dropped; publish_sync returns
    release.set()
    await settle()
    assert seen == [0]  # the running handler finished
    assert server(rt.event_bus).subscriptions == {}


async def test_handlers_run_outside_any_process(rt: Runtime) -> None:
    """A handler may call the process that subscribed it (no CallToSelfError)."""
    replies: list[object] = []
    counter = await GenServer.start(Counter, 5)

    class Subscriber(GenServer[None, str, str, None]):
        async def init(self) -> None:
            async def handler(data: int, topic: str) -> None:
                replies.append(current_process())
                replies.append(await counter.call("get"))

            await EventBus.subscribe(rt.event_bus, "ping", handler)

    await GenServer.start(Subscriber)
    await EventBus.publish_sync(rt.event_bus, "ping", 1)
    assert replies == [None, 5]


# ---------------------------------------------------------------- ownership


class Owner(GenServer[None, str, str, None]):
    """Subscribes `seen.append` to `pattern` in init (the subscription belongs to it)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    async def init(self, bus: EventBusRef, pattern: str) -> None:
        await EventBus.subscribe(bus, pattern, lambda data, topic: self.seen.append((topic, data)))

    async def handle_call(self, msg: str, state: None) -> tuple[None, None]:
        await EventBus.subscribe(current_bus(), msg, lambda data, topic: None)
        return None, None


def current_bus() -> EventBusRef:
    from noex_trio import current_runtime

    return current_runtime().event_bus


async def check_owner_cleanup(
    rt: Runtime, exit_how: Callable[[GenServerRef[Any, Any, Any]], Awaitable[object]]
) -> None:
    owner = Owner()
    ref = await GenServer.start(owner, rt.event_bus, "user.*")
    await ref.call("order.*")  # a subscription made in a handler belongs to it too
    outsider = await EventBus.subscribe(rt.event_bus, "user.*", lambda data, topic: None)
    assert await EventBus.subscription_count(rt.event_bus) == 3
    await EventBus.publish_sync(rt.event_bus, "user.created", 1)
    await exit_how(ref)
    assert await EventBus.subscription_count(rt.event_bus) == 1
    assert await EventBus.topics(rt.event_bus) == ["user.*"]
    await EventBus.publish_sync(rt.event_bus, "user.created", 2)
    assert owner.seen == [("user.created", 1)]
    outsider()


async def test_subscriptions_vanish_when_owner_stops(rt: Runtime) -> None:
    await check_owner_cleanup(rt, lambda ref: ref.stop())


async def test_subscriptions_vanish_when_owner_crashes() -> None:
    # Its own runtime: the logged crash keeps the process alive in caplog, which `rt` would
    # report as a leak.
    async with open_runtime() as rt:

        async def crash_it(ref: GenServerRef[Any, Any, Any]) -> None:
            crash(ref, ValueError("boom"))
            await GenServer.wait_exit(ref)

        await check_owner_cleanup(rt, crash_it)


async def test_unsubscribe_removes_the_owner_exit_hook(rt: Runtime) -> None:
    unsubscribes: list[Callable[[], None]] = []

    class Sub(GenServer[None, str, str, None]):
        def init(self) -> None:
            return None

        async def handle_call(self, msg: str, state: None) -> tuple[None, None]:
            if msg == "sub":
                unsubscribes.append(await EventBus.subscribe(current_bus(), "a", print))
            else:
                unsubscribes.pop()()
            return None, None

    ref = await GenServer.start(Sub)
    await ref.call("sub")
    hooks = process_of(ref).exit_hooks
    assert hooks is not None
    assert len(hooks) == 1
    await ref.call("unsub")
    assert process_of(ref).exit_hooks == {}
    await ref.stop()


async def test_subscription_of_a_failed_init_is_removed(rt: Runtime) -> None:
    class Fails(GenServer[None, str, str, None]):
        async def init(self) -> None:
            await EventBus.subscribe(current_bus(), "a", print)
            raise ValueError("no")

    with pytest.raises(Exception, match=r"^Fails#\d+ failed to start"):
        await GenServer.start(Fails)
    assert await EventBus.subscription_count(rt.event_bus) == 0


# ---------------------------------------------------------------- buses and bad input


async def test_named_bus(rt: Runtime) -> None:
    bus = await EventBus.start(name="events")
    assert isinstance(bus, EventBusRef)
    assert re.fullmatch(r"<EventBusRef events#\d+>", repr(bus))
    recorder = Recorder()
    await EventBus.subscribe("events", "a", recorder)
    EventBus.publish("events", "a", 1)
    await EventBus.publish_sync("events", "a", 2)
    assert recorder.seen == [("a", 1), ("a", 2)]
    assert await EventBus.subscription_count("events") == 1
    assert await EventBus.topics("events") == ["a"]
    # Buses are independent.
    assert await EventBus.subscription_count(rt.event_bus) == 0
    await EventBus.stop("events")
    assert not bus.is_running()
    await EventBus.stop("events")  # idempotent (the name is gone)
    await EventBus.stop(bus)


async def test_default_bus_is_unnamed_and_unique_per_runtime(rt: Runtime) -> None:
    assert re.fullmatch(r"<EventBusRef EventBus#\d+>", repr(rt.event_bus))
    assert rt.registry.names() == []
    async with open_runtime() as other:
        assert other.event_bus is not rt.event_bus


@pytest.mark.parametrize(
    ("topic", "error", "message"),
    [
        ("", ValueError, r"invalid topic '': topic is empty"),
        ("a..b", ValueError, r"invalid topic 'a\.\.b': empty segment at position 2"),
        ("user.*", ValueError, r"invalid topic 'user\.\*': wildcards are not allowed .*"),
        (42, TypeError, r"expected topic to be a str, got 42"),
    ],
)
async def test_bad_topic(rt: Runtime, topic: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=f"^{message}$"):
        EventBus.publish(rt.event_bus, topic, None)
    with pytest.raises(error, match=f"^{message}$"):
        await EventBus.publish_sync(rt.event_bus, topic, None)


@pytest.mark.parametrize(
    ("pattern", "error", "message"),
    [
        ("", ValueError, r"invalid pattern '': pattern is empty"),
        ("a.", ValueError, r"invalid pattern 'a\.': empty segment at position 2"),
        ("us*er", ValueError, r"invalid pattern 'us\*er': '\*' must be a whole segment"),
        ("a.***", ValueError, r"invalid pattern 'a\.\*\*\*': '\*\*\*' at position 2 .*"),
        (None, TypeError, r"expected pattern to be a str, got None"),
    ],
)
async def test_bad_pattern(rt: Runtime, pattern: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=f"^{message}$"):
        await EventBus.subscribe(rt.event_bus, pattern, print)
    with pytest.raises(error, match=f"^{message}$"):
        EventBus.listen(rt.event_bus, pattern)
    assert await EventBus.subscription_count(rt.event_bus) == 0


async def test_bad_handler_and_bus(rt: Runtime) -> None:
    with pytest.raises(TypeError, match=r"^expected handler to be callable, got 42$"):
        await EventBus.subscribe(rt.event_bus, "a", 42)  # type: ignore[arg-type]
    counter: GenServerRef[Any, Any, Any] = await GenServer.start(Counter)
    with pytest.raises(
        TypeError, match=r"^expected bus to be an EventBusRef or the name of one, got"
    ):
        EventBus.publish(counter, "a", 1)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"^expected target to be a GenServerRef or a registered name"
    ):
        EventBus.publish(42, "a", 1)  # type: ignore[arg-type]
    with pytest.raises(ServerNotRunningError, match=r"^'nope' is not running$"):
        EventBus.publish("nope", "a", 1)
    with pytest.raises(TypeError, match=r"is not a GenServer; use the functions of its own facade"):
        await GenServer.call(rt.event_bus, "hi")


async def test_stopped_bus_refuses_everything(rt: Runtime) -> None:
    bus = await EventBus.start()
    await EventBus.stop(bus)
    no = r"^EventBus#\d+ is not running \(exit reason: 'normal'\)$"
    with pytest.raises(ServerNotRunningError, match=no):
        EventBus.publish(bus, "a", 1)
    with pytest.raises(ServerNotRunningError, match=no):
        await EventBus.publish_sync(bus, "a", 1)
    with pytest.raises(ServerNotRunningError, match=no):
        await EventBus.subscribe(bus, "a", print)
    with pytest.raises(ServerNotRunningError, match=no):
        await EventBus.subscription_count(bus)
    with pytest.raises(ServerNotRunningError, match=no):
        await EventBus.topics(bus)
    with pytest.raises(ServerNotRunningError, match=no):
        async with EventBus.listen(bus, "a"):
            pass  # pragma: no cover
