"""Tests for `noex_trio._exceptions`: the error tree and its messages (SPEC §6)."""

from __future__ import annotations

import copy
import importlib
import inspect
import math
import pickle
import pkgutil
import re
from typing import Any

import pytest
import trio

import noex_trio
from noex_trio import (
    AlreadyRegisteredError,
    CallTimeoutError,
    CallToSelfError,
    ChildNotFoundError,
    CircuitOpenError,
    DuplicateChildError,
    GenServer,
    GenServerRef,
    InitializationError,
    InvalidChildSpecError,
    LinkedExitError,
    MailboxFullError,
    MaxChildrenError,
    MaxRestartsExceededError,
    MissingChildTemplateError,
    NoexError,
    NoRuntimeError,
    NotInProcessError,
    NotRegisteredError,
    Runtime,
    ServerNotRunningError,
    TaskTimeoutError,
    UnknownBehaviourError,
    cluster,
    nats,
)
from noex_trio._exceptions import describe, describe_reason

from .conftest import Counter

ERRORS = [
    NoRuntimeError,
    NotInProcessError,
    ServerNotRunningError,
    CallTimeoutError,
    CallToSelfError,
    InitializationError,
    MailboxFullError,
    AlreadyRegisteredError,
    NotRegisteredError,
    MaxRestartsExceededError,
    MaxChildrenError,
    DuplicateChildError,
    ChildNotFoundError,
    MissingChildTemplateError,
    InvalidChildSpecError,
    LinkedExitError,
    CircuitOpenError,
    UnknownBehaviourError,
]


@pytest.mark.parametrize("error", ERRORS)
def test_every_error_derives_from_noex_error(error: type[Exception]) -> None:
    assert issubclass(error, NoexError)
    assert error.__module__ == "noex_trio"


def test_call_timeout_is_a_too_slow_error() -> None:
    assert issubclass(CallTimeoutError, trio.TooSlowError)
    error = CallTimeoutError("svc", 5.0)
    assert str(error) == "call to 'svc' timed out after 5.0 s"
    assert (error.target, error.timeout) == ("svc", 5.0)


def test_name_only_messages() -> None:
    assert str(ServerNotRunningError("svc")) == "'svc' is not running"
    assert ServerNotRunningError("svc").reason == "noproc"
    assert (
        str(ServerNotRunningError("svc", ValueError("bad")))
        == "'svc' is not running (exit reason: ValueError('bad'))"
    )
    assert str(ServerNotRunningError("svc", "shutdown")) == (
        "'svc' is not running (exit reason: 'shutdown')"
    )
    assert str(CallToSelfError("me")).startswith("'me' called itself; ")
    assert str(InitializationError("svc", "init raised")) == "'svc' failed to start: init raised"
    assert str(MailboxFullError("svc", 3)) == "mailbox of 'svc' is full (3 messages)"
    assert str(AlreadyRegisteredError("n")) == "name 'n' is already registered"
    assert str(AlreadyRegisteredError("n", registry="r")) == (
        "name 'n' is already registered in registry 'r'"
    )
    assert str(NotRegisteredError("n")) == "no process is registered as 'n'"
    assert issubclass(NotRegisteredError, LookupError)
    assert str(DuplicateChildError("sup", "c")) == "'sup' already has a child 'c'"
    assert str(ChildNotFoundError("sup", "c")) == "'sup' has no child 'c'"
    assert issubclass(ChildNotFoundError, LookupError)
    assert str(MissingChildTemplateError()) == (
        "supervisor uses simple_one_for_one but has no child_template"
    )
    assert str(MissingChildTemplateError("sup")).startswith("'sup' uses simple_one_for_one")
    assert str(InvalidChildSpecError("bad spec")) == "bad spec"
    assert issubclass(InvalidChildSpecError, ValueError)


def test_max_restarts_message() -> None:
    error = MaxRestartsExceededError("sup", 3, 5.0)
    assert str(error) == "'sup' gave up: more than 3 restarts in 5.0 s"
    assert (error.supervisor, error.max_restarts, error.max_seconds) == ("sup", 3, 5.0)
    assert str(MaxRestartsExceededError("sup", 0, math.inf)) == (
        "'sup' gave up: more than 0 restarts ever"
    )


def test_describe() -> None:
    assert describe("name") == "'name'"
    assert describe(42) == "42"
    assert describe_reason("normal") == "'normal'"
    assert describe_reason(KeyError("k")) == "KeyError(\"'k'\")"


async def test_messages_name_the_process(rt: Runtime) -> None:
    ref = await GenServer.start(Counter, name="svc")
    await ref.stop()
    error = ServerNotRunningError(ref, "normal")
    assert str(error).startswith("svc#")
    assert str(error).endswith(" is not running (exit reason: 'normal')")
    assert str(AlreadyRegisteredError("x", ref)).startswith(
        "name 'x' is already registered by svc#"
    )


def test_error_tree_is_documented() -> None:
    doc = noex_trio._exceptions.__doc__
    assert doc is not None
    for error in ERRORS:
        assert error.__name__ in doc


def test_max_children_message() -> None:
    error = MaxChildrenError("sup", 2)
    assert str(error) == "'sup' already has 2 children (max_children=2); child not started"
    assert (error.supervisor, error.max_children) == ("sup", 2)


def test_not_in_process_message() -> None:
    error = NotInProcessError("GenServer.caller()", "handle_call")
    assert str(error) == "GenServer.caller() can only be used inside handle_call"
    assert isinstance(error, RuntimeError)
    assert (error.operation, error.where, error.hint) == ("GenServer.caller()", "handle_call", "")


def test_registry_is_a_field() -> None:
    assert AlreadyRegisteredError("n", None, "r").registry == "r"
    assert NotRegisteredError("n").registry == ""


def test_root_error_formats_like_exception() -> None:
    assert str(NoexError()) == ""
    assert str(NoexError("plain")) == "plain"
    assert str(NoexError(5)) == "5"
    assert str(NoexError("a", 1)) == "('a', 1)"
    assert repr(NoexError("plain")) == "NoexError('plain')"
    assert repr(CallTimeoutError("svc", 5.0)) == "CallTimeoutError('svc', 5.0)"
    assert repr(NoRuntimeError()) == "NoRuntimeError()"


def test_a_message_that_cannot_be_formatted_still_prints() -> None:
    error = CallTimeoutError("svc", 1.0)
    del error.target
    assert str(error) == "<CallTimeoutError: message not formatted, AttributeError>"


def test_odd_field_values_format() -> None:
    assert str(CircuitOpenError("db", "soon")) == "circuit 'db' is open; next trial in soon s"  # type: ignore[arg-type]
    assert str(MaxRestartsExceededError("sup", 3, "long")) == (  # type: ignore[arg-type]
        "'sup' gave up: more than 3 restarts in long s"
    )
    assert str(InitializationError("svc", 3)) == "'svc' failed to start: 3"  # type: ignore[arg-type]


# --------------------------------------------------------------------------- errors are values

# One example per error class, with plain values and names (str) as targets: these pickle.
# Every error class of the package must be here (`test_every_error_has_an_example`).
EXAMPLES: dict[type[BaseException], list[tuple[Any, ...]]] = {
    NoexError: [("plain message",), ()],
    NoRuntimeError: [()],
    ServerNotRunningError: [
        ("svc",),
        ("svc", "stopping"),
        ("svc", ValueError("boom")),
        ("svc", ("shutdown", {"detail": [1, 2]})),
    ],
    CallTimeoutError: [("svc", 5.0), ("svc", math.inf)],
    CallToSelfError: [("svc",), ("svc", "stop")],
    InitializationError: [("svc", "init raised ValueError('x')")],
    MailboxFullError: [("svc", 3)],
    AlreadyRegisteredError: [("n",), ("n", None, "r"), ("n", "holder", "")],
    NotRegisteredError: [("n",), ("n", "r")],
    MaxRestartsExceededError: [("sup", 3, 5.0), ("sup", 0, math.inf)],
    MaxChildrenError: [("sup", 2)],
    NotInProcessError: [("GenServer.self()",), ("GenServer.caller()", "handle_call", "")],
    DuplicateChildError: [("sup", "c"), (None, "c")],
    ChildNotFoundError: [("sup", "c")],
    MissingChildTemplateError: [(), ("sup",)],
    InvalidChildSpecError: [("bad spec",)],
    LinkedExitError: [("peer", KeyError("k")), ("peer", "killed")],
    CircuitOpenError: [("db", 1.5)],
    UnknownBehaviourError: [("b", "worker")],
    TaskTimeoutError: [("svc", 5.0)],
    # noex_trio.nats
    nats.JetStreamError: [(503, 0, "no responders"), (400, 10071, "wrong last sequence: 4")],
    nats.KeyExistsError: [("bGVhZGVy", 3)],
    nats.WrongRevisionError: [("bGVhZGVy", 3, 5), ("bGVhZGVy", 3, None)],
    nats.NatsError: [("plain message",), ()],
    nats.ConnectError: [(("nats://a:1", "nats://b:2"), "refused"), ((), "no server")],
    nats.AuthorizationError: [(("nats://a:1",), "Authorization Violation")],
    nats.ConnectionClosedError: [(), ("gave up reconnecting",)],
    nats.ConnectionLostError: [("nats://a:1", "the server closed the connection")],
    nats.ProtocolError: [("unexpected operation",)],
    nats.ServerError: [("Permissions Violation for Publish to 'x'", False)],
    nats.StaleConnectionError: [(2,)],
    nats.SlowConsumerError: [("a.b", 3)],
    nats.NoRespondersError: [("svc",)],
    nats.MaxPayloadError: [(10, 5)],
    nats.OutboundBufferFullError: [(10, 5)],
    nats.NatsTimeoutError: [()],
    nats.RequestTimeoutError: [("svc", 0.5)],
    nats.FlushTimeoutError: [(1.0,)],
    # noex_trio.cluster
    cluster.ClusterError: [("plain message",)],
    cluster.CodecError: [("unknown tag b'?' at byte 1",)],
    cluster.PayloadTooLargeError: [(2000, 1024)],
    cluster.NodeNameTakenError: [("orders-1", "noex.default", 12345), ("a", "noex.x")],
    cluster.NoConnectionError: [("orders-2", "timeout"), ("orders-2",)],
    cluster.NoHandlerError: [("orders-2", "price")],
    cluster.RemoteTimeoutError: [("orders-2", "price", 1.5)],
    cluster.RemoteError: [("AppError", "app.errors", "boom", "('boom',)")],
}

CASES = [
    pytest.param(cls, args, id=f"{cls.__name__}{index}")
    for cls, examples in EXAMPLES.items()
    for index, args in enumerate(examples)
]


def package_errors() -> set[type[BaseException]]:
    """Every exception class exported by, or defined in a module of, noex_trio."""
    found = {
        obj
        for obj in (getattr(noex_trio, name) for name in noex_trio.__all__)
        if isinstance(obj, type) and issubclass(obj, BaseException)
    }
    for info in pkgutil.iter_modules(noex_trio.__path__):
        module = importlib.import_module(f"noex_trio.{info.name}")
        found.update(
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, BaseException)
            and obj.__module__.startswith("noex_trio")
        )
    return found


def test_every_error_has_an_example() -> None:
    assert package_errors() == set(EXAMPLES)
    assert set(EXAMPLES) >= set(ERRORS)


def fingerprint(value: object) -> object:
    """Compare values that hold exceptions (which compare by identity) by type and args."""
    if isinstance(value, BaseException):
        return (type(value), fingerprint(value.args), fingerprint(vars(value)))
    if isinstance(value, tuple | list):
        return (type(value), [fingerprint(item) for item in value])
    if isinstance(value, dict):
        return {key: fingerprint(item) for key, item in value.items()}
    return value


def assert_same_error(copied: BaseException, original: BaseException) -> None:
    assert type(copied) is type(original)
    assert copied is not original
    assert fingerprint(copied.args) == fingerprint(original.args)
    assert fingerprint(vars(copied)) == fingerprint(vars(original))
    assert str(copied) == str(original)
    assert repr(copied) == repr(original)
    assert fingerprint(copied.__cause__) == fingerprint(original.__cause__)


@pytest.mark.parametrize(("cls", "args"), CASES)
def test_fields_are_the_constructor_arguments(
    cls: type[BaseException], args: tuple[Any, ...]
) -> None:
    error = cls(*args)
    if not any("__init__" in vars(base) for base in cls.__mro__ if issubclass(base, NoexError)):
        assert error.args == args  # a root that keeps Exception's constructor
        return
    parameters = list(inspect.signature(cls).parameters.values())
    values = [*args, *(p.default for p in parameters[len(args) :])]
    assert error.args == tuple(values)
    for parameter, value in zip(parameters, values, strict=True):
        assert getattr(error, parameter.name) is value


@pytest.mark.parametrize(("cls", "args"), CASES)
def test_copy_and_deepcopy_keep_every_field(
    cls: type[BaseException], args: tuple[Any, ...]
) -> None:
    error = cls(*args)
    error.add_note("a note")
    shallow = copy.copy(error)
    assert_same_error(shallow, error)
    assert all(a is b for a, b in zip(shallow.args, error.args, strict=True))
    assert_same_error(copy.deepcopy(error), error)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize(("cls", "args"), CASES)
def test_pickle_keeps_every_field(
    cls: type[BaseException], args: tuple[Any, ...], protocol: int
) -> None:
    error = cls(*args)
    error.add_note("a note")
    restored = pickle.loads(pickle.dumps(error, protocol=protocol))
    assert_same_error(restored, error)
    assert restored.__notes__ == ["a note"]


def test_a_linked_exit_keeps_its_cause_through_a_pickle() -> None:
    restored = pickle.loads(pickle.dumps(LinkedExitError("peer", KeyError("k"))))
    assert isinstance(restored.__cause__, KeyError)
    assert restored.__cause__.args == ("k",)


def test_reassigned_fields_are_copied_and_reformatted() -> None:
    error = ServerNotRunningError("svc")
    error.reason = "normal"
    assert str(error) == "'svc' is not running (exit reason: 'normal')"
    assert str(pickle.loads(pickle.dumps(error))) == str(error)
    assert str(copy.copy(error)) == str(error)


# --------------------------------------------------------------------------- misbehaving fields


class BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


class BrokenBoth(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise RuntimeError("no bool")


BROKEN = [BrokenStr(), BrokenBoth(), BrokenRepr()]


@pytest.mark.parametrize("broken", BROKEN, ids=lambda b: type(b).__name__)
@pytest.mark.parametrize(("cls", "args"), CASES)
def test_broken_fields_never_break_the_message(
    cls: type[BaseException], args: tuple[Any, ...], broken: object
) -> None:
    for position in range(len(args)):
        spoiled = (*args[:position], broken, *args[position + 1 :])
        error = cls(*spoiled)
        assert "message not formatted" not in str(error)
        assert isinstance(repr(error), str)


ADDRESS = r"0x[0-9a-f]+"


def test_broken_fields_are_shown_as_placeholders() -> None:
    assert str(ServerNotRunningError("svc", BrokenStr())) == (
        "'svc' is not running (exit reason: BrokenStr(<str() raised RuntimeError>))"
    )
    assert str(LinkedExitError("peer", BrokenBoth())) == (
        "linked process 'peer' exited with BrokenBoth(<str() raised RuntimeError>)"
    )
    assert re.fullmatch(
        rf"<BrokenRepr object at {ADDRESS}; repr\(\) raised RuntimeError> is not running",
        str(ServerNotRunningError(BrokenRepr())),
    )
    assert re.fullmatch(
        rf"CallTimeoutError\(<BrokenRepr object at {ADDRESS}; repr\(\) raised RuntimeError>, "
        r"1\.0\)",
        repr(CallTimeoutError(BrokenRepr(), 1.0)),
    )
    assert re.fullmatch(
        rf"'svc' failed to start: <BrokenRepr object at {ADDRESS}; str\(\) raised RuntimeError>",
        str(InitializationError("svc", BrokenRepr())),  # type: ignore[arg-type]
    )


def test_huge_fields_are_cut() -> None:
    message = str(ServerNotRunningError("x" * 10_000, ValueError("y" * 10_000)))
    assert len(message) < 700
    # A message the library wrote itself is never cut.
    assert str(InvalidChildSpecError("z" * 1000)) == "z" * 1000


# --------------------------------------------------------------------------- real refs


def refs_define_copying() -> bool:
    """Whether refs define how they copy and pickle (the core rewrite gives them `__reduce__`)."""
    return any(
        name in vars(klass)
        for klass in GenServerRef.__mro__
        if klass is not object
        for name in ("__reduce__", "__reduce_ex__", "__deepcopy__")
    )


async def test_copy_keeps_a_real_ref(rt: Runtime) -> None:
    ref = await GenServer.start(Counter, name="svc")
    error = ServerNotRunningError(ref, "normal")
    copied = copy.copy(error)
    assert copied.target is ref
    assert str(copied) == str(error)
    await ref.stop()


@pytest.mark.xfail(
    not refs_define_copying(),
    reason="refs cannot be deep-copied or pickled until they get __reduce__ (core rewrite)",
    run=False,  # a failed deepcopy of a ref leaves half-built trio objects behind
    strict=True,
)
async def test_deepcopy_and_pickle_keep_a_real_ref(rt: Runtime) -> None:
    ref = await GenServer.start(Counter, name="svc")
    assert copy.copy(ref) is ref
    assert copy.deepcopy(ref) is ref
    error = LinkedExitError(ref, ValueError("boom"))
    deep = copy.deepcopy(error)
    assert deep.process is ref
    assert str(deep) == str(error)
    restored = pickle.loads(pickle.dumps(error))
    assert restored.process is ref  # same OS process: the same live ref
    assert str(restored) == str(error)
    await ref.stop()
