"""The alert rules (`noex_trio.observer.AlertRules`, `AlertWatch`) on series of snapshots."""

from __future__ import annotations

import math
from typing import Any

import pytest

from noex_trio.observer import Alert, AlertRules, AlertWatch
from tests.observer_support import node, snapshot, supervisor, wait


def kinds(alerts: list[Alert]) -> list[tuple[str, int]]:
    return [(alert.kind, alert.id) for alert in alerts]


def test_default_rules() -> None:
    assert AlertRules().to_dict() == {
        "mailbox_length": 100,
        "mailbox_samples": 5,
        "restarts": 3,
        "restart_window": 10.0,
        "long_call": 1.0,
    }


@pytest.mark.parametrize(
    ("field", "value", "error", "message"),
    [
        ("mailbox_length", 0, ValueError, r"^expected mailbox_length to be an int >= 1, got 0$"),
        (
            "mailbox_samples",
            1.5,
            TypeError,
            r"^expected mailbox_samples to be an int >= 1, got 1.5$",
        ),
        ("restarts", True, TypeError, r"^expected restarts to be an int >= 1, got True$"),
        (
            "restart_window",
            math.inf,
            ValueError,
            r"^expected restart_window to be a finite number of seconds > 0, got inf$",
        ),
        (
            "long_call",
            "1",
            TypeError,
            r"^expected long_call to be a finite number of seconds > 0, got '1'$",
        ),
    ],
)
def test_rules_are_checked(field: str, value: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        AlertRules(**{field: value})  # type: ignore[arg-type]


def test_a_quiet_runtime_has_no_alert() -> None:
    watch = AlertWatch()
    for time in range(10):
        assert watch.check(snapshot(float(time), [node(1, length=3), node(2)])) == []


def test_a_mailbox_growing_at_each_sample_past_the_threshold() -> None:
    watch = AlertWatch(AlertRules(mailbox_length=10, mailbox_samples=3))
    series = [0, 5, 10, 20, 30, 31, 25, 40]
    seen = [
        kinds(watch.check(snapshot(float(t), [node(7, length=n)]))) for t, n in enumerate(series)
    ]
    # grew at 3 samples in a row (5, 10, 20) and >= 10 from the 4th sample on; a drop resets it.
    assert seen == [[], [], [], [("mailbox_growing", 7)], [("mailbox_growing", 7)],
                    [("mailbox_growing", 7)], [], []]  # fmt: skip


def test_an_alert_keeps_the_time_it_was_first_seen() -> None:
    watch = AlertWatch(AlertRules(mailbox_length=1, mailbox_samples=1))
    assert watch.check(snapshot(1.0, [node(7, "w#7", length=0)])) == []
    first = watch.check(snapshot(2.0, [node(7, "w#7", length=5)]))
    assert first == [
        Alert(
            kind="mailbox_growing",
            id=7,
            label="w#7",
            message="mailbox grew at each of the last 1 samples, to 5 messages",
            since=2.0,
        )
    ]
    assert watch.check(snapshot(3.0, [node(7, "w#7", length=9)]))[0].since == 2.0
    assert watch.check(snapshot(4.0, [node(7, "w#7", length=9)])) == []
    assert watch.check(snapshot(5.0, [node(7, "w#7", length=10)]))[0].since == 5.0


def test_a_process_that_left_is_forgotten() -> None:
    watch = AlertWatch(AlertRules(mailbox_length=1, mailbox_samples=2))
    watch.check(snapshot(1.0, [node(7, length=1)]))
    watch.check(snapshot(2.0, [node(7, length=2)]))
    watch.check(snapshot(3.0, []))
    assert watch.check(snapshot(4.0, [node(7, length=3)])) == []


def sup(pid: int, **fields: Any) -> dict[str, Any]:
    return node(pid, f"sup#{pid}", supervisor=supervisor(**fields))


def test_a_restart_storm_within_the_window() -> None:
    watch = AlertWatch(AlertRules(restarts=3, restart_window=10.0))
    totals = {0.0: 0, 4.0: 1, 8.0: 2, 12.0: 3, 16.0: 4, 30.0: 4}
    seen = {
        time: watch.check(snapshot(time, [sup(1, restarts_total=total, max_restarts=100)]))
        for time, total in totals.items()
    }
    assert seen[8.0] == []  # 2 restarts since 0.0
    assert seen[12.0] == []  # 2 restarts since 4.0 (0.0 is out of the window)
    assert seen[16.0] == []
    assert seen[30.0] == []
    watch = AlertWatch(AlertRules(restarts=3, restart_window=10.0))
    watch.check(snapshot(0.0, [sup(1, restarts_total=0, max_restarts=100)]))
    storm = watch.check(snapshot(5.0, [sup(1, restarts_total=3, max_restarts=100)]))
    assert [(a.kind, a.id, a.message) for a in storm] == [
        ("restart_storm", 1, "3 restarts in the last 10 s")
    ]
    assert watch.check(snapshot(16.0, [sup(1, restarts_total=3, max_restarts=100)])) == []


def test_a_supervisor_at_its_restart_limit() -> None:
    watch = AlertWatch()
    at_limit = sup(1, restarts_in_window=3, max_restarts=3, max_seconds=5.0)
    assert [a.message for a in watch.check(snapshot(0.0, [at_limit]))] == [
        "at its restart limit: 3 restarts within 5 s; one more crash and it gives up"
    ]
    assert watch.check(snapshot(1.0, [sup(1, restarts_in_window=2)])) == []
    # max_restarts=0: every crash ends it; nothing to warn about in advance.
    assert watch.check(snapshot(2.0, [sup(1, restarts_in_window=0, max_restarts=0)])) == []


def test_long_calls_served_and_waited_on() -> None:
    watch = AlertWatch(AlertRules(long_call=2.0))
    tree = [
        node(1, "slow#1", serving="'report'", serving_since=7.0),
        node(2, "busy#2", serving="'x'", serving_since=9.5),
        node(3, "queued#3"),
        node(4, "client#4"),
    ]
    waits = [wait(4, 1, 7.0, 3.0), wait(5, 1, 6.0, 4.0), wait(6, 3, 7.5, 2.5), wait(7, 2, 9.5, 0.5)]
    alerts = watch.check(snapshot(10.0, tree, waits=waits))
    assert [(a.label, a.message) for a in alerts] == [
        ("slow#1", "serving 'report' for 3.0 s; 2 callers waiting (longest 4.0 s)"),
        ("queued#3", "1 caller waiting (longest 2.5 s)"),
    ]


def test_wait_for_cycles_are_deadlocks() -> None:
    watch = AlertWatch()
    tree = [node(1, "a#1"), node(2, "b#2", children=[node(3, "c#3")])]
    alerts = watch.check(snapshot(1.0, tree, cycles=[[1, 3], [9, 2]]))
    assert [(a.kind, a.id, a.label, a.message) for a in alerts] == [
        ("deadlock", 1, "a#1", "wait-for cycle: a#1 -> c#3 -> a#1"),
        ("deadlock", 9, "#9", "wait-for cycle: #9 -> b#2 -> #9"),
    ]


def test_alerts_are_json_data() -> None:
    alert = Alert(kind="long_call", id=1, label="a#1", message="m", since=1.0)
    assert alert.to_dict() == {
        "kind": "long_call",
        "id": 1,
        "label": "a#1",
        "message": "m",
        "since": 1.0,
    }
