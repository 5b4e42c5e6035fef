"""The registry process: a `RegistryInstance` that services find by the process's name.

``Registry.start(name="sessions")`` (or ``Registry.child_spec(name="sessions")`` under a
supervisor) starts a system process (a `RegistryRef`) whose behaviour, `RegistryServer`, owns
a fresh `RegistryInstance` named like the process, with keys of any hashable type. Nothing goes
through its mailbox: ``Registry.lookup_registry("sessions")`` and ``Via("sessions", key)`` reach
the instance directly. When the process exits, an exit hook closes the instance: its entries
are dropped and every later call on it raises `ServerNotRunningError`; a restarted registry
process starts empty, with a new instance.
"""

from __future__ import annotations

import math
from typing import Final, Literal

from ._context import current_process
from ._exceptions import NoexError
from ._refs import RegistryRef
from ._registry import RegistryInstance
from ._results import ExitReason
from ._spawn import start_process

#: Seconds a registry process may take to stop (it has nothing to finish).
SHUTDOWN_BUDGET: Final = 5.0


class RegistryServer:
    """The behaviour of a registry process: owns `registry` while it runs."""

    #: How statistics show it (`ProcessStatistics.kind` and ``.behaviour``).
    _noex_kind: Final = "registry"
    _noex_name: Final = "Registry"

    def __init__(self, keys: Literal["unique", "duplicate"], name: str) -> None:
        self.registry = RegistryInstance(keys=keys, name=name, str_keys=False)

    def init(self) -> None:
        proc = current_process()
        assert proc is not None
        proc.add_exit_hook(self, self._exited)

    def handle_call(self, msg: object, state: None) -> tuple[None, None]:  # pragma: no cover
        raise NoexError(f"{self.registry.name} takes no calls; use the Registry functions")

    def handle_cast(self, msg: object, state: None) -> None:  # pragma: no cover
        raise NoexError(f"{self.registry.name} takes no casts; use the Registry functions")

    def _exited(self, reason: ExitReason) -> None:
        # Exit hook (runs after a brutal kill too, after the process's own names are gone).
        self.registry._noex_close(reason)


async def start_registry(name: str, keys: Literal["unique", "duplicate"]) -> RegistryRef:
    """Start a registry process registered as `name` (see ``Registry.start``)."""
    server = RegistryServer(keys, name)  # validates `keys` before anything starts
    ref = await start_process(
        server,
        (),
        name=name,
        init_timeout=5.0,
        mailbox_size=math.inf,
        trap_exit=False,
        ref_class=RegistryRef,
        budget=SHUTDOWN_BUDGET,
        label="Registry",
    )
    assert isinstance(ref, RegistryRef)
    return ref
