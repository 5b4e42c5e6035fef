"""Registries: names (or keys) that point at processes, cleaned up when the process exits.

`rt.registry` is the runtime's unique-name registry (what ``GenServer.start(name=...)`` and the
`Registry` facade use). ``Registry.create(keys="duplicate")`` makes extra registries where a key
can map to many processes — groups you can `dispatch` a cast to, with metadata per entry.

Every entry of a process is removed, in every registry, as part of its exit and *before* the
exit is reported to anyone (OTP releases names before exit signals go out), so a supervisor can
give the name to the restarted process at once and a lookup never returns a dead process.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import attrs

from ._exceptions import AlreadyRegisteredError, NotRegisteredError, ServerNotRunningError
from ._process import DEAD, ProcessRef, process_of
from ._refs import GenServerRef, cast

if TYPE_CHECKING:
    from ._gen_server import GenServer

C = TypeVar("C")
K = TypeVar("K")
R = TypeVar("R")


@attrs.frozen
class RegistryEntry:
    """One registration: `key` → `ref`, with the metadata given at `register`."""

    key: str
    ref: ProcessRef
    metadata: Any = None


def check_name(name: object, what: str = "name") -> str:
    """Names and keys are non-empty strings."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a non-empty str, got {name!r}")
    if not name:
        raise ValueError(f"{what} must be a non-empty str, got ''")
    return name


def _check_ref(ref: object) -> ProcessRef:
    if not isinstance(ref, ProcessRef):
        raise TypeError(f"ref must be a process ref (GenServerRef/SupervisorRef), got {ref!r}")
    return ref


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """`*`: any run of characters but `/`; `**`: anything; `?`: one character but `/`."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)


class RegistryInstance:
    """A registry of processes by key; see the module docstring.

    Args:
        keys: ``"unique"`` (a key names at most one process) or ``"duplicate"`` (a key maps to
            any number of processes, kept in registration order).
        name: a label used in error messages.
    """

    def __init__(self, *, keys: Literal["unique", "duplicate"] = "unique", name: str = "") -> None:
        if keys not in ("unique", "duplicate"):
            raise ValueError(f"keys must be 'unique' or 'duplicate', got {keys!r}")
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {name!r}")
        self.keys = keys
        self.name = name
        self._entries: dict[str, dict[ProcessRef, Any]] = {}
        # Keys per process, as an ordered set: unregister is O(1) however many names it holds.
        self._by_proc: dict[ProcessRef, dict[str, None]] = {}

    def __repr__(self) -> str:
        return f"<RegistryInstance {self.name!r} keys={self.keys} entries={self.count()}>"

    # -- writing --

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
            raise ServerNotRunningError(proc, record.reason or "noproc")
        holders = self._entries.get(key)
        if holders:
            if self.keys == "unique":
                raise AlreadyRegisteredError(key, next(iter(holders)), self.name)
            if proc in holders:
                raise AlreadyRegisteredError(key, proc, self.name)
        self._entries.setdefault(key, {})[proc] = metadata
        self._by_proc.setdefault(proc, {})[key] = None
        record.add_registry(self)

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

    def _noex_release(self, proc: ProcessRef) -> None:
        """The exit sequence of `proc`: drop all its entries (the record calls this)."""
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
    def lookup(self, key: str) -> GenServerRef[Any, Any, Any]: ...
    @overload
    def lookup(
        self, key: str, expected: type[GenServer[Any, C, K, R]]
    ) -> GenServerRef[C, K, R]: ...
    def lookup(self, key: str, expected: type[Any] | None = None) -> GenServerRef[Any, Any, Any]:
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
        ref = self.whereis(key, expected)  # type: ignore[arg-type]
        if ref is None:
            raise NotRegisteredError(key, self.name)
        return ref

    @overload
    def whereis(self, key: str) -> GenServerRef[Any, Any, Any] | None: ...
    @overload
    def whereis(
        self, key: str, expected: type[GenServer[Any, C, K, R]]
    ) -> GenServerRef[C, K, R] | None: ...
    def whereis(
        self, key: str, expected: type[Any] | None = None
    ) -> GenServerRef[Any, Any, Any] | None:
        """Like `lookup`, but None when nothing is registered under `key`."""
        check_name(key, "key" if self.keys == "duplicate" else "name")
        if self.keys == "duplicate":
            raise TypeError("lookup/whereis need a unique registry; use lookup_all")
        proc = self._whereis(key)
        if proc is not None and expected is not None:
            if not isinstance(expected, type):
                raise TypeError(f"expected must be a behaviour class, got {expected!r}")
            behaviour = process_of(proc).behaviour
            if not isinstance(behaviour, expected):
                raise TypeError(
                    f"{key!r} is {proc!r} running {type(behaviour).__name__}, "
                    f"expected {expected.__name__}"
                )
        return proc  # type: ignore[return-value]

    def lookup_all(self, key: str) -> list[GenServerRef[Any, Any, Any]]:
        """Every process registered under `key`, in registration order (empty if none)."""
        return list(self._entries.get(check_name(key, "key"), ()))  # type: ignore[arg-type]

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
        """Entries whose key matches a glob: ``*`` (no ``/``), ``**`` (anything), ``?``."""
        regex = _glob(check_name(pattern, "pattern"))
        return [
            RegistryEntry(key, proc, meta)
            for key, holders in self._entries.items()
            if regex.fullmatch(key)
            for proc, meta in holders.items()
        ]

    def dispatch(self, key: str, message: Any) -> int:
        """Cast `message` to every process under `key`; returns how many got it.

        A process that cannot take it (bounded mailbox full) is skipped, not fatal to the others.
        """
        sent = 0
        for proc in self.lookup_all(key):
            try:
                cast(proc, message, system=True)
            except Exception:
                continue
            sent += 1
        return sent


_MISSING: Any = object()
