"""Supervision across nodes: `RemoteChild.child_spec` places a supervisor's child on a node.

The supervisor supervises a small local process, the child's *stand-in*: it starts the
behaviour on a node chosen by the placement (``GenServer.start_on``), links to it, forwards
calls and casts to it, and exits with the child's exit reason — ``"noconnection"`` when the
child's node dies. So the supervisor needs nothing new: its strategy, restart types and restart
intensity apply as to any child, and a restart of the stand-in places the child again, on a
node that is up. When the supervisor stops the child, the stand-in stops the remote process.

Placement (`Placement`): the candidate nodes (a list, or every node up), in an order given by
``"first"`` (the first one up in the list), ``"round_robin"`` (the next one after the last
used) or ``"least_loaded"`` (the fewest processes, asked of each). Candidates that are down or
do not offer the behaviour are skipped; when none can start it, the start fails (and counts
against the supervisor's restart intensity).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from contextlib import suppress
from typing import Any, Final, Literal, TypeAlias, final

import attrs

from . import _checks as checks
from ._child_spec import ChildSpec, Restart, Shutdown
from ._context import current_kernel
from ._exceptions import NoexError, ServerNotRunningError, UnknownBehaviourError
from ._gen_server import GenServer
from ._links import Exit
from ._process import ProcessRef
from ._refs import GenServerRef
from ._results import ExitReason, NoReply, Stop

Strategy: TypeAlias = Literal["first", "round_robin", "least_loaded"]
_STRATEGIES: Final = ("first", "round_robin", "least_loaded")


def _nodes(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    expected = "a list of node names, or None"
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise checks.type_error("nodes", expected, value)
    names = tuple(checks.name(name, "a node name") for name in value)
    if not names:
        raise checks.value_error("nodes", "a non-empty list of node names, or None", value)
    return names


def _strategy(value: object) -> Strategy:
    if value not in _STRATEGIES:
        raise checks.value_error("strategy", "'first', 'round_robin' or 'least_loaded'", value)
    return value


@final
@attrs.frozen
class Placement:
    """Where a remote child may run, and in which order the nodes are tried.

    Attributes:
        nodes: the candidate node names, or None for every node up (this one included).
        strategy: ``"first"`` (in the order of `nodes`), ``"round_robin"`` (each start
            begins after the node used last), ``"least_loaded"`` (the node running the fewest
            processes first).
    """

    nodes: tuple[str, ...] | None = attrs.field(default=None, converter=_nodes)
    strategy: Strategy = attrs.field(default="first", converter=_strategy)
    _turn: itertools.count[int] = attrs.field(factory=itertools.count, init=False, eq=False)


async def _candidates(placement: Placement) -> list[str]:
    """The node names to try, in order."""
    node = current_kernel().runtime.node
    if node is None:
        raise NoexError("a remote child needs a runtime in a cluster (open_runtime(cluster=...))")
    up = {member.name for member in node.members()} | {node.name}
    names = [name for name in placement.nodes or sorted(up) if name in up]
    if placement.strategy == "round_robin" and names:
        shift = next(placement._turn) % len(names)
        names = names[shift:] + names[:shift]
    elif placement.strategy == "least_loaded":
        distribution: Any = current_kernel().distribution
        loads = {name: await distribution.load(name) for name in names}
        names.sort(key=lambda name: loads[name])
    return names


@attrs.define
class _State:
    ref: ProcessRef
    node: str


class _StandIn(GenServer[_State, Any, Any, Any]):
    """The local process a supervisor supervises for a child that runs on another node."""

    owns_tasks = True  # calls are forwarded by tasks: the stand-in never waits on one

    async def init(
        self, behaviour: str, args: tuple[Any, ...], name: str | None, placement: Placement
    ) -> _State:
        from .cluster import NoConnectionError  # (a runtime in a cluster has it loaded)

        failures: list[str] = []
        for candidate in await _candidates(placement):
            try:
                ref = await GenServer.start_on(candidate, behaviour, *args, name=name)
            except (UnknownBehaviourError, NoConnectionError) as error:
                failures.append(f"{candidate}: {error}")
                continue
            assert ref is not None
            GenServer.link(ref)
            GenServer.set_label(f"{behaviour}@{candidate}")
            return _State(ref, candidate)
        raise NoexError(
            f"no node could start {behaviour!r}: " + ("; ".join(failures) or "no candidate is up")
        )

    def handle_call(self, msg: Any, state: _State) -> NoReply[_State]:
        GenServer.nursery().start_soon(_forward, GenServer.caller(), state.ref, msg)
        return NoReply(state)

    def handle_cast(self, msg: Any, state: _State) -> _State:
        with suppress(ServerNotRunningError):  # its exit is on its way: the stand-in follows
            GenServer.cast(state.ref, msg)
        return state

    def handle_info(self, msg: Any, state: _State) -> Stop[_State] | _State:
        if isinstance(msg, Exit):  # (it is linked to its child only)
            return Stop(msg.reason, state)  # the child's exit is the stand-in's
        return state

    async def terminate(self, reason: ExitReason, state: _State) -> None:
        if state.ref.is_running():
            with suppress(ServerNotRunningError):  # its node went down: nothing left to stop
                await GenServer.stop(state.ref, reason)


async def _forward(caller: Any, ref: ProcessRef, msg: Any) -> None:
    try:
        value = await GenServer.call(ref, msg, math.inf)
    except Exception as error:
        caller.fail(error)
    else:
        caller.reply(value)


@final
class RemoteChild:
    """Children of a supervisor that run on other nodes (see the module docstring)."""

    def __init__(self) -> None:  # pragma: no cover - a namespace
        raise TypeError("RemoteChild is a namespace: use RemoteChild.child_spec(...)")

    @staticmethod
    def child_spec(
        behaviour: str,
        *args: Any,
        id: str,
        placement: Placement | None = None,
        name: str | None = None,
        restart: Restart = "permanent",
        shutdown: Shutdown = 5.0,
    ) -> ChildSpec[GenServerRef[Any, Any, Any]]:
        """A `ChildSpec` whose child runs the behaviour a node offers under the name
        `behaviour` (``ClusterConfig.behaviours``), on a node chosen by `placement`.

        The supervisor's child is the local stand-in: call and cast it as the child (it
        forwards), ``RemoteChild.which(ref)`` gives the child's `RemoteRef` and node. When the
        child exits (or its node dies: ``"noconnection"``), the stand-in exits with the same
        reason, and the supervisor restarts it by its rules — on a node that is up.

        Args:
            behaviour: the name the nodes offer it under.
            *args: ``init``'s arguments there.
            id: the child id.
            placement: the candidate nodes and strategy (default: every node up, in name
                order, this one included).
            name: register the child under this name on the node it runs on.
            restart, shutdown: as for any `ChildSpec` (`shutdown` is the stand-in's: it stops
                the remote child within it).
        """
        checks.name(behaviour, "behaviour")
        if name is not None:
            checks.name(name, "name")
        where = (
            Placement() if placement is None else checks.instance(placement, "placement", Placement)
        )

        async def start() -> GenServerRef[Any, Any, Any]:
            ref = await GenServer.start(_StandIn, behaviour, args, name, where, trap_exit=True)
            assert ref is not None
            return ref

        return ChildSpec(id, start, restart=restart, shutdown=shutdown)

    @staticmethod
    async def which(stand_in: ProcessRef) -> tuple[ProcessRef, str]:
        """The child a stand-in runs for, and its node: ``(ref, node name)``."""
        state = await GenServer.get_state(stand_in)
        if not isinstance(state, _State):
            raise TypeError(f"expected the ref of a remote child, got {stand_in!r}")
        return state.ref, state.node
