"""`Groups`: process groups across the cluster (OTP's ``pg``).

A group is a name (a str, an int, bytes, or a tuple of them) with any number of processes;
a process may be in it several times (it leaves as many times). Only a process of this
runtime joins; a process that exits leaves all its groups. A group exists while it has members.

In a cluster, membership is *eventually consistent*, as ``pg``'s: each node owns its local
members and tells the other nodes; views may differ for a moment, never for good.

- **Deltas.** Every join or leave here is published at once (``publish_nowait``, so in the
  order they happen) on this node's subject ``P.node.<node>.pg``, with a sequence number.
  Every node reads ``P.node.*.pg`` in one task, so a node's messages are applied in order.
- **Syncs.** A node that sees another come up (or that joins) asks it with a ``want``; the
  other publishes its whole local membership (a ``sync``) with its current sequence number.
  A delta that skips a number (one was dropped) makes the reader ask again; so does a
  periodic ``at`` beacon carrying the sequence number, should the last delta be lost.
- **Node down.** The members of a node that is down for this one disappear from its view at
  once (`NodeDown`, whatever the detail); they come back with its next sync.

Messages (encoded by the runtime's `Distribution`, so refs travel as refs; the sender's name
is the one its subject names, its incarnation is in the message)::

    (1, incarnation, "delta", seq, group, ref, joined)   one join (True) or leave (False)
    (1, incarnation, "sync", seq, ((group, (ref, ...)), ...))
    (1, incarnation, "want", node name, node incarnation)
    (1, incarnation, "at", seq)

A message from a node that is not up here is ignored; anything malformed is garbage: counted,
ignored.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from . import _checks as checks
from ._context import current_kernel, current_process
from ._exceptions import MailboxFullError, ServerNotRunningError
from ._links import deliver
from ._outcome import is_cancellation
from ._process import DEAD, RUNNING, Process, ProcessRef
from ._refs import cast
from ._remote_ref import RemoteRef

if TYPE_CHECKING:
    from ._distribution import Distribution
    from ._kernel import Kernel
    from .cluster import ClusterConfig, NodeDown, NodeId, NodeUp
    from .cluster._node import Node
    from .nats import Msg

logger: Final = logging.getLogger("noex_trio.cluster")

VERSION: Final = 1
_MEMBER: Final = "noex_trio.group_member"
_WATCHER: Final = "noex_trio.group_watcher"
_QUEUE: Final = 4096
_QUEUE_BYTES: Final = 4 * 1024 * 1024
#: How deep a group's tuples may nest.
_DEPTH: Final = 8


@attrs.frozen
class GroupChange:
    """Members joined or left a group a process monitors (``Groups.monitor``): delivered to
    its ``handle_info``, as ``pg``'s ``{Ref, join | leave, Group, Pids}``.

    Attributes:
        group: the group.
        joined: the processes that joined (a process joining twice appears twice).
        left: the processes that left (exited, left, or their node went down).
    """

    group: Any
    joined: tuple[ProcessRef, ...] = ()
    left: tuple[ProcessRef, ...] = ()


@attrs.frozen
class GroupsStatistics:
    """A snapshot of a runtime's process groups, from ``Groups.statistics()``.

    Attributes:
        groups: groups with at least one member (here or on another node).
        local_members: memberships of this runtime's processes (with repeats).
        remote_members: memberships of other nodes' processes known here.
        nodes_synced: other nodes whose membership this node knows.
        deltas_sent, deltas_received: joins and leaves told to / heard from other nodes.
        syncs_sent, syncs_received: whole memberships sent / received.
        resyncs: syncs asked for because a node's messages skipped a number.
        garbage_received: messages on the group subjects that were not valid (ignored).
    """

    groups: int
    local_members: int
    remote_members: int
    nodes_synced: int = 0
    deltas_sent: int = 0
    deltas_received: int = 0
    syncs_sent: int = 0
    syncs_received: int = 0
    resyncs: int = 0
    garbage_received: int = 0


def _valid_group(value: object, depth: int = 0) -> bool:
    kind = type(value)
    if kind is str or kind is int or kind is bytes:
        return True
    if kind is tuple and depth < _DEPTH:
        return all(_valid_group(item, depth + 1) for item in value)  # type: ignore[attr-defined]
    return False


def check_group(group: object) -> Any:
    if not _valid_group(group):
        raise checks.type_error("group", "a str, an int, bytes or a tuple of them", group)
    return group


class _View:
    """One other node's members, as this node knows them."""

    __slots__ = ("groups", "seq", "stale")

    def __init__(self, seq: int, groups: dict[Any, list[RemoteRef]]) -> None:
        self.seq = seq
        self.groups = groups
        #: A message was missed: deltas wait for the next sync.
        self.stale = False


class GroupsState:
    """The process groups of one runtime (see the module docstring)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        #: This runtime's members, by group (in join order, with repeats).
        self.local: dict[Any, list[Process]] = {}
        #: The groups of each local member (with repeats).
        self.of: dict[Process, list[Any]] = {}
        #: Processes told of changes, by group; and the groups each one monitors.
        self.watchers: dict[Any, dict[Process, None]] = {}
        self.watching: dict[Process, set[Any]] = {}
        self.views: dict[NodeId, _View] = {}
        #: When a sync was last asked of a node that is up, until it comes.
        self.wanted: dict[NodeId, float] = {}
        self.seq = 0
        self.dist: Distribution | None = None
        self._sync_due = False
        #: Messages published, by kind.
        self.sent: dict[str, int] = {}
        self.deltas_received = self.syncs_received = self.resyncs = self.garbage = 0

    # ================================================================= local members

    def join(self, proc: Process, group: Any) -> None:
        self.local.setdefault(group, []).append(proc)
        groups = self.of.get(proc)
        if groups is None:
            groups = self.of[proc] = []
            proc.add_exit_hook((_MEMBER, id(self)), functools.partial(self._exited, proc))
        groups.append(group)
        self._notify(group, joined=(proc.ref,))
        self._publish_delta(group, proc.ref, joined=True)

    def leave(self, proc: Process, group: Any) -> bool:
        groups = self.of.get(proc)
        if groups is None or group not in groups:
            return False
        groups.remove(group)
        if not groups:
            del self.of[proc]
            proc.remove_exit_hook((_MEMBER, id(self)))
        self._drop_local(proc, group)
        return True

    def _drop_local(self, proc: Process, group: Any) -> None:
        members = self.local[group]
        members.remove(proc)
        if not members:
            del self.local[group]
        self._notify(group, left=(proc.ref,))
        self._publish_delta(group, proc.ref, joined=False)

    def _exited(self, proc: Process, reason: object) -> None:
        for group in self.of.pop(proc, ()):
            self._drop_local(proc, group)

    # ================================================================= reading

    def members(self, group: Any) -> list[ProcessRef]:
        found: list[ProcessRef] = [proc.ref for proc in self.local.get(group, ())]
        for view in self.views.values():
            found.extend(view.groups.get(group, ()))
        return found

    def local_members(self, group: Any) -> list[ProcessRef]:
        return [proc.ref for proc in self.local.get(group, ())]

    def which_groups(self) -> list[Any]:
        seen: dict[Any, None] = dict.fromkeys(self.local)
        for view in self.views.values():
            seen.update(dict.fromkeys(view.groups))
        return list(seen)

    def statistics(self) -> GroupsStatistics:
        return GroupsStatistics(
            groups=len(self.which_groups()),
            local_members=sum(len(members) for members in self.local.values()),
            remote_members=sum(
                len(refs) for view in self.views.values() for refs in view.groups.values()
            ),
            nodes_synced=len(self.views),
            deltas_sent=self.sent.get("delta", 0),
            deltas_received=self.deltas_received,
            syncs_sent=self.sent.get("sync", 0),
            syncs_received=self.syncs_received,
            resyncs=self.resyncs,
            garbage_received=self.garbage,
        )

    # ================================================================= monitors

    def monitor(self, proc: Process, group: Any) -> None:
        self.watchers.setdefault(group, {})[proc] = None
        groups = self.watching.get(proc)
        if groups is None:
            groups = self.watching[proc] = set()
            proc.add_exit_hook((_WATCHER, id(self)), functools.partial(self._watcher_exited, proc))
        groups.add(group)

    def demonitor(self, proc: Process, group: Any) -> bool:
        groups = self.watching.get(proc)
        if groups is None or group not in groups:
            return False
        groups.discard(group)
        if not groups:
            del self.watching[proc]
            proc.remove_exit_hook((_WATCHER, id(self)))
        self._unwatch(proc, group)
        return True

    def _unwatch(self, proc: Process, group: Any) -> None:
        watchers = self.watchers[group]
        del watchers[proc]
        if not watchers:
            del self.watchers[group]

    def _watcher_exited(self, proc: Process, reason: object) -> None:
        for group in self.watching.pop(proc, ()):
            self._unwatch(proc, group)

    def _notify(
        self,
        group: Any,
        joined: tuple[ProcessRef, ...] = (),
        left: tuple[ProcessRef, ...] = (),
    ) -> None:
        watchers = self.watchers.get(group)
        if not watchers or not (joined or left):
            return
        change = GroupChange(group, joined, left)
        for proc in list(watchers):
            deliver(proc, change)

    # ================================================================= dispatch

    def dispatch(self, group: Any, message: object) -> int:
        members = self.members(group)
        dist = self.dist
        if dist is not None and any(type(ref) is RemoteRef for ref in members):
            dist.encode(message)  # (raises CodecError before anything is sent)
        sent = 0
        for ref in members:
            try:
                if type(ref) is RemoteRef:
                    assert dist is not None
                    dist.cast(ref, message)
                else:
                    cast(ref, message, system=True)
            except (ServerNotRunningError, MailboxFullError):
                self.kernel.count_dead_letters(1)
            else:
                sent += 1
        return sent

    # ================================================================= the cluster

    async def attach(self, dist: Distribution) -> None:
        """Take part in the cluster of `dist`: read the group subjects, ask every node up
        for its members (and answer theirs)."""
        node = dist.node
        subjects = node._subjects
        self._out = f"{subjects.prefix}.node.{node._token}.pg"
        self._all = f"{subjects.prefix}.node.*.pg"
        self.dist = dist
        await node._nursery.start(self._serve, node)
        node._on_node_up(self._node_up)
        node._on_node_down(self._node_down)
        node._nursery.start_soon(self._tick, node)
        for member in node.members():
            self._want(member)

    def _publish(self, *payload: Any) -> None:
        """Publish a group message now; one not sent is lost (others see the gap and ask)."""
        dist = self.dist
        assert dist is not None
        kind = payload[0]
        try:
            data = dist.encode((VERSION, dist.me.incarnation, *payload))
            dist.node._nc.publish_nowait(self._out, data)
        except Exception as error:  # (closed, buffer full, too large)
            logger.warning("%s: group message %s not sent: %r", dist.me, kind, error)
            return
        self.sent[kind] = self.sent.get(kind, 0) + 1

    def _publish_delta(self, group: Any, ref: ProcessRef, *, joined: bool) -> None:
        if self.dist is None:
            return
        self.seq += 1
        self._publish("delta", self.seq, group, ref, joined)

    def _sync_soon(self) -> None:
        """Publish this node's whole membership soon (once for many wants at once)."""
        if self._sync_due or self.dist is None:
            return
        self._sync_due = True
        self.dist.nursery.start_soon(self._sync)

    async def _sync(self) -> None:
        await trio.lowlevel.checkpoint()
        self._sync_due = False
        entries = tuple(
            (group, tuple(proc.ref for proc in members)) for group, members in self.local.items()
        )
        self._publish("sync", self.seq, entries)

    def _want(self, node: NodeId) -> None:
        assert self.dist is not None
        self.wanted[node] = trio.current_time()
        self._publish("want", node.name, node.incarnation)

    def _node_up(self, event: NodeUp) -> None:
        self._want(event.node)

    def _node_down(self, event: NodeDown) -> None:
        self.wanted.pop(event.node, None)
        view = self.views.pop(event.node, None)
        if view is not None:
            for group, refs in view.groups.items():
                self._notify(group, left=tuple(refs))

    async def _tick(self, node: Node) -> None:
        """Now and then, say this node's sequence number: a node that missed a message (or
        a sync) asks again. (A node whose number is 0 has had no member: nothing to miss.)"""
        interval = node._config.failure_timeout
        while True:
            await trio.sleep(interval)
            if self.seq:
                self._publish("at", self.seq)

    async def _serve(self, node: Node, *, task_status: trio.TaskStatus[None]) -> None:
        """Read the group subjects; what escapes (a ``KeyboardInterrupt`` in a user's
        ``from_wire``) ends the node, as in its other tasks."""
        try:
            async with node._nc.subscribe(
                self._all, max_pending=_QUEUE, max_pending_bytes=_QUEUE_BYTES
            ) as messages:
                await node._nc.flush()
                task_status.started()
                async for msg in messages:
                    self._receive(node, msg)
        except BaseException as exc:  # pragma: no cover - as the node's process reader
            if is_cancellation(exc):
                raise
            node._fail(exc)

    def _receive(self, node: Node, msg: Msg) -> None:
        dist = self.dist
        assert dist is not None
        name = node._subjects.sender(msg.subject)
        if name == node.name:
            return  # (this node's own)
        try:
            if name is None:
                raise ValueError("not a node's group subject")
            with dist._wire():
                value = dist.codec.decode(msg.data)
            self._handle(node, name, value)
        except Exception as error:
            self.garbage += 1
            node._count_garbage()
            logger.warning("%s: bad group message on %s: %r", node.id, msg.subject, error)

    def _handle(self, node: Node, name: str, value: object) -> None:
        from .cluster import NodeId

        if type(value) is not tuple or len(value) < 4 or value[0] != VERSION:
            raise ValueError("not a group message")
        sender = NodeId(name, value[1])
        kind, args = value[2], value[3:]
        if kind == "want":
            if args != (node.name, node.id.incarnation):
                if len(args) != 2:
                    raise ValueError("a want is (node name, incarnation)")
                return  # (for another node, or an earlier incarnation of this one)
            self._sync_soon()
            return
        if kind == "delta":
            seq, group, ref, joined = _unpack(args, 4)
            self._check_member(sender, ref)
            if type(joined) is not bool:
                raise ValueError("a delta's joined is a bool")
            self._delta(node, sender, _seq(seq), check_group(group), ref, joined)
        elif kind == "sync":
            seq, entries = _unpack(args, 2)
            self._synced(node, sender, _seq(seq), self._read_entries(sender, entries))
        elif kind == "at":
            (seq,) = _unpack(args, 1)
            seq = _seq(seq)
            view = self.views.get(sender)
            if sender in node.members() and (view is None or seq > view.seq):
                self._ask_again(sender)
        else:
            raise ValueError(f"unknown group message {kind!r}")

    def _check_member(self, sender: NodeId, ref: object) -> None:
        if type(ref) is not RemoteRef or ref.node != sender:
            raise ValueError("a member must be a process of the sending node")

    def _read_entries(self, sender: NodeId, entries: object) -> dict[Any, list[RemoteRef]]:
        if type(entries) is not tuple:
            raise ValueError("a sync's entries are a tuple")
        groups: dict[Any, list[RemoteRef]] = {}
        for entry in entries:
            group, refs = _unpack(entry, 2)
            check_group(group)
            if type(refs) is not tuple or not refs or group in groups:
                raise ValueError("a sync's entry is (group, (ref, ...)), once per group")
            for ref in refs:
                self._check_member(sender, ref)
            groups[group] = list(refs)
        return groups

    def _ask_again(self, sender: NodeId) -> None:
        asked = self.wanted.get(sender)
        assert self.dist is not None
        interval = self.dist.node._config.heartbeat_interval
        if asked is None or trio.current_time() - asked >= interval:
            self.resyncs += 1
            self._want(sender)

    def _delta(
        self, node: Node, sender: NodeId, seq: int, group: Any, ref: RemoteRef, joined: bool
    ) -> None:
        if sender not in node.members():
            return  # (down here, or not up yet: its sync comes once it is)
        view = self.views.get(sender)
        if view is None or view.stale:
            self._ask_again(sender)
            return
        if seq <= view.seq:
            return  # (already in the sync that came first)
        if seq > view.seq + 1:  # one was lost: keep what is known until the next sync
            view.stale = True
            self._ask_again(sender)
            return
        view.seq = seq
        self.deltas_received += 1
        refs = view.groups.setdefault(group, [])
        if joined:
            refs.append(ref)
            self._notify(group, joined=(ref,))
            return
        if ref in refs:  # (else: a leave of what a lost message joined)
            refs.remove(ref)
            self._notify(group, left=(ref,))
        if not refs:
            del view.groups[group]

    def _synced(
        self, node: Node, sender: NodeId, seq: int, groups: dict[Any, list[RemoteRef]]
    ) -> None:
        if sender not in node.members():
            return
        old = self.views.get(sender)
        if old is not None and not old.stale and seq < old.seq:
            return  # (an older sync than what is known: cannot happen in order)
        self.views[sender] = _View(seq, groups)
        self.wanted.pop(sender, None)
        self.syncs_received += 1
        before = old.groups if old is not None else {}
        for group in dict.fromkeys([*before, *groups]):
            joined, left = _difference(before.get(group, []), groups.get(group, []))
            self._notify(group, joined=joined, left=left)


def _unpack(value: object, count: int) -> tuple[Any, ...]:
    if type(value) is not tuple or len(value) != count:
        raise ValueError(f"expected a tuple of {count}")
    return value


def _seq(value: object) -> int:
    if type(value) is not int or value < 0:
        raise ValueError("a sequence number is an int >= 0")
    return value


def _difference(
    before: list[RemoteRef], after: list[RemoteRef]
) -> tuple[tuple[RemoteRef, ...], tuple[RemoteRef, ...]]:
    """What joined and what left between two lists of members (with repeats)."""
    remaining = list(before)
    joined = []
    for ref in after:
        if ref in remaining:
            remaining.remove(ref)
        else:
            joined.append(ref)
    return tuple(joined), tuple(remaining)


# --------------------------------------------------------------------------- per runtime

_states: weakref.WeakKeyDictionary[Kernel, GroupsState] = weakref.WeakKeyDictionary()


def state_of(kernel: Kernel) -> GroupsState:
    state = _states.get(kernel)
    if state is None:
        state = _states[kernel] = GroupsState(kernel)
    return state


@asynccontextmanager
async def open_cluster(config: ClusterConfig, kernel: Kernel) -> AsyncIterator[Node]:
    """Join the cluster (``_distribution.open_distribution``) with the runtime's groups."""
    from ._distribution import open_distribution

    async with open_distribution(config, kernel) as node:
        dist = kernel.distribution
        assert dist is not None
        await state_of(kernel).attach(dist)  # type: ignore[arg-type]  # (the real one)
        yield node


# --------------------------------------------------------------------------- the facade


def _local_process(kernel: Kernel, ref: object) -> Process:
    """The live process of this runtime `ref` names (the caller's if None)."""
    if ref is None:
        proc = current_process()
        if proc is None or proc.kernel is not kernel:
            raise checks.type_error(
                "ref", "a ProcessRef (None only inside a process of this runtime)", ref
            )
        return proc
    if type(ref) is RemoteRef:
        raise checks.value_error("ref", "a process of this node (only they join)", ref)
    if not isinstance(ref, ProcessRef):
        raise checks.type_error("ref", "a ProcessRef or None", ref)
    proc = ref._proc
    if not isinstance(proc, Process) or proc.status == DEAD:
        raise ServerNotRunningError(ref, getattr(proc, "reason", "noproc"))
    if proc.kernel is not kernel:
        raise checks.value_error("ref", "a process of the current runtime", ref)
    return proc


class Groups:
    """Process groups across the cluster, as OTP's ``pg``: ``Groups.join("workers")`` in a
    process, ``Groups.members("workers")`` anywhere, ``Groups.dispatch("workers", msg)``.

    Every function acts on the current runtime's groups (one scope per runtime). In a cluster
    (``open_runtime(cluster=...)``) members of every node are seen, eventually: see
    docs/guides/cluster.md, "Process groups". Without one, groups are local.
    """

    @staticmethod
    def join(group: Any, ref: ProcessRef | None = None) -> None:
        """Add the calling process (or the process of `ref`, of this runtime) to `group`.

        A process may join a group several times; it then leaves as many times. It leaves
        every group when it exits.

        Raises:
            TypeError: `group` is not a str, an int, bytes or a tuple of them; `ref` is not
                a ref (or None outside a process).
            ValueError: `ref` is a process of another node or runtime.
            ServerNotRunningError: the process has exited.
        """
        kernel = current_kernel()
        check_group(group)
        proc = _local_process(kernel, ref)
        if proc.status > RUNNING:
            raise ServerNotRunningError(proc.ref, "stopping")
        state_of(kernel).join(proc, group)

    @staticmethod
    def leave(group: Any, ref: ProcessRef | None = None) -> bool:
        """Take the calling process (or `ref`'s) out of `group` once; False if it was not
        in it."""
        kernel = current_kernel()
        check_group(group)
        try:
            proc = _local_process(kernel, ref)
        except ServerNotRunningError:
            return False  # (it left every group when it exited)
        return state_of(kernel).leave(proc, group)

    @staticmethod
    def members(group: Any) -> list[ProcessRef]:
        """Every member of `group` this node knows: its own processes (as refs) first, then
        other nodes' (as `RemoteRef`), each as many times as it joined."""
        kernel = current_kernel()
        return state_of(kernel).members(check_group(group))

    @staticmethod
    def local_members(group: Any) -> list[ProcessRef]:
        """The members of `group` that are processes of this runtime."""
        kernel = current_kernel()
        return state_of(kernel).local_members(check_group(group))

    @staticmethod
    def which_groups() -> list[Any]:
        """The groups with at least one member (here or on a node this node knows)."""
        return state_of(current_kernel()).which_groups()

    @staticmethod
    def dispatch(group: Any, message: object) -> int:
        """Cast `message` to every member of `group`; returns how many it was sent to.

        A member gone meanwhile (or whose bounded mailbox is full) is skipped and counted
        as a dead letter, as a cast to a process that exited is on its node.

        Raises:
            CodecError: `message` cannot be encoded for the members of other nodes (then it
                was sent to none).
        """
        kernel = current_kernel()
        return state_of(kernel).dispatch(check_group(group), message)

    @staticmethod
    def monitor(group: Any) -> list[ProcessRef]:
        """Tell the calling process of every change of `group` from now on (a `GroupChange`
        in ``handle_info``); returns the members now (OTP 25.1's ``pg:monitor``).

        Raises:
            TypeError: a bad `group`, or not called from a process.
        """
        kernel = current_kernel()
        check_group(group)
        proc = _local_process(kernel, None)
        state = state_of(kernel)
        state.monitor(proc, group)
        return state.members(group)

    @staticmethod
    def demonitor(group: Any) -> bool:
        """Stop `monitor` of `group` for the calling process; False if it did not."""
        kernel = current_kernel()
        check_group(group)
        proc = _local_process(kernel, None)
        return state_of(kernel).demonitor(proc, group)

    @staticmethod
    def statistics() -> GroupsStatistics:
        """A snapshot of the current runtime's groups and of their traffic."""
        return state_of(current_kernel()).statistics()
