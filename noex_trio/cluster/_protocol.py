"""The cluster's subjects and control messages on NATS.

Subjects (``P`` = ``<subject_prefix>.<cluster>``, ``<node>`` = the node name as one token,
see `name_token`)::

    P.node.<node>.hb              the node's heartbeats, hello, probes, goodbye (everyone listens
                                  on P.node.*.hb)
    P.node.<node>.claim           requests claiming the name (everyone listens on P.node.*.claim:
                                  the holder answers "taken", a rival claimant "claiming")
    P.node.<node>.rpc.<suffix>    requests to the node's handlers (the node listens on
                                  P.node.<node>.rpc.>)
    P.node.<node>.proc            messages to the node's processes (call, cast, stop, monitors,
                                  links, exit signals), read in arrival order by one task

The sender of a heartbeat is the node its *subject* names, so NATS permissions can keep a
user from speaking for another node (allow it to publish on ``P.node.<its token>.>`` only).

A control message is the default codec's encoding of ``(1, kind, incarnation)``: version 1,
a kind among `CONTROL_KINDS`, the sender's incarnation. Anything else is garbage: counted,
ignored.
"""

from __future__ import annotations

import functools
from typing import Final, Literal, TypeAlias

from ._codec import Codec
from ._errors import CodecError
from ._identity import check_incarnation, token_name

#: Heartbeat-subject kinds: ``hello`` (a new session: joined, or back after losing its
#: connection; answer with a heartbeat), ``hb`` (alive), ``probe`` (a node checking its own
#: connection, which others ignore), ``bye`` (leaving cleanly).
BeatKind: TypeAlias = Literal["hello", "hb", "probe", "bye"]
#: Claim-subject kinds: ``claim`` (request), ``taken`` / ``claiming`` (answers).
ClaimKind: TypeAlias = Literal["claim", "taken", "claiming"]

BEAT_KINDS: Final = ("hello", "hb", "probe", "bye")
CLAIM_KINDS: Final = ("claim", "taken", "claiming")

VERSION: Final = 1

#: Status header of a reply to a request.
STATUS: Final = "Noex-Status"
#: Headers of a request: the sender's token and incarnation, the target's incarnation.
FROM: Final = "Noex-From"
FROM_INCARNATION: Final = "Noex-From-Inc"
TO_INCARNATION: Final = "Noex-To-Inc"
#: Header of a message to a node's processes: what it is (``call``, ``cast``...).
KIND: Final = "Noex-Kind"
#: Room left for the header block when a payload is sized against ``max_payload``.
HEADER_ROOM: Final = 512


class Subjects:
    """The subjects of one cluster (one prefix)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._node = f"{prefix}.node."
        self.beats = f"{prefix}.node.*.hb"
        self.claims = f"{prefix}.node.*.claim"
        self._depth = prefix.count(".") + 4  # tokens of P.node.<node>.hb

    def beat(self, token: str) -> str:
        return f"{self._node}{token}.hb"

    def claim(self, token: str) -> str:
        return f"{self._node}{token}.claim"

    def rpc(self, token: str, suffix: str) -> str:
        return f"{self._node}{token}.rpc.{suffix}"

    def proc(self, token: str) -> str:
        return f"{self._node}{token}.proc"

    def rpc_all(self, token: str) -> str:
        return f"{self._node}{token}.rpc.>"

    def sender(self, subject: str) -> str | None:
        """The node name a heartbeat or claim subject names, or None (garbage)."""
        tokens = subject.split(".")
        if len(tokens) != self._depth or not subject.startswith(self._node):
            return None
        return token_name(tokens[-2])


@functools.cache
def _control() -> Codec:
    """The codec of control messages (builtins only); made on first use."""
    return Codec()


def encode_control(kind: str, incarnation: int) -> bytes:
    return _control().encode((VERSION, kind, incarnation))


def decode_control(data: bytes, kinds: tuple[str, ...]) -> tuple[str, int] | None:
    """``(kind, incarnation)`` from a control message, or None if it is not a valid one."""
    try:
        value = _control().decode(data, max_size=64)
    except CodecError:
        return None
    if type(value) is not tuple or len(value) != 3:
        return None
    version, kind, incarnation = value
    if type(version) is not int or version != VERSION:
        return None
    if type(kind) is not str or kind not in kinds:
        return None
    try:
        return kind, check_incarnation(incarnation)
    except (TypeError, ValueError):
        return None
