"""Distribution: this runtime's processes and those of other nodes, as one system.

When a runtime is opened with ``cluster=``, it joins the cluster (``noex_trio.cluster.join``)
and a `Distribution` handles every remote target (``Kernel.distribution``):

- **Refs on the wire.** A local ref leaves as ``(node name, incarnation, pid, label)`` and
  arrives as a `RemoteRef` (or as the local ref again, back on its own node). The codec learns
  this through converters that read `wire_var`, set while this runtime encodes or decodes.
- **One ordered channel per node.** Every message to another node's processes (call, cast,
  stop, monitor, link, exit signal, down) goes to that node's ``proc`` subject with
  ``publish_nowait`` — no await between deciding and sending, so the order of sends is the
  order on the wire — and is handled there by one task, in arrival order, synchronously up to
  the target's mailbox. So a cast followed by a call from one process arrive in that order.
- **Node down.** When the membership sees a node down (timeout, left, restarted,
  disconnected), monitors of its processes get ``Down(..., "noconnection")``, links to them
  deliver exit signals ``"noconnection"``, calls waiting on it fail with
  `ServerNotRunningError` ``"noconnection"`` (the node fails their requests), and what it
  watched here is forgotten.

Payloads of the ``proc`` subject (encoded by the node's codec):

===========  ==================================================  ===========================
kind         payload                                             answer
===========  ==================================================  ===========================
call         (target, message, timeout)                          ok / error / not-running
cast         (target, message)                                   —
stop         (target, reason)                                    ok / not-running
monitor      (monitor id, target)                                a ``down`` when it exits
demonitor    (monitor id,)                                       —
down         (monitor id, reason)                                —
link         (linker ref, target pid)                            an ``exit`` if it is gone
unlink       (linker ref, target pid)                            —
exit         (sender ref or None, target, reason, from a link)   —
===========  ==================================================  ===========================

A target is a pid (int) or a registered name (str).
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import TYPE_CHECKING, Any, Final

import trio

from . import _links
from ._context import reset_library_context, wire_var
from ._exceptions import (
    CallTimeoutError,
    MailboxFullError,
    ServerNotRunningError,
    UnknownBehaviourError,
)
from ._global_names import GlobalNames
from ._links import Down, Exit, MonitorRef, deliver, exit_signal, signal_exit
from ._mailbox import Caller, CastItem, new_caller
from ._process import DEAD, RUNNING, Process, ProcessRef, _detached
from ._refs import EventBusRef, GenServerRef, RegistryRef, SupervisorRef, stop
from ._remote_ref import RemoteName, RemoteRef, RemoteTarget
from ._results import ExitReason
from ._spawn import start_process
from .cluster import ClusterConfig, Codec, CodecError, NodeDown, NodeId, RemoteTimeoutError
from .cluster import NoConnectionError as _NoConnection
from .cluster import _protocol as protocol
from .cluster import _rpc as rpc
from .cluster._codec import remote_error
from .cluster._node import ANY, Node, ProcessMessage, _Join
from .nats import OutboundBufferFullError

if TYPE_CHECKING:
    from ._kernel import Kernel

logger: Final = logging.getLogger("noex_trio.cluster")


OK: Final = rpc.OK
ERROR: Final = rpc.ERROR
#: The answer to a message for a process that is not running: the payload is its reason.
NOT_RUNNING: Final = "not-running"
_RLINK: Final = "noex_trio.remote_link"
_RMON: Final = "noex_trio.remote_monitor"
#: How many remote processes known to be gone `is_running` remembers.
_GONE_LIMIT: Final = 10_000


class Distribution:
    """The remote half of the process core for one runtime (see the module docstring)."""

    def __init__(self, kernel: Kernel, node: Node) -> None:
        self.kernel = kernel
        self.node = node
        self.me = node.id
        self.codec = node._codec
        self.nursery = node._nursery
        self._monitor_ids = itertools.count(1)
        #: Monitors held here on processes elsewhere, by id, and the id of each.
        self._monitors: dict[int, MonitorRef] = {}
        self._monitor_id: dict[MonitorRef, int] = {}
        #: Processes here watched from elsewhere: (watcher's node, monitor id) -> process.
        self._watched: dict[tuple[NodeId, int], Process] = {}
        #: Links between a process here and one elsewhere (kept on both nodes).
        self._links: set[tuple[Process, RemoteRef]] = set()
        #: Nodes that left: their `leaving` marker arrived before their NodeDown, or the
        #: NodeDown first (the marker awaited).
        self._left: set[NodeId] = set()
        self._leaving: dict[NodeId, trio.Event] = {}
        #: Remote processes this node learnt are gone (for `is_running`), oldest first.
        self._gone: dict[RemoteRef, None] = {}
        #: The global registry's side of this node, once used (``_global_registry``).
        self.global_names: GlobalNames | None = None
        self._opening_names = trio.Lock()
        #: What other nodes may start here, by name (``ClusterConfig.behaviours``).
        self.behaviours: Mapping[str, Any] = node._config.behaviours
        register_refs(self.codec)

    # ================================================================= encoding

    @contextmanager
    def _wire(self) -> Iterator[None]:
        token = wire_var.set(self)
        try:
            yield
        finally:
            wire_var.reset(token)

    def encode(self, value: object) -> bytes:
        with self._wire():
            return self.codec.encode(value, max_size=self.node._payload_limit)

    @staticmethod
    def reduce_ref(ref: ProcessRef) -> tuple[Any, ...]:
        """How a ref pickles for the wire (`PickleCodec`): as the default codec encodes it."""
        return (_ref_from_wire, (_ref_to_wire(ref),))

    def decode_value(self, data: bytes) -> object:
        with self._wire():
            return self.codec.decode(data)

    async def open_global_names(self) -> GlobalNames:
        """Open the cluster's name bucket and start watching it and renewing leases (once)."""
        from .nats import key_value

        async with self._opening_names:
            if self.global_names is None:
                config = self.node._config
                bucket = config.prefix.replace(".", "_") + "_names"
                kv = await key_value(self.node._nc, bucket)
                names = GlobalNames(self, kv, max(1.0, 2 * config.failure_timeout))
                await self.nursery.start(names.watch)
                self.nursery.start_soon(names.renew)
                self.global_names = names
        return self.global_names

    def encode_error(self, error: BaseException) -> bytes:
        try:
            return self.encode(error)
        except CodecError:
            return self.encode(remote_error(error))

    # ================================================================= addressing

    def _node_of(self, target: RemoteTarget, *, by_name: bool = False) -> NodeId | None:
        """The node `target` lives on if it is up now (this node for its own name).

        With `by_name`, a `RemoteName` of a node not seen yet (just joined: its hello is on
        its way) is sent to whichever node holds that name (incarnation `ANY`): NATS says
        "no responders" if none does.
        """
        if type(target) is RemoteRef:
            node = target.node
            if node == self.me:
                return node
            return node if node in self.node.members() else None
        assert type(target) is RemoteName
        if target.node == self.me.name:
            return self.me
        for member in self.node.members():
            if member.name == target.node:
                return member
        if not by_name or self.node.status != "up":
            return None
        try:
            return NodeId(target.node, ANY)
        except ValueError:  # (not a valid node name: no node has it)
            return None

    @staticmethod
    def _spec(target: RemoteTarget) -> int | str:
        return target.id if type(target) is RemoteRef else target.name

    def _local(self, spec: object) -> Process | None:
        """The live process here a target spec names, or None."""
        if type(spec) is int:
            return self.kernel.live.get(spec)
        if type(spec) is str and spec:
            ref = self.kernel.registry._noex_whereis(spec)
            return None if ref is None else ref._proc
        return None

    def _local_ref(self, target: RemoteTarget) -> ProcessRef | str:
        """A target on this very node, as a local target."""
        if type(target) is RemoteRef:
            proc = self.kernel.live.get(target.id)
            return proc.ref if proc is not None else _detached(GenServerRef, target.id, "?")
        assert type(target) is RemoteName
        return target.name

    def _gone_now(self, target: RemoteTarget) -> None:
        if type(target) is RemoteRef:
            self._gone[target] = None
            if len(self._gone) > _GONE_LIMIT:
                del self._gone[next(iter(self._gone))]

    def is_running(self, target: RemoteTarget) -> bool:
        node = self._node_of(target)
        if node is None:
            return False
        if node == self.me:
            local = self._local_ref(target)
            if isinstance(local, str):
                ref = self.kernel.registry._noex_whereis(local)
                return ref is not None and ref.is_running()
            return local.is_running()
        return target not in self._gone

    # ================================================================= calls, casts, stops

    async def call(self, target: RemoteTarget, message: object, timeout: float) -> Any:  # noqa: ASYNC109
        node = self._node_of(target, by_name=True)
        if node == self.me:
            from ._refs import call

            return await call(self._local_ref(target), message, timeout)
        try:
            if node is None:
                raise ServerNotRunningError(target, "noconnection")
            data = self.encode((self._spec(target), message, timeout))
        except Exception:
            await trio.lowlevel.checkpoint()
            raise
        with self._wire():
            try:
                answer = await self.node._request_process(node, "call", data, timeout)
            except _NoConnection:
                raise ServerNotRunningError(target, "noconnection") from None
            except RemoteTimeoutError:
                raise CallTimeoutError(target, timeout) from None
            return self._read_answer(target, answer)

    def _read_answer(self, target: RemoteTarget, answer: Any) -> Any:
        headers = answer.headers
        status = headers.get(protocol.STATUS) if headers is not None else None
        if status == OK:
            return self.codec.decode(answer.data)
        if status == NOT_RUNNING:
            reason = self.codec.decode(answer.data)
            self._gone_now(target)
            raise ServerNotRunningError(target, reason)
        if status == ERROR:
            error = self.codec.decode(answer.data)
            if isinstance(error, BaseException):
                raise error
        if status == rpc.WRONG_NODE:
            self._gone_now(target)
            raise ServerNotRunningError(target, "noconnection")
        raise CodecError(
            f"node {_node_name(target)!r} sent an answer without a valid status ({status!r})"
        )

    def cast(self, target: RemoteTarget, message: object) -> None:
        node = self._node_of(target, by_name=True)
        if node == self.me:
            from ._refs import cast

            cast(self._local_ref(target), message)
            return
        if node is None:
            raise ServerNotRunningError(target, "noconnection")
        self._send(node, "cast", (self._spec(target), message), target)

    def _send(self, node: NodeId, kind: str, payload: object, target: object) -> None:
        data = self.encode(payload)
        try:  # (the node was just found up: no await since)
            self.node._send_process(node, kind, data)
        except OutboundBufferFullError as full:
            raise MailboxFullError(target, full.limit) from None

    def _send_quietly(self, node: NodeId, kind: str, payload: object) -> None:
        """A notice that may be lost with its node (exit signals, downs, demonitors)."""
        try:
            self.node._send_process(node, kind, self.encode(payload))
        except (_NoConnection, OutboundBufferFullError, CodecError) as error:
            logger.debug("%s: %s to %s not sent: %r", self.me, kind, node, error)

    # ================================================================= starting processes

    async def start_on(
        self,
        me: Process | None,
        node_name: str,
        behaviour: str,
        args: tuple[Any, ...],
        *,
        name: str | None,
        link: bool,
        timeout: float,  # noqa: ASYNC109 - the whole start, as a call's timeout
    ) -> ProcessRef | None:
        """Start `behaviour` (a name that node offers) on node `node_name`; see
        ``GenServer.start_on``."""
        node = self._node_of(RemoteName(behaviour, node_name), by_name=True)
        try:
            if node is None:
                raise _NoConnection(node_name, "not a member")
            if node == self.me:
                cls = self._behaviour(behaviour)
            data = self.encode((behaviour, args, name, timeout))
        except Exception:
            await trio.lowlevel.checkpoint()
            raise
        if node == self.me:
            ref = await start_process(
                cls, args, name=name, init_timeout=timeout, mailbox_size=math.inf, trap_exit=False
            )
        else:
            with self._wire():
                try:
                    # (init_timeout on that node is `timeout`; the answer may take a moment more)
                    answer = await self.node._request_process(node, "spawn", data, timeout + 5.0)
                except RemoteTimeoutError:
                    raise CallTimeoutError(
                        f"start of {behaviour!r} on {node_name!r}", timeout
                    ) from None
                ref = self._read_answer(RemoteName(behaviour, node_name), answer)
        if link and me is not None and ref is not None:
            if type(ref) is RemoteRef:
                self.link(me, ref)
            else:
                _links.link_procs(me, ref._proc)
        return ref

    async def load(self, node_name: str) -> float:
        """How many processes node `node_name` runs (``math.inf`` if it cannot say)."""
        node = self._node_of(RemoteName("load", node_name))
        if node == self.me:
            await trio.lowlevel.checkpoint()
            return len(self.kernel.live)
        if node is None:
            await trio.lowlevel.checkpoint()
            return math.inf
        with self._wire():
            try:
                answer = await self.node._request_process(node, "load", self.encode(()), 5.0)
                value = self._read_answer(RemoteName("load", node_name), answer)
            except (_NoConnection, RemoteTimeoutError, CodecError, ServerNotRunningError):
                return math.inf
        return float(value) if type(value) is int else math.inf

    def _on_load(self, message: ProcessMessage) -> None:
        self._answer(message, OK, len(self.kernel.live))

    def _behaviour(self, behaviour: str) -> type:
        cls: type | None = self.behaviours.get(behaviour)
        if cls is None:
            raise UnknownBehaviourError(self.me.name, behaviour)
        return cls

    def _on_spawn(
        self,
        message: ProcessMessage,
        behaviour: object,
        args: object,
        name: object,
        timeout: object,
    ) -> None:
        if type(behaviour) is not str or type(args) is not tuple:
            raise TypeError("a spawn is (behaviour name, args tuple, name, init timeout)")
        try:
            cls = self._behaviour(behaviour)
        except UnknownBehaviourError as error:
            self._answer(message, ERROR, error)
            return
        seconds = float(timeout) if isinstance(timeout, (int, float)) and timeout > 0 else 5.0
        self.nursery.start_soon(self._spawn, message, cls, args, name, seconds)

    @trio.lowlevel.enable_ki_protection  # (a library task: Ctrl-C goes to the main task)
    async def _spawn(
        self, message: ProcessMessage, cls: type, args: tuple[Any, ...], name: Any, seconds: float
    ) -> None:
        reset_library_context()
        try:
            ref = await start_process(
                cls, args, name=name, init_timeout=seconds, mailbox_size=math.inf, trap_exit=False
            )
        except Exception as error:
            self._answer(message, ERROR, error)
        else:
            self._answer(message, OK, ref)

    async def stop(self, target: RemoteTarget, reason: ExitReason) -> None:
        node = self._node_of(target, by_name=True)
        if node == self.me:
            await stop(self._local_ref(target), reason)
            return
        try:
            if node is None:
                raise ServerNotRunningError(target, "noconnection")
            data = self.encode((self._spec(target), reason))
        except Exception:
            await trio.lowlevel.checkpoint()
            raise
        with self._wire():
            try:
                answer = await self.node._request_process(node, "stop", data, math.inf)
            except _NoConnection:
                raise ServerNotRunningError(target, "noconnection") from None
            try:
                self._read_answer(target, answer)
            except ServerNotRunningError as error:
                if error.reason == "noconnection":
                    raise
        self._gone_now(target)

    def send_exit(self, sender: Process | None, target: RemoteTarget, reason: ExitReason) -> None:
        node = self._node_of(target)
        sender_ref = None if sender is None else sender.ref
        if node == self.me:
            local = self._local(self._spec(target))
            if local is not None:
                signal_exit(local, sender_ref, reason)
            return
        if node is not None:
            self._send_quietly(node, "exit", (sender_ref, self._spec(target), reason, False))

    # ================================================================= monitors

    def monitor(self, watcher: Process, target: RemoteTarget) -> MonitorRef:
        node = self._node_of(target)
        if node == self.me:
            return _links.monitor(self._local_ref(target))
        mref: MonitorRef = MonitorRef._create(watcher, target)
        if node is None:
            mref._active = False
            deliver(watcher, Down(mref, target, "noconnection"))
            return mref
        mid = next(self._monitor_ids)
        self._monitors[mid] = mref
        self._monitor_id[mref] = mid
        watcher.add_exit_hook(mref._owner_key(), mref._watcher_exited)
        self._send_quietly(node, "monitor", (mid, self._spec(target)))
        return mref

    def demonitor(self, mref: MonitorRef) -> None:
        mid = self._monitor_id.pop(mref)  # (an active monitor: always known)
        del self._monitors[mid]
        target = mref._target
        assert isinstance(target, (RemoteRef, RemoteName))
        node = self._node_of(target)
        if node is not None:
            self._send_quietly(node, "demonitor", (mid,))

    def _monitor_fired(self, mid: int, reason: ExitReason) -> None:
        mref = self._monitors.pop(mid, None)
        if mref is None:
            return
        del self._monitor_id[mref]
        if type(mref._target) is RemoteRef and reason != "noconnection":
            self._gone_now(mref._target)
        if mref._active:
            mref._target_exited(reason)

    # ================================================================= links

    def link(self, me: Process, target: RemoteTarget) -> None:
        if type(target) is not RemoteRef:
            raise TypeError(
                f"expected a process ref to link to, got {target!r} (OTP links pids, not "
                "names: get the ref with a call, or monitor the name)"
            )
        node = self._node_of(target)
        if node == self.me:
            _links.link(self._local_ref(target))
            return
        if node is None:
            _links._link_failed(me, target, "noconnection")
            return
        if (me, target) in self._links:
            return
        self._add_link(me, target)
        self._send_quietly(node, "link", (me.ref, target.id))

    def _add_link(self, me: Process, peer: RemoteRef) -> None:
        self._links.add((me, peer))
        me.add_exit_hook((_RLINK, peer), lambda reason: self._linked_exited(me, peer, reason))

    def _linked_exited(self, me: Process, peer: RemoteRef, reason: ExitReason) -> None:
        """A process here linked to one elsewhere exited: tell the other side."""
        self._links.discard((me, peer))
        if peer.node in self.node.members():
            self._send_quietly(peer.node, "exit", (me.ref, peer.id, reason, True))

    def unlink(self, me: Process, target: RemoteTarget) -> None:
        if type(target) is not RemoteRef:
            return  # (a name is never linked)
        node = self._node_of(target)
        if node == self.me:
            _links.unlink(self._local_ref(target))
            return
        if (me, target) not in self._links:
            return
        self._links.discard((me, target))
        me.remove_exit_hook((_RLINK, target))
        if node is not None:
            self._send_quietly(node, "unlink", (me.ref, target.id))

    # ================================================================= a node went down

    def node_down(self, event: NodeDown) -> None:
        """A node is down for this one: its processes are ``noconnection`` from now on.

        A node that *left* said ``leaving`` on its process channel first, after the exits of
        its processes: its heartbeat-subject goodbye may be read first (another task), so
        wait for that marker (at most the failure timeout) to keep the real exit reasons.
        """
        down = event.node
        if event.detail == "left":
            if down in self._left:
                self._left.discard(down)
                return  # (its `leaving` came first: done)
            waiting = self._leaving[down] = trio.Event()
            self.nursery.start_soon(self._gone_after_leaving, down, waiting)
            return
        self._forget_node(down)

    @trio.lowlevel.enable_ki_protection  # (a library task: Ctrl-C goes to the main task)
    async def _gone_after_leaving(self, down: NodeId, leaving: trio.Event) -> None:
        with trio.move_on_after(self.node._config.failure_timeout):
            await leaving.wait()
        self._leaving.pop(down, None)
        self._forget_node(down)

    def leaving(self) -> None:
        """This node leaves: tell every member, after everything this node sent them."""
        for member in self.node.members():
            self._send_quietly(member, "leaving", ())

    def _on_leaving(self, message: ProcessMessage) -> None:
        sender = message.sender
        waiting = self._leaving.pop(sender, None)
        if waiting is None:
            self._left.add(sender)  # (its NodeDown comes next)
        else:
            waiting.set()
        self._forget_node(sender)

    def _forget_node(self, down: NodeId) -> None:
        if self.global_names is not None:
            self.global_names.node_down(down)
        for mid, mref in list(self._monitors.items()):
            target = mref._target
            on_it = target.node == down if type(target) is RemoteRef else target.node == down.name  # type: ignore[union-attr]
            if on_it:
                self._monitor_fired(mid, "noconnection")
        for me, peer in list(self._links):
            if peer.node == down:
                self._links.discard((me, peer))
                me.remove_exit_hook((_RLINK, peer))
                exit_signal(me, peer, "noconnection")
        for key, proc in list(self._watched.items()):
            if key[0] == down:
                del self._watched[key]
                proc.remove_exit_hook((_RMON, key))

    # ================================================================= what arrives

    def receive(self, message: ProcessMessage) -> None:
        """One message to this node's processes, in arrival order (never raises)."""
        try:
            with self._wire():
                payload = self.codec.decode(message.msg.data)
            handler = _HANDLERS.get(message.kind)
            if handler is None or type(payload) is not tuple:
                raise CodecError(f"unknown process message {message.kind!r}")
            handler(self, message, *payload)
        except Exception as error:  # (what arrives decides; a fatal error ends the node)
            self.node._count_garbage()
            logger.warning("%s: bad process message from %s: %r", self.me, message.sender, error)
            if message.msg.reply is not None:
                self.node._respond_process(message.msg, ERROR, self.encode_error(error))

    def _answer(self, message: ProcessMessage, status: str, value: object) -> None:
        if message.msg.reply is None:
            return
        try:
            data = self.encode(value) if status != ERROR else self.encode_error(value)  # type: ignore[arg-type]
        except CodecError as error:
            status, data = ERROR, self.encode_error(error)
        self.node._respond_process(message.msg, status, data)

    def _on_call(self, message: ProcessMessage, spec: object, msg: object, timeout: object) -> None:
        proc = self._local(spec)
        if proc is None or proc.status > RUNNING:
            self._answer(message, NOT_RUNNING, _reason(proc))
            return
        seconds = float(timeout) if isinstance(timeout, (int, float)) and timeout > 0 else 5.0
        caller: Caller[Any] = new_caller(msg, proc.ref)
        caller._task = functools.partial(self._answer_caller, message)  # (see Caller._wake)
        try:
            proc.send.send_nowait(caller)
        except trio.WouldBlock:  # a full bounded mailbox: wait for room (order may slip)
            self.nursery.start_soon(self._call_bounded, message, proc, msg, seconds)
            return
        if seconds != math.inf and not proc.kernel.watchdog.watch(caller, seconds):
            self.nursery.start_soon(_expire, caller, seconds)  # (too many timeout values)

    def _answer_caller(self, message: ProcessMessage, caller: Caller[Any]) -> None:
        """The process answered (or failed) a call from another node: send the answer now,
        before anything the process does next (its exit's Down, a later cast)."""
        error = caller._error
        if error is not None:
            caller._error = None  # (no cycle: error -> traceback -> frame -> caller)
            self._answer(message, ERROR, error)
        else:
            self._answer(message, OK, caller._value)

    @trio.lowlevel.enable_ki_protection  # (a library task: Ctrl-C goes to the main task)
    async def _call_bounded(
        self, message: ProcessMessage, proc: Process, msg: object, seconds: float
    ) -> None:
        reset_library_context()
        from ._refs import call

        try:
            value = await call(proc.ref, msg, seconds, system=True)
        except Exception as error:
            self._answer(message, ERROR, error)
        else:
            self._answer(message, OK, value)

    def _on_cast(self, message: ProcessMessage, spec: object, msg: object) -> None:
        proc = self._local(spec)
        if proc is None or proc.status > RUNNING:
            self.kernel.count_dead_letters(1)  # as a cast to a process that is gone
            return
        try:
            proc.send.send_nowait(CastItem(msg))
        except trio.WouldBlock:  # a full bounded mailbox: wait for room rather than lose it
            self.nursery.start_soon(self._cast_later, proc, msg)

    @staticmethod
    @trio.lowlevel.enable_ki_protection  # (a library task: Ctrl-C goes to the main task)
    async def _cast_later(proc: Process, msg: object) -> None:
        # (if the process exits meanwhile, it takes the message and counts it as a dead letter)
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await proc.send.send(CastItem(msg))

    def _on_stop(self, message: ProcessMessage, spec: object, reason: object) -> None:
        proc = self._local(spec)
        if proc is None or proc.status == DEAD:
            self._answer(message, NOT_RUNNING, _reason(proc))
            return
        self.nursery.start_soon(self._stop, message, proc, reason)

    @trio.lowlevel.enable_ki_protection  # (a library task: Ctrl-C goes to the main task)
    async def _stop(self, message: ProcessMessage, proc: Process, reason: Any) -> None:
        reset_library_context()
        await stop(proc.ref, reason, system=True)  # (never raises here: not its own loop)
        self._answer(message, OK, None)

    def _on_monitor(self, message: ProcessMessage, mid: object, spec: object) -> None:
        sender = message.sender
        proc = self._local(spec)
        if type(mid) is not int:
            raise TypeError("a monitor id must be an int")
        if proc is None or proc.status >= DEAD:
            self._send_quietly(sender, "down", (mid, "noproc" if proc is None else proc.reason))
            return
        key = (sender, mid)
        self._watched[key] = proc

        def exited(reason: ExitReason) -> None:
            if self._watched.pop(key, None) is not None:
                self._send_quietly(sender, "down", (mid, reason))

        proc.add_exit_hook((_RMON, key), exited)

    def _on_demonitor(self, message: ProcessMessage, mid: object) -> None:
        key = (message.sender, mid)
        proc = self._watched.pop(key, None)  # type: ignore[arg-type]
        if proc is not None:
            proc.remove_exit_hook((_RMON, key))

    def _on_down(self, message: ProcessMessage, mid: object, reason: Any) -> None:
        if type(mid) is int:
            self._monitor_fired(mid, reason)

    def _on_link(self, message: ProcessMessage, linker: object, pid: object) -> None:
        if type(linker) is not RemoteRef or linker.node != message.sender:
            raise TypeError("a link must come from a process of the sending node")
        proc = self._local(pid)
        if proc is None or proc.status >= DEAD:
            reason = "noproc" if proc is None else proc.reason
            self._send_quietly(
                message.sender, "exit", (_ref_of(pid, proc), linker.id, reason, True)
            )
            return
        if (proc, linker) not in self._links:
            self._add_link(proc, linker)

    def _on_unlink(self, message: ProcessMessage, linker: object, pid: object) -> None:
        proc = self._local(pid)
        if proc is not None and type(linker) is RemoteRef and (proc, linker) in self._links:
            self._links.discard((proc, linker))
            proc.remove_exit_hook((_RLINK, linker))

    def _on_exit(
        self, message: ProcessMessage, sender: object, spec: object, reason: Any, linked: object
    ) -> None:
        proc = self._local(spec)
        if proc is None:
            return
        if not linked:
            if sender is not None and not isinstance(sender, ProcessRef):
                raise TypeError("an exit signal's sender must be a ref or None")
            signal_exit(proc, sender, reason)
            return
        if type(sender) is not RemoteRef or (proc, sender) not in self._links:
            return  # unlinked meanwhile (or never linked): no signal
        self._links.discard((proc, sender))
        proc.remove_exit_hook((_RLINK, sender))
        self._gone_now(sender)
        exit_signal(proc, sender, reason)


@trio.lowlevel.enable_ki_protection  # (a library task: Ctrl-C goes to the main task)
async def _expire(caller: Caller[Any], seconds: float) -> None:
    """The timeout of a call the watchdog could not take."""
    await trio.sleep(seconds)
    caller.fail(CallTimeoutError(caller._target, seconds))  # (ignored if answered)


_HANDLERS: Final[dict[str, Any]] = {
    "call": Distribution._on_call,
    "cast": Distribution._on_cast,
    "stop": Distribution._on_stop,
    "monitor": Distribution._on_monitor,
    "demonitor": Distribution._on_demonitor,
    "down": Distribution._on_down,
    "link": Distribution._on_link,
    "unlink": Distribution._on_unlink,
    "exit": Distribution._on_exit,
    "leaving": Distribution._on_leaving,
    "spawn": Distribution._on_spawn,
    "load": Distribution._on_load,
}


def _node_name(target: RemoteTarget) -> str:
    return target.node.name if type(target) is RemoteRef else target.node


def _reason(proc: Process | None) -> object:
    """Why a process takes no message: its exit reason, ``"stopping"``, or ``"noproc"``."""
    if proc is None:
        return "noproc"
    return proc.reason if proc.status == DEAD else "stopping"


def _ref_of(pid: object, proc: Process | None) -> ProcessRef:
    if proc is not None:
        return proc.ref
    return _detached(GenServerRef, pid if type(pid) is int else 0, "?")


# --------------------------------------------------------------------------- refs on the wire


def _ref_to_wire(ref: ProcessRef) -> object:
    distribution = wire_var.get()
    if type(ref) is RemoteRef:
        return (ref.node.name, ref.node.incarnation, ref.id, ref._remote_label)
    if distribution is None:
        raise CodecError("a process ref is encoded only by a runtime in a cluster")
    return (distribution.me.name, distribution.me.incarnation, ref.id, ref._label)


def _ref_from_wire(value: object) -> ProcessRef:
    if type(value) is not tuple or len(value) != 4:
        raise ValueError("a ref is (node name, incarnation, pid, label)")
    name, incarnation, pid, label = value
    if type(pid) is not int or pid < 0 or type(label) is not str:
        raise ValueError("a ref's pid is an int >= 0 and its label a str")
    node = NodeId(name, incarnation)
    distribution = wire_var.get()
    if distribution is not None and node == distribution.me:
        proc = distribution.kernel.live.get(pid)
        return proc.ref if proc is not None else _detached(GenServerRef, pid, label)
    return RemoteRef._create(node, pid, label)


def _down_to_wire(down: Down) -> object:
    return (down.ref, down.reason)


def _down_from_wire(value: object) -> Down:
    if type(value) is not tuple or len(value) != 2:
        raise ValueError("a Down is (ref, reason)")
    ref, reason = value
    # The monitor stays on the node that held it: this one is an inactive stand-in.
    mref: MonitorRef = MonitorRef._create(None, ref, active=False)
    return Down(mref, ref, reason)


def register_refs(codec: object) -> None:
    """Teach a codec the library's refs, `Down`, `Exit` and `RemoteName` (idempotent)."""
    if not isinstance(codec, Codec):
        return  # PickleCodec: refs pickle (``ProcessRef.__reduce__`` reads `wire_var` too)
    for cls in (GenServerRef, SupervisorRef, EventBusRef, RegistryRef, RemoteRef):
        codec.register(
            cls, name=f"noex.{cls.__name__}", to_wire=_ref_to_wire, from_wire=_ref_from_wire
        )
    codec.register(Down, name="noex.Down", to_wire=_down_to_wire, from_wire=_down_from_wire)
    codec.register(Exit, name="noex.Exit")
    codec.register(RemoteName, name="noex.RemoteName")


# --------------------------------------------------------------------------- joining


async def join_cluster(kernel: Kernel, node: Node) -> Distribution:
    """Make `kernel` handle remote targets through `node`; returns the distribution."""
    distribution = Distribution(kernel, node)
    await node._nursery.start(node._serve_processes, distribution.receive)
    node._on_node_down(distribution.node_down)
    kernel.distribution = distribution
    return distribution


@asynccontextmanager
async def open_distribution(config: ClusterConfig, kernel: Kernel) -> AsyncIterator[Node]:
    """Join the cluster for the runtime of `kernel`: remote targets work inside the block.

    A failure of the node (its name taken after a partition healed, its NATS connection closed
    for good) ends the runtime like a fatal error: ``kernel.escalate``.
    """
    async with _Join(config, on_failure=kernel.escalate) as node:
        await join_cluster(kernel, node)
        try:
            yield node
        finally:
            distribution = kernel.distribution
            if distribution is not None:
                distribution.leaving()  # type: ignore[attr-defined]
            kernel.distribution = None
