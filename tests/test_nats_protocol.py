"""The NATS client without a server: the parser (bytes split anywhere), the encoders, headers,
subjects, nkeys, options and the errors."""

from __future__ import annotations

import copy
import math
import pickle
import ssl
import sys
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from noex_trio import NoexError, nats
from noex_trio.nats import _nkeys, _subjects
from noex_trio.nats import _protocol as protocol
from noex_trio.nats._handshake import describe, server_error
from noex_trio.nats._headers import Headers, decode, encode
from noex_trio.nats._options import parse_server

STREAM = (
    b'INFO {"server_id":"x","max_payload":1048576} \r\n'
    b"PING\r\n"
    b"MSG foo.bar 1 5\r\nhello\r\n"
    b"msg\tfoo.bar\t2\treply.to\t0\r\n\r\n"
    b"HMSG a.b 3 24 29\r\nNATS/1.0\r\nK: v\r\nK: w\r\n\r\nhello\r\n"
    b"HMSG _INBOX.x.1 4 r 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
    b"+OK\r\n"
    b"MSG bin 5 4\r\n\r\n\r\n\r\n"
    b"-ERR 'Permissions Violation for Publish to \"x\"'\r\n"
    b"pong\r\n"
)


def expected_ops() -> list[protocol.Op]:
    return [
        protocol.Info({"server_id": "x", "max_payload": 1048576}),
        protocol.Ping(),
        protocol.Message("foo.bar", 1, None, None, b"hello"),
        protocol.Message("foo.bar", 2, "reply.to", None, b""),
        protocol.Message("a.b", 3, None, Headers([("K", "v"), ("K", "w")]), b"hello"),
        protocol.Message("_INBOX.x.1", 4, "r", decode(b"NATS/1.0 503\r\n\r\n"), b""),
        protocol.Ok(),
        protocol.Message("bin", 5, None, None, b"\r\n\r\n"),
        protocol.Err('Permissions Violation for Publish to "x"'),
        protocol.Pong(),
    ]


def test_parser_reads_every_operation() -> None:
    ops = protocol.Parser().feed(STREAM)
    assert ops == expected_ops()
    message = ops[5]
    assert isinstance(message, protocol.Message)
    assert message.headers is not None
    assert message.headers.status == 503


def test_parser_split_at_every_position() -> None:
    for cut in range(len(STREAM) + 1):
        parser = protocol.Parser()
        ops = parser.feed(STREAM[:cut]) + parser.feed(STREAM[cut:])
        assert ops == expected_ops(), cut
        assert parser.buffered == 0


@settings(deadline=None, max_examples=200)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_parser_split_anywhere(cuts: list[int]) -> None:
    parser = protocol.Parser()
    ops: list[protocol.Op] = []
    start = 0
    for cut in sorted(cuts):
        ops += parser.feed(STREAM[start:cut])
        start = cut
    ops += parser.feed(STREAM[start:])
    assert ops == expected_ops()


@settings(deadline=None)
@given(
    subject=st.text(
        st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1
    ).filter(lambda s: not any(c.isspace() for c in s)),
    payload=st.binary(),
    sid=st.integers(min_value=1, max_value=2**40),
    split=st.integers(min_value=0),
)
def test_parser_round_trips_messages(subject: str, payload: bytes, sid: int, split: int) -> None:
    raw = protocol.encode_text(subject)
    frame = b"MSG %s %d %d\r\n%s\r\n" % (raw, sid, len(payload), payload)
    cut = split % (len(frame) + 1)
    parser = protocol.Parser()
    ops = parser.feed(frame[:cut]) + parser.feed(frame[cut:])
    assert ops == [protocol.Message(subject, sid, None, None, payload)]


def test_parser_keeps_odd_subject_bytes() -> None:
    (op,) = protocol.Parser().feed(b"MSG a.\xff 1 0\r\n\r\n")
    assert isinstance(op, protocol.Message)
    assert protocol.encode_text(op.subject) == b"a.\xff"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"MSG a 1 3\r\nabcXY", "not followed by CRLF"),
        (b"WHAT\r\n", "unexpected operation"),
        (b"\r\n", "empty control line"),
        (b"MSG a x 3\r\n", "bad number"),
        (b"MSG a 1\r\n", "unexpected operation"),
        (b"HMSG a 1 5 3\r\n", "header size over total size"),
        (b"MSG a 1 %d\r\n" % (protocol.MAX_MESSAGE + 1), "is over"),
        (b"INFO [1]\r\n", "not a JSON object"),
        (b"INFO {nope\r\n", "not a JSON object"),
        (b"PING x\r\n", "unexpected operation"),
        (b"x" * (protocol.MAX_SERVER_CONTROL_LINE + 1), "control line longer"),
    ],
)
def test_parser_refuses_what_is_not_the_protocol(data: bytes, match: str) -> None:
    with pytest.raises(nats.ProtocolError, match=match):
        protocol.Parser().feed(data)


def test_err_texts() -> None:
    ops = protocol.Parser().feed(b"-ERR\r\n-ERR plain text\r\n-ERR 'Stale Connection'\r\n")
    assert ops == [protocol.Err(""), protocol.Err("plain text"), protocol.Err("Stale Connection")]
    assert server_error("Stale Connection").fatal
    assert server_error("authorization violation").fatal
    assert not server_error("Permissions Violation for Subscription to 'x'").fatal


def test_encoders() -> None:
    assert protocol.publish(b"a", None, None, b"hi") == b"PUB a 2\r\nhi\r\n"
    assert protocol.publish(b"a", b"r", None, b"") == b"PUB a r 0\r\n\r\n"
    block = encode(Headers({"K": ["v", "w"]}))
    assert block == b"NATS/1.0\r\nK: v\r\nK: w\r\n\r\n"
    assert protocol.publish(b"a", b"r", block, b"xy") == b"HPUB a r 24 26\r\n" + block + b"xy\r\n"
    assert protocol.subscribe(b"a.*", None, 3) == b"SUB a.* 3\r\n"
    assert protocol.subscribe(b"a", b"q", 4) == b"SUB a q 4\r\n"
    assert protocol.unsubscribe(5) == b"UNSUB 5\r\n"
    assert protocol.unsubscribe(5, 2) == b"UNSUB 5 2\r\n"
    assert protocol.connect({"verbose": False}) == b'CONNECT {"verbose":false}\r\n'
    with pytest.raises(ValueError, match=r"^expected the subjects to fit in a 4096-byte"):
        protocol.publish(b"a" * 5000, None, None, b"")


# --------------------------------------------------------------------------- headers


def test_headers_mapping() -> None:
    headers = Headers({"A": "1", "Tag": ["x", "y"], "Empty": ""})
    assert headers["A"] == "1"
    assert headers["Tag"] == "x"
    assert headers.get_all("Tag") == ["x", "y"]
    assert headers.get_all("nope") == []
    assert list(headers) == ["A", "Tag", "Empty"]
    assert len(headers) == 3
    assert headers.get("a") is None  # names are case-sensitive
    assert headers.status is None
    assert headers.description == ""
    assert headers == Headers([("A", "1"), ("Tag", "x"), ("Tag", "y"), ("Empty", "")])
    assert headers != Headers({"A": "1"})
    assert headers != {"A": "1"}
    assert hash(headers) == hash(Headers(headers.pairs()))
    assert repr(Headers({"A": "1"})) == "Headers([('A', '1')])"
    with pytest.raises(KeyError):
        headers["missing"]
    assert decode(encode(headers)) == headers


def test_headers_status_lines() -> None:
    missing = decode(b"NATS/1.0 404 Message Not Found\r\nNats-Subject: x\r\n\r\n")
    assert (missing.status, missing.description) == (404, "Message Not Found")
    assert missing["Nats-Subject"] == "x"
    assert "status=404" in repr(missing)
    assert "description='Message Not Found'" in repr(missing)
    # Lenient: a publisher's malformed block costs nothing.
    odd = decode(b"garbage\r\nno colon\r\n: no name\r\nOk:  spaced  \r\n\r\n")
    assert (odd.status, odd.pairs()) == (None, (("Ok", "spaced"),))
    assert decode(b"NATS/1.0 abc\r\n\r\n").status is None


@pytest.mark.parametrize(
    ("headers", "error", "match"),
    [
        ("text", TypeError, r"^expected headers to be a mapping"),
        (42, TypeError, r"^expected headers to be a mapping"),
        ({1: "x"}, TypeError, r"^expected header name to be a non-empty str, got 1$"),
        ({"": "x"}, ValueError, r"^expected header name to be a non-empty str"),
        ({"a b": "x"}, ValueError, r"^expected header name to be printable ASCII"),
        ({"a:b": "x"}, ValueError, r"^expected header name to be printable ASCII"),
        ({"A": 1}, TypeError, r"^expected header 'A' to be a str or a list of str, got 1$"),
        ({"A": [1]}, TypeError, r"^expected header 'A' to be a str, got 1$"),
        ({"A": "x\r\ny"}, ValueError, r"^expected header 'A' to be a str without CR or LF"),
        ([("A",)], TypeError, r"^expected header to be a \(name, value\) pair"),
    ],
)
def test_bad_headers(headers: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Headers(headers)


# --------------------------------------------------------------------------- subjects


@pytest.mark.parametrize("subject", ["a", "a.b.c", "_INBOX.x", "a-b.c_d", "ünï.cödé"])
def test_good_subjects(subject: str) -> None:
    assert _subjects.publish_subject(subject) == subject
    assert _subjects.subscribe_subject(subject) == subject


@pytest.mark.parametrize("subject", ["a.*", "*", ">", "a.>", "*.b.>"])
def test_wildcards_only_in_subscriptions(subject: str) -> None:
    assert _subjects.subscribe_subject(subject) == subject
    with pytest.raises(ValueError, match=r"^expected subject to be a subject of non-empty"):
        _subjects.publish_subject(subject)


@pytest.mark.parametrize(
    "subject", ["", "a..b", ".a", "a.", "a b", "a\tb", "a\r\nb", "a\x00b", "a.>.b", "\x7f"]
)
def test_bad_subjects(subject: str) -> None:
    with pytest.raises(ValueError, match=r"^expected subject to be a subject"):
        _subjects.subscribe_subject(subject)
    with pytest.raises(ValueError, match=r"^expected subject to be a subject"):
        _subjects.publish_subject(subject)


def test_subject_types_and_queues() -> None:
    with pytest.raises(TypeError, match=r"^expected subject to be .*, got b'a'$"):
        _subjects.publish_subject(b"a")
    with pytest.raises(TypeError, match=r"^expected subject to be .*, got 1$"):
        _subjects.subscribe_subject(1)
    assert _subjects.queue_group("workers") == "workers"
    with pytest.raises(ValueError, match=r"^expected queue to be a non-empty queue group"):
        _subjects.queue_group("a b")
    with pytest.raises(ValueError, match=r"^expected queue to be a non-empty queue group"):
        _subjects.queue_group("")
    with pytest.raises(TypeError, match=r"^expected queue to be"):
        _subjects.queue_group(3)


# --------------------------------------------------------------------------- nkeys


def test_nkeys() -> None:
    seed = nats.create_user_seed()
    assert seed.startswith("SU")
    public = nats.nkey_public_key(seed)
    assert public.startswith("U")
    assert len(public) == 56
    assert _nkeys.check_user_seed(seed) == seed
    signature = _nkeys.sign(seed, "nonce")
    assert "=" not in signature
    assert "+" not in signature
    with pytest.raises(TypeError, match=r"^expected seed to be a str, got a value of type bytes$"):
        nats.nkey_public_key(seed.encode())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^expected seed to be a user nkey seed"):
        nats.nkey_public_key(public)
    for bad in (
        "",
        "not base32!",
        seed[:10] + ("A" if seed[10] != "A" else "B") + seed[11:],
        public,
    ):
        with pytest.raises(ValueError, match=r"nkey"):
            _nkeys.check_user_seed(bad)


def test_nkeys_without_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric.ed25519", None)
    seed = nats.create_user_seed()  # needs nothing
    with pytest.raises(ImportError, match=r"pip install 'noex-trio\[cluster\]'"):
        nats.connect(nkey_seed=seed)
    with pytest.raises(ImportError, match=r"cryptography"):
        nats.nkey_public_key(seed)


# --------------------------------------------------------------------------- options


def test_server_urls() -> None:
    plain = parse_server("localhost")
    assert (plain.url, plain.host, plain.port, plain.tls) == (
        "nats://localhost:4222",
        "localhost",
        4222,
        False,
    )
    auth = parse_server("nats://bob:s%40cret@10.0.0.1:4333")
    assert (auth.url, auth.user, auth.password, auth.token) == (
        "nats://10.0.0.1:4333",
        "bob",
        "s@cret",
        None,
    )
    token = parse_server("tls://tok@[::1]:5000/")
    assert (token.url, token.host, token.token, token.tls) == (
        "tls://[::1]:5000",
        "::1",
        "tok",
        True,
    )
    assert parse_server("127.0.0.1:1").key == ("127.0.0.1", 1)
    assert "s@cret" not in repr(auth)
    assert "tok" not in repr(token).replace("tls://", "")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"servers": []}, TypeError, r"^expected servers to be a server URL or a non-empty list"),
        ({"servers": 42}, TypeError, r"^expected servers to be a server URL or a non-empty"),
        ({"servers": "http://x"}, ValueError, r"^expected servers to be a server URL such as"),
        ({"servers": "nats://x:99999"}, ValueError, r"^expected servers to be a server URL"),
        ({"servers": "nats://x/path"}, ValueError, r"^expected servers to be a server URL"),
        ({"servers": "nats://"}, ValueError, r"^expected servers to be a server URL"),
        ({"servers": ["nats://x", 3]}, TypeError, r"^expected servers item to be a server URL"),
        ({"name": ""}, ValueError, r"^expected name to be a non-empty str"),
        ({"user": "u"}, ValueError, r"^expected user and password to be given together"),
        ({"password": "p"}, ValueError, r"^expected user and password to be given together"),
        (
            {"user": "u", "password": 1},
            TypeError,
            r"^expected password to be a str, got a value of type int$",
        ),
        ({"user": "u", "password": "p", "token": "t"}, ValueError, r"^expected at most one of"),
        ({"token": ""}, ValueError, r"^expected token to be a non-empty str, got an empty one$"),
        ({"token": b"t"}, TypeError, r"^expected token to be a str, got a value of type bytes$"),
        ({"nkey_seed": 1}, TypeError, r"^expected nkey_seed to be a str, got a value of type int$"),
        (
            {"nkey_seed": "SUNOPE"},
            ValueError,
            r"^expected nkey_seed to be a user nkey seed \('SU...'\), got something else$",
        ),
        ({"tls": True}, TypeError, r"^expected tls to be an ssl.SSLContext or None, got True$"),
        ({"tls_hostname": 1}, TypeError, r"^expected tls_hostname to be a non-empty str"),
        ({"tls_first": 1}, TypeError, r"^expected tls_first to be a bool, got 1$"),
        ({"connect_timeout": math.inf}, ValueError, r"^expected connect_timeout to be a finite"),
        ({"ping_interval": 0}, ValueError, r"^expected ping_interval to be a number of seconds"),
        (
            {"max_outstanding_pings": 0},
            ValueError,
            r"^expected max_outstanding_pings to be an int >= 1",
        ),
        ({"allow_reconnect": None}, TypeError, r"^expected allow_reconnect to be a bool"),
        (
            {"max_reconnect_attempts": -1},
            ValueError,
            r"^expected max_reconnect_attempts to be an int >= 0 or math.inf",
        ),
        ({"reconnect_delay": -1}, ValueError, r"^expected reconnect_delay to be a finite number"),
        ({"reconnect_max_delay": "1"}, TypeError, r"^expected reconnect_max_delay to be"),
        (
            {"reconnect_jitter": 2},
            ValueError,
            r"^expected reconnect_jitter to be a number between 0 and 1, got 2$",
        ),
        (
            {"reconnect_jitter": -0.5},
            ValueError,
            r"^expected reconnect_jitter to be a finite number >= 0",
        ),
        ({"randomize": "yes"}, TypeError, r"^expected randomize to be a bool"),
        ({"pending_size": -1}, ValueError, r"^expected pending_size to be an int >= 0"),
        ({"echo": 0}, TypeError, r"^expected echo to be a bool"),
        ({"inbox_prefix": "a b"}, ValueError, r"^expected inbox_prefix to be a subject"),
        ({"inbox_prefix": "_INBOX.*"}, ValueError, r"^expected inbox_prefix to be a subject"),
        (
            {"close_timeout": -1},
            ValueError,
            r"^expected close_timeout to be a number of seconds >= 0",
        ),
    ],
)
def test_bad_connect_arguments(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        nats.connect(**kwargs)


def test_good_connect_arguments_make_a_context_manager() -> None:
    manager = nats.connect(
        ["nats://a:1", "b:2"],
        name="n",
        user="u",
        password="",
        tls=ssl.create_default_context(),
        tls_hostname="h",
        max_reconnect_attempts=math.inf,
        reconnect_jitter=1,
    )
    assert hasattr(manager, "__aenter__")
    assert hasattr(nats.connect(token="t", nkey_seed=None), "__aexit__")
    assert hasattr(nats.connect(nkey_seed=nats.create_user_seed()), "__aexit__")


# --------------------------------------------------------------------------- errors


ERRORS: list[NoexError] = [
    nats.ConnectError(("nats://a:1", "nats://b:2"), "refused"),
    nats.ConnectError((), "no server"),
    nats.AuthorizationError(("nats://a:1",), "Authorization Violation"),
    nats.ConnectionClosedError(),
    nats.ConnectionClosedError("gave up"),
    nats.ConnectionLostError("nats://a:1", "eof"),
    nats.ProtocolError("bad"),
    nats.ServerError("Permissions Violation", False),
    nats.StaleConnectionError(2),
    nats.SlowConsumerError("a.b", 3),
    nats.NoRespondersError("svc"),
    nats.MaxPayloadError(10, 5),
    nats.OutboundBufferFullError(10, 5),
    nats.RequestTimeoutError("svc", 0.5),
    nats.FlushTimeoutError(1.0),
]
MESSAGES = [
    "could not connect to any NATS server (nats://a:1, nats://b:2): refused",
    "could not connect to any NATS server ((none)): no server",
    "NATS server nats://a:1 refused the credentials: Authorization Violation",
    "the NATS connection is closed",
    "the NATS connection is closed: gave up",
    "lost the connection to nats://a:1: eof",
    "NATS protocol error: bad",
    "NATS server error: Permissions Violation",
    "stale connection: 2 PINGs left unanswered",
    "slow consumer on 'a.b': 3 messages dropped so far",
    "no responders for request to 'svc'",
    "message of 10 bytes exceeds the server's max_payload of 5 bytes",
    "the outbound buffer is full (10 bytes queued, limit 5)",
    "request to 'svc' timed out after 0.5 s",
    "flush timed out after 1.0 s",
]


@pytest.mark.parametrize(("error", "message"), list(zip(ERRORS, MESSAGES, strict=True)))
def test_errors_are_values(error: NoexError, message: str) -> None:
    assert isinstance(error, nats.NatsError)
    assert str(error) == message
    for clone in (copy.copy(error), copy.deepcopy(error), pickle.loads(pickle.dumps(error))):
        assert type(clone) is type(error)
        assert clone.args == error.args
        assert str(clone) == message
    assert type(error).__module__ == "noex_trio.nats"


def test_timeouts_are_trio_timeouts() -> None:
    assert isinstance(nats.RequestTimeoutError("a", 1.0), trio.TooSlowError)
    assert isinstance(nats.FlushTimeoutError(1.0), nats.NatsTimeoutError)
    assert isinstance(nats.MaxPayloadError(2, 1), ValueError)


def test_describe() -> None:
    broken = trio.BrokenResourceError()
    broken.__cause__ = OSError("refused")
    assert describe(broken) == "BrokenResourceError (OSError: refused)"
    assert describe(ValueError("plain")) == "plain"
    error = OSError("all failed")
    error.__cause__ = ExceptionGroup("all failed", [OSError("one"), ConnectionRefusedError("two")])
    assert describe(error) == "all failed (ConnectionRefusedError: two)"


def test_public_names() -> None:
    assert nats.__all__ == sorted(nats.__all__)
    for name in nats.__all__:
        assert hasattr(nats, name)
    public = {
        name
        for name, obj in vars(nats).items()
        if not name.startswith("_") and not isinstance(obj, type(sys))
    }
    assert public - {"annotations"} == set(nats.__all__)
