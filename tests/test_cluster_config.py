"""The cluster's values: configuration, node identity, subject tokens, control messages,
errors, and the public surface of ``noex_trio.cluster``."""

from __future__ import annotations

import copy
import inspect
import math
import pickle
import ssl
import time

import attrs
import pytest
import trio

import noex_trio
from noex_trio import cluster
from noex_trio.cluster import ClusterConfig, NodeId
from noex_trio.cluster._identity import name_token, new_incarnation, token_name
from noex_trio.cluster._protocol import Subjects, decode_control, encode_control
from noex_trio.cluster._rpc import nats_failure
from noex_trio.nats.testing import NatsServer

# --------------------------------------------------------------------------- configuration


def test_defaults() -> None:
    config = ClusterConfig(name="orders-1")
    assert config.servers == ("nats://127.0.0.1:4222",)
    assert (config.heartbeat_interval, config.failure_timeout) == (0.2, 0.8)
    assert config.failure_timeout < 1  # the detection bound the issue asks for
    assert config.prefix == "noex.default"
    assert isinstance(config.codec, cluster.Codec)
    assert config.max_reconnect_attempts == math.inf
    assert ClusterConfig(name="a").codec is not config.codec  # one codec per config
    assert "secret" not in repr(ClusterConfig(name="a", user="u", password="secret"))
    assert "secret" not in repr(ClusterConfig(name="a", token="secret"))


def test_values_are_normalised() -> None:
    config = ClusterConfig(
        name="a",
        servers=["nats://h1:4222", "tls://h2:4222"],
        heartbeat_interval=1,
        failure_timeout=3,
        cluster="prod-eu",
        subject_prefix="acme.apps",
        tls=ssl.create_default_context(),
        codec=cluster.PickleCodec(),
        max_reconnect_attempts=5,
    )
    assert config.servers == ("nats://h1:4222", "tls://h2:4222")
    assert type(config.heartbeat_interval) is float
    assert config.prefix == "acme.apps.prod-eu"
    assert attrs.evolve(config, name="b").name == "b"


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"name": ""}, ValueError, r"^expected name to be a non-empty printable str of at most"),
        ({"name": "a\nb"}, ValueError, r"^expected name to be a non-empty printable str"),
        ({"name": "x" * 129}, ValueError, r"^expected name to be a non-empty printable str"),
        ({"name": 1}, TypeError, r"^expected name to be a non-empty printable str"),
        ({"servers": []}, TypeError, r"^expected servers to be a server URL or a non-empty list"),
        ({"servers": b"nats://x"}, TypeError, r"^expected servers to be a server URL or a no"),
        ({"servers": [1]}, TypeError, r"^expected servers to be a non-empty str, got 1$"),
        ({"servers": "http://x"}, ValueError, r"^expected servers item to be a server URL"),
        ({"user": ""}, ValueError, r"^expected user to be a non-empty str, got ''$"),
        ({"password": 1}, TypeError, r"^expected password to be a non-empty str, got 1$"),
        ({"token": 1}, TypeError, r"^expected token to be a non-empty str"),
        ({"nkey_seed": "nope"}, ValueError, r"nkey"),
        ({"tls_hostname": 1}, TypeError, r"^expected tls_hostname to be a non-empty str"),
        ({"tls": "yes"}, TypeError, r"^expected tls to be an ssl.SSLContext or None, got 'y"),
        ({"cluster": "a.b"}, ValueError, r"^expected cluster to be a str of letters, digits,"),
        ({"cluster": 1}, TypeError, r"^expected cluster to be a str of letters, digits,"),
        ({"subject_prefix": "a..b"}, ValueError, r"^expected subject_prefix to be dot-sepa"),
        ({"subject_prefix": 1}, TypeError, r"^expected subject_prefix to be dot-separated"),
        ({"heartbeat_interval": 0}, ValueError, r"^expected heartbeat_interval to be a fin"),
        ({"failure_timeout": math.inf}, ValueError, r"^expected failure_timeout to be a fin"),
        ({"claim_timeout": "1"}, TypeError, r"^expected claim_timeout to be a finite number"),
        ({"connect_timeout": -1}, ValueError, r"^expected connect_timeout to be a finite"),
        ({"codec": pickle}, TypeError, r"^expected codec to be a Codec or a PickleCodec, got"),
        ({"max_concurrent_requests": 0}, ValueError, r"^expected max_concurrent_requests to"),
        ({"max_reconnect_attempts": 0}, ValueError, r"^expected max_reconnect_attempts to be"),
        (
            {"heartbeat_interval": 1, "failure_timeout": 1},
            ValueError,
            r"^expected failure_timeout to be larger than heartbeat_interval \(1.0 s\), got 1.0$",
        ),
    ],
)
def test_bad_configuration(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ClusterConfig(**{"name": "a", **options})


def test_join_checks_its_argument() -> None:
    with pytest.raises(TypeError, match=r"^expected config to be a ClusterConfig, got 'a'$"):
        cluster.join("a")  # type: ignore[arg-type]


async def test_join_cannot_be_entered_twice(nats_server: NatsServer) -> None:
    joining = cluster.join(ClusterConfig(name="a", servers=nats_server.url, claim_timeout=0.05))
    async with joining:
        with pytest.raises(RuntimeError, match=r"^this join\(...\) was already entered; call"):
            await joining.__aenter__()


# --------------------------------------------------------------------------- identity


def test_node_id() -> None:
    node = NodeId("a", 255)
    assert str(node) == "a#00000000000000ff"
    assert NodeId("a", 1) < NodeId("a", 2) < NodeId("b", 0)
    assert pickle.loads(pickle.dumps(node)) == node
    with pytest.raises(ValueError, match=r"^expected incarnation to be an int in \[0, 2\*\*64\)"):
        NodeId("a", -1)
    with pytest.raises(TypeError, match=r"^expected incarnation to be an int in \[0, 2\*\*64\)"):
        NodeId("a", True)


def test_incarnations_grow_with_time() -> None:
    first = new_incarnation()
    assert 0 <= first < 2**64
    assert abs((first >> 22) - time.time_ns() // 1_000_000) < 10_000
    assert new_incarnation() != first  # 22 random bits


@pytest.mark.parametrize("name", ["a", "orders-1", "api@host.example.com", "é x.*>", "x" * 128])
def test_name_tokens(name: str) -> None:
    token = name_token(name)
    assert all(char.isalnum() or char in "-_" for char in token)
    assert token_name(token) == name


@pytest.mark.parametrize("token", ["", "!!", "YQ=", "YR", "_w", "CgA", "4oCo"])
def test_tokens_that_name_no_node(token: str) -> None:
    """Not base64url, padded, non-canonical, not UTF-8, a control character, a separator."""
    assert token_name(token) is None


# --------------------------------------------------------------------------- wire helpers


def test_subjects() -> None:
    subjects = Subjects("noex.default")
    token = name_token("a")
    assert subjects.beat(token) == f"noex.default.node.{token}.hb"
    assert subjects.claim(token) == f"noex.default.node.{token}.claim"
    assert subjects.rpc(token, "x.y") == f"noex.default.node.{token}.rpc.x.y"
    assert subjects.rpc_all(token) == f"noex.default.node.{token}.rpc.>"
    assert subjects.sender(subjects.beat(token)) == "a"
    assert subjects.sender(f"other.default.node.{token}.hb") is None
    assert subjects.sender(f"noex.default.node.{token}.x.hb") is None


def test_control_messages() -> None:
    assert decode_control(encode_control("hb", 7), ("hb",)) == ("hb", 7)
    assert decode_control(encode_control("hb", 7), ("bye",)) is None
    assert decode_control(b"garbage", ("hb",)) is None
    codec = cluster.Codec()
    for value in [(1, "hb"), [1, "hb", 7], (2, "hb", 7), (True, "hb", 7), (1, b"hb", 7)]:
        assert decode_control(codec.encode(value), ("hb",)) is None
    assert decode_control(codec.encode((1, "hb", -7)), ("hb",)) is None
    assert decode_control(codec.encode((1, "hb", "7")), ("hb",)) is None


def test_nats_errors_become_cluster_errors() -> None:
    timeout = nats_failure("b", "x", 1.0, noex_trio.nats.RequestTimeoutError("s", 1.0))
    assert isinstance(timeout, cluster.RemoteTimeoutError)
    nobody = nats_failure("b", "x", 1.0, noex_trio.nats.NoRespondersError("s"))
    assert str(nobody) == "no connection to node 'b' (no responders)"
    closed = nats_failure("b", "x", 1.0, noex_trio.nats.ConnectionClosedError(""))
    assert str(closed) == "no connection to node 'b' (disconnected)"


# --------------------------------------------------------------------------- errors


ERRORS = [
    (cluster.ClusterError("x"), "x"),
    (cluster.CodecError("bad tag"), "bad tag"),
    (cluster.PayloadTooLargeError(20, 10), "message too large: more than 10 bytes (reached 20)"),
    (cluster.NodeNameTakenError("a", "noex.default"), "node name 'a' is taken in cluster 'no"),
    (cluster.NoConnectionError("b"), "no connection to node 'b'"),
    (cluster.NoConnectionError("b", "left"), "no connection to node 'b' (left)"),
    (cluster.NoHandlerError("b", "x"), "node 'b' serves no handler for 'x'"),
    (cluster.RemoteTimeoutError("b", "x", 1.5), "request 'x' to node 'b' timed out after 1.5 s"),
    (cluster.RemoteError("E", "app", "boom", "('boom',)"), "remote app.E: boom"),
    (cluster.RemoteError("E", "", ""), "remote E"),
]


@pytest.mark.parametrize(("error", "message"), ERRORS)
def test_errors_format_and_pickle(error: cluster.ClusterError, message: str) -> None:
    assert str(error).startswith(message)
    assert isinstance(error, noex_trio.NoexError)
    for copied in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(copied) is type(error)
        assert copied.args == error.args
        assert str(copied) == str(error)
        assert vars(copied) == vars(error)


def test_error_families() -> None:
    assert issubclass(cluster.CodecError, ValueError)
    assert issubclass(cluster.PayloadTooLargeError, cluster.CodecError)
    assert issubclass(cluster.RemoteTimeoutError, trio.TooSlowError)
    assert issubclass(cluster.NoHandlerError, LookupError)
    assert cluster.NoConnectionError("b").reason == "noconnection"


# --------------------------------------------------------------------------- public surface


def test_all_is_sorted_and_complete() -> None:
    assert cluster.__all__ == sorted(cluster.__all__)
    public = {
        name
        for name, obj in vars(cluster).items()
        if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
    }
    assert public <= set(cluster.__all__)
    for name in cluster.__all__:
        obj = getattr(cluster, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__ == "noex_trio.cluster", name


def test_import_noex_trio_does_not_import_the_cluster() -> None:
    import subprocess
    import sys

    code = "import sys, noex_trio; print('noex_trio.cluster' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
