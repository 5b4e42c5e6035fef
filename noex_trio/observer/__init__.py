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
- `AlertRules` sets the thresholds of the alerts both dashboards show.

Opt-in: nothing listens and nothing is measured unless the program asks for it, and ``import
noex_trio`` imports none of this. Guides: ``docs/guides/observer.md`` (introspection) and
``docs/guides/observer-web.md`` (the web endpoint, metrics).
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

__all__ = [
    "Alert",
    "AlertRules",
    "AlertWatch",
    "WebEndpoint",
    "WebEndpointStatistics",
    "open_otel_metrics",
    "open_web_endpoint",
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
