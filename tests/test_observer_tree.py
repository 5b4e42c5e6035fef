"""The tree view (`format_tree`, `render_tree`) and the samples behind it, on hand-written
snapshot dicts in the contract's JSON shape (see ``tests/observer_snapshots.py``)."""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from noex_trio.observer import (
    Alert,
    AlertRules,
    Sample,
    Sampler,
    format_tree,
    render_tree,
)

from .observer_snapshots import demo_like, node, snapshot, supervisor_info, wait


def rendered(renderable: Any, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


# --------------------------------------------------------------------------- format_tree


def test_format_tree_draws_supervisors_and_their_children() -> None:
    text = format_tree(demo_like(handled=5))
    assert text == "\n".join(
        [
            "app, up 10.0 s: 10 processes, 0 crashes, 0 restarts, 0 dead letters",
            "  PROCESS                        BEHAVIOUR          STATUS   MAILBOX  MSG/S  CALLS"
            "  CASTS  INFOS  RESTARTS",
            "  app#2                          Supervisor         running        0      -      0"
            "      0      0         0  one_for_one 0/3 in 5 s",
            "  ├─ subscribers#3               Supervisor         running        0      -      0"
            "      0      0         0  one_for_one 0/3 in 5 s",
            "  │  ├─ email#4                  Email              running        0      -      0"
            "      5      0         0",
            "  │  └─ analytics#5              Analytics          running        0      -      0"
            "     10      0         0",
            "  └─ services#6                  Supervisor         running        0      -      0"
            "      0      0         0  one_for_one 0/3 in 5 s",
            "     ├─ user-service#7           User-Service       running        0      -      5"
            "      0      0         0",
            "     ├─ order-service#8          Order-Service      running        0      -      5"
            "      0      0         0",
            "     └─ inventory#9              Supervisor         running        0      -      0"
            "      0      0         0  one_for_one 0/3 in 5 s",
            "        └─ inventory-service#10  Inventory-Service  running        0      -     10"
            "      0      0         0",
            "  EventBus#1                     EventBus           running        0      -      0"
            "      0      5         0",
        ]
    )


def test_format_tree_of_one_process_and_of_an_empty_runtime() -> None:
    one = snapshot(node(1, "solo#1", mailbox=3, capacity=10, tasks=1), crashes=1, restarts=1)
    lines = format_tree(one).splitlines()
    assert lines[0] == "app, up 10.0 s: 1 process, 1 crash, 1 restart, 0 dead letters"
    assert re.fullmatch(r"  solo#1 +Solo +running +3/10 +- +0 +0 +0 +0  1 task", lines[2])
    empty = format_tree(snapshot(name="idle", time=0.0, dead_letters=1))
    assert empty.splitlines() == [
        "idle: 0 processes, 0 crashes, 0 restarts, 1 dead letter",
        "  PROCESS  BEHAVIOUR  STATUS  MAILBOX  MSG/S  CALLS  CASTS  INFOS  RESTARTS",
    ]


def test_format_tree_notes_names_tasks_status_and_restarts() -> None:
    tree = snapshot(
        node(
            2,
            "app#2",
            node(3, "worker#3", restarts=2, names=["worker", "alias"], tasks=3),
            node(4, "Worker#4", status="stopping", names=["other"]),
            supervisor=supervisor_info(
                strategy="rest_for_one", restarts_in_window=2, max_restarts=5, max_seconds=10
            ),
        )
    )
    lines = format_tree(tree).splitlines()
    assert lines[2].endswith("rest_for_one 2/5 in 10 s")
    assert re.fullmatch(r"  ├─ worker#3 .* running .* 2  3 tasks; names alias", lines[3])
    assert re.fullmatch(r"  └─ Worker#4 .* stopping .* 0  names other", lines[4])


def test_format_tree_marks_waits_cycles_and_long_calls() -> None:
    tree = demo_like(time=20.0)
    services = tree["tree"][0]["children"][1]
    order = services["children"][1]
    order.update(serving="Order(id=1)", serving_since=12.0)
    tree["waits"] = [wait(8, 10, "Reserve(order_id=1)", 18.5, 20.0), wait(7, 99, "'x'", 19, 20)]
    tree["cycles"] = [[8, 10]]
    text = format_tree(tree)
    lines = text.splitlines()
    assert re.fullmatch(
        r"!    ├─ order-service#8 .* 0  serving Order\(id=1\) for 8\.0 s; "
        r"waits on inventory-service#10 for 1\.5 s; in a wait-for cycle",
        lines[8],
    )
    assert re.fullmatch(r"!       └─ inventory-service#10 .*  in a wait-for cycle", lines[10])
    assert re.fullmatch(r"     ├─ user-service#7 .* 0  waits on #99 for 1\.0 s", lines[7])
    assert lines[12:] == [
        "waits:",
        "  order-service#8 -> inventory-service#10 for 1.5 s: Reserve(order_id=1)",
        "  user-service#7 -> #99 for 1.0 s: 'x'",
        "cycles:",
        "  order-service#8 -> inventory-service#10 -> order-service#8",
        "alerts:",
        "  ! order-service#8: serving Order(id=1) for 8.0 s",
        "  ! inventory-service#10: 1 caller waiting (longest 1.5 s)",
        "  ! wait-for cycle: order-service#8 -> inventory-service#10 -> order-service#8",
    ]


def test_a_short_call_is_no_alert() -> None:
    tree = snapshot(node(1, "w#1", serving="'get'", serving_since=9.5))
    text = format_tree(tree)
    assert "serving 'get' for 0.5 s" in text
    assert "alerts" not in text
    assert text.splitlines()[2].startswith("  w#1")
    # A call served without a known start shows no duration.
    assert "serving 'get'" in format_tree(snapshot(node(1, "w#1", serving="'get'")))


def pool(time: float, handled: int = 0, slow: int = 0) -> dict[str, Any]:
    """A supervisor over 50 workers; worker #40's mailbox holds `slow` messages."""
    workers = [
        node(pid, f"w#{pid}", calls=handled, mailbox=slow if pid == 40 else 1)
        for pid in range(3, 53)
    ]
    workers[-1]["status"] = "stopping"
    return snapshot(node(2, "pool#2", *workers), time=time)


def test_a_big_supervisor_shows_its_first_children_and_sums_up_the_others() -> None:
    sampler = Sampler(AlertRules(mailbox_length=10, mailbox_samples=1))
    sampler.add(pool(1.0))
    sample = sampler.add(pool(2.0, handled=3, slow=11))
    lines = format_tree(sample, max_children=3).splitlines()
    assert lines[2:] == [
        "  pool#2          Supervisor  running           0    0.0      0      0      0         0"
        "  one_for_one 0/3 in 5 s",
        "  ├─ w#3          W           running           1    3.0      3      0      0         0",
        "  ├─ w#4          W           running           1    3.0      3      0      0         0",
        "  ├─ w#5          W           running           1    3.0      3      0      0         0",
        "! ├─ w#40         W           running          11    3.0      3      0      0         0",
        # the 46 others: 45 running (w#52 is stopping), 46 messages queued, 138 handled
        "  └─ ... 46 more              45 running       46  138.0    138      0      0         0",
        "alerts:",
        "  ! w#40: mailbox grew at each of the last 1 samples, to 11 messages",
    ]
    assert len(format_tree(sample).splitlines()) == 2 + 51 + 2  # all of them
    assert format_tree(pool(1.0), max_children=50) == format_tree(pool(1.0))
    with pytest.raises(ValueError, match=r"^expected max_children to be an int >= 1, got 0$"):
        format_tree(pool(1.0), max_children=0)
    with pytest.raises(TypeError, match=r"^expected max_children to be an int >= 1, got 2.0$"):
        render_tree(pool(1.0), max_children=2.0)  # type: ignore[arg-type]


def test_the_rich_tree_sums_up_the_children_it_does_not_show() -> None:
    narrow = rendered(render_tree(pool(1.0), max_children=2), width=80).splitlines()
    assert re.fullmatch(r" +└─ \.\.\. 48 more +47 running +47 +- +0 +0", narrow[5])
    wide = rendered(render_tree(pool(1.0), max_children=2), width=130).splitlines()
    assert re.fullmatch(r" +└─ \.\.\. 48 more +47 running +47 +- +0 +0 +0 +0", wide[5])


def test_format_tree_takes_the_json_as_sent_over_http() -> None:
    sent = json.loads(json.dumps(demo_like(handled=3)))
    assert format_tree(sent) == format_tree(demo_like(handled=3))


# --------------------------------------------------------------------------- samples


def test_rates_come_from_two_samples() -> None:
    sampler = Sampler()
    first = sampler.add(demo_like(10.0, handled=0))
    assert first.rates == {}
    assert first.message_rate is None
    second = sampler.add(demo_like(12.0, handled=10))
    assert second.time == 12.0
    assert second.rates[4] == 5.0  # email: 10 casts in 2 s
    assert second.rates[5] == 10.0
    assert second.rates[2] == 0.0
    assert second.message_rate == 40.0  # 80 messages handled in 2 s
    text = format_tree(second)
    assert text.splitlines()[0].endswith(", 40.0 msg/s")
    assert re.search(r"analytics#5 +Analytics +running +0 +10\.0 +0 +20", text)


def test_a_new_process_has_no_rate_and_a_gone_one_is_forgotten() -> None:
    sampler = Sampler()
    sampler.add(snapshot(node(1, "a#1", calls=5), time=1.0))
    sample = sampler.add(snapshot(node(2, "b#2", calls=7), time=2.0))
    assert sample.rates == {}
    sample = sampler.add(snapshot(node(1, "a#1", calls=9), node(2, "b#2", calls=8), time=3.0))
    assert sample.rates == {2: 1.0}  # a#1 was away: it starts again


def test_a_clock_that_goes_back_starts_the_history_again() -> None:
    sampler = Sampler(AlertRules(mailbox_length=1, mailbox_samples=2))
    sampler.add(snapshot(node(1, "a#1", calls=5, mailbox=1), time=50.0))
    sample = sampler.add(snapshot(node(1, "a#1", calls=1, mailbox=2), time=1.0))
    assert (sample.rates, sample.alerts) == ({}, ())  # grew once since the restart, not twice
    same_time = sampler.add(snapshot(node(1, "a#1", calls=3, mailbox=3), time=1.0))
    assert same_time.rates == {}  # no time passed: no rate
    assert [alert.kind for alert in same_time.alerts] == ["mailbox_growing"]


def test_a_mailbox_that_keeps_growing_raises_an_alert() -> None:
    sampler = Sampler(AlertRules(mailbox_length=100, mailbox_samples=3))
    lengths = [50, 80, 120, 150, 200, 190, 250, 300, 400]
    alerts = []
    for second, length in enumerate(lengths):
        sample = sampler.add(snapshot(node(1, "slow#1", mailbox=length), time=float(second)))
        alerts.append([alert.message for alert in sample.alerts])
    message = "mailbox grew at each of the last {} samples, to {} messages"
    assert alerts == [
        [],
        [],
        [message.format(3, 120)],  # (new, so grew from nothing), 80, 120: 3 samples, >= 100
        [message.format(4, 150)],
        [message.format(5, 200)],
        [],  # it shrank
        [],
        [],
        [message.format(3, 400)],  # 250, 300, 400
    ]
    assert sample.alerts == (
        Alert(
            kind="mailbox_growing", id=1, label="slow#1", message=message.format(3, 400), since=8.0
        ),
    )
    lines = format_tree(sample).splitlines()
    assert lines[2].startswith("! slow#1")
    assert lines[-2:] == ["alerts:", "  ! slow#1: " + message.format(3, 400)]


def test_a_growing_mailbox_under_the_threshold_is_no_alert() -> None:
    sampler = Sampler(AlertRules(mailbox_length=11, mailbox_samples=2))
    for second, length in enumerate([1, 5, 10]):
        sample = sampler.add(snapshot(node(1, "a#1", mailbox=length), time=float(second)))
    assert sample.alerts == ()


def storm(time: float, total: int, in_window: int = 0) -> dict[str, Any]:
    info = supervisor_info(restarts_total=total, restarts_in_window=in_window, max_restarts=100)
    return snapshot(node(2, "sup#2", node(3, "w#3"), supervisor=info), time=time)


def test_a_restart_storm_raises_an_alert_within_its_window() -> None:
    sampler = Sampler(AlertRules(restarts=4, restart_window=10.0))
    assert sampler.add(storm(0.0, 10)).alerts == ()  # restarts before the first sample: unknown
    assert sampler.add(storm(5.0, 13)).alerts == ()  # 3 in 5 s
    sample = sampler.add(storm(10.0, 14))  # 4 in the last 10 s
    assert [(alert.label, alert.message) for alert in sample.alerts] == [
        ("sup#2", "4 restarts in the last 10 s")
    ]
    assert format_tree(sample).splitlines()[-1] == "  ! sup#2: 4 restarts in the last 10 s"
    assert sampler.add(storm(16.0, 15)).alerts == ()  # the first two samples left the window
    assert sampler.add(storm(30.0, 15)).alerts == ()


def test_a_supervisor_at_its_restart_limit_raises_an_alert_at_once() -> None:
    info = supervisor_info(restarts_in_window=3, max_restarts=3, max_seconds=5.0)
    tree = snapshot(node(2, "sup#2", node(3, "w#3"), supervisor=info))
    assert format_tree(tree).splitlines()[-2:] == [
        "alerts:",
        "  ! sup#2: at its restart limit: 3 restarts within 5 s; one more crash and it gives up",
    ]


def test_a_long_wait_is_an_alert_on_the_process_waited_on() -> None:
    tree = snapshot(
        node(1, "caller#1"),
        node(2, "busy#2", serving="'work'", serving_since=8.5),
        waits=[wait(1, 2, "'work'", 8.0, 10.0)],
    )
    lines = format_tree(tree).splitlines()
    assert lines[2].startswith("  caller#1")  # waiting is no alert on the caller
    assert lines[3].startswith("! busy#2")
    assert lines[-1] == "  ! busy#2: serving 'work' for 1.5 s; 1 caller waiting (longest 2.0 s)"


def test_alerts_come_in_tree_order_deadlocks_last() -> None:
    sampler = Sampler(AlertRules(mailbox_length=1, mailbox_samples=1, restarts=1))

    def tree(time: float, mailbox: int, restarts: int, cycles: list[list[int]]) -> Any:
        worker = node(3, "w#3", serving="'x'", serving_since=0.0, mailbox=mailbox)
        info = supervisor_info(restarts_total=restarts)
        sup = node(2, "sup#2", worker, supervisor=info)
        return snapshot(sup, node(4, "v#4", mailbox=mailbox), time=time, cycles=cycles)

    sampler.add(tree(0.5, 0, 0, []))
    sample = sampler.add(tree(2.0, 1, 1, [[3, 4]]))
    assert [(alert.kind, alert.id) for alert in sample.alerts] == [
        ("restart_storm", 2),
        ("mailbox_growing", 3),
        ("long_call", 3),
        ("mailbox_growing", 4),
        ("deadlock", 3),
    ]
    lines = format_tree(sample).splitlines()
    assert lines[-1] == "  ! wait-for cycle: w#3 -> v#4 -> w#3"
    assert lines[-5] == "  ! sup#2: 1 restarts in the last 10 s"


def test_sampler_checks_its_rules() -> None:
    with pytest.raises(TypeError, match=r"^expected rules to be a AlertRules, got 'x'$"):
        Sampler("x")  # type: ignore[arg-type]
    assert repr(Sampler()).startswith("<noex_trio.observer.Sampler AlertRules(")


# --------------------------------------------------------------------------- bad snapshots


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("runtime"), r"snapshot\['runtime'\] to be a dict, got nothing"),
        (
            lambda s: s["runtime"].update(time="1"),
            r"snapshot\['runtime'\]\['time'\] to be a number, got '1'",
        ),
        (
            lambda s: s["runtime"]["statistics"].update(crashes=True),
            r"snapshot\['runtime'\]\['statistics'\]\['crashes'\] to be an int, got True",
        ),
        (lambda s: s.update(tree={}), r"snapshot\['tree'\] to be a list, got \{\}"),
        (lambda s: s["tree"].append(3), r"snapshot\['tree'\]\[2\] to be a dict, got 3"),
        (
            lambda s: s["tree"][0]["children"][0]["mailbox"].update(length=None),
            r"snapshot\['tree'\]\[0\]\['children'\]\[0\]\['mailbox'\]\['length'\] to be an int,"
            r" got None",
        ),
        (
            lambda s: s["tree"][1]["mailbox"].update(capacity="inf"),
            r"snapshot\['tree'\]\[1\]\['mailbox'\]\['capacity'\] to be a number or None, got 'inf'",
        ),
        (
            lambda s: s["tree"][1].update(serving=3),
            r"snapshot\['tree'\]\[1\]\['serving'\] to be a str or None, got 3",
        ),
        (
            lambda s: s["tree"][1].update(uptime=math.nan),
            r"snapshot\['tree'\]\[1\]\['uptime'\] to be a number, got nan",
        ),
        (
            lambda s: s["tree"][1].update(names=["a", 1]),
            r"snapshot\['tree'\]\[1\]\['names'\]\[1\] to be a str, got 1",
        ),
        (
            lambda s: s["tree"][0].pop("supervisor"),
            r"snapshot\['tree'\]\[0\]\['supervisor'\] to be a dict or None, got nothing",
        ),
        (
            lambda s: s["tree"][0]["supervisor"].pop("strategy"),
            r"snapshot\['tree'\]\[0\]\['supervisor'\]\['strategy'\] to be a str, got nothing",
        ),
        (
            lambda s: s["waits"].append({"caller": 1}),
            r"snapshot\['waits'\]\[0\]\['target'\] to be an int, got nothing",
        ),
        (
            lambda s: s["cycles"].append([]),
            r"snapshot\['cycles'\]\[0\] to be a non-empty list of process ids, got \[\]",
        ),
        (
            lambda s: s["cycles"].append([1, "2"]),
            r"snapshot\['cycles'\]\[0\]\[1\] to be an int, got '2'",
        ),
    ],
)
def test_a_bad_snapshot_is_refused_naming_the_field(change: Any, message: str) -> None:
    bad = demo_like()
    change(bad)
    with pytest.raises(ValueError, match=rf"^expected {message}$"):
        format_tree(bad)
    sampler = Sampler()
    sampler.add(demo_like(time=5.0, handled=1))
    with pytest.raises(ValueError, match=rf"^expected {message}$"):
        sampler.add(bad)
    # The history is unchanged: the next good sample has its rates.
    assert sampler.add(demo_like(time=6.0, handled=2)).rates[4] == 1.0


def test_fields_the_contract_does_not_name_are_ignored() -> None:
    newer = demo_like()
    newer["version"] = 2
    newer["tree"][1]["colour"] = "blue"
    assert format_tree(newer) == format_tree(demo_like())


def test_subclasses_of_int_and_str_are_read_as_such() -> None:
    class Count(int):
        pass

    class Name(str):
        pass

    odd = demo_like()
    odd["tree"][1]["messages"]["infos"] = Count(7)
    odd["tree"][1]["names"] = [Name("bus")]
    assert format_tree(odd).splitlines()[-1].endswith("7         0  names bus")


def test_not_a_snapshot() -> None:
    message = r"^expected snapshot to be a snapshot dict \(rt.snapshot\(\).to_dict\(\)\), got \[\]$"
    with pytest.raises(TypeError, match=message):
        format_tree([])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=message):
        render_tree([])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=message):
        Sampler().add([])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- render_tree


def test_render_tree_fits_a_narrow_terminal() -> None:
    tree = demo_like(handled=5, mailbox=3)
    tree["tree"][0]["children"][1]["children"][1].update(serving="Order(id=1)", serving_since=1.0)
    text = rendered(render_tree(tree), width=80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert re.fullmatch(r" +Process +Status +Mbox +Msg/s +Msgs +Rst", lines[0])
    assert re.fullmatch(r" +app#2  one_for_one 0/3 in 5 s +running +0 +- +0 +0", lines[2])
    assert re.fullmatch(r"! +├─ order-service#8 +running +3 +- +5 +0", lines[8])
    assert lines[9].strip() == "│     serving Order(id=1) for 9.0 s"
    assert lines[-2:] == ["Alerts", "  ! order-service#8: serving Order(id=1) for 9.0 s"]


def test_render_tree_shows_more_on_a_wide_terminal() -> None:
    sampler = Sampler()
    sampler.add(demo_like(10.0))
    sample = sampler.add(demo_like(11.0, handled=4))
    assert isinstance(sample, Sample)
    text = rendered(render_tree(sample), width=140)
    lines = text.splitlines()
    assert re.fullmatch(
        r" +Process +Behaviour +Status +Mailbox +Msg/s +Calls +Casts +Infos +Restarts", lines[0]
    )
    assert re.search(r"analytics#5 +Analytics +running +0 +8\.0 +0 +8 +0 +0$", text, re.M)


def test_render_tree_lists_waits_and_cycles() -> None:
    tree = snapshot(
        node(1, "a#1"), node(2, "b#2"), waits=[wait(1, 2, "'x'", 9.0, 10.0)], cycles=[[1, 2]]
    )
    text = rendered(render_tree(tree))
    assert text.splitlines()[-7:] == [
        "Waits",
        "  a#1 -> b#2 for 1.0 s: 'x'",
        "Cycles",
        "  a#1 -> b#2 -> a#1",
        "Alerts",
        "  ! b#2: 1 caller waiting (longest 1.0 s)",
        "  ! wait-for cycle: a#1 -> b#2 -> a#1",
    ]


def test_render_tree_without_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)
    with pytest.raises(ImportError, match=r"^the terminal view needs rich: pip install"):
        render_tree(demo_like())
    assert format_tree(demo_like())  # plain text needs nothing


def test_importing_the_observer_imports_no_rich() -> None:
    code = (
        "import sys, noex_trio, noex_trio.observer\n"
        "assert 'rich' not in sys.modules and 'hypercorn' not in sys.modules, sys.modules\n"
    )
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root}  # (this checkout's noex_trio)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
