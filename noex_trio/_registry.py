"""Registries: names (or keys) that point at processes, cleaned up when the process exits.

`rt.registry` is the runtime's unique-name registry (what ``GenServer.start(name=...)`` and the
`Registry` facade use); its keys are non-empty strings. ``Registry.create(...)`` makes extra
registries whose keys are any hashable value (``("user", 42)``), unique or duplicate — groups
you can `dispatch` a cast to, with metadata per entry — and a registry process
(``Registry.start``) owns one for as long as it runs. A `Via` names a process in any of them.

Every entry of a process is removed, in every registry, as part of its exit and *before* the
exit is reported to anyone (OTP releases names before exit signals go out), so a supervisor can
give the name to the restarted process at once and a lookup never returns a dead process.

Invariants (the class keeps them; nothing else touches its dicts):

- ``_entries`` maps each key to its `_Slot`: the holders (ref → metadata) in registration order.
  A slot with no holder is removed at once, except when removing its key raised (a user key
  whose ``__hash__``/``==`` raises only now): the empty slot then stays and every read skips it.
- ``_by_proc`` maps each process to the slots it holds, in its registration order. Slots are
  hashed by identity, so releasing a process (its exit) never runs a user key's ``__hash__`` or
  ``==`` — except that one tolerated removal.
- A write checks everything that can fail (the registry is open, the key, the ref, a taken key,
  a user key's ``__hash__``/``==`` while looking it up) before it changes anything.
- A closed registry (its registry process exited) is empty and refuses every call.

`RegistryInstance.match` selects str keys with the EventBus topic grammar (`noex_trio._topics`):
a key is split at each `.` into segments; `*` matches exactly one segment, `**` zero or more,
and the pattern `"*"` alone matches every str key. Keys that are not str are never matched.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar, overload

import attrs
import trio

from . import _checks as checks
from ._context import current_process
from ._exceptions import (
    AlreadyRegisteredError,
    MailboxFullError,
    NotInProcessError,
    NotRegisteredError,
    ServerNotRunningError,
)
from ._process import DEAD, ProcessRef, process_of
from ._refs import GenServerRef, cast, via_registry
from ._results import ExitReason
from ._safe_format import safe_repr
from ._statistics import RegistryStatistics
from ._topics import parse_pattern, segments_match
from ._via import KeyTable, Via, check_key

if TYPE_CHECKING:
    from ._gen_server import GenServer
    from ._kernel import Kernel

C = TypeVar("C")
K = TypeVar("K")
R = TypeVar("R")

#: The kinds of registry (``keys=``).
_KEYS: tuple[Literal["unique", "duplicate"], ...] = ("unique", "duplicate")


@attrs.frozen
class RegistryEntry:
    """One registration: `key` → `ref`, with the metadata given at `register`.

    `key` is a str in the runtime's registry, any hashable value in one made by
    ``Registry.create``.
    """

    key: Any
    ref: ProcessRef
    metadata: Any = None


def check_name(name: object, what: str = "name") -> str:
    """Names are non-empty strings."""
    if type(name) is str and name:
        return name  # the common case, on the path of every call by name
    return checks.name(name, what)


def _check_ref(ref: object) -> ProcessRef:
    return checks.instance(ref, "ref", ProcessRef, expected="a process ref")


def _check_predicate(predicate: object) -> None:
    checks.callable_(predicate, "predicate")


def key_matches(pattern: tuple[str, ...], key: str) -> bool:
    """Tell whether a parsed topic pattern (`parse_pattern`) selects the registry key `key`.

    The key is split at each ``.``; unlike a published topic it may hold any text, so an empty
    segment (``"a..b"``) or a ``*`` inside a segment is just a segment that only the wildcards
    match. ``("*",)`` (the pattern ``"*"`` alone) matches every key, as on the EventBus.
    """
    return segments_match(pattern, key.split("."))


class _Slot:
    """The entries under one key: its holders (ref → metadata), in registration order."""

    __slots__ = ("holders", "key")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.holders: dict[ProcessRef, Any] = {}


_unnamed = itertools.count(1)


class RegistryInstance(KeyTable):
    """A registry of processes by key, scoped to a runtime.

    Get one from ``Registry.create(...)`` (keys: any hashable value), from
    ``Registry.lookup_registry(name)`` (the registry of a registry process), or use
    ``rt.registry``, the runtime's name registry (keys: non-empty strings). In a ``"unique"``
    registry a key names at most one process (`lookup`, `whereis`); in a ``"duplicate"``
    registry a key maps to any number of processes, kept in registration order (`lookup_all`,
    `entries`, `dispatch`); a process is under a key at most once. Each entry carries metadata
    (`metadata`, `update_metadata`), which the queries select on (`select`, `match_metadata`,
    `count_match`, `unregister_match`, `values`); `keys_of` lists a process's keys. `match`
    selects str keys with the EventBus pattern grammar (``.``-separated segments, ``*`` one
    segment, ``**`` zero or more, ``"*"`` alone everything). A process may hold many keys;
    when it exits, all its entries are removed before its exit is reported to anyone.

    Keys must keep their hash and equality while registered, as dict keys must. A key whose
    ``__hash__`` or ``==`` raises makes the call that met it raise that error, with the
    registry unchanged. Guide: ``docs/guides/registry.md``.

    Args:
        keys: ``"unique"`` (a key names at most one process) or ``"duplicate"`` (a key maps to
            any number of processes, kept in registration order).
        name: a label for reprs and error messages; an empty name gets a generated one,
            ``"registry#N"``.
        str_keys: keys must be non-empty strings, as in ``rt.registry`` (the default here);
            ``Registry.create`` passes False: keys are then any hashable value.
    """

    def __init__(
        self,
        *,
        keys: Literal["unique", "duplicate"] = "unique",
        name: str = "",
        str_keys: bool = True,
    ) -> None:
        self.keys = checks.one_of(keys, "keys", _KEYS)
        checks.instance(name, "name", str)
        self.name = name or f"registry#{next(_unnamed)}"
        self._str_keys = checks.boolean(str_keys, "str_keys")
        self._entries: dict[Hashable, _Slot] = {}
        # Slots per process, as an ordered set: unregister is O(1) however many keys it holds.
        self._by_proc: dict[ProcessRef, dict[_Slot, None]] = {}
        # Set once the registry process owning this registry exited (`_noex_close`).
        self._closed = False
        self._closed_reason: ExitReason | None = None

    def __repr__(self) -> str:
        if self._closed:
            return f"<RegistryInstance {self.name!r} keys={self.keys} closed>"
        return f"<RegistryInstance {self.name!r} keys={self.keys} entries={self.count()}>"

    # -- checks --

    def _checked(self, key: object, what: str = "key") -> Hashable:
        """`key` as a key of this open registry (an exact str in a str-keyed one)."""
        if self._closed:
            raise self._gone()
        if self._str_keys:
            if type(key) is str and key:
                return key
            return checks.name(key, what)
        return check_key(key)

    def _check_open(self) -> None:
        if self._closed:
            raise self._gone()

    def _gone(self) -> ServerNotRunningError:
        assert self._closed_reason is not None
        return ServerNotRunningError(self.name, self._closed_reason)

    def _noex_check_key(self, key: object) -> Hashable:
        """For `Via`: `key` checked as a key of this registry."""
        return self._checked(key, "key")

    def _holders(self, key: object, what: str = "key") -> dict[ProcessRef, Any] | None:
        """The holders of `key` (None if none); checks the registry and the key first."""
        slot = self._entries.get(self._checked(key, what))
        return None if slot is None or not slot.holders else slot.holders

    # -- writing --

    @trio.lowlevel.enable_ki_protection
    def register(self, key: Hashable, ref: ProcessRef, metadata: Any = None) -> None:
        """Register `ref` under `key`.

        Raises:
            AlreadyRegisteredError: unique registry and `key` is taken (even by `ref` itself), or
                duplicate registry and `ref` is already registered under `key`.
            ServerNotRunningError: `ref` has already exited, or this registry's process has.
            TypeError, ValueError: a bad key (see the class docstring) or ref.
        """
        key = self._checked(key, "key" if self.keys == "duplicate" else "name")
        proc = _check_ref(ref)
        record = process_of(proc)
        if record.status == DEAD:
            raise ServerNotRunningError(proc, record.reason)
        slot = self._entries.get(key)
        if slot is None:
            slot = _Slot(key)
            self._entries[key] = slot  # the last step that can fail (a user key's hash or ==)
        elif slot.holders:
            if self.keys == "unique":
                raise AlreadyRegisteredError(key, next(iter(slot.holders)), self.name)
            if proc in slot.holders:
                raise AlreadyRegisteredError(key, proc, self.name)
        slot.holders[proc] = metadata
        self._by_proc.setdefault(proc, {})[slot] = None
        record.add_registry(self)

    @trio.lowlevel.enable_ki_protection
    def unregister(self, key: Hashable, ref: ProcessRef | None = None) -> None:
        """Remove every entry under `key` (or only `ref`'s). Idempotent; never stops a process."""
        key = self._checked(key, "key" if self.keys == "duplicate" else "name")
        proc = None if ref is None else _check_ref(ref)
        slot = self._entries.get(key)
        if slot is None:
            return
        for holder in list(slot.holders) if proc is None else [proc]:
            self._remove(slot, holder)

    @trio.lowlevel.enable_ki_protection
    def update_metadata(self, key: Hashable, ref: ProcessRef, metadata: Any) -> None:
        """Replace the metadata of `ref`'s entry under `key`.

        Raises:
            NotRegisteredError: `ref` is not registered under `key`.
        """
        holders = self._holders(key)
        proc = _check_ref(ref)
        if holders is None or proc not in holders:
            raise NotRegisteredError(key, self.name)
        holders[proc] = metadata

    def unregister_match(
        self, key: Hashable, predicate: Callable[[Any], object], *, ref: ProcessRef | None = None
    ) -> int:
        """Remove the calling process's entry under `key` if its metadata satisfies `predicate`.

        Elixir's ``Registry.unregister_match/3``: only the caller's own entries go (a process
        is under a key at most once here, so that is one entry at most). Outside a process,
        say whose entry with `ref`. Returns how many entries were removed (0 or 1).

        Args:
            key: the key.
            predicate: called with the entry's metadata; a true result removes the entry.
            ref: the process whose entry to remove; default: the calling process.

        Raises:
            NotInProcessError: called outside a process without `ref`.
            Exception: whatever `predicate` raised (nothing was removed).
        """
        _check_predicate(predicate)
        key = self._checked(key)
        if ref is not None:
            proc = _check_ref(ref)
        else:
            caller = current_process()
            if caller is None:
                raise NotInProcessError(
                    "RegistryInstance.unregister_match()",
                    hint=" (or pass ref= to say whose entry to remove)",
                )
            proc = caller.ref
        slot = self._entries.get(key)
        if slot is None or proc not in slot.holders or not predicate(slot.holders[proc]):
            return 0
        return 1 if self._remove(slot, proc) else 0

    def _remove(self, slot: _Slot, proc: ProcessRef) -> bool:
        """Drop `proc`'s entry in `slot`; False if it had none. Runs no user code that could
        fail, but `_drop`'s tolerated one."""
        if slot.holders.pop(proc, _MISSING) is _MISSING:
            return False
        slots = self._by_proc[proc]
        del slots[slot]
        if not slots:
            del self._by_proc[proc]
            process_of(proc).discard_registry(self)
        if not slot.holders:
            self._drop(slot)
        return True

    def _drop(self, slot: _Slot) -> None:
        """Forget an empty slot (its key is hashed and compared again)."""
        key = slot.key
        if type(key) is str:
            del self._entries[key]  # (cannot fail)
            return
        try:
            if self._entries.get(key) is slot:
                del self._entries[key]
        except Exception:
            # The key's __hash__ or == raised now (it did not when it was registered). The
            # caller may be a process's exit, which must not fail: keep the empty slot, which
            # every read skips (see the module docstring).
            pass

    @trio.lowlevel.enable_ki_protection
    def _noex_release(self, proc: ProcessRef) -> None:
        """The exit sequence of `proc`: drop all its entries (its record calls this)."""
        for slot in self._by_proc.pop(proc, ()):
            del slot.holders[proc]
            if not slot.holders:
                self._drop(slot)

    @trio.lowlevel.enable_ki_protection
    def _noex_close(self, reason: ExitReason) -> None:
        """The exit (for `reason`) of the registry process owning this registry: drop every
        entry and refuse every call from now on."""
        self._closed = True
        self._closed_reason = reason
        for proc in self._by_proc:
            process_of(proc).discard_registry(self)
        self._by_proc.clear()
        self._entries.clear()

    # -- reading --

    def _noex_whereis(self, name: str) -> ProcessRef | None:
        """The process under `name` (a non-empty exact str): `resolve`'s fast path."""
        slot = self._entries.get(name)
        if slot is None:
            return None
        return next(iter(slot.holders), None)

    def _noex_via_whereis(self, key: Hashable) -> ProcessRef | None:
        """For `Via`: the process under `key`, or None (also once the registry is closed)."""
        if self._closed:
            return None
        slot = self._entries.get(key)
        if slot is None:
            return None
        return next(iter(slot.holders), None)

    @overload
    def lookup(self, key: Hashable) -> ProcessRef: ...
    @overload
    def lookup(
        self, key: Hashable, expected: type[GenServer[Any, C, K, R]]
    ) -> GenServerRef[C, K, R]: ...
    def lookup(self, key: Hashable, expected: type[Any] | None = None) -> ProcessRef:
        """The process registered under `key`.

        Args:
            key: the name.
            expected: optionally the behaviour class the process must run; the result is then
                typed with that behaviour's message and reply types, so ``call`` is checked.

        Raises:
            NotRegisteredError: nothing is registered under `key`.
            TypeError: the process does not run `expected`, or this is a duplicate-key
                registry (use `lookup_all`).
        """
        ref = self._find("lookup", key, expected)
        if ref is None:
            raise NotRegisteredError(key, self.name)
        return ref

    @overload
    def whereis(self, key: Hashable) -> ProcessRef | None: ...
    @overload
    def whereis(
        self, key: Hashable, expected: type[GenServer[Any, C, K, R]]
    ) -> GenServerRef[C, K, R] | None: ...
    def whereis(self, key: Hashable, expected: type[Any] | None = None) -> ProcessRef | None:
        """Like `lookup`, but None when nothing is registered under `key`."""
        return self._find("whereis", key, expected)

    def _find(self, operation: str, key: object, expected: type[Any] | None) -> ProcessRef | None:
        holders = self._holders(key, "key" if self.keys == "duplicate" else "name")
        if self.keys == "duplicate":
            raise TypeError(
                f"{operation}({safe_repr(key)}) needs a unique registry, but registry "
                f"{self.name!r} has duplicate keys; use lookup_all({safe_repr(key)})"
            )
        if holders is None:
            return None
        proc = next(iter(holders))
        if expected is not None:
            _check_runs(proc, key, expected)
        return proc

    @overload
    def lookup_all(self, key: Hashable) -> list[ProcessRef]: ...
    @overload
    def lookup_all(
        self, key: Hashable, expected: type[GenServer[Any, C, K, R]]
    ) -> list[GenServerRef[C, K, R]]: ...
    def lookup_all(self, key: Hashable, expected: type[Any] | None = None) -> list[Any]:
        """Every process registered under `key`, in registration order (empty if none).

        Args:
            key: the key.
            expected: optionally the behaviour class every process must run; the refs are then
                typed with its message and reply types.

        Raises:
            TypeError: a process under `key` does not run `expected`.
        """
        procs = list(self._holders(key) or ())
        if expected is not None:
            for proc in procs:
                _check_runs(proc, key, expected)
        return procs

    def entries(self, key: Hashable) -> list[RegistryEntry]:
        """The entries under `key` with their metadata, in registration order."""
        holders = self._holders(key) or {}
        return [RegistryEntry(key, proc, meta) for proc, meta in holders.items()]

    def metadata(self, key: Hashable) -> Any:
        """The metadata of the (first) entry under `key`.

        Raises:
            NotRegisteredError: nothing is registered under `key`.
        """
        holders = self._holders(key)
        if holders is None:
            raise NotRegisteredError(key, self.name)
        return next(iter(holders.values()))

    def is_registered(self, key: Hashable) -> bool:
        """True if at least one process is registered under `key`."""
        return self._holders(key) is not None

    def names(self) -> list[Any]:
        """Every key with at least one entry, in first-registration order."""
        self._check_open()
        return [slot.key for slot in self._entries.values() if slot.holders]

    def count(self) -> int:
        """The number of entries (in a unique registry: the number of names)."""
        self._check_open()
        return sum(len(slot.holders) for slot in self._entries.values())

    def statistics(self) -> RegistryStatistics:
        """How many entries and keys it holds now (both 0 once its registry process exited)."""
        entries = keys = 0
        for slot in self._entries.values():
            if slot.holders:
                keys += 1
                entries += len(slot.holders)
        return RegistryStatistics(entries=entries, keys=keys)

    def match(self, pattern: str) -> list[RegistryEntry]:
        """The entries whose key `pattern` selects, with the EventBus pattern grammar.

        A key is split at each ``.`` into segments; in the pattern, ``*`` matches exactly one
        segment, ``**`` zero or more, any other segment itself, and ``"*"`` alone matches every
        key. Only str keys are matched (a tuple key never is; use `select`). Entries come by
        key in first-registration order, then in registration order.

        Raises:
            TypeError: `pattern` is not a str.
            ValueError: `pattern` is empty, has an empty segment or a ``*`` that is not a whole
                ``*`` or ``**`` segment (``"us*er"``).
        """
        segments = parse_pattern(check_name(pattern, "pattern"))
        self._check_open()
        return [
            RegistryEntry(slot.key, proc, meta)
            for slot in self._entries.values()
            if isinstance(slot.key, str) and key_matches(segments, slot.key)
            for proc, meta in slot.holders.items()
        ]

    def dispatch(self, key: Hashable, message: Any) -> int:
        """Cast `message` to every GenServer under `key`, in registration order.

        Returns how many processes got it. Skipped, without raising (and not counted):
        processes that are not GenServers (supervisors, event buses: a cast would crash them),
        processes that stopped taking messages (stopping), and processes whose bounded mailbox
        is full (compare the result with ``len(lookup_all(key))``). Any other error propagates.
        """
        sent = 0
        for proc in self.lookup_all(key):
            if not isinstance(proc, GenServerRef):
                continue
            try:
                cast(proc, message)
            except (ServerNotRunningError, MailboxFullError):
                continue
            sent += 1
        return sent

    # -- queries on metadata (Elixir's select, match, count_match, keys, values) --

    def _snapshot(self) -> Iterator[RegistryEntry]:
        """Every entry, by key in first-registration order, then in registration order, as
        the registry is now (a predicate called meanwhile may change the registry)."""
        entries = [(slot.key, list(slot.holders.items())) for slot in self._entries.values()]
        for key, holders in entries:
            for proc, meta in holders:
                yield RegistryEntry(key, proc, meta)

    def select(self, predicate: Callable[[RegistryEntry], object]) -> list[RegistryEntry]:
        """The entries for which ``predicate(entry)`` is true (Elixir's ``Registry.select/2``).

        `predicate` gets each `RegistryEntry` (key, ref, metadata), by key in
        first-registration order, then in registration order; the entries are those of the
        registry when the call began.

        Raises:
            TypeError: `predicate` is not callable.
            Exception: whatever `predicate` raised (the registry is unchanged).
        """
        _check_predicate(predicate)
        self._check_open()
        return [entry for entry in self._snapshot() if predicate(entry)]

    def count_select(self, predicate: Callable[[RegistryEntry], object]) -> int:
        """How many entries `select` would return, without building the list."""
        _check_predicate(predicate)
        self._check_open()
        return sum(1 for entry in self._snapshot() if predicate(entry))

    def match_metadata(
        self, key: Hashable, predicate: Callable[[Any], object]
    ) -> list[RegistryEntry]:
        """The entries under `key` whose metadata satisfies `predicate`, in registration order.

        Elixir's ``Registry.match/3`` (here `match` selects keys by pattern): ``predicate`` is
        called with each entry's metadata. To test equality, write ``lambda m: m == value``.

        Raises:
            TypeError: `predicate` is not callable.
            Exception: whatever `predicate` raised.
        """
        _check_predicate(predicate)
        holders = self._holders(key)
        if holders is None:
            return []
        return [
            RegistryEntry(key, proc, meta)
            for proc, meta in tuple(holders.items())
            if predicate(meta)
        ]

    def count_match(self, key: Hashable, predicate: Callable[[Any], object]) -> int:
        """How many entries `match_metadata` would return (Elixir's ``count_match/3``)."""
        _check_predicate(predicate)
        holders = self._holders(key)
        if holders is None:
            return 0
        return sum(1 for meta in tuple(holders.values()) if predicate(meta))

    def keys_of(self, ref: ProcessRef) -> list[Any]:
        """The keys `ref` holds in this registry, in the order it got them (Elixir's
        ``Registry.keys/2``; named so because `keys` is the kind of registry)."""
        proc = _check_ref(ref)
        self._check_open()
        return [slot.key for slot in self._by_proc.get(proc, ())]

    def values(self, key: Hashable, ref: ProcessRef) -> list[Any]:
        """The metadata of `ref`'s entry under `key`: ``[metadata]``, or ``[]`` if it has none
        (Elixir's ``Registry.values/3``; a list, so a None metadata differs from no entry)."""
        holders = self._holders(key)
        proc = _check_ref(ref)
        if holders is None or proc not in holders:
            return []
        return [holders[proc]]


def _check_runs(proc: ProcessRef, key: object, expected: object) -> None:
    cls = checks.instance(expected, "expected", type, expected="a behaviour class")
    behaviour = process_of(proc).behaviour
    if not isinstance(behaviour, cls):
        raise TypeError(
            f"{safe_repr(key)} is {proc!r} running {type(behaviour).__name__}, "
            f"expected {cls.__name__}"
        )


class NameEntry(NamedTuple):
    """Where ``name=`` registers a new process: `key` in `registry`; `label` shows it."""

    registry: RegistryInstance
    key: Hashable
    label: str


def name_entry(kernel: Kernel, name: object) -> NameEntry:
    """Check a ``name=`` (a str or a `Via`) and find its registry; registers nothing.

    Raises:
        TypeError, ValueError: a bad name, or a `Via` whose registry name is not a registry
            process (or has duplicate keys).
        ServerNotRunningError: the registry process of the `Via` is not running.
    """
    if type(name) is str and name:
        return NameEntry(kernel.registry, name, name)
    if isinstance(name, Via):
        registry = via_registry(name)
        if registry is None:
            raise ServerNotRunningError(name.registry)
        key = registry._noex_check_key(name.key)
        return NameEntry(registry, key, key if type(key) is str else safe_repr(key))
    if isinstance(name, str):  # the empty name (raises), or a str subclass
        text = check_name(name)
        return NameEntry(kernel.registry, text, text)
    raise checks.type_error("name", "a non-empty str or a Via", name)


_MISSING: Any = object()
