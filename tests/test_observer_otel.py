"""The observer's figures as OpenTelemetry instruments (`open_otel_metrics`), read with the
SDK's in-memory reader."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest
import trio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from noex_trio import GenServer, Runtime, Supervisor
from noex_trio.observer import open_otel_metrics
from noex_trio.testing import crash, wait_for_restart


class Worker(GenServer[int, str, int, int]):
    def init(self) -> int:
        return 0

    def handle_call(self, msg: str, state: int) -> tuple[int, int]:
        return state, state


class Metrics(NamedTuple):
    reader: InMemoryMetricReader
    provider: MeterProvider


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    """A meter provider of the SDK with an in-memory reader (no global state touched)."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    yield Metrics(reader, provider)
    provider.shutdown()


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Data points by instrument name."""
    data = reader.get_metrics_data()
    found: dict[str, list[Any]] = {}
    if data is None:
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == "noex_trio"
            for metric in scope.metrics:
                found[metric.name] = list(metric.data.data_points)
    return found


def value(reader: InMemoryMetricReader, name: str) -> Any:
    (point,) = points(reader)[name]
    return point.value


async def test_the_figures_as_instruments(
    rt: Runtime, metrics: Metrics, autojump_clock: trio.abc.Clock
) -> None:
    reader = metrics.reader
    sup = await Supervisor.start(children=[Worker.child_spec(id="a")])
    async with open_otel_metrics(rt, meter_provider=metrics.provider, interval=2.0):
        # Sampled at once: the figures are there before the first interval.
        assert value(reader, "noex.processes") == rt.statistics().processes
        assert value(reader, "noex.registered_names") == 0
        assert value(reader, "noex.crashes") == 0
        assert {p.attributes["kind"]: p.value for p in points(reader)["noex.messages"]} == {
            "call": 0,
            "cast": 0,
            "info": 0,
        }
        assert "noex.process.mailbox.length" not in points(reader)
        old = Supervisor.get_child(sup, "a").ref
        crash(old)  # type: ignore[arg-type]
        await wait_for_restart(sup, "a", old)
        await trio.sleep(2.0)  # the next sample
        assert value(reader, "noex.processes") == rt.statistics().processes
    # Afterwards the observable instruments report nothing.
    assert "noex.processes" not in points(reader)


async def test_per_process_mailboxes(rt: Runtime, metrics: Metrics) -> None:
    await Supervisor.start(children=[Worker.child_spec(id="a")], name="app")
    async with open_otel_metrics(meter_provider=metrics.provider, per_process=True):
        mailboxes = {
            p.attributes["process"]: (p.attributes["behaviour"], p.value)
            for p in points(metrics.reader)["noex.process.mailbox.length"]
        }
    assert mailboxes == {
        stats.label: (stats.behaviour, 0) for stats in (ref.statistics() for ref in rt.processes())
    }


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"runtime": 1}, TypeError, r"^expected runtime to be a Runtime or None, got 1$"),
        ({"interval": -1}, ValueError, r"^expected interval to be a finite number of seconds"),
        ({"per_process": None}, TypeError, r"^expected per_process to be a bool, got None$"),
    ],
)
async def test_bad_options(
    rt: Runtime, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        async with open_otel_metrics(**options):
            pass  # pragma: no cover


async def test_without_opentelemetry(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"pip install 'noex-trio\[otel\]'$"):
        async with open_otel_metrics(rt):
            pass  # pragma: no cover


async def test_call_durations(
    rt: Runtime, metrics: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    kernel: Any = rt._kernel
    if not hasattr(kernel, "call_observers"):  # (the core's call hook, simulated without it)
        monkeypatch.setattr(kernel, "call_observers", {}, raising=False)
    async with open_otel_metrics(rt, meter_provider=metrics.provider):
        (observer,) = kernel.call_observers.values()
        observer(SimpleNamespace(behaviour=Worker()), 0.003)
        (point,) = points(metrics.reader)["noex.call.duration"]
        assert point.attributes == {"behaviour": "Worker"}
        assert (point.count, point.sum) == (1, 0.003)
        assert 0.0025 in point.explicit_bounds
    assert kernel.call_observers == {}


async def test_the_global_meter_provider_by_default(rt: Runtime) -> None:
    async with open_otel_metrics(rt):
        pass
