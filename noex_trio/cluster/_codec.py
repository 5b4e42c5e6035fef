"""The wire codec: values to bytes and back, without ever running code while decoding.

Whatever arrives on the cluster's subjects may come from anyone who can publish there, so the
default codec (`Codec`) is a closed, tagged binary format, never ``pickle``. A message is one
format byte (``0xA1``) and one value; a value is a one-byte tag and its body:

====  =====================================================================================
tag   value
====  =====================================================================================
N     None
T F   True, False
i     an int in [-2**63, 2**63): zigzag varint
I     any other int: varint length + two's-complement big-endian bytes
f     a float: IEEE 754 double, big-endian
s     a str: varint length + UTF-8 (lone surrogates kept, ``surrogatepass``)
b     bytes: varint length + the bytes
l t   list, tuple: varint count + values
e z   set, frozenset: varint count + values
d     dict: varint count + (key, value) pairs
R     a registered type: its wire name (a str) + one value (a record's fields as a dict of
      str to value, an enum member's name, or what a converter returned)
X     an exception: class qualname, module, message, ``repr(args)`` (four str) + its args
      (a tuple, or None when they could not be encoded)
====  =====================================================================================

Decoding builds only builtins and instances of classes registered with the codec (the
library's own value types, and the user's through `Codec.register`): no import, no lookup by
a name that came off the wire, no ``__reduce__``. Lengths are checked against what is left of
the input before anything is allocated, nesting is bounded (`MAX_DEPTH`), and every problem
is a `CodecError`. An exception is rebuilt as its own class only when that class is allowed
(builtin exceptions, the library's errors, registered ones) and accepts its own ``args``;
otherwise it arrives as a `RemoteError` holding its type name and message.

`PickleCodec` is the explicit opt-in for a cluster where every publisher is trusted: it
pickles anything, and unpickling runs whatever code the bytes name.
"""

from __future__ import annotations

import abc
import builtins
import dataclasses
import enum
import pickle
import struct
from collections.abc import Callable
from typing import Any, Final, TypeVar

import attrs
import trio

from .. import _checks as checks
from .. import _exceptions, nats
from .._results import IdleTimeout
from .._safe_format import safe_repr, safe_str
from . import _errors
from ._errors import CodecError, PayloadTooLargeError, RemoteError
from ._events import NodeDown, NodeUp
from ._identity import NodeId

T = TypeVar("T")

#: The first byte of a message of the default codec (format 1).
SAFE_FORMAT: Final = 0xA1
#: The first byte of a message of `PickleCodec`.
PICKLE_FORMAT: Final = 0xB1
#: The deepest nesting of containers, records and exceptions a message may hold.
MAX_DEPTH: Final = 100
#: The longest exception message and ``repr(args)`` carried (characters).
TEXT_LIMIT: Final = 2000

_DOUBLE: Final = struct.Struct(">d")
_SMALL: Final = 1 << 63

Bytes = bytes | bytearray | memoryview


def _type_name(cls: type) -> str:
    name = getattr(cls, "__qualname__", None)
    return name if isinstance(name, str) else "object"


def _module(cls: type) -> str:
    module = getattr(cls, "__module__", None)
    return module if isinstance(module, str) else ""


def _full_name(cls: type) -> str:
    return f"{_module(cls)}.{_type_name(cls)}"


def remote_error(exc: BaseException) -> RemoteError:
    """`exc` as a `RemoteError`: its class's name and module, its message, ``repr(args)``."""
    cls = type(exc)
    return RemoteError(
        _type_name(cls),
        _module(cls),
        safe_str(exc, limit=TEXT_LIMIT),
        safe_repr(exc.args, limit=TEXT_LIMIT),
    )


class BaseCodec(abc.ABC):
    """What a node needs of a codec: `encode` and `decode` (see `Codec`, `PickleCodec`)."""

    @abc.abstractmethod
    def encode(self, value: object, *, max_size: int | None = None) -> bytes:
        """`value` as bytes.

        Raises:
            CodecError: `value` (or something inside) cannot be encoded.
            PayloadTooLargeError: the result would be larger than `max_size` bytes.
        """

    @abc.abstractmethod
    def decode(self, data: Bytes, *, max_size: int | None = None) -> object:
        """The value `data` holds.

        Raises:
            CodecError: `data` is not a valid message (or is larger than `max_size`).
        """


def _check_max_size(max_size: object) -> int | None:
    if max_size is None:
        return None
    return checks.count(max_size, "max_size", minimum=1)


def _as_bytes(data: object) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise checks.type_error("data", "bytes, a bytearray or a memoryview", data)


@attrs.frozen
class _Entry:
    """A registered type: its wire name and the two conversions."""

    name: str
    cls: type
    to_wire: Callable[[Any], object]
    from_wire: Callable[[Any], object]


def _record(cls: type) -> tuple[Callable[[Any], object], Callable[[Any], object]]:
    """Conversions of an attrs or dataclass class: the init fields by their init name."""
    if attrs.has(cls):
        pairs = [(f.alias or f.name, f.name) for f in attrs.fields(cls) if f.init]
    else:
        pairs = [(f.name, f.name) for f in dataclasses.fields(cls) if f.init]

    def to_wire(obj: Any) -> object:
        return {alias: getattr(obj, attribute) for alias, attribute in pairs}

    def from_wire(fields: object) -> object:
        if type(fields) is not dict or not all(type(key) is str for key in fields):
            raise CodecError(f"the fields of {_type_name(cls)} are not a dict of str")
        return cls(**fields)

    return to_wire, from_wire


def _enum(cls: type[enum.Enum]) -> tuple[Callable[[Any], object], Callable[[Any], object]]:
    members = cls.__members__

    def from_wire(name: object) -> object:
        if type(name) is not str or name not in members:
            raise CodecError(f"{safe_repr(name)} is not a member of {_type_name(cls)}")
        return members[name]

    return (lambda member: member.name), from_wire


class Codec(BaseCodec):
    """The default codec: builtins, the library's value types and the classes registered
    here; decoding never runs code but the constructors of registered classes.

    Encodes ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``, ``list``,
    ``tuple``, ``dict``, ``set``, ``frozenset`` (exactly these types, not subclasses), any
    exception (see the module docstring), the library's own values (`NodeId`, `NodeUp`,
    `NodeDown`, `noex_trio.IdleTimeout`; the library's errors as exceptions) and whatever was
    `register`-ed. Every node of a cluster must register the same classes under the same
    names.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, _Entry] = {}
        self._by_type: dict[type, _Entry] = {}
        self._exceptions: dict[str, type[Exception]] = dict(_allowed_exceptions())
        for name, cls in _library_types():
            self.register(cls, name=name)

    def __repr__(self) -> str:
        return f"<noex_trio.cluster.Codec: {len(self._by_name)} registered types>"

    # ----------------------------------------------------------------- registration

    def register(
        self,
        cls: type[T],
        *,
        name: str | None = None,
        to_wire: Callable[[T], object] | None = None,
        from_wire: Callable[[Any], T] | None = None,
    ) -> type[T]:
        """Allow `cls` on the wire; returns `cls` (so it also works as a class decorator).

        - an **attrs or dataclass class**: encoded as its wire name and its ``__init__``
          fields, rebuilt with ``cls(**fields)`` (so its validators run on what arrives);
        - an **Enum**: encoded as its wire name and the member's name;
        - any class with **`to_wire` and `from_wire`**: ``to_wire(obj)`` must return an
          encodable value, ``from_wire(value)`` rebuilds the object;
        - an **Exception subclass**: a remote exception of this class is rebuilt as it
          (``cls(*args)``) instead of arriving as a `RemoteError`.

        Args:
            cls: the class.
            name: its name on the wire (default ``"<module>.<qualname>"``); every node must
                use the same. Not for exceptions (their module and qualname are their name).
            to_wire, from_wire: conversions, for a class that is none of the above (or to
                override them). Give both or neither.

        Raises:
            TypeError: `cls` is not a class, or none of the kinds above without conversions.
            ValueError: a builtin type, a `BaseException` that is not an `Exception` (those
                are never rebuilt), or the name is taken by another class.
        """
        if not isinstance(cls, type):
            raise checks.type_error("cls", "a class", cls)
        if cls in _BUILTIN_TYPES:
            raise checks.value_error("cls", "a class that is not a builtin type", cls)
        if (to_wire is None) != (from_wire is None):
            raise TypeError("expected to_wire and from_wire to be given together, got only one")
        if to_wire is not None:
            checks.callable_(to_wire, "to_wire")
            checks.callable_(from_wire, "from_wire")
        if issubclass(cls, BaseException) and to_wire is None:
            if not issubclass(cls, Exception):
                raise checks.value_error(
                    "cls", "an Exception subclass (a BaseException is never rebuilt)", cls
                )
            if name is not None:
                raise ValueError(
                    f"expected no name for exception class {_type_name(cls)} "
                    "(its module and qualname are its name)"
                )
            self._exceptions[_full_name(cls)] = cls
            return cls
        wire_name = _full_name(cls) if name is None else checks.name(name, "name")
        if to_wire is not None:
            assert from_wire is not None
            conversions: tuple[Callable[[Any], object], Callable[[Any], object]] = (
                to_wire,
                from_wire,
            )
        elif issubclass(cls, enum.Enum):
            conversions = _enum(cls)
        elif attrs.has(cls) or dataclasses.is_dataclass(cls):
            conversions = _record(cls)
        else:
            raise checks.type_error(
                "cls",
                "an attrs or dataclass class, an Enum, an Exception subclass, "
                "or a class given with to_wire and from_wire",
                cls,
            )
        taken = self._by_name.get(wire_name)
        if taken is not None and taken.cls is not cls:
            raise ValueError(
                f"expected a wire name not registered yet, got {wire_name!r} "
                f"(already used by {_type_name(taken.cls)})"
            )
        previous = self._by_type.get(cls)
        if previous is not None and previous.name != wire_name:
            del self._by_name[previous.name]
        entry = _Entry(wire_name, cls, *conversions)
        self._by_name[wire_name] = entry
        self._by_type[cls] = entry
        return cls

    # ----------------------------------------------------------------- encoding

    def encode(self, value: object, *, max_size: int | None = None) -> bytes:
        """`value` as bytes (format byte ``0xA1`` and the tagged value).

        Raises:
            CodecError: `value` holds something that is not encodable (a type not
                registered, nesting deeper than `MAX_DEPTH`, a cycle), or a registered
                class's conversion raised.
            PayloadTooLargeError: the result would exceed `max_size` bytes; encoding stops
                as soon as it does.
        """
        limit = _check_max_size(max_size)
        out = bytearray((SAFE_FORMAT,))
        _Encoder(self, out, limit).value(value, 0)
        return bytes(out)

    # ----------------------------------------------------------------- decoding

    def decode(self, data: Bytes, *, max_size: int | None = None) -> object:
        """The value `data` holds.

        Raises:
            TypeError: `data` is not bytes-like.
            CodecError: anything wrong with `data`: not this format, truncated, trailing
                bytes, an unknown tag or registered name, bad UTF-8, nesting deeper than
                `MAX_DEPTH`, an unhashable set member or dict key, a registered class that
                refused its fields, or larger than `max_size`.
        """
        raw = _as_bytes(data)
        limit = _check_max_size(max_size)
        if limit is not None and len(raw) > limit:
            raise PayloadTooLargeError(len(raw), limit)
        if not raw or raw[0] != SAFE_FORMAT:
            shown = f"0x{raw[0]:02x}" if raw else "nothing"
            raise CodecError(f"not a message of the noex codec (format byte {shown})")
        reader = _Decoder(self, raw)
        value = reader.value(0)
        if reader.pos != len(raw):
            raise CodecError(f"{len(raw) - reader.pos} bytes after the value")
        return value


class _Encoder:
    __slots__ = ("_codec", "_limit", "_out")

    def __init__(self, codec: Codec, out: bytearray, limit: int | None) -> None:
        self._codec = codec
        self._out = out
        self._limit = limit

    def _check_size(self) -> None:
        if self._limit is not None and len(self._out) > self._limit:
            raise PayloadTooLargeError(len(self._out), self._limit)

    def _varint(self, number: int) -> None:
        out = self._out
        while number >= 0x80:
            out.append((number & 0x7F) | 0x80)
            number >>= 7
        out.append(number)

    def _text(self, text: str) -> None:
        data = text.encode("utf-8", "surrogatepass")
        self._varint(len(data))
        self._out += data

    def value(self, value: object, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise CodecError(f"nesting deeper than {MAX_DEPTH} levels (or a cycle)")
        out = self._out
        cls = type(value)
        if value is None:
            out += b"N"
        elif cls is bool:
            out += b"T" if value else b"F"
        elif cls is int:
            assert isinstance(value, int)
            if -_SMALL <= value < _SMALL:
                out += b"i"
                self._varint((value << 1) ^ (value >> 63))
            else:
                data = value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)
                out += b"I"
                self._varint(len(data))
                out += data
        elif cls is float:
            assert isinstance(value, float)
            out += b"f"
            out += _DOUBLE.pack(value)
        elif cls is str:
            assert isinstance(value, str)
            out += b"s"
            self._text(value)
        elif cls is bytes:
            assert isinstance(value, bytes)
            out += b"b"
            self._varint(len(value))
            out += value
        elif cls is list or cls is tuple or cls is set or cls is frozenset:
            assert isinstance(value, list | tuple | set | frozenset)
            out += _SEQUENCE_TAGS[cls]
            self._varint(len(value))
            for item in value:
                self.value(item, depth + 1)
        elif cls is dict:
            assert isinstance(value, dict)
            out += b"d"
            self._varint(len(value))
            for key, item in value.items():
                self.value(key, depth + 1)
                self.value(item, depth + 1)
        else:
            entry = self._codec._by_type.get(cls)
            if entry is not None:
                self._registered(entry, value, depth)
            elif isinstance(value, BaseException):
                self._exception(value, depth)
            else:
                raise CodecError(
                    f"cannot encode a {_type_name(cls)}: not a builtin value nor a registered "
                    "type (see noex_trio.cluster.Codec.register)"
                )
        self._check_size()

    def _registered(self, entry: _Entry, value: object, depth: int) -> None:
        try:
            wire = entry.to_wire(value)
        except Exception as exc:
            raise CodecError(
                f"converting a {_type_name(entry.cls)} for the wire raised {exc!r}"
            ) from exc
        self._out += b"R"
        self._text(entry.name)
        self.value(wire, depth + 1)

    def _exception(self, exc: BaseException, depth: int) -> None:
        cls = type(exc)
        out = self._out
        out += b"X"
        self._text(_type_name(cls))
        self._text(_module(cls))
        self._text(safe_str(exc, limit=TEXT_LIMIT))
        self._text(safe_repr(exc.args, limit=TEXT_LIMIT))
        mark = len(out)
        try:
            args = exc.args
            if type(args) is not tuple:
                raise CodecError("args is not a tuple")
            self.value(args, depth + 1)
        except CodecError:  # (a PayloadTooLargeError too: the text above is kept)
            del out[mark:]
            out += b"N"


_SEQUENCE_TAGS: Final[dict[type, bytes]] = {list: b"l", tuple: b"t", set: b"e", frozenset: b"z"}
_BUILTIN_TYPES: Final = frozenset(
    {type(None), bool, int, float, str, bytes, list, tuple, set, frozenset, dict}
)


class _Decoder:
    __slots__ = ("_codec", "_data", "pos")

    def __init__(self, codec: Codec, data: bytes) -> None:
        self._codec = codec
        self._data = data
        self.pos = 1

    def _take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self._data):
            raise CodecError("truncated message")
        chunk = self._data[self.pos : end]
        self.pos = end
        return chunk

    def _varint(self) -> int:
        data = self._data
        result = shift = 0
        for _ in range(10):
            if self.pos >= len(data):
                raise CodecError("truncated message")
            byte = data[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7
        raise CodecError("varint longer than 10 bytes")

    def _length(self) -> int:
        """A length or count: never more than the bytes left (each item takes one or more)."""
        size = self._varint()
        if size > len(self._data) - self.pos:
            raise CodecError("truncated message")
        return size

    def _text(self) -> str:
        try:
            return self._take(self._length()).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            raise CodecError(f"invalid UTF-8 in a str: {exc.reason}") from None

    def value(self, depth: int) -> object:
        if depth > MAX_DEPTH:
            raise CodecError(f"nesting deeper than {MAX_DEPTH} levels")
        tag = self._take(1)
        if tag == b"N":
            return None
        if tag == b"T":
            return True
        if tag == b"F":
            return False
        if tag == b"i":
            number = self._varint()
            if number >= 1 << 64:
                raise CodecError("int varint out of range")
            return (number >> 1) ^ -(number & 1)
        if tag == b"I":
            return int.from_bytes(self._take(self._length()), "big", signed=True)
        if tag == b"f":
            value: float = _DOUBLE.unpack(self._take(8))[0]
            return value
        if tag == b"s":
            return self._text()
        if tag == b"b":
            return self._take(self._length())
        if tag in (b"l", b"t", b"e", b"z"):
            items = [self.value(depth + 1) for _ in range(self._length())]
            if tag == b"l":
                return items
            if tag == b"t":
                return tuple(items)
            try:
                return set(items) if tag == b"e" else frozenset(items)
            except TypeError as exc:
                raise CodecError(f"a set member is not hashable: {exc}") from None
        if tag == b"d":
            result: dict[object, object] = {}
            for _ in range(self._length()):
                key = self.value(depth + 1)
                item = self.value(depth + 1)
                try:
                    result[key] = item
                except TypeError as exc:
                    raise CodecError(f"a dict key is not hashable: {exc}") from None
            return result
        if tag == b"R":
            return self._registered(depth)
        if tag == b"X":
            return self._exception(depth)
        raise CodecError(f"unknown tag {tag!r} at byte {self.pos - 1}")

    def _registered(self, depth: int) -> object:
        name = self._text()
        entry = self._codec._by_name.get(name)
        if entry is None:
            raise CodecError(f"unknown type {safe_repr(name)}: not registered with this codec")
        wire = self.value(depth + 1)
        try:
            return entry.from_wire(wire)
        except CodecError:
            raise
        except Exception as exc:
            raise CodecError(
                f"{_type_name(entry.cls)} refused what arrived: {safe_repr(exc)}"
            ) from exc

    def _exception(self, depth: int) -> object:
        type_name = self._text()
        module = self._text()
        message = self._text()
        args_repr = self._text()
        args = self.value(depth + 1)
        if args is not None and type(args) is not tuple:
            raise CodecError("the args of an exception are not a tuple")
        cls = self._codec._exceptions.get(f"{module}.{type_name}")
        if cls is not None and args is not None:
            try:
                exc = cls(*args)
            except Exception:
                exc = None
            if type(exc) is cls:
                return exc
        return RemoteError(type_name, module, message, args_repr)


class PickleCodec(BaseCodec):
    """Pickles anything: **only for a cluster whose every publisher you trust.**

    Decoding unpickles, and unpickling runs the code the bytes name: anyone able to publish on
    the cluster's subjects (any NATS user with publish rights there, or anyone on the network
    if NATS runs without authentication) can make every node run any code. Use it only with
    NATS authentication and permissions that admit the cluster's own nodes alone; prefer
    `Codec` and register your message types.

    Args:
        protocol: the pickle protocol (default: the highest).
    """

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self._protocol = checks.count(protocol, "protocol", minimum=2)
        if self._protocol > pickle.HIGHEST_PROTOCOL:
            raise checks.value_error(
                "protocol", f"an int from 2 to {pickle.HIGHEST_PROTOCOL}", protocol
            )

    def __repr__(self) -> str:
        return f"<noex_trio.cluster.PickleCodec protocol={self._protocol}>"

    def encode(self, value: object, *, max_size: int | None = None) -> bytes:
        limit = _check_max_size(max_size)
        try:
            data = bytes((PICKLE_FORMAT,)) + pickle.dumps(value, protocol=self._protocol)
        except Exception as exc:
            raise CodecError(f"cannot pickle {safe_repr(value)}: {safe_repr(exc)}") from exc
        if limit is not None and len(data) > limit:
            raise PayloadTooLargeError(len(data), limit)
        return data

    def decode(self, data: Bytes, *, max_size: int | None = None) -> object:
        raw = _as_bytes(data)
        limit = _check_max_size(max_size)
        if limit is not None and len(raw) > limit:
            raise PayloadTooLargeError(len(raw), limit)
        if not raw or raw[0] != PICKLE_FORMAT:
            shown = f"0x{raw[0]:02x}" if raw else "nothing"
            raise CodecError(f"not a message of the pickle codec (format byte {shown})")
        try:
            return pickle.loads(raw[1:])  # the documented, explicit opt-in
        except Exception as exc:
            raise CodecError(f"cannot unpickle: {safe_repr(exc)}") from exc


# --------------------------------------------------------------------------- what is allowed


def _library_types() -> list[tuple[str, type]]:
    """The library's value types every codec knows, under stable wire names."""
    return [
        ("noex.NodeId", NodeId),
        ("noex.NodeUp", NodeUp),
        ("noex.NodeDown", NodeDown),
        ("noex.IdleTimeout", IdleTimeout),
    ]


def _allowed_exceptions() -> list[tuple[str, type[Exception]]]:
    """Exception classes rebuilt as themselves: builtin ones (their constructors run no
    Python code), the library's errors, the NATS client's and the cluster's, and Trio's
    timeout."""
    candidates: list[object] = [*vars(builtins).values(), trio.TooSlowError]
    for module in (_exceptions, nats, _errors):
        candidates.extend(vars(module).values())
    return [
        (_full_name(cls), cls)
        for cls in candidates
        if isinstance(cls, type) and issubclass(cls, Exception)
    ]
