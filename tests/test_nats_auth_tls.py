"""Authentication (user/password, token, nkey) and TLS against real nats-servers."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme

from noex_trio import nats
from noex_trio.nats.testing import NatsServer, open_nats_server
from tests.nats_support import LIMIT


async def roundtrip(nc: nats.Connection) -> None:
    async with nc.subscribe("ping") as sub:
        await nc.publish("ping", b"pong")
        assert (await sub.receive()).data == b"pong"


async def test_user_and_password() -> None:
    with trio.fail_after(LIMIT):
        async with open_nats_server("authorization { user: bob, password: s3cret }") as server:
            assert server.url.startswith("nats://127.0.0.1:")
            async with nats.connect(server.url, user="bob", password="s3cret") as nc:
                await roundtrip(nc)
            url = server.url.replace("nats://", "nats://bob:s3cret@")
            async with nats.connect(url, user="ignored", password="the URL wins") as nc:
                await roundtrip(nc)
            attempts: list[dict[str, Any]] = [{"user": "bob", "password": "wrong"}, {}]
            for kwargs in attempts:
                with pytest.raises(
                    nats.AuthorizationError,
                    match=r"^NATS server nats://127\.0\.0\.1:\d+ refused the credentials: "
                    r"Authorization Violation$",
                ) as info:
                    async with nats.connect(server.url, **kwargs):
                        pass  # pragma: no cover
                assert isinstance(info.value, nats.ConnectError)
                assert info.value.servers == (server.url,)


async def test_token() -> None:
    with trio.fail_after(LIMIT):
        async with open_nats_server('authorization { token: "t0ken" }') as server:
            async with nats.connect(server.url, token="t0ken") as nc:
                await roundtrip(nc)
            async with nats.connect(server.url.replace("nats://", "nats://t0ken@")) as nc:
                await roundtrip(nc)
            with pytest.raises(nats.AuthorizationError):
                async with nats.connect(server.url, token="wrong"):
                    pass  # pragma: no cover


async def test_nkey() -> None:
    seed = nats.create_user_seed()
    other = nats.create_user_seed()
    config = f"authorization {{ users = [ {{nkey: {nats.nkey_public_key(seed)}}} ] }}"
    with trio.fail_after(LIMIT):
        async with open_nats_server(config) as server:
            async with nats.connect(server.url, nkey_seed=seed) as nc:
                assert isinstance(nc.server_info.get("nonce"), str)
                await roundtrip(nc)
            with pytest.raises(nats.AuthorizationError):
                async with nats.connect(server.url, nkey_seed=other):
                    pass  # pragma: no cover


async def test_auth_failure_on_one_server_of_two_is_reported() -> None:
    with trio.fail_after(LIMIT):
        async with open_nats_server('authorization { token: "t" }') as server:
            with pytest.raises(nats.AuthorizationError):
                async with nats.connect(["nats://127.0.0.1:1", server.url], randomize=False):
                    pass  # pragma: no cover


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_config(ca: trustme.CA, tmp_path: Path) -> str:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    return f'cert_file: "{cert_file}", key_file: "{key_file}"'


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_tls_required(ca: trustme.CA, tls_config: str) -> None:
    with trio.fail_after(LIMIT):
        async with open_nats_server(f"tls {{ {tls_config} }}") as server:
            async with nats.connect(server.url, tls=client_context(ca)) as nc:
                assert nc.server_info["tls_required"] is True
                await roundtrip(nc)
            tls_url = server.url.replace("nats://", "tls://")
            async with nats.connect(
                tls_url, tls=client_context(ca), tls_hostname="localhost"
            ) as nc:
                await roundtrip(nc)
            # The server requires TLS: a client without a context uses the default one, which
            # does not trust this test CA.
            with pytest.raises(
                nats.ConnectError, match=r"TLS handshake failed: .*certificate verify failed"
            ):
                async with nats.connect(server.url):
                    pass  # pragma: no cover
            with pytest.raises(nats.ConnectError, match=r"TLS handshake failed"):
                async with nats.connect(
                    server.url, tls=client_context(ca), tls_hostname="wrong.example"
                ):
                    pass  # pragma: no cover


async def test_tls_optional_and_first(ca: trustme.CA, tls_config: str) -> None:
    with trio.fail_after(LIMIT):
        async with open_nats_server(f"allow_non_tls: true\ntls {{ {tls_config} }}") as server:
            async with nats.connect(server.url) as plain:
                assert plain.server_info.get("tls_available") is True
                await roundtrip(plain)
            async with nats.connect(server.url, tls=client_context(ca)) as upgraded:
                await roundtrip(upgraded)
        async with open_nats_server(f"tls {{ {tls_config}, handshake_first: true }}") as server:
            async with nats.connect(server.url, tls=client_context(ca), tls_first=True) as nc:
                await roundtrip(nc)
            with pytest.raises(nats.ConnectError, match=r"TLS handshake failed"):
                async with nats.connect(server.url, tls_first=True):
                    pass  # pragma: no cover


async def test_tls_wanted_but_not_offered(ca: trustme.CA, nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        with pytest.raises(nats.ConnectError, match=r": the server does not offer TLS$"):
            async with nats.connect(nats_server.url, tls=client_context(ca)):
                pass  # pragma: no cover
