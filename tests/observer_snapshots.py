"""Hand-written snapshot dicts in the contract's JSON shape, for the tree view and dashboards.

`node` and `snapshot` build the shape of ``rt.snapshot().to_dict()`` with defaults, so a test
writes only the figures it is about.
"""

from __future__ import annotations

from typing import Any


def supervisor_info(**fields: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "strategy": "one_for_one",
        "children_running": 0,
        "children_not_running": 0,
        "restarts_in_window": 0,
        "restarts_total": 0,
        "max_restarts": 3,
        "max_seconds": 5.0,
    }
    info.update(fields)
    return info


def node(
    pid: int,
    label: str,
    *children: dict[str, Any],
    kind: str = "worker",
    behaviour: str | None = None,
    mailbox: int = 0,
    capacity: float | None = None,
    calls: int = 0,
    casts: int = 0,
    infos: int = 0,
    supervisor: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A NODE; a node with children (or `supervisor`) is a supervisor."""
    if children or supervisor is not None:
        kind = "supervisor"
        if supervisor is None:
            supervisor = supervisor_info(children_running=len(children))
    stem = label.rpartition("#")[0]
    result: dict[str, Any] = {
        "id": pid,
        "label": label,
        "kind": kind,
        "behaviour": behaviour or ("Supervisor" if kind == "supervisor" else stem.title()),
        "status": "running",
        "mailbox": {"length": mailbox, "capacity": capacity},
        "messages": {"calls": calls, "casts": casts, "infos": infos},
        "started_at": 0.0,
        "uptime": 0.0,  # set by `snapshot`
        "restarts": 0,
        "serving": None,
        "serving_since": None,
        "tasks": 0,
        "names": [],
        "supervisor": supervisor,
        "children": list(children),
    }
    result.update(fields)
    return result


def snapshot(
    *tree: dict[str, Any],
    name: str = "app",
    time: float = 10.0,
    waits: list[dict[str, Any]] | None = None,
    cycles: list[list[int]] | None = None,
    **statistics: int,
) -> dict[str, Any]:
    """A whole snapshot at `time`; `statistics` overrides the runtime's figures."""
    figures = {"processes": 0, "registered_names": 0, "dead_letters": 0, "crashes": 0}
    figures["restarts"] = 0
    figures["processes"] = sum(_count(root) for root in tree)
    figures.update(statistics)
    for root in tree:
        _age(root, time)
    return {
        "runtime": {"name": name, "time": time, "statistics": figures},
        "tree": list(tree),
        "waits": waits or [],
        "cycles": cycles or [],
    }


def wait(caller: int, target: int, message: str, since: float, now: float) -> dict[str, Any]:
    return {
        "caller": caller,
        "target": target,
        "message": message,
        "since": since,
        "waited": now - since,
    }


def _age(node: dict[str, Any], time: float) -> None:
    """Uptimes as at `time` (processes started at their ``started_at``)."""
    node["uptime"] = time - node["started_at"]
    for child in node["children"]:
        _age(child, time)


def _count(root: dict[str, Any]) -> int:
    return 1 + sum(_count(child) for child in root["children"])


def demo_like(time: float = 10.0, *, handled: int = 0, mailbox: int = 0) -> dict[str, Any]:
    """A tree like the demo's: app → (subscribers → email, analytics), (services → ...)."""
    return snapshot(
        node(
            2,
            "app#2",
            node(
                3,
                "subscribers#3",
                node(4, "email#4", casts=handled, names=["email"]),
                node(5, "analytics#5", casts=2 * handled, names=["analytics"]),
            ),
            node(
                6,
                "services#6",
                node(7, "user-service#7", calls=handled, names=["user-service"]),
                node(8, "order-service#8", calls=handled, mailbox=mailbox),
                node(9, "inventory#9", node(10, "inventory-service#10", calls=2 * handled)),
            ),
            names=["app"],
        ),
        node(1, "EventBus#1", kind="bus", behaviour="EventBus", infos=handled),
        time=time,
    )
