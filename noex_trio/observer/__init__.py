"""The observer: see a running runtime from a browser, a metrics system or a terminal.

::

    async with noex_trio.open_runtime() as rt:
        async with noex_trio.observer.open_web_endpoint(rt, port=8321) as endpoint:
            print("dashboard at", endpoint.url)
            ...

- `open_web_endpoint` serves a single-page dashboard (the process tree with live mailbox
  sizes and restart counts, a timeline of crashes and restarts, alerts), the JSON snapshot,
  a live stream of lifecycle events and figures (Server-Sent Events) and Prometheus metrics,
  on hypercorn's Trio worker (the ``observer`` extra); `web_child_spec` runs it as a
  supervised child (`web_endpoint` asks it where it listens).
- `open_otel_metrics` exports the same figures as OpenTelemetry instruments (the ``otel``
  extra).
- `format_tree` and `render_tree` draw a snapshot as a tree, in plain text or with rich;
  `terminal_dashboard` shows a live, top-like view in the terminal, of a runtime of this
  program or of another one through its web endpoint (``python -m noex_trio.observer top
  URL``); `Sampler` adds the message rates and alerts that need successive snapshots.
- `AlertRules` sets the thresholds of the alerts both dashboards show.

Opt-in: nothing listens and nothing is measured unless the program asks for it, and ``import
noex_trio`` imports none of this; ``import noex_trio.observer`` imports neither hypercorn nor
rich (the functions that need them import them when called). Guides:
``docs/guides/observer.md``, ``docs/guides/observer-web.md``,
``docs/guides/observer-terminal.md``.
"""

from __future__ import annotations

import contextlib

from ._alerts import Alert as Alert
from ._alerts import AlertRules as AlertRules
from ._alerts import AlertWatch as AlertWatch
from ._endpoint import WebEndpoint as WebEndpoint
from ._endpoint import WebEndpointStatistics as WebEndpointStatistics
from ._endpoint import open_web_endpoint as open_web_endpoint
from ._endpoint import web_child_spec as web_child_spec
from ._endpoint import web_endpoint as web_endpoint
from ._otel import open_otel_metrics as open_otel_metrics

# the terminal dashboard
from ._samples import Sample as Sample
from ._samples import Sampler as Sampler
from ._terminal import Dashboard as Dashboard
from ._terminal import terminal_dashboard as terminal_dashboard
from ._tree import format_tree as format_tree
from ._tree import render_tree as render_tree

__all__ = [
    "Alert",
    "AlertRules",
    "AlertWatch",
    "Dashboard",
    "Sample",
    "Sampler",
    "WebEndpoint",
    "WebEndpointStatistics",
    "format_tree",
    "open_otel_metrics",
    "open_web_endpoint",
    "render_tree",
    "terminal_dashboard",
    "web_child_spec",
    "web_endpoint",
]


def _fixup_module_metadata() -> None:
    """Public objects show ``noex_trio.observer.X`` in reprs and tracebacks."""
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("noex_trio.observer._"):
            with contextlib.suppress(AttributeError, TypeError):
                obj.__module__ = "noex_trio.observer"


_fixup_module_metadata()
del _fixup_module_metadata
