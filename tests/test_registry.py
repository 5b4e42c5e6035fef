"""Tests for `noex_trio._registry` and `noex_trio._registry_facade`: SPEC §4."""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, assert_type

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import noex_trio._registry
from noex_trio import (
    AlreadyRegisteredError,
    EventBus,
    GenServer,
    GenServerRef,
    LifecycleEvent,
    NotRegisteredError,
    Registry,
    RegistryEntry,
    RegistryInstance,
    Runtime,
    ServerNotRunningError,
    Supervisor,
    Terminated,
    open_runtime,
)
from noex_trio._registry import key_matches
from noex_trio._topics import parse_pattern, topic_matches

from .conftest import Counter, Echo

Ref = GenServerRef[Any, Any, Any]


# ---------------------------------------------------------------- the name registry


async def test_facade_is_rt_registry(rt: Runtime) -> None:
    ref = await GenServer.start(Counter)
    Registry.register("a", ref)
    assert rt.registry.lookup("a") is ref
    rt.registry.register("b", ref)
    assert Registry.lookup("b") is ref
    assert Registry.whereis("b") is ref
    assert Registry.is_registered("a")
    assert not Registry.is_registered("zzz")
    assert Registry.whereis("zzz") is None
    assert Registry.names() == ["a", "b"]
    assert Registry.count() == 2
    Registry.unregister("a")
    Registry.unregister("a")  # idempotent
    assert Registry.names() == ["b"]
    assert ref.is_running()  # unregistering never stops a process
    assert rt.statistics().registered_names == 1
    assert re.fullmatch(r"<RegistryInstance 'names' keys=unique entries=1>", repr(rt.registry))


async def test_the_runtime_registers_no_names(rt: Runtime) -> None:
    assert Registry.names() == []
    assert Registry.count() == 0


async def test_lookup_errors(rt: Runtime) -> None:
    with pytest.raises(
        NotRegisteredError, match=r"^no process is registered as 'nope' in registry 'names'$"
    ) as info:
        Registry.lookup("nope")
    assert isinstance(info.value, LookupError)
    assert info.value.name == "nope"


async def test_taken_names(rt: Runtime) -> None:
    a = await GenServer.start(Counter, name="a")
    b = await GenServer.start(Counter)
    with pytest.raises(
        AlreadyRegisteredError,
        match=r"^name 'a' is already registered in registry 'names' by a#\d+$",
    ) as info:
        Registry.register("a", b)
    assert info.value.holder is a
    with pytest.raises(AlreadyRegisteredError):
        Registry.register("a", a)  # even the same ref
    assert Registry.lookup("a") is a


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("", ValueError, r"^expected name to be a non-empty str, got ''$"),
        (3, TypeError, r"^expected name to be a non-empty str, got 3$"),
        (None, TypeError, r"^expected name to be a non-empty str, got None$"),
        (b"x", TypeError, r"^expected name to be a non-empty str, got b'x'$"),
    ],
)
async def test_bad_names(rt: Runtime, name: Any, error: type[Exception], message: str) -> None:
    ref = await GenServer.start(Counter)
    with pytest.raises(error, match=message):
        Registry.register(name, ref)
    with pytest.raises(error, match=message):
        Registry.lookup(name)
    with pytest.raises(error, match=message):
        Registry.whereis(name)
    with pytest.raises(error, match=message):
        Registry.unregister(name)


async def test_bad_refs(rt: Runtime) -> None:
    with pytest.raises(TypeError, match=r"^expected ref to be a process ref, got 'x'$"):
        Registry.register("a", "x")  # type: ignore[arg-type]


async def test_register_a_dead_process(rt: Runtime) -> None:
    ref = await GenServer.start(Counter)
    await ref.stop()
    with pytest.raises(ServerNotRunningError, match=r"exit reason: 'normal'"):
        Registry.register("late", ref)
    assert Registry.names() == []


async def test_every_name_of_an_exited_process_is_removed_before_terminated(
    rt: Runtime,
) -> None:
    seen_at_terminated: list[Any] = []

    def on_event(event: LifecycleEvent) -> None:
        if isinstance(event, Terminated):
            seen_at_terminated.append(
                [Registry.whereis(name) for name in ("one", "two", "three")] + [Registry.names()]
            )

    rt.on_lifecycle_event(on_event)
    group = Registry.create(keys="duplicate")
    ref = await GenServer.start(Counter, name="one")
    other = await GenServer.start(Counter, name="other")
    Registry.register("two", ref)
    Registry.register("three", ref)
    group.register("g", ref)
    group.register("g", other)
    with pytest.raises(ValueError, match="bad call"):
        await ref.call("boom")
    assert seen_at_terminated == [[None, None, None, ["other"]]]
    assert Registry.names() == ["other"]
    assert group.lookup_all("g") == [other]
    # the names are free again
    again = await GenServer.start(Counter, name="one")
    Registry.register("two", again)
    assert Registry.lookup("one") is again
    await other.stop()
    assert group.names() == []
    assert group.count() == 0


async def test_name_free_again_after_stop(rt: Runtime) -> None:
    ref = await GenServer.start(Counter, name="svc")
    await GenServer.stop("svc")
    assert Registry.whereis("svc") is None
    new = await GenServer.start(Counter, name="svc")
    assert new is not ref
    assert Registry.lookup("svc") is new


async def test_start_with_taken_name_never_runs_init(rt: Runtime) -> None:
    await GenServer.start(Counter, name="taken")
    behaviour = Echo()
    with pytest.raises(AlreadyRegisteredError):
        await GenServer.start(behaviour, name="taken")
    assert behaviour.seen == []


async def test_unregistered_process_exits_cleanly(rt: Runtime) -> None:
    ref = await GenServer.start(Counter, name="x")
    Registry.register("y", ref)
    Registry.unregister("x")
    Registry.unregister("y")
    await ref.stop()
    assert Registry.count() == 0


# ---------------------------------------------------------------- typed lookup


class Other(GenServer[None, int, int, str]):
    def init(self) -> None:
        return None

    def handle_call(self, msg: int, state: None) -> tuple[str, None]:
        return str(msg), state

    def handle_cast(self, msg: int, state: None) -> None:  # pragma: no cover
        return state


async def test_typed_lookup(rt: Runtime) -> None:
    await GenServer.start(Counter, 41, name="c")
    await GenServer.start(Other, name="o")
    counter = Registry.lookup("c", Counter)
    counter.cast(1)  # mypy checks: Counter's casts are ints
    reply: int = await counter.call("get")  # mypy checks: Counter's replies are ints
    assert reply == 42
    maybe = Registry.whereis("c", Counter)
    assert maybe is counter
    assert Registry.whereis("nothing", Counter) is None
    also: int = await rt.registry.lookup("c", Counter).call("incr")
    assert also == 43
    with pytest.raises(
        TypeError, match=r"^'o' is <GenServerRef o#\d+> running Other, expected Counter$"
    ):
        Registry.lookup("o", Counter)
    with pytest.raises(TypeError, match=r"^'o' is .* expected Counter$"):
        Registry.whereis("o", Counter)
    with pytest.raises(
        TypeError, match=r"^expected expected to be a behaviour class, got 'Counter'$"
    ):
        rt.registry.lookup("o", "Counter")  # type: ignore[call-overload]
    with pytest.raises(NotRegisteredError):
        Registry.lookup("nothing", Counter)


# ---------------------------------------------------------------- duplicate registries


async def test_duplicate_registry(rt: Runtime) -> None:
    behaviours = [Echo(), Echo(), Echo()]
    refs = [await GenServer.start(b) for b in behaviours]
    group = Registry.create(keys="duplicate", name="group")
    assert re.fullmatch(r"<RegistryInstance 'group' keys=duplicate entries=0>", repr(group))
    group.register("topic", refs[1], metadata={"n": 1})
    group.register("topic", refs[0])
    group.register("topic", refs[2], metadata="third")
    group.register("other", refs[0], metadata=0)
    assert group.lookup_all("topic") == [refs[1], refs[0], refs[2]]
    assert group.lookup_all("none") == []
    with pytest.raises(
        AlreadyRegisteredError, match=r"^name 'topic' is already registered in registry 'group'"
    ):
        group.register("topic", refs[0])
    assert group.metadata("topic") == {"n": 1}
    with pytest.raises(NotRegisteredError, match=r"^no process is registered as 'none' in"):
        group.metadata("none")
    group.update_metadata("topic", refs[0], "zero")
    assert group.entries("topic") == [
        RegistryEntry("topic", refs[1], {"n": 1}),
        RegistryEntry("topic", refs[0], "zero"),
        RegistryEntry("topic", refs[2], "third"),
    ]
    with pytest.raises(NotRegisteredError):
        group.update_metadata("other", refs[1], "x")
    with pytest.raises(NotRegisteredError):
        group.update_metadata("none", refs[1], "x")
    assert group.entries("none") == []
    assert group.count() == 4
    assert group.names() == ["topic", "other"]
    assert group.is_registered("other")
    with pytest.raises(
        TypeError,
        match=r"^lookup\('topic'\) needs a unique registry, but registry 'group' has duplicate "
        r"keys; use lookup_all\('topic'\)$",
    ):
        group.lookup("topic")
    with pytest.raises(
        TypeError, match=r"^whereis\('topic'\) needs a unique registry, but registry 'group'"
    ):
        group.whereis("topic")
    with pytest.raises(TypeError, match=r"^expected key to be a hashable value, got \[\]$"):
        group.register([], refs[0])  # type: ignore[arg-type]
    # dispatch casts to each, in registration order
    assert group.dispatch("topic", "hello") == 3
    assert group.dispatch("none", "hello") == 0
    for ref in refs:
        await ref.call("sync")
    for behaviour in behaviours:
        assert ("cast", "hello") in behaviour.seen
    # unregister one ref, then the whole key
    group.unregister("topic", refs[1])
    group.unregister("topic", refs[1])
    assert group.lookup_all("topic") == [refs[0], refs[2]]
    group.unregister("topic")
    assert group.lookup_all("topic") == []
    assert group.names() == ["other"]
    group.register("other", refs[2])
    group.unregister("other", refs[0])
    assert group.count() == 1
    group.unregister("other", refs[2])
    assert group.count() == 0
    # entries of an exited process vanish from every registry
    group.register("k", refs[0])
    Registry.register("zero", refs[0])
    await refs[0].stop()
    assert group.lookup_all("k") == []
    assert Registry.whereis("zero") is None


async def test_dispatch_skips_processes_that_cannot_take_it(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    class Busy(GenServer[int, str, int, int]):
        def init(self) -> int:
            return 0

        async def handle_call(self, msg: str, state: int) -> tuple[int, int]:
            await trio.sleep(10)
            return state, state

        def handle_cast(self, msg: int, state: int) -> int:
            return state + msg

    busy = await GenServer.start(Busy, mailbox_size=1)
    free = await GenServer.start(Counter)
    group = Registry.create(keys="duplicate")
    group.register("all", busy)
    group.register("all", free)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(busy.call, "x", math.inf)
        await trio.testing.wait_all_tasks_blocked()
        busy.cast(1)  # fills its mailbox
        assert group.dispatch("all", 5) == 1
    assert await free.call("get") == 5
    assert await busy.call("get", timeout=math.inf) == 1


async def test_dispatch_skips_processes_that_are_not_gen_servers(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    # A cast would reach a supervisor's or a bus's own handler: dispatch leaves them alone.
    sup = await Supervisor.start()
    bus = await EventBus.start()
    echo = Echo()
    worker = await GenServer.start(echo)
    group = Registry.create(keys="duplicate", name="everyone")
    for ref in (sup, bus, worker):
        group.register("all", ref)
    assert group.dispatch("all", "hello") == 1
    await worker.call("sync")
    assert ("cast", "hello") in echo.seen
    assert sup.is_running()
    assert bus.is_running()
    assert caplog.records == []  # nobody got an unexpected message


async def test_dispatch_skips_a_stopping_process(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    class Slow(GenServer[None, str, str, None]):
        def init(self) -> None:
            return None

        async def handle_call(self, msg: str, state: None) -> tuple[None, None]:
            await trio.sleep(1)
            return None, None

        def handle_cast(self, msg: str, state: None) -> None:
            raise AssertionError("a stopping process got a cast")

    slow = await GenServer.start(Slow)
    echo = Echo()
    other = await GenServer.start(echo)
    group = Registry.create(keys="duplicate")
    group.register("all", slow)
    group.register("all", other)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(slow.call, "busy")
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(slow.stop)
        await trio.testing.wait_all_tasks_blocked()
        assert group.lookup_all("all") == [slow, other]  # still registered, but stopping
        assert group.dispatch("all", "hi") == 1
    await other.call("sync")
    assert ("cast", "hi") in echo.seen


async def test_dispatch_does_not_swallow_other_errors(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(target: object, message: object, *, system: bool = False) -> None:
        raise RuntimeError("bug")

    ref = await GenServer.start(Counter)
    group = Registry.create(keys="duplicate")
    group.register("all", ref)
    monkeypatch.setattr(noex_trio._registry, "cast", broken)
    with pytest.raises(RuntimeError, match=r"^bug$"):
        group.dispatch("all", 1)


async def test_every_registry_has_a_readable_name(rt: Runtime) -> None:
    first, second = Registry.create(), Registry.create(keys="duplicate", name="")
    assert re.fullmatch(r"registry#\d+", first.name)
    assert re.fullmatch(r"registry#\d+", second.name)
    assert first.name != second.name
    assert re.fullmatch(r"<RegistryInstance 'registry#\d+' keys=unique entries=0>", repr(first))
    with pytest.raises(
        NotRegisteredError, match=r"^no process is registered as 'x' in registry 'registry#\d+'$"
    ):
        first.lookup("x")
    with pytest.raises(TypeError, match=r"^lookup\('x'\) needs .* registry 'registry#\d+' has"):
        second.lookup("x")
    assert rt.registry.name == "names"


async def test_typed_lookup_all(rt: Runtime) -> None:
    counters = [await GenServer.start(Counter, 1), await GenServer.start(Counter, 2)]
    group = Registry.create(keys="duplicate")
    for ref in counters:
        group.register("counters", ref)
    typed = group.lookup_all("counters", Counter)
    assert_type(typed, list[GenServerRef[str, int, int]])
    assert [await ref.call("get") for ref in typed] == [1, 2]
    assert group.lookup_all("none", Counter) == []
    group.register("counters", await GenServer.start(Echo()))
    with pytest.raises(TypeError, match=r"^'counters' is <GenServerRef Echo#\d+> running Echo, "):
        group.lookup_all("counters", Counter)


async def test_match_uses_the_event_bus_pattern_grammar(rt: Runtime) -> None:
    refs = [await GenServer.start(Counter) for _ in range(8)]
    registry = Registry.create()
    keys = ["user", "user.1", "user.22", "user.1.avatar", "admin", "a..b", "x*y", "user?"]
    for key, ref in zip(keys, refs, strict=True):
        registry.register(key, ref, metadata=key.upper())

    def keys_of(pattern: str) -> list[str]:
        return [entry.key for entry in registry.match(pattern)]

    assert keys_of("user.*") == ["user.1", "user.22"]  # exactly one more segment
    assert keys_of("user.**") == ["user", "user.1", "user.22", "user.1.avatar"]
    assert keys_of("**.avatar") == ["user.1.avatar"]
    assert keys_of("*.*") == ["user.1", "user.22"]
    assert keys_of("*") == keys  # "*" alone matches everything, as on the EventBus
    assert keys_of("**") == keys
    assert keys_of("a.*.b") == ["a..b"]  # an empty segment is a segment
    assert keys_of("user?") == ["user?"]  # `?` is not special
    assert keys_of("user/1") == []  # nor is `/`
    assert keys_of("admin") == ["admin"]
    assert registry.match("admin") == [RegistryEntry("admin", refs[4], "ADMIN")]
    with pytest.raises(ValueError, match=r"^expected pattern to be a non-empty str, got ''$"):
        registry.match("")
    with pytest.raises(TypeError, match=r"^expected pattern to be a non-empty str, got 3$"):
        registry.match(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^invalid pattern 'x\*y': '\*' must be a whole segment$"):
        registry.match("x*y")
    with pytest.raises(
        ValueError, match=r"^invalid pattern 'user\.\.x': empty segment at position 2$"
    ):
        registry.match("user..x")


async def test_match_lists_every_entry_of_a_key_in_registration_order(rt: Runtime) -> None:
    a, b = [await GenServer.start(Counter) for _ in range(2)]
    group = Registry.create(keys="duplicate")
    group.register("room.2", b, metadata="b2")
    group.register("room.1", a, metadata="a1")
    group.register("room.1", b, metadata="b1")
    assert group.match("room.*") == [
        RegistryEntry("room.2", b, "b2"),
        RegistryEntry("room.1", a, "a1"),
        RegistryEntry("room.1", b, "b1"),
    ]


SEGMENTS = st.sampled_from(["a", "b", "c"])


@settings(deadline=None, max_examples=300)
@given(
    topic=st.lists(SEGMENTS, min_size=1, max_size=5),
    pattern=st.lists(st.sampled_from(["a", "b", "*", "**"]), min_size=1, max_size=5),
)
def test_key_matching_agrees_with_event_bus_topics(topic: list[str], pattern: list[str]) -> None:
    """On keys that are valid topics, `match` selects exactly what an EventBus pattern does."""
    key, text = ".".join(topic), ".".join(pattern)
    assert key_matches(parse_pattern(text), key) == topic_matches(text, key)


async def test_create_validates(rt: Runtime) -> None:
    with pytest.raises(
        ValueError, match=r"^expected keys to be 'unique' or 'duplicate', got 'many'$"
    ):
        Registry.create(keys="many")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected name to be a str, got 3$"):
        Registry.create(name=3)  # type: ignore[arg-type]
    unique = Registry.create()
    assert unique.keys == "unique"
    assert unique is not rt.registry


def test_create_needs_a_runtime() -> None:
    from noex_trio import NoRuntimeError

    with pytest.raises(NoRuntimeError):
        Registry.create()


async def test_registries_are_runtime_scoped() -> None:
    async with open_runtime() as a, open_runtime() as b:
        # the innermost runtime is the current one; each keeps its own names
        ref = await GenServer.start(Counter, name="same")
        assert b.registry.whereis("same") is ref
        assert a.registry.whereis("same") is None


# ---------------------------------------------------------------- property tests


class RegistryModel(RuleBasedStateMachine):
    """`RegistryInstance` (unique and duplicate) against a dict model."""

    refs: ClassVar[list[Ref]] = []

    def __init__(self) -> None:
        super().__init__()
        self.unique = RegistryInstance(keys="unique")
        self.duplicate = RegistryInstance(keys="duplicate")
        self.unique_model: dict[str, Ref] = {}
        self.duplicate_model: dict[str, list[Ref]] = {}

    keys = st.sampled_from(["a", "b", "c", "d"])
    indexes = st.integers(0, 2)

    @rule(key=keys, index=indexes)
    def register_unique(self, key: str, index: int) -> None:
        ref = self.refs[index]
        if key in self.unique_model:
            with pytest.raises(AlreadyRegisteredError):
                self.unique.register(key, ref)
        else:
            self.unique.register(key, ref)
            self.unique_model[key] = ref

    @rule(key=keys)
    def unregister_unique(self, key: str) -> None:
        self.unique.unregister(key)
        self.unique_model.pop(key, None)

    @rule(key=keys, index=indexes, meta=st.integers())
    def register_duplicate(self, key: str, index: int, meta: int) -> None:
        ref = self.refs[index]
        holders = self.duplicate_model.setdefault(key, [])
        if ref in holders:
            with pytest.raises(AlreadyRegisteredError):
                self.duplicate.register(key, ref, meta)
        else:
            self.duplicate.register(key, ref, meta)
            holders.append(ref)
        if not holders:
            del self.duplicate_model[key]

    @precondition(lambda self: bool(self.duplicate_model))
    @rule(data=st.data())
    def unregister_duplicate_ref(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.duplicate_model)))
        index = data.draw(self.indexes)
        ref = self.refs[index]
        self.duplicate.unregister(key, ref)
        holders = self.duplicate_model[key]
        if ref in holders:
            holders.remove(ref)
        if not holders:
            del self.duplicate_model[key]

    @rule(key=keys)
    def unregister_duplicate_key(self, key: str) -> None:
        self.duplicate.unregister(key)
        self.duplicate_model.pop(key, None)

    @invariant()
    def agrees_with_model(self) -> None:
        assert self.unique.names() == list(self.unique_model)
        assert self.unique.count() == len(self.unique_model)
        for key in ("a", "b", "c", "d"):
            assert self.unique.whereis(key) is self.unique_model.get(key)
            assert self.duplicate.lookup_all(key) == self.duplicate_model.get(key, [])
        assert self.duplicate.names() == list(self.duplicate_model)
        assert self.duplicate.count() == sum(map(len, self.duplicate_model.values()))
        # the reverse index agrees too: forgetting a process removes exactly its entries
        for ref in self.refs:
            assert sorted(self.unique.keys_of(ref)) == sorted(
                k for k, v in self.unique_model.items() if v is ref
            )


async def test_registry_state_machine(rt: Runtime) -> None:
    refs = [await GenServer.start(Counter) for _ in range(3)]
    RegistryModel.refs = refs
    try:
        run_state_machine_as_test(
            RegistryModel,
            settings=settings(max_examples=40, stateful_step_count=30, deadline=None),
        )
    finally:
        RegistryModel.refs = []


async def test_forget_process_matches_model(rt: Runtime) -> None:
    """Forgetting a process (its exit) removes exactly its entries, in every key."""
    refs = [await GenServer.start(Counter) for _ in range(3)]

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 2)), max_size=12))
    def check(pairs: list[tuple[str, int]]) -> None:
        registry = RegistryInstance(keys="duplicate")
        model: dict[str, list[Ref]] = {}
        for key, index in pairs:
            ref = refs[index]
            if ref not in model.get(key, []):
                registry.register(key, ref)
                model.setdefault(key, []).append(ref)
        registry._noex_release(refs[0])
        expected = {k: [r for r in v if r is not refs[0]] for k, v in model.items()}
        expected = {k: v for k, v in expected.items() if v}
        assert registry.names() == list(expected)
        for key, holders in expected.items():
            assert registry.lookup_all(key) == holders

    check()
