"""What a series of snapshots tells that one snapshot cannot: message rates and alerts.

A dashboard samples the runtime once a second (``rt.snapshot().to_dict()`` in the same
program, ``GET /snapshot.json`` from another one) and hands each snapshot to a `Sampler`. A
rate needs two samples, a mailbox that keeps growing needs several; the sampler keeps just
enough history for them. Everything works on the JSON shape, so it reads the same in-process
and remote.

The alert rules (`AlertRules`, the web dashboard uses the same ones):

- **mailbox**: a process whose mailbox grew in each of the last `mailbox_samples` samples and
  holds more than `mailbox_threshold` messages (it is not keeping up, and falls further
  behind);
- **restarts**: a supervisor that restarted more than `restart_limit` children within the
  last `restart_window` seconds (a restart storm);
- **long call**: a process that has been serving one call for more than `long_call` seconds;
- **cycle**: processes that wait on each other in calls (A calls B calls A): a deadlock, shown
  before the calls time out.

The first two need history, so a single snapshot (``format_tree(snapshot)``) never shows them.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from .. import _checks as checks
from ._parse import NodeView, SnapshotView, parse

AlertKind = Literal["cycle", "restarts", "long-call", "mailbox"]


def _mailbox_samples(value: object) -> int:
    return checks.count(value, "mailbox_samples", minimum=1)


def _mailbox_threshold(value: object) -> int:
    return checks.count(value, "mailbox_threshold")


def _restart_limit(value: object) -> int:
    return checks.count(value, "restart_limit")


def _restart_window(value: object) -> float:
    return checks.seconds(value, "restart_window", inf=False)


def _long_call(value: object) -> float:
    return checks.seconds(value, "long_call")


@attrs.frozen(kw_only=True)
class AlertRules:
    """When the dashboards raise an alert (see the module docstring for the rules).

    Args:
        mailbox_samples: consecutive samples in which a mailbox must have grown (>= 1).
        mailbox_threshold: messages a growing mailbox must hold beyond (>= 0).
        restart_limit: restarts of one supervisor's children tolerated within the window.
        restart_window: the window of `restart_limit`, in seconds.
        long_call: seconds a process may serve one call; ``math.inf`` turns the rule off.

    Raises:
        TypeError, ValueError: an option of the wrong type or out of range.
    """

    mailbox_samples: int = attrs.field(default=5, converter=_mailbox_samples)
    mailbox_threshold: int = attrs.field(default=100, converter=_mailbox_threshold)
    restart_limit: int = attrs.field(default=3, converter=_restart_limit)
    restart_window: float = attrs.field(default=10.0, converter=_restart_window)
    long_call: float = attrs.field(default=5.0, converter=_long_call)


@attrs.frozen
class Alert:
    """Something in the runtime that needs a look.

    Attributes:
        kind: ``"cycle"``, ``"restarts"``, ``"long-call"`` or ``"mailbox"``.
        ids: the processes concerned.
        message: what happens, in a sentence naming them.
    """

    kind: AlertKind
    ids: tuple[int, ...]
    message: str


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


@attrs.define
class _History:
    """What a sampler remembers of one process."""

    handled: int
    mailbox: collections.deque[int]
    restarts: collections.deque[tuple[float, int]]  # supervisors: (time, restarts_total)


class Sampler:
    """Turns successive snapshots of one runtime into `Sample` objects.

    Feed it every snapshot you take, oldest first. If the runtime's clock goes backwards (the
    program at the other end was restarted), the history starts again.
    """

    def __init__(self, rules: AlertRules | None = None) -> None:
        self.rules = AlertRules() if rules is None else checks.instance(rules, "rules", AlertRules)
        self._time: float | None = None
        self._history: dict[int, _History] = {}

    def __repr__(self) -> str:
        return f"<noex_trio.observer.Sampler {self.rules!r}>"

    def add(self, snapshot: Mapping[str, Any]) -> Sample:
        """Parse `snapshot`, remember it, and return it with rates and alerts.

        Raises:
            TypeError, ValueError: `snapshot` is not a snapshot dict (the history is unchanged).
        """
        view = parse(snapshot)
        if self._time is not None and view.time < self._time:
            self._history.clear()
        elapsed = None if self._time is None else view.time - self._time
        self._time = view.time
        rates: dict[int, float] = {}
        history: dict[int, _History] = {}
        for node in view.nodes():
            past = self._history.get(node.id)
            if past is None:
                past = _History(
                    node.handled,
                    collections.deque(maxlen=self.rules.mailbox_samples + 1),
                    collections.deque(),
                )
            elif elapsed:
                rates[node.id] = max(node.handled - past.handled, 0) / elapsed
            past.handled = node.handled
            past.mailbox.append(node.mailbox_length)
            if node.supervisor is not None:
                past.restarts.append((view.time, node.supervisor.restarts_total))
                while past.restarts[0][0] < view.time - self.rules.restart_window:
                    past.restarts.popleft()
            history[node.id] = past
        self._history = history  # processes that are gone are forgotten
        alerts = _alerts(view, self.rules, history)
        return Sample(snapshot, view.time, rates, alerts, view=view)


def _alerts(
    view: SnapshotView, rules: AlertRules, history: dict[int, _History]
) -> tuple[Alert, ...]:
    labels = {node.id: node.label for node in view.nodes()}
    found = [
        Alert("cycle", cycle, f"wait-for cycle (deadlock): {cycle_text(cycle, labels)}")
        for cycle in view.cycles
    ]
    storms, long_calls, mailboxes = [], [], []
    for node in view.nodes():
        past = history[node.id]
        if node.supervisor is not None and len(past.restarts) > 1:
            restarted = node.supervisor.restarts_total - past.restarts[0][1]
            if restarted > rules.restart_limit:
                window = f"{rules.restart_window:g}"
                message = f"{node.label} restarted {restarted} children in the last {window} s"
                storms.append(Alert("restarts", (node.id,), message))
        serving = _serving_for(node, view.time)
        if serving is not None and serving > rules.long_call:
            message = f"{node.label} has been serving one call for {serving:.1f} s: {node.serving}"
            long_calls.append(Alert("long-call", (node.id,), message))
        if _growing(past.mailbox, rules.mailbox_samples, rules.mailbox_threshold):
            message = (
                f"mailbox of {node.label} grew in each of the last {rules.mailbox_samples} "
                f"samples, to {node.mailbox_length} messages"
            )
            mailboxes.append(Alert("mailbox", (node.id,), message))
    return (*found, *storms, *long_calls, *mailboxes)


def _serving_for(node: NodeView, now: float) -> float | None:
    """How long `node` has been serving its current call, if it serves one."""
    if node.serving_since is None:
        return None
    return max(now - node.serving_since, 0.0)


def _growing(lengths: collections.deque[int], samples: int, threshold: int) -> bool:
    """Grew in each of the last `samples` samples (the deque holds `samples` + 1 lengths)."""
    return (
        len(lengths) > samples
        and lengths[-1] > threshold
        and all(a < b for a, b in itertools.pairwise(lengths))
    )


def label_of(labels: Mapping[int, str], pid: int) -> str:
    """The label of process `pid`, or ``#pid`` for one the snapshot does not show."""
    return labels.get(pid, f"#{pid}")


def cycle_text(cycle: tuple[int, ...], labels: Mapping[int, str]) -> str:
    """``a#7 → b#9 → a#7``."""
    names = [label_of(labels, pid) for pid in cycle]
    return " → ".join([*names, names[0]])
