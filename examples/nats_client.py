"""The NATS client from end to end: publish/subscribe, a request/reply service, headers,
slow consumers, and a connection that rides out a server restart.

Each function takes the URL of a running ``nats-server`` and returns the lines it would print.
``tests/test_examples_nats.py`` runs them against a real server (the ``nats_server`` fixture);
``docs/guides/nats-client.md`` walks through them. Run it by hand with a server on the default
port: ``nats-server & python -m examples.nats_client``.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable

import trio

from noex_trio import nats


async def publish_subscribe(url: str) -> list[str]:
    lines: list[str] = []
    # --8<-- [start:pubsub]
    async with nats.connect(url) as nc, nc.subscribe("greet.*") as sub:
        await nc.publish("greet.joe", b"hello")
        await nc.publish("greet.ann", b"hi", headers={"Lang": "en"})
        async for msg in sub:
            lines.append(f"{msg.subject}: {msg.data!r}")
            if msg.headers is not None:
                lines.append(f"  headers: {dict(msg.headers)}")
                break
    # --8<-- [end:pubsub]
    return lines


# --8<-- [start:service]
async def echo_service(
    nc: nats.Connection, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Answer every request on ``svc.echo``; members of the queue group share the load."""
    async with nc.subscribe("svc.echo", queue="echo") as sub:
        await nc.flush()  # the server knows the subscription: requests can come
        task_status.started()
        async for msg in sub:
            await msg.respond(b"echo: " + msg.data)


# --8<-- [end:service]


async def request_reply(url: str) -> list[str]:
    lines: list[str] = []
    # --8<-- [start:request]
    async with nats.connect(url) as nc, trio.open_nursery() as nursery:
        await nursery.start(echo_service, nc)
        reply = await nc.request("svc.echo", b"ping", timeout=2.0)
        lines.append(f"reply: {reply.data!r}")
        try:
            await nc.request("svc.nobody", b"ping", timeout=2.0)
        except nats.NoRespondersError as exc:
            lines.append(f"error: {exc}")
        nursery.cancel_scope.cancel()
    # --8<-- [end:request]
    return lines


async def slow_consumer(url: str) -> list[str]:
    lines: list[str] = []
    # --8<-- [start:slow]
    async with nats.connect(url) as nc, nc.subscribe("ticks", max_pending=3) as sub:
        for n in range(10):
            await nc.publish("ticks", b"%d" % n)
        await nc.flush()  # everything published has reached the subscription
        stats = sub.statistics()
        lines.append(f"queued {stats.pending_msgs}, dropped {stats.dropped}")
    # --8<-- [end:slow]
    return lines


async def restart(url: str, restart_server: Callable[[], Awaitable[None]]) -> list[str]:
    lines: list[str] = []
    # --8<-- [start:reconnect]
    async with (
        nats.connect([url], reconnect_delay=0.05, reconnect_max_delay=1.0, ping_interval=5) as nc,
        nc.events() as events,
        nc.subscribe("orders.>") as sub,
    ):
        await restart_server()  # the server goes away and comes back
        async for event in events:
            lines.append(f"event: {event.kind}")
            if event.kind == "reconnected":
                break
        await nc.publish("orders.new", b"42")  # the subscription was restored
        lines.append(f"after: {(await sub.receive()).data!r}")
    # --8<-- [end:reconnect]
    return lines


async def secured(url: str, context: ssl.SSLContext) -> None:
    # --8<-- [start:secure]
    async with nats.connect(url, user="app", password="s3cret", tls=context) as nc:
        await nc.flush()
    # --8<-- [end:secure]


async def main(url: str = "nats://127.0.0.1:4222") -> None:
    for lines in (
        await publish_subscribe(url),
        await request_reply(url),
        await slow_consumer(url),
    ):
        print("\n".join(lines))


if __name__ == "__main__":
    trio.run(main)
