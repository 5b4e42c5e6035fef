"""The JetStream key-value client against a real nats-server: buckets, compare-and-set
writes, tombstones and the two-step create, per-key TTLs and their expiry markers, watches
(initial set, live changes, recovery after a gap, a deleted consumer or a server restart),
and the errors of a server without JetStream or too old for per-key TTLs."""

from __future__ import annotations

import copy
import json
import math
import pickle
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import NoexError, nats
from noex_trio.nats import Headers, KeyEntry, KeyValue
from noex_trio.nats._kv import entry, parse_time
from noex_trio.nats._kv_watch import _metadata
from noex_trio.nats.testing import NatsServer
from tests.nats_support import LIMIT


@asynccontextmanager
async def bucket(server: NatsServer, name: str = "reg", **options: Any) -> AsyncIterator[KeyValue]:
    async with nats.connect(server.url) as nc:
        yield await nats.key_value(nc, name, **options)


def value(entry: KeyEntry | None) -> tuple[str, bytes, str] | None:
    return None if entry is None else (entry.key, entry.value, entry.operation)


# --------------------------------------------------------------------------- writes and reads


async def test_create_update_get_delete_purge(nats_jetstream_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with bucket(nats_jetstream_server, storage="memory") as kv:
            assert repr(kv) == "<noex_trio.nats.KeyValue 'reg'>"
            assert kv.bucket == "reg"
            assert kv.stream_config["max_msgs_per_subject"] == 1
            assert kv.stream_config["subject_delete_marker_ttl"] == 60 * 10**9
            assert await kv.get("a") is None
            first = await kv.create("a", b"one")
            with pytest.raises(nats.KeyExistsError) as exists:
                await kv.create("a", b"other")
            assert (exists.value.key, exists.value.revision) == ("a", first)
            got = await kv.get("a")
            assert got is not None
            assert (got.bucket, got.key, got.value, got.revision) == ("reg", "a", b"one", first)
            assert (got.operation, got.marker_reason) == ("PUT", None)
            assert abs((datetime.now(UTC) - got.created).total_seconds()) < 60

            second = await kv.update("a", bytearray(b"two"), revision=first)
            assert second > first
            with pytest.raises(nats.WrongRevisionError) as wrong:
                await kv.update("a", b"stale", revision=first)
            assert (wrong.value.key, wrong.value.expected, wrong.value.current) == (
                "a",
                first,
                second,
            )
            assert value(await kv.get("a")) == ("a", b"two", "PUT")

            # delete: only at the expected revision; then a tombstone the create writes over
            with pytest.raises(nats.WrongRevisionError):
                await kv.delete("a", revision=first)
            tombstone = await kv.delete("a", revision=second)
            assert await kv.get("a") is None
            with pytest.raises(nats.WrongRevisionError) as gone:
                await kv.update("a", b"x", revision=second)
            assert gone.value.current == tombstone
            third = await kv.create("a", memoryview(b"three"))
            assert third > tombstone
            assert value(await kv.get("a")) == ("a", b"three", "PUT")

            # purge, then create again; put writes whatever is there
            purged = await kv.purge("a")
            assert await kv.get("a") is None
            assert await kv.create("a", b"four") > purged
            assert await kv.put("a", b"five") > purged
            assert await kv.put("b.c", b"six") > 0
            assert value(await kv.get("a")) == ("a", b"five", "PUT")
            await kv.delete("b.c")  # without a revision: whatever it is at
            assert await kv.keys() == ["a"]
            assert await kv.keys("b.>") == []


async def test_bucket_creation_is_idempotent(nats_jetstream_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_jetstream_server.url) as nc:
            kv = await nats.key_value(nc, "reg")
            await kv.put("a", b"1")
            again = await nats.key_value(nc, "reg")
            assert value(await again.get("a")) == ("a", b"1", "PUT")
            # other options: the bucket is used as it is
            other = await nats.key_value(nc, "reg", marker_ttl=None, storage="memory")
            assert other.stream_config["storage"] == "file"
            bound = await nats.key_value(nc, "reg", create=False)
            assert value(await bound.get("a")) == ("a", b"1", "PUT")
            with pytest.raises(
                nats.JetStreamError, match=r"^JetStream error 404 \(10059\): no bucket 'missing'$"
            ):
                await nats.key_value(nc, "missing", create=False)
            plain = await nats.key_value(nc, "plain", marker_ttl=None)
            assert "subject_delete_marker_ttl" not in plain.stream_config
            with pytest.raises(nats.JetStreamError, match=r"\(10074\): replicas > 1"):
                await nats.key_value(nc, "replicated", replicas=3)


async def test_concurrent_creates_one_wins(nats_jetstream_server: NatsServer) -> None:
    url = nats_jetstream_server.url
    keys = [f"k{n}" for n in range(20)]
    with trio.fail_after(LIMIT):
        async with nats.connect(url) as one, nats.connect(url) as two:
            kvs = [await nats.key_value(one, "reg"), await nats.key_value(two, "reg")]
            for key in keys[::2]:  # half of them start as tombstones
                await kvs[0].delete(key)
            won: dict[str, list[int]] = {key: [] for key in keys}

            async def claim(index: int, key: str) -> None:
                try:
                    await kvs[index].create(key, b"%d" % index)
                except nats.KeyExistsError:
                    return
                won[key].append(index)

            async with trio.open_nursery() as nursery:
                for key in keys:
                    nursery.start_soon(claim, 0, key)
                    nursery.start_soon(claim, 1, key)
            for key in keys:
                assert len(won[key]) == 1, key
                got = await kvs[1].get(key)
                assert got is not None
                assert got.value == b"%d" % won[key][0]


# --------------------------------------------------------------------------- TTL and watch


async def test_watch_initial_live_deletes_and_expiry(nats_jetstream_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with bucket(nats_jetstream_server, marker_ttl=5) as kv:
            await kv.put("users.ann", b"1")
            await kv.put("users.bob", b"2")
            await kv.delete("users.bob")
            await kv.put("other", b"3")
            async with kv.watch("users.*", idle_heartbeat=1.0) as watcher:
                assert repr(watcher) == "<KeyWatcher 'reg' 'users.*' active>"
                done = [watcher.initial_done]
                initial = await watcher.initial()
                done.append(watcher.initial_done)
                assert done == [False, True]
                assert [value(item) for item in initial] == [
                    ("users.ann", b"1", "PUT"),
                    ("users.bob", b"", "DEL"),
                ]
                assert await watcher.initial() == []

                lease = await kv.create("users.bob", b"lease", ttl=1)
                created = await watcher.receive()
                assert value(created) == ("users.bob", b"lease", "PUT")
                assert created.revision == lease
                # the lease runs out: the server's marker is the next change
                expired = await watcher.receive()
                assert value(expired) == ("users.bob", b"", "PURGE")
                assert expired.marker_reason == "MaxAge"
                assert expired.revision > lease
                assert await kv.get("users.bob") is None
                # the marker does not stop a new create
                again = await kv.create("users.bob", b"back", ttl=1.5)
                renewed = await kv.update("users.bob", b"back", revision=again, ttl=30)
                await kv.purge("users.ann")
                await kv.put("other", b"not watched")
                changes = [await watcher.receive() for _ in range(3)]
                assert [value(item) for item in changes] == [
                    ("users.bob", b"back", "PUT"),
                    ("users.bob", b"back", "PUT"),
                    ("users.ann", b"", "PURGE"),
                ]
                assert changes[1].revision == renewed
                assert watcher.recoveries == 0
            assert repr(watcher) == "<KeyWatcher 'reg' 'users.*' closed>"
            with pytest.raises(RuntimeError, match="not active"):
                await watcher.receive()
            with pytest.raises(RuntimeError, match="already entered"):
                await watcher.__aenter__()


async def test_watch_updates_only_and_empty(nats_jetstream_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with bucket(nats_jetstream_server) as kv:
            async with kv.watch() as empty:
                assert empty.initial_done  # nothing to deliver at first
                assert await empty.initial() == []
                await kv.put("a", b"1")
                assert value(await empty.receive()) == ("a", b"1", "PUT")
            async with kv.watch(updates_only=True) as watcher:
                assert watcher.initial_done
                await kv.put("b", b"2")
                async for item in watcher:
                    assert value(item) == ("b", b"2", "PUT")
                    break
            watcher = kv.watch()
            with pytest.raises(RuntimeError, match="not active"):
                await watcher.receive()


async def test_watch_ends_when_the_connection_closes(nats_jetstream_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_jetstream_server.url) as nc:
            kv = await nats.key_value(nc, "reg")
            async with kv.watch() as watcher:
                await nc.close()
                assert [item async for item in watcher] == []


async def test_watch_catches_up_after_dropping(nats_jetstream_server: NatsServer) -> None:
    """A watcher whose queue overflows re-creates its consumer after the last entry it
    delivered: nothing is lost, nothing comes twice."""
    with trio.fail_after(LIMIT):
        async with (
            bucket(nats_jetstream_server) as kv,
            kv.watch(updates_only=True, max_pending=4, idle_heartbeat=0.1) as watcher,
        ):
            for n in range(30):  # acknowledged one by one, not read meanwhile
                await kv.put(f"k{n:02}", b"%d" % n)
            received = [await watcher.receive() for _ in range(30)]
            assert [item.key for item in received] == [f"k{n:02}" for n in range(30)]
            assert watcher.recoveries >= 1


async def test_watch_answers_flow_control(nats_jetstream_server: NatsServer) -> None:
    """A large initial set: the server asks for flow control replies along the way; without
    them delivery would stall."""
    big = bytes(200_000)
    with trio.fail_after(LIMIT):
        async with bucket(nats_jetstream_server, storage="memory") as kv:
            for n in range(40):
                await kv.put(f"k{n:02}", big)
            async with kv.watch(idle_heartbeat=1.0) as watcher:
                initial = await watcher.initial()
                assert [item.key for item in initial] == [f"k{n:02}" for n in range(40)]
                assert all(item.value == big for item in initial)
                assert watcher.recoveries == 0


async def test_watch_survives_a_deleted_consumer(nats_jetstream_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with bucket(nats_jetstream_server) as kv:
            await kv.put("a", b"1")
            async with kv.watch(idle_heartbeat=0.2) as watcher:
                assert len(await watcher.initial()) == 1
                nc = kv.connection
                names = json.loads((await nc.request("$JS.API.CONSUMER.NAMES.KV_reg")).data)
                (name,) = names["consumers"]
                await nc.request(f"$JS.API.CONSUMER.DELETE.KV_reg.{name}")
                await kv.put("b", b"2")
                assert value(await watcher.receive()) == ("b", b"2", "PUT")
                assert watcher.recoveries == 1


async def test_watch_recovers_after_a_server_restart(nats_jetstream_server: NatsServer) -> None:
    """The server restarts: the connection reconnects, the watcher misses heartbeats and
    re-creates its consumer after the last revision it delivered; the (file) bucket kept its
    values."""
    server = nats_jetstream_server
    with trio.fail_after(LIMIT):
        async with nats.connect(server.url, reconnect_delay=0.05, reconnect_max_delay=0.2) as nc:
            kv = await nats.key_value(nc, "reg")
            await kv.put("a", b"1")
            async with kv.watch(idle_heartbeat=0.3, timeout=1.0) as watcher:
                assert len(await watcher.initial()) == 1
                await server.restart()
                await kv.put("b", b"2", timeout=5.0)  # sent once reconnected
                assert value(await watcher.receive()) == ("b", b"2", "PUT")
                assert watcher.recoveries >= 1
            assert value(await kv.get("a")) == ("a", b"1", "PUT")


# --------------------------------------------------------------------------- servers that cannot


async def test_no_jetstream(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url) as nc:
            with pytest.raises(nats.JetStreamError) as caught:
                await nats.key_value(nc, "reg")
            assert caught.value.code == 503
            assert "JetStream is not enabled" in str(caught.value)


@asynccontextmanager
async def fake_jetstream(
    url: str, answers: dict[str, Callable[[bytes], bytes]]
) -> AsyncIterator[nats.Connection]:
    """A connection to a server without JetStream, with someone answering `answers`' API
    subjects as an older (or odd) server would."""

    async def serve(
        nc: nats.Connection,
        subject: str,
        answer: Callable[[bytes], bytes],
        task_status: trio.TaskStatus[None],
    ) -> None:
        async with nc.subscribe(subject) as sub:
            await nc.flush()
            task_status.started()
            async for msg in sub:
                await msg.respond(answer(msg.data))

    async with (
        nats.connect(url) as server_side,
        nats.connect(url) as nc,
        trio.open_nursery() as nursery,
    ):
        for subject, answer in answers.items():
            await nursery.start(serve, server_side, subject, answer)
        yield nc
        nursery.cancel_scope.cancel()


def echo(**changes: Any) -> Callable[[bytes], bytes]:
    """An answer to STREAM.CREATE that echoes the configuration with `changes`."""

    def answer(data: bytes) -> bytes:
        config = {**json.loads(data), **changes}
        for key in [key for key, item in config.items() if item is None]:
            del config[key]
        return json.dumps({"config": config}).encode()

    return answer


API_LEVEL_5 = {"$JS.API.INFO": lambda _: b'{"api": {"level": 5}}'}


@pytest.mark.parametrize(
    ("answers", "create", "message"),
    [
        ({"$JS.API.INFO": lambda _: b'{"api": {"total": 0}}'}, True, "too old for per-key TTLs"),
        ({"$JS.API.INFO": lambda _: b"not json"}, True, "is not a JSON object"),
        (
            {**API_LEVEL_5, "$JS.API.STREAM.CREATE.KV_reg": echo(allow_msg_ttl=None)},
            True,
            "has no per-key TTLs",
        ),
        (
            {**API_LEVEL_5, "$JS.API.STREAM.CREATE.KV_reg": echo(max_msgs_per_subject=5)},
            True,
            "is configured otherwise",
        ),
        (
            {**API_LEVEL_5, "$JS.API.STREAM.INFO.KV_reg": lambda _: b"{}"},
            False,
            "did not say how bucket 'reg' is configured",
        ),
        (
            {
                **API_LEVEL_5,
                "$JS.API.STREAM.CREATE.KV_reg": lambda _: (
                    b'{"error": {"code": 500, "err_code": 10049, "description": "boom"}}'
                ),
            },
            True,
            r"^JetStream error 500 \(10049\): boom$",
        ),
        (
            {
                **API_LEVEL_5,
                "$JS.API.STREAM.INFO.KV_reg": lambda _: (
                    b'{"error": {"code": 503, "err_code": 10008, "description": "unavailable"}}'
                ),
            },
            False,
            r"^JetStream error 503 \(10008\): unavailable$",
        ),
    ],
)
async def test_servers_that_cannot_serve(
    nats_server: NatsServer,
    answers: dict[str, Callable[[bytes], bytes]],
    create: bool,
    message: str,
) -> None:
    with trio.fail_after(LIMIT):
        async with fake_jetstream(nats_server.url, answers) as nc:
            with pytest.raises(nats.JetStreamError, match=message):
                await nats.key_value(nc, "reg", create=create, timeout=2.0)


async def test_watch_recovery_retries_then_ends(nats_server: NatsServer) -> None:
    """A scripted JetStream: the watcher drops a consumer that sends something else than a
    delivery (and asks the server to delete it), retries while JetStream is unavailable or
    silent, and ends with the error of a definite refusal (the bucket is gone)."""
    answers = {**API_LEVEL_5, "$JS.API.STREAM.CREATE.KV_reg": echo()}
    unavailable = b'{"error": {"code": 503, "err_code": 10008, "description": "not ready"}}'
    gone = b'{"error": {"code": 404, "err_code": 10059, "description": "stream not found"}}'
    policies: list[str] = []
    deleted: list[str] = []

    async def jetstream(nc: nats.Connection, task_status: trio.TaskStatus[None]) -> None:
        async with (
            nc.subscribe("$JS.API.CONSUMER.CREATE.KV_reg") as creates,
            nc.subscribe("$JS.API.CONSUMER.DELETE.KV_reg.*") as deletes,
        ):
            await nc.flush()
            task_status.started()
            request = await creates.receive()
            config = json.loads(request.data)["config"]
            policies.append(config["deliver_policy"])
            await request.respond(b'{"name": "C1", "num_pending": 0}')
            await nc.publish(config["deliver_subject"], b"not a delivery")
            deleted.append((await deletes.receive()).subject)
            for answer in (unavailable, None, gone):
                request = await creates.receive()
                policies.append(json.loads(request.data)["config"]["deliver_policy"])
                if answer is not None:
                    await request.respond(answer)

    with trio.fail_after(LIMIT):
        async with (
            fake_jetstream(nats_server.url, answers) as nc,
            nats.connect(nats_server.url) as js_side,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(jetstream, js_side)
            kv = await nats.key_value(nc, "reg")
            async with kv.watch(idle_heartbeat=0.1, timeout=0.2) as watcher:
                assert watcher.initial_done
                with pytest.raises(nats.JetStreamError, match=r"\(10059\): stream not found"):
                    await watcher.receive()
                assert watcher.recoveries == 1
            assert deleted == ["$JS.API.CONSUMER.DELETE.KV_reg.C1"]
            assert policies == ["last_per_subject"] * 4


async def test_odd_answers_to_writes_and_reads(nats_server: NatsServer) -> None:
    bucket_config = {
        "allow_msg_ttl": True,
        "max_msgs_per_subject": 1,
        "allow_direct": True,
    }
    answers: dict[str, Callable[[bytes], bytes]] = {
        **API_LEVEL_5,
        "$JS.API.STREAM.CREATE.KV_reg": lambda _: json.dumps({"config": bucket_config}).encode(),
    }
    with trio.fail_after(LIMIT):
        async with fake_jetstream(nats_server.url, answers) as nc:
            kv = await nats.key_value(nc, "reg")

            async def odd_writes(task_status: trio.TaskStatus[None]) -> None:
                async with nc.subscribe("$KV.reg.>") as sub:
                    await nc.flush()
                    task_status.started()
                    async for msg in sub:
                        await msg.respond(b'{"stream": "KV_reg"}')

            async def odd_reads(task_status: trio.TaskStatus[None]) -> None:
                async with nc.subscribe("$JS.API.DIRECT.GET.KV_reg.>") as sub:
                    await nc.flush()
                    task_status.started()
                    async for msg in sub:
                        await msg.respond(b"value")

            async with trio.open_nursery() as nursery:
                await nursery.start(odd_writes)
                await nursery.start(odd_reads)
                with pytest.raises(nats.JetStreamError, match="has no sequence"):
                    await kv.put("a", b"1")
                with pytest.raises(nats.JetStreamError, match="has no sequence"):
                    await kv.get("a")
                nursery.cancel_scope.cancel()
            # JetStream gone (nobody answers): code 503
            with pytest.raises(nats.JetStreamError) as caught:
                await kv.get("a")
            assert caught.value.code == 503
            with pytest.raises(nats.JetStreamError) as caught:
                await kv.put("a", b"1")
            assert caught.value.code == 503


async def test_timeouts(nats_server: NatsServer) -> None:
    # A create whose server never answers the direct get after a 10071 times out as a whole.
    answers: dict[str, Callable[[bytes], bytes]] = {
        **API_LEVEL_5,
        "$JS.API.STREAM.CREATE.KV_reg": echo(),
    }
    with trio.fail_after(LIMIT):
        async with fake_jetstream(nats_server.url, answers) as nc:
            kv = await nats.key_value(nc, "reg")

            async def silent_stream(task_status: trio.TaskStatus[None]) -> None:
                async with nc.subscribe("$KV.reg.>") as writes, nc.subscribe("$JS.API.>"):
                    await nc.flush()
                    task_status.started()
                    async for msg in writes:
                        await msg.respond(
                            b'{"error": {"code": 400, "err_code": 10071, '
                            b'"description": "wrong last sequence: 7"}}'
                        )

            async with trio.open_nursery() as nursery:
                await nursery.start(silent_stream)
                with pytest.raises(nats.RequestTimeoutError) as timed_out:
                    await kv.create("a", b"1", timeout=0.3)
                assert str(timed_out.value) == "request to '$KV.reg.a' timed out after 0.3 s"
                with pytest.raises(nats.RequestTimeoutError):
                    await kv.keys(timeout=0.3)
                with pytest.raises(nats.WrongRevisionError) as wrong:
                    await kv.update("a", b"1", revision=3)
                assert wrong.value.current == 7
                nursery.cancel_scope.cancel()


# --------------------------------------------------------------------------- arguments, values


async def test_bad_arguments(nats_jetstream_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_jetstream_server.url) as nc:
            with pytest.raises(TypeError, match=r"^expected connection to be a noex_trio"):
                await nats.key_value("nats://x", "reg")  # type: ignore[arg-type]
            for bad_bucket in ("", "a.b", "a b", "KV>"):
                with pytest.raises(ValueError, match="expected bucket to be a bucket name"):
                    await nats.key_value(nc, bad_bucket)
            with pytest.raises(TypeError, match="expected bucket"):
                await nats.key_value(nc, 1)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="storage"):
                await nats.key_value(nc, "reg", storage="disk")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="replicas"):
                await nats.key_value(nc, "reg", replicas=6)
            with pytest.raises(ValueError, match="marker_ttl"):
                await nats.key_value(nc, "reg", marker_ttl=0.5)
            with pytest.raises(TypeError, match="create"):
                await nats.key_value(nc, "reg", create=1)  # type: ignore[arg-type]

            kv = await nats.key_value(nc, "reg")
            for bad_key in ("", ".a", "a.", "a..b", "a b", "a*", ">", "é", "a:b"):
                with pytest.raises(ValueError, match=r"^expected key to be a key of characters"):
                    await kv.get(bad_key)
                with pytest.raises(ValueError, match="expected key"):
                    await kv.create(bad_key, b"")
            with pytest.raises(TypeError, match="expected key"):
                await kv.put(1, b"")  # type: ignore[arg-type]
            for bad_ttl in (0.5, 0, -1, math.inf, math.nan, 10**400):
                with pytest.raises(ValueError, match=r"^expected ttl to be None or a finite"):
                    await kv.put("a", b"", ttl=bad_ttl)
            for wrong_type in ("1", True):
                with pytest.raises(TypeError, match="expected ttl"):
                    await kv.create("a", b"", ttl=wrong_type)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="revision"):
                await kv.update("a", b"", revision=0)
            with pytest.raises(TypeError, match="revision"):
                await kv.delete("a", revision="1")  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="payload"):
                await kv.put("a", "text")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="timeout"):
                await kv.purge("a", timeout=0)
            for bad_pattern in ("", "a.>.b", "a..b", "a*", "é"):
                with pytest.raises(ValueError, match="expected pattern"):
                    kv.watch(bad_pattern)
                with pytest.raises(ValueError, match="expected pattern"):
                    await kv.keys(bad_pattern)
            with pytest.raises(TypeError, match="expected pattern"):
                kv.watch(None)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="idle_heartbeat"):
                kv.watch(idle_heartbeat=math.inf)
            with pytest.raises(ValueError, match="max_pending"):
                kv.watch(max_pending=0)
            with pytest.raises(TypeError, match="updates_only"):
                kv.watch(updates_only=None)  # type: ignore[arg-type]
            assert await kv.get("a") is None  # nothing was written
            with pytest.raises(TypeError, match="no public constructor"):
                KeyValue(nc, "reg", {})


async def test_public_calls_are_checkpoints(nats_jetstream_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with bucket(nats_jetstream_server) as kv:
            with trio.testing.assert_checkpoints():
                revision = await kv.create("a", b"1")
            with trio.testing.assert_checkpoints():
                await kv.get("a")
            with trio.testing.assert_checkpoints():
                await kv.update("a", b"2", revision=revision)
            with trio.CancelScope() as scope:
                scope.cancel()
                await kv.put("a", b"never")
            assert value(await kv.get("a")) == ("a", b"2", "PUT")
            with trio.CancelScope() as scope:
                scope.cancel()
                await nats.key_value(kv.connection, "other")
            assert scope.cancelled_caught


@pytest.mark.parametrize("name", ["plain", "with spaces/and.dots", "Ünïcødé ✓", "a" * 200, "\x00"])
def test_encode_key_round_trips(name: str) -> None:
    key = nats.encode_key(name)
    assert key == nats.encode_key(name)
    assert nats.decode_key(key) == name
    assert all(char.isalnum() or char in "-_" for char in key)


def test_encode_key_refuses() -> None:
    with pytest.raises(ValueError, match="expected name to be a non-empty str"):
        nats.encode_key("")
    with pytest.raises(TypeError, match="expected name"):
        nats.encode_key(b"x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="encodable as UTF-8"):
        nats.encode_key("\ud800")
    for bad in ("", "a.b", "a=", "/w"):
        with pytest.raises(ValueError, match="expected key to be a key made by encode_key"):
            nats.decode_key(bad)
    with pytest.raises(ValueError, match="made by encode_key"):
        nats.decode_key("_w")  # not UTF-8
    with pytest.raises(TypeError, match="made by encode_key"):
        nats.decode_key(1)  # type: ignore[arg-type]


ERRORS: list[NoexError] = [
    nats.JetStreamError(400, 10071, "wrong last sequence: 5"),
    nats.KeyExistsError("a", 3),
    nats.WrongRevisionError("a", 3, 5),
    nats.WrongRevisionError("a", 3, None),
]
MESSAGES = [
    "JetStream error 400 (10071): wrong last sequence: 5",
    "key 'a' exists (revision 3)",
    "key 'a' is not at revision 3 (current: 5)",
    "key 'a' is not at revision 3 (current: unknown)",
]


@pytest.mark.parametrize(("error", "message"), list(zip(ERRORS, MESSAGES, strict=True)))
def test_errors_are_values(error: NoexError, message: str) -> None:
    assert isinstance(error, nats.NatsError)
    assert str(error) == message
    for clone in (copy.copy(error), copy.deepcopy(error), pickle.loads(pickle.dumps(error))):
        assert type(clone) is type(error)
        assert clone.args == error.args
        assert str(clone) == message
    assert type(error).__module__ == "noex_trio.nats"


def test_entries_from_headers() -> None:
    """What a stored message is, from its headers (the server writes markers itself)."""
    when = datetime(2026, 1, 2, tzinfo=UTC)

    def made(pairs: list[tuple[str, str]] | None) -> tuple[str, str | None, bytes]:
        headers = None if pairs is None else Headers(pairs)
        item = entry("b", "k", b"v", headers, 1, when)
        return item.operation, item.marker_reason, item.value

    assert made(None) == ("PUT", None, b"v")
    assert made([("KV-Operation", "DEL")]) == ("DEL", None, b"")
    assert made([("KV-Operation", "PURGE")]) == ("PURGE", None, b"")
    assert made([("Nats-Marker-Reason", "MaxAge")]) == ("PURGE", "MaxAge", b"")
    assert made([("Nats-Marker-Reason", "Remove")]) == ("DEL", "Remove", b"")
    assert made([("Nats-Expected-Last-Subject-Sequence", "0")]) == ("PUT", None, b"v")
    assert parse_time("2026-01-02T03:04:05.123456789Z") == datetime(
        2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC
    )
    assert parse_time("2026-01-02T03:04:05Z") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_time("garbage") == datetime.fromtimestamp(0, UTC)
    assert _metadata("$JS.ACK.KV_b.C.1.5.2.1700000000000000000.0") == (
        5,
        2,
        1700000000000000000,
        0,
    )
    assert _metadata("$JS.ACK.dom.hash.KV_b.C.1.5.2.1700000000000000000.3.tok") == (
        5,
        2,
        1700000000000000000,
        3,
    )
    for reply in (None, "_INBOX.x", "$JS.ACK.a.b.c", "$JS.ACK.KV_b.C.1.x.2.3.0"):
        assert _metadata(reply) is None
