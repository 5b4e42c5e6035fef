"""Tests for `noex_trio._safe_format`: message text that never raises."""

from __future__ import annotations

import re
from typing import Any

import pytest

from noex_trio._safe_format import (
    ELLIPSIS,
    LIMIT,
    describe,
    describe_reason,
    safe_repr,
    safe_str,
)

ADDRESS = r"0x[0-9a-f]+"


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


class NotAStrRepr:
    def __repr__(self) -> Any:
        return 42


class LoudStr(str):
    """A str subclass whose own repr and slicing must not be used."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __getitem__(self, index: Any) -> Any:
        raise RuntimeError("no slicing")


class ReturnsLoudStr:
    def __repr__(self) -> str:
        return LoudStr("x" * (LIMIT + 10))


class Meta(type):
    def __getattribute__(cls, name: str) -> Any:
        if name in ("__qualname__", "__name__"):
            raise RuntimeError("no name")
        return super().__getattribute__(name)


class Nameless(metaclass=Meta):
    def __repr__(self) -> str:
        raise ValueError("no repr")


class OddMeta(type):
    def __getattribute__(cls, name: str) -> Any:
        if name == "__qualname__":
            return 42
        return super().__getattribute__(name)


class OddlyNamed(metaclass=OddMeta):
    def __repr__(self) -> str:
        raise ValueError("no repr")


class Interrupting:
    def __repr__(self) -> str:
        raise KeyboardInterrupt

    def __str__(self) -> str:
        raise KeyboardInterrupt


class LabelRaises:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(name)

    def __repr__(self) -> str:
        return "<label raises>"


class Labelled:
    _label = "svc#3"


def test_ordinary_objects_are_shown_as_repr_and_str_show_them() -> None:
    assert safe_repr("svc") == "'svc'"
    assert safe_repr(ValueError("boom")) == "ValueError('boom')"
    assert safe_repr(1.5) == "1.5"
    assert safe_str(ValueError("boom")) == "boom"
    assert safe_str(5.0) == "5.0"


def test_a_raising_repr_or_str_gives_a_placeholder() -> None:
    assert re.fullmatch(
        rf"<BrokenRepr object at {ADDRESS}; repr\(\) raised RuntimeError>", safe_repr(BrokenRepr())
    )
    assert re.fullmatch(
        rf"<BrokenStr object at {ADDRESS}; str\(\) raised RuntimeError>", safe_str(BrokenStr())
    )
    assert re.fullmatch(
        rf"<NotAStrRepr object at {ADDRESS}; repr\(\) raised TypeError>", safe_repr(NotAStrRepr())
    )


def test_a_type_without_a_name_still_gets_a_placeholder() -> None:
    assert re.fullmatch(
        rf"<object object at {ADDRESS}; repr\(\) raised ValueError>", safe_repr(Nameless())
    )
    assert re.fullmatch(
        rf"<object object at {ADDRESS}; repr\(\) raised ValueError>", safe_repr(OddlyNamed())
    )


def test_long_text_is_cut_to_the_limit() -> None:
    assert LIMIT == 300
    text = safe_repr("x" * 1000)
    assert len(text) == LIMIT
    assert text.endswith(ELLIPSIS)
    assert text.startswith("'xxx")
    assert safe_str("y" * LIMIT) == "y" * LIMIT  # exactly at the limit: whole
    assert safe_str("y" * 10, limit=5) == "yy..."
    assert safe_str("y" * 10, limit=2) == "..."


def test_a_str_subclass_result_is_used_as_a_plain_str() -> None:
    text = safe_repr(ReturnsLoudStr())
    assert type(text) is str
    assert text == "x" * (LIMIT - len(ELLIPSIS)) + ELLIPSIS


def test_keyboard_interrupt_is_not_swallowed() -> None:
    with pytest.raises(KeyboardInterrupt):
        safe_repr(Interrupting())
    with pytest.raises(KeyboardInterrupt):
        safe_str(Interrupting())
    with pytest.raises(KeyboardInterrupt):
        describe_reason(type("Loud", (Exception,), {"__str__": Interrupting.__str__})())


def test_describe() -> None:
    assert describe("name") == "'name'"
    assert describe(42) == "42"
    assert describe(Labelled()) == "svc#3"
    assert describe(LabelRaises()) == "<label raises>"
    assert re.fullmatch(rf"<BrokenRepr object at {ADDRESS}; repr\(\) raised RuntimeError>",
                        describe(BrokenRepr()))  # fmt: skip
    assert describe(LoudStr("svc")) == "'svc'"


def test_describe_reason() -> None:
    assert describe_reason("normal") == "'normal'"
    assert describe_reason(("shutdown", 1)) == "('shutdown', 1)"
    assert describe_reason(KeyError("k")) == "KeyError(\"'k'\")"
    assert describe_reason(ValueError("boom")) == "ValueError('boom')"
    assert describe_reason(BrokenStr()) == "BrokenStr(<str() raised RuntimeError>)"
    assert re.fullmatch(rf"<BrokenRepr object at {ADDRESS}; repr\(\) raised RuntimeError>",
                        describe_reason(BrokenRepr()))  # fmt: skip
    long = describe_reason(ValueError("z" * 1000))
    assert long == f"ValueError({'z' * (LIMIT - len(ELLIPSIS)) + ELLIPSIS!r})"
