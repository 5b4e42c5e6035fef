"""What a series of snapshots tells that one snapshot cannot: message rates and alerts.

A dashboard samples the runtime once a second (``rt.snapshot().to_dict()`` in the same
program, ``GET /snapshot.json`` from another one) and hands each snapshot to a `Sampler`. A
rate needs two samples, a mailbox that keeps growing needs several; the sampler keeps what
they need. Everything works on the JSON shape, so it reads the same in-process and remote.

The alerts are the web dashboard's (`AlertWatch`, with its `AlertRules`): a mailbox growing
without bound, a restart storm, a long call, a wait-for cycle. The sampler checks the snapshot
first (`parse`), so the rules only ever see a well-formed document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .. import _checks as checks
from ._alerts import Alert, AlertRules, AlertWatch
from ._parse import SnapshotView, parse


@attrs.frozen
class Sample:
    """One snapshot with what the samples before it add: message rates and alerts.

    Made by `Sampler.add`; the tree view and the dashboards draw it.

    Attributes:
        snapshot: the snapshot dict, as given.
        time: the runtime's clock when it was taken (``trio.current_time()`` over there).
        rates: messages handled per second since the previous sample, by process id (only
            processes present in both).
        alerts: the alerts that hold at this sample, most serious first.
    """

    snapshot: Mapping[str, Any] = attrs.field(repr=False)
    time: float
    rates: Mapping[int, float]
    alerts: tuple[Alert, ...]
    _view: SnapshotView = attrs.field(repr=False, alias="view")

    @property
    def message_rate(self) -> float | None:
        """Messages handled per second by the whole runtime; None for a first sample."""
        return sum(self.rates.values()) if self.rates else None


class Sampler:
    """Turns successive snapshots of one runtime into `Sample` objects.

    Feed it every snapshot you take, oldest first. If the runtime's clock goes backwards (the
    program at the other end was restarted), the history starts again.

    Args:
        rules: when to raise alerts (default `AlertRules()`).
    """

    def __init__(self, rules: AlertRules | None = None) -> None:
        self.rules = AlertRules() if rules is None else checks.instance(rules, "rules", AlertRules)
        self._watch = AlertWatch(self.rules)
        self._time: float | None = None
        self._handled: dict[int, int] = {}

    def __repr__(self) -> str:
        return f"<noex_trio.observer.Sampler {self.rules!r}>"

    def add(self, snapshot: Mapping[str, Any]) -> Sample:
        """Check `snapshot`, remember it, and return it with rates and alerts.

        Raises:
            TypeError, ValueError: `snapshot` is not a snapshot dict (the history is unchanged).
        """
        view = parse(snapshot)
        if self._time is not None and view.time < self._time:
            self._handled.clear()
            self._watch = AlertWatch(self.rules)
        elapsed = None if self._time is None else view.time - self._time
        self._time = view.time
        handled = {node.id: node.handled for node in view.nodes()}
        rates: dict[int, float] = {}
        if elapsed:
            for pid, count in handled.items():
                before = self._handled.get(pid)
                if before is not None:
                    rates[pid] = max(count - before, 0) / elapsed
        self._handled = handled  # processes that are gone are forgotten
        alerts = tuple(self._watch.check(snapshot))  # type: ignore[arg-type]  # (any Mapping)
        return Sample(snapshot, view.time, rates, alerts, view=view)


def label_of(labels: Mapping[int, str], pid: int) -> str:
    """The label of process `pid`, or ``#pid`` for one the snapshot does not show."""
    return labels.get(pid, f"#{pid}")


def cycle_text(cycle: tuple[int, ...], labels: Mapping[int, str]) -> str:
    """``a#7 -> b#9 -> a#7``."""
    names = [label_of(labels, pid) for pid in cycle]
    return " -> ".join([*names, names[0]])
