"""A JetStream key-value bucket: compare-and-set writes, per-key TTLs, reads and watches.

A bucket ``B`` is the stream ``KV_B`` over the subjects ``$KV.B.>``; a key ``K`` is the
subject ``$KV.B.K``, and its revision is the stream sequence of its latest message. The
buckets made here keep one message per key (``max_msgs_per_subject: 1``), allow per-message
TTLs and direct gets, and write a *marker* when a TTL expires, so watchers hear of expiries.

Writes are requests to the key's subject (the server answers with a PubAck); compare-and-set
is the header ``Nats-Expected-Last-Subject-Sequence`` (error 10071 when it does not hold),
checked at the stream's leader. A deleted, purged or expired key keeps a message (a
tombstone or a marker), so "create if absent" is two steps: expect 0; on 10071 read the
key, and if what is there is not a value, expect that revision instead.

Needs nats-server 2.11 or later (JetStream API level >= 1) with JetStream enabled: older
servers accept the TTL settings and silently ignore them, so `key_value` checks the server's
API level and the configuration the server echoes back.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal, final

import attrs
import trio

from .. import _checks as checks
from .._handles import NoPublicConstructor
from . import _jetstream as js
from ._connection import Connection
from ._errors import (
    JetStreamError,
    KeyExistsError,
    NoRespondersError,
    RequestTimeoutError,
    WrongRevisionError,
)
from ._headers import Headers

if TYPE_CHECKING:
    from ._kv_watch import KeyWatcher

#: What a key's latest message says: a value, a delete (tombstone) or a purge.
Operation = Literal["PUT", "DEL", "PURGE"]

KEY: Final = "a key of characters '-/_=.A-Za-z0-9' in non-empty dot-separated tokens"
PATTERN: Final = f"{KEY} ('*' and a final '>' as whole tokens allowed)"
BUCKET: Final = "a bucket name of characters '-_A-Za-z0-9'"

_TOKEN: Final = re.compile(r"[-/_=A-Za-z0-9]+")
_BUCKET: Final = re.compile(r"[-_A-Za-z0-9]+")
_CURRENT: Final = re.compile(r"(\d+)\s*$")
_NANOSECONDS: Final = 1_000_000_000

EXPECTED_SEQUENCE: Final = "Nats-Expected-Last-Subject-Sequence"
OPERATION: Final = "KV-Operation"
MARKER_REASON: Final = "Nats-Marker-Reason"


# --------------------------------------------------------------------------- keys


def check_key(value: object, what: str = "key") -> str:
    """A key: tokens of ``-/_=A-Za-z0-9`` separated by single dots."""
    if not isinstance(value, str):
        raise checks.type_error(what, KEY, value)
    text = str.__str__(value)
    if not all(_TOKEN.fullmatch(token) for token in text.split(".")):
        raise checks.value_error(what, KEY, value)
    return text


def check_pattern(value: object) -> str:
    """A key pattern: a key whose tokens may also be ``*``, and the last ``>``."""
    if not isinstance(value, str):
        raise checks.type_error("pattern", PATTERN, value)
    text = str.__str__(value)
    tokens = text.split(".")
    for index, token in enumerate(tokens):
        last = index == len(tokens) - 1
        if not (token == "*" or (token == ">" and last) or _TOKEN.fullmatch(token)):
            raise checks.value_error("pattern", PATTERN, value)
    return text


def encode_key(name: str) -> str:
    """A key for any non-empty str: the base64url (no padding) of its UTF-8 bytes, one token
    of ``A-Za-z0-9-_`` (case-sensitive). `decode_key` gives the name back.

    Raises:
        TypeError / ValueError: not a non-empty str (or one that is not valid UTF-8, such as
            a lone surrogate).
    """
    text = checks.name(name, "name")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise checks.value_error("name", "a non-empty str encodable as UTF-8", name) from None
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_key(key: str) -> str:
    """The name `encode_key` made `key` from.

    Raises:
        TypeError / ValueError: not a key `encode_key` makes.
    """
    expected = "a key made by encode_key"
    if not isinstance(key, str):
        raise checks.type_error("key", expected, key)
    text = str.__str__(key)
    try:
        if not text or re.fullmatch(r"[-_A-Za-z0-9]+", text) is None:
            raise ValueError
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (ValueError, binascii.Error):
        raise checks.value_error("key", expected, key) from None


def check_bucket(value: object) -> str:
    if not isinstance(value, str):
        raise checks.type_error("bucket", BUCKET, value)
    text = str.__str__(value)
    if _BUCKET.fullmatch(text) is None:
        raise checks.value_error("bucket", BUCKET, value)
    return text


def check_ttl(value: object) -> str | None:
    """The ``Nats-TTL`` header value of a TTL in seconds (>= 1, the server's minimum)."""
    if value is None:
        return None
    expected = "None or a finite number of seconds >= 1"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise checks.type_error("ttl", expected, value)
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        seconds = math.inf
    if not (1.0 <= seconds < math.inf):  # NaN fails too
        raise checks.value_error("ttl", expected, value)
    millis = round(seconds * 1000)
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


# --------------------------------------------------------------------------- entries


@attrs.frozen(kw_only=True)
class KeyEntry:
    """A key's latest message, as `KeyValue.get` reads it or a watch delivers it.

    Attributes:
        bucket: the bucket.
        key: the key.
        value: the value (``b""`` for a delete, a purge or an expiry).
        revision: the stream sequence of the message: what `KeyValue.update` and
            `KeyValue.delete` compare against.
        created: when the server stored it (UTC).
        operation: ``"PUT"`` (a value), ``"DEL"`` (deleted) or ``"PURGE"`` (purged, or its
            TTL expired: then `marker_reason` is ``"MaxAge"``).
        marker_reason: set when the server wrote the message itself: ``"MaxAge"`` (the
            key's TTL expired), ``"Purge"`` or ``"Remove"``; None otherwise.
    """

    bucket: str
    key: str
    value: bytes
    revision: int
    created: datetime
    operation: Operation = "PUT"
    marker_reason: str | None = None


def entry(
    bucket: str, key: str, value: bytes, headers: Headers | None, revision: int, created: datetime
) -> KeyEntry:
    """The entry of a stored message (its headers say what it is; others are ignored)."""
    operation: Operation = "PUT"
    reason: str | None = None
    if headers is not None:
        kv_operation = headers.get(OPERATION)
        reason = headers.get(MARKER_REASON)
        if kv_operation in ("DEL", "PURGE"):
            operation = "DEL" if kv_operation == "DEL" else "PURGE"
        elif reason is not None:
            operation = "DEL" if reason == "Remove" else "PURGE"
    return KeyEntry(
        bucket=bucket,
        key=key,
        value=value if operation == "PUT" else b"",
        revision=revision,
        created=created,
        operation=operation,
        marker_reason=reason,
    )


def parse_time(text: str) -> datetime:
    """An RFC 3339 time with up to nanoseconds (``2026-01-02T03:04:05.123456789Z``)."""
    head, dot, rest = text.partition(".")
    if dot:
        digits = rest.rstrip("Z")
        text = f"{head}.{digits[:6].ljust(6, '0')}Z"
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)


# --------------------------------------------------------------------------- the bucket


@final
class KeyValue(metaclass=NoPublicConstructor):
    """A key-value bucket on a connection, from `key_value`.

    Every call is a request to the server, bounded by its `timeout` (a
    `RequestTimeoutError`, a `trio.TooSlowError`, when it passes). A write that is cancelled
    or times out after it was sent may still have happened: read the key to know.
    """

    _noex_made_by = "use `await noex_trio.nats.key_value(nc, bucket)`"

    def __init__(self, connection: Connection, bucket: str, config: dict[str, Any]) -> None:
        self._connection = connection
        self._bucket = bucket
        self._stream = f"KV_{bucket}"
        self._prefix = f"$KV.{bucket}."
        self._config = config

    def __repr__(self) -> str:
        return f"<noex_trio.nats.KeyValue {self._bucket!r}>"

    @property
    def bucket(self) -> str:
        """The bucket's name."""
        return self._bucket

    @property
    def connection(self) -> Connection:
        """The connection it uses."""
        return self._connection

    @property
    def stream_config(self) -> dict[str, Any]:
        """A copy of the bucket's stream configuration, as the server reported it."""
        return dict(self._config)

    # ----------------------------------------------------------------- reads

    async def get(
        self,
        key: str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - every JetStream call takes a deadline
    ) -> KeyEntry | None:
        """The key's value, or None if it has none (never written, deleted, purged or
        expired).

        Raises:
            JetStreamError: JetStream refused, or did not answer (code 503).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        found = await self._latest(check_key(key), checks.seconds(timeout, "timeout"))
        return found if found is not None and found.operation == "PUT" else None

    async def _latest(self, key: str, timeout: float) -> KeyEntry | None:  # noqa: ASYNC109
        """The key's latest message (a value, tombstone or marker), or None."""
        subject = f"$JS.API.DIRECT.GET.{self._stream}.{self._prefix}{key}"
        try:
            msg = await self._connection.request(subject, timeout=timeout)
        except NoRespondersError:
            raise js.unavailable(subject) from None
        headers = msg.headers
        if headers is not None and headers.status is not None:
            if headers.status == 404:
                return None
            raise JetStreamError(headers.status, 0, headers.description or "direct get failed")
        if headers is None or not (revision := headers.get("Nats-Sequence", "")).isdigit():
            raise JetStreamError(0, 0, f"the answer to {subject!r} has no sequence")
        created = parse_time(headers.get("Nats-Time-Stamp", ""))
        return entry(self._bucket, key, msg.data, headers, int(revision), created)

    async def keys(
        self,
        pattern: str = ">",
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - every JetStream call takes a deadline
    ) -> list[str]:
        """The keys that hold a value (matching `pattern`), in revision order.

        It reads the latest message of every key (headers only) through a short-lived
        consumer, within `timeout` in all.

        Raises:
            JetStreamError / RequestTimeoutError: as `get`.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        pattern = check_pattern(pattern)
        timeout = checks.seconds(timeout, "timeout")
        try:
            with trio.fail_after(timeout):
                async with self._watch(pattern, False, 5.0, timeout, headers_only=True) as w:
                    entries = await w.initial()
        except trio.TooSlowError:
            raise RequestTimeoutError(f"{self._prefix}{pattern}", timeout) from None
        return [item.key for item in entries if item.operation == "PUT"]

    def watch(
        self,
        pattern: str = ">",
        *,
        updates_only: bool = False,
        idle_heartbeat: float = 5.0,
        max_pending: int = 65536,
        timeout: float = 5.0,
    ) -> KeyWatcher:
        """A watch of the keys matching `pattern` (``">"``: every key), active inside
        ``async with``: first the latest message of every key (`KeyWatcher.initial`), then
        every change as it happens, deletes, purges and TTL expiries included.

        Args:
            pattern: a key, or a pattern with ``*`` (one token) and a final ``>``.
            updates_only: skip the initial values; only changes made from now on.
            idle_heartbeat: the server sends a heartbeat when it has nothing to send for
                that long; three missed in a row (or a lost message) and the watch
                re-creates its consumer from the last revision it delivered.
            max_pending: the most messages queued unread; more are dropped, and the watch
                catches up by re-creating its consumer after the last entry it delivered.
            timeout: the bound of each request the watch makes.

        Raises:
            TypeError / ValueError: a bad argument.
        """
        return self._watch(
            check_pattern(pattern),
            checks.boolean(updates_only, "updates_only"),
            checks.seconds(idle_heartbeat, "idle_heartbeat", inf=False),
            checks.seconds(timeout, "timeout"),
            max_pending=checks.count(max_pending, "max_pending", minimum=1),
        )

    def _watch(
        self,
        pattern: str,
        updates_only: bool,
        idle_heartbeat: float,
        timeout: float,
        *,
        headers_only: bool = False,
        max_pending: int = 65536,
    ) -> KeyWatcher:
        from ._kv_watch import KeyWatcher  # a cycle: it imports this module

        return KeyWatcher._create(
            self, pattern, updates_only, idle_heartbeat, timeout, headers_only, max_pending
        )

    # ----------------------------------------------------------------- writes

    async def put(
        self,
        key: str,
        value: bytes | bytearray | memoryview,
        *,
        ttl: float | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - every JetStream call takes a deadline
    ) -> int:
        """Write `value` whatever the key holds; return its revision.

        Args:
            ttl: seconds (>= 1) after which the server removes the key (and writes an
                expiry marker watchers see as a ``"PURGE"``); None: never.

        Raises:
            JetStreamError: JetStream refused, or did not answer (code 503).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        key, ttl_header, timeout = (
            check_key(key),
            check_ttl(ttl),
            checks.seconds(timeout, "timeout"),
        )
        return await self._write(key, value, None, ttl_header, timeout)

    async def create(
        self,
        key: str,
        value: bytes | bytearray | memoryview,
        *,
        ttl: float | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - every JetStream call takes a deadline
    ) -> int:
        """Write `value` only if the key holds none (never written, deleted, purged or
        expired); return its revision. Of concurrent creates of a key, exactly one wins.

        Args:
            ttl: as `put`: a lease the owner renews with `update`.
            timeout: the bound of the whole operation (it may take three round trips).

        Raises:
            KeyExistsError: the key holds a value (its revision in the error).
            JetStreamError: JetStream refused, or did not answer (code 503).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        key, ttl_header, timeout = (
            check_key(key),
            check_ttl(ttl),
            checks.seconds(timeout, "timeout"),
        )
        deadline = trio.current_time() + timeout
        expected = 0
        try:
            while True:
                remaining = max(deadline - trio.current_time(), 1e-3)
                try:
                    return await self._write(key, value, expected, ttl_header, remaining)
                except WrongRevisionError:
                    pass
                # Something is there: a value (we lost), or a tombstone/marker to write over.
                remaining = max(deadline - trio.current_time(), 1e-3)
                latest = await self._latest(key, remaining)
                if latest is not None and latest.operation == "PUT":
                    raise KeyExistsError(key, latest.revision)
                expected = 0 if latest is None else latest.revision
        except RequestTimeoutError:
            raise RequestTimeoutError(f"{self._prefix}{key}", timeout) from None

    async def update(
        self,
        key: str,
        value: bytes | bytearray | memoryview,
        *,
        revision: int,
        ttl: float | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - every JetStream call takes a deadline
    ) -> int:
        """Write `value` only if the key's latest revision is `revision` (compare-and-set);
        return the new revision. With `ttl`, this renews a lease.

        Raises:
            WrongRevisionError: the key is at another revision (written since, or expired).
            JetStreamError: JetStream refused, or did not answer (code 503).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        key, ttl_header = check_key(key), check_ttl(ttl)
        expected = checks.count(revision, "revision", minimum=1)
        timeout = checks.seconds(timeout, "timeout")
        return await self._write(key, value, expected, ttl_header, timeout)

    async def delete(
        self,
        key: str,
        *,
        revision: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - every JetStream call takes a deadline
    ) -> int:
        """Delete the key (a tombstone: watchers see a ``"DEL"``); return the tombstone's
        revision. With `revision`, only if the key is still at that revision: an owner
        never deletes a successor's value.

        Raises:
            WrongRevisionError: `revision` given and the key is at another one.
            JetStreamError: JetStream refused, or did not answer (code 503).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        key = check_key(key)
        expected = None if revision is None else checks.count(revision, "revision", minimum=1)
        timeout = checks.seconds(timeout, "timeout")
        return await self._write(key, b"", expected, None, timeout, {OPERATION: "DEL"})

    async def purge(
        self,
        key: str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - every JetStream call takes a deadline
    ) -> int:
        """Purge the key: its older messages are removed, a purge entry is kept (watchers
        see a ``"PURGE"``); return that entry's revision.

        Raises:
            JetStreamError: JetStream refused, or did not answer (code 503).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        key, timeout = check_key(key), checks.seconds(timeout, "timeout")
        headers = {OPERATION: "PURGE", "Nats-Rollup": "sub"}
        return await self._write(key, b"", None, None, timeout, headers)

    async def _write(
        self,
        key: str,
        value: bytes | bytearray | memoryview,
        expected: int | None,
        ttl: str | None,
        timeout: float,  # noqa: ASYNC109
        extra: dict[str, str] | None = None,
    ) -> int:
        headers = dict(extra or {})
        if expected is not None:
            headers[EXPECTED_SEQUENCE] = str(expected)
        if ttl is not None:
            headers["Nats-TTL"] = ttl
        subject = f"{self._prefix}{key}"
        try:
            reply = await js.request(
                self._connection, subject, value, headers=headers or None, timeout=timeout
            )
        except JetStreamError as exc:
            if exc.err_code == js.WRONG_LAST_SEQUENCE and expected is not None:
                match = _CURRENT.search(exc.description)
                current = int(match[1]) if match else None
                raise WrongRevisionError(key, expected, current) from None
            raise
        return js.sequence(reply, subject)


# --------------------------------------------------------------------------- opening


async def key_value(
    connection: Connection,
    bucket: str,
    *,
    create: bool = True,
    storage: Literal["file", "memory"] = "file",
    replicas: int = 1,
    marker_ttl: float | None = 60.0,
    timeout: float = 5.0,  # noqa: ASYNC109 - every JetStream call takes a deadline
) -> KeyValue:
    """The key-value bucket `bucket` on `connection`, created if absent (unless `create` is
    False). Creating is idempotent: a bucket made before with the same options is used as is;
    one made with other options is used if it fits (one message per key, per-key TTLs and
    direct gets allowed).

    Args:
        connection: a connection to a server with JetStream enabled (nats-server >= 2.11).
        bucket: the name (``-_A-Za-z0-9``); the stream is ``KV_<bucket>``.
        create: create the bucket if it does not exist.
        storage: ``"file"`` (survives server restarts) or ``"memory"``.
        replicas: the stream's replicas in a JetStream cluster (1 to 5).
        marker_ttl: how long (seconds, >= 1) the marker the server writes when a key's TTL
            expires stays; watchers that are away longer miss it. None: no markers (watchers
            never hear of expiries).
        timeout: the bound of each request.

    Raises:
        JetStreamError: JetStream is not enabled (code 503), the server is too old for
            per-key TTLs, the bucket does not exist (`create` False) or does not fit, or
            JetStream refused to create it.
        TypeError / ValueError: a bad argument.
    """
    await trio.lowlevel.checkpoint_if_cancelled()
    checks.instance(connection, "connection", Connection, expected="a noex_trio.nats.Connection")
    bucket = check_bucket(bucket)
    create = checks.boolean(create, "create")
    storage = checks.one_of(storage, "storage", ("file", "memory"))
    replicas = checks.count(replicas, "replicas", minimum=1)
    if replicas > 5:
        raise checks.value_error("replicas", "an int from 1 to 5", replicas)
    if marker_ttl is not None:
        marker_ttl = checks.number(marker_ttl, "marker_ttl", minimum=1.0)
    timeout = checks.seconds(timeout, "timeout")

    info = await js.request(connection, "$JS.API.INFO", timeout=timeout)
    api = info.get("api")
    level = api.get("level") if isinstance(api, dict) else None
    if not isinstance(level, int) or level < 1:
        raise JetStreamError(
            0,
            0,
            "the server is too old for per-key TTLs (JetStream API level >= 1, "
            "nats-server >= 2.11, is needed)",
        )
    stream = f"KV_{bucket}"
    config: dict[str, Any] | None = None
    if create:
        wanted = _bucket_config(bucket, storage, replicas, marker_ttl)
        try:
            reply = await js.request(
                connection, f"$JS.API.STREAM.CREATE.{stream}", wanted, timeout=timeout
            )
            config = reply.get("config")
        except JetStreamError as exc:
            if exc.err_code != js.STREAM_NAME_IN_USE:
                raise
    if config is None:
        try:
            reply = await js.request(connection, f"$JS.API.STREAM.INFO.{stream}", timeout=timeout)
        except JetStreamError as exc:
            if exc.err_code == js.STREAM_NOT_FOUND:
                raise JetStreamError(exc.code, exc.err_code, f"no bucket {bucket!r}") from None
            raise
        config = reply.get("config")
    if not isinstance(config, dict):
        raise JetStreamError(0, 0, f"the server did not say how bucket {bucket!r} is configured")
    _check_config(bucket, config)
    return KeyValue._create(connection, bucket, config)


def _bucket_config(
    bucket: str, storage: str, replicas: int, marker_ttl: float | None
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": f"KV_{bucket}",
        "subjects": [f"$KV.{bucket}.>"],
        "retention": "limits",
        "max_msgs_per_subject": 1,
        "max_msgs": -1,
        "max_bytes": -1,
        "max_age": 0,
        "max_consumers": -1,
        "storage": storage,
        "num_replicas": replicas,
        "discard": "new",
        "allow_rollup_hdrs": True,
        "deny_delete": True,
        "allow_direct": True,
        "allow_msg_ttl": True,
    }
    if marker_ttl is not None:
        config["subject_delete_marker_ttl"] = round(marker_ttl * _NANOSECONDS)
    return config


def _check_config(bucket: str, config: dict[str, Any]) -> None:
    """The bucket can serve this client: per-key TTLs kept (an old server drops the field
    silently), one message per key, direct gets."""
    if config.get("allow_msg_ttl") is not True:
        raise JetStreamError(
            0,
            0,
            f"bucket {bucket!r} has no per-key TTLs (allow_msg_ttl): the server is too "
            "old (nats-server >= 2.11 is needed) or the bucket was made without them",
        )
    if config.get("max_msgs_per_subject") != 1 or config.get("allow_direct") is not True:
        raise JetStreamError(
            0,
            0,
            f"bucket {bucket!r} is configured otherwise (it needs max_msgs_per_subject 1 "
            "and allow_direct)",
        )
