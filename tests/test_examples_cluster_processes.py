"""``examples/cluster_processes.py`` against a real nats-server: the output the cluster guide
shows; the guide shows only that tested code."""

from __future__ import annotations

import re
from pathlib import Path

import trio

from examples import cluster_processes as example
from noex_trio.nats.testing import NatsServer
from tests.cluster_support import LIMIT

ROOT = Path(__file__).resolve().parent.parent


async def test_processes_across_nodes(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        lines = await example.main(nats_server.url)
    assert lines[0] == "took an apple, 1 left"
    assert re.fullmatch(r"<RemoteRef inventory#\d+@inventory-1> on inventory-1", lines[1])
    # (the Down and the caller's error come from different tasks: either may be first)
    error, down = sorted(lines[2:], key=lambda line: line.startswith("Down"))
    assert error == "LookupError: no pear left"
    assert re.fullmatch(r"Down <RemoteRef inventory#\d+@inventory-1>: no pear left", down)
    assert len(lines) == 4


def test_guide_includes_every_region() -> None:
    text = (ROOT / "docs" / "guides" / "cluster.md").read_text("utf-8")
    source = (ROOT / "examples" / "cluster_processes.py").read_text("utf-8")
    regions = set(re.findall(r"# --8<-- \[start:([\w-]+)\]", source))
    included = set(re.findall(r"<!-- include: examples/cluster_processes\.py:([\w-]+) -->", text))
    assert regions == included
