"""Alerts: simple rules over successive snapshots, for the dashboards.

An `AlertWatch` is fed one snapshot (the JSON form, ``rt.snapshot().to_dict()``) per sample
and says which rules fire now. The rules are deliberately plain, so that an operator can tell
why an alert is on:

- ``mailbox_growing``: a mailbox holds at least `AlertRules.mailbox_length` messages and grew
  at each of the last `AlertRules.mailbox_samples` samples (a consumer that cannot keep up);
- ``restart_storm``: a supervisor restarted at least `AlertRules.restarts` children within the
  last `AlertRules.restart_window` seconds, or it is at its own intensity limit (one more
  crash within its ``max_seconds`` and it gives up);
- ``long_call``: a process has been serving one call, or a caller has waited on it, for at
  least `AlertRules.long_call` seconds (one alert per process, however many callers wait);
- ``deadlock``: processes wait on each other in a cycle (the snapshot's ``cycles``): their
  calls can only end by timing out.

Time is the snapshot's own (``runtime.time``, Trio's clock), so the rules are tested on a
virtual clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any, Literal

import attrs

from .. import _checks as checks

AlertKind = Literal["mailbox_growing", "restart_storm", "long_call", "deadlock"]


def _mailbox_length(value: int) -> int:
    return checks.count(value, "mailbox_length", minimum=1)


def _mailbox_samples(value: int) -> int:
    return checks.count(value, "mailbox_samples", minimum=1)


def _restarts(value: int) -> int:
    return checks.count(value, "restarts", minimum=1)


def _restart_window(value: float) -> float:
    return checks.seconds(value, "restart_window", inf=False)


def _long_call(value: float) -> float:
    return checks.seconds(value, "long_call", inf=False)


@attrs.frozen(kw_only=True)
class AlertRules:
    """The thresholds of the dashboards' alerts (see the module docstring for the rules).

    Args:
        mailbox_length: the shortest mailbox that may be reported as growing.
        mailbox_samples: how many consecutive samples it must have grown at.
        restarts: restarts by one supervisor that make a storm ...
        restart_window: ... within this many seconds.
        long_call: seconds a call may be served (or waited on) before it is reported.

    Raises:
        TypeError, ValueError: a threshold of the wrong type, or not > 0.
    """

    mailbox_length: int = attrs.field(default=100, converter=_mailbox_length)
    mailbox_samples: int = attrs.field(default=5, converter=_mailbox_samples)
    restarts: int = attrs.field(default=3, converter=_restarts)
    restart_window: float = attrs.field(default=10.0, converter=_restart_window)
    long_call: float = attrs.field(default=1.0, converter=_long_call)

    def to_dict(self) -> dict[str, Any]:
        """The thresholds as JSON data (the web dashboard shows them)."""
        return attrs.asdict(self)


@attrs.frozen(kw_only=True)
class Alert:
    """One rule firing for one process (or one wait-for cycle).

    Attributes:
        kind: ``"mailbox_growing"``, ``"restart_storm"``, ``"long_call"`` or ``"deadlock"``.
        id: the process concerned (for a deadlock, the first process of the cycle).
        label: its label (``worker#12``).
        message: one line for a human.
        since: when the condition was first seen (Trio's clock), as long as it held since.
    """

    kind: AlertKind
    id: int
    label: str
    message: str
    since: float

    def to_dict(self) -> dict[str, Any]:
        """The alert as JSON data."""
        return attrs.asdict(self)


def walk(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every node of a snapshot tree, parents before their children."""
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node["children"]))


class _Mailbox:
    """What the growth rule remembers of one process: its last length, how long it grew."""

    __slots__ = ("grew", "length")

    def __init__(self, length: int) -> None:
        self.length = length
        self.grew = 0


class AlertWatch:
    """The alert rules applied to a series of snapshots (one `AlertWatch` per series).

    It keeps what the rules need from earlier samples: mailbox lengths, supervisors' restart
    totals over the restart window, and when each alert first fired.
    """

    def __init__(self, rules: AlertRules | None = None) -> None:
        self.rules = rules if rules is not None else AlertRules()
        self._mailboxes: dict[int, _Mailbox] = {}
        self._restarts: dict[int, deque[tuple[float, int]]] = {}
        self._since: dict[tuple[str, int], float] = {}

    def check(self, snapshot: dict[str, Any]) -> list[Alert]:
        """Feed one snapshot; the alerts that hold now, in tree order (deadlocks last)."""
        now: float = snapshot["runtime"]["time"]
        labels: dict[int, str] = {}
        found: list[tuple[AlertKind, int, str]] = []
        mailboxes: dict[int, _Mailbox] = {}
        restarts: dict[int, deque[tuple[float, int]]] = {}
        waits = _waits_by_target(snapshot["waits"])
        for node in walk(snapshot["tree"]):
            pid: int = node["id"]
            labels[pid] = node["label"]
            message = self._mailbox(node, mailboxes)
            if message is not None:
                found.append(("mailbox_growing", pid, message))
            supervisor = node["supervisor"]
            if supervisor is not None:
                message = self._storm(pid, supervisor, now, restarts)
                if message is not None:
                    found.append(("restart_storm", pid, message))
            message = self._long_call(node, waits.get(pid), now)
            if message is not None:
                found.append(("long_call", pid, message))
        self._mailboxes = mailboxes
        self._restarts = restarts
        for cycle in snapshot["cycles"]:
            path = " -> ".join(labels.get(pid, f"#{pid}") for pid in [*cycle, cycle[0]])
            found.append(("deadlock", cycle[0], f"wait-for cycle: {path}"))
        since: dict[tuple[str, int], float] = {}
        alerts = []
        for kind, pid, message in found:
            key = (kind, pid)
            first = since[key] = self._since.get(key, now)
            label = labels.get(pid, f"#{pid}")
            alerts.append(Alert(kind=kind, id=pid, label=label, message=message, since=first))
        self._since = since
        return alerts

    def _mailbox(self, node: dict[str, Any], seen: dict[int, _Mailbox]) -> str | None:
        length: int = node["mailbox"]["length"]
        previous = self._mailboxes.get(node["id"])
        if length == 0 and previous is None:
            return None  # the common case: nothing to remember
        state = seen[node["id"]] = _Mailbox(length)
        # (A process not remembered had an empty mailbox, or is new: it grew from nothing.)
        if previous is None:
            state.grew = 1
        elif length > previous.length:
            state.grew = previous.grew + 1
        rules = self.rules
        if length >= rules.mailbox_length and state.grew >= rules.mailbox_samples:
            return f"mailbox grew at each of the last {state.grew} samples, to {length} messages"
        return None

    def _storm(
        self,
        pid: int,
        supervisor: dict[str, Any],
        now: float,
        seen: dict[int, deque[tuple[float, int]]],
    ) -> str | None:
        rules = self.rules
        total: int = supervisor["restarts_total"]
        history = seen[pid] = self._restarts.get(pid) or deque()
        history.append((now, total))
        while history[0][0] < now - rules.restart_window:
            history.popleft()
        recent = total - history[0][1]  # since the oldest sample within the window
        if recent >= rules.restarts:
            return f"{recent} restarts in the last {rules.restart_window:g} s"
        limit: int = supervisor["max_restarts"]
        if limit > 0 and supervisor["restarts_in_window"] >= limit:
            return (
                f"at its restart limit: {supervisor['restarts_in_window']} restarts within "
                f"{supervisor['max_seconds']:g} s; one more crash and it gives up"
            )
        return None

    def _long_call(
        self, node: dict[str, Any], waits: list[dict[str, Any]] | None, now: float
    ) -> str | None:
        limit = self.rules.long_call
        parts = []
        since = node["serving_since"]
        if since is not None and now - since >= limit:
            parts.append(f"serving {node['serving']} for {now - since:.1f} s")
        if waits:
            longest = max(wait["waited"] for wait in waits)
            if longest >= limit:
                callers = len(waits)
                parts.append(
                    f"{callers} caller{'s' if callers > 1 else ''} waiting "
                    f"(longest {longest:.1f} s)"
                )
        return "; ".join(parts) or None


def _waits_by_target(waits: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    by_target: dict[int, list[dict[str, Any]]] = {}
    for wait in waits:
        by_target.setdefault(wait["target"], []).append(wait)
    return by_target
