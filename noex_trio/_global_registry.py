"""`GlobalRegistry`: names registered across the cluster (OTP's ``:global``); how it works is in
`_global_names` (JetStream key-value, leases, conflicts)."""

from __future__ import annotations

from typing import Any, final

import trio

from . import _checks as checks
from ._context import current_kernel, current_process
from ._exceptions import NoexError, NotInProcessError
from ._global_names import GlobalNames
from ._process import Process, ProcessRef
from ._remote_ref import RemoteRef


async def global_names() -> GlobalNames:
    """This runtime's `GlobalNames`, made (bucket opened, watch started) on first use.

    Raises:
        NoexError: the runtime is not in a cluster.
        noex_trio.nats.JetStreamError: the NATS server has no JetStream (or is too old).
    """
    kernel = current_kernel()
    distribution: Any = kernel.distribution
    if distribution is None:
        await trio.lowlevel.checkpoint()
        raise NoexError(
            "the global registry needs a runtime in a cluster (open_runtime(cluster=...)) "
            "and JetStream on its NATS server"
        )
    names: GlobalNames | None = distribution.global_names
    if names is None:
        names = await distribution.open_global_names()
    await names.ready.wait()
    return names


@final
class GlobalRegistry:
    """Names registered across the cluster (see the module docstring): ``await
    GlobalRegistry.register("leader")`` in a process, ``await GlobalRegistry.whereis("leader")``
    on any node, then ``GenServer.call(ref, ...)``."""

    def __init__(self) -> None:  # pragma: no cover - a namespace
        raise TypeError("GlobalRegistry is a namespace: use its functions")

    @staticmethod
    async def register(name: str, ref: ProcessRef | None = None) -> None:
        """Register `name` for the calling process (or `ref`, a process of this node) in the
        whole cluster, atomically.

        Raises:
            AlreadyRegisteredError: a live process holds it.
            NotInProcessError / TypeError / ValueError: no process given, or a bad argument.
            NoexError: not in a cluster; noex_trio.nats.JetStreamError: no JetStream.
        """
        checks.name(name, "name")
        proc = _local_process(ref)
        names = await global_names()
        await names.register(name, proc)

    @staticmethod
    async def unregister(name: str) -> bool:
        """Give back `name` if this node registered it; True if it did."""
        checks.name(name, "name")
        names = await global_names()
        return await names.unregister(name)

    @staticmethod
    async def whereis(name: str) -> ProcessRef | None:
        """The process registered under `name` anywhere in the cluster, or None (a
        `RemoteRef` for another node's; from this node's copy of the table)."""
        checks.name(name, "name")
        names = await global_names()
        return names.whereis(name)

    @staticmethod
    async def registered() -> list[str]:
        """Every name registered now (this node's copy), sorted."""
        names = await global_names()
        return sorted(name for name in names.table if names.whereis(name) is not None)


def _local_process(ref: ProcessRef | None) -> Process:
    if ref is None:
        proc = current_process()
        if proc is None:
            raise NotInProcessError("GlobalRegistry.register()", hint=" (or pass a ref)")
        return proc
    if isinstance(ref, RemoteRef) or not isinstance(ref, ProcessRef):
        raise checks.type_error("ref", "a ref of a process of this node", ref)
    if not ref.is_running():
        raise NoexError(f"{ref._label} is not running")
    return ref._proc
