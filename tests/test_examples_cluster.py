"""``examples/cluster.py`` runs against a real nats-server and prints what the cluster guide
shows; the guide shows only that tested code."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trio
import trustme

from examples import cluster as example
from noex_trio import cluster, nats
from noex_trio.nats.testing import NatsServer, open_nats_server
from tests.cluster_support import LIMIT, open_peer
from tests.docs_support import assert_every_region_included, assert_guide_up_to_date

ROOT = Path(__file__).resolve().parent.parent


async def test_membership_and_requests(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        assert await example.membership(nats_server.url) == [
            "joined as orders-1 (up)",
            "billing-1 sees ['orders-1']",
            "NodeUp billing-1",
            "NodeDown billing-1 (left)",
        ]
        assert await example.requests(nats_server.url) == [
            "price: 6",
            "ValueError: bad quantity 0",
            "no connection to node 'stock-1' (not a member) -> noconnection",
        ]


def test_codec_example() -> None:
    assert example.encoding() == [
        "PlaceOrder(item='tea', quantity=2)",
        "CodecError: unknown type 'examples.cluster.PlaceOrder': not registered with this codec",
    ]


async def test_detection_of_a_killed_node(nats_server: NatsServer) -> None:
    joined, seen = trio.Event(), trio.Event()
    lines: list[str] = []

    async def watch() -> None:
        lines.extend(await example.detection(nats_server.url, joined, seen))

    with trio.fail_after(LIMIT * 2):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await joined.wait()
            async with open_peer(nats_server.url, "billing-1", cluster_name="shop") as peer:
                await seen.wait()
                peer.kill()
    assert lines == ["billing-1 up", "billing-1 down: timeout, noconnection"]


async def test_secured_config(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    config = (
        f'tls {{ cert_file: "{tmp_path / "cert.pem"}", key_file: "{tmp_path / "key.pem"}" }}\n'
        "authorization { user: orders, password: s3cret }"
    )
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with trio.fail_after(LIMIT):
        async with open_nats_server(config) as server:
            secured = example.secured_config(server.url, context)
            async with cluster.join(secured) as node:
                assert node.status == "up"
            wrong = cluster.ClusterConfig(name="x", servers=server.url, tls=context)
            with pytest.raises(nats.AuthorizationError):
                await cluster.join(wrong).__aenter__()


def test_guide_shows_only_tested_code() -> None:
    assert_guide_up_to_date("cluster")
    assert_every_region_included("cluster", "cluster")
