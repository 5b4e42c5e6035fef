"""The snapshot's JSON shape as typed values, checked before it is trusted.

The tree view and the dashboards read the dict of ``rt.snapshot().to_dict()``, which may have
come from another program (``GET /snapshot.json``). They parse it first: a missing field or a
field of the wrong type raises `ValueError` naming where it is
(``expected snapshot['tree'][0]['mailbox']['length'] to be an int, got '3'``), so a bad
document fails in one place with one message instead of deep inside a renderer. Fields the
contract does not name are ignored: a newer server still works.

The shape (see ``docs/guides/observer-terminal.md``)::

    {"runtime": {"name", "time", "statistics": {"processes", "registered_names",
                 "dead_letters", "crashes", "restarts"}},
     "tree": [NODE, ...], "waits": [{"caller", "target", "message", "since", "waited"}],
     "cycles": [[id, ...], ...]}

This module imports only the value modules of the package: no rich, no Trio.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, Final, NoReturn

import attrs

from .. import _checks as checks


@attrs.frozen
class SupervisorView:
    """The ``"supervisor"`` part of a supervisor's node."""

    strategy: str
    children_running: int
    children_not_running: int
    restarts_in_window: int
    restarts_total: int
    max_restarts: int
    max_seconds: float


@attrs.frozen
class NodeView:
    """One process of the tree (a ``NODE`` of the JSON)."""

    id: int
    label: str
    kind: str
    behaviour: str
    status: str
    mailbox_length: int
    mailbox_capacity: float  # math.inf when unbounded (null in the JSON)
    calls: int
    casts: int
    infos: int
    started_at: float
    uptime: float
    restarts: int
    serving: str | None
    serving_since: float | None
    tasks: int
    names: tuple[str, ...]
    supervisor: SupervisorView | None
    children: tuple[NodeView, ...]

    @property
    def handled(self) -> int:
        """Messages handled so far, of every kind."""
        return self.calls + self.casts + self.infos


@attrs.frozen
class WaitView:
    """A process waiting in a call: `caller` waits on `target` since `since`."""

    caller: int
    target: int
    message: str
    since: float
    waited: float


@attrs.frozen
class SnapshotView:
    """A whole snapshot: the runtime's figures, the tree, the waits and the wait-for cycles."""

    name: str
    time: float
    processes: int
    registered_names: int
    dead_letters: int
    crashes: int
    restarts: int
    tree: tuple[NodeView, ...]
    waits: tuple[WaitView, ...]
    cycles: tuple[tuple[int, ...], ...]

    def nodes(self) -> Iterator[NodeView]:
        """Every node, depth first, in the tree's order."""
        stack = list(reversed(self.tree))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


class _Missing:
    def __repr__(self) -> str:
        return "nothing"


MISSING: Final = _Missing()
SNAPSHOT: Final = "a snapshot dict (rt.snapshot().to_dict())"


def parse(snapshot: object) -> SnapshotView:
    """Check `snapshot` (the JSON dict) and return it as typed values.

    Raises:
        TypeError: `snapshot` is not a mapping.
        ValueError: a field is missing or has the wrong type.
    """
    if not isinstance(snapshot, Mapping):
        raise checks.type_error("snapshot", SNAPSHOT, snapshot)
    p = _Path(None, "snapshot")
    runtime = p.mapping(snapshot, "runtime")
    rp = p / "runtime"
    stats = rp.mapping(runtime, "statistics")
    sp = rp / "statistics"
    return SnapshotView(
        name=rp.string(runtime, "name"),
        time=rp.number(runtime, "time"),
        processes=sp.integer(stats, "processes"),
        registered_names=sp.integer(stats, "registered_names"),
        dead_letters=sp.integer(stats, "dead_letters"),
        crashes=sp.integer(stats, "crashes"),
        restarts=sp.integer(stats, "restarts"),
        tree=tuple(_node(item, p / "tree" / i) for i, item in p.items(snapshot, "tree")),
        waits=tuple(_wait(item, p / "waits" / i) for i, item in p.items(snapshot, "waits")),
        cycles=tuple(_cycle(item, p / "cycles" / i) for i, item in p.items(snapshot, "cycles")),
    )


def _node(value: object, p: _Path) -> NodeView:
    node = p.check_mapping(value)
    mailbox = p.mapping(node, "mailbox")
    messages = p.mapping(node, "messages")
    mp, gp = p / "mailbox", p / "messages"
    supervisor = node.get("supervisor", MISSING)
    names_at = p / "names"
    names = [names_at.check_str(name, i) for i, name in p.items(node, "names")]
    return NodeView(
        id=p.integer(node, "id"),
        label=p.string(node, "label"),
        kind=p.string(node, "kind"),
        behaviour=p.string(node, "behaviour"),
        status=p.string(node, "status"),
        mailbox_length=mp.integer(mailbox, "length"),
        mailbox_capacity=_capacity(mailbox, mp),
        calls=gp.integer(messages, "calls"),
        casts=gp.integer(messages, "casts"),
        infos=gp.integer(messages, "infos"),
        started_at=p.number(node, "started_at"),
        uptime=p.number(node, "uptime"),
        restarts=p.integer(node, "restarts"),
        serving=p.optional_text(node, "serving"),
        serving_since=p.optional_number(node, "serving_since"),
        tasks=p.integer(node, "tasks"),
        names=tuple(names),
        supervisor=None if supervisor is None else _supervisor(supervisor, p / "supervisor"),
        children=tuple(_node(item, p / "children" / i) for i, item in p.items(node, "children")),
    )


def _capacity(mailbox: Mapping[str, Any], p: _Path) -> float:
    capacity = p.optional_number(mailbox, "capacity")
    return math.inf if capacity is None else capacity


def _supervisor(value: object, p: _Path) -> SupervisorView:
    sup = p.check_mapping(value, "a dict or None")
    return SupervisorView(
        strategy=p.string(sup, "strategy"),
        children_running=p.integer(sup, "children_running"),
        children_not_running=p.integer(sup, "children_not_running"),
        restarts_in_window=p.integer(sup, "restarts_in_window"),
        restarts_total=p.integer(sup, "restarts_total"),
        max_restarts=p.integer(sup, "max_restarts"),
        max_seconds=p.number(sup, "max_seconds"),
    )


def _wait(value: object, p: _Path) -> WaitView:
    wait = p.check_mapping(value)
    return WaitView(
        caller=p.integer(wait, "caller"),
        target=p.integer(wait, "target"),
        message=p.string(wait, "message"),
        since=p.number(wait, "since"),
        waited=p.number(wait, "waited"),
    )


def _cycle(value: object, p: _Path) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        p.fail(None, "a non-empty list of process ids", value)
    return tuple(p.check_int(pid, i) for i, pid in enumerate(value))


class _Path:
    """Where a value is in the document (``snapshot['tree'][0]``), for the error messages.

    The text is built only for an error: a big snapshot has hundreds of thousands of fields,
    and its parse must stay cheap (the dashboards parse one every second).
    """

    __slots__ = ("key", "parent")

    def __init__(self, parent: _Path | None, key: str | int) -> None:
        self.parent = parent
        self.key = key

    @property
    def text(self) -> str:
        if self.parent is None:
            return str(self.key)
        return f"{self.parent.text}[{self.key!r}]"

    def __truediv__(self, key: str | int) -> _Path:
        return _Path(self, key)

    def fail(self, key: str | int | None, expected: str, value: object) -> NoReturn:
        where = self if key is None else self / key
        raise checks.value_error(where.text, expected, value)

    def check_mapping(self, value: object, expected: str = "a dict") -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(None, expected, value)
        return value

    def check_int(self, value: object, key: str | int | None = None) -> int:
        if type(value) is int:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, "an int", value)
        return int(value)

    def check_str(
        self, value: object, key: str | int | None = None, expected: str = "a str"
    ) -> str:
        if type(value) is str:
            return value
        if not isinstance(value, str):
            self.fail(key, expected, value)
        return str(value)

    def check_number(
        self, value: object, key: str | int | None = None, expected: str = "a number"
    ) -> float:
        if type(value) is float and value == value:  # (not NaN)
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            self.fail(key, expected, value)
        return float(value)

    def mapping(self, obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = obj.get(key, MISSING)
        if not isinstance(value, Mapping):
            self.fail(key, "a dict", value)
        return value

    def items(self, obj: Mapping[str, Any], key: str) -> Iterator[tuple[int, object]]:
        value = obj.get(key, MISSING)
        if not isinstance(value, list):
            self.fail(key, "a list", value)
        return enumerate(value)

    def integer(self, obj: Mapping[str, Any], key: str) -> int:
        return self.check_int(obj.get(key, MISSING), key)

    def string(self, obj: Mapping[str, Any], key: str) -> str:
        return self.check_str(obj.get(key, MISSING), key)

    def number(self, obj: Mapping[str, Any], key: str) -> float:
        return self.check_number(obj.get(key, MISSING), key)

    def optional_text(self, obj: Mapping[str, Any], key: str) -> str | None:
        value = obj.get(key, MISSING)
        return None if value is None else self.check_str(value, key, "a str or None")

    def optional_number(self, obj: Mapping[str, Any], key: str) -> float | None:
        value = obj.get(key, MISSING)
        return None if value is None else self.check_number(value, key, "a number or None")
