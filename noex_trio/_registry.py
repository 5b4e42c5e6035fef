"""Registries: names (or keys) that point at processes, cleaned up when the process exits.

`rt.registry` is the runtime's unique-name registry (what ``GenServer.start(name=...)`` and the
`Registry` facade use). ``Registry.create(keys="duplicate")`` makes extra registries where a key
can map to many processes — groups you can `dispatch` a cast to, with metadata per entry.

Every entry of a process is removed, in every registry, as part of its exit and *before* the
exit is reported to anyone (OTP releases names before exit signals go out), so a supervisor can
give the name to the restarted process at once and a lookup never returns a dead process.

`RegistryInstance.match` selects keys with the EventBus topic grammar (`noex_trio._topics`): a
key is split at each `.` into segments; `*` matches exactly one segment, `**` zero or more, and
the pattern `"*"` alone matches every key.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import attrs
import trio

from . import _checks as checks
from ._exceptions import (
    AlreadyRegisteredError,
    MailboxFullError,
    NotRegisteredError,
    ServerNotRunningError,
)
from ._process import DEAD, ProcessRef, process_of
from ._refs import GenServerRef, cast
from ._topics import parse_pattern, segments_match

if TYPE_CHECKING:
    from ._gen_server import GenServer

C = TypeVar("C")
K = TypeVar("K")
R = TypeVar("R")

#: The kinds of registry (``keys=``).
_KEYS: tuple[Literal["unique", "duplicate"], ...] = ("unique", "duplicate")


@attrs.frozen
class RegistryEntry:
    """One registration: `key` → `ref`, with the metadata given at `register`."""

    key: str
    ref: ProcessRef
    metadata: Any = None


def check_name(name: object, what: str = "name") -> str:
    """Names and keys are non-empty strings."""
    if type(name) is str and name:
        return name  # the common case, on the path of every call by name
    return checks.name(name, what)


def _check_ref(ref: object) -> ProcessRef:
    return checks.instance(ref, "ref", ProcessRef, expected="a process ref")


def key_matches(pattern: tuple[str, ...], key: str) -> bool:
    """Tell whether a parsed topic pattern (`parse_pattern`) selects the registry key `key`.

    The key is split at each ``.``; unlike a published topic it may hold any text, so an empty
    segment (``"a..b"``) or a ``*`` inside a segment is just a segment that only the wildcards
    match. ``("*",)`` (the pattern ``"*"`` alone) matches every key, as on the EventBus.
    """
    return segments_match(pattern, key.split("."))


_unnamed = itertools.count(1)


class RegistryInstance:
    """A registry of processes by key, scoped to a runtime.

    Get one from ``Registry.create(...)`` (or use ``rt.registry``, the runtime's name registry).
    A key is a non-empty string. In a ``"unique"`` registry a key names at most one process
    (`lookup`, `whereis`); in a ``"duplicate"`` registry a key maps to any number of processes,
    kept in registration order (`lookup_all`, `entries`, `dispatch`). Each entry carries
    metadata (`metadata`, `update_metadata`). `match` selects entries by key with the EventBus
    pattern grammar (``.``-separated segments, ``*`` one segment, ``**`` zero or more, ``"*"``
    alone everything). A process may hold many keys; when it exits, all its entries are removed
    before its exit is reported to anyone. Guide: ``docs/guides/registry.md``.

    Args:
        keys: ``"unique"`` (a key names at most one process) or ``"duplicate"`` (a key maps to
            any number of processes, kept in registration order).
        name: a label for reprs and error messages; an empty name gets a generated one,
            ``"registry#N"``.
    """

    def __init__(self, *, keys: Literal["unique", "duplicate"] = "unique", name: str = "") -> None:
        self.keys = checks.one_of(keys, "keys", _KEYS)
        checks.instance(name, "name", str)
        self.name = name or f"registry#{next(_unnamed)}"
        self._entries: dict[str, dict[ProcessRef, Any]] = {}
        # Keys per process, as an ordered set: unregister is O(1) however many names it holds.
        self._by_proc: dict[ProcessRef, dict[str, None]] = {}

    def __repr__(self) -> str:
        return f"<RegistryInstance {self.name!r} keys={self.keys} entries={self.count()}>"

    # -- writing --

    @trio.lowlevel.enable_ki_protection
    def register(self, key: str, ref: ProcessRef, metadata: Any = None) -> None:
        """Register `ref` under `key`.

        Raises:
            AlreadyRegisteredError: unique registry and `key` is taken (even by `ref` itself), or
                duplicate registry and `ref` is already registered under `key`.
            ServerNotRunningError: `ref` has already exited.
        """
        check_name(key, "key" if self.keys == "duplicate" else "name")
        proc = _check_ref(ref)
        record = process_of(proc)
        if record.status == DEAD:
            raise ServerNotRunningError(proc, record.reason)
        holders = self._entries.get(key)
        if holders:
            if self.keys == "unique":
                raise AlreadyRegisteredError(key, next(iter(holders)), self.name)
            if proc in holders:
                raise AlreadyRegisteredError(key, proc, self.name)
        self._entries.setdefault(key, {})[proc] = metadata
        self._by_proc.setdefault(proc, {})[key] = None
        record.add_registry(self)

    @trio.lowlevel.enable_ki_protection
    def unregister(self, key: str, ref: ProcessRef | None = None) -> None:
        """Remove every entry under `key` (or only `ref`'s). Idempotent; never stops a process."""
        check_name(key, "key" if self.keys == "duplicate" else "name")
        holders = self._entries.get(key)
        if not holders:
            return
        procs = list(holders) if ref is None else [_check_ref(ref)]
        for proc in procs:
            if holders.pop(proc, _MISSING) is not _MISSING:
                keys = self._by_proc[proc]
                del keys[key]
                if not keys:
                    del self._by_proc[proc]
                    process_of(proc).discard_registry(self)
        if not holders:
            del self._entries[key]

    @trio.lowlevel.enable_ki_protection
    def update_metadata(self, key: str, ref: ProcessRef, metadata: Any) -> None:
        """Replace the metadata of `ref`'s entry under `key`.

        Raises:
            NotRegisteredError: `ref` is not registered under `key`.
        """
        holders = self._entries.get(check_name(key, "key"))
        proc = _check_ref(ref)
        if not holders or proc not in holders:
            raise NotRegisteredError(key, self.name)
        holders[proc] = metadata

    @trio.lowlevel.enable_ki_protection
    def _noex_release(self, proc: ProcessRef) -> None:
        """The exit sequence of `proc`: drop all its entries (its record calls this)."""
        for key in self._by_proc.pop(proc, ()):
            holders = self._entries[key]
            del holders[proc]
            if not holders:
                del self._entries[key]

    # -- reading --

    def _whereis(self, key: str) -> ProcessRef | None:
        holders = self._entries.get(key)
        if not holders:
            return None
        return next(iter(holders))

    @overload
    def lookup(self, key: str) -> ProcessRef: ...
    @overload
    def lookup(
        self, key: str, expected: type[GenServer[Any, C, K, R]]
    ) -> GenServerRef[C, K, R]: ...
    def lookup(self, key: str, expected: type[Any] | None = None) -> ProcessRef:
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
    def whereis(self, key: str) -> ProcessRef | None: ...
    @overload
    def whereis(
        self, key: str, expected: type[GenServer[Any, C, K, R]]
    ) -> GenServerRef[C, K, R] | None: ...
    def whereis(self, key: str, expected: type[Any] | None = None) -> ProcessRef | None:
        """Like `lookup`, but None when nothing is registered under `key`."""
        return self._find("whereis", key, expected)

    def _find(self, operation: str, key: str, expected: type[Any] | None) -> ProcessRef | None:
        check_name(key, "key" if self.keys == "duplicate" else "name")
        if self.keys == "duplicate":
            raise TypeError(
                f"{operation}({key!r}) needs a unique registry, but registry {self.name!r} has "
                f"duplicate keys; use lookup_all({key!r})"
            )
        proc = self._whereis(key)
        if proc is not None and expected is not None:
            _check_runs(proc, key, expected)
        return proc

    @overload
    def lookup_all(self, key: str) -> list[ProcessRef]: ...
    @overload
    def lookup_all(
        self, key: str, expected: type[GenServer[Any, C, K, R]]
    ) -> list[GenServerRef[C, K, R]]: ...
    def lookup_all(self, key: str, expected: type[Any] | None = None) -> list[Any]:
        """Every process registered under `key`, in registration order (empty if none).

        Args:
            key: the key.
            expected: optionally the behaviour class every process must run; the refs are then
                typed with its message and reply types.

        Raises:
            TypeError: a process under `key` does not run `expected`.
        """
        procs = list(self._entries.get(check_name(key, "key"), ()))
        if expected is not None:
            for proc in procs:
                _check_runs(proc, key, expected)
        return procs

    def entries(self, key: str) -> list[RegistryEntry]:
        """The entries under `key` with their metadata, in registration order."""
        holders = self._entries.get(check_name(key, "key"), {})
        return [RegistryEntry(key, proc, meta) for proc, meta in holders.items()]

    def metadata(self, key: str) -> Any:
        """The metadata of the (first) entry under `key`.

        Raises:
            NotRegisteredError: nothing is registered under `key`.
        """
        holders = self._entries.get(check_name(key, "key"))
        if not holders:
            raise NotRegisteredError(key, self.name)
        return next(iter(holders.values()))

    def is_registered(self, key: str) -> bool:
        """True if at least one process is registered under `key`."""
        return bool(self._entries.get(check_name(key, "key")))

    def names(self) -> list[str]:
        """Every key with at least one entry, in first-registration order."""
        return list(self._entries)

    def count(self) -> int:
        """The number of entries (in a unique registry: the number of names)."""
        return sum(len(holders) for holders in self._entries.values())

    def match(self, pattern: str) -> list[RegistryEntry]:
        """The entries whose key `pattern` selects, with the EventBus pattern grammar.

        A key is split at each ``.`` into segments; in the pattern, ``*`` matches exactly one
        segment, ``**`` zero or more, any other segment itself, and ``"*"`` alone matches every
        key. Entries come by key in first-registration order, then in registration order.

        Raises:
            TypeError: `pattern` is not a str.
            ValueError: `pattern` is empty, has an empty segment or a ``*`` that is not a whole
                ``*`` or ``**`` segment (``"us*er"``).
        """
        segments = parse_pattern(check_name(pattern, "pattern"))
        return [
            RegistryEntry(key, proc, meta)
            for key, holders in self._entries.items()
            if key_matches(segments, key)
            for proc, meta in holders.items()
        ]

    def dispatch(self, key: str, message: Any) -> int:
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


def _check_runs(proc: ProcessRef, key: str, expected: object) -> None:
    cls = checks.instance(expected, "expected", type, expected="a behaviour class")
    behaviour = process_of(proc).behaviour
    if not isinstance(behaviour, cls):
        raise TypeError(
            f"{key!r} is {proc!r} running {type(behaviour).__name__}, expected {cls.__name__}"
        )


_MISSING: Any = object()
