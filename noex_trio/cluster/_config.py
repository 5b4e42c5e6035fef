"""`ClusterConfig`: what a node needs to join a cluster, checked once, when it is made."""

from __future__ import annotations

import math
import re
import ssl
import types
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Final

import attrs

from .. import _checks as checks
from .. import nats
from ._codec import BaseCodec, Codec
from ._identity import check_node_name

_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]+")
_SUFFIX: Final = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
_SUFFIX_TEXT: Final = "dot-separated tokens of letters, digits, '_' and '-'"


def _servers(value: object) -> tuple[str, ...]:
    expected = "a server URL or a non-empty list of them"
    if isinstance(value, str):
        return (checks.name(value, "servers"),)
    if not isinstance(value, Sequence) or isinstance(value, bytes | bytearray) or not value:
        raise checks.type_error("servers", expected, value)
    return tuple(checks.name(server, "servers") for server in value)


def check_suffix(value: object, what: str = "suffix") -> str:
    """A subject suffix a node serves: ``"echo"``, ``"orders.create"``."""
    if not isinstance(value, str):
        raise checks.type_error(what, _SUFFIX_TEXT, value)
    text = str.__str__(value)
    if not _SUFFIX.fullmatch(text) or len(text) > 1024:
        raise checks.value_error(what, _SUFFIX_TEXT, value)
    return text


def _cluster(value: object) -> str:
    expected = "a str of letters, digits, '_' and '-'"
    if not isinstance(value, str):
        raise checks.type_error("cluster", expected, value)
    text = str.__str__(value)
    if not _TOKEN.fullmatch(text):
        raise checks.value_error("cluster", expected, value)
    return text


def _prefix(value: object) -> str:
    return check_suffix(value, "subject_prefix")


def _optional(value: object, what: str) -> str | None:
    return None if value is None else checks.name(value, what)


def _user(value: object) -> str | None:
    return _optional(value, "user")


def _password(value: object) -> str | None:
    return _optional(value, "password")


def _token(value: object) -> str | None:
    return _optional(value, "token")


def _nkey_seed(value: object) -> str | None:
    return _optional(value, "nkey_seed")


def _tls_hostname(value: object) -> str | None:
    return _optional(value, "tls_hostname")


def _tls(value: object) -> ssl.SSLContext | None:
    if value is None:
        return None
    return checks.instance(value, "tls", ssl.SSLContext, expected="an ssl.SSLContext or None")


def _heartbeat_interval(value: object) -> float:
    return checks.seconds(value, "heartbeat_interval", inf=False)


def _failure_timeout(value: object) -> float:
    return checks.seconds(value, "failure_timeout", inf=False)


def _claim_timeout(value: object) -> float:
    return checks.seconds(value, "claim_timeout", inf=False)


def _connect_timeout(value: object) -> float:
    return checks.seconds(value, "connect_timeout", inf=False)


def _codec(value: object) -> BaseCodec:
    if not isinstance(value, BaseCodec):
        raise checks.type_error("codec", "a Codec or a PickleCodec", value)
    return value


def _behaviours(value: object) -> Mapping[str, object]:
    expected = "a mapping of behaviour names (non-empty str) to behaviour classes"
    if not isinstance(value, Mapping):
        raise checks.type_error("behaviours", expected, value)
    table: dict[str, object] = {}
    for key, behaviour in value.items():
        name = checks.name(key, "a behaviour name")
        if not isinstance(behaviour, type):
            raise checks.type_error(f"behaviour {name!r}", "a behaviour class", behaviour)
        table[name] = behaviour
    return types.MappingProxyType(table)


def _max_concurrent_requests(value: object) -> int:
    return checks.count(value, "max_concurrent_requests", minimum=1)


def _max_reconnect_attempts(value: object) -> float:
    return checks.count(value, "max_reconnect_attempts", minimum=1, inf=True)


@attrs.frozen(kw_only=True)
class ClusterConfig:
    """How a node joins a cluster: ``noex_trio.cluster.join(ClusterConfig(name="orders-1",
    servers="nats://nats.internal:4222"))``.

    Every argument is checked here (``TypeError``/``ValueError``), so a bad configuration
    fails where it is written, not when the node joins.

    Attributes:
        name: the node's name, unique in the cluster (any printable str up to 128
            characters: ``"orders-1"``, ``"api@host.example.com"``).
        servers: the NATS server URL(s): ``nats://host:4222``, ``tls://host:4222``
            (credentials may be in the URL). The node only connects out: it listens on
            nothing.
        user, password, token, nkey_seed: NATS credentials (user/password, token, or an nkey
            user seed ``SU...``; the last needs the ``cluster`` extra).
        tls: an `ssl.SSLContext` for TLS to NATS (also used when a URL is ``tls://`` or the
            server requires TLS). tls_hostname: the name to check the certificate against.
        cluster: the cluster's name; nodes of different clusters on the same NATS server
            never see each other.
        subject_prefix: the first token(s) of every subject the cluster uses; with
            `cluster`, subjects are ``<subject_prefix>.<cluster>.node.<node>.…``.
        heartbeat_interval: seconds between a node's heartbeats.
        failure_timeout: a node not heard from for this long is down (``NodeDown`` with
            detail ``"timeout"``): a killed, frozen or cut-off node is detected between
            ``failure_timeout - heartbeat_interval`` and ``failure_timeout`` seconds after it
            stopped (plus scheduling delays). The same bound tells a node that its own
            heartbeats no longer come back (it is cut off: every other node is down for it).
            Must exceed `heartbeat_interval`; 3 to 5 heartbeats is the useful range. All
            nodes of a cluster should use the same values (as Erlang's ``net_ticktime``).
        claim_timeout: seconds a joining node waits for an answer to its name claim (the
            current holder, or a rival claiming at the same time). Longer than the worst
            round trip through NATS; at least `heartbeat_interval` makes `Node.members`
            complete when `join` returns.
        connect_timeout: seconds for one connection attempt to a NATS server.
        codec: how messages are encoded: `Codec` (the default, never runs code when
            decoding; register your message classes on it) or `PickleCodec` (trusted
            clusters only). Every node must use the same.
        max_reconnect_attempts: passes over the servers after which a node that lost its
            connection gives up: its ``async with join(...)`` block ends with
            `noex_trio.nats.ConnectionClosedError` (default: never give up; a node keeps
            trying, seeing no other node meanwhile).
        max_concurrent_requests: requests handled at once by this node's handlers; more
            wait in the subscription's queue.
        behaviours: the GenServer classes other nodes may start on this one, by name
            (``GenServer.start_on(node, "worker", ...)``): code is never sent over the wire,
            only a name this node knows.
    """

    name: str = attrs.field(converter=check_node_name)
    servers: tuple[str, ...] = attrs.field(default=("nats://127.0.0.1:4222",), converter=_servers)
    user: str | None = attrs.field(default=None, converter=_user)
    password: str | None = attrs.field(default=None, repr=False, converter=_password)
    token: str | None = attrs.field(default=None, repr=False, converter=_token)
    nkey_seed: str | None = attrs.field(default=None, repr=False, converter=_nkey_seed)
    tls: ssl.SSLContext | None = attrs.field(default=None, converter=_tls)
    tls_hostname: str | None = attrs.field(default=None, converter=_tls_hostname)
    cluster: str = attrs.field(default="default", converter=_cluster)
    subject_prefix: str = attrs.field(default="noex", converter=_prefix)
    heartbeat_interval: float = attrs.field(default=0.2, converter=_heartbeat_interval)
    failure_timeout: float = attrs.field(default=0.8, converter=_failure_timeout)
    claim_timeout: float = attrs.field(default=0.25, converter=_claim_timeout)
    connect_timeout: float = attrs.field(default=2.0, converter=_connect_timeout)
    codec: BaseCodec = attrs.field(factory=Codec, converter=_codec)
    max_reconnect_attempts: float = attrs.field(default=math.inf, converter=_max_reconnect_attempts)
    max_concurrent_requests: int = attrs.field(default=1024, converter=_max_concurrent_requests)
    behaviours: Mapping[str, object] = attrs.field(
        factory=dict, converter=_behaviours, eq=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        if self.failure_timeout <= self.heartbeat_interval:
            raise ValueError(
                f"expected failure_timeout to be larger than heartbeat_interval "
                f"({self.heartbeat_interval} s), got {self.failure_timeout}"
            )
        self._connect()  # checks the URLs and credentials the way the NATS client will

    def _connect(self) -> AbstractAsyncContextManager[nats.Connection]:
        """The NATS connection of a node (not entered).

        The client's own keepalive PINGs every ``failure_timeout``, so a connection to a
        frozen server is replaced within about three of them; the node itself knows sooner,
        from its own heartbeats (see `failure_timeout`).
        """
        return nats.connect(
            list(self.servers),
            name=f"noex {self.prefix} {self.name}",
            user=self.user,
            password=self.password,
            token=self.token,
            nkey_seed=self.nkey_seed,
            tls=self.tls,
            tls_hostname=self.tls_hostname,
            connect_timeout=self.connect_timeout,
            ping_interval=self.failure_timeout,
            max_outstanding_pings=2,
            max_reconnect_attempts=self.max_reconnect_attempts,
            reconnect_delay=min(0.1, self.heartbeat_interval),
            reconnect_max_delay=max(1.0, self.failure_timeout),
            echo=True,
            close_timeout=max(1.0, self.failure_timeout),
        )

    @property
    def prefix(self) -> str:
        """The subjects' common prefix: ``<subject_prefix>.<cluster>``."""
        return f"{self.subject_prefix}.{self.cluster}"
