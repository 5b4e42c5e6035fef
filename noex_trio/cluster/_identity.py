"""Who a node is: its name and the incarnation it got when it joined (`NodeId`), and how a
name is written into NATS subjects.

A name alone does not identify a node over time: a node that restarts under the same name is
a new node (its processes are not the old ones, a monitor of an old process must not be
satisfied by a new one). OTP calls this the node's *creation*; here it is the *incarnation*,
a 64-bit number drawn when the node joins: the time in milliseconds in the high 42 bits (so a
later incarnation of a name is normally larger) and 22 random bits (so two nodes starting in
the same millisecond still differ).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from typing import Final

import attrs

from .. import _checks as checks

#: The longest node name, in characters.
MAX_NAME: Final = 128

_NAME = f"a non-empty printable str of at most {MAX_NAME} characters"
_MASK: Final = (1 << 64) - 1


def check_node_name(value: object, what: str = "name") -> str:
    """A node name: a printable str (``orders-1``, ``api@host.example.com``), 1 to `MAX_NAME`
    characters.

    Raises:
        TypeError: not a str.
        ValueError: empty, too long, or holding a control or unprintable character.
    """
    if not isinstance(value, str):
        raise checks.type_error(what, _NAME, value)
    text = str.__str__(value)
    if not text or len(text) > MAX_NAME or not text.isprintable():
        raise checks.value_error(what, _NAME, value)
    return text


def new_incarnation() -> int:
    """A fresh incarnation: milliseconds since the epoch (42 bits) and 22 random bits."""
    millis = time.time_ns() // 1_000_000
    return ((millis << 22) | secrets.randbits(22)) & _MASK


def check_incarnation(value: object, what: str = "incarnation") -> int:
    """An incarnation: an int in [0, 2**64)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise checks.type_error(what, "an int in [0, 2**64)", value)
    number = int.__int__(value)
    if not 0 <= number <= _MASK:
        raise checks.value_error(what, "an int in [0, 2**64)", value)
    return number


@attrs.frozen(order=True)
class NodeId:
    """A node of a cluster: its `name` and the `incarnation` it got when it joined.

    Two nodes with the same name but different incarnations are different nodes: the second
    is a restart of the first (or a rival that took its name).
    """

    name: str = attrs.field(converter=check_node_name)
    incarnation: int = attrs.field(converter=check_incarnation)

    def __str__(self) -> str:
        return f"{self.name}#{self.incarnation:016x}"


def name_token(name: str) -> str:
    """The node name as one NATS subject token: base64url of its UTF-8, without padding
    (alphabet ``A-Za-z0-9-_``: no dot, space or wildcard can reach a subject)."""
    return base64.urlsafe_b64encode(name.encode()).rstrip(b"=").decode("ascii")


def token_name(token: str) -> str | None:
    """The node name a subject token stands for, or None if it is not the canonical token of
    a valid node name (anything a hostile peer may publish)."""
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        name = raw.decode()
        check_node_name(name)
    except (ValueError, binascii.Error, UnicodeError):
        return None
    return name if name_token(name) == token else None
