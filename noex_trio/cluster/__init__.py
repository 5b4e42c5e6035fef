"""Nodes of a cluster on NATS: membership, failure detection, a safe codec, requests.

::

    config = noex_trio.cluster.ClusterConfig(name="orders-1", servers="nats://nats:4222")
    async with noex_trio.cluster.join(config) as node:
        node.members()                       # the other nodes up now
        async with node.watch() as events:   # NodeUp / NodeDown(reason="noconnection")
            ...
        node.serve("echo", handler)          # answer requests
        await node.request("orders-2", "echo", payload, timeout=1.0)

This is the foundation of distribution (OTP's ``net_kernel``): node names, heartbeats and
``nodedown``, and the transport requests travel on. Remote refs, call/cast/monitor/link
across nodes and remote names are built on it later. See ``docs/guides/cluster.md``.

It uses only the NATS client (`noex_trio.nats`) and the library's value modules; ``import
noex_trio`` does not import it.
"""

from __future__ import annotations

import contextlib

from ._codec import BaseCodec as BaseCodec
from ._codec import Codec as Codec
from ._codec import PickleCodec as PickleCodec
from ._config import ClusterConfig as ClusterConfig
from ._errors import ClusterError as ClusterError
from ._errors import CodecError as CodecError
from ._errors import NoConnectionError as NoConnectionError
from ._errors import NodeNameTakenError as NodeNameTakenError
from ._errors import NoHandlerError as NoHandlerError
from ._errors import PayloadTooLargeError as PayloadTooLargeError
from ._errors import RemoteError as RemoteError
from ._errors import RemoteTimeoutError as RemoteTimeoutError
from ._events import DownDetail as DownDetail
from ._events import NodeDown as NodeDown
from ._events import NodeEvent as NodeEvent
from ._events import NodeEvents as NodeEvents
from ._events import NodeStatistics as NodeStatistics
from ._events import NodeStatus as NodeStatus
from ._events import NodeUp as NodeUp
from ._identity import NodeId as NodeId
from ._node import Node as Node
from ._node import join as join
from ._rpc import Handler as Handler
from ._rpc import Request as Request

__all__ = [
    "BaseCodec",
    "ClusterConfig",
    "ClusterError",
    "Codec",
    "CodecError",
    "DownDetail",
    "Handler",
    "NoConnectionError",
    "NoHandlerError",
    "Node",
    "NodeDown",
    "NodeEvent",
    "NodeEvents",
    "NodeId",
    "NodeNameTakenError",
    "NodeStatistics",
    "NodeStatus",
    "NodeUp",
    "PayloadTooLargeError",
    "PickleCodec",
    "RemoteError",
    "RemoteTimeoutError",
    "Request",
    "join",
]


def _fixup_module_metadata() -> None:
    """Public objects show ``noex_trio.cluster.X`` in reprs and tracebacks, and pickle by it."""
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("noex_trio.cluster._"):
            with contextlib.suppress(AttributeError, TypeError):  # e.g. typing aliases
                obj.__module__ = "noex_trio.cluster"


_fixup_module_metadata()
del _fixup_module_metadata
