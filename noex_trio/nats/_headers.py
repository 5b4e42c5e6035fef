"""NATS message headers: the ``NATS/1.0`` block of HPUB/HMSG (ADR-4).

A block is a status line ``NATS/1.0[ <code>[ <description>]]``, then ``Name: value`` lines,
then an empty line, every line ending in CRLF. Names keep their case and may repeat (the
values are kept in order); a value may be empty.

Parsing is lenient on purpose: a header block is written by whoever published the message,
not by the server, so a malformed one must not cost the connection. Lines without a colon are
skipped and a status line that is not a number gives no status.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Final, Union, final

from .. import _checks as checks

_HEADER_LINE = b"NATS/1.0"

#: What ``headers=`` accepts: `Headers`, a mapping (a value may be a list of values), or
#: (name, value) pairs.
HeadersLike = Union["Headers", Mapping[str, str | Sequence[str]], Iterable[tuple[str, str]]]


#: A header name: printable ASCII without spaces or ':' (checked in C).
_NAME: Final = re.compile(r"[!-9;-~]+")


def _check_name(name: object) -> str:
    text = checks.name(name, "header name")
    if _NAME.fullmatch(text) is None:
        raise checks.value_error("header name", "printable ASCII without spaces or ':'", name)
    return text


def _check_value(name: str, value: object) -> str:
    what = f"header {name!r}"
    if not isinstance(value, str):
        raise checks.type_error(what, "a str", value)
    text = str.__str__(value)
    if "\r" in text or "\n" in text:
        raise checks.value_error(what, "a str without CR or LF", value)
    return text


@final
class Headers(Mapping[str, str]):
    """The headers of a message: a read-only mapping from name to its first value, with every
    value of a repeated name in `get_all`, and the status the server set, if any (``503`` for
    "no responders").

    Build one from a mapping (a value may be a list of values) or from (name, value) pairs::

        Headers({"Trace-Id": "abc", "Tag": ["a", "b"]})
        Headers([("Tag", "a"), ("Tag", "b")])

    Names are case-sensitive. Two `Headers` are equal when their status and pairs are.
    """

    __slots__ = ("_description", "_pairs", "_status")

    def __init__(
        self,
        headers: Mapping[str, str | Sequence[str]] | Iterable[tuple[str, str]] = (),
    ) -> None:
        pairs: list[tuple[str, str]] = []
        if isinstance(headers, Mapping):
            for name, value in headers.items():
                key = _check_name(name)
                values = [value] if isinstance(value, str) else value
                if not isinstance(values, Sequence):
                    raise checks.type_error(f"header {key!r}", "a str or a list of str", value)
                pairs.extend((key, _check_value(key, item)) for item in values)
        elif isinstance(headers, str | bytes) or not isinstance(headers, Iterable):  # type: ignore[unreachable]
            raise checks.type_error(
                "headers", "a mapping of str or an iterable of (name, value) pairs", headers
            )
        else:
            for pair in headers:
                if not (isinstance(pair, tuple) and len(pair) == 2):
                    raise checks.type_error("header", "a (name, value) pair", pair)
                key = _check_name(pair[0])
                pairs.append((key, _check_value(key, pair[1])))
        self._pairs: tuple[tuple[str, str], ...] = tuple(pairs)
        self._status: int | None = None
        self._description = ""

    @classmethod
    def _parsed(cls, pairs: list[tuple[str, str]], status: int | None, description: str) -> Headers:
        headers = cls()
        headers._pairs = tuple(pairs)
        headers._status = status
        headers._description = description
        return headers

    @property
    def status(self) -> int | None:
        """The status code of the status line (``503``), or None."""
        return self._status

    @property
    def description(self) -> str:
        """The text after the status code (``"Message Not Found"``), or ``""``."""
        return self._description

    def __getitem__(self, name: str) -> str:
        for key, value in self._pairs:
            if key == name:
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(key for key, _ in self._pairs))

    def __len__(self) -> int:
        return len(dict.fromkeys(key for key, _ in self._pairs))

    def get_all(self, name: str) -> list[str]:
        """Every value of `name`, in the order they came (``[]`` if there is none)."""
        return [value for key, value in self._pairs if key == name]

    def pairs(self) -> tuple[tuple[str, str], ...]:
        """Every (name, value) pair, in order, repeated names included."""
        return self._pairs

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return (self.status, self.description, self._pairs) == (
            other.status,
            other.description,
            other._pairs,
        )

    def __hash__(self) -> int:
        return hash((self.status, self.description, self._pairs))

    def __repr__(self) -> str:
        status = f", status={self.status!r}" if self.status is not None else ""
        description = f", description={self.description!r}" if self.description else ""
        return f"Headers({list(self._pairs)!r}{status}{description})"


def as_headers(value: object) -> Headers:
    """`value` (a `Headers`, a mapping, or pairs) as `Headers`, checked."""
    if isinstance(value, Headers):
        return value
    return Headers(value)  # type: ignore[arg-type]  # Headers checks it


def encode(headers: Headers) -> bytes:
    """The header block of `headers`, ending with the empty line."""
    lines = [_HEADER_LINE]
    lines.extend(f"{name}: {value}".encode() for name, value in headers.pairs())
    lines.extend((b"", b""))
    return b"\r\n".join(lines)


def decode(block: bytes) -> Headers:
    """Parse a header block (leniently: see the module docstring)."""
    lines = block.decode("utf-8", "surrogateescape").split("\r\n")
    status: int | None = None
    description = ""
    first = lines[0].split(None, 2)
    if len(first) >= 2 and first[1].isascii() and first[1].isdigit():
        status = int(first[1])
        description = first[2].strip() if len(first) == 3 else ""
    pairs: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon and name:
            pairs.append((name, value.strip()))
    return Headers._parsed(pairs, status, description)
