"""Lifecycle events as JSON data, the shape the observer contract gives them.

``{"type": "crashed", "id": 3, "label": "worker#3", "reason": "ValueError('boom')",
"time": 12.5}``: `type` is ``"started"``, ``"crashed"``, ``"terminated"`` or ``"restarted"``;
`reason` is the exit reason as the library prints it (None for started and restarted);
`time` is Trio's clock when the event happened.
"""

from __future__ import annotations

from typing import Any

import trio

from .._results import Crashed, LifecycleEvent, Restarted, Started, Terminated
from .._safe_format import describe, describe_reason


def event_to_dict(event: LifecycleEvent) -> dict[str, Any]:
    """The JSON form of `event`, stamped with the current time; never raises an Exception."""
    reason: str | None = None
    kind: str
    if type(event) is Started:
        kind = "started"
    elif type(event) is Crashed:
        kind = "crashed"
        reason = describe_reason(event.error)
    elif type(event) is Terminated:
        kind = "terminated"
        reason = describe_reason(event.reason)
    else:
        assert type(event) is Restarted
        kind = "restarted"
    ref = event.ref
    return {
        "type": kind,
        "id": ref.id,
        "label": describe(ref),
        "reason": reason,
        "time": trio.current_time(),
    }
