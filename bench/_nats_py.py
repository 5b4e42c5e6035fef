"""The nats-py side of ``python -m bench.cluster_call``: request/reply with the official asyncio
NATS client, each role in an OS process of its own (the baseline the cluster figures are
compared with).

``python -m bench._nats_py respond URL SUBJECT``: subscribes to SUBJECT and answers every
request with its payload; prints ``ready``, then runs until its stdin closes.

``python -m bench._nats_py request URL SUBJECT``: checks that SUBJECT echoes, prints
``ready``, then for every line ``N CALLERS`` read from stdin sends N requests to SUBJECT from
CALLERS concurrent asyncio tasks (each awaits its reply before sending the next) and prints the
seconds they took; exits when its stdin closes.

The code is what a nats-py user writes: ``await msg.respond(msg.data)`` in a subscription
callback, ``await nc.request(subject, payload)``.
"""

from __future__ import annotations

import asyncio
import sys
import time

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

#: Seconds a request waits for its reply (a hang fails the bench instead of stalling it).
TIMEOUT = 10.0


async def respond(url: str, subject: str) -> None:
    nc = await nats.connect(url)

    async def echo(msg: Msg) -> None:
        await msg.respond(msg.data)

    await nc.subscribe(subject, cb=echo)
    await nc.flush()  # subscribed at the server before we say we are ready
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the parent closes our stdin
    await nc.drain()


async def calls(nc: Client, subject: str, n: int, callers: int) -> float:
    """Seconds for `n` requests from `callers` concurrent tasks."""

    async def caller(count: int) -> None:
        request = nc.request
        for i in range(count):
            await request(subject, b"%d" % i, timeout=TIMEOUT)

    start = time.perf_counter()
    await asyncio.gather(*(caller(n // callers) for _ in range(callers)))
    return time.perf_counter() - start


async def request(url: str, subject: str) -> None:
    nc = await nats.connect(url)
    reply = await nc.request(subject, b"check", timeout=TIMEOUT)
    assert reply.data == b"check", f"expected b'check' back, got {reply.data!r}"
    print("ready", flush=True)
    while line := await asyncio.to_thread(sys.stdin.readline):
        n, callers = map(int, line.split())
        print(await calls(nc, subject, n, callers), flush=True)
    await nc.close()


def main(argv: list[str]) -> None:
    role, url, subject = argv
    asyncio.run({"respond": respond, "request": request}[role](url, subject))


if __name__ == "__main__":
    main(sys.argv[1:])
