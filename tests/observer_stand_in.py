"""A stand-in for the observer core (``rt.snapshot()``, ``ref.statistics()``) until the
``observer-core`` branch is merged: just enough of the contract's JSON for the web endpoint's
tests. Counts the core does not keep yet (messages, restarts) are zeros. DELETE after merge."""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest
import trio

from noex_trio import ProcessRef, Runtime
from noex_trio._process import DEAD, RUNNING, STARTING, Process
from noex_trio._supervisor_server import SupervisorServer
from noex_trio._task import _TaskServer  # type: ignore[attr-defined]

_STATUS = {STARTING: "starting", RUNNING: "running", 2: "stopping", DEAD: "dead"}


def _kind(proc: Process) -> str:
    behaviour = proc.behaviour
    if isinstance(behaviour, SupervisorServer):
        return "supervisor"
    if isinstance(behaviour, _TaskServer):
        return "task"
    name = type(behaviour).__name__
    if "Bus" in name:
        return "bus"
    return "worker"


def _node(proc: Process, now: float) -> dict[str, Any]:
    behaviour = proc.behaviour
    supervisor = None
    children: list[dict[str, Any]] = []
    if isinstance(behaviour, SupervisorServer):
        children = [_node(child, now) for child in behaviour.procs]
        supervisor = {
            "strategy": behaviour.strategy,
            "children_running": len(behaviour.procs),
            "children_not_running": 0,
            "restarts_in_window": 0,
            "restarts_total": 0,
            "max_restarts": behaviour.intensity.max_restarts,
            "max_seconds": behaviour.intensity.max_seconds,
        }
    stats = proc.send.statistics()
    return {
        "id": proc.id,
        "label": proc.label,
        "kind": _kind(proc),
        "behaviour": type(behaviour).__name__,
        "status": _STATUS[proc.status],
        "mailbox": {
            "length": stats.current_buffer_used,
            "capacity": None if proc.mailbox_size == math.inf else proc.mailbox_size,
        },
        "messages": {"calls": 0, "casts": 0, "infos": 0},
        "started_at": 0.0,
        "uptime": now,
        "restarts": 0,
        "serving": None,
        "serving_since": None,
        "tasks": 0,
        "names": [],
        "supervisor": supervisor,
        "children": children,
    }


class _Snapshot:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        return self.data


def snapshot(rt: Runtime) -> _Snapshot:
    kernel = rt._kernel
    now = trio.current_time()
    root = kernel.root
    tree = [_node(proc, now) for proc in (root.procs if root is not None else ())]
    stats = rt.statistics()
    return _Snapshot(
        {
            "runtime": {
                "name": rt.name,
                "time": now,
                "statistics": {
                    "processes": stats.processes,
                    "registered_names": stats.registered_names,
                    "dead_letters": stats.dead_letters,
                    "crashes": 0,
                    "restarts": 0,
                },
            },
            "tree": tree,
            "waits": [],
            "cycles": [],
        }
    )


@attrs.frozen
class _Stats:
    id: int
    calls: int = 0
    casts: int = 0
    infos: int = 0


def statistics(ref: ProcessRef) -> _Stats:
    return _Stats(ref.id)


@pytest.fixture(autouse=True)
def observer_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(Runtime, "snapshot"):
        monkeypatch.setattr(Runtime, "snapshot", snapshot, raising=False)
    if not hasattr(ProcessRef, "statistics"):
        monkeypatch.setattr(ProcessRef, "statistics", statistics, raising=False)
