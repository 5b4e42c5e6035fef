"""``examples/nats_client.py`` runs against a real nats-server and prints what the NATS client
guide shows; the guide shows only that tested code."""

from __future__ import annotations

import importlib.util
import re
import ssl
from pathlib import Path
from types import ModuleType

import pytest
import trio
import trustme

from examples import nats_client
from noex_trio.nats.testing import NatsServer, open_nats_server
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


async def test_examples(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        assert await nats_client.publish_subscribe(nats_server.url) == [
            "greet.joe: b'hello'",
            "greet.ann: b'hi'",
            "  headers: {'Lang': 'en'}",
        ]
        assert await nats_client.request_reply(nats_server.url) == [
            "reply: b'echo: ping'",
            "error: no responders for request to 'svc.nobody'",
        ]
        assert await nats_client.slow_consumer(nats_server.url) == ["queued 3, dropped 7"]
        assert await nats_client.restart(nats_server.url, nats_server.restart) == [
            "event: disconnected",
            "event: reconnected",
            "after: b'42'",
        ]


async def test_secured_example(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    config = (
        f'tls {{ cert_file: "{tmp_path / "cert.pem"}", key_file: "{tmp_path / "key.pem"}" }}\n'
        "authorization { user: app, password: s3cret }"
    )
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with trio.fail_after(LIMIT):
        async with open_nats_server(config) as server:
            await nats_client.secured(server.url, context)


async def test_main(nats_server: NatsServer, capsys: pytest.CaptureFixture[str]) -> None:
    with trio.fail_after(LIMIT):
        await nats_client.main(nats_server.url)
    assert capsys.readouterr().out.splitlines()[0] == "greet.joe: b'hello'"


def test_guide_shows_only_tested_code() -> None:
    text = GUIDE.read_text("utf-8")
    new, problems = _include().process(text, write=False)
    assert problems == []
    assert new == text
    source = (ROOT / "examples" / "nats_client.py").read_text("utf-8")
    regions = set(re.findall(r"# --8<-- \[start:([\w-]+)\]", source))
    included = set(re.findall(r"<!-- include: examples/nats_client\.py:([\w-]+) -->", text))
    assert regions == included
