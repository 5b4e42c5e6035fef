"""The observer's figures as OpenTelemetry instruments (the ``otel`` extra).

`open_otel_metrics` registers observable instruments on a meter (``noex_trio``) and samples
the runtime every `interval` seconds in the runtime's own Trio thread; the instruments'
callbacks, which a metric reader may run from any thread (a periodic exporter runs them
from its own), only read the latest sample. Calls are timed into a histogram when the
runtime's core offers the call hook (see `_call_timings`).

Instruments (units in braces are annotations, as OpenTelemetry writes them):

===============================  =================  ======================================
``noex.processes``               gauge              processes alive
``noex.registered_names``        gauge              names in the runtime's registry
``noex.crashes``                 counter            processes that exited abnormally
``noex.restarts``                counter            children restarted
``noex.dead_letters``            counter            casts dropped, their target dead
``noex.messages``                counter            messages handled, by ``kind``
``noex.mailbox.messages``        gauge              messages waiting in all mailboxes
``noex.mailbox.max_length``      gauge              the longest mailbox
``noex.call.waits``              gauge              calls waiting for their reply
``noex.process.mailbox.length``  gauge              per process (``per_process=True``)
``noex.call.duration``           histogram (s)      call round trips, by ``behaviour``
===============================  =================  ======================================
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from .. import _checks as checks
from .._runtime import Runtime, current_runtime
from ._alerts import walk
from ._call_timings import BUCKETS, CallTimings
from ._metrics import KINDS, MessageTally
from ._nursery import open_nursery


@attrs.frozen(kw_only=True)
class _Sample:
    """The figures of one sample: plain values, safe to read from any thread."""

    values: dict[str, int]
    messages: dict[str, int]
    mailboxes: tuple[tuple[str, str, int], ...]


def _take(runtime: Runtime, tally: MessageTally) -> _Sample:
    snapshot = runtime.snapshot().to_dict()
    stats = snapshot["runtime"]["statistics"]
    nodes = list(walk(snapshot["tree"]))
    lengths = [node["mailbox"]["length"] for node in nodes]
    return _Sample(
        values={
            "processes": stats["processes"],
            "registered_names": stats["registered_names"],
            "crashes": stats["crashes"],
            "restarts": stats["restarts"],
            "dead_letters": stats["dead_letters"],
            "mailbox_messages": sum(lengths),
            "mailbox_max_length": max(lengths, default=0),
            "call_waits": len(snapshot["waits"]),
        },
        messages=tally.totals(snapshot),
        mailboxes=tuple(
            (node["label"], node["behaviour"], node["mailbox"]["length"]) for node in nodes
        ),
    )


def _import_otel() -> Any:
    try:
        from opentelemetry import metrics
    except ImportError as exc:
        raise ImportError(
            "the observer's OpenTelemetry metrics need opentelemetry-api: "
            "pip install 'noex-trio[otel]'"
        ) from exc
    return metrics


@asynccontextmanager
async def open_otel_metrics(
    runtime: Runtime | None = None,
    *,
    meter_provider: Any = None,
    interval: float = 1.0,
    per_process: bool = False,
) -> AsyncIterator[None]:
    """Export `runtime`'s figures as OpenTelemetry instruments while the block runs.

    ``async with open_otel_metrics(rt, meter_provider=provider):`` — the instruments are
    listed in the module docstring. After the block, the observable instruments report
    nothing (OpenTelemetry cannot remove an instrument from a meter) and calls are no
    longer timed.

    Args:
        runtime: the runtime to export; by default the current one.
        meter_provider: an OpenTelemetry ``MeterProvider``; by default the global one
            (``opentelemetry.metrics.get_meter_provider()``).
        interval: seconds between two samples of the runtime (each builds a snapshot).
        per_process: also one mailbox-length series per live process.

    Raises:
        TypeError, ValueError: a bad argument.
        ImportError: opentelemetry-api is missing (the ``otel`` extra).
    """
    if runtime is None:
        runtime = current_runtime()
    rt = checks.instance(runtime, "runtime", Runtime, expected="a Runtime or None")
    interval = checks.seconds(interval, "interval", inf=False)
    per_process = checks.boolean(per_process, "per_process")
    metrics = _import_otel()
    provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
    meter = provider.get_meter("noex_trio")
    tally = MessageTally(rt)
    timings = CallTimings()
    latest: list[_Sample | None] = [None]

    def value(key: str) -> Callable[[Any], Iterable[Any]]:
        def observe(_options: Any) -> Iterable[Any]:
            sample = latest[0]
            if sample is not None:
                yield metrics.Observation(sample.values[key])

        return observe

    def messages(_options: Any) -> Iterable[Any]:
        sample = latest[0]
        if sample is not None:
            for kind in KINDS:
                yield metrics.Observation(sample.messages[kind], {"kind": kind[:-1]})

    def mailboxes(_options: Any) -> Iterable[Any]:
        sample = latest[0]
        if sample is not None:
            for label, behaviour, length in sample.mailboxes:
                yield metrics.Observation(length, {"process": label, "behaviour": behaviour})

    gauge = meter.create_observable_gauge
    counter = meter.create_observable_counter
    gauge("noex.processes", [value("processes")], "{process}", "Processes alive.")
    gauge("noex.registered_names", [value("registered_names")], "{name}", "Registered names.")
    counter("noex.crashes", [value("crashes")], "{crash}", "Processes that exited abnormally.")
    counter("noex.restarts", [value("restarts")], "{restart}", "Children restarted.")
    counter("noex.dead_letters", [value("dead_letters")], "{message}", "Casts dropped.")
    counter("noex.messages", [messages], "{message}", "Messages handled, by kind.")
    gauge("noex.mailbox.messages", [value("mailbox_messages")], "{message}", "Queued messages.")
    gauge("noex.mailbox.max_length", [value("mailbox_max_length")], "{message}", "Longest mailbox.")
    gauge("noex.call.waits", [value("call_waits")], "{call}", "Calls waiting for a reply.")
    if per_process:
        gauge("noex.process.mailbox.length", [mailboxes], "{message}", "Mailbox of a process.")
    histogram = meter.create_histogram(
        "noex.call.duration",
        "s",
        "Call round trips, from the call to its reply.",
        explicit_bucket_boundaries_advisory=BUCKETS,
    )
    timings.attach(
        rt, lambda behaviour, seconds: histogram.record(seconds, {"behaviour": behaviour})
    )
    try:
        latest[0] = _take(rt, tally)
        async with open_nursery() as nursery:
            nursery.start_soon(
                _sample_every, interval, lambda: latest.__setitem__(0, _take(rt, tally))
            )
            try:
                yield
            finally:
                nursery.cancel_scope.cancel()
    finally:
        latest[0] = None
        timings.detach()
        tally.close()


async def _sample_every(interval: float, sample: Callable[[], object]) -> None:
    while True:
        await trio.sleep(interval)
        sample()
