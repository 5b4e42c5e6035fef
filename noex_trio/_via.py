"""`Via`: a process name in any unique-key registry, not only the runtime's (OTP's ``:via``).

``GenServer.start(Session, name=Via(sessions, ("user", 42)))`` registers the new process under
the key ``("user", 42)`` of the registry `sessions` — a `RegistryInstance` with unique keys, or
the registered name of a registry process (``Registry.start``/``Registry.child_spec``) — before
its ``init`` runs; every function that takes a target takes the same `Via`, resolved when used.

This module is a value: it knows no process. `noex_trio._refs` resolves a `Via` to a process,
`noex_trio._registry` registers one. A registry is recognised by its base class `KeyTable`,
which lives here so that `Via` can check its arguments without importing the process core.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, Literal, final

import attrs

from . import _checks as checks
from ._safe_format import safe_repr

if TYPE_CHECKING:
    from ._registry import RegistryInstance


def check_key(key: Hashable, what: str = "key") -> Hashable:
    """A key of a registry: any hashable value (its ``__hash__`` is called once, here).

    Raises:
        TypeError: `key` cannot be hashed (a list, a dict, a tuple holding one).
        Exception: whatever else the key's own ``__hash__`` raised.
    """
    try:
        hash(key)
    except TypeError as exc:
        raise checks.type_error(what, "a hashable value", key) from exc
    return key


class KeyTable:
    """What a `Via` needs of a registry; `noex_trio.RegistryInstance` is the one kind.

    Attributes:
        keys: ``"unique"`` or ``"duplicate"``.
        name: the registry's label, for messages.
    """

    __slots__ = ()

    keys: Literal["unique", "duplicate"]
    name: str

    def _noex_check_key(self, key: object) -> Hashable:
        """`key` checked as a key of this registry (raise if it cannot be one)."""
        raise NotImplementedError  # pragma: no cover - RegistryInstance overrides it


def _check_registry(_: object, __: object, registry: Any) -> None:
    if isinstance(registry, str):
        checks.name(registry, "registry")
        return
    if not isinstance(registry, KeyTable):
        raise checks.type_error(
            "registry", "a RegistryInstance or the name of a registry process", registry
        )
    if registry.keys != "unique":
        raise TypeError(
            f"Via needs a registry with unique keys, but registry {registry.name!r} has "
            "duplicate keys (a key there names no single process)"
        )


@final
@attrs.frozen(repr=False)
class Via:
    """A name in a registry other than the runtime's: `key` in `registry` (OTP's ``:via``).

    Give it as ``name=`` to ``GenServer.start``, ``GenServer.child_spec`` or
    ``Supervisor.start``: the process is registered under `key` before its ``init`` runs
    (`AlreadyRegisteredError` if the key is taken; ``init`` never runs then) and the entry is
    removed when it exits, before its exit is reported. Give it as the target of
    ``GenServer.call``, ``cast``, ``stop``, ``is_running``, ``send_after``, ``monitor``,
    ``link`` and ``wait_exit``: it is resolved when used, like a registered name. A
    supervisor's restarted child registers again under the same key.

    A frozen value: hashable (if `key` is), compared by its fields.

    Args:
        registry: a `RegistryInstance` with unique keys (``Registry.create()``), or the
            registered name of a registry process (``Registry.start(name=...)``,
            ``Registry.child_spec(name=...)``), looked up each time the `Via` is used.
        key: any hashable value (``("user", 42)``); a non-empty str in ``rt.registry``.

    Raises:
        TypeError: `registry` is neither, or has duplicate keys; `key` is not hashable
            (or, for ``rt.registry``, not a str).
        ValueError: an empty name.
    """

    registry: RegistryInstance | str = attrs.field(validator=_check_registry)
    key: Hashable

    def __attrs_post_init__(self) -> None:
        registry = self.registry
        if isinstance(registry, str):
            check_key(self.key)
        else:
            registry._noex_check_key(self.key)

    def __repr__(self) -> str:
        registry = self.registry
        if isinstance(registry, str):
            shown = safe_repr(registry)
        else:
            shown = f"<registry {safe_repr(registry.name)}>"
        return f"Via({shown}, {safe_repr(self.key)})"


__all__ = ["Via"]
