"""`Registry`: the facade over the current runtime's name registry (noex's ``Registry``),
and over registry processes (``Registry.start``, ``Registry.child_spec``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import trio

from . import _checks as checks
from ._child_spec import ChildSpec, Restart, Shutdown
from ._context import current_runtime
from ._exceptions import ServerNotRunningError
from ._process import ProcessRef
from ._refs import GenServerRef, RegistryRef, registry_of, resolve, stop
from ._registry import _KEYS, RegistryEntry, RegistryInstance, check_name
from ._registry_server import start_registry
from ._results import ExitReason
from ._statistics import RegistryStatistics

if TYPE_CHECKING:
    from ._gen_server import GenServer

C = TypeVar("C")
K = TypeVar("K")
R = TypeVar("R")


class Registry:
    """Names for processes, scoped to the current runtime.

    Every function acts on ``current_runtime().registry`` (a unique-key `RegistryInstance`
    named ``"names"``, also reachable as ``rt.registry``) and does what the method of the same
    name does there. A process may hold several names; all of them are removed when it exits,
    before its exit is reported. `create` makes independent registries (keys of any hashable
    type), including duplicate-key ones for groups; `start` and `child_spec` run one as a
    named, supervisable process that services find by its name (`lookup_registry`,
    ``Via(name, key)``). Guide: ``docs/guides/registry.md``.
    """

    @staticmethod
    def register(name: str, ref: ProcessRef, metadata: Any = None) -> None:
        """Register `ref` under `name`, with optional `metadata` (see `metadata`).

        Raises:
            AlreadyRegisteredError: the name is taken (even by `ref` itself).
            ServerNotRunningError: `ref` has exited.
        """
        current_runtime().registry.register(name, ref, metadata)

    @staticmethod
    def unregister(name: str, ref: ProcessRef | None = None) -> None:
        """Remove `name` (only if `ref` holds it, when given). Idempotent; the process runs on."""
        current_runtime().registry.unregister(name, ref)

    @overload
    @staticmethod
    def lookup(name: str) -> ProcessRef: ...
    @overload
    @staticmethod
    def lookup(name: str, expected: type[GenServer[Any, C, K, R]]) -> GenServerRef[C, K, R]: ...
    @staticmethod
    def lookup(name: str, expected: type[Any] | None = None) -> ProcessRef:
        """The process registered as `name`; typed when `expected` (its behaviour class) is given.

        Raises:
            NotRegisteredError: no such name.
            TypeError: the process does not run `expected`.
        """
        if expected is None:
            return current_runtime().registry.lookup(name)
        return current_runtime().registry.lookup(name, expected)

    @overload
    @staticmethod
    def whereis(name: str) -> ProcessRef | None: ...
    @overload
    @staticmethod
    def whereis(
        name: str, expected: type[GenServer[Any, C, K, R]]
    ) -> GenServerRef[C, K, R] | None: ...
    @staticmethod
    def whereis(name: str, expected: type[Any] | None = None) -> ProcessRef | None:
        """Like `lookup`, but None instead of raising when the name is free."""
        if expected is None:
            return current_runtime().registry.whereis(name)
        return current_runtime().registry.whereis(name, expected)

    @overload
    @staticmethod
    def lookup_all(name: str) -> list[ProcessRef]: ...
    @overload
    @staticmethod
    def lookup_all(
        name: str, expected: type[GenServer[Any, C, K, R]]
    ) -> list[GenServerRef[C, K, R]]: ...
    @staticmethod
    def lookup_all(name: str, expected: type[Any] | None = None) -> list[Any]:
        """The process registered as `name` in a list, or an empty list (never raises for a
        free name); typed when `expected` is given.

        Raises:
            TypeError: the process does not run `expected`.
        """
        if expected is None:
            return current_runtime().registry.lookup_all(name)
        return current_runtime().registry.lookup_all(name, expected)

    @staticmethod
    def entries(name: str) -> list[RegistryEntry]:
        """The entry of `name` (key, ref, metadata) in a list, or an empty list."""
        return current_runtime().registry.entries(name)

    @staticmethod
    def metadata(name: str) -> Any:
        """The metadata `name` was registered with (None if none was given).

        Raises:
            NotRegisteredError: no such name.
        """
        return current_runtime().registry.metadata(name)

    @staticmethod
    def update_metadata(name: str, ref: ProcessRef, metadata: Any) -> None:
        """Replace the metadata of `name`, which `ref` must hold.

        Raises:
            NotRegisteredError: `ref` is not registered as `name`.
        """
        current_runtime().registry.update_metadata(name, ref, metadata)

    @staticmethod
    def match(pattern: str) -> list[RegistryEntry]:
        """The entries whose name `pattern` selects (EventBus grammar: ``.``-separated segments,
        ``*`` one segment, ``**`` zero or more, ``"*"`` alone every name), in registration order.

        Raises:
            TypeError: `pattern` is not a str.
            ValueError: `pattern` is not a valid pattern.
        """
        return current_runtime().registry.match(pattern)

    @staticmethod
    def dispatch(name: str, message: Any) -> int:
        """Cast `message` to the GenServer registered as `name`; 1 if it got it, else 0.

        Like `RegistryInstance.dispatch`: a free name, a process that is not a GenServer, one
        that is stopping or one whose bounded mailbox is full gives 0 instead of an error.
        """
        return current_runtime().registry.dispatch(name, message)

    @staticmethod
    def is_registered(name: str) -> bool:
        """True if `name` is registered."""
        return current_runtime().registry.is_registered(name)

    @staticmethod
    def names() -> list[str]:
        """Every registered name, in registration order."""
        return current_runtime().registry.names()

    @staticmethod
    def count() -> int:
        """The number of registered names."""
        return current_runtime().registry.count()

    @staticmethod
    def statistics() -> RegistryStatistics:
        """How many names (entries and keys: the same in this unique registry) ``rt.registry``
        holds now; see `RegistryStatistics`."""
        return current_runtime().registry.statistics()

    # -- queries on metadata (see the RegistryInstance methods of the same names) --

    @staticmethod
    def select(predicate: Callable[[RegistryEntry], object]) -> list[RegistryEntry]:
        """The entries (name, ref, metadata) for which ``predicate(entry)`` is true, in
        registration order (Elixir's ``Registry.select/2``).

        Raises:
            TypeError: `predicate` is not callable.
            Exception: whatever `predicate` raised (nothing changed).
        """
        return current_runtime().registry.select(predicate)

    @staticmethod
    def count_select(predicate: Callable[[RegistryEntry], object]) -> int:
        """How many entries `select` would return, without building the list."""
        return current_runtime().registry.count_select(predicate)

    @staticmethod
    def match_metadata(name: str, predicate: Callable[[Any], object]) -> list[RegistryEntry]:
        """The entry of `name` in a list if ``predicate(metadata)`` is true, else an empty list
        (Elixir's ``Registry.match/3``)."""
        return current_runtime().registry.match_metadata(name, predicate)

    @staticmethod
    def count_match(name: str, predicate: Callable[[Any], object]) -> int:
        """1 if `name` is registered and ``predicate(metadata)`` is true, else 0."""
        return current_runtime().registry.count_match(name, predicate)

    @staticmethod
    def unregister_match(
        name: str, predicate: Callable[[Any], object], *, ref: ProcessRef | None = None
    ) -> int:
        """Unregister `name` if the calling process (or `ref`) holds it and
        ``predicate(metadata)`` is true; returns 1 if it did, else 0.

        Raises:
            NotInProcessError: called outside a process without `ref`.
        """
        return current_runtime().registry.unregister_match(name, predicate, ref=ref)

    @staticmethod
    def keys_of(ref: ProcessRef) -> list[str]:
        """The names `ref` holds, in the order it got them (Elixir's ``Registry.keys/2``)."""
        return current_runtime().registry.keys_of(ref)

    @staticmethod
    def values(name: str, ref: ProcessRef) -> list[Any]:
        """``[metadata]`` if `ref` holds `name`, else ``[]`` (Elixir's ``Registry.values/3``)."""
        return current_runtime().registry.values(name, ref)

    # -- more registries --

    @staticmethod
    def create(keys: Literal["unique", "duplicate"] = "unique", name: str = "") -> RegistryInstance:
        """A new registry of the current runtime, independent of its name registry.

        Its keys are any hashable value (``"room.lobby"``, ``("user", 42)``); only str keys
        are selected by `RegistryInstance.match` patterns.

        Args:
            keys: ``"unique"`` or ``"duplicate"``: with duplicate keys a key maps to many
                processes (registration order), for `RegistryInstance.lookup_all` and
                `RegistryInstance.dispatch`.
            name: a label for reprs and error messages (default: ``"registry#N"``).

        Entries of a process vanish when it exits, like names do.

        Raises:
            NoRuntimeError: no runtime is running here.
        """
        current_runtime()  # a registry belongs to a runtime: fail clearly outside one
        return RegistryInstance(keys=keys, name=name, str_keys=False)

    @staticmethod
    async def start(*, name: str, keys: Literal["unique", "duplicate"] = "unique") -> RegistryRef:
        """Start a registry process registered as `name`; it owns a new registry.

        Services find the registry by that name: ``Registry.lookup_registry(name)`` returns
        its `RegistryInstance` (named `name`, keys of any hashable type), and
        ``Via(name, key)`` names a process in it. When the process exits, its registry is
        closed: every entry is dropped and every later call on it raises
        `ServerNotRunningError`. Under a supervisor, use `child_spec`.

        Raises:
            AlreadyRegisteredError: `name` is taken.
            TypeError, ValueError: a bad `name` or `keys` (nothing was started).

        If ``start`` is cancelled, no registry process is left running and `name` is free.
        """
        try:
            return await start_registry(check_name(name), keys)
        except Exception:
            await trio.lowlevel.checkpoint()  # it may have failed before any checkpoint
            raise

    @staticmethod
    def child_spec(
        *,
        name: str,
        keys: Literal["unique", "duplicate"] = "unique",
        id: str | None = None,
        restart: Restart = "permanent",
        shutdown: Shutdown = 5.0,
    ) -> ChildSpec:
        """A `ChildSpec` that runs a registry process (see `start`) under a supervisor.

        Put it before the children that register in it: a restarted registry starts empty,
        so use ``strategy="rest_for_one"`` (or ``"one_for_all"``) to restart them with it and
        let them register again. `id` defaults to `name`.

        Raises:
            TypeError, ValueError: a bad `name` or `keys`.
            InvalidChildSpecError: a bad `id`, `restart` or `shutdown`.
        """
        checked_name = check_name(name)
        checked_keys = checks.one_of(keys, "keys", _KEYS)

        async def start_child() -> RegistryRef:
            return await start_registry(checked_name, checked_keys)

        return ChildSpec(
            id if id is not None else checked_name, start_child, restart=restart, shutdown=shutdown
        )

    @staticmethod
    def lookup_registry(registry: RegistryRef | str) -> RegistryInstance:
        """The `RegistryInstance` of a registry process, given by ref or name.

        Raises:
            ServerNotRunningError: no process has that name, or it has exited.
            TypeError: the process is not a registry process.
        """
        proc = resolve(_check_registry_target(registry), system=True)
        found = registry_of(proc, registry, "registry")
        if found is None:
            raise proc.not_running(registry)
        return found

    @staticmethod
    def whereis_registry(registry: RegistryRef | str) -> RegistryInstance | None:
        """Like `lookup_registry`, but None when no registry process runs under that name (or
        the ref's process has exited)."""
        try:
            proc = resolve(_check_registry_target(registry), system=True)
        except ServerNotRunningError:
            return None
        return registry_of(proc, registry, "registry")

    @staticmethod
    async def stop(registry: RegistryRef | str, reason: ExitReason = "normal") -> None:
        """Stop a registry process; return once it is gone. Idempotent; an unknown name is a
        no-op. Its registry is closed (entries dropped, later calls refused); the processes
        that were registered in it run on.

        Raises:
            TypeError: `registry` is not a registry process (or a ref or name of one).

        If ``stop`` is cancelled, the registry process still stops.
        """
        try:
            proc = resolve(_check_registry_target(registry), system=True)
            registry_of(proc, registry, "registry")  # (raises if it is not a registry)
        except ServerNotRunningError:
            await trio.lowlevel.checkpoint()
            return  # an unknown name: nothing to stop
        except Exception:
            await trio.lowlevel.checkpoint()
            raise
        await stop(proc.ref, reason, system=True)


def _check_registry_target(registry: object) -> object:
    if not isinstance(registry, (RegistryRef, str)):
        raise checks.type_error(
            "registry", "a RegistryRef or the name of a registry process", registry
        )
    return registry
