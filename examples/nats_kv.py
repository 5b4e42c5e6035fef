"""The JetStream key-value client: a bucket, compare-and-set writes, a lease that expires,
and a watch that sees it all.

Each function takes the URL of a ``nats-server`` with JetStream enabled and returns the lines
it would print. ``tests/test_examples_nats_kv.py`` runs them against a real server (the
``nats_jetstream_server`` fixture); ``docs/guides/nats-client.md`` ("Key-value (JetStream)")
walks through them. Run it by hand with ``nats-server -js & python -m examples.nats_kv``.
"""

from __future__ import annotations

import trio

from noex_trio import nats


async def compare_and_set(url: str) -> list[str]:
    lines: list[str] = []
    # --8<-- [start:cas]
    async with nats.connect(url) as nc:
        kv = await nats.key_value(nc, "registry")  # created if absent (idempotent)
        key = nats.encode_key("user:ann")  # any name -> one safe key token
        revision = await kv.create(key, b"node-1")
        try:
            await kv.create(key, b"node-2")  # someone holds it
        except nats.KeyExistsError as exc:
            lines.append(f"taken at revision {exc.revision}")
        revision = await kv.update(key, b"node-1 v2", revision=revision)
        try:
            await kv.update(key, b"stale", revision=revision - 1)
        except nats.WrongRevisionError as exc:
            lines.append(f"conflict: {exc}")
        await kv.delete(key, revision=revision)  # only if still ours
        await kv.create(key, b"node-2")  # deleted keys can be created again
        entry = await kv.get(key)
        assert entry is not None
        lines.append(f"{nats.decode_key(entry.key)} = {entry.value!r}")
    # --8<-- [end:cas]
    return lines


async def lease_and_watch(url: str) -> list[str]:
    lines: list[str] = []
    # --8<-- [start:watch]
    async with nats.connect(url) as nc:
        kv = await nats.key_value(nc, "leases")
        async with kv.watch("node.>") as watcher:
            initial = await watcher.initial()  # the latest entry of every key, first
            lines.extend(f"initial: {item.key} {item.operation}" for item in initial)
            revision = await kv.create("node.a", b"up", ttl=1)  # a lease of 1 s
            await kv.update("node.a", b"up", revision=revision, ttl=1)  # renewed (CAS)
            async for item in watcher:  # then every change
                lines.append(f"{item.key} {item.operation} {item.value!r} {item.marker_reason}")
                if item.operation != "PUT":  # the server's marker: the lease expired
                    break
    # --8<-- [end:watch]
    return lines


async def main(url: str = "nats://127.0.0.1:4222") -> None:
    for lines in (await compare_and_set(url), await lease_and_watch(url)):
        print("\n".join(lines))


if __name__ == "__main__":
    trio.run(main)
