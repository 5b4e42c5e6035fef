"""``examples/nats_kv.py`` runs against a real nats-server with JetStream and prints what the
NATS client guide's key-value section shows; the guide shows only that tested code."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
import trio

from examples import nats_kv
from noex_trio.nats.testing import NatsServer
from tests.nats_support import LIMIT

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "guides" / "nats-client.md"


def _include() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_include", ROOT / "docs" / "_include.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    text = GUIDE.read_text("utf-8")
    new, problems = _include().process(text, write=False)
    assert problems == []
    assert new == text
    source = (ROOT / "examples" / "nats_kv.py").read_text("utf-8")
    regions = set(re.findall(r"# --8<-- \[start:([\w-]+)\]", source))
    included = set(re.findall(r"<!-- include: examples/nats_kv\.py:([\w-]+) -->", text))
    assert regions == included
