"""Refs from ``Supervisor.start_child``/``restart_child`` are typed (issue 12 §4).

A typing case run by ``tests/test_typing.py`` (see ``case_start.py`` for the conventions).
"""

from __future__ import annotations

from typing import assert_type

from noex_trio import (
    ChildSpec,
    DynamicSupervisor,
    GenServer,
    GenServerRef,
    Ignore,
    ProcessRef,
    Supervisor,
    SupervisorRef,
)


class Counter(GenServer[int, str, int, int]):
    def init(self, start: int) -> int:
        return start


class Feature(GenServer[None, str, str, str]):
    def init(self) -> Ignore | None:
        return Ignore()


async def start_counter() -> GenServerRef[str, int, int]:
    return await GenServer.start(Counter, 0)


async def accepted(sup: SupervisorRef) -> None:
    # --8<-- [start:start-child]
    counter = await Supervisor.start_child(sup, Counter.child_spec(0, id="counter"))
    assert_type(counter, GenServerRef[str, int, int])
    again = await Supervisor.restart_child(sup, "counter", Counter)  # checked: runs a Counter
    assert_type(again, GenServerRef[str, int, int])
    # --8<-- [end:start-child]
    assert_type(await Supervisor.restart_child(sup, "counter"), ProcessRef | None)
    assert_type(Counter.child_spec(0), ChildSpec[GenServerRef[str, int, int]])
    template = Counter.child_spec(restart="transient")  # a simple_one_for_one template
    assert_type(template, ChildSpec[GenServerRef[str, int, int]])
    assert_type(await Supervisor.start_child(sup, 1), ProcessRef | None)  # (from a template)
    feature = await Supervisor.start_child(sup, Feature.child_spec())
    assert_type(feature, GenServerRef[str, str, str] | None)  # None: init returned Ignore
    feature = await Supervisor.restart_child(sup, "Feature", Feature)
    assert_type(feature, GenServerRef[str, str, str] | None)
    # A bare ChildSpec starts any child: a ref, or None.
    bare: ChildSpec = Counter.child_spec(0)
    assert_type(await Supervisor.start_child(sup, bare), ProcessRef | None)
    # A spec built by hand takes its type from `start`.
    spec = ChildSpec("counter", start_counter, restart="transient")
    assert_type(spec, ChildSpec[GenServerRef[str, int, int]])
    assert_type(await Supervisor.start_child(sup, spec), GenServerRef[str, int, int])
    subtree = Supervisor.child_spec([spec], id="subtree")
    assert_type(await Supervisor.start_child(sup, subtree), SupervisorRef)
    # Any specs fit a bare `ChildSpec`.
    specs: list[ChildSpec] = [spec, Counter.child_spec(1, id="c1"), subtree]
    await Supervisor.start(specs)
    await Supervisor.start([spec, Feature.child_spec()])
    assert_type(await DynamicSupervisor.start_child(sup, spec), GenServerRef[str, int, int])


async def rejected(sup: SupervisorRef) -> None:
    # E: No overload variant of "__call__" of "ChildSpecOf" matches argument type "str"
    Counter.child_spec("0")  # type: ignore[call-overload]
    # E: Value of type variable "RefT" of "ChildSpec" cannot be "int"
    ChildSpec("bad", start_number)  # type: ignore[type-var]
    counter = await Supervisor.start_child(sup, Counter.child_spec(0))
    # E: Argument 1 to "cast" of "GenServerRef" has incompatible type "str"; expected "int"
    counter.cast("one")  # type: ignore[arg-type]


async def start_number() -> int:
    return 1
