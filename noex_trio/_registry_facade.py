"""`Registry`: the facade over the current runtime's name registry (noex's ``Registry``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from ._context import current_runtime
from ._process import ProcessRef
from ._refs import GenServerRef
from ._registry import RegistryEntry, RegistryInstance

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
    before its exit is reported. `create` makes independent registries, including duplicate-key
    ones for groups. Guide: ``docs/guides/registry.md``.
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
    def create(keys: Literal["unique", "duplicate"] = "unique", name: str = "") -> RegistryInstance:
        """A new registry of the current runtime, independent of its name registry.

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
        return RegistryInstance(keys=keys, name=name)
