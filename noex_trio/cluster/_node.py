"""`join` and `Node`: a runtime's membership in a cluster, over one NATS connection.

``async with join(config) as node:`` connects to NATS, claims the node's name, and runs the
node's tasks in a nursery of its own until the block ends (then the node says goodbye and
disconnects). Tasks:

- `_read_beats`: every node's heartbeat subject (``P.node.*.hb``) into the `Membership`;
- `_read_claims`: claims of names (``P.node.*.claim``): answers claims of this node's name,
  greets a node claiming another name with a heartbeat (so it learns this one at once);
- `_read_requests`: requests to this node (``P.node.<me>.rpc.>``), one task per request,
  at most ``max_concurrent_requests`` at once;
- `_watch_connection`: the NATS client's events (a lost connection: every node is down);
- `_beat`: a heartbeat every ``heartbeat_interval`` (a probe while disconnected);
- `_detect`: sleeps until the next failure deadline, then `Membership.expire`.

A task never raises into the nursery: what ends the node (its name taken by a newer node, the
NATS connection closed for good, a ``KeyboardInterrupt`` in a handler) is recorded as the
node's failure, the block's body is cancelled, and leaving the block raises it.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from types import TracebackType
from typing import Any, Final, final

import attrs
import trio

from .. import _checks as checks
from .. import nats
from .._handles import NoPublicConstructor
from .._outcome import crash_reason, is_cancellation
from . import _protocol as protocol
from . import _rpc as rpc
from ._config import ClusterConfig, check_suffix
from ._errors import CodecError, NoConnectionError, NodeNameTakenError
from ._events import DownDetail, NodeDown, NodeEvents, NodeStatistics, NodeStatus, NodeUp
from ._identity import NodeId, check_node_name, name_token, new_incarnation
from ._membership import Action, Membership

logger = logging.getLogger("noex_trio.cluster")

#: The incarnation of a process message for whichever node holds the name now.
ANY: Final = 0
#: Seconds a leaving node waits for its goodbye to reach the server.
GOODBYE_TIMEOUT: Final = 1.0
_QUEUE: Final = 4096
_QUEUE_BYTES: Final = 4 * 1024 * 1024


@final
class Node(metaclass=NoPublicConstructor):
    """This runtime's node in a cluster, from ``async with noex_trio.cluster.join(config)``.

    It sees the other nodes (`members`, `watch`), sends requests to their handlers
    (`request`) and serves its own (`serve`). Its methods are safe to call from any task.

    Attributes:
        id: this node's `NodeId`: its name and the incarnation drawn when it joined.
    """

    _noex_made_by = "use `async with noex_trio.cluster.join(config) as node`"

    def __init__(self, config: ClusterConfig, nc: nats.Connection, nursery: trio.Nursery) -> None:
        self._config = config
        self._nc = nc
        self._nursery = nursery
        self._codec = config.codec
        self.id = NodeId(config.name, new_incarnation())
        self._token = name_token(config.name)
        self._subjects = protocol.Subjects(config.prefix)
        self._pending = rpc.PendingRequests(config.name)
        self._membership = Membership(
            self.id,
            config.failure_timeout,
            config.heartbeat_interval,
            self._node_down,
            self._earlier_deadline,
        )
        self._handlers: dict[str, rpc.Handler] = {}
        self._processes: nats.Subscription | None = None
        self._slots = trio.Semaphore(config.max_concurrent_requests)
        self._detect_scope = trio.CancelScope()
        # Entered by `join` around the user's block; cancelled (even before) when the node fails.
        self._body_scope = trio.CancelScope()
        self._failure: BaseException | None = None
        #: Set by a runtime that joined (`_Join` with `on_failure`): told of the failure
        #: instead of cancelling a body of its own.
        self._on_failure: Callable[[BaseException], object] | None = None
        self._last_answer = -math.inf
        self._heartbeats_sent = self._garbage = 0
        self._requests_sent = self._requests_served = 0

    def __repr__(self) -> str:
        return f"<noex_trio.cluster.Node {self.id} {self.status}>"

    # ================================================================= public API

    @property
    def name(self) -> str:
        """This node's name."""
        return self.id.name

    @property
    def status(self) -> NodeStatus:
        """``"joining"``, ``"up"``, ``"disconnected"`` (no connection to NATS, or its own
        heartbeats stopped coming back: it sees no other node until they do) or
        ``"closed"``."""
        return self._membership.status

    def members(self) -> frozenset[NodeId]:
        """The other nodes this node sees up now (empty while it is disconnected)."""
        return self._membership.members()

    def watch(self, max_pending: int = 1024) -> NodeEvents:
        """A feed of `NodeUp`/`NodeDown` events from now on: ``async with node.watch() as
        events: async for event in events:``.

        Events are queued from this call on, so ``members()`` then ``watch()`` (without an
        ``await`` between) gives a snapshot and every change after it. At most `max_pending`
        are kept (the oldest is dropped, counted in ``events.dropped``).
        """
        feed = NodeEvents._create(
            self._membership.remove_feed, checks.count(max_pending, "max_pending", minimum=1)
        )
        if self.status == "closed":
            feed._end()
        else:
            self._membership.add_feed(feed)
        return feed

    def serve(self, suffix: str, handler: rpc.Handler) -> Callable[[], None]:
        """Answer requests sent to this node under `suffix` with `handler`; returns a function
        that stops serving it (idempotent).

        The handler is called with a `Request` in a task of its own (sync or async; at most
        ``max_concurrent_requests`` run at once). Its return value is the reply; what it
        raises reaches the caller (as its class if the caller's codec can rebuild it, else as
        a `RemoteError`); a ``KeyboardInterrupt``/``SystemExit`` also ends this node (raised
        from its ``async with`` block). Handlers still running when the node leaves are
        cancelled: their callers get `NoConnectionError`.

        Raises:
            TypeError: `handler` is not callable, or `suffix` not a str.
            ValueError: `suffix` is not dot-separated tokens of ``[A-Za-z0-9_-]``, or is
                already served.
        """
        suffix = check_suffix(suffix)
        checks.callable_(handler, "handler")
        if suffix in self._handlers:
            raise checks.value_error("suffix", "a suffix this node does not serve yet", suffix)
        self._handlers[suffix] = handler

        def unserve() -> None:
            if self._handlers.get(suffix) is handler:
                del self._handlers[suffix]

        return unserve

    async def request(
        self,
        node: str | NodeId,
        suffix: str,
        payload: object = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a per-request bound, as call's
    ) -> object:
        """Send `payload` to the handler `node` serves under `suffix`, and return its reply.

        Fails within the failure-detection bound when the node is down or goes down while
        the request waits (`NoConnectionError`); never hangs beyond `timeout`. If cancelled
        (or timed out), the handler may still run; its reply is dropped.

        Args:
            node: the node's name (its current incarnation), or a `NodeId` (that incarnation
                only: a restarted node under the same name is another node). This node's
                own name works too (the request goes through NATS like any other).
            suffix: what the node serves it under (`serve`).
            payload: any value the codec encodes.
            timeout: seconds to wait for the reply.

        Raises:
            NoConnectionError: the node is not a member (never joined, left, down, restarted
                as another incarnation) or went down meanwhile, or this node is disconnected.
            RemoteTimeoutError: no reply within `timeout` (the node is still up).
            NoHandlerError: the node serves nothing under `suffix`.
            CodecError: the payload or the reply cannot be encoded or decoded
                (`PayloadTooLargeError`: larger than the server's ``max_payload``).
            Exception: what the handler raised (rebuilt, or a `RemoteError`).
            TypeError / ValueError: a bad argument.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            if isinstance(node, NodeId):
                name, wanted = node.name, node.incarnation
            else:
                name, wanted = check_node_name(node, "node"), None
            suffix = check_suffix(suffix)
            timeout = checks.seconds(timeout, "timeout")
            target = self._target(name, wanted)
            nc = self._nc
            data = self._codec.encode(payload, max_size=nc.max_payload - protocol.HEADER_ROOM)
        except Exception:
            await trio.lowlevel.checkpoint()  # (a checkpoint on every path)
            raise
        headers = rpc.request_headers(self.id, self._token, target)
        subject = self._subjects.rpc(name_token(name), suffix)
        pending = self._pending.add(name)
        self._requests_sent += 1
        try:
            with pending.scope:
                msg = await nc.request(subject, data, headers=headers, timeout=timeout)
        except nats.NatsError as error:
            raise rpc.nats_failure(name, suffix, timeout, error) from None
        finally:
            self._pending.remove(name, pending)
        if pending.scope.cancelled_caught:
            raise NoConnectionError(name, pending.detail)
        return rpc.read_reply(self._codec, name, suffix, msg)

    # ================================================================= process messages
    # For the runtime's distribution (``noex_trio._distribution``), which encodes and decodes
    # the payloads itself: messages to a node's processes go to one subject per node, read by
    # one task in arrival order, so what one node sends to another arrives in the order sent
    # (what OTP guarantees between two processes).

    @property
    def _payload_limit(self) -> int:
        return self._nc.max_payload - protocol.HEADER_ROOM

    def _process_headers(self, target: NodeId, kind: str) -> dict[str, str]:
        headers = rpc.request_headers(self.id, self._token, target.incarnation)
        headers[protocol.KIND] = kind
        return headers

    def _check_target(self, target: NodeId) -> None:
        """Raise `NoConnectionError` unless `target` is up (that incarnation; `ANY`: this
        node is up) or this node."""
        if target.incarnation == ANY:
            if self.status != "up":
                raise NoConnectionError(target.name, "this node is " + self.status)
            return
        self._target(target.name, target.incarnation)

    def _send_process(self, target: NodeId, kind: str, data: bytes) -> None:
        """Publish a process message now (no await: the order of calls is the order sent).

        Raises:
            NoConnectionError: `target` is not up, or the connection is closed.
            nats.OutboundBufferFullError: the outbound buffer has no room for it now (the
                node is connected: back-pressure, not a lost node).
        """
        self._check_target(target)
        subject = self._subjects.proc(name_token(target.name))
        try:
            self._nc.publish_nowait(subject, data, headers=self._process_headers(target, kind))
        except nats.OutboundBufferFullError:
            raise
        except nats.NatsError as error:
            raise NoConnectionError(target.name, "disconnected") from error

    async def _request_process(
        self,
        target: NodeId,
        kind: str,
        data: bytes,
        timeout: float,  # noqa: ASYNC109 - as request's
    ) -> nats.Msg:
        """Send a process message that expects an answer (in order with `_send_process`), and
        return the answer (read it with ``rpc.read_reply``).

        Raises:
            NoConnectionError: `target` is not up, or went down while waiting.
            RemoteTimeoutError: no answer within `timeout`.
        """
        self._check_target(target)
        subject = self._subjects.proc(name_token(target.name))
        pending = self._pending.add(target.name)
        self._requests_sent += 1
        answer: nats.Msg | None = None
        try:
            with pending.scope:
                # (the request is queued before its first await: in order with the sends)
                answer = await self._nc.request(
                    subject, data, headers=self._process_headers(target, kind), timeout=timeout
                )
        except nats.NatsError as error:
            raise rpc.nats_failure(target.name, kind, timeout, error) from None
        finally:
            self._pending.remove(target.name, pending)
        if answer is None:
            raise NoConnectionError(target.name, pending.detail)
        return answer

    async def _serve_processes(
        self,
        receive: Callable[[ProcessMessage], object],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Read this node's process messages and hand each to `receive`, in arrival order
        (`receive` is sync: it must not reorder them). Runs until cancelled; what escapes
        `receive` (a ``KeyboardInterrupt``...) ends the node, as in its other tasks."""
        try:
            await self._read_processes(receive, task_status)
        except BaseException as exc:
            if is_cancellation(exc):
                raise
            self._fail(exc)

    async def _read_processes(
        self, receive: Callable[[ProcessMessage], object], task_status: trio.TaskStatus[None]
    ) -> None:
        # Subscribed when the node joined (before it announced itself): what others sent
        # since then waits in the subscription, in order.
        messages = self._processes
        assert messages is not None
        task_status.started()
        async for msg in messages:
            sender = rpc.sender_of(msg)
            target = rpc.target_incarnation(msg)
            kind = msg.headers.get(protocol.KIND) if msg.headers is not None else None
            if sender is None or target is None or not kind:
                self._garbage += 1
                continue
            if target != self.id.incarnation and target != ANY:
                if msg.reply is not None:  # meant for an earlier (or later) incarnation
                    self._nursery.start_soon(rpc.respond, msg, rpc.WRONG_NODE, b"")
                continue
            receive(ProcessMessage(sender, kind, msg))

    def _respond_process(self, msg: nats.Msg, status: str, data: bytes) -> None:
        """Answer a process message that expects it: now, in order with what this node sends
        next (from a task of the node's if the outbound buffer is full)."""
        assert msg.reply is not None
        try:
            self._nc.publish_nowait(msg.reply, data, headers={protocol.STATUS: status})
        except nats.OutboundBufferFullError:
            self._nursery.start_soon(rpc.respond, msg, status, data)
        except (nats.NatsError, ValueError):  # closed: the caller sees this node go down
            pass

    def _count_garbage(self) -> None:
        self._garbage += 1

    def _on_node_down(self, listener: Callable[[NodeDown], object]) -> None:
        """Call `listener` (sync) with every `NodeDown`, as it happens."""
        self._membership.add_feed(_Listener(listener))  # type: ignore[arg-type]  # (duck)

    def _on_node_up(self, listener: Callable[[NodeUp], object]) -> None:
        """Call `listener` (sync) with every `NodeUp`, as it happens."""
        self._membership.add_feed(_Listener(listener, NodeUp))  # type: ignore[arg-type]  # (duck)

    def statistics(self) -> NodeStatistics:
        """A snapshot of the node's counters."""
        return NodeStatistics(
            node=self.id,
            status=self.status,
            members=len(self._membership.members()),
            heartbeats_sent=self._heartbeats_sent,
            heartbeats_received=self._membership.heartbeats_received,
            garbage_received=self._garbage,
            requests_sent=self._requests_sent,
            requests_served=self._requests_served,
            pending_requests=len(self._pending),
            handlers=len(self._handlers),
        )

    # ================================================================= joining and leaving

    def _target(self, name: str, wanted: int | None) -> int:
        """The incarnation a request to `name` goes to; raises if it is not connected."""
        status = self.status
        if status != "up":
            raise NoConnectionError(name, "this node is " + status)
        if name == self.name:
            current: NodeId | None = self.id
        else:
            current = self._membership.member(name)
        if current is None or (wanted is not None and wanted != current.incarnation):
            raise NoConnectionError(name, "not a member")
        return current.incarnation

    async def _join(self, stack: AsyncExitStack) -> None:
        """Subscribe, claim the name, announce the node, start the periodic tasks."""
        nc, subjects = self._nc, self._subjects
        # Bounded queues: a flood on the shared subjects drops messages (and may cost a
        # heartbeat), never memory.
        beats = await stack.enter_async_context(
            nc.subscribe(subjects.beats, max_pending=_QUEUE, max_pending_bytes=_QUEUE_BYTES)
        )
        claims = await stack.enter_async_context(
            nc.subscribe(subjects.claims, max_pending=_QUEUE, max_pending_bytes=_QUEUE_BYTES)
        )
        requests = await stack.enter_async_context(nc.subscribe(subjects.rpc_all(self._token)))
        # Messages to this node's processes, read by the runtime once it is ready
        # (`_serve_processes`): subscribed now, so that nothing sent to this node once others
        # see it up is lost.
        self._processes = await stack.enter_async_context(nc.subscribe(subjects.proc(self._token)))
        events = await stack.enter_async_context(nc.events())
        nursery = self._nursery
        nursery.start_soon(self._guard, self._read_beats, beats)
        nursery.start_soon(self._guard, self._read_claims, claims)
        nursery.start_soon(self._guard, self._read_requests, requests)
        nursery.start_soon(self._guard, self._watch_connection, events)
        await nc.flush()  # the server knows every subscription: claims and rivals are heard
        await self._claim()
        self._membership.joined(trio.current_time())
        await self._publish("hello")
        nursery.start_soon(self._guard, self._beat)
        nursery.start_soon(self._guard, self._detect)
        logger.info("node %s joined %s", self.id, self._config.prefix)

    async def _claim(self) -> None:
        """Ask the cluster for the name; refused if the holder (or an older rival) answers,
        or heartbeats with it, within ``claim_timeout``."""
        nc, membership = self._nc, self._membership
        inbox = nc.new_inbox()
        async with nc.subscribe(inbox) as answers:
            await nc.publish(
                self._subjects.claim(self._token),
                protocol.encode_control("claim", self.id.incarnation),
                reply=inbox,
            )
            with trio.move_on_after(self._config.claim_timeout):
                async for msg in answers:
                    answer = protocol.decode_control(msg.data, ("taken", "claiming"))
                    if answer is None:
                        self._garbage += 1
                        continue
                    kind, incarnation = answer
                    if kind == "taken" or incarnation <= self.id.incarnation:
                        membership.claim_lost = incarnation
                    if membership.claim_lost is not None:
                        break
        if membership.claim_lost is not None:
            raise NodeNameTakenError(self.name, self._config.prefix, membership.claim_lost)

    async def _leave(self) -> None:
        """Say goodbye (if connected), then close: waiting requests fail, feeds end."""
        if self.status == "up" and self._nc.status == "connected":
            with trio.move_on_after(GOODBYE_TIMEOUT):
                await self._publish("bye")
                with contextlib.suppress(nats.NatsError):
                    await self._nc.flush(GOODBYE_TIMEOUT)
        self._membership.close()
        self._pending.node_down(self.name, "closed")

    def _fail(self, error: BaseException) -> None:
        """End the node with `error` (the first failure is the one raised)."""
        logger.error("node %s fails: %r", self.id, error)
        self._failure = self._failure or error
        if self._on_failure is not None:
            self._on_failure(error)
        self._body_scope.cancel()

    # ================================================================= tasks

    async def _guard(self, task: Callable[..., Awaitable[object]], *args: object) -> None:
        """Run a task; what escapes it (other than a cancellation) ends the node."""
        try:
            await task(*args)
        except BaseException as exc:
            if is_cancellation(exc):
                raise
            self._fail(exc)

    async def _publish(self, kind: protocol.BeatKind) -> None:
        """Publish a heartbeat-subject message (dropped if the connection is not there)."""
        if self._nc.status != "connected":
            return
        with contextlib.suppress(nats.NatsError):
            await self._nc.publish(
                self._subjects.beat(self._token),
                protocol.encode_control(kind, self.id.incarnation),
            )
            if kind in ("hello", "hb"):
                self._heartbeats_sent += 1

    async def _beat(self) -> None:
        interval = self._config.heartbeat_interval
        deadline = trio.current_time()
        while True:
            deadline = max(deadline + interval, trio.current_time())
            await trio.sleep_until(deadline)
            # A disconnected node probes its connection: others ignore its probes.
            await self._publish("hb" if self.status == "up" else "probe")

    async def _detect(self) -> None:
        membership = self._membership
        while True:
            with trio.CancelScope(deadline=membership.next_deadline()) as scope:
                self._detect_scope = scope
                await trio.sleep_forever()
            membership.expire(trio.current_time())

    def _earlier_deadline(self, deadline: float) -> None:
        scope = self._detect_scope
        scope.deadline = min(scope.deadline, deadline)

    def _node_down(self, name: str, detail: DownDetail) -> None:
        self._pending.node_down(name, detail)

    async def _read_beats(self, beats: nats.Subscription) -> None:
        membership = self._membership
        async for msg in beats:
            name = self._subjects.sender(msg.subject)
            control = protocol.decode_control(msg.data, protocol.BEAT_KINDS)
            if name is None or control is None:
                self._garbage += 1
                continue
            kind, incarnation = control
            action = membership.heard(name, kind, incarnation, trio.current_time())
            if membership.conflict is not None:
                self._fail(NodeNameTakenError(self.name, self._config.prefix, membership.conflict))
                return
            await self._act(action)

    async def _act(self, action: Action) -> None:
        if action == "announce":
            await self._publish("hello")
        elif action == "answer":
            # At most a few answers per interval, however many hellos arrive.
            now = trio.current_time()
            if now - self._last_answer >= self._config.heartbeat_interval / 4:
                self._last_answer = now
                await self._publish("hb")

    async def _read_claims(self, claims: nats.Subscription) -> None:
        membership = self._membership
        async for msg in claims:
            name = self._subjects.sender(msg.subject)
            control = protocol.decode_control(msg.data, ("claim",))
            if name is None or control is None or msg.reply is None:
                self._garbage += 1
                continue
            answer = membership.claimed(name, control[1])
            if answer is not None:
                with contextlib.suppress(nats.NatsError, ValueError):
                    await msg.respond(protocol.encode_control(answer, self.id.incarnation))
            elif name != self.name and self.status == "up":
                await self._act("answer")  # let the newcomer know this node at once

    async def _watch_connection(self, events: nats.ConnectionEvents) -> None:
        async for event in events:
            if event.kind == "disconnected":
                self._membership.disconnect()
            elif event.kind == "reconnected" and self.status == "disconnected":
                await self._publish("probe")  # its echo brings the node back up
            elif event.kind == "closed":
                error = event.error
                self._fail(error if error is not None else NoConnectionError(self.name, "closed"))
                return

    async def _read_requests(self, requests: nats.Subscription) -> None:
        async with trio.open_nursery() as nursery:
            async for msg in requests:
                if msg.reply is None:
                    self._garbage += 1
                    continue
                await self._slots.acquire()
                nursery.start_soon(self._answer, msg)

    async def _answer(self, msg: nats.Msg) -> None:
        try:
            await self._answer_one(msg)
        finally:
            self._slots.release()

    async def _answer_one(self, msg: nats.Msg) -> None:
        limit = self._nc.max_payload - protocol.HEADER_ROOM
        suffix = msg.subject.split(".rpc.", 1)[-1]
        target = rpc.target_incarnation(msg)
        sender = rpc.sender_of(msg)
        if sender is None or target is None:
            self._garbage += 1
            await rpc.respond(msg, rpc.BAD_REQUEST, b"missing or invalid request headers")
            return
        if target != self.id.incarnation:
            await rpc.respond(msg, rpc.WRONG_NODE, b"")
            return
        handler = self._handlers.get(suffix)
        if handler is None:
            await rpc.respond(msg, rpc.NO_HANDLER, b"")
            return
        try:
            payload = self._codec.decode(msg.data)
        except CodecError as exc:
            self._garbage += 1
            await rpc.respond(msg, rpc.BAD_REQUEST, rpc.bad_request(exc))
            return
        self._requests_served += 1
        request = rpc.Request(sender, suffix, payload)
        fatal = await rpc.serve(self._codec, handler, request, msg, limit)
        if fatal is not None:
            self._fail(fatal)


@attrs.frozen
class ProcessMessage:
    """A message to this node's processes: who sent it, what it is, the NATS message (its
    payload still encoded; ``msg.reply`` set when an answer is expected)."""

    sender: NodeId
    kind: str
    msg: nats.Msg


class _Listener:
    """A membership feed that calls a function instead of queueing events (of one kind)."""

    def __init__(self, listener: Callable[[Any], object], kind: type = NodeDown) -> None:
        self._listener = listener
        self._kind = kind

    def _push(self, event: object) -> None:
        if isinstance(event, self._kind):
            self._listener(event)

    def _end(self) -> None:
        return None


class _Join:
    """What `join` returns: entering joins (connect, claim, announce), leaving says goodbye
    and disconnects, then raises what ended the node, if something did."""

    def __init__(
        self,
        config: ClusterConfig,
        on_failure: Callable[[BaseException], object] | None = None,
    ) -> None:
        self._config = config
        self._on_failure = on_failure
        self._entered = False
        self._stack: AsyncExitStack | None = None
        self._node: Node | None = None

    async def __aenter__(self) -> Node:
        if self._entered:
            raise RuntimeError("this join(...) was already entered; call join() again")
        self._entered = True
        stack = self._stack = AsyncExitStack()
        try:
            nc = await stack.enter_async_context(self._config._connect())
            nursery = await stack.enter_async_context(trio.open_nursery())
            stack.callback(nursery.cancel_scope.cancel)
            node = self._node = Node._create(self._config, nc, nursery)
            node._on_failure = self._on_failure
            await node._join(stack)
        except BaseException:
            await stack.aclose()  # (a shield here would wrap the nursery's exit: not allowed)
            raise
        if self._on_failure is None:
            node._body_scope.__enter__()
        return node

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        node, stack = self._node, self._stack
        assert node is not None
        assert stack is not None
        # The body scope is cancelled only when the node failed; it swallows the cancellation
        # and re-raises what else the body raised meanwhile (kept as the failure's context).
        remainder: BaseException | None = None
        swallowed = False
        try:
            if self._on_failure is None:
                swallowed = bool(node._body_scope.__exit__(exc_type, exc, tb))
        except BaseException as error:
            remainder, swallowed = error, False
        try:
            with trio.CancelScope(shield=True):
                await node._leave()
        finally:
            await stack.aclose()
        failure, node._failure = node._failure, None
        if failure is None or self._on_failure is not None:  # (the runtime raises it)
            return swallowed
        context = remainder if remainder is not None else (None if swallowed else exc)
        try:
            if context is None or context is failure:
                raise failure
            try:
                raise crash_reason(context)  # (without the body's Cancelled)
            except BaseException:
                raise failure  # noqa: B904 - chained to what the body raised, as context
        finally:
            del failure, context, remainder


def join(config: ClusterConfig) -> AbstractAsyncContextManager[Node]:
    """Join a cluster: ``async with noex_trio.cluster.join(config) as node:``.

    Entering connects to NATS (the node only connects out; it listens on nothing), claims
    ``config.name`` in the cluster (within ``claim_timeout``), announces the node and starts
    its heartbeats; `Node.members` then lists the nodes that answered. Leaving the block says
    goodbye (the others see ``NodeDown(..., "left")`` at once), cancels the handlers still
    running and disconnects.

    Losing the NATS connection does not end the block: the node sees every other node down,
    reconnects by itself (with backoff), announces itself again and sees them up again. The
    block ends with an error when the node cannot go on: its name was taken by a newer node
    (`NodeNameTakenError`, after a partition healed), the connection was closed for good, or
    a handler raised ``KeyboardInterrupt``/``SystemExit``.

    Raises:
        TypeError: `config` is not a `ClusterConfig`.
        nats.ConnectError: (on entering) no NATS server could be reached;
            `nats.AuthorizationError` if the server refused the credentials.
        NodeNameTakenError: (on entering) another node holds the name.
    """
    return _Join(checks.instance(config, "config", ClusterConfig))
