"""`open_runtime`: a runtime together with its services (the default EventBus).

The runtime (process core) knows nothing of the EventBus nor of how a snapshot reads the
supervisors and buses; this module, above them all, puts them together.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from . import _checks as checks
from ._bus_server import start_default_bus
from ._runtime import Runtime
from ._snapshot import take_snapshot

if TYPE_CHECKING:
    from .cluster import ClusterConfig


def open_runtime(name: str | None = None, *, cluster: ClusterConfig | None = None) -> Runtime:
    """Open a runtime: ``async with open_runtime() as rt: ...``.

    Inside the block the facades (`GenServer`, `Supervisor`, `Registry`, `EventBus`) act on
    `rt`. Leaving it stops every process in reverse start order (each runs
    ``terminate("shutdown")`` within its shutdown budget), then the event buses.

    Args:
        name: a label for logs and the runtime's ``repr``.
        cluster: join this cluster as a node (``rt.node``): refs, names and monitors then
            reach processes of other nodes (docs/guides/cluster.md). None: a runtime on its
            own, which imports and pays nothing for distribution.

    Raises (from the ``async with``):
        MaxRestartsExceededError: a top-level supervisor gave up; the tree was shut down first.
        KeyboardInterrupt, SystemExit: raised in a process, a callback or the body (Ctrl-C);
            the tree was shut down in order first. A second Ctrl-C during that shutdown kills
            the processes still running without ``terminate``.

    If the block is cancelled from outside, the ordered shutdown still runs (shielded, each
    process within its budget; calls made in ``terminate`` still time out) before the
    cancellation propagates.
    """
    if cluster is None:
        return Runtime._create(name, start_default_bus, take_snapshot)
    from . import _groups  # (only a runtime in a cluster imports the NATS client)
    from .cluster import ClusterConfig

    config = checks.instance(cluster, "cluster", ClusterConfig, expected="a ClusterConfig or None")
    return Runtime._create(
        name,
        start_default_bus,
        take_snapshot,
        functools.partial(_groups.open_cluster, config),
    )
