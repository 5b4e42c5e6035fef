"""`Registry`: the facade over the current runtime's name registry (noex's ``Registry``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from ._context import current_runtime
from ._process import ProcessRef
from ._refs import GenServerRef
from ._registry import RegistryInstance

if TYPE_CHECKING:
    from ._gen_server import GenServer

C = TypeVar("C")
K = TypeVar("K")
R = TypeVar("R")


class Registry:
    """Names for processes, scoped to the current runtime.

    Every function acts on ``current_runtime().registry`` (a `RegistryInstance`), which is also
    reachable as ``rt.registry``. A process may hold several names; all of them are removed when
    it exits, before its exit is reported. `create` makes independent registries, including
    duplicate-key ones for groups.
    """

    @staticmethod
    def register(name: str, ref: ProcessRef) -> None:
        """Register `ref` under `name`.

        Raises:
            AlreadyRegisteredError: the name is taken (even by `ref` itself).
            ServerNotRunningError: `ref` has exited.
        """
        current_runtime().registry.register(name, ref)

    @staticmethod
    def unregister(name: str) -> None:
        """Remove `name` (idempotent). The process keeps running."""
        current_runtime().registry.unregister(name)

    @overload
    @staticmethod
    def lookup(name: str) -> GenServerRef[Any, Any, Any]: ...
    @overload
    @staticmethod
    def lookup(name: str, expected: type[GenServer[Any, C, K, R]]) -> GenServerRef[C, K, R]: ...
    @staticmethod
    def lookup(name: str, expected: type[Any] | None = None) -> GenServerRef[Any, Any, Any]:
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
    def whereis(name: str) -> GenServerRef[Any, Any, Any] | None: ...
    @overload
    @staticmethod
    def whereis(
        name: str, expected: type[GenServer[Any, C, K, R]]
    ) -> GenServerRef[C, K, R] | None: ...
    @staticmethod
    def whereis(name: str, expected: type[Any] | None = None) -> GenServerRef[Any, Any, Any] | None:
        """Like `lookup`, but None instead of raising when the name is free."""
        if expected is None:
            return current_runtime().registry.whereis(name)
        return current_runtime().registry.whereis(name, expected)

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

        With ``keys="duplicate"`` a key maps to many processes (registration order), for
        `RegistryInstance.dispatch` and `RegistryInstance.lookup_all`. Entries of a process
        vanish when it exits, like names do.
        """
        current_runtime()  # a registry belongs to a runtime: fail clearly outside one
        return RegistryInstance(keys=keys, name=name)
