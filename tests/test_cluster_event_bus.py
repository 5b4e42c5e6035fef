"""A cluster-wide EventBus (docs/guides/cluster.md, "A cluster-wide EventBus"): what a node
publishes on ``EventBus.start(name, cluster=True)`` reaches the subscribers of every node
running a cluster bus of that name.

The nodes run in this process (runtimes in tasks of their own, on a real nats-server); the
last test has one in a child process."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import trio

from noex_trio import (
    BusEvent,
    EventBus,
    EventBusRef,
    GenServer,
    NoexError,
    NoRuntimeError,
    RemoteRef,
    open_runtime,
)
from noex_trio import nats as nats_client
from noex_trio.cluster import Codec, CodecError, NodeDown, NodeUp
from noex_trio.cluster._identity import name_token
from noex_trio.nats.testing import NatsServer
from tests.cluster_behaviours import Echo
from tests.cluster_support import LIMIT, config, next_event, open_peer, wait_members
from tests.test_cluster_remote import open_node


class Inbox:
    """A bus handler keeping ``(topic, data)``; `until` waits for a topic (no polling)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self._changed = trio.Event()

    def __call__(self, data: Any, topic: str) -> None:
        self.items.append((topic, data))
        self._changed.set()
        self._changed = trio.Event()

    async def until(self, topic: str, count: int = 1) -> None:
        while sum(1 for seen, _ in self.items if seen == topic) < count:
            await self._changed.wait()


class Follower(GenServer[list[BusEvent], Any, Any, Any]):
    """Subscribes itself to a cluster bus in ``init``; keeps the `BusEvent`s it gets."""

    async def init(self, pattern: str, inbox: Inbox) -> list[BusEvent]:
        await EventBus.subscribe_self("orders", pattern)
        self.inbox = inbox
        return []

    def handle_info(self, msg: Any, events: list[BusEvent]) -> list[BusEvent]:
        assert isinstance(msg, BusEvent)
        events.append(msg)
        self.inbox(msg, msg.topic)
        return events

    def handle_call(self, msg: Any, events: list[BusEvent]) -> tuple[Any, list[BusEvent]]:
        return list(events), events


async def start_orders() -> EventBusRef:
    return await EventBus.start("orders", cluster=True)


async def test_events_reach_every_node_of_the_bus_in_publish_order(
    nats_server: NatsServer,
) -> None:
    url = nats_server.url
    star, globstar, everything, audit_b = Inbox(), Inbox(), Inbox(), Inbox()
    with trio.fail_after(LIMIT):
        async with open_node(url, "b") as b, open_node(url, "c") as c:
            await b.run(start_orders)
            await b.run(lambda: EventBus.subscribe("orders", "order.*", star))
            await b.run(lambda: EventBus.start("audit", cluster=True))
            await b.run(lambda: EventBus.subscribe("audit", "**", audit_b))
            await c.run(start_orders)
            await c.run(lambda: EventBus.subscribe("orders", "order.**", globstar))
            async with open_runtime("a", cluster=config(url, "a")):
                bus = await start_orders()
                await EventBus.subscribe(bus, "*", everything)
                audit = await EventBus.start("audit", cluster=True)
                EventBus.publish(bus, "order.created", 1)
                EventBus.publish(bus, "order.eu.paid", 2)
                EventBus.publish(bus, "user.created", 3)
                EventBus.publish("orders", "order", {"n": 4})
                for i in range(200):
                    EventBus.publish(bus, "order.seq", i)
                EventBus.publish(audit, "done", None)  # (after everything on "orders")
                await EventBus.publish_sync(bus, "order.end", None)
                await c.run(lambda: EventBus.publish_sync("orders", "order.from-c", "c"))
                await star.until("order.end")
                await star.until("order.from-c")
                await globstar.until("order.end")
                await everything.until("order.from-c")
                await audit_b.until("done")
                seq = [("order.seq", i) for i in range(200)]
                from_c = ("order.from-c", "c")
                # `*` is one segment, `**` zero or more; one publisher's events in order (a's
                # and c's may interleave)
                assert star.items.count(from_c) == 1
                star.items.remove(from_c)
                assert star.items == [("order.created", 1), *seq, ("order.end", None)]
                assert globstar.items.count(from_c) == 1  # its own, delivered once
                globstar.items.remove(from_c)
                assert globstar.items == [
                    ("order.created", 1),
                    ("order.eu.paid", 2),
                    ("order", {"n": 4}),
                    *seq,
                    ("order.end", None),
                ]
                # the publisher's own events once (locally), another node's as they come
                assert everything.items == [
                    ("order.created", 1),
                    ("order.eu.paid", 2),
                    ("user.created", 3),
                    ("order", {"n": 4}),
                    *seq,
                    ("order.end", None),
                    ("order.from-c", "c"),
                ]
                # a bus of another name gets none of them
                assert audit_b.items == [("done", None)]
                stats = EventBus.statistics(bus)
                assert (stats.published, stats.cluster_sent, stats.cluster_received) == (
                    205,
                    205,
                    1,
                )
                assert (stats.cluster_dropped, stats.cluster_garbage) == (0, 0)
                assert stats.delivered == 206
            b_stats = await b.run(lambda: _statistics("orders"))
            assert (b_stats.published, b_stats.cluster_sent, b_stats.cluster_received) == (
                0,
                0,
                206,
            )
            assert b_stats.delivered == 203  # (order.eu.paid, user.created, order: no match)
            assert (await b.run(lambda: _statistics("audit"))).cluster_received == 1


async def _statistics(bus: str) -> Any:
    await trio.lowlevel.checkpoint()
    return EventBus.statistics(bus)


async def test_processes_subscribed_themselves_get_the_events_of_other_nodes(
    nats_server: NatsServer,
) -> None:
    url = nats_server.url
    inbox = Inbox()
    with trio.fail_after(LIMIT):
        async with open_node(url, "b") as b:
            b_bus = await b.run(start_orders)
            follower = await b.run(lambda: GenServer.start(Follower, "order.*", inbox))
            async with open_runtime("a", cluster=config(url, "a")):
                bus = await start_orders()
                echo = await GenServer.start(Echo)
                for i in range(50):
                    EventBus.publish(bus, "order.created", i)
                EventBus.publish(bus, "order.echo", echo)  # a ref travels as any message
                EventBus.publish(bus, "user.created", None)
                await inbox.until("order.echo")
                events = await b.run(lambda: GenServer.call(follower, "events"))
                assert [event.data for event in events[:50]] == list(range(50))
                assert {(event.topic, event.pattern, event.bus) for event in events[:50]} == {
                    ("order.created", "order.*", b_bus)
                }
                ref = events[-1].data
                assert type(ref) is RemoteRef
                assert ref.node.name == "a"
                assert await b.run(lambda: GenServer.call(ref, ("echo", "back"))) == "back"
                assert len(events) == 51


async def test_a_runtime_not_in_a_cluster_refuses_a_cluster_bus() -> None:
    with pytest.raises(NoRuntimeError):
        await EventBus.start("orders", cluster=True)
    async with open_runtime():
        with pytest.raises(NoexError, match=r"needs a runtime in a cluster \(open it with"):
            await EventBus.start("orders", cluster=True)
        with pytest.raises(TypeError, match=r"^expected cluster to be a bool, got 1$"):
            await EventBus.start("orders", cluster=1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"^expected name to be a str \(a cluster bus is"):
            await EventBus.start(cluster=True)
        bus = await EventBus.start("orders")  # nothing was left behind: the name is free
        assert EventBus.statistics(bus).cluster_sent == 0


async def test_hostile_publishers_on_the_bus_subjects(nats_server: NatsServer) -> None:
    """Garbage on a bus's subjects is counted and ignored; a well-formed event is delivered,
    whoever sent it (keep others from publishing there with NATS permissions)."""
    url = nats_server.url
    inbox = Inbox()
    with trio.fail_after(LIMIT):
        async with (
            open_runtime("a", cluster=config(url, "a")) as rt,
            nats_client.connect(url) as hostile,
        ):
            assert rt.node is not None
            bus = await start_orders()
            await EventBus.subscribe(bus, "**", inbox)
            base = f"{rt.node._config.prefix}.bus.orders"
            ghost = {"Noex-From": name_token("ghost"), "Noex-From-Inc": "7"}
            good = Codec().encode("from a ghost")
            await hostile.publish(f"{base}.order", good)  # no publisher
            await hostile.publish(f"{base}.order", good, headers={"Noex-From": "!"})
            await hostile.publish(f"{base}.order", b"\xff not a codec's", headers=ghost)
            await hostile.publish(f"{base}.~b3JkZXIuY3JlYXRlZA", good, headers=ghost)  # a dot
            await hostile.publish(f"{base}.~!!", good, headers=ghost)
            await hostile.publish(f"{base}.~b3JkZXI", good, headers=ghost)  # not canonical
            await hostile.publish(f"{base}.order.~KiE", good, headers=ghost)  # a wildcard
            await hostile.publish(f"{base}.~b3JkZXIh.x", good, headers=ghost)  # "order!.x"
            await inbox.until("order!.x")
            assert inbox.items == [("order!.x", "from a ghost")]
            stats = EventBus.statistics(bus)
            assert (stats.cluster_garbage, stats.cluster_received, stats.delivered) == (7, 1, 1)
            assert rt.node.statistics().garbage_received >= 7


async def test_what_cannot_travel(nats_server: NatsServer) -> None:
    """Data the codec cannot encode, or a topic too long for a subject, is refused at publish
    (delivered nowhere); events that cannot be sent now (a full outbound buffer) are
    dropped for the other nodes and counted, never raised."""
    url = nats_server.url
    here, there = Inbox(), Inbox()
    with trio.fail_after(LIMIT):
        async with open_node(url, "b") as b:
            await b.run(start_orders)
            await b.run(lambda: EventBus.subscribe("orders", "**", there))
            async with open_runtime("a", cluster=config(url, "a")) as rt:
                assert rt.node is not None
                bus = await start_orders()
                await EventBus.subscribe(bus, "**", here)
                with pytest.raises(CodecError):
                    EventBus.publish(bus, "order.odd", object())
                with pytest.raises(CodecError):
                    await EventBus.publish_sync(bus, "order.odd", object())
                with pytest.raises(ValueError, match=r"too long for a cluster bus"):
                    EventBus.publish(bus, "x" * 5000, None)
                with pytest.raises(ValueError, match=r"wildcards are not allowed"):
                    EventBus.publish(bus, "order.*", None)
                for _ in range(20):  # (no await: the outbound buffer has no time to drain)
                    EventBus.publish(bus, "order.big", "x" * 900_000)
                dropped = EventBus.statistics(bus).cluster_dropped
                assert dropped > 0
                await rt.node._nc.flush()  # (the buffer drained)
                EventBus.publish(bus, "order.ü ~.end", None)  # sent again
                await there.until("order.ü ~.end")
                await here.until("order.ü ~.end")
                assert [topic for topic, _ in here.items] == ["order.big"] * 20 + ["order.ü ~.end"]
                assert [topic for topic, _ in there.items] == ["order.big"] * (20 - dropped) + [
                    "order.ü ~.end"
                ]
                stats = EventBus.statistics(bus)
                assert (stats.published, stats.cluster_sent) == (21, 21 - dropped)


async def test_a_bus_started_while_disconnected_subscribes_on_reconnecting(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("noex_trio._cluster_bus._CACHE", 2)  # (caches cleared when full)
    url = nats_server.url
    inbox = Inbox()
    with trio.fail_after(LIMIT):
        async with open_node(url, "b") as b, open_runtime("a", cluster=config(url, "a")) as rt:
            node = rt.node
            assert node is not None
            await wait_members(node, "b")
            async with node.watch() as events:
                await nats_server.kill()
                await next_event(events, NodeDown, "b")
                bus = await start_orders()  # nothing answers now: it subscribes on reconnecting
                await EventBus.subscribe(bus, "**", inbox)
                await nats_server.start()
                await next_event(events, NodeUp, "b")
            await node._nc.flush()  # (this node's subscriptions reached the server)
            await b.run(start_orders)
            EventBus.publish(bus, "t.local", None)
            for i in range(5):
                await b.run(functools.partial(EventBus.publish_sync, "orders", f"t.{i % 3}", i))
            await inbox.until("t.1", 2)
            assert inbox.items == [
                ("t.local", None),
                ("t.0", 0),
                ("t.1", 1),
                ("t.2", 2),
                ("t.0", 3),
                ("t.1", 4),
            ]


class Bomb:
    """Registered on node b with a `from_wire` that raises KeyboardInterrupt."""


def _explode(_value: object) -> Bomb:
    raise KeyboardInterrupt


async def test_a_fatal_error_while_receiving_ends_that_runtime(nats_server: NatsServer) -> None:
    url = nats_server.url
    bomb_b = Codec()
    bomb_b.register(Bomb, name="test.Bomb", to_wire=lambda _bomb: 0, from_wire=_explode)
    bomb_a = Codec()
    bomb_a.register(Bomb, name="test.Bomb", to_wire=lambda _bomb: 0, from_wire=lambda _v: Bomb())
    with trio.fail_after(LIMIT):
        async with open_runtime("a", cluster=config(url, "a", codec=bomb_a)):
            bus = await start_orders()
            with pytest.raises(BaseExceptionGroup) as info:  # (the helper's nursery)
                await _publish_a_bomb(url, bomb_b, bus)
            assert info.value.split(KeyboardInterrupt)[1] is None  # b's runtime raised it


async def _publish_a_bomb(url: str, codec: Codec, bus: EventBusRef) -> None:
    async with open_node(url, "b", codec=codec) as b:
        await b.run(start_orders)
        await b.run(lambda: EventBus.subscribe("orders", "**", Inbox()))
        EventBus.publish(bus, "boom", Bomb())
        await trio.sleep_forever()


async def test_a_node_process_publishes_and_subscribes(nats_server: NatsServer) -> None:
    """A node in a child process (``tests.cluster_runtime_peer``) echoes what it gets on its
    cluster bus ``orders`` (``ping.*``) back as ``pong.<same>``."""
    url = nats_server.url
    inbox = Inbox()
    with trio.fail_after(LIMIT * 2):
        async with open_runtime("a", cluster=config(url, "a")):
            bus = await start_orders()
            await EventBus.subscribe(bus, "pong.*", inbox)
            async with open_peer(url, "peer", runtime=True):
                for i in range(20):
                    EventBus.publish(bus, f"ping.{i % 3}", i)
                await inbox.until("pong.1", 7)
                await inbox.until("pong.0", 7)
                await inbox.until("pong.2", 6)
                assert [data for _, data in inbox.items] == list(range(20))
                assert inbox.items[0] == ("pong.0", 0)
