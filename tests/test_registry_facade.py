"""`Registry` (the facade over ``rt.registry``) offers every query an instance has."""

from __future__ import annotations

import inspect
from typing import assert_type

import pytest

from noex_trio import (
    GenServer,
    GenServerRef,
    NotRegisteredError,
    ProcessRef,
    Registry,
    RegistryEntry,
    RegistryInstance,
    Runtime,
    Supervisor,
)

from .conftest import Counter, Echo


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(getattr(cls, name))
        for name in dir(cls)
        if not name.startswith("_") and callable(getattr(cls, name))
    }


def test_the_facade_has_every_method_of_an_instance_with_the_same_parameters() -> None:
    instance = public_methods(RegistryInstance)
    facade = public_methods(Registry)
    # the facade's own: more registries, and registry processes
    own = {"create", "start", "child_spec", "lookup_registry", "whereis_registry", "stop"}
    assert set(facade) == set(instance) | own
    for name, signature in instance.items():
        params = [(p.name, p.default) for p in signature.parameters.values()][1:]  # no self
        names = [name.replace("key", "name") for name, _ in params]
        defaults = [default for _, default in params]
        facade_params = facade[name].parameters.values()
        assert [p.name for p in facade_params] == names, name
        assert [p.default for p in facade_params] == defaults, name


async def test_facade_queries(rt: Runtime) -> None:
    counter = await GenServer.start(Counter, 7)
    echo = Echo()
    worker = await GenServer.start(echo)
    Registry.register("svc.counter", counter, metadata={"version": 1})
    Registry.register("svc.echo", worker)
    assert Registry.metadata("svc.counter") == {"version": 1}
    assert Registry.metadata("svc.echo") is None
    Registry.update_metadata("svc.counter", counter, {"version": 2})
    assert Registry.entries("svc.counter") == [
        RegistryEntry("svc.counter", counter, {"version": 2})
    ]
    assert Registry.entries("none") == []
    assert Registry.lookup_all("svc.echo") == [worker]
    assert Registry.lookup_all("none") == []
    typed = Registry.lookup_all("svc.counter", Counter)
    assert_type(typed, list[GenServerRef[str, int, int]])
    assert [await ref.call("get") for ref in typed] == [7]
    assert [entry.key for entry in Registry.match("svc.*")] == ["svc.counter", "svc.echo"]
    assert Registry.dispatch("svc.echo", "hi") == 1
    assert Registry.dispatch("none", "hi") == 0
    await worker.call("sync")
    assert ("cast", "hi") in echo.seen
    with pytest.raises(NotRegisteredError, match=r"^no process is registered as 'svc\.echo' in"):
        Registry.update_metadata("svc.echo", counter, "x")
    Registry.unregister("svc.echo", counter)  # only if `counter` holds it: it does not
    assert Registry.is_registered("svc.echo")
    Registry.unregister("svc.echo", worker)
    assert not Registry.is_registered("svc.echo")


async def test_facade_dispatch_skips_a_supervisor(rt: Runtime) -> None:
    await Supervisor.start(name="sup")
    assert Registry.dispatch("sup", "hi") == 0


async def test_facade_typed_lookups(rt: Runtime) -> None:
    await GenServer.start(Counter, 3, name="counter")
    ref = Registry.lookup("counter", Counter)
    assert_type(ref, GenServerRef[str, int, int])
    maybe = Registry.whereis("counter", Counter)
    assert_type(maybe, GenServerRef[str, int, int] | None)
    untyped = Registry.lookup("counter")
    assert_type(untyped, ProcessRef)
    assert ref is maybe is untyped
