"""Targets on other nodes of a cluster: `RemoteRef` (a process there) and `RemoteName` (a name
registered there, OTP's ``{Name, Node}``).

Both are plain values: a `RemoteRef` is the node's `NodeId` (name and incarnation) and the
process's id on that node; two refs of the same process compare equal, whoever decoded them.
What to do with them is up to the runtime's distribution (``Kernel.distribution``, set when
the runtime joined a cluster: ``_distribution.py``); ``call``/``cast``/``stop``/monitors/links
hand a remote target to it, and everything else refuses it with a clear error.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol, final

import attrs
import trio

from . import _checks as checks
from ._context import runtime_var, wire_var
from ._exceptions import NoexError
from ._process import ProcessRef
from ._results import ExitReason
from ._safe_format import safe_repr

if TYPE_CHECKING:
    from ._links import MonitorRef
    from ._process import Process
    from .cluster import NodeId


@final
class RemoteRef(ProcessRef):
    """A process on another node of the cluster: what a local ref becomes when it crosses
    the wire (in a message, a reply, an error, a `Down`).

    Use it as a local ref: ``GenServer.call``/``cast``/``stop``/``send_after``/``exit``,
    ``monitor``/``link``, and ``await ref.call(...)``. Hashable and compared by value (its
    node and id): every copy of the same process's ref is equal. A ref that comes back to its
    own node is the local ref again.

    Its `node` is the `noex_trio.cluster.NodeId` of the process's node (name and
    incarnation: a restarted node's processes are other processes), its `id` the process's
    id there.
    """

    __slots__ = ("_node", "_pid", "_remote_label")

    def __init__(self, node: NodeId, pid: int, label: str) -> None:
        self._node = node
        self._pid = pid
        self._remote_label = label

    @property
    def node(self) -> NodeId:
        """The `noex_trio.cluster.NodeId` of the process's node."""
        return self._node

    @property
    def id(self) -> int:
        """The process's id on its node."""
        return self._pid

    if TYPE_CHECKING:

        def _noex_call(self, msg: Any, timeout: float = 5.0) -> Coroutine[Any, Any, Any]: ...
        def _noex_cast(self, msg: Any) -> None: ...
        def _noex_send_after(self, msg: Any, delay: float) -> None: ...

    def call(self, message: Any, timeout: float = 5.0) -> Coroutine[Any, Any, Any]:
        """Same as ``await GenServer.call(self, message, timeout)``."""
        return call_remote(self, message, timeout)

    def cast(self, message: Any) -> None:
        """Same as ``GenServer.cast(self, message)``."""
        distribution_for(self).cast(self, message)

    async def stop(self, reason: ExitReason = "normal") -> None:
        """Same as ``GenServer.stop(self, reason)``."""
        await stop_remote(self, reason)

    @property
    def exit_reason(self) -> None:
        """Always None: a remote process's exit is learnt by monitoring it."""
        return None

    def is_running(self) -> bool:
        """As far as this node knows: False once its node is down (or restarted) or a message
        to it found it gone; True otherwise. A call is the authoritative check."""
        distribution = current_distribution()
        return distribution is not None and distribution.is_running(self)

    def statistics(self) -> Any:
        """Not available for a process on another node.

        Raises:
            NoexError: always (ask its node: ``rt.snapshot()`` there, or the observer).
        """
        raise NoexError(f"statistics() of {self._label} is only available on its own node")

    @property
    def _label(self) -> str:
        return f"{self._remote_label}@{self._node.name}"

    def __repr__(self) -> str:
        return f"<RemoteRef {self._label}>"

    def __eq__(self, other: object) -> bool:
        if type(other) is not RemoteRef:
            return NotImplemented
        return self._pid == other._pid and self._node == other._node

    def __hash__(self) -> int:
        return hash((RemoteRef, self._node, self._pid))

    def __reduce__(self) -> tuple[Any, ...]:
        wire = wire_var.get()
        if wire is not None:  # (back on its own node, it becomes the local ref again)
            reduced: tuple[Any, ...] = wire.reduce_ref(self)
            return reduced
        return (_restore_remote, (self._node, self._pid, self._remote_label))


def _restore_remote(node: NodeId, pid: int, label: str) -> RemoteRef:
    return RemoteRef._create(node, pid, label)


@attrs.frozen
class RemoteName:
    """A process registered under `name` on the node named `node` (OTP's ``{Name, Node}``).

    A target for ``GenServer.call``/``cast``/``stop``/``send_after``/``exit``, ``monitor``
    and ``link``: the name is looked up on that node when each message arrives there.

    Attributes:
        name: the name in that node's runtime registry.
        node: the node's name.
    """

    name: str = attrs.field(validator=lambda _i, _a, value: _check_text(value, "name"))
    node: str = attrs.field(validator=lambda _i, _a, value: _check_text(value, "node"))

    if TYPE_CHECKING:

        def _noex_call(self, msg: Any, timeout: float = 5.0) -> Coroutine[Any, Any, Any]: ...
        def _noex_cast(self, msg: Any) -> None: ...
        def _noex_send_after(self, msg: Any, delay: float) -> None: ...

    @property
    def _label(self) -> str:
        return f"{self.name}@{self.node}"

    def __str__(self) -> str:
        return self._label


def _check_text(value: object, what: str) -> None:
    if not isinstance(value, str):
        raise checks.type_error(what, "a non-empty str", value)
    if not value:
        raise checks.value_error(what, "a non-empty str", value)


#: What a remote target is.
RemoteTarget = RemoteRef | RemoteName


def is_remote(target: object) -> bool:
    return type(target) is RemoteRef or type(target) is RemoteName


class Distribution(Protocol):
    """What the process core asks of the runtime's distribution (``_distribution.py``)."""

    def is_running(self, target: RemoteTarget) -> bool: ...
    async def call(self, target: RemoteTarget, message: object, timeout: float) -> Any: ...  # noqa: ASYNC109
    def cast(self, target: RemoteTarget, message: object) -> None: ...
    async def stop(self, target: RemoteTarget, reason: ExitReason) -> None: ...
    def send_exit(
        self, sender: Process | None, target: RemoteTarget, reason: ExitReason
    ) -> None: ...
    def monitor(self, watcher: Process, target: RemoteTarget) -> MonitorRef: ...
    def demonitor(self, mref: MonitorRef) -> None: ...
    def link(self, me: Process, target: RemoteTarget) -> None: ...
    def unlink(self, me: Process, target: RemoteTarget) -> None: ...
    async def start_on(
        self,
        me: Process | None,
        node_name: str,
        behaviour: str,
        args: tuple[Any, ...],
        *,
        name: str | None,
        link: bool,
        timeout: float,  # noqa: ASYNC109
    ) -> ProcessRef | None: ...


def current_distribution() -> Distribution | None:
    kernel = runtime_var.get()
    return None if kernel is None else kernel.distribution


def distribution_for(target: object) -> Distribution:
    """The distribution of the current runtime, to handle the remote `target`.

    Raises:
        NoexError: the runtime did not join a cluster (or no runtime runs here).
    """
    distribution = current_distribution()
    if distribution is None:
        raise NoexError(
            f"{safe_repr(target)} is on another node, but this runtime is not in a cluster "
            "(open it with open_runtime(cluster=noex_trio.cluster.ClusterConfig(...)))"
        )
    return distribution


async def call_remote(target: RemoteTarget, message: object, timeout: object) -> Any:  # noqa: ASYNC109
    """``GenServer.call`` of a remote target (a checkpoint on every path)."""
    try:
        distribution = distribution_for(target)
        seconds = checks.seconds(timeout, "timeout")
    except Exception:
        await trio.lowlevel.checkpoint()
        raise
    return await distribution.call(target, message, seconds)


async def stop_remote(target: RemoteTarget, reason: ExitReason) -> None:
    """``GenServer.stop`` of a remote target (a checkpoint on every path)."""
    try:
        distribution = distribution_for(target)
    except Exception:
        await trio.lowlevel.checkpoint()
        raise
    await distribution.stop(target, reason)
