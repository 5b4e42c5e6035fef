"""Figures for metrics systems: runtime-wide message counters, the Prometheus text format.

Both the ``/metrics`` route and the OpenTelemetry instruments read the same figures, taken
from a snapshot (``rt.snapshot().to_dict()``) plus a `MessageTally`: the messages a process
handled are counted in its own statistics, which end with it, so a runtime-wide counter
that must never go down (a Prometheus counter) adds the final counts of every process that
exited since the tally began to the counts of the live ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from .._results import LifecycleEvent, Terminated
from ._alerts import walk

if TYPE_CHECKING:
    from .._runtime import Runtime
    from ._call_timings import Figures

#: Message kinds, as the snapshot counts them (``messages``) and the metrics label them.
KINDS: Final = ("calls", "casts", "infos")


class MessageTally:
    """Messages handled in a runtime since the tally began, by kind; never decreasing.

    Subscribes to the runtime's lifecycle events (until `close`) to keep the final counts of
    processes that exit.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._retired = dict.fromkeys(KINDS, 0)
        #: Processes already counted in `_retired` (by id), until they leave the snapshots.
        self._gone: set[int] = set()
        self._unsubscribe = runtime.on_lifecycle_event(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    def _on_event(self, event: LifecycleEvent) -> None:
        if type(event) is not Terminated:
            return
        stats = event.ref.statistics()
        retired = self._retired
        retired["calls"] += stats.calls
        retired["casts"] += stats.casts
        retired["infos"] += stats.infos
        self._gone.add(stats.id)

    def totals(self, snapshot: dict[str, Any]) -> dict[str, int]:
        """Messages by kind: the processes that exited, plus those alive in `snapshot`."""
        totals = dict(self._retired)
        gone = self._gone
        present = set()
        for node in walk(snapshot["tree"]):
            if node["id"] in gone:
                present.add(node["id"])
                continue
            for kind, count in node["messages"].items():
                totals[kind] += count
        self._gone = present  # the others will not be seen again
        return totals


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    return repr(value) if isinstance(value, float) else str(value)


class _Text:
    """Prometheus text exposition format (version 0.0.4), one metric family at a time."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float, labels: Iterable[tuple[str, str]] = ()) -> None:
        pairs = ",".join(f'{key}="{_escape(text)}"' for key, text in labels)
        self.lines.append(
            f"{name}{{{pairs}}} {_number(value)}" if pairs else f"{name} {_number(value)}"
        )

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


#: The content type of the Prometheus text format.
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


def prometheus_text(
    snapshot: dict[str, Any],
    totals: dict[str, int],
    *,
    latency: dict[str, Figures] | None = None,
    per_process: bool = True,
    snapshot_seconds: float | None = None,
) -> str:
    """The figures of `snapshot` (and `totals`, `latency`) in the Prometheus text format.

    `latency` is `CallTimings.figures()`, or None when the runtime does not time calls (then
    the histogram is left out).
    """
    out = _Text()
    stats = snapshot["runtime"]["statistics"]
    gauges = (
        ("noex_processes", stats["processes"], "Processes alive, services included."),
        ("noex_registered_names", stats["registered_names"], "Names in the runtime's registry."),
    )
    for name, value, help_text in gauges:
        out.family(name, "gauge", help_text)
        out.sample(name, value)
    counters = (
        ("noex_crashes_total", stats["crashes"], "Processes that exited abnormally."),
        ("noex_restarts_total", stats["restarts"], "Children restarted by their supervisors."),
        ("noex_dead_letters_total", stats["dead_letters"], "Casts dropped: their target died."),
    )
    for name, value, help_text in counters:
        out.family(name, "counter", help_text)
        out.sample(name, value)
    out.family("noex_messages_total", "counter", "Messages handled, by kind (call, cast, info).")
    for kind in KINDS:
        out.sample("noex_messages_total", totals[kind], [("kind", kind[:-1])])
    nodes = list(walk(snapshot["tree"]))
    lengths = [node["mailbox"]["length"] for node in nodes]
    out.family("noex_mailbox_messages", "gauge", "Messages waiting in all mailboxes.")
    out.sample("noex_mailbox_messages", sum(lengths))
    out.family("noex_mailbox_max_length", "gauge", "The longest mailbox.")
    out.sample("noex_mailbox_max_length", max(lengths, default=0))
    out.family("noex_call_waits", "gauge", "Calls waiting for their reply.")
    out.sample("noex_call_waits", len(snapshot["waits"]))
    out.family("noex_wait_cycles", "gauge", "Wait-for cycles: calls that can only time out.")
    out.sample("noex_wait_cycles", len(snapshot["cycles"]))
    if snapshot_seconds is not None:
        out.family("noex_snapshot_seconds", "gauge", "Time taken to build this snapshot.")
        out.sample("noex_snapshot_seconds", snapshot_seconds)
    if per_process:
        _per_process(out, nodes)
    if latency is not None:
        _latency(out, latency)
    return out.text()


def _per_process(out: _Text, nodes: list[dict[str, Any]]) -> None:
    def labels(node: dict[str, Any]) -> list[tuple[str, str]]:
        return [("process", node["label"]), ("behaviour", node["behaviour"])]

    out.family("noex_process_mailbox_length", "gauge", "Messages waiting in the mailbox.")
    for node in nodes:
        out.sample("noex_process_mailbox_length", node["mailbox"]["length"], labels(node))
    out.family("noex_process_messages_total", "counter", "Messages the process handled.")
    for node in nodes:
        for kind in KINDS:
            out.sample(
                "noex_process_messages_total",
                node["messages"][kind],
                [*labels(node), ("kind", kind[:-1])],
            )
    out.family("noex_process_restarts", "gauge", "Restarts of the process's child slot.")
    for node in nodes:
        out.sample("noex_process_restarts", node["restarts"], labels(node))
    out.family("noex_supervisor_restarts_total", "counter", "Children the supervisor restarted.")
    for node in nodes:
        if node["supervisor"] is not None:
            out.sample(
                "noex_supervisor_restarts_total",
                node["supervisor"]["restarts_total"],
                labels(node),
            )


def _latency(out: _Text, latency: dict[str, Figures]) -> None:
    name = "noex_call_duration_seconds"
    out.family(name, "histogram", "Call round trips, from the call to its reply, by behaviour.")
    for behaviour, (buckets, total, count) in sorted(latency.items()):
        for bound, below in buckets:
            out.sample(f"{name}_bucket", below, [("behaviour", behaviour), ("le", _number(bound))])
        out.sample(f"{name}_sum", total, [("behaviour", behaviour)])
        out.sample(f"{name}_count", count, [("behaviour", behaviour)])
