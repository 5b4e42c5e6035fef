"""The observer: see inside a running runtime (issue 13).

The tree view (`format_tree`, `render_tree`), the live terminal dashboard
(`terminal_dashboard`, ``python -m noex_trio.observer top URL``), the rates and alerts they
draw (`Sampler`), and the alert rules they share with the web dashboard (`AlertRules`).
They read the snapshot dict of ``rt.snapshot().to_dict()`` (or ``GET /snapshot.json`` of
another program).

``import noex_trio.observer`` imports neither rich nor hypercorn: the functions that need them
import them when called (the ``observer`` extra).
"""

import contextlib

# ------------------------------------------------------------ alert rules (observer-web's)
from ._alerts import Alert as Alert
from ._alerts import AlertRules as AlertRules
from ._alerts import AlertWatch as AlertWatch

# ------------------------------------------------------------ terminal dashboard (observer-tui)
from ._samples import Sample as Sample
from ._samples import Sampler as Sampler
from ._terminal import Dashboard as Dashboard
from ._terminal import terminal_dashboard as terminal_dashboard
from ._tree import format_tree as format_tree
from ._tree import render_tree as render_tree

_ALERTS = ["Alert", "AlertRules", "AlertWatch"]
_TERMINAL = [
    "Dashboard",
    "Sample",
    "Sampler",
    "format_tree",
    "render_tree",
    "terminal_dashboard",
]
# ------------------------------------------------------------ end of observer-tui

__all__ = sorted(_ALERTS + _TERMINAL)


def _fixup_module_metadata() -> None:
    """Public objects show ``noex_trio.observer.X`` in reprs and tracebacks."""
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("noex_trio.observer._"):
            with contextlib.suppress(AttributeError, TypeError):
                obj.__module__ = "noex_trio.observer"


_fixup_module_metadata()
del _fixup_module_metadata
