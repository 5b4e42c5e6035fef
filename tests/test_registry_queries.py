"""Registry keys of any hashable type, and the queries on metadata (Elixir's ``select``,
``match``, ``count_match``, ``unregister_match``, ``keys``, ``values``): issue 12 §3."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from noex_trio import (
    AlreadyRegisteredError,
    GenServer,
    GenServerRef,
    NotInProcessError,
    NotRegisteredError,
    Registry,
    RegistryEntry,
    RegistryInstance,
    Runtime,
    ServerNotRunningError,
)

from .conftest import Counter, Echo

Ref = GenServerRef[Any, Any, Any]


class Boom(Exception):
    pass


class BadHash:
    """A key whose ``__hash__`` raises."""

    def __hash__(self) -> int:
        raise Boom("hash")


class BadEq:
    """A key that hashes (all to the same value) but whose ``==`` raises."""

    def __hash__(self) -> int:
        return 7

    def __eq__(self, other: object) -> bool:
        raise Boom("eq")


class Flaky:
    """A key that behaves until told to raise from ``__hash__`` and ``==``."""

    broken = False

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __hash__(self) -> int:
        if self.broken:
            raise Boom("hash now")
        return 11

    def __eq__(self, other: object) -> bool:
        if self.broken:
            raise Boom("eq now")
        return isinstance(other, Flaky) and other.tag == self.tag

    def __repr__(self) -> str:
        return f"Flaky({self.tag!r})"


class Mutable:
    """A key whose hash changes with its value (a bug in user code, as with a dict)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __hash__(self) -> int:
        return hash(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mutable) and other.value == self.value


async def started(count: int) -> list[Ref]:
    return [await GenServer.start(Counter, i) for i in range(count)]


# ---------------------------------------------------------------- keys of any type


async def test_keys_of_any_hashable_type(rt: Runtime) -> None:
    a, b, c = await started(3)
    users = Registry.create(name="users")
    users.register(("user", 42), a, metadata="alice")
    users.register(7, b)
    users.register(frozenset({"x"}), c)
    assert users.lookup(("user", 42)) is a
    assert users.whereis(7) is b
    assert users.is_registered(frozenset({"x"}))
    assert users.metadata(("user", 42)) == "alice"
    assert users.names() == [("user", 42), 7, frozenset({"x"})]
    assert users.entries(("user", 42)) == [RegistryEntry(("user", 42), a, "alice")]
    # Python's equality decides: 7 and 7.0 are the same key
    with pytest.raises(
        AlreadyRegisteredError, match=r"^name 7\.0 is already registered in registry 'users' by"
    ):
        users.register(7.0, c)
    # "" and None are keys like any other in such a registry
    users.register("", c)
    users.register(None, c)
    assert users.lookup(None) is c
    users.unregister(("user", 42))
    assert users.whereis(("user", 42)) is None
    with pytest.raises(
        NotRegisteredError, match=r"^no process is registered as \('user', 42\) in registry"
    ):
        users.lookup(("user", 42))


async def test_duplicate_registry_with_tuple_keys(rt: Runtime) -> None:
    a, b = await started(2)
    rooms = Registry.create(keys="duplicate", name="rooms")
    rooms.register(("room", 1), a, metadata="admin")
    rooms.register(("room", 1), b, metadata="user")
    assert rooms.lookup_all(("room", 1)) == [a, b]
    assert rooms.dispatch(("room", 1), 5) == 2
    assert await a.call("get") == 5
    rooms.update_metadata(("room", 1), b, "moderator")
    assert [entry.metadata for entry in rooms.entries(("room", 1))] == ["admin", "moderator"]
    await a.stop()
    assert rooms.lookup_all(("room", 1)) == [b]


async def test_the_name_registry_keeps_string_names(rt: Runtime) -> None:
    ref = await GenServer.start(Counter)
    message = r"^expected name to be a non-empty str, got \('user', 42\)$"
    with pytest.raises(TypeError, match=message):
        Registry.register(("user", 42), ref)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=message):
        rt.registry.register(("user", 42), ref)
    with pytest.raises(TypeError, match=r"^expected name to be a non-empty str or a Via, got"):
        await GenServer.start(Counter, name=("user", 42))  # type: ignore[call-overload, call-arg]
    assert Registry.names() == []


class StrName(str):
    pass


async def test_a_str_subclass_is_a_plain_name(rt: Runtime) -> None:
    ref = await GenServer.start(Counter, name=StrName("svc"))
    assert Registry.names() == ["svc"]
    assert type(Registry.names()[0]) is str
    assert Registry.lookup("svc") is ref
    assert await GenServer.call(StrName("svc"), "get") == 0  # a target, too


#: An unhashable key (typed Any: mypy refuses a list where a Hashable is expected).
LIST: Any = [1]

UNHASHABLE_CALLS: list[tuple[str, Callable[[RegistryInstance, Ref], object]]] = [
    ("register", lambda reg, ref: reg.register(LIST, ref)),
    ("unregister", lambda reg, ref: reg.unregister(LIST)),
    ("lookup", lambda reg, ref: reg.lookup(LIST)),
    ("whereis", lambda reg, ref: reg.whereis(LIST)),
    ("lookup_all", lambda reg, ref: reg.lookup_all(LIST)),
    ("entries", lambda reg, ref: reg.entries(LIST)),
    ("metadata", lambda reg, ref: reg.metadata(LIST)),
    ("is_registered", lambda reg, ref: reg.is_registered(LIST)),
    ("update_metadata", lambda reg, ref: reg.update_metadata(LIST, ref, 0)),
    ("dispatch", lambda reg, ref: reg.dispatch(LIST, "m")),
    ("match_metadata", lambda reg, ref: reg.match_metadata(LIST, bool)),
    ("count_match", lambda reg, ref: reg.count_match(LIST, bool)),
    ("unregister_match", lambda reg, ref: reg.unregister_match(LIST, bool, ref=ref)),
    ("values", lambda reg, ref: reg.values(LIST, ref)),
]


@pytest.mark.parametrize("keys", ["unique", "duplicate"])
@pytest.mark.parametrize(
    ("method", "operation"), UNHASHABLE_CALLS, ids=[c[0] for c in UNHASHABLE_CALLS]
)
async def test_unhashable_keys_are_refused_clearly(
    rt: Runtime, keys: Any, method: str, operation: Callable[[RegistryInstance, Ref], object]
) -> None:
    ref = await GenServer.start(Counter)
    registry = Registry.create(keys=keys)
    registry.register("k", ref)
    with pytest.raises(TypeError, match=r"^expected key to be a hashable value, got \[1\]$"):
        operation(registry, ref)
    # a tuple holding a list cannot be hashed either
    with pytest.raises(TypeError, match=r"^expected key to be a hashable value, got \(1, \[\]\)$"):
        registry.register((1, []), ref)
    assert registry.names() == ["k"]
    assert registry.keys_of(ref) == ["k"]


async def test_a_key_whose_hash_raises_changes_nothing(rt: Runtime) -> None:
    ref = await GenServer.start(Counter)
    registry = Registry.create()
    registry.register("k", ref)
    for operation in (
        lambda: registry.register(BadHash(), ref),
        lambda: registry.lookup(BadHash()),
        lambda: registry.whereis(BadHash()),
        lambda: registry.unregister(BadHash()),
        lambda: registry.lookup_all(BadHash()),
    ):
        with pytest.raises(Boom, match=r"^hash$"):
            operation()
    assert registry.names() == ["k"]
    assert registry.count() == 1
    assert registry.keys_of(ref) == ["k"]


async def test_a_key_whose_eq_raises_changes_nothing(rt: Runtime) -> None:
    a, b = await started(2)
    for keys in ("unique", "duplicate"):
        registry = Registry.create(keys=keys)
        first = BadEq()
        registry.register(first, a)  # alone under its hash: == is never asked
        assert registry.whereis(first) is a if keys == "unique" else True
        with pytest.raises(Boom, match=r"^eq$"):
            registry.register(BadEq(), b)  # same hash: == is asked, and raises
        assert registry.count() == 1
        assert registry.keys_of(a) == [first]
        assert registry.keys_of(b) == []
        assert registry.lookup_all(first) == [a]
        registry.unregister(first)  # found by identity: == is not asked
        assert registry.names() == []
        registry.register(first, a)
    await a.stop()  # the exit releases the key without asking == either
    await b.stop()


async def test_a_key_that_breaks_later_never_breaks_an_exit(rt: Runtime) -> None:
    a, b = await started(2)
    registry = Registry.create(keys="duplicate")
    left, right = Flaky("left"), Flaky("right")  # same hash, different keys
    registry.register(left, a)
    registry.register(right, a)
    registry.register(right, b)
    Flaky.broken = True
    try:
        with pytest.raises(Boom, match=r"^hash now$"):
            registry.unregister(right, a)  # the error reaches the caller; nothing changed
        assert registry.count() == 3
        await a.stop()  # its exit still releases both keys (removing `left` raises: kept empty)
        assert a.exit_reason == "normal"
        assert registry.keys_of(a) == []
        assert registry.keys_of(b) == [right]
        assert registry.count() == 1
        assert registry.names() == [right]  # the empty slot of `left` is skipped
        assert [entry.key for entry in registry.select(lambda entry: True)] == [right]
    finally:
        Flaky.broken = False
    assert registry.lookup_all(left) == []
    assert not registry.is_registered(left)
    registry.register(left, b)  # the kept slot is used again
    assert registry.lookup_all(left) == [b]
    assert registry.names() == [left, right]


async def test_a_mutated_key_is_still_released_at_exit(rt: Runtime) -> None:
    ref = await GenServer.start(Counter)
    registry = Registry.create()
    key = Mutable(1)
    registry.register(key, ref)
    key.value = 2  # its hash changed: a lookup by value no longer finds it (as in a dict)
    assert registry.whereis(Mutable(2)) is None
    assert registry.keys_of(ref) == [key]
    await ref.stop()
    assert registry.keys_of(ref) == []
    assert registry.count() == 0
    assert registry.names() == []


async def test_match_selects_str_keys_only(rt: Runtime) -> None:
    a, b = await started(2)
    registry = Registry.create(keys="duplicate")
    registry.register("room.lobby", a)
    registry.register(("room", "lobby"), b)
    registry.register(3, b)
    assert [entry.key for entry in registry.match("*")] == ["room.lobby"]
    assert [entry.key for entry in registry.match("room.**")] == ["room.lobby"]
    assert registry.match("nothing") == []


# ---------------------------------------------------------------- select


async def make_rooms() -> tuple[RegistryInstance, list[Ref]]:
    """Three processes in a duplicate-key registry (not a fixture: pytest would keep the refs
    alive past the leak check)."""
    a, b, c = await started(3)
    rooms = Registry.create(keys="duplicate", name="rooms")
    rooms.register(("room", "lobby"), a, metadata="admin")
    rooms.register(("room", "lobby"), b, metadata="user")
    rooms.register(("room", "games"), b, metadata="admin")
    rooms.register("hall", c)
    return rooms, [a, b, c]


async def test_select(rt: Runtime) -> None:
    registry, (a, b, c) = await make_rooms()
    admins = registry.select(lambda entry: entry.metadata == "admin")
    assert admins == [
        RegistryEntry(("room", "lobby"), a, "admin"),
        RegistryEntry(("room", "games"), b, "admin"),
    ]
    assert [entry.key for entry in registry.select(lambda entry: entry.ref is b)] == [
        ("room", "lobby"),
        ("room", "games"),
    ]
    everything = registry.select(lambda entry: True)
    assert [(entry.key, entry.ref) for entry in everything] == [
        (("room", "lobby"), a),
        (("room", "lobby"), b),
        (("room", "games"), b),
        ("hall", c),
    ]
    assert registry.select(lambda entry: False) == []
    assert registry.count_select(lambda entry: entry.metadata == "admin") == 2
    assert registry.count_select(lambda entry: isinstance(entry.key, tuple)) == 3
    assert registry.count_select(lambda entry: 0) == 0  # truthiness, as in `filter`


async def test_select_with_a_predicate_that_raises_changes_nothing(rt: Runtime) -> None:
    registry, _ = await make_rooms()

    def predicate(entry: RegistryEntry) -> bool:
        if entry.key == "hall":
            raise Boom("predicate")
        return True

    with pytest.raises(Boom, match=r"^predicate$"):
        registry.select(predicate)
    with pytest.raises(Boom, match=r"^predicate$"):
        registry.count_select(predicate)
    assert registry.count() == 4


async def test_a_predicate_may_change_the_registry(rt: Runtime) -> None:
    registry, (_, _, c) = await make_rooms()
    seen: list[Any] = []

    def predicate(entry: RegistryEntry) -> bool:
        seen.append(entry.key)
        registry.unregister(("room", "games"))  # gone from the registry, not from this call
        registry.register(("new", len(seen)), c)
        return True

    assert len(registry.select(predicate)) == 4  # the entries when the call began
    assert seen == [("room", "lobby"), ("room", "lobby"), ("room", "games"), "hall"]
    assert not registry.is_registered(("room", "games"))
    assert registry.keys_of(c) == ["hall", ("new", 1), ("new", 2), ("new", 3), ("new", 4)]


@pytest.mark.parametrize("bad", [None, 3, "x"])
async def test_predicates_must_be_callable(rt: Runtime, bad: Any) -> None:
    registry, (a, _, _) = await make_rooms()
    message = rf"^expected predicate to be callable, got {re.escape(repr(bad))}$"
    for operation in (
        lambda: registry.select(bad),
        lambda: registry.count_select(bad),
        lambda: registry.match_metadata(("room", "lobby"), bad),
        lambda: registry.count_match(("room", "lobby"), bad),
        lambda: registry.unregister_match(("room", "lobby"), bad, ref=a),
    ):
        with pytest.raises(TypeError, match=message):
            operation()
    assert registry.count() == 4


# ---------------------------------------------------------------- match_metadata, count_match


async def test_match_metadata_and_count_match(rt: Runtime) -> None:
    registry, (a, b, _) = await make_rooms()
    lobby = ("room", "lobby")
    assert registry.match_metadata(lobby, lambda role: role == "user") == [
        RegistryEntry(lobby, b, "user")
    ]
    assert registry.match_metadata(lobby, lambda role: True) == registry.entries(lobby)
    assert registry.match_metadata(("room", "none"), lambda role: True) == []
    assert registry.count_match(lobby, lambda role: role in ("admin", "user")) == 2
    assert registry.count_match(lobby, lambda role: role == "nobody") == 0
    assert registry.count_match(("room", "none"), lambda role: True) == 0

    def raises(role: str) -> bool:
        raise Boom("predicate")

    with pytest.raises(Boom):
        registry.match_metadata(lobby, raises)
    with pytest.raises(Boom):
        registry.count_match(lobby, raises)
    assert registry.lookup_all(lobby) == [a, b]


# ---------------------------------------------------------------- unregister_match


async def test_unregister_match_removes_only_the_callers_entry(rt: Runtime) -> None:
    registry, (a, b, _) = await make_rooms()
    lobby = ("room", "lobby")
    echo = Echo()
    member = await GenServer.start(echo)
    registry.register(lobby, member, metadata="user")

    def leave_if(predicate: Callable[[Any], object]) -> Callable[[Any], Any]:
        def handler(state: Any) -> Any:
            return registry.unregister_match(lobby, predicate), state

        return handler

    assert await member.call(leave_if(lambda role: role == "admin")) == 0  # it is a user
    assert registry.lookup_all(lobby) == [a, b, member]
    assert await member.call(leave_if(lambda role: role == "user")) == 1  # b (a user) stays
    assert registry.lookup_all(lobby) == [a, b]
    assert await member.call(leave_if(lambda role: True)) == 0  # nothing left to remove
    assert registry.keys_of(member) == []


async def test_unregister_match_outside_a_process_takes_a_ref(rt: Runtime) -> None:
    registry, (a, b, _) = await make_rooms()
    lobby = ("room", "lobby")
    with pytest.raises(
        NotInProcessError,
        match=r"^RegistryInstance\.unregister_match\(\) can only be used inside a process "
        r"\(or pass ref= to say whose entry to remove\)$",
    ):
        registry.unregister_match(lobby, lambda role: True)

    def raises(role: str) -> bool:
        raise Boom("predicate")

    with pytest.raises(Boom):
        registry.unregister_match(lobby, raises, ref=a)
    assert registry.lookup_all(lobby) == [a, b]
    assert registry.unregister_match(lobby, lambda role: role == "user", ref=a) == 0
    assert registry.unregister_match(lobby, lambda role: role == "admin", ref=a) == 1
    assert registry.lookup_all(lobby) == [b]
    assert registry.keys_of(a) == []
    assert registry.unregister_match(("room", "none"), lambda role: True, ref=a) == 0
    with pytest.raises(TypeError, match=r"^expected ref to be a process ref, got 'a'$"):
        registry.unregister_match(lobby, lambda role: True, ref="a")  # type: ignore[arg-type]


async def test_a_predicate_that_removes_the_entry_itself(rt: Runtime) -> None:
    registry, (a, b, _) = await make_rooms()
    lobby = ("room", "lobby")

    def predicate(role: str) -> bool:
        registry.unregister(lobby, a)
        return True

    assert registry.unregister_match(lobby, predicate, ref=a) == 0  # already gone
    assert registry.lookup_all(lobby) == [b]


# ---------------------------------------------------------------- keys_of, values


async def test_keys_of_and_values(rt: Runtime) -> None:
    registry, (a, b, c) = await make_rooms()
    assert registry.keys_of(b) == [("room", "lobby"), ("room", "games")]
    assert registry.keys_of(c) == ["hall"]
    assert registry.values(("room", "lobby"), b) == ["user"]
    assert registry.values("hall", c) == [None]  # registered without metadata
    assert registry.values("hall", a) == []  # not registered there
    assert registry.values(("room", "none"), a) == []
    registry.unregister(("room", "lobby"), b)
    assert registry.keys_of(b) == [("room", "games")]
    await b.stop()
    assert registry.keys_of(b) == []
    with pytest.raises(TypeError, match=r"^expected ref to be a process ref, got 3$"):
        registry.keys_of(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected ref to be a process ref, got 3$"):
        registry.values("hall", 3)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the facade


async def test_the_facade_queries_the_name_registry(rt: Runtime) -> None:
    a, b = await started(2)
    Registry.register("svc.a", a, metadata={"version": 1})
    Registry.register("svc.b", b, metadata={"version": 2})
    Registry.register("svc.a2", a)
    assert Registry.select(lambda entry: entry.ref is a) == [
        RegistryEntry("svc.a", a, {"version": 1}),
        RegistryEntry("svc.a2", a, None),
    ]
    assert Registry.count_select(lambda entry: entry.metadata is not None) == 2
    assert Registry.match_metadata("svc.b", lambda meta: meta["version"] == 2) == [
        RegistryEntry("svc.b", b, {"version": 2})
    ]
    assert Registry.count_match("svc.b", lambda meta: meta["version"] == 1) == 0
    assert Registry.keys_of(a) == ["svc.a", "svc.a2"]
    assert Registry.values("svc.a", a) == [{"version": 1}]
    assert Registry.values("svc.a", b) == []
    assert Registry.unregister_match("svc.a", lambda meta: True, ref=b) == 0  # not b's
    assert Registry.unregister_match("svc.a", lambda meta: meta["version"] == 1, ref=a) == 1
    assert Registry.names() == ["svc.b", "svc.a2"]
    with pytest.raises(TypeError, match=r"^expected key to be a non-empty str, got 1$"):
        Registry.values(1, a)  # type: ignore[arg-type]


# ---------------------------------------------------------------- a closed registry


async def test_a_closed_registry_refuses_every_method(rt: Runtime) -> None:
    ref = await GenServer.start(Counter)
    await Registry.start(name="sessions")
    registry = Registry.lookup_registry("sessions")
    registry.register("k", ref)
    await Registry.stop("sessions", "shutdown")
    assert ref.is_running()  # its entry is gone, the process runs on
    assert repr(registry) == "<RegistryInstance 'sessions' keys=unique closed>"
    calls: list[Callable[[], object]] = [
        lambda: registry.register("k", ref),
        lambda: registry.unregister("k"),
        lambda: registry.update_metadata("k", ref, 1),
        lambda: registry.unregister_match("k", bool, ref=ref),
        lambda: registry.lookup("k"),
        lambda: registry.whereis("k"),
        lambda: registry.lookup_all("k"),
        lambda: registry.entries("k"),
        lambda: registry.metadata("k"),
        lambda: registry.is_registered("k"),
        registry.names,
        registry.count,
        lambda: registry.match("*"),
        lambda: registry.dispatch("k", 1),
        lambda: registry.select(bool),
        lambda: registry.count_select(bool),
        lambda: registry.match_metadata("k", bool),
        lambda: registry.count_match("k", bool),
        lambda: registry.keys_of(ref),
        lambda: registry.values("k", ref),
    ]
    for operation in calls:
        with pytest.raises(
            ServerNotRunningError, match=r"^'sessions' is not running \(exit reason: 'shutdown'\)$"
        ):
            operation()


# ---------------------------------------------------------------- properties


class QueriesModel(RuleBasedStateMachine):
    """A duplicate-key registry with tuple keys against a list of (key, ref, metadata)."""

    refs: ClassVar[list[Ref]] = []

    def __init__(self) -> None:
        super().__init__()
        self.registry = RegistryInstance(keys="duplicate", str_keys=False)
        self.model: list[tuple[Any, Ref, int]] = []  # in registration order
        self.key_order: list[Any] = []  # keys with entries, by when they got their first

    def forget_empty_keys(self) -> None:
        held = {key for key, _, _ in self.model}
        self.key_order = [key for key in self.key_order if key in held]

    keys = st.sampled_from([("a", 1), ("a", 2), 3, "b"])
    indexes = st.integers(0, 2)

    @rule(key=keys, index=indexes, meta=st.integers(0, 3))
    def register(self, key: Any, index: int, meta: int) -> None:
        ref = self.refs[index]
        if any(k == key and r is ref for k, r, _ in self.model):
            with pytest.raises(AlreadyRegisteredError):
                self.registry.register(key, ref, meta)
        else:
            self.registry.register(key, ref, meta)
            self.model.append((key, ref, meta))
            if key not in self.key_order:
                self.key_order.append(key)

    @rule(key=keys, index=indexes, limit=st.integers(0, 3))
    def unregister_match(self, key: Any, index: int, limit: int) -> None:
        ref = self.refs[index]
        removed = self.registry.unregister_match(key, lambda meta: meta <= limit, ref=ref)
        kept = [e for e in self.model if not (e[0] == key and e[1] is ref and e[2] <= limit)]
        assert removed == len(self.model) - len(kept)
        self.model = kept
        self.forget_empty_keys()

    @rule(key=keys)
    def unregister(self, key: Any) -> None:
        self.registry.unregister(key)
        self.model = [e for e in self.model if e[0] != key]
        self.forget_empty_keys()

    @invariant()
    def queries_agree_with_the_model(self) -> None:
        by_key = sorted(self.model, key=lambda e: self.key_order.index(e[0]))  # (stable)
        expected = [RegistryEntry(*e) for e in by_key]
        assert self.registry.select(lambda entry: True) == expected
        assert self.registry.count_select(lambda entry: entry.metadata >= 2) == len(
            [e for e in self.model if e[2] >= 2]
        )
        for ref in self.refs:
            assert self.registry.keys_of(ref) == [k for k, r, _ in self.model if r is ref]
            for key in ("a", 1), ("a", 2), 3, "b":
                assert self.registry.values(key, ref) == [
                    m for k, r, m in self.model if k == key and r is ref
                ]
                assert self.registry.count_match(key, lambda meta: meta % 2 == 0) == len(
                    [e for e in self.model if e[0] == key and e[2] % 2 == 0]
                )


async def test_queries_state_machine(rt: Runtime) -> None:
    QueriesModel.refs = await started(3)
    try:
        run_state_machine_as_test(
            QueriesModel,
            settings=settings(max_examples=40, stateful_step_count=30, deadline=None),
        )
    finally:
        QueriesModel.refs = []
