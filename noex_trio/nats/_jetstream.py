"""The few JetStream API calls the key-value store needs: JSON requests to ``$JS.API.*`` and
the answers of publishes to a stream (PubAcks).

Every answer is JSON; a refusal carries ``{"error": {"code", "err_code", "description"}}``
(`JetStreamError`). Nobody answering (the server's 503) means JetStream is not enabled, the
stream does not exist, or JetStream is not ready yet after a restart: also a `JetStreamError`,
with code 503, so callers handle one kind of error. Unknown fields in answers are ignored
(servers add fields); the client never sends a field an older server would not know.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from ._errors import JetStreamError, NoRespondersError
from ._headers import HeadersLike

if TYPE_CHECKING:
    from ._connection import Connection
    from ._subscription import Msg

#: The error code of a failed "expected last subject sequence" check (compare-and-set).
WRONG_LAST_SEQUENCE: Final = 10071
#: "stream name already in use with a different configuration".
STREAM_NAME_IN_USE: Final = 10058
#: "stream not found".
STREAM_NOT_FOUND: Final = 10059

UNAVAILABLE: Final = 503


def unavailable(subject: str) -> JetStreamError:
    """Nobody answered `subject`."""
    return JetStreamError(
        UNAVAILABLE,
        0,
        f"no responders for {subject!r}: JetStream is not enabled on the server, the stream "
        "does not exist, or JetStream is not ready yet",
    )


def decode(msg: Msg, subject: str) -> dict[str, Any]:
    """The JSON object of an answer; its ``error`` raised as a `JetStreamError`."""
    try:
        reply = json.loads(msg.data)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise JetStreamError(0, 0, f"the answer to {subject!r} is not a JSON object: {msg.data!r}")
    error = reply.get("error")
    if isinstance(error, dict):
        raise JetStreamError(
            _int(error.get("code")), _int(error.get("err_code")), str(error.get("description"))
        )
    return reply


async def request(
    connection: Connection,
    subject: str,
    body: dict[str, Any] | bytes | bytearray | memoryview = b"",
    *,
    headers: HeadersLike | None = None,
    timeout: float,  # noqa: ASYNC109 - every JetStream call takes a deadline
) -> dict[str, Any]:
    """Send a request to the JetStream API (a JSON `body`) or to a stream's subject (a
    payload); return the decoded answer.

    Raises:
        JetStreamError: the answer is an error, or nobody answered (code 503).
        RequestTimeoutError / ConnectionClosedError: from `Connection.request`.
    """
    payload = json.dumps(body).encode() if isinstance(body, dict) else body
    try:
        msg = await connection.request(subject, payload, headers=headers, timeout=timeout)
    except NoRespondersError:
        raise unavailable(subject) from None
    return decode(msg, subject)


def sequence(reply: dict[str, Any], subject: str) -> int:
    """The stream sequence of a PubAck (the key's new revision)."""
    seq = reply.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq <= 0:
        raise JetStreamError(0, 0, f"the answer to {subject!r} has no sequence: {reply!r}")
    return seq


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
