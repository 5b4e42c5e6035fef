"""Every example of the IPC guide (``examples/ipc``) runs, and does what the guide says."""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing

from examples.ipc import (
    circuit_breaker,
    circular,
    contracts,
    direct,
    error_handling,
    event_bus,
    event_sourcing,
    passing_refs,
    pipeline,
    registry,
    request_aggregation,
    retry,
    service_mesh,
)
from noex_trio import NotRegisteredError, backoff_delays


async def test_direct(autojump_clock: trio.testing.MockClock) -> None:
    result = await direct.main()
    assert result.user == direct.User("123", "Alice")
    assert result.missing is None
    assert result.log == [direct.Log("info", "User logged in")]


async def test_passing_refs(autojump_clock: trio.testing.MockClock) -> None:
    result = await passing_refs.main()
    alice = direct.User("u1", "Alice")
    assert result.via_init == passing_refs.Order(1, alice, "book")
    assert result.before_set == passing_refs.Rejected("no user service yet")
    assert result.via_cast == passing_refs.Order(1, alice, "pen")
    assert result.via_factory == passing_refs.Order(1, alice, "lamp")
    assert result.unknown_user == passing_refs.Rejected("unknown user 'u2'")


async def test_registry(autojump_clock: trio.testing.MockClock) -> None:
    result = await registry.main()
    assert result.names_after_start == ["user-service", "cache-service"]
    assert result.alice == direct.User("123", "Alice")
    assert result.cached == ["123"]
    assert result.no_such_service
    assert result.registered_before_stop
    assert not result.registered_after_stop
    assert not result.registered_after_crash


async def test_event_bus(autojump_clock: trio.testing.MockClock) -> None:
    result = await event_bus.main()
    assert result.basic == [{"id": "123", "name": "Alice"}]
    assert result.patterns == {
        "user.created": ["user.created"],
        "user.*": ["user.created", "user.deleted"],
        "*.deleted": ["user.deleted", "order.deleted"],
        "user.**": ["user", "user.created", "user.deleted", "user.profile.updated"],
        "*": event_bus.TOPICS,
    }
    assert result.sync_counts == [2, 2]
    assert result.emails == ["welcome mail to ada@example.com", "confirmation for o-1"]
    assert result.tracked == ["user.created", "order.placed", "order.shipped"]


async def test_service_mesh(autojump_clock: trio.testing.MockClock) -> None:
    results = await service_mesh.main()
    assert results == [
        service_mesh.OrderPlaced(direct.User("u1", "Ada"), "p1"),
        service_mesh.OrderRefused("p2 is out of stock"),
        service_mesh.OrderRefused("unknown user u9"),
    ]


async def test_event_sourcing(autojump_clock: trio.testing.MockClock) -> None:
    result = await event_sourcing.main()
    expected = {"o-1": "completed", "o-2": "placed"}
    assert result.service_state == expected
    assert result.projections.orders == expected
    assert result.replayed == expected  # the log alone rebuilds the state
    assert [(e.order_id, e.status) for e in result.projections.log] == [
        ("o-1", "placed"),
        ("o-1", "shipped"),
        ("o-1", "completed"),
        ("o-2", "placed"),
    ]
    assert result.projections.notifications == [
        "order o-1 placed: book, pen",
        "order o-2 placed: lamp",
    ]
    assert result.projections.shipments == ["o-1"]


async def test_request_aggregation(autojump_clock: trio.testing.MockClock) -> None:
    result = await request_aggregation.main()
    assert result.dashboard == request_aggregation.Dashboard("Ada", ["u1-order-1", "u1-order-2"], 3)
    assert result.took == pytest.approx(0.3)  # concurrent: the slowest, not the sum
    assert result.degraded == request_aggregation.Unavailable("notification store unreachable")
    assert result.degraded_took == pytest.approx(0.1)  # fail fast: the others were cancelled
    assert result.direct_error is NotRegisteredError


async def test_pipeline(autojump_clock: trio.testing.MockClock) -> None:
    first, second = await pipeline.main()
    assert first.key == "images/1/cat.png"
    assert second.key == "images/2/cat.png"
    assert first.image == pipeline.Image(
        "cat.png", width=1024, size_kb=300, steps=("upload", "resize", "optimize")
    )


async def test_error_handling(autojump_clock: trio.testing.MockClock) -> None:
    result = await error_handling.main()
    assert result.answers == [
        ("ping", "pong", 0.0),
        ("slow", "timed out", 3.0),
        ("bad", "failed: ValueError('bad request')", 0.0),
        ("ping", "not available", 0.0),
    ]
    assert result.with_service == direct.User("7", "Grace")
    assert result.without_service == direct.User("7", "from the database")


async def test_circuit_breaker(autojump_clock: trio.testing.MockClock) -> None:
    result = await circuit_breaker.main()
    assert result.outcomes == [
        "t= 0.0 closed    -> stock 3 (0.1 s)",
        *["t= 0.1 closed    -> failed: not registered (0.0 s)"] * 3,
        *["t= 0.1 open      -> rejected, retry after 10.0 s (0.0 s)"] * 2,
        # five callers at once while half-open: one trial goes through, four are refused
        *["t=12.0 half_open -> rejected, retry after 0.0 s (0.0 s)"] * 4,
        "t=12.0 half_open -> stock 2 (0.1 s)",
        "t=12.1 closed    -> stock 2 (0.1 s)",
        "stock_or_unknown: 2",
    ]
    stats = result.statistics
    assert (stats.state, stats.opened_count, stats.total_failures) == ("closed", 1, 3)
    assert (stats.successes, stats.rejections, stats.total_calls) == (4, 6, 13)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
async def test_retry(autojump_clock: trio.testing.MockClock, seed: int) -> None:
    result = await retry.main(seed)
    assert result.report == "report for 2026-11"
    assert result.report_took == 12.0  # beyond the 5 s default, within its own 30 s
    assert result.rate == 1.08
    caps = list(backoff_delays(6, base_delay=0.1, max_delay=2.0))
    assert result.retries, "the rates service was not up at first"
    for (_attempt, error, delay), cap in zip(result.retries, caps, strict=False):
        assert error == "NotRegisteredError"
        assert 0.0 <= delay <= cap  # full jitter under an exponential cap
    assert [attempt for attempt, _, _ in result.retries] == list(range(1, len(result.retries) + 1))
    assert math.isclose(result.rate_took, sum(delay for _, _, delay in result.retries))
    assert result.rate_took >= 0.5  # it waited for the service to come up
    assert result.not_retried == "KeyError('XYZ')"
    assert result.not_retried_attempts == 1


async def test_contracts(autojump_clock: trio.testing.MockClock) -> None:
    result = await contracts.main()
    ada = contracts.User("u1", "ada@example.com")
    assert result.users == [ada]
    assert result.found == ada
    assert result.gone is None
    assert result.events == [
        ("user.created", contracts.UserCreated(ada)),
        ("user.created", contracts.UserCreated(contracts.User("u2", "grace@example.com"))),
        ("user.deleted", contracts.UserDeleted("u2")),
    ]


async def test_circular(autojump_clock: trio.testing.MockClock) -> None:
    result = await circular.main()
    assert result.cycle_error == "call to orders#2 timed out after 1.0 s"
    assert result.cycle_took == 1.0
    assert result.orders == {"o-1": "confirmed"}
