"""Property test: the registries against a model, with processes that live and die.

``tests/test_registry.py`` already checks `RegistryInstance` as a data structure (a
`RuleBasedStateMachine` over three fixed processes). This one adds what only real processes
do: names taken at start, released by a stop, a crash or a kill (all the names a process
holds, in the runtime registry and in a duplicate-key registry), dispatch reaching the live
holders only. Each example runs in its own ``trio.run``; hypothesis draws the operations.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from noex_trio import (
    AlreadyRegisteredError,
    GenServer,
    GenServerRef,
    NotRegisteredError,
    Registry,
    ServerNotRunningError,
    open_runtime,
)
from noex_trio.testing import crash, kill

Ref = GenServerRef[Any, Any, Any]
NAMES = ["n0", "n1", "n2", "n3"]
SLOTS = 4  # processes are referred to by slot; a slot holds the latest process started in it


class Member(GenServer[int, str, str, int]):
    """Counts the casts it got (``"ping"``); the call ``"count"`` returns the count."""

    def init(self) -> int:
        return 0

    def handle_call(self, msg: str, state: int) -> tuple[int, int]:
        return state, state

    def handle_cast(self, msg: str, state: int) -> int:
        return state + 1


operations = st.lists(
    st.one_of(
        st.tuples(st.just("start"), st.integers(0, SLOTS - 1), st.sampled_from([None, *NAMES])),
        st.tuples(st.sampled_from(["stop", "crash", "kill"]), st.integers(0, SLOTS - 1)),
        st.tuples(st.just("register"), st.integers(0, SLOTS - 1), st.sampled_from(NAMES)),
        st.tuples(st.just("unregister"), st.sampled_from(NAMES)),
        st.tuples(st.just("join"), st.integers(0, SLOTS - 1), st.sampled_from("xy")),
        st.tuples(st.just("leave"), st.integers(0, SLOTS - 1), st.sampled_from("xy")),
        st.tuples(st.just("dispatch"), st.sampled_from("xy")),
    ),
    max_size=30,
)


async def run_example(ops: list[tuple[Any, ...]]) -> None:
    async with open_runtime():
        groups = Registry.create(keys="duplicate", name="groups")
        slots: list[Ref | None] = [None] * SLOTS
        names: dict[str, Ref] = {}  # the model of the runtime registry
        members: dict[str, list[Ref]] = {}  # the model of `groups`, registration order
        pings: dict[Ref, int] = {}
        for op in ops:
            kind = op[0]
            ref = slots[op[1]] if kind not in ("unregister", "dispatch") else None
            alive = ref is not None and ref.is_running()
            if kind == "start":
                name = op[2]
                if name in names:
                    with pytest.raises(AlreadyRegisteredError):
                        await GenServer.start(Member, name=name)
                else:
                    slots[op[1]] = new = await GenServer.start(Member, name=name)
                    pings[new] = 0
                    if name is not None:
                        names[name] = new
            elif kind in ("stop", "crash", "kill"):
                if ref is None:
                    continue
                if kind == "stop":
                    await GenServer.stop(ref)
                elif alive:
                    (crash if kind == "crash" else kill)(ref)
                    await GenServer.wait_exit(ref)
                # every name and membership of the process goes with it
                names = {n: r for n, r in names.items() if r is not ref}
                members = {k: [r for r in v if r is not ref] for k, v in members.items()}
                members = {k: v for k, v in members.items() if v}
            elif kind == "register":
                if ref is None:
                    continue
                if not alive:
                    with pytest.raises(ServerNotRunningError):
                        Registry.register(op[2], ref)
                elif op[2] in names:
                    with pytest.raises(AlreadyRegisteredError):
                        Registry.register(op[2], ref)
                else:
                    Registry.register(op[2], ref)
                    names[op[2]] = ref
            elif kind == "unregister":
                Registry.unregister(op[1])  # idempotent, never stops the process
                names.pop(op[1], None)
            elif kind == "join":
                if ref is None or not alive:
                    continue
                if ref in members.get(op[2], []):
                    with pytest.raises(AlreadyRegisteredError):
                        groups.register(op[2], ref)
                else:
                    groups.register(op[2], ref, metadata=op[1])
                    members.setdefault(op[2], []).append(ref)
            elif kind == "leave":
                if ref is None:
                    continue
                groups.unregister(op[2], ref)
                if ref in members.get(op[2], []):
                    members[op[2]].remove(ref)
                    if not members[op[2]]:
                        del members[op[2]]
            else:
                assert kind == "dispatch"
                assert groups.dispatch(op[1], "ping") == len(members.get(op[1], []))
                for member in members.get(op[1], []):
                    pings[member] += 1

            # -- the registries agree with the model --
            await trio.testing.wait_all_tasks_blocked()
            assert sorted(Registry.names()) == sorted(names)
            assert Registry.count() == len(names)
            for name in NAMES:
                assert Registry.whereis(name) is names.get(name)
                assert Registry.is_registered(name) == (name in names)
                if name not in names:
                    with pytest.raises(NotRegisteredError):
                        Registry.lookup(name)
            for ref in names.values():
                assert ref.is_running()
            for key in "xy":
                assert groups.lookup_all(key) == members.get(key, [])
            for ref, count in pings.items():  # dispatch reached exactly the live members
                if ref.is_running():
                    assert await ref.call("count") == count


@settings(max_examples=150, deadline=None)
@given(ops=operations)
def test_registries_agree_with_the_model_as_processes_come_and_go(
    ops: list[tuple[Any, ...]],
) -> None:
    trio.run(run_example, ops, clock=trio.testing.MockClock(autojump_threshold=0))
