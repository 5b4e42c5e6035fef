"""Process groups in a runtime without a cluster (``Groups``, OTP's ``pg``): join, leave,
repeats, removal on exit, dispatch, monitors, bad arguments. ``test_cluster_groups.py``
does the same across nodes."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import trio

from noex_trio import (
    GenServer,
    GenServerRef,
    GroupChange,
    Groups,
    GroupsStatistics,
    RemoteRef,
    Runtime,
    ServerNotRunningError,
    open_runtime,
)
from noex_trio.cluster import NodeId


class Member(GenServer[list[Any], Any, Any, Any]):
    """Joins, leaves and monitors groups on request; keeps the casts and infos it gets."""

    def init(self, seen: list[Any], changed: list[trio.Event] | None = None) -> list[Any]:
        self.changed = changed if changed is not None else []
        return seen

    def handle_call(self, msg: Any, state: list[Any]) -> Any:
        match msg:
            case ("join", group):
                return Groups.join(group), state
            case ("leave", group):
                return Groups.leave(group), state
            case ("monitor", group):
                return Groups.monitor(group), state
            case ("demonitor", group):
                return Groups.demonitor(group), state
            case ("dispatch", group, message):
                return Groups.dispatch(group, message), state
        raise AssertionError(f"unexpected call {msg!r}")

    def handle_cast(self, msg: Any, state: list[Any]) -> list[Any]:
        return self.handle_info(msg, state)

    def handle_info(self, msg: Any, state: list[Any]) -> list[Any]:
        state.append(msg)
        for event in self.changed:
            event.set()
        self.changed.clear()
        return state


async def start_member(seen: list[Any] | None = None) -> GenServerRef[Any, Any, Any]:
    return await GenServer.start(Member, seen if seen is not None else [])


async def test_join_leave_repeats_and_which_groups(rt: Runtime) -> None:
    a, b = await start_member(), await start_member()
    assert Groups.members("g") == []
    assert Groups.which_groups() == []
    await a.call(("join", "g"))
    Groups.join("g", b)
    Groups.join(("g", "sub"), b)
    await a.call(("join", "g"))  # a second time: it must leave twice
    assert Groups.members("g") == [a, b, a]
    assert Groups.local_members("g") == [a, b, a]
    assert Groups.which_groups() == ["g", ("g", "sub")]
    assert await a.call(("leave", "g")) is True
    assert Groups.members("g") == [b, a]
    assert await a.call(("leave", "g")) is True
    assert await a.call(("leave", "g")) is False
    assert Groups.leave(("g", "sub"), b) is True
    assert Groups.leave("other", b) is False
    assert Groups.members("g") == [b]
    assert Groups.which_groups() == ["g"]  # a group exists while it has members
    assert Groups.statistics() == GroupsStatistics(groups=1, local_members=1, remote_members=0)
    Groups.join(1, b)
    Groups.join(b"x", b)
    assert Groups.which_groups() == ["g", 1, b"x"]


async def test_members_leave_every_group_when_they_exit(rt: Runtime) -> None:
    a, b = await start_member(), await start_member()
    for group in ("g", "g", "h"):
        Groups.join(group, a)
    Groups.join("g", b)
    await a.call(("leave", "h"))
    await GenServer.stop(a)
    assert Groups.members("g") == [b]
    assert Groups.which_groups() == ["g"]
    await GenServer.stop(b, "crash")
    assert Groups.which_groups() == []
    # leaving again after the exit: nothing to leave
    assert Groups.leave("g", b) is False
    with pytest.raises(ServerNotRunningError):
        Groups.join("g", b)


async def test_dispatch_casts_to_every_member_and_counts_the_gone(rt: Runtime) -> None:
    seen_a: list[Any] = []
    seen_b: list[Any] = []
    a, b = await start_member(seen_a), await start_member(seen_b)
    Groups.join("g", a)
    Groups.join("g", a)
    Groups.join("g", b)
    assert Groups.dispatch("g", "hi") == 3
    assert await a.call(("dispatch", "g", "again")) == 3  # (from a member itself, too)
    await b.call(("join", "other"))  # (after the casts: they are in)
    assert seen_a == ["hi", "hi", "again", "again"]
    assert seen_b == ["hi", "again"]
    assert Groups.dispatch("nobody", "hi") == 0
    # a member whose bounded mailbox is full is skipped, as a dead letter
    full = await GenServer.start(Member, [], mailbox_size=1)
    Groups.join("full", full)
    Groups.join("full", a)
    dead = rt.statistics().dead_letters
    # (one is handed to the waiting process, one fills its mailbox, the third finds no room)
    assert [Groups.dispatch("full", message) for message in "xyz"] == [2, 2, 1]
    assert rt.statistics().dead_letters == dead + 1


async def test_dispatch_skips_a_member_gone_meanwhile(rt: Runtime) -> None:
    a = await start_member()
    Groups.join("g", a)
    # the member is stopping: it takes no new message, and is still a member until it is gone
    stopping, release = trio.Event(), trio.Event()

    class Slow(GenServer[None, Any, Any, Any]):
        def init(self) -> None:
            Groups.join("g")

        async def terminate(self, reason: Any, state: None) -> None:
            stopping.set()
            await release.wait()

    slow = await GenServer.start(Slow)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(GenServer.stop, slow)
        await stopping.wait()
        dead = rt.statistics().dead_letters
        assert Groups.dispatch("g", "hi") == 1
        assert rt.statistics().dead_letters == dead + 1
        with pytest.raises(ServerNotRunningError):  # (a stopping process joins nothing)
            Groups.join("h", slow)
        release.set()
    assert Groups.members("g") == [a]


async def test_monitor_tells_of_joins_and_leaves(rt: Runtime) -> None:
    seen: list[Any] = []
    changed: list[trio.Event] = []
    watcher = await GenServer.start(Member, seen, changed)
    a = await start_member()
    Groups.join("g", a)
    assert await watcher.call(("monitor", "g")) == [a]
    assert await watcher.call(("monitor", "g")) == [a]  # (once is enough; twice is the same)
    Groups.join("g", a)
    Groups.join("other", a)
    await GenServer.stop(a)
    await watcher.call(("join", "nothing"))  # the notices before it are in
    assert seen == [
        GroupChange("g", joined=(a,)),
        GroupChange("g", left=(a,)),
        GroupChange("g", left=(a,)),
    ]
    assert pickle.loads(pickle.dumps(GroupChange(("g", 1), (watcher,)))) == GroupChange(
        ("g", 1), (watcher,)
    )
    other_seen: list[Any] = []
    other = await GenServer.start(Member, other_seen)
    assert await other.call(("monitor", "g")) == []
    await other.call(("monitor", "h"))
    assert await other.call(("demonitor", "h")) is True  # (still monitoring g)
    assert await watcher.call(("demonitor", "g")) is True  # (other still monitors g)
    assert await watcher.call(("demonitor", "g")) is False
    Groups.join("g", other)
    await other.call(("leave", "nothing"))
    assert other_seen == [GroupChange("g", joined=(other,))]
    b = await start_member()
    Groups.join("g", b)
    await watcher.call(("monitor", "h"))
    await GenServer.stop(watcher)  # its monitors go with it
    Groups.join("h", b)
    assert len(seen) == 3


async def test_bad_arguments(rt: Runtime) -> None:
    a = await start_member()
    for bad in (1.5, None, ["g"], ("g", ["x"]), True, {"g"}):
        with pytest.raises(
            TypeError, match=r"^expected group to be a str, an int, bytes or a tuple of them, got "
        ):
            Groups.join(bad, a)
        with pytest.raises(TypeError, match="expected group"):
            Groups.members(bad)
    deep: Any = "g"
    for _ in range(10):
        deep = (deep,)
    with pytest.raises(TypeError, match="expected group"):
        Groups.join(deep, a)
    with pytest.raises(
        TypeError,
        match=r"^expected ref to be a ProcessRef \(None only inside a process of this "
        r"runtime\), got None$",
    ):
        Groups.join("g")
    with pytest.raises(TypeError, match=r"^expected ref to be a ProcessRef or None, got 'a'$"):
        Groups.join("g", "a")  # type: ignore[arg-type]
    remote = RemoteRef._create(NodeId("n", 1), 1, "x")
    with pytest.raises(
        ValueError, match=r"^expected ref to be a process of this node \(only they join\)"
    ):
        Groups.join("g", remote)
    with pytest.raises(TypeError, match="expected ref"):
        Groups.monitor("g")
    with pytest.raises(TypeError, match="expected ref"):
        Groups.demonitor("g")
    async with open_runtime("other") as other:
        elsewhere = await start_member()
        with pytest.raises(ValueError, match="a process of the current runtime"):
            Groups.join("g", a)
        assert other.processes()
    with pytest.raises(ServerNotRunningError):
        Groups.join("g", elsewhere)
    assert Groups.which_groups() == []  # nothing half-done
    # a ref unpickled where its process is gone: not running
    with pytest.raises(ServerNotRunningError):
        Groups.join("g", pickle.loads(pickle.dumps(elsewhere)))
