"""The options of a connection and the server addresses, checked once by `connect`."""

from __future__ import annotations

import math
import ssl
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

import attrs

from .. import _checks as checks
from . import _nkeys, _subjects

DEFAULT_SERVER = "nats://127.0.0.1:4222"
_SERVER = "a server URL such as 'nats://host:4222' or 'tls://host:4222'"


@attrs.frozen
class ServerAddress:
    """One server of the pool: where it is and the credentials its URL carries."""

    url: str  # scheme://host:port, no credentials: what messages and events show
    host: str
    port: int
    tls: bool  # a tls:// URL: TLS even if the server does not require it
    user: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    token: str | None = attrs.field(default=None, repr=False)
    discovered: bool = False  # learnt from a server's INFO connect_urls

    @property
    def key(self) -> tuple[str, int]:
        return (self.host, self.port)


def parse_server(value: object, *, what: str = "server", discovered: bool = False) -> ServerAddress:
    """A server URL (``nats://[user:password@|token@]host[:port]``, ``tls://...``, or bare
    ``host:port``) as a `ServerAddress`.

    Raises:
        TypeError: not a str.
        ValueError: not such a URL.
    """
    if not isinstance(value, str):
        raise checks.type_error(what, _SERVER, value)
    text = str.__str__(value).strip()
    try:
        parts = urlsplit(text if "://" in text else f"nats://{text}")
        port = parts.port
    except ValueError:
        raise checks.value_error(what, _SERVER, value) from None
    host = parts.hostname
    if parts.scheme not in ("nats", "tls") or not host or parts.path not in ("", "/"):
        raise checks.value_error(what, _SERVER, value)
    port = 4222 if port is None else port
    shown = f"[{host}]" if ":" in host else host
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    token = None
    if user is not None and password is None:
        user, token = None, user
    return ServerAddress(
        url=f"{parts.scheme}://{shown}:{port}",
        host=host,
        port=port,
        tls=parts.scheme == "tls",
        user=user,
        password=password,
        token=token,
        discovered=discovered,
    )


@attrs.frozen(kw_only=True)
class Options:
    """Everything `connect` was given, checked."""

    servers: tuple[ServerAddress, ...]
    name: str | None = None
    user: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    token: str | None = attrs.field(default=None, repr=False)
    nkey_seed: str | None = attrs.field(default=None, repr=False)
    tls: ssl.SSLContext | None = None
    tls_hostname: str | None = None
    tls_first: bool = False
    connect_timeout: float = 2.0
    ping_interval: float = 120.0
    max_outstanding_pings: int = 2
    allow_reconnect: bool = True
    max_reconnect_attempts: float = math.inf
    reconnect_delay: float = 0.1
    reconnect_max_delay: float = 2.0
    reconnect_jitter: float = 0.2
    randomize: bool = True
    pending_size: int = 8 * 1024 * 1024
    echo: bool = True
    inbox_prefix: str = "_INBOX"
    close_timeout: float = 5.0


def _optional_str(value: object, what: str) -> str | None:
    return None if value is None else checks.name(value, what)


def _secret(value: object, what: str, *, empty: bool = False) -> str | None:
    """A password or token: a str (non-empty unless `empty`); messages never show it."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected {what} to be a str, got a value of type {type(value).__name__}")
    if not (value or empty):
        raise ValueError(f"expected {what} to be a non-empty str, got an empty one")
    return str.__str__(value)


def make_options(
    servers: str | Sequence[str],
    *,
    name: object,
    user: object,
    password: object,
    token: object,
    nkey_seed: object,
    tls: object,
    tls_hostname: object,
    tls_first: object,
    connect_timeout: object,
    ping_interval: object,
    max_outstanding_pings: object,
    allow_reconnect: object,
    max_reconnect_attempts: object,
    reconnect_delay: object,
    reconnect_max_delay: object,
    reconnect_jitter: object,
    randomize: object,
    pending_size: object,
    echo: object,
    inbox_prefix: object,
    close_timeout: object,
) -> Options:
    """Check every argument of `connect`; raise TypeError/ValueError (or ImportError for an
    nkey without `cryptography`) before anything is opened."""
    addresses: tuple[ServerAddress, ...]
    if isinstance(servers, str):
        addresses = (parse_server(servers, what="servers"),)
    elif isinstance(servers, Sequence) and servers:
        addresses = tuple(parse_server(item, what="servers item") for item in servers)
    else:
        raise checks.type_error("servers", "a server URL or a non-empty list of them", servers)
    user_ = _optional_str(user, "user")
    password_ = _secret(password, "password", empty=True)
    if (user_ is None) != (password_ is None):
        raise ValueError("expected user and password to be given together, got only one")
    token_ = _secret(token, "token")
    seed = None if nkey_seed is None else _nkeys.checked_seed(nkey_seed, "nkey_seed")
    if sum(x is not None for x in (user_, token_, seed)) > 1:
        raise ValueError("expected at most one of user/password, token and nkey_seed, got several")
    if seed is not None:
        _nkeys.require_cryptography()
    if tls is not None:
        checks.instance(tls, "tls", ssl.SSLContext, expected="an ssl.SSLContext or None")
    jitter = checks.number(reconnect_jitter, "reconnect_jitter", minimum=0.0)
    if jitter > 1.0:
        raise checks.value_error("reconnect_jitter", "a number between 0 and 1", reconnect_jitter)
    prefix = _subjects.publish_subject(inbox_prefix, "inbox_prefix")
    return Options(
        servers=addresses,
        name=_optional_str(name, "name"),
        user=user_,
        password=password_,
        token=token_,
        nkey_seed=seed,
        tls=tls,  # type: ignore[arg-type]  # checked above
        tls_hostname=_optional_str(tls_hostname, "tls_hostname"),
        tls_first=checks.boolean(tls_first, "tls_first"),
        connect_timeout=checks.seconds(connect_timeout, "connect_timeout", inf=False),
        ping_interval=checks.seconds(ping_interval, "ping_interval"),
        max_outstanding_pings=checks.count(
            max_outstanding_pings, "max_outstanding_pings", minimum=1
        ),
        allow_reconnect=checks.boolean(allow_reconnect, "allow_reconnect"),
        max_reconnect_attempts=checks.count(
            max_reconnect_attempts, "max_reconnect_attempts", inf=True
        ),
        reconnect_delay=checks.seconds(reconnect_delay, "reconnect_delay", inf=False, zero=True),
        reconnect_max_delay=checks.seconds(
            reconnect_max_delay, "reconnect_max_delay", inf=False, zero=True
        ),
        reconnect_jitter=jitter,
        randomize=checks.boolean(randomize, "randomize"),
        pending_size=checks.count(pending_size, "pending_size"),
        echo=checks.boolean(echo, "echo"),
        inbox_prefix=prefix,
        close_timeout=checks.seconds(close_timeout, "close_timeout", zero=True),
    )
