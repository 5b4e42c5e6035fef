"""The NATS client protocol on bytes: an incremental parser for what the server sends and the
encoders for what the client sends. No I/O here (the connection feeds bytes in).

Server to client: ``INFO {json}``, ``MSG <subject> <sid> [reply] <n>`` + payload,
``HMSG <subject> <sid> [reply] <hdr_n> <total_n>`` + header block and payload, ``PING``,
``PONG``, ``+OK``, ``-ERR '<text>'``. Lines end in CRLF; fields are separated by runs of spaces
or tabs; operation names are case-insensitive. A payload is read by its byte count, never by
looking for CRLF in it.

The parser is strict about framing (the server wrote it; anything unexpected means the stream
is out of step and the connection must be dropped) and lenient about content (subjects are
decoded losslessly with ``surrogateescape``; header blocks are parsed leniently): a publisher
cannot make the client drop its connection.
"""

from __future__ import annotations

import json
from typing import Any, Final

import attrs

from . import _headers
from ._errors import ProtocolError
from ._headers import Headers

#: The longest control line the server accepts from a client (nats-server's default).
MAX_CONTROL_LINE: Final = 4096
#: The longest control line accepted from the server (a MSG line holds a subject and a reply
#: subject, each up to about `MAX_CONTROL_LINE`).
MAX_SERVER_CONTROL_LINE: Final = 64 * 1024
#: The largest message the server can be configured to carry (nats-server's hard limit).
MAX_MESSAGE: Final = 64 * 1024 * 1024

PING: Final = b"PING\r\n"
PONG: Final = b"PONG\r\n"


@attrs.frozen
class Info:
    """``INFO``: the server's description of itself."""

    info: dict[str, Any]


@attrs.frozen
class Message:
    """``MSG``/``HMSG``."""

    subject: str
    sid: int
    reply: str | None
    headers: Headers | None
    payload: bytes


@attrs.frozen
class Err:
    """``-ERR``, its text without the quotes."""

    text: str


@attrs.frozen
class Ping:
    """``PING``: the server checks that the client is alive; answer ``PONG``."""


@attrs.frozen
class Pong:
    """``PONG``: the answer to a ``PING`` the client sent."""


@attrs.frozen
class Ok:
    """``+OK`` (only in verbose mode, which the client does not ask for)."""


Op = Info | Message | Err | Ping | Pong | Ok

_PING_OP: Final = Ping()
_PONG_OP: Final = Pong()
_OK_OP: Final = Ok()


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def encode_text(text: str) -> bytes:
    """A subject or name as bytes (a subject received with odd bytes goes back as it came)."""
    return text.encode("utf-8", "surrogateescape")


def _number(raw: bytes, line: bytes) -> int:
    if not raw.isdigit():
        raise ProtocolError(f"bad number {raw!r} in {line[:200]!r}")
    return int(raw)


def _size(raw: bytes, line: bytes) -> int:
    value = _number(raw, line)
    if value > MAX_MESSAGE:
        raise ProtocolError(f"message size {value} is over {MAX_MESSAGE} bytes")
    return value


class Parser:
    """Turns bytes from the server, split anywhere, into operations (`Op`)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        # The MSG/HMSG whose payload is awaited: subject, sid, reply, header size (-1 for
        # MSG), total size.
        self._pending: tuple[str, int, str | None, int, int] | None = None

    @property
    def buffered(self) -> int:
        """Bytes received and not parsed yet."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray) -> list[Op]:
        """Add `data`; return every operation now complete, in order.

        Raises:
            ProtocolError: the bytes are not the NATS protocol (the stream is out of step).
        """
        buffer = self._buffer
        buffer += data
        ops: list[Op] = []
        position = 0
        try:
            while True:
                pending = self._pending
                if pending is not None:
                    subject, sid, reply, header_size, total = pending
                    end = position + total
                    if len(buffer) < end + 2:
                        break
                    if buffer[end : end + 2] != b"\r\n":
                        raise ProtocolError("message payload is not followed by CRLF")
                    headers = None
                    start = position
                    if header_size >= 0:
                        start = position + header_size
                        headers = _headers.decode(bytes(buffer[position:start]))
                    ops.append(Message(subject, sid, reply, headers, bytes(buffer[start:end])))
                    position = end + 2
                    self._pending = None
                    continue
                newline = buffer.find(b"\r\n", position)
                if newline < 0:
                    if len(buffer) - position > MAX_SERVER_CONTROL_LINE:
                        raise ProtocolError(
                            f"control line longer than {MAX_SERVER_CONTROL_LINE} bytes"
                        )
                    break
                line = bytes(buffer[position:newline])
                position = newline + 2
                op = self._control(line)
                if op is not None:
                    ops.append(op)
        finally:
            del buffer[:position]
        return ops

    def _control(self, line: bytes) -> Op | None:
        """One control line: an operation, or None when a payload follows."""
        fields = line.split()
        if not fields:
            raise ProtocolError("empty control line")
        name = fields[0].upper()
        args = fields[1:]
        if name == b"MSG" and len(args) in (3, 4):
            reply = _decode(args[2]) if len(args) == 4 else None
            total = _size(args[-1], line)
            self._pending = (_decode(args[0]), _number(args[1], line), reply, -1, total)
            return None
        if name == b"HMSG" and len(args) in (4, 5):
            reply = _decode(args[2]) if len(args) == 5 else None
            header_size, total = _size(args[-2], line), _size(args[-1], line)
            if header_size > total:
                raise ProtocolError(f"header size over total size in {line[:200]!r}")
            self._pending = (_decode(args[0]), _number(args[1], line), reply, header_size, total)
            return None
        if not args and name in (b"PING", b"PONG", b"+OK"):
            return _PING_OP if name == b"PING" else _PONG_OP if name == b"PONG" else _OK_OP
        if name == b"INFO" and args:
            try:
                info = json.loads(line[4:])
            except ValueError:
                info = None
            if not isinstance(info, dict):
                raise ProtocolError(f"INFO is not a JSON object: {line[:200]!r}")
            return Info(info)
        if name == b"-ERR":
            text = _decode(line[4:]).strip()
            if len(text) >= 2 and text[0] == text[-1] == "'":
                text = text[1:-1]
            return Err(text)
        raise ProtocolError(f"unexpected operation {line[:200]!r}")


# --------------------------------------------------------------------------- encoders


def _control_line(*fields: bytes) -> bytes:
    line = b" ".join(fields)
    if len(line) + 2 > MAX_CONTROL_LINE:
        raise ValueError(
            f"expected the subjects to fit in a {MAX_CONTROL_LINE}-byte control line, "
            f"got one of {len(line) + 2} bytes"
        )
    return line + b"\r\n"


def connect(options: dict[str, Any]) -> bytes:
    """``CONNECT {json}``."""
    return b"CONNECT " + json.dumps(options, separators=(",", ":")).encode() + b"\r\n"


def publish(
    subject: bytes, reply: bytes | None, header_block: bytes | None, payload: bytes
) -> bytes:
    """``PUB`` (no headers) or ``HPUB``, with the payload.

    Raises:
        ValueError: the subjects do not fit in a control line.
    """
    size = str(len(payload)).encode()
    fields = [subject] if reply is None else [subject, reply]
    if header_block is None:
        return b"".join((_control_line(b"PUB", *fields, size), payload, b"\r\n"))
    total = str(len(header_block) + len(payload)).encode()
    line = _control_line(b"HPUB", *fields, str(len(header_block)).encode(), total)
    return b"".join((line, header_block, payload, b"\r\n"))


def subscribe(subject: bytes, queue: bytes | None, sid: int) -> bytes:
    """``SUB``."""
    fields = [subject] if queue is None else [subject, queue]
    return _control_line(b"SUB", *fields, str(sid).encode())


def unsubscribe(sid: int, max_msgs: int | None = None) -> bytes:
    """``UNSUB`` (after `max_msgs` messages in all, if given)."""
    if max_msgs is None:
        return b"UNSUB %d\r\n" % sid
    return b"UNSUB %d %d\r\n" % (sid, max_msgs)
