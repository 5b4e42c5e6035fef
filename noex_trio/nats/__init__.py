"""A Trio-native client of the NATS core protocol (no asyncio bridge).

::

    async with noex_trio.nats.connect("nats://127.0.0.1:4222") as nc:
        async with nc.subscribe("greet.*") as sub:
            await nc.publish("greet.joe", b"hello")
            async for msg in sub:
                ...
        reply = await nc.request("svc.echo", b"ping", timeout=1.0)

Publish/subscribe with wildcards and queue groups, headers, request/reply over one muxed
inbox with "no responders", flush, keepalive PINGs, reconnection with backoff and
re-subscription, bounded per-subscription queues (slow consumers drop, never block), drain,
user/password, token and nkey authentication, TLS. And a JetStream key-value client
(`key_value`: compare-and-set, per-key TTL leases, watch), the building block of a global
registry. See ``docs/guides/nats-client.md``.

It stands alone: it imports nothing of noex_trio but its value modules (argument checks,
the error root), and nothing of noex_trio imports it unless asked to.
"""

from __future__ import annotations

import contextlib

from ._connect import connect as connect
from ._connection import Connection as Connection
from ._errors import AuthorizationError as AuthorizationError
from ._errors import ConnectError as ConnectError
from ._errors import ConnectionClosedError as ConnectionClosedError
from ._errors import ConnectionLostError as ConnectionLostError
from ._errors import FlushTimeoutError as FlushTimeoutError
from ._errors import JetStreamError as JetStreamError
from ._errors import KeyExistsError as KeyExistsError
from ._errors import MaxPayloadError as MaxPayloadError
from ._errors import NatsError as NatsError
from ._errors import NatsTimeoutError as NatsTimeoutError
from ._errors import NoRespondersError as NoRespondersError
from ._errors import OutboundBufferFullError as OutboundBufferFullError
from ._errors import ProtocolError as ProtocolError
from ._errors import RequestTimeoutError as RequestTimeoutError
from ._errors import ServerError as ServerError
from ._errors import SlowConsumerError as SlowConsumerError
from ._errors import StaleConnectionError as StaleConnectionError
from ._errors import WrongRevisionError as WrongRevisionError
from ._events import ConnectionEvent as ConnectionEvent
from ._events import ConnectionEvents as ConnectionEvents
from ._events import ConnectionStatistics as ConnectionStatistics
from ._events import Status as Status
from ._headers import Headers as Headers
from ._kv import KeyEntry as KeyEntry
from ._kv import KeyValue as KeyValue
from ._kv import decode_key as decode_key
from ._kv import encode_key as encode_key
from ._kv import key_value as key_value
from ._kv_watch import KeyWatcher as KeyWatcher
from ._nkeys import create_user_seed as create_user_seed
from ._nkeys import public_key as nkey_public_key
from ._subscription import Msg as Msg
from ._subscription import Subscription as Subscription
from ._subscription import SubscriptionStatistics as SubscriptionStatistics

__all__ = [
    "AuthorizationError",
    "ConnectError",
    "Connection",
    "ConnectionClosedError",
    "ConnectionEvent",
    "ConnectionEvents",
    "ConnectionLostError",
    "ConnectionStatistics",
    "FlushTimeoutError",
    "Headers",
    "JetStreamError",
    "KeyEntry",
    "KeyExistsError",
    "KeyValue",
    "KeyWatcher",
    "MaxPayloadError",
    "Msg",
    "NatsError",
    "NatsTimeoutError",
    "NoRespondersError",
    "OutboundBufferFullError",
    "ProtocolError",
    "RequestTimeoutError",
    "ServerError",
    "SlowConsumerError",
    "StaleConnectionError",
    "Status",
    "Subscription",
    "SubscriptionStatistics",
    "WrongRevisionError",
    "connect",
    "create_user_seed",
    "decode_key",
    "encode_key",
    "key_value",
    "nkey_public_key",
]


def _fixup_module_metadata() -> None:
    """Public objects show ``noex_trio.nats.X`` in reprs and tracebacks, and pickle by it."""
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("noex_trio.nats._"):
            with contextlib.suppress(AttributeError, TypeError):  # e.g. typing aliases
                obj.__module__ = "noex_trio.nats"


_fixup_module_metadata()
del _fixup_module_metadata
