"""The nats-server launcher (`noex_trio.nats.testing`) and the plugin's ``nats_server``
fixture."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

import noex_trio.testing
from noex_trio import nats
from noex_trio.nats.testing import NatsServer, find_nats_server, open_nats_server
from tests.nats_support import LIMIT

pytest_plugins = ["pytester"]


def test_find_nats_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = find_nats_server()
    assert os.access(real, os.X_OK)
    monkeypatch.setenv("NATS_SERVER_BIN", real)
    assert find_nats_server() == real
    monkeypatch.setenv("NATS_SERVER_BIN", str(tmp_path / "missing"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(FileNotFoundError, match=r"^nats-server not found .*nats-server-bin"):
        find_nats_server()


async def test_server_lifecycle() -> None:
    with trio.fail_after(LIMIT):
        async with open_nats_server() as server:
            assert repr(server) == f"<NatsServer {server.url} running>"
            assert server.cluster_port is None
            with pytest.raises(RuntimeError, match=r"is already running"):
                await server.start()
            port = server.port
            assert "Server is ready" in await server.wait_for_log("ready")
            with trio.move_on_after(0.01) as scope:
                await server.wait_for_log("never logged")
            assert scope.cancelled_caught
            await server.stop()
            assert repr(server) == f"<NatsServer {server.url} stopped>"
            await server.stop()  # idempotent
            await server.kill()
            await server.restart()
            assert server.port == port
            async with nats.connect(server.url) as nc:
                await nc.flush()
        assert not server.running


async def test_a_server_that_does_not_start() -> None:
    with trio.fail_after(LIMIT):
        with pytest.raises(
            RuntimeError, match=r"(?s)^nats-server did not start \(exit code 1\); log:\n.*error"
        ):
            async with open_nats_server("this is { not a config"):
                pass  # pragma: no cover
        with pytest.raises(RuntimeError, match=r"did not start"):
            async with open_nats_server(executable="/bin/true"):
                pass  # pragma: no cover
        with pytest.raises(FileNotFoundError):
            async with open_nats_server(executable="/nonexistent/nats-server"):
                pass  # pragma: no cover


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"config": 1}, TypeError, r"^expected config to be a str, got 1$"),
        ({"cluster": ""}, ValueError, r"^expected cluster to be a non-empty str"),
        ({"routes": "nats-route://x"}, TypeError, r"^expected routes to be a list of route URLs"),
        ({"routes": [1]}, TypeError, r"^expected routes to be a list of route URLs"),
        ({"executable": 1}, TypeError, r"^expected executable to be a non-empty str"),
        ({"jetstream": "yes"}, TypeError, r"^expected jetstream to be a bool"),
    ],
)
def test_bad_server_arguments(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        open_nats_server(**kwargs)


async def test_fixture(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        assert nats_server.running
        async with nats.connect(nats_server.url) as nc:
            await nc.flush()


async def test_jetstream_fixture_keeps_its_store_across_restarts(
    nats_jetstream_server: NatsServer,
) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_jetstream_server.url) as nc:
            kv = await nats.key_value(nc, "kept")
            await kv.put("a", b"1")
        await nats_jetstream_server.restart()
        async with nats.connect(nats_jetstream_server.url) as nc:
            kv = await nats.key_value(nc, "kept", create=False)
            entry = await kv.get("a")
            assert entry is not None
            assert entry.value == b"1"


def test_fixture_fails_loudly_without_a_binary(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> str:
        raise FileNotFoundError("nats-server not found (install it)")

    monkeypatch.setattr(noex_trio.testing, "find_nats_server", missing)
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makepyfile(
        """
        async def test_needs_nats(nats_server):
            pass

        async def test_needs_jetstream(nats_jetstream_server):
            pass
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*nats-server not found (install it)*"])
