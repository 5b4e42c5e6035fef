"""``examples/nats_kv.py`` runs against a real nats-server with JetStream and prints what the
NATS client guide's key-value section shows; the guide shows only that tested code."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from examples import nats_kv
from noex_trio.nats.testing import NatsServer
from tests.docs_support import assert_every_region_included, assert_guide_up_to_date
from tests.nats_support import LIMIT

ROOT = Path(__file__).resolve().parent.parent


async def test_examples(nats_jetstream_server: NatsServer) -> None:
    url = nats_jetstream_server.url
    with trio.fail_after(LIMIT):
        assert await nats_kv.compare_and_set(url) == [
            "taken at revision 1",
            "conflict: key 'dXNlcjphbm4' is not at revision 1 (current: 2)",
            "user:ann = b'node-2'",
        ]
        assert await nats_kv.lease_and_watch(url) == [
            "node.a PUT b'up' None",
            "node.a PUT b'up' None",
            "node.a PURGE b'' MaxAge",
        ]
        # a second run: the expired lease's marker is the key's latest entry
        lines = await nats_kv.lease_and_watch(url)
        assert lines[0] == "initial: node.a PURGE"


async def test_main(nats_jetstream_server: NatsServer, capsys: pytest.CaptureFixture[str]) -> None:
    with trio.fail_after(LIMIT):
        await nats_kv.main(nats_jetstream_server.url)
    assert capsys.readouterr().out.splitlines()[0] == "taken at revision 1"


def test_guide_shows_only_tested_code() -> None:
    assert_guide_up_to_date("nats-client")
    assert_every_region_included("nats-client", "nats_kv")
