"""The node side of `GlobalRegistry` (names across the cluster, OTP's ``:global``) on JetStream KV.

One key-value bucket per cluster (``noex_<prefix>_names``, file storage) holds every name:
key = the name (base64url), value = the owner's ref as the codec writes it. So:

- **One owner at a time, atomically**: registering is a compare-and-set create; of two nodes
  registering a name at once, exactly one wins (the stream's leader decides).
- **Leases**: an entry has a TTL (`lease`: twice the failure timeout, at least 1 s); the owner's
  node renews its names every third of it. A node that dies or is cut off stops renewing, and
  its names expire. Faster: when a node sees another node down, it deletes that node's entries
  at once (compare-and-set on their revision: the first node to do it wins, the others are
  refused harmlessly) — so a dead node's names are free within the failure-detection bound.
- **Conflicts** (a partition heals): the node that was cut off could not renew; its names
  expired and may have been taken. When its renewal is refused (the revision moved on), its
  process *lost* the name: it gets the exit signal ``("global_name_conflict", name)`` — it
  exits (a supervisor restarts it, and its re-registration then fails or waits) unless it
  traps exits. There is never more than one owner in the bucket, and the loser is told.
- **Lookups** read a local copy kept by a watch of the bucket (every node, from its first use):
  ``whereis`` is a dict lookup, eventually consistent like OTP's replicated table. A name
  whose owner's node is down is not returned.
- A name is released when its process exits (the node deletes the entry) or with
  ``unregister``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any, Final

import trio

from ._exceptions import AlreadyRegisteredError, NoexError
from ._links import signal_exit
from ._process import DEAD, Process, ProcessRef
from ._remote_ref import RemoteRef

if TYPE_CHECKING:
    from ._distribution import Distribution
    from .nats import KeyValue

logger: Final = logging.getLogger("noex_trio.cluster")

_KEY: Final = "noex_trio.global_name"


class GlobalNames:
    """The global names of one runtime's node: its bucket, its leases, its copy of the table."""

    def __init__(self, distribution: Distribution, kv: KeyValue, lease: float) -> None:
        self.distribution = distribution
        self.kv = kv
        self.lease = lease
        #: Every name in the bucket: name -> (owner, revision), from the watch.
        self.table: dict[str, tuple[ProcessRef, int]] = {}
        #: The names this node registered: name -> (process, revision of its entry).
        self.owned: dict[str, tuple[Process, int]] = {}
        self.ready = trio.Event()
        #: Names this node deleted, with the revision it deleted: the watch may still bring
        #: that entry (it lags); it must not come back into the table.
        self._floor: dict[str, int] = {}

    # ----------------------------------------------------------------- tasks

    @trio.lowlevel.enable_ki_protection  # (a library task: Ctrl-C goes to the main task)
    async def watch(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        from .nats import decode_key

        async with self.kv.watch() as entries:
            for entry in await entries.initial():
                self._apply(decode_key(entry.key), entry)
            self.ready.set()
            task_status.started()
            async for entry in entries:
                self._apply(decode_key(entry.key), entry)

    def _apply(self, name: str, entry: Any) -> None:
        if entry.operation != "PUT":
            self.table.pop(name, None)
            return
        if entry.revision <= self._floor.get(name, 0):
            return  # (an entry this node has deleted since)
        self._floor.pop(name, None)
        try:
            owner = self.distribution.decode_value(entry.value)
        except Exception:  # (garbage in the bucket: ignored)
            logger.warning("global name %r holds no ref: ignored", name)
            return
        if isinstance(owner, ProcessRef):
            self.table[name] = (owner, entry.revision)

    @trio.lowlevel.enable_ki_protection  # (a library task: Ctrl-C goes to the main task)
    async def renew(self) -> None:
        """Renew this node's leases every third of the lease."""
        from .nats import JetStreamError, WrongRevisionError, encode_key

        while True:
            await trio.sleep(self.lease / 3)
            for name, (proc, revision) in list(self.owned.items()):
                try:
                    value = self.distribution.encode(proc.ref)
                    new = await self.kv.update(
                        encode_key(name), value, revision=revision, ttl=self.lease
                    )
                except WrongRevisionError:
                    self._lost(name, proc)
                except JetStreamError as error:  # (no answer: try again next round)
                    logger.warning("global name %r not renewed: %r", name, error)
                else:
                    if self.owned.get(name, (None, 0))[0] is proc:
                        self.owned[name] = (proc, new)

    def _lost(self, name: str, proc: Process) -> None:
        """The entry moved on without us (it expired and was taken): the process lost it."""
        if self.owned.get(name, (None, 0))[0] is not proc:
            return
        del self.owned[name]
        proc.remove_exit_hook((_KEY, name))
        logger.warning("%s lost the global name %r (conflict)", proc.label, name)
        signal_exit(proc, None, ("global_name_conflict", name))

    # ----------------------------------------------------------------- node down

    def node_down(self, node: Any) -> None:
        """Free the names of a node that is down (first node to delete wins)."""
        for name, (owner, revision) in list(self.table.items()):
            if isinstance(owner, RemoteRef) and owner.node == node:
                self.table.pop(name, None)
                self._floor[name] = revision
                self.distribution.nursery.start_soon(self._delete, name, revision)

    @trio.lowlevel.enable_ki_protection  # (a library task: Ctrl-C goes to the main task)
    async def _delete(self, name: str, revision: int) -> None:
        from .nats import JetStreamError, WrongRevisionError, encode_key

        with contextlib.suppress(WrongRevisionError, JetStreamError):
            await self.kv.delete(encode_key(name), revision=revision)

    # ----------------------------------------------------------------- operations

    async def register(self, name: str, proc: Process) -> None:
        from .nats import KeyExistsError, encode_key

        key = encode_key(name)
        value = self.distribution.encode(proc.ref)
        for _ in range(2):
            try:
                revision = await self.kv.create(key, value, ttl=self.lease)
            except KeyExistsError as taken:
                holder = self.table.get(name)
                if holder is not None and not _alive(self.distribution, holder[0]):
                    await self._delete(name, taken.revision)  # (its node is down)
                    continue
                raise AlreadyRegisteredError(name) from None
            break
        else:  # pragma: no cover - deleted and taken again in between
            raise AlreadyRegisteredError(name)
        if proc.status >= DEAD:  # (it exited meanwhile: give the name back)
            await self._delete(name, revision)
            raise NoexError(f"{proc.label} exited while registering {name!r}")
        self.owned[name] = (proc, revision)
        self.table[name] = (proc.ref, revision)
        proc.add_exit_hook((_KEY, name), lambda _reason: self._released(name, proc))

    def _released(self, name: str, proc: Process) -> None:
        owned = self.owned.get(name)
        if owned is None or owned[0] is not proc:
            return
        del self.owned[name]
        self.table.pop(name, None)
        self._floor[name] = owned[1]
        self.distribution.nursery.start_soon(self._delete, name, owned[1])

    async def unregister(self, name: str) -> bool:
        owned = self.owned.pop(name, None)
        if owned is None:
            await trio.lowlevel.checkpoint()
            return False
        proc, revision = owned
        proc.remove_exit_hook((_KEY, name))
        self.table.pop(name, None)
        self._floor[name] = revision
        await self._delete(name, revision)
        return True

    def whereis(self, name: str) -> ProcessRef | None:
        holder = self.table.get(name)
        if holder is None or not _alive(self.distribution, holder[0]):
            return None
        return holder[0]


def _alive(distribution: Distribution, ref: ProcessRef) -> bool:
    if isinstance(ref, RemoteRef):
        return distribution.is_running(ref)
    return ref.is_running()
