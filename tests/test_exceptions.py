"""Tests for `noex_trio._exceptions`: the error tree and its messages (SPEC §6)."""

from __future__ import annotations

import math

import pytest
import trio

import noex_trio
from noex_trio import (
    AlreadyRegisteredError,
    CallTimeoutError,
    CallToSelfError,
    ChildNotFoundError,
    DuplicateChildError,
    GenServer,
    InitializationError,
    InvalidChildSpecError,
    MailboxFullError,
    MaxRestartsExceededError,
    MissingChildTemplateError,
    NoexError,
    NoRuntimeError,
    NotRegisteredError,
    Runtime,
    ServerNotRunningError,
)
from noex_trio._exceptions import describe, describe_reason

from .conftest import Counter

ERRORS = [
    NoRuntimeError,
    ServerNotRunningError,
    CallTimeoutError,
    CallToSelfError,
    InitializationError,
    MailboxFullError,
    AlreadyRegisteredError,
    NotRegisteredError,
    MaxRestartsExceededError,
    DuplicateChildError,
    ChildNotFoundError,
    MissingChildTemplateError,
    InvalidChildSpecError,
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
