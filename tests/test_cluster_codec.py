"""The cluster's wire codec: round trips, hostile bytes, size limits, registered types,
exceptions, and the pickle opt-in."""

from __future__ import annotations

import dataclasses
import enum
import gc
import math
import os
import pickle
import struct
import sys
import uuid
from pathlib import Path
from types import FrameType

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import noex_trio
from noex_trio import cluster
from noex_trio.cluster import (
    Codec,
    CodecError,
    NodeDown,
    NodeId,
    NodeUp,
    PayloadTooLargeError,
    PickleCodec,
    RemoteError,
)
from noex_trio.cluster._codec import MAX_DEPTH, SAFE_FORMAT

# --------------------------------------------------------------------------- strategies

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=()))  # lone surrogates too
    | st.binary()
)
hashables = st.recursive(
    scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3), max_leaves=8
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(hashables, inner, max_size=4)
        | st.sets(hashables, max_size=4)
        | st.frozensets(hashables, max_size=4)
    ),
    max_leaves=25,
)


def same(a: object, b: object) -> bool:
    """Equal and of the same types all the way down (``1 == True == 1.0`` does not count;
    floats compare by their bits)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        assert isinstance(b, float)
        return struct.pack(">d", a) == struct.pack(">d", b)
    if isinstance(a, list | tuple):
        assert isinstance(b, list | tuple)
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return len(a) == len(b) and all(
            same(ka, kb) and same(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    return a == b


# --------------------------------------------------------------------------- "runs no code"

#: Python code decoding may run: the codec itself, the errors it raises (and their
#: formatting), and the library's own registered value types (their attrs-made ``__init__``
#: and converters).
_ALLOWED = {
    str(Path(cluster.__file__).parent / name)
    for name in ("_codec.py", "_errors.py", "_identity.py", "_events.py")
} | {str(Path(noex_trio.__file__).parent / name) for name in ("_exceptions.py", "_checks.py")}
_ALLOWED |= {str(Path(noex_trio.__file__).parent / "_safe_format.py")}


def decode_or_error(codec: Codec, data: bytes) -> object:
    """Decode `data`: a value or a CodecError, never anything else, and no Python code
    runs meanwhile but the codec's own and the allowed constructors (a profiler sees every
    Python function called)."""
    foreign: list[str] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            filename = frame.f_code.co_filename
            if filename not in _ALLOWED and not filename.startswith("<attrs generated"):
                foreign.append(f"{filename}:{frame.f_code.co_name}")

    previous = sys.getprofile()
    collecting = gc.isenabled()
    gc.disable()  # (a collection would run other code's callbacks and finalizers)
    sys.setprofile(profile)
    try:
        result: object = codec.decode(data)
    except CodecError as exc:
        result = exc
    finally:
        sys.setprofile(previous)
        if collecting:
            gc.enable()
    assert foreign == []
    return result


# --------------------------------------------------------------------------- round trips


@settings(deadline=None, max_examples=300)
@given(values)
def test_round_trip(value: object) -> None:
    codec = Codec()
    data = codec.encode(value)
    assert data[0] == SAFE_FORMAT
    assert same(codec.decode(data), value)


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        -math.inf,
        -0.0,
        "\ud800 lone surrogate",
        2**63 - 1,
        -(2**63),
        2**63,
        -(2**63) - 1,
        2**64,
        -(2**200),
        b"",
        "",
        (),
        frozenset(),
        {(1, "a"): [{b"k": None}]},
    ],
)
def test_round_trip_edges(value: object) -> None:
    codec = Codec()
    assert same(codec.decode(codec.encode(value)), value)


def test_library_values_round_trip() -> None:
    codec = Codec()
    node = NodeId("orders-1", 12345)
    for value in [
        node,
        NodeUp(node),
        NodeDown(node, "timeout"),
        noex_trio.IdleTimeout(1.5),
        ("shutdown", {"detail": [1, 2]}),
    ]:
        assert codec.decode(codec.encode(value)) == value
    remote = RemoteError("Boom", "app.errors", "it broke", "('it broke',)")
    back = codec.decode(codec.encode(remote))  # a RemoteError passed on keeps its fields
    assert type(back) is RemoteError
    assert back.args == remote.args


def test_exit_reasons_round_trip() -> None:
    """Every form of exit reason: the clean ones, "killed", any value, a crash's exception."""
    codec = Codec()
    for reason in ["normal", "shutdown", ("shutdown", {"why": "deploy"}), "killed", 42, None]:
        assert same(codec.decode(codec.encode(reason)), reason)
    linked = codec.decode(codec.encode(noex_trio.LinkedExitError("peer", ValueError("boom"))))
    assert isinstance(linked, noex_trio.LinkedExitError)
    assert linked.process == "peer"
    assert isinstance(linked.reason, ValueError)
    assert linked.__cause__ is linked.reason  # rebuilt through its constructor
    stopped = codec.decode(codec.encode(noex_trio.ServerNotRunningError("w", ("shutdown", 1))))
    assert isinstance(stopped, noex_trio.ServerNotRunningError)
    assert stopped.reason == ("shutdown", 1)


def test_accepts_bytes_like_input() -> None:
    codec = Codec()
    data = codec.encode([1, 2])
    assert codec.decode(bytearray(data)) == [1, 2]
    assert codec.decode(memoryview(data)) == [1, 2]


# --------------------------------------------------------------------------- hostile bytes


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_raise_codec_error(data: bytes) -> None:
    codec = Codec()
    decode_or_error(codec, data)
    decode_or_error(codec, bytes((SAFE_FORMAT,)) + data)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(values, st.data())
def test_mutated_messages_only_raise_codec_error(value: object, data: st.DataObject) -> None:
    codec = Codec()
    message = bytearray(codec.encode(value))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(1, len(message)))
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        byte = data.draw(st.integers(0, 255))
        if action == "flip" and position < len(message):
            message[position] = byte
        elif action == "insert":
            message.insert(position, byte)
        elif action == "delete" and position < len(message):
            del message[position]
        elif action == "cut":
            del message[position:]
    decode_or_error(codec, bytes(message))


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", r"^not a message of the noex codec \(format byte nothing\)$"),
        (b"\x80\x05N.", r"^not a message of the noex codec \(format byte 0x80\)$"),
        (b"\xa1", r"^truncated message$"),
        (b"\xa1NN", r"^1 bytes after the value$"),
        (b"\xa1?", r"^unknown tag b'\?' at byte 1$"),
        (b"\xa1s\x05ab", r"^truncated message$"),
        (b"\xa1s\x02\xff\xfe", r"^invalid UTF-8 in a str: invalid start byte$"),
        (b"\xa1i" + b"\xff" * 10, r"^varint longer than 10 bytes$"),
        (b"\xa1i" + b"\xff" * 9 + b"\x7f", r"^int varint out of range$"),
        (b"\xa1l\xff\xff\xff\xff\x0f", r"^truncated message$"),  # a count beyond the input
        (b"\xa1e\x01l\x00", r"^a set member is not hashable"),
        (b"\xa1d\x01l\x00N", r"^a dict key is not hashable"),
        (b"\xa1R\x02osN", r"^unknown type 'os': not registered with this codec$"),
        (b"\xa1X\x01E\x00\x00\x00s\x00", r"^the args of an exception are not a tuple$"),
        (b"\xa1" + b"l\x01" * (MAX_DEPTH + 5) + b"N", r"^nesting deeper than 100 levels$"),
    ],
)
def test_bad_messages(data: bytes, error: str) -> None:
    with pytest.raises(CodecError, match=error):
        Codec().decode(data)


def test_decoding_hostile_payloads_runs_nothing() -> None:
    """Payloads built to run code if a decoder looked names up or unpickled: nothing runs,
    nothing is imported; names that are not registered stay text."""
    events: list[tuple[str, tuple[object, ...]]] = []
    watching = [True]

    def hook(event: str, args: tuple[object, ...]) -> None:
        if watching[0] and event.split(".")[0] in ("exec", "import", "os", "subprocess", "pickle"):
            events.append((event, args))

    sys.addaudithook(hook)  # (cannot be removed: it only records while `watching`)
    codec = Codec()
    payloads = [
        pickle.dumps(os.system),  # a pickle naming os.system
        b"\xa1" + pickle.dumps(os.system),
        b"\xa1R\x09os.system" + codec.encode(("echo pwned",))[1:],
        b"\xa1R\x0dbuiltins.eval" + codec.encode("1+1")[1:],
        # an exception "of class" os.system, with args: never looked up
        b"\xa1X\x06system\x02os\x00\x00" + codec.encode(("echo pwned",))[1:],
    ]
    try:
        results = [decode_or_error(codec, payload) for payload in payloads]
    finally:
        watching[0] = False
    assert events == []
    assert [type(result) for result in results] == [CodecError] * 4 + [RemoteError]
    assert str(results[-1]) == "remote os.system"


# --------------------------------------------------------------------------- limits


@settings(deadline=None, max_examples=200)
@given(values, st.integers(1, 300))
def test_size_limit(value: object, limit: int) -> None:
    codec = Codec()
    if len(codec.encode(value)) > limit:
        with pytest.raises(PayloadTooLargeError) as info:
            codec.encode(value, max_size=limit)
        assert info.value.limit == limit
        assert info.value.size > limit
    else:
        data = codec.encode(value, max_size=limit)
        assert len(data) <= limit
        assert same(codec.decode(data, max_size=limit), value)
        if len(data) > 1:
            with pytest.raises(PayloadTooLargeError):
                codec.decode(data, max_size=len(data) - 1)


def test_encoding_stops_at_the_limit() -> None:
    """A value far larger than the limit is not built in full first."""
    huge = [b"x" * 1000] * 1_000_000  # a gigabyte if it were encoded
    with pytest.raises(PayloadTooLargeError) as info:
        Codec().encode(huge, max_size=64 * 1024)
    assert info.value.size < 64 * 1024 + 2000
    assert str(info.value).startswith("message too large: more than 65536 bytes (reached ")


def test_nesting_and_cycles() -> None:
    codec = Codec()
    deep: list[object] = []
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(CodecError, match=r"^nesting deeper than 100 levels \(or a cycle\)$"):
        codec.encode(deep)
    cycle: list[object] = []
    cycle.append(cycle)
    with pytest.raises(CodecError, match="or a cycle"):
        codec.encode(cycle)
    ok: list[object] = []
    for _ in range(MAX_DEPTH):
        ok = [ok]
    assert codec.decode(codec.encode(ok)) == ok


class Unregistered(enum.Enum):
    A = 1


@pytest.mark.parametrize(
    "value",
    [object(), bytearray(b"x"), type, Unregistered.A, [1, {2: object()}]],
)
def test_unencodable_values(value: object) -> None:
    with pytest.raises(CodecError, match=r"^cannot encode a \w+: not a builtin value nor a"):
        Codec().encode(value)


def test_subclasses_of_builtins_are_not_builtins() -> None:
    class Text(str):
        pass

    with pytest.raises(CodecError, match=r"^cannot encode a .*Text"):
        Codec().encode(Text("x"))


def test_bad_arguments() -> None:
    codec = Codec()
    with pytest.raises(TypeError, match=r"^expected data to be bytes, a bytearray or a memory"):
        codec.decode("text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^expected max_size to be an int >= 1, got 0$"):
        codec.encode(1, max_size=0)
    with pytest.raises(TypeError, match=r"^expected max_size to be an int >= 1, got 1.5$"):
        codec.decode(b"\xa1N", max_size=1.5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- registered types


def _positive(_: object, __: object, value: int) -> None:
    if value <= 0:
        raise ValueError("an order id is positive")


@attrs.frozen
class Order:
    id: int = attrs.field(validator=_positive)
    items: tuple[str, ...] = ()
    _note: str = attrs.field(default="")  # a private field: its init name is "note"
    total: int = attrs.field(init=False, default=0)


@dataclasses.dataclass(frozen=True)
class Point:
    x: float
    y: float


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Money:
    def __init__(self, cents: int) -> None:
        self.cents = cents

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and other.cents == self.cents

    def __hash__(self) -> int:
        return hash(self.cents)


class AppError(Exception):
    pass


class NeedsTwo(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a} and {b}")


def test_registered_types_round_trip() -> None:
    codec = Codec()
    assert codec.register(Order) is Order
    codec.register(Point, name="geo.Point")
    codec.register(Color)
    codec.register(Money, to_wire=lambda money: money.cents, from_wire=Money)
    codec.register(uuid.UUID, to_wire=lambda u: u.bytes, from_wire=lambda b: uuid.UUID(bytes=b))
    value = {
        "order": Order(7, ("tea",), note="rush"),
        "where": Point(1.0, 2.5),
        "colors": {Color.RED, Color.GREEN},
        Money(150): [uuid.UUID(int=42)],
    }
    assert codec.decode(codec.encode(value)) == value
    assert b"geo.Point" in codec.encode(Point(0, 0))


def forged(name: str, wire: object) -> bytes:
    """A message holding registered type `name` with `wire` as its value (what a peer sends)."""
    text = name.encode()
    return b"\xa1R" + bytes((len(text),)) + text + Codec().encode(wire)[1:]


def test_registered_types_are_rebuilt_through_their_constructor() -> None:
    codec = Codec()
    codec.register(Order, name="Order")
    assert codec.decode(forged("Order", {"id": 1, "items": ()})) == Order(1, ())
    with pytest.raises(CodecError, match=r"^Order refused what arrived: ValueError\('an order"):
        codec.decode(forged("Order", {"id": -1, "items": ()}))
    with pytest.raises(CodecError, match=r"^Order refused what arrived: TypeError"):
        codec.decode(forged("Order", {"id": 1, "total": 5}))  # not an init field
    with pytest.raises(CodecError, match=r"^the fields of Order are not a dict of str$"):
        codec.decode(forged("Order", [1, ()]))
    with pytest.raises(CodecError, match=r"^the fields of Order are not a dict of str$"):
        codec.decode(forged("Order", {1: 1}))


def test_unregistered_on_the_receiving_side() -> None:
    sender = Codec()
    sender.register(Point)
    with pytest.raises(CodecError, match=r"^unknown type '.*Point': not registered with this"):
        Codec().decode(sender.encode(Point(1, 2)))


def test_conversion_errors() -> None:
    codec = Codec()

    def broken(money: Money) -> object:
        raise RuntimeError("no")

    def money(cents: object) -> Money:
        if type(cents) is not int:
            raise TypeError("cents are an int")
        return Money(cents)

    codec.register(Money, to_wire=broken, from_wire=money, name="Money")
    with pytest.raises(CodecError, match=r"^converting a Money for the wire raised RuntimeError"):
        codec.encode(Money(1))
    assert codec.decode(forged("Money", 5)) == Money(5)
    with pytest.raises(CodecError, match=r"^Money refused what arrived: TypeError\('cents are"):
        codec.decode(forged("Money", None))
    codec.register(Color, name="Color")
    assert codec.decode(forged("Color", "RED")) is Color.RED
    with pytest.raises(CodecError, match=r"^'BLUE' is not a member of Color$"):
        codec.decode(forged("Color", "BLUE"))
    with pytest.raises(CodecError, match=r"^1 is not a member of Color$"):
        codec.decode(forged("Color", 1))


def test_register_checks() -> None:
    codec = Codec()
    with pytest.raises(TypeError, match=r"^expected cls to be a class, got 1$"):
        codec.register(1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^expected cls to be a class that is not a builtin"):
        codec.register(dict)
    with pytest.raises(ValueError, match=r"^expected cls to be an Exception subclass \(a Base"):
        codec.register(KeyboardInterrupt)
    with pytest.raises(ValueError, match=r"^expected no name for exception class AppError"):
        codec.register(AppError, name="x")
    with pytest.raises(TypeError, match=r"^expected to_wire and from_wire to be given together"):
        codec.register(Money, to_wire=lambda m: m.cents)
    with pytest.raises(TypeError, match=r"^expected to_wire to be callable, got 1$"):
        codec.register(Money, to_wire=1, from_wire=Money)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected cls to be an attrs or dataclass class, an E"):
        codec.register(Money)
    codec.register(Point, name="shared")
    with pytest.raises(ValueError, match=r"^expected a wire name not registered yet, got 'shar"):
        codec.register(Order, name="shared")
    codec.register(Point, name="shared")  # the same again: fine
    codec.register(Point, name="renamed")  # a new name replaces the old one
    assert Codec().register(Point, name="renamed") is Point
    other = Codec()
    other.register(Point, name="renamed")
    assert other.decode(codec.encode(Point(3, 4))) == Point(3, 4)
    other.register(Order, name="shared")  # "shared" is free again in `codec`
    codec.register(Order, name="shared")


# --------------------------------------------------------------------------- exceptions


def test_exceptions_are_rebuilt_when_allowed() -> None:
    codec = Codec()
    for exc in [
        ValueError("bad", 3),
        KeyError("k"),
        OSError(2, "No such file"),
        noex_trio.ServerNotRunningError("worker", "noproc"),
        noex_trio.CallTimeoutError("worker", 5.0),
        cluster.NoConnectionError("b", "timeout"),
        cluster.PayloadTooLargeError(10, 5),
        noex_trio.nats.NoRespondersError("x.y"),
        ExceptionGroup("several", [ValueError(1), AppError("x")]),
    ]:
        back = codec.decode(codec.encode(exc))
        assert type(back) is type(exc)
        assert str(back) == str(exc)
        assert back.args[:1] == exc.args[:1] or isinstance(exc, ExceptionGroup)
    group = codec.decode(codec.encode(ExceptionGroup("g", [AppError("x")])))
    assert isinstance(group, ExceptionGroup)
    assert type(group.exceptions[0]) is RemoteError


def test_unknown_exceptions_arrive_as_remote_errors() -> None:
    codec = Codec()
    back = codec.decode(codec.encode(AppError("it broke", 42)))
    assert isinstance(back, RemoteError)
    assert (back.type_name, back.module, back.message, back.args_repr) == (
        "AppError",
        __name__,
        "('it broke', 42)",
        "('it broke', 42)",
    )
    assert str(back) == f"remote {__name__}.AppError: ('it broke', 42)"
    codec.register(AppError)
    assert type(codec.decode(codec.encode(AppError("x")))) is AppError


@pytest.mark.parametrize(
    "exc",
    [
        KeyboardInterrupt(),  # never rebuilt
        ValueError(object()),  # args that cannot be encoded
        NeedsTwo(1, 2),  # a constructor that does not take its own args
    ],
)
def test_exceptions_that_cannot_be_rebuilt(exc: BaseException) -> None:
    codec = Codec()
    codec.register(NeedsTwo)
    back = codec.decode(codec.encode(exc))
    assert isinstance(back, RemoteError)
    assert back.type_name == type(exc).__qualname__
    assert back.message == str(exc)


def test_exception_whose_args_are_not_a_tuple() -> None:
    class Odd(Exception):
        @property  # type: ignore[override,unused-ignore]
        def args(self) -> list[int]:  # type: ignore[override]
            return [1, 2]

    back = Codec().decode(Codec().encode(Odd()))
    assert isinstance(back, RemoteError)
    assert back.args_repr == "[1, 2]"


def test_exception_whose_str_raises() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("nope")

    back = Codec().decode(Codec().encode(Broken()))
    assert isinstance(back, RemoteError)
    assert back.message.startswith("<")
    assert "str() raised RuntimeError" in back.message


def test_remote_error_builtin_message() -> None:
    assert str(RemoteError("ValueError", "builtins", "")) == "remote ValueError"


# --------------------------------------------------------------------------- pickle opt-in


@dataclasses.dataclass
class Anything:
    value: object


def test_pickle_codec() -> None:
    codec = PickleCodec()
    value = Anything([1, {2}])
    assert codec.decode(codec.encode(value)) == value
    assert repr(codec) == f"<noex_trio.cluster.PickleCodec protocol={pickle.HIGHEST_PROTOCOL}>"
    with pytest.raises(CodecError, match=r"^cannot pickle "):
        codec.encode(lambda: None)
    with pytest.raises(CodecError, match=r"^cannot unpickle: "):
        codec.decode(b"\xb1garbage")
    with pytest.raises(CodecError, match=r"^not a message of the pickle codec \(format byte 0xa1"):
        codec.decode(Codec().encode(1))
    with pytest.raises(CodecError, match=r"^not a message of the pickle codec \(format byte not"):
        codec.decode(b"")
    with pytest.raises(CodecError, match=r"^not a message of the noex codec \(format byte 0xb1"):
        Codec().decode(codec.encode(1))
    with pytest.raises(PayloadTooLargeError):
        codec.encode(b"x" * 100, max_size=50)
    with pytest.raises(PayloadTooLargeError):
        codec.decode(codec.encode(b"x" * 100), max_size=50)
    with pytest.raises(ValueError, match=r"^expected protocol to be an int from 2 to"):
        PickleCodec(protocol=99)


def test_codec_repr() -> None:
    assert repr(Codec()) == "<noex_trio.cluster.Codec: 4 registered types>"
